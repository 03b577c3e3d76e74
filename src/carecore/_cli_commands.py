"""carecore's own commands (added by the built-in ``carecore_cli`` plugin)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_common import echo_records, format_option, month_option
from carecore.plugins import Hooks, Provided, plugin_table

if TYPE_CHECKING:
    import pluggy

#: Where ``carecore demo`` keeps its data unless ``--db`` says otherwise.
DEMO_DB = "sqlite:///carecore-demo.db"


@click.command()
@click.option(
    "--patients",
    default=150,
    show_default=True,
    type=click.IntRange(1, 5_000),
    help="How many patients the simulation generates (besides the shipped Synthea patients).",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Seed for everything random.")
@click.option(
    "--months",
    default=12,
    show_default=True,
    type=click.IntRange(3, 24),
    help="How many months of care management to simulate.",
)
@click.option(
    "--last-month",
    default=None,
    metavar="YYYY-MM",
    help="The last simulated month (default: last month, or Dec 2026, the newest CMS rule set).",
)
@click.option(
    "--db",
    "db_url",
    default=DEMO_DB,
    show_default=True,
    metavar="URL",
    help="Store: memory://, sqlite:///path or postgresql://... (must be empty, "
    "except the default file, which each run builds anew, and a file given with --fresh).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("carecore-report"),
    show_default=True,
    help="Where to write the program report (index.html, CSV tables, PNG plots).",
)
@click.option("--no-progress", is_flag=True, help="No progress bars (for logs).")
@click.option(
    "--fresh",
    is_flag=True,
    help="Start over: replace the --db SQLite file even if it holds an earlier (or failed) demo.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    *,
    patients: int,
    seed: int,
    months: int,
    last_month: str | None,
    db_url: str,
    out: Path,
    no_progress: bool,
    fresh: bool,
) -> None:
    """Run a year of a care-management program end to end, and write its report.

    The year is one replication of the shipped simulation study
    demo-practice (carecore simulate --list-examples): who enrolls, the
    minutes, emergency visits, admissions and discharges. The demo writes
    it into a store with the Synthea FHIR bundles shipped with carecore,
    scores a PHQ-9 and agrees a care plan for each enrolled patient,
    receives a discharge over HL7 v2 ADT (the MLLP listener on 127.0.0.1),
    closes each month's billing and writes the report. Needs the
    carecore-fhir and carecore-hl7v2 plugins and the report extra.
    """
    from rich.console import Console  # noqa: PLC0415
    from rich.progress import Progress  # noqa: PLC0415

    from carecore._demo import DemoSettings, run_demo  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415

    last = None if last_month is None else month_option(last_month, "--last-month")
    try:
        settings = DemoSettings(
            patients=patients, seed=seed, months=months, **({"last": last} if last else {})
        )
    except errors.InvalidValue as exc:
        if exc.field != "last":
            raise
        raise errors.InvalidValue(
            exc.reason, field="--last-month", value=last_month or str(exc.value)
        ) from None
    console = Console()
    _start_over(console, db_url, fresh=fresh)
    with (
        CareProgram.open(db_url, actor="carecore-demo", plugin_manager=ctx.obj["pm"]) as program,
        Progress(console=console, disable=no_progress, transient=True) as bars,
    ):
        tasks: dict[str, Any] = {}

        def advance(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total)
            bars.update(tasks[stage], completed=done, total=total)

        result = run_demo(program, settings, out, progress=advance)
    _print_demo(console, result)


def _start_over(console: Any, db_url: str, *, fresh: bool) -> None:
    """Remove the demo's SQLite file (its own, or --db with --fresh), saying so.

    A store holding records is otherwise refused by the demo, naming --fresh.
    """
    if (db_url != DEMO_DB and not fresh) or db_url.startswith("memory://"):
        return
    if not db_url.startswith("sqlite:///"):
        raise errors.InvalidValue(
            "--fresh replaces a SQLite file only; give an empty database instead",
            field="--db",
            value=db_url,
        )
    from carecore.storage.sqlite import sqlite_path  # noqa: PLC0415

    own = Path(sqlite_path(db_url))
    if own.name == ":memory:":
        return
    existed = own.exists()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{own}{suffix}").unlink(missing_ok=True)
    if existed:
        console.print(f"starting over: removed the earlier demo store {own}")
    else:
        console.print(f"starting a new demo store {own}")


def _print_demo(console: Any, r: Any) -> None:
    from rich.table import Table  # noqa: PLC0415

    from carecore.report._labels import label  # noqa: PLC0415 - the report's words

    s = r.settings
    console.print(
        f"[bold]carecore demo[/bold]: chronic care management, {s.period.start:%b %Y} to "
        f"{s.period.end:%b %Y} (seed {s.seed}), in {r.seconds:.1f} s"
    )
    table = Table(show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("result", justify="right")
    # One set of figures: the program's measures (carecore.metrics) and the month closes'
    # claim lines; the demo's own tallies would count other populations and contradict them.
    # The title's months (--months), not always a year; "the month" for one, not "the 1 months".
    span = "the month" if s.months == 1 else f"the {s.months} months"
    rows = [
        ("Patients in the practice", f"{r.patients} ({r.from_fhir} from Synthea FHIR bundles)"),
        ("HL7 ADT over MLLP: messages, ACKs", f"{r.adt_messages}, {' '.join(r.acks)}"),
        (f"Claim lines over {span} (CCM)", f"{r.claim_lines:,}"),
        # Lines with no listed fee are counted apart: never shown as $0.
        (f"Revenue over {span} (approximate)", r.revenue.describe()),
        *((label(name), value) for name, value in r.measures if name != "expected_revenue"),
        *r.care,  # gap closure and adherence by drug class, as the report shows them
    ]
    for what, value in rows:
        table.add_row(what, value)
    console.print(table)
    if r.store_url.startswith("memory:"):
        console.print(f"store: {r.store_url} (gone when this command ends)")
    else:
        console.print(f"store: {r.store_url} (check: carecore db check {r.store_url})")
    console.print(f"report: {r.report.index.resolve()}")


@click.command()
@format_option()
@click.pass_context
def plugins(ctx: click.Context, fmt: str) -> None:
    """List the registered plugins, their distributions and the hooks they implement."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    rows = plugin_table(pm)
    hooks = Hooks(pm)
    registries: dict[str, Provided[Any]] = {
        "channels": hooks.channels(),
        "rule_sets": hooks.rule_sets(),
        "instruments": hooks.instruments(),
        "ehr_sources": hooks.ehr_sources(),
    }
    provided = {kind: {k: items.provider(k) for k in items} for kind, items in registries.items()}

    def table() -> None:
        for row in rows:
            origin = "built-in" if row["builtin"] else f"{row['distribution']} {row['version']}"
            click.echo(f"{row['name']}  ({origin})")
            for hook in row["hooks"]:
                click.echo(f"    {hook}")
        for kind, items in provided.items():
            listing = ", ".join(f"{k} [{v}]" for k, v in sorted(items.items())) or "none"
            click.echo(f"{kind}: {listing}")

    echo_records(
        fmt,
        rows,
        columns=("name", "distribution", "version", "builtin", "hooks"),
        table=table,
        data={"plugins": rows, "provided": provided},
    )
