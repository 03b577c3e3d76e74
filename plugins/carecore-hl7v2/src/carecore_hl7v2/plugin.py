"""Hook implementations of carecore-hl7v2 (registered as the ``hl7v2`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    import click

    from carecore.hookspecs import Listener
    from carecore.protocols import EhrSource


@hookimpl
def carecore_cli(app: click.Group) -> None:
    """Add ``carecore hl7 listen`` and ``carecore hl7 import``."""
    from carecore_hl7v2.cli import hl7  # noqa: PLC0415 - click loads only for the CLI

    app.add_command(hl7)


@hookimpl
def carecore_ehr_sources() -> Sequence[EhrSource]:
    """The ``hl7v2`` source: files (or folders) of HL7 v2 ADT messages."""
    from carecore_hl7v2.source import Hl7v2FilesSource  # noqa: PLC0415

    return [Hl7v2FilesSource()]


@hookimpl
def carecore_listeners() -> Sequence[Listener]:
    """The ``mllp`` listener: HL7 v2 ADT over MLLP, stored and ACKed one message at a time."""
    from carecore.hookspecs import Listener  # noqa: PLC0415
    from carecore_hl7v2.listener import frame, serve  # noqa: PLC0415

    return [
        Listener(
            id="mllp", summary="HL7 v2 ADT messages over MLLP (ACK each)", serve=serve, frame=frame
        )
    ]
