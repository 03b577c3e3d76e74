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
from carecore_hl7v2.mapping import MAX_ID
from carecore_hl7v2.source import SUFFIXES, message_files

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
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
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
    """Import ADT messages from FILES (one or many messages each); refused ones become dead letters.

    A folder is read as its .hl7, .er7 and .txt files, in name order, as
    carecore import reads one. Each refusal names its file and the message
    (its place in the file, and its MSH-10 control id when readable). A file
    or folder holding no message is warned of on stderr. Exits with status 1
    when any message was refused, 0 otherwise (also when there was nothing to
    import).
    """
    from rich.console import Console  # noqa: PLC0415 - only when importing
    from rich.progress import Progress  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    messages: list[tuple[str, int, str]] = []  # (file, place in it from 1, text)
    for path in _message_files(files):
        found = split_messages(path.read_bytes())
        if not found:
            click.echo(f"warning: {path} holds no HL7 v2 messages", err=True)
        messages += [(str(path), n, text) for n, text in enumerate(found, start=1)]
    counts: Counter[str] = Counter()
    refusals: list[dict[str, object]] = []
    warnings: list[dict[str, object]] = []
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar,
    ):
        task = bar.add_task("importing HL7 messages", total=len(messages))
        zone = time_zone or practice_time_zone(program) or ""  # looked up once
        for name, index, raw in messages:
            outcome = handle(program, raw, time_zone=zone, unknown_patients=unknown_patients)
            counts[
                "duplicate" if outcome.duplicate else "stored" if outcome.stored else "refused"
            ] += 1
            control = where = None
            if outcome.dead_letter or outcome.warnings:  # named once for both
                control = _control_id(raw)
                where = f"{name} message {index}" + (f" (MSH-10 {control})" if control else "")
            if outcome.dead_letter:
                click.echo(f"refused ({outcome.code}): {where}: {outcome.reason}", err=True)
                refusals.append(
                    {
                        "file": name,
                        "message": index,
                        "control_id": control,
                        "code": outcome.code,
                        "reason": outcome.reason,
                    }
                )
            for warning in outcome.warnings:
                click.echo(f"warning: {where}: {warning}", err=True)
                warnings.append(
                    {"file": name, "message": index, "control_id": control, "warning": warning}
                )
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
        data={**row, "refusals": refusals, "warnings": warnings},
    )
    if counts["refused"]:
        ctx.exit(1)


def _message_files(paths: tuple[Path, ...]) -> list[Path]:
    """*paths* with each folder replaced by its message files (:data:`SUFFIXES`), in name order."""
    out: list[Path] = []
    for path in paths:
        if not path.is_dir():
            out.append(path)
            continue
        found = message_files(path)
        if not found:
            kinds = ", ".join(SUFFIXES[:-1]) + f" or {SUFFIXES[-1]}"
            click.echo(f"warning: {path} holds no {kinds} files", err=True)
        out += found
    return out


def _control_id(text: str) -> str | None:
    r"""MSH-10 as sent, to name a refused message by; None when MSH cannot be read for it.

    >>> _control_id("MSH|^~\\&|ADT|GEN|CC|PRAC|20260304||ADT^A01|M17|P|2.5\rPID|1")
    'M17'
    >>> _control_id("hello world") is None
    True
    """
    header = text.split("\r", 1)[0]
    if not header.startswith("MSH") or len(header) < 4:  # noqa: PLR2004 - "MSH" and its separator
        return None
    fields = header.split(header[3])  # fields[n - 1] is MSH-n (MSH-1 is the separator)
    control = fields[9].strip() if len(fields) > 9 else ""  # noqa: PLR2004
    return control if control and len(control) <= MAX_ID and control.isprintable() else None


def _count(n: int, noun: str) -> str:
    """'1 message', '3 messages'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
