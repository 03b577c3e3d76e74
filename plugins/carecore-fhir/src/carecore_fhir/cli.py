"""``carecore fhir import`` and ``carecore fhir export`` (added by this plugin's ``carecore_cli``)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carecore._cli_common import echo_records, format_option, time_zone_option
from carecore.cli import current_actor
from carecore.model import ServiceFamily

if TYPE_CHECKING:
    import pluggy

    from carecore.service import CareProgram
    from carecore_fhir.importer import ImportReport

# The commands import the service and the FHIR mapping when they run, not when
# `carecore --help` lists them.


@click.group()
def fhir() -> None:
    """FHIR R4: import bundles from EHRs, export a patient's record and care plans."""


#: What ``--format`` prints, for import and pull alike (the same summary).
_FORMAT_HELP = (
    "table, json (the counts, reasons, notes and refusals), or csv (a header row, "
    "one row per resource type with its counts)."
)


#: ``--time-zone``, for import and pull alike.
_TZ_HELP = (
    "Time zone of patients whose resource gives none (IANA name). "
    "Default: $CARECORE_TIME_ZONE, the settings file's time_zone, "
    "the zone the store keeps (carecore db set time-zone), else UTC."
)


def _zone(time_zone: str | None, program: CareProgram) -> str:
    """The zone of patients whose resource names none: *time_zone*, else the store's, else UTC."""
    return time_zone or program.practice_time_zone() or "UTC"


@fhir.command("import")
@click.argument(
    "bundles", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--db", "db_url", required=True, metavar="URL", help="Store the records go to.")
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help=_TZ_HELP,
)
@click.option(
    "--family",
    "families",
    multiple=True,
    default=("CCM",),
    show_default=True,
    type=click.Choice([f.value for f in ServiceFamily]),
    help="Program family of imported care plans that name none (repeatable).",
)
@click.option(
    "--source",
    default="urn:carecore:fhir",
    show_default=True,
    help="Identifier system under which each Patient's FHIR id is kept.",
)
@click.option(
    "--progress/--no-progress", default=True, show_default=True, help="Show a progress bar."
)
@format_option(help=_FORMAT_HELP)
@click.pass_context
def import_(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    bundles: tuple[Path, ...],
    db_url: str,
    time_zone: str | None,
    families: tuple[str, ...],
    source: str,
    progress: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """Import FHIR R4 bundles (or single resources); print what was imported, skipped and why.

    A file may be plain JSON or gzip-compressed (.json.gz). Exits with
    status 1 when any resource or file was refused.
    """
    from rich.console import Console  # noqa: PLC0415 - only when importing
    from rich.progress import Progress  # noqa: PLC0415

    from carecore.service import CareProgram  # noqa: PLC0415
    from carecore_fhir.importer import import_files  # noqa: PLC0415
    from carecore_fhir.mapping import Options  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    sizes = [p.stat().st_size for p in bundles]
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar,
    ):
        options = Options(
            source=source,
            time_zone=_zone(time_zone, program),
            families=frozenset(ServiceFamily(f) for f in families),
        )
        task = bar.add_task("importing FHIR bundles", total=sum(sizes))
        done = iter(sizes)
        report = import_files(
            program,
            ((p.name, p.read_bytes()) for p in bundles),
            options=options,
            progress=lambda _name: bar.advance(task, next(done)),
        )
    _echo_report(fmt, report)
    if report.refused:
        ctx.exit(1)


def _echo_report(fmt: str, report: ImportReport) -> None:
    """The summary of an import or a pull in the ``--format`` *fmt*."""
    echo_records(
        fmt,
        _rows(report),
        columns=("resource", *_STATUSES),
        table=lambda: _summary(_console(), report),
        data=_document(report),
    )


#: What became of a resource, as the summary's columns.
_STATUSES = ("imported", "updated", "unchanged", "duplicate", "skipped", "refused")


def _rows(report: ImportReport) -> list[dict[str, object]]:
    """One record per resource type: how many of it were imported, updated, ..., refused."""
    counts = report.counts()
    return [
        {"resource": kind, **{s: counts[kind, s] for s in _STATUSES}}
        for kind in sorted({k for k, _ in counts})
    ]


def _document(report: ImportReport) -> dict[str, object]:
    """The summary as JSON: the counts, why resources were skipped, notes, refusals."""

    def counted(pairs: Counter[tuple[str, str]], key: str) -> list[dict[str, object]]:
        return [
            {"resource": kind, key: text, "count": n} for (kind, text), n in sorted(pairs.items())
        ]

    return {
        "resources": _rows(report),
        "skipped": counted(_skipped(report), "reason"),
        "notes": counted(_notes(report), "note"),
        "stored": [
            {"resource": kind, "added": added, "already_stored": already}
            for kind, added, already in report.stored
        ],
        "unmapped_snomed": [{"code": code, "count": n} for code, n in report.unmapped],
        "refused": [
            {"source": o.source, "resource": o.resource, "reason": o.reason} for o in report.refused
        ],
    }


def _skipped(report: ImportReport) -> Counter[tuple[str, str]]:
    return Counter((o.kind, _grouped(o.reason)) for o in report.outcomes if o.status == "skipped")


def _notes(report: ImportReport) -> Counter[tuple[str, str]]:
    return Counter((o.kind, _grouped(note)) for o in report.outcomes for note in o.notes)


