"""``carecore hl7 listen`` and ``carecore hl7 import`` (added by this plugin's ``carecore_cli``)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carecore._cli_common import echo_records, format_option, time_zone_option
from carecore.cli import current_actor
from carecore.service import CareProgram
from carecore_hl7v2.ingest import UnknownPatients, handle, practice_time_zone, split_messages
from carecore_hl7v2.listener import serve

if TYPE_CHECKING:
    import pluggy

_TZ_HELP = (
    "Time zone for HL7 times sent without a UTC offset (e.g. America/Chicago); "
    "default: the practice's, stored with carecore db set time-zone."
)
_UNKNOWN = click.option(
    "--unknown-patients",
    type=click.Choice(["create", "review"]),
    default="create",
    show_default=True,
    help="A message no stored identifier matches: register its patient from PID, "
    "or refuse it (AE) and keep it as a dead letter for match review.",
)


@click.group()
def hl7() -> None:
    """HL7 v2 ADT feeds: listen on MLLP, or import message files."""


@hl7.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=2575,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port (0: any free one).",
)
@click.option("--db", "db_url", required=True, metavar="URL", help="Store the events go to.")
@click.option("--time-zone", default=None, help=_TZ_HELP, callback=time_zone_option)
@_UNKNOWN
@click.option(
    "--max-connections",
    default=None,
    type=click.IntRange(1),
    help="Connections held at once; more are closed at once "
    "(default: the input limit mllp_connections, 256; see CARECORE_LIMITS).",
)
@click.option(
    "--idle-timeout",
    default=None,
    type=click.FloatRange(0, min_open=True),
    help="Seconds a silent connection is kept "
    "(default: the input limit mllp_idle_seconds, 60; see CARECORE_LIMITS).",
)
@click.pass_context
def listen(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    host: str,
    port: int,
    db_url: str,
    time_zone: str | None,
    unknown_patients: UnknownPatients,
    max_connections: int | None,
    idle_timeout: float | None,
) -> None:
    """Receive ADT messages over MLLP; each is committed before it is acknowledged.

    Messages from all connections are stored in shared transactions (group
    commit); each ACK is sent once its message's transaction has committed.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:

        def ready(bound: int) -> None:
            click.echo(
                f"listening for HL7 v2 on {host}:{bound}, storing in {program.store.url}", err=True
            )

        try:
            asyncio.run(
                serve(
                    program,
                    host=host,
                    port=port,
                    time_zone=time_zone,
                    ready=ready,
                    unknown_patients=unknown_patients,
                    max_connections=max_connections,
                    idle_timeout=idle_timeout,
                )
            )
        except KeyboardInterrupt:
            click.echo("stopped", err=True)


@hl7.command("import")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--db", "db_url", required=True, metavar="URL", help="Store the events go to.")
@click.option("--time-zone", default=None, help=_TZ_HELP, callback=time_zone_option)
@_UNKNOWN
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@format_option(
    help="table, json (the counts and each refusal), or csv (a header row and one row of counts).",
)
@click.pass_context
def import_(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    files: tuple[Path, ...],
    db_url: str,
    time_zone: str | None,
    unknown_patients: UnknownPatients,
    progress: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """Import ADT messages from files (one or many messages each); refused ones become dead letters.

    Exits with status 1 when any message was refused.
    """
    from rich.console import Console  # noqa: PLC0415 - only when importing
    from rich.progress import Progress  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    messages = [m for path in files for m in split_messages(path.read_bytes())]
    counts: Counter[str] = Counter()
    refusals: list[dict[str, str]] = []
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar,
    ):
        task = bar.add_task("importing HL7 messages", total=len(messages))
        zone = time_zone or practice_time_zone(program) or ""  # looked up once
        for raw in messages:
            outcome = handle(program, raw, time_zone=zone, unknown_patients=unknown_patients)
            counts[
                "duplicate" if outcome.duplicate else "stored" if outcome.stored else "refused"
            ] += 1
            if outcome.dead_letter:
                click.echo(f"refused ({outcome.code}): {outcome.reason}", err=True)
                refusals.append({"code": outcome.code, "reason": outcome.reason})
            bar.advance(task)
    row = {
        "messages": len(messages),
        "stored": counts["stored"],
        "duplicate": counts["duplicate"],
        "refused": counts["refused"],
    }
    echo_records(
        fmt,
        [row],
        table=lambda: click.echo(
            f"{_count(len(messages), 'message')}: {counts['stored']} stored, "
            f"{_count(counts['duplicate'], 'duplicate')}, "
            f"{counts['refused']} refused"
            + (" (kept as dead letters)" if counts["refused"] else "")
        ),
        data={**row, "refusals": refusals},
    )
    if counts["refused"]:
        ctx.exit(1)


def _count(n: int, noun: str) -> str:
    """'1 message', '3 messages'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
