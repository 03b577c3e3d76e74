"""The ``hypothesis`` entry point: register carecore's strategies for ``st.from_type``.

hypothesis calls :func:`register` while it is itself being imported, which
may happen in the middle of importing :mod:`carecore.testing.strategies`.
So this module registers *lazy* strategies: each resolves the real
strategy from :mod:`carecore.testing.strategies` only when first drawn.
"""

from __future__ import annotations

import importlib
from typing import Any

from carecore.model import VALUE_TYPES, DomainEvent


def _resolve(cls: type[Any]) -> Any:
    strategies = importlib.import_module("carecore.testing.strategies")
    return strategies.STRATEGIES[cls]


def register() -> None:
    """Register a lazily resolved strategy for every public value type."""
    from hypothesis import strategies as st  # noqa: PLC0415 - hypothesis calls us while importing

    def lazy(cls: type[Any]) -> Any:
        return lambda _t: st.deferred(lambda: _resolve(cls))

    for cls in (*VALUE_TYPES, DomainEvent):
        st.register_type_strategy(cls, lazy(cls))