def _console() -> object:
    """Where the summary is printed: a terminal's width, else (a file, a pipe) as wide as it needs.

    Off a terminal rich would cut the table to 80 columns (``Medication…``) and
    break the lines of reasons; there nothing is cut or broken.
    """
    from rich.console import Console  # noqa: PLC0415

    console = Console()
    return console if console.is_terminal else Console(width=_UNBOUNDED)


#: The width of the summary off a terminal: wider than any line it prints.
_UNBOUNDED = 10_000


def _summary(console: object, report: ImportReport) -> None:
    from rich.table import Table  # noqa: PLC0415

    rows = _rows(report)
    table = Table(title="FHIR import")
    # A resource type is never cut short (MedicationRequest, MedicationStatement and
    # MedicationDispense must be told apart), however narrow the output.
    longest = max((len(str(r["resource"])) for r in rows), default=0)
    table.add_column("resource", no_wrap=True, min_width=max(len("resource"), longest))
    for column in _STATUSES:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("resource", *_STATUSES)))
    print_ = console.print  # type: ignore[attr-defined]
    print_(table)
    _counted(console, "skipped, and why", _skipped(report))
    _counted(console, "imported with notes", _notes(report))
    if report.stored:
        print_(
            "stored: " + ", ".join(f"{k} {a} new, {s} already stored" for k, a, s in report.stored),
            markup=False,
        )
    if report.unmapped:
        print_(
            "[bold]condition codes not in the chronic-condition table (imported as not chronic)[/bold]"
        )
        for code, n in report.unmapped:
            print_(f"  {n:5d} SNOMED CT {code}", markup=False)
    for outcome in report.refused:
        print_(f"refused {outcome.source} {outcome.resource}: {outcome.reason}", markup=False)


def _counted(console: object, title: str, counts: Counter[tuple[str, str]]) -> None:
    if not counts:
        return
    print_ = console.print  # type: ignore[attr-defined]
    print_(f"[bold]{title}[/bold]")
    for (kind, text), n in sorted(counts.items()):
        print_(f"  {n:5d} {kind}: {text}", markup=False)


def _grouped(reason: str) -> str:
    """A reason without its ``(got ...)`` value, so that like reasons are counted together."""
    head, _, _ = reason.partition(" (got ")
    return head


@fhir.command("pull")
@click.argument("base_url")
@click.option("--db", "db_url", required=True, metavar="URL", help="Store the records go to.")
@click.option("--patient", "patient_id", default=None, help="Only this patient (their FHIR id).")
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help=_TZ_HELP,
)
@click.option(
    "--token-env",
    default=None,
    metavar="NAME",
    help="Environment variable holding a bearer token for the server.",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=False,
    help="Allow an http:// server (cleartext; a test server on this machine). "
    "Also CARECORE_FHIR_INSECURE=1 or fhir_insecure in the settings file.",
)
@format_option(help=_FORMAT_HELP)
@click.pass_context
def pull(  # noqa: PLR0917 - click passes options positionally
    ctx: click.Context,
    base_url: str,
    db_url: str,
    patient_id: str | None,
    time_zone: str | None,
    token_env: str | None,
    insecure: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """Import from a FHIR R4 server (searched page by page); print the same summary as import.

    Exits with status 1 when any resource was refused. The server must be https:// unless
    --insecure allows cleartext; the bearer token goes to the server's own origin only.
    """
    import os  # noqa: PLC0415

    from carecore._cli_config import cleartext_allowed  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415
    from carecore_fhir.mapping import Options  # noqa: PLC0415
    from carecore_fhir.rest import FhirClient  # noqa: PLC0415
    from carecore_fhir.source import import_from_server  # noqa: PLC0415

    token = None
    if token_env is not None:
        value = os.environ.get(token_env, "")
        if not value:
            raise click.BadParameter(f"${token_env} is empty or not set", param_hint="--token-env")

        def token(*, refresh: bool) -> str:  # noqa: ARG001 - a fixed token cannot be refreshed
            return value

    pm: pluggy.PluginManager = ctx.obj["pm"]
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        FhirClient(
            base_url, token=token, insecure=insecure or cleartext_allowed("fhir_insecure")
        ) as client,
    ):
        options = Options(source=base_url.rstrip("/"), time_zone=_zone(time_zone, program))
        report = import_from_server(program, client, patient_id=patient_id, options=options)
    _echo_report(fmt, report)
    if report.refused:
        ctx.exit(1)


@fhir.command("export")
@click.argument("patient_id")
@click.option("--db", "db_url", required=True, metavar="URL", help="Store to read.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the Bundle here (default: standard output).",
)
@click.pass_context
def export(ctx: click.Context, patient_id: str, db_url: str, out: Path | None) -> None:
    """Write one patient's record as a FHIR R4 Bundle; PATIENT_ID may be a source id (FHIR id, MRN)."""
    from carecore._files import write_private  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415
    from carecore_fhir.export import export_patient  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        # An unknown patient or a bad id is bad input: the command line exits 2 for it.
        destination = "standard output" if out is None else str(out.resolve())
        bundle = export_patient(program, patient_id, destination=destination)
    text = json.dumps(bundle, indent=1, ensure_ascii=False)
    if out is None:
        click.echo(text)
    else:
        write_private(out, text + "\n")  # a patient's record: its owner's only (0600)
        click.echo(f"{len(bundle['entry'])} resources written to {out}", err=True)
