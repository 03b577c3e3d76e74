"""FHIR Coverage to carecore ``Coverage`` (the model arrives with the core's schema 7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from carecore_fhir.mapping import Mapped, Options, Resolver


def mapper() -> Callable[[dict[str, Any], Resolver, Options], Mapped] | None:
    """The Coverage mapper, or None while the core has no Coverage model."""
    return None
