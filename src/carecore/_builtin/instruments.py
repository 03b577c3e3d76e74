"""The built-in assessment instruments (PHQ, GAD, AUDIT-C, AHC HRSN, Hunger Vital Sign, rulers)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Instrument

__all__ = ["carecore_instruments"]


@hookimpl
def carecore_instruments() -> Sequence[Instrument]:
    """Give every instrument in :data:`carecore.instruments.BUILTIN_INSTRUMENTS`."""
    from carecore.instruments import BUILTIN_INSTRUMENTS  # noqa: PLC0415 - loaded when asked for

    return BUILTIN_INSTRUMENTS
