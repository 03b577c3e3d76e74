"""Records built from values that already passed their checks, without running the checks again.

A close builds hundreds of thousands of values from values that were
checked when they were made: stored rows checked when written, time facts
from time entries whose fields carry the same checks. :func:`unchecked_init`
gives a class's attrs ``__init__`` without the fields' validators (its
converters and ``__attrs_post_init__`` still run), for such values only;
everything else is built through the class itself. Nothing process-wide is
switched (``attrs.validators.disabled()`` would also stop the checks of
values other threads build meanwhile).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["unchecked_init"]


def unchecked_init(cls: type[Any]) -> Callable[..., None]:
    """*cls*'s attrs ``__init__`` as attrs makes it without the fields' validators.

    attrs generates it for a subclass whose fields are *cls*'s with no
    validator (the same order, defaults and converters; *cls*'s
    ``__attrs_post_init__`` is inherited); it fills an instance of *cls*
    itself, so the values are *cls*'s, equal to those its own ``__init__``
    builds.

    >>> from carecore.model import ServicePeriod
    >>> import pendulum
    >>> init = unchecked_init(ServicePeriod)
    >>> period = ServicePeriod.__new__(ServicePeriod)
    >>> init(period, start=pendulum.Date(2026, 3, 1), end=pendulum.Date(2026, 3, 31))
    >>> period == ServicePeriod.month(2026, 3), type(period) is ServicePeriod
    (True, True)
    """
    twin = type(f"_Unchecked{cls.__name__}", (cls,), {"__module__": __name__})
    made: type[Any] = attrs.frozen(kw_only=True, field_transformer=_without_validators)(twin)
    init: Callable[..., None] = made.__init__
    return init


def _without_validators(
    _cls: type, fields: list[attrs.Attribute[Any]]
) -> list[attrs.Attribute[Any]]:
    """An attrs ``field_transformer``: the fields as they are, but for their validators."""
    return [f.evolve(validator=None) for f in fields]
