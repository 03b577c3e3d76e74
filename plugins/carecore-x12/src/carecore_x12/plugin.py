"""Hook implementations of carecore-x12 (registered as the ``x12`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.billing.claims import ClaimWriter


@hookimpl
def carecore_claim_writers() -> Sequence[ClaimWriter]:
    """Give the ``x12`` claim writer (837P 005010X222A1)."""
    from carecore_x12.writer import X12ClaimWriter  # noqa: PLC0415

    return [X12ClaimWriter()]
