"""Hook implementations of carecore-hl7v2 (registered as the ``hl7v2`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def carecore_cli(app: click.Group) -> None:
    """Add ``carecore hl7 listen`` and ``carecore hl7 import``."""
    from carecore_hl7v2.cli import hl7  # noqa: PLC0415 - click loads only for the CLI

    app.add_command(hl7)
