"""How a care-plan revision retries when another writer revised the plan first."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from attrs import Attribute, field, frozen

from carecore import errors

if TYPE_CHECKING:
    import random

__all__ = ["RevisionRetry"]


def _positive_int(_inst: Any, attribute: Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field=attribute.name, value=value
        )


def _seconds(_inst: Any, attribute: Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0 <= value < math.inf):
        raise errors.InvalidValue(
            "must be a finite number of seconds, 0 or more", field=attribute.name, value=value
        )


@frozen(kw_only=True)
class RevisionRetry:
    """Attempts at a revision, and the waits between them: exponential backoff with full jitter.

    After failed attempt *n* the writer waits a random time between 0 and
    ``min(max_seconds, base_seconds * 2 ** (n - 1))``, so writers that
    collided once do not collide again in step.

    >>> import random
    >>> retry = RevisionRetry(attempts=3, base_seconds=0.01, max_seconds=0.05)
    >>> [retry.ceiling(n) for n in (1, 2, 3, 4)]
    [0.01, 0.02, 0.04, 0.05]
    >>> 0 <= retry.delay(2, random.Random(7)) <= 0.02
    True
    >>> RevisionRetry(attempts=0)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: attempts=0: must be a whole number of at least 1
    """

    attempts: int = field(default=12, validator=_positive_int)
    base_seconds: float = field(default=0.01, validator=_seconds)
    max_seconds: float = field(default=1.0, validator=_seconds)

    def ceiling(self, attempt: int) -> float:
        """The longest wait after failed attempt number *attempt* (1 for the first)."""
        return float(min(self.max_seconds, self.base_seconds * 2.0 ** (attempt - 1)))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A wait after failed attempt number *attempt*: uniform between 0 and the ceiling."""
        return rng.uniform(0, self.ceiling(attempt))
