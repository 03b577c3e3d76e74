"""``carecore billing``: evaluate scenario files and close a billing month."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_common import check_out_folder, echo_records, format_option, parse_month
from carecore._cli_config import significant_risk
from carecore.plugins import Hooks, Provided

if TYPE_CHECKING:
    from collections.abc import Callable

    from carecore.billing.rules import RuleSet
    from carecore.billing.scenarios import Scenario

#: Exit status for input that could not be read (the evaluation did not run).
EXIT_BAD_INPUT = 2


def rule_set_for(
    provided: Provided[Any], year: int, payer: str, rule_set_id: str | None
) -> RuleSet:
    """The rule set to use: by explicit id, else ``<payer>-<year>`` among *provided*."""
    from carecore.billing.rules import RuleSet  # noqa: PLC0415

    wanted = rule_set_id or f"{payer}-{year}"
    if wanted not in provided:
        raise errors.NotFound(
            f"no rule set with this id (installed: {', '.join(sorted(provided)) or 'none'})",
            field="rule_set",
            value=wanted,
        )
    rules = provided[wanted]
    if not isinstance(rules, RuleSet):
        raise errors.PluginError(
            "is not a carecore.billing RuleSet", field="rule_set", value=wanted
        )
    return rules


#: The payer whose rule set applies when none is chosen.
DEFAULT_PAYER = "cms"


def rule_set_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--payer`` and ``--rule-set``: which rule set applies (see :func:`chosen_rules`)."""
    command = click.option(
        "--rule-set", "rule_set_id", default=None, help="Use this rule set id (overrides --payer)."
    )(command)
    return click.option(
        "--payer",
        default=DEFAULT_PAYER,
        show_default=True,
        help="Payer whose rule set applies (<payer>-<year>).",
    )(command)


def significant_risk_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--significant-risk-from table|attested``: the rule set's switch, as ``significant_risk_from``.

    Configured once as ``significant_risk_from`` in carecore.toml (or
    ``CARECORE_SIGNIFICANT_RISK_FROM``); a value other than the two is
    refused (exit 2) when the command reads it (:func:`with_significant_risk`).
    """
    return click.option(
        "--significant-risk-from",
        "significant_risk_from",
        default=None,
        metavar="table|attested",
        help="Where a chronic condition's significant risk comes from: table (the "
        "condition-group table, or an attestation) or attested (an attestation only). "
        "Default: the settings' significant_risk_from, else the rule set's switch (table).",
    )(command)


def with_significant_risk(rules: RuleSet, value: str | None) -> RuleSet:
    """*rules* with the switch ``significant_risk_from`` set to *value* (None: as they are)."""
    import attrs  # noqa: PLC0415

    if value is None:
        return rules
    switch = significant_risk(value, "--significant-risk-from")
    return attrs.evolve(rules, switches=attrs.evolve(rules.switches, significant_risk_from=switch))


def chosen_rules(
    pm: Any,
    year: int,
    payer: str = DEFAULT_PAYER,
    rule_set_id: str | None = None,
    significant_risk_from: str | None = None,
) -> RuleSet:
    """The rule set ``billing close`` decides a month of *year* under, from its options.

    ``--rule-set``, else ``<payer>-<year>``, among the installed rule sets
    (a plugin's included), with the switch ``--significant-risk-from`` set
    when given. Not installed: :class:`~carecore.errors.NotFound` naming it.
    """
    if significant_risk_from is not None:
        significant_risk(significant_risk_from, "--significant-risk-from")  # a bad value first
    return with_significant_risk(
        rule_set_for(Hooks(pm).rule_sets(), year, payer, rule_set_id), significant_risk_from
    )


def switched_rules(
    pm: Any,
    year: int,
    significant_risk_from: str | None,
    payer: str = DEFAULT_PAYER,
    rule_set_id: str | None = None,
) -> RuleSet | None:
    """The rule set of :func:`chosen_rules`, for the commands that decide outside a close.

    The worklist, the registry and the report take the close's options
    (:func:`rule_set_options`, :func:`significant_risk_option`) and decide
    eligibility and the minutes to the next code under the rule set the
    close of *year* would use. None only when nothing is chosen and no
    ``cms-<year>`` is installed: they then leave it to the library (no
    minutes advice, the default switches).
    """
    chosen = significant_risk_from is not None or rule_set_id is not None or payer != DEFAULT_PAYER
    if not chosen and f"{DEFAULT_PAYER}-{year}" not in Hooks(pm).rule_sets():
        return None
    return chosen_rules(pm, year, payer, rule_set_id, significant_risk_from)


def _scenario_rules(
    provided: Provided[Any], scenario: Scenario, payer: str, rule_set_id: str | None
) -> RuleSet:
    """The rule set for one scenario; a year without one is a problem at the case's year."""
    try:
        return rule_set_for(provided, scenario.year, payer, rule_set_id)
    except errors.NotFound as exc:
        if rule_set_id is not None:
            raise
        raise errors.InvalidInput(
            f"scenario {scenario.id}",
            problems=[
                errors.Problem(
                    path=f"{scenario.path}.year",
                    message=f"{exc.value}: {exc.reason}",
                    value=scenario.year,
                )
            ],
        ) from exc


def _run_case(run: Callable[..., Any], scenario: Scenario, rules: RuleSet) -> Any:
    """``run(facts, rules)`` for one case; a rule refusing its facts is a problem of the case."""
    try:
        return run(scenario.facts, rules)
    except errors.InvalidValue as exc:
        raise errors.InvalidInput(
            f"scenario {scenario.id}",
            problems=[errors.Problem(path=scenario.path, message=str(exc))],
        ) from exc


def _run_via(via: str, run: Callable[..., Any], scenario: Scenario, rules: RuleSet) -> Any:
    """One case through the engine, or as records through a fresh store (``--via store``)."""
    if via == "store":
        from carecore.billing._via_store import evaluate_via_store  # noqa: PLC0415

        return evaluate_via_store(scenario, rules)
    return _run_case(run, scenario, rules)


def _count(n: int, noun: str) -> str:
    """'1 claim', '3 claims'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fail(message: str) -> None:
    click.echo(f"carecore billing: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group()
def billing() -> None:
    """Medicare care-management billing: evaluate scenarios, close a month."""


@billing.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@format_option(
    help="table, json, or csv (a header row, one row per claim line, denial and hint of each case).",
)
@click.option(
    "--via",
    type=click.Choice(["engine", "store"]),
    default="engine",
    show_default=True,
    help="engine: the case's facts straight to the engine; store: the case as records in a "
    "fresh in-memory store, closed by CareProgram (a case the store cannot hold exits 2).",
)
@rule_set_options
@click.pass_context
def evaluate(  # noqa: PLR0917 - click passes the options by position
    ctx: click.Context,
    files: tuple[Path, ...],
    fmt: str,
    via: str,
    payer: str,
    rule_set_id: str | None,
) -> None:
    """Evaluate billing scenario FILES (JSON: one case or {"cases": [...]}).

    Every practitioner in a case is evaluated. Exits 0 when the evaluation
    ran (even if nothing is billable) and 2 when a file cannot be read, naming
    the case and the JSON path; nothing is printed from a file that failed.
    With '--via store' each case is loaded as records into a fresh store
    and closed through CareProgram; the output is the same as '--via
    engine', and a case the store cannot hold yet exits 2 naming it.
    """
    from carecore.billing._engine import evaluate as run  # noqa: PLC0415
    from carecore.billing.fees import NO_LISTED_FEE  # noqa: PLC0415
    from carecore.billing.scenarios import load_scenarios, result_to_json  # noqa: PLC0415

    provided = Hooks(ctx.obj["pm"]).rule_sets()
    results: list[tuple[Any, Any]] = []
    used: list[Any] = []  # the rule set of each case, for its lines' rule titles
    try:
        scenarios = [s for path in files for s in load_scenarios(path)]
        for scenario in scenarios:
            rules = _scenario_rules(provided, scenario, payer, rule_set_id)
            results.append((scenario, _run_via(via, run, scenario, rules)))
            used.append(rules)
    except errors.InvalidInput as exc:
        _fail(str(exc))
        return
    except errors.NotFound as exc:
        _fail(str(exc))
        return
    payload = {
        "results": [
            result_to_json(s.id, r, rules) for (s, r), rules in zip(results, used, strict=True)
        ]
    }
    echo_records(
        fmt,
        _evaluation_rows(payload["results"]),
        columns=_EVALUATION_COLUMNS,
        table=lambda: _evaluation_table(results, NO_LISTED_FEE),
        data=payload,
    )


_EVALUATION_COLUMNS = (
    "case",
    "rule_set",
    "outcome",
    "code",
    "modifiers",
    "units",
    "practitioner",
    "date_of_service",
    "amount",
    "reason_code",
    "message",
)


def _evaluation_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim line (``bill``), denial (``not``) and hint of each case's JSON."""
    rows: list[dict[str, Any]] = []
    for r in results:
        case = {"case": r["id"], "rule_set": r["rule_set"]}
        rows += [
            {**case, "outcome": "bill", **{k: line[k] for k in _EVALUATION_COLUMNS if k in line}}
            for line in r["billable"]
        ]
        rows += [
            {
                **case,
                "outcome": "not",
                "code": d["code"],
                "reason_code": d["reason_code"],
                "message": d["reason"],
            }
            for d in r["not_billable"]
        ]
        rows += [
            {
                **case,
                "outcome": "hint",
                "code": h["code"],
                "practitioner": h["practitioner"],
                "message": h["message"],
            }
            for h in r["hints"]
        ]
    return rows


def _evaluation_table(results: list[tuple[Any, Any]], no_listed_fee: str) -> None:
    for scenario, result in results:
        click.echo(f"{scenario.id}  {result.rule_set}  {scenario.description}".rstrip())
        if not result.claim_lines:
            click.echo("  billable: nothing")
        for line in result.claim_lines:
            amount = f"  ~${line.amount}" if line.amount is not None else f"  {no_listed_fee}"
            mods = f" -{'-'.join(line.modifiers)}" if line.modifiers else ""
            click.echo(
                f"  bill {line.code}{mods} x{line.units}  {line.billing_practitioner_id}  "
                f"DOS {line.date_of_service.isoformat()}{amount}"
            )
        for denial in result.denials:
            click.echo(f"  not  {denial.code}  [{denial.reason.value}] {denial.message}")
        for hint in result.hints:
            click.echo(f"  hint {hint.message}")


@billing.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="The service month to close.")
@click.option(
    "--patients",
    "patients_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="patients.csv, one row per patient.",
)
@click.option(
    "--events",
    "events_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="events.csv, one row per event.",
)
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Close from a store instead of CSV files (stores the claim lines and denials).",
)
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write claims, denials, audit packets and summary here.",
)
@rule_set_options
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal)."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Worker processes (default: up to 4 for event files over 32 MB); the columnar "
    "engine runs the reference engine's share in them. With --db: processes that build "
    "and evaluate the store's partitions of patients (default: up to 4, one per core).",
)
@click.option(
    "--executor",
    metavar="NAME",
    default=None,
    help="With --db: where the store's partitions of patients are evaluated: local, process, "
    "dask (or one a plugin adds); default: forked worker processes (--workers).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="With --db: the Dask scheduler (tcp://host:8786) to run on; alone it means --executor "
    "dask, and another --executor refuses it. Without it, --executor dask starts a local "
    "cluster of --workers processes on 127.0.0.1.",
)
@click.option(
    "--partitions",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help="With --db: split the stored patients into this many partitions by a stable hash "
    "of their id (default: partitions of about 2,000 patients); the files and the stored "
    "lines are the same for any count.",
)
@click.option(
    "--setting",
    type=click.Choice(["physician_office", "rhc", "fqhc"]),
    default=None,
    help="With --db: where the practice bills from (default physician_office); RHCs and "
    "FQHCs bill care management with their own codes. A CSV close reads it per patient.",
)
@click.option(
    "--require-coverage/--assume-part-b",
    default=False,
    help="With --db: refuse a patient with no coverage record (default: such a patient is "
    "assumed to have Medicare Part B fee-for-service).",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "reference", "columnar"]),
    default="auto",
    show_default=True,
    help="columnar: the polars close (carecore[fast]); reference: the pure-Python close; "
    "auto: columnar when polars is installed and the files qualify.",
)
@click.option(
    "--buckets",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="Close the files in N buckets of patients, one after the other (memory bounded by a "
    "bucket; the files written are the same); auto: one bucket per 384 MB of events.csv.",
)
@format_option(
    help="How to print the summary: a table, JSON (the summary.json document), or CSV "
    "(a header row, one row per code with its lines, units and approximate amount).",
)
@significant_risk_option
@click.pass_context
def close(  # noqa: PLR0917 - click passes options as arguments
    ctx: click.Context,
    month: str,
    patients_csv: Path | None,
    events_csv: Path | None,
    db_url: str | None,
    out: Path | None,
    payer: str,
    rule_set_id: str | None,
    progress: bool | None,  # noqa: FBT001
    workers: int | None,
    executor: str | None,
    scheduler: str | None,
    partitions: int | None,
    setting: str | None,
    require_coverage: bool,  # noqa: FBT001
    engine: str,
    buckets: str,
    fmt: str,
    significant_risk_from: str | None,
) -> None:
    """Close a billing month over a patients.csv / events.csv pair, or over a store (--db).

    Bad rows are reported with file, line and column and skipped; the good
    rows are still closed, and the exit status is 1 when any row was refused.
    With --out, writes claims.csv, claims.json, denials.csv,
    audit/packets.jsonl and summary.json; the summary table is printed.
    Both engines write the same files; the columnar one is faster. With
    --db, every stored patient is evaluated by the reference engine and the
    month's claim lines and denials are stored, replacing an earlier close.
    With --db, --significant-risk-from attested counts a condition's
    significant risk only when a clinician attested it (patients.csv lists
    attested conditions only, so it changes nothing there).
    """
    try:
        period = parse_month(month, "--month")
        if significant_risk_from is not None:
            significant_risk(significant_risk_from, "--significant-risk-from")
        if out is not None:
            check_out_folder(out)
    except errors.InvalidValue as exc:
        _fail(str(exc))
        return
    if db_url is not None:
        if patients_csv is not None or events_csv is not None:
            _fail("give --db, or --patients and --events, not both")
            return
        show = progress if progress is not None else sys.stderr.isatty()
        _close_store(
            ctx,
            db_url,
            period,
            out,
            payer,
            rule_set_id,
            show=show,
            setting=setting,
            require_coverage=require_coverage,
            workers=workers,
            executor=executor,
            scheduler=scheduler,
            partitions=partitions,
            fmt=fmt,
            significant_risk_from=significant_risk_from,
        )
        return
    if executor is not None or scheduler is not None or partitions is not None:
        _fail("--executor, --scheduler and --partitions are for a close over a store (--db)")
        return
    if setting is not None or require_coverage:
        _fail("--setting and --require-coverage are for a close over a store (--db)")
        return
    if patients_csv is None or events_csv is None:
        _fail("give --patients and --events (CSV files), or --db URL (a store)")
        return
    _close_csv(
        ctx,
        patients_csv,
        events_csv,
        period,
        out,
        payer=payer,
        rule_set_id=rule_set_id,
        progress=progress,
        workers=workers,
        engine=engine,
        buckets=buckets,
        fmt=fmt,
        significant_risk_from=significant_risk_from,
    )


def _close_csv(
    ctx: click.Context,
    patients_csv: Path,
    events_csv: Path,
    period: Any,
    out: Path | None,
    *,
    payer: str,
    rule_set_id: str | None,
    progress: bool | None,
    workers: int | None,
    engine: str,
    buckets: str = "auto",
    fmt: str = "table",
    significant_risk_from: str | None = None,
) -> None:
    """The close over a patients.csv / events.csv pair (carecore.billing._close.close_files)."""
    import contextlib  # noqa: PLC0415

    from carecore.billing._close import close_files  # noqa: PLC0415
    from carecore.billing._columnar import polars_available  # noqa: PLC0415

    if engine == "columnar" and not polars_available():
        _fail("--engine columnar needs polars: " + errors.MissingDependency.install_command("fast"))
        return
    from carecore.billing._buckets import MAX_BUCKETS  # noqa: PLC0415

    count: int | str = buckets
    if buckets != "auto":
        if not buckets.isdigit() or not 1 <= int(buckets) <= MAX_BUCKETS:
            _fail(f"--buckets={buckets!r}: expected auto or a whole number from 1 to {MAX_BUCKETS}")
            return
        count = int(buckets)
    show = progress if progress is not None else sys.stderr.isatty()
    try:
        rules = chosen_rules(
            ctx.obj["pm"], period.start.year, payer, rule_set_id, significant_risk_from
        )
        with contextlib.ExitStack() as stack:
            advance = None
            if show:
                from rich.console import Console  # noqa: PLC0415
                from rich.progress import BarColumn, Progress, TimeRemainingColumn  # noqa: PLC0415

                bar = stack.enter_context(
                    Progress(
                        "[progress.description]{task.description}",
                        BarColumn(),
                        "{task.completed} patients",
                        TimeRemainingColumn(),
                        transient=True,
                        console=Console(stderr=True),  # standard output has the summary
                    )
                )
                task = bar.add_task(f"closing {period.start:%Y-%m}", total=None)

                def advance(done: int, total: int | None) -> None:
                    bar.update(task, completed=done, total=total)

            summary, problems = close_files(
                patients_csv,
                events_csv,
                period,
                rules,
                out,
                engine=engine,
                workers=workers,
                on_progress=advance,
                on_notice=lambda text: click.echo(f"carecore billing: {text}", err=True),
                buckets=count,
            )
    except (errors.InvalidInput, errors.NotFound) as exc:
        _fail(str(exc))
        return
    _report(summary, problems, out, fmt)


def _report(summary: Any, problems: list[Any], out: Path | None, fmt: str = "table") -> None:
    """Print the summary (in *fmt*) and the refused rows; exit 1 when any row was refused."""
    _print_summary(summary, out, fmt)
    for problem in problems[:50]:
        click.echo(f"refused: {problem}", err=True)
    if len(problems) > 50:  # noqa: PLR2004
        click.echo(f"refused: ... and {len(problems) - 50} more rows", err=True)
    if problems:
        sys.exit(1)


def _close_store(  # noqa: PLR0917 - the close command's settings
    ctx: click.Context,
    db_url: str,
    period: Any,
    out: Path | None,
    payer: str,
    rule_set_id: str | None,
    *,
    show: bool,
    setting: str | None = None,
    require_coverage: bool = False,
    workers: int | None = None,
    executor: str | None = None,
    scheduler: str | None = None,
    partitions: int | None = None,
    fmt: str = "table",
    significant_risk_from: str | None = None,
) -> None:
    """The close over a store: evaluate, store the outcome, write the same files as a CSV close."""
    import contextlib  # noqa: PLC0415

    from carecore.billing._close import close_store  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415

    pm = ctx.obj["pm"]
    try:
        rules = chosen_rules(pm, period.start.year, payer, rule_set_id, significant_risk_from)
    except errors.NotFound as exc:
        _fail(str(exc))
        return

    with contextlib.ExitStack() as stack:
        # A failed close closes the files and writes no summary.json.
        program = stack.enter_context(
            CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False)
        )
        runner = None
        if executor is not None or scheduler is not None:
            from carecore.executors import get_executor  # noqa: PLC0415

            runner = stack.enter_context(
                get_executor(executor or "dask", workers=workers, scheduler=scheduler, pm=pm)
            )
        advance = None
        if show:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import BarColumn, MofNCompleteColumn, Progress  # noqa: PLC0415

            bar = stack.enter_context(
                Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    MofNCompleteColumn(),
                    transient=True,
                    console=Console(stderr=True),  # standard output has the summary
                )
            )
            task = bar.add_task(f"closing {period.start:%Y-%m} from {db_url}", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

        from carecore.billing.facts import Setting  # noqa: PLC0415

        summary = close_store(
            program,
            period,
            rules,
            out,
            # With files written, the reason says where they went (the audit log's disclosure).
            reason="carecore billing close" + ("" if out is None else f" to {Path(out).resolve()}"),
            on_progress=advance,
            setting=None if setting is None else Setting(setting),
            require_coverage=require_coverage,
            workers=workers,
            executor=runner,
            partitions=partitions,
        )
    _print_summary(summary, out, fmt)
    # With JSON or CSV on standard output, what is not the records goes to standard error.
    click.echo(f"stored in {db_url}: the claim lines and denials of {period}", err=fmt != "table")


def _print_summary(summary: Any, out: Path | None, fmt: str = "table") -> None:
    """The close's summary in *fmt*: a table, summary.json's document, or one CSV row per code."""
    import attrs  # noqa: PLC0415

    echo_records(
        fmt,
        [attrs.asdict(code) for code in summary.codes],
        columns=("code", "lines", "units", "amount"),
        table=lambda: _summary_table(summary, out),
        data=attrs.asdict(summary),
    )
    if out is not None and fmt != "table":
        click.echo(f"written to {out}", err=True)


def _summary_table(summary: Any, out: Path | None) -> None:
    from decimal import Decimal  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from carecore.billing.fees import NO_LISTED_FEE, Revenue, format_amount  # noqa: PLC0415

    table = Table(
        title=f"Billing close {summary.month} ({summary.rule_set}, version {summary.rule_set_version})"
    )
    table.add_column("code")
    table.add_column("lines", justify="right")
    table.add_column("units", justify="right")
    table.add_column("approx. amount", justify="right")
    # A code with no listed fee has no amount: shown as such and counted apart from the
    # total, never as $0.
    for code in summary.codes:
        shown = format_amount(None if code.amount is None else Decimal(code.amount))
        table.add_row(code.code, str(code.lines), str(code.units), shown)
    total = Revenue(
        total=Decimal(summary.expected_revenue),
        lines=summary.claim_lines,
        unpriced_lines=summary.unpriced_lines,
    )
    table.add_row("total", str(summary.claim_lines), "", total.describe(), style="bold")
    console = Console(width=100)
    console.print(table)
    console.print(
        f"patients evaluated {summary.patients_evaluated}, billed {summary.patients_billed}, "
        f"denials {summary.denials}, rows refused {summary.rows_rejected}"
    )
    console.print(
        "amounts are approximate national non-facility amounts (verify with CMS); "
        f"codes with {NO_LISTED_FEE} are not in the total"
    )
    if out is not None:
        console.print(f"written to {out}")


# -- carecore billing claims ------------------------------------------------------------


@billing.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="The service month to send.")
@click.option(
    "--db",
    "db_url",
    metavar="URL",
    default=None,
    help="Send the month's claim lines stored by a close over this store (billing close --db).",
)
@click.option(
    "--close",
    "close_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Send the claim lines of a CSV close's output folder (its claims.json); needs "
    "--practice and --patients.",
)
@click.option(
    "--format",
    "fmt",
    default="x12",
    show_default=True,
    metavar="NAME",
    help="x12: an ASC X12 837P 005010X222A1 file (carecore-x12); fhir: a FHIR R4 Bundle of "
    "Claim resources (carecore-fhir); or any installed claim writer.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The file to write (created readable by its owner only).",
)
@click.option(
    "--practice",
    "practice_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A JSON practice file (billing_identity and practitioners). Required with --close; "
    "with --db it replaces the stored billing identity.",
)
@click.option(
    "--patients",
    "patients_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --close: a CSV of the claims' patients (patient_id, family_name, given_name, "
    "birth_date, sex, mbi, address_line1, address_line2, city, state, postal_code).",
)
@click.option(
    "--identity",
    "identity_id",
    default=None,
    metavar="ID",
    help="With --db: the stored billing identity to bill as, when the store holds several.",
)
@click.pass_context
def claims(  # noqa: PLR0917 - click passes the options by position
    ctx: click.Context,
    month: str,
    db_url: str | None,
    close_dir: Path | None,
    fmt: str,
    out: Path,
    practice_file: Path | None,
    patients_file: Path | None,
    identity_id: str | None,
) -> None:
    """Write a closed month's claims as an 837P (--format x12) or FHIR Claims (--format fhir).

    The claim lines come from a close over a store (--db; the practice's
    billing identity is a stored record) or from a CSV close's output folder
    (--close, with --practice and --patients). One claim is made per patient
    and billing practitioner. A claim the records cannot support (no MBI, no
    address, no NPI, a line without a fee or a diagnosis) is refused with the
    field named, and the others are still written. Exits 0 when every claim
    was written, 1 when any was refused, 2 for bad input (nothing written).
    """
    from carecore.billing.claims import ClaimWriter  # noqa: PLC0415
    from carecore.plugins import _collect  # noqa: PLC0415

    try:
        period = parse_month(month, "--month")
    except errors.InvalidValue as exc:
        _fail(str(exc))
        return
    if (db_url is None) == (close_dir is None):
        _fail("give --db URL (a store) or --close DIR (a CSV close's output folder)")
        return
    if close_dir is not None and (practice_file is None or patients_file is None):
        _fail("--close needs --practice FILE and --patients FILE (a CSV close holds no identities)")
        return
    if db_url is not None and (patients_file is not None):
        _fail("--patients is for --close; a store holds its patients")
        return
    pm = ctx.obj["pm"]
    writers = _collect(pm, "carecore_claim_writers", "claim writer", ClaimWriter)
    if fmt not in writers:
        installed = ", ".join(sorted(writers)) or "none"
        _fail(
            f"--format={fmt!r}: no installed claim writer (installed: {installed}; from the "
            "carecore checkout: pip install ./plugins/carecore-x12 for x12, "
            "./plugins/carecore-fhir for fhir)"
        )
        return
    problems: list[str] = []
    try:
        if db_url is not None:
            batch = _claims_from_db(pm, db_url, period, practice_file, identity_id, out)
        else:
            from carecore.billing.claims import claims_from_close  # noqa: PLC0415

            assert close_dir is not None  # noqa: S101 - checked above
            assert practice_file is not None  # noqa: S101
            assert patients_file is not None  # noqa: S101
            batch, problems = claims_from_close(
                close_dir, period, practice=practice_file, patients=patients_file
            )
    except (errors.InvalidInput, errors.InvalidValue, errors.NotFound) as exc:
        if exc.field == "url":
            raise  # about the store: the command line names it --db, as every command does
        _fail(str(exc))
        return
    _write_claims(writers[fmt], batch, out, problems)


def _claims_from_db(  # noqa: PLR0917 - the command's options, passed on
    pm: Any,
    db_url: str,
    period: Any,
    practice_file: Path | None,
    identity_id: str | None,
    out: Path,
) -> Any:
    """The month's claims from a store; a practice file's identity replaces the stored one.

    The reads' audit rows (one per patient) say where the claims go: *out*.
    """
    from carecore.billing.claims import claims_from_store, read_practice_file  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415

    identity = None if practice_file is None else read_practice_file(practice_file)[0]
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        program.transaction(f"carecore billing claims: {period} to {out.resolve()}") as tx,
    ):
        return claims_from_store(tx, period, identity=identity, identity_id=identity_id)


def _write_claims(writer: Any, batch: Any, out: Path, problems: list[str]) -> None:
    """Write the batch's claims to *out* (0600, replaced whole), report totals and refusals."""
    import os  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    import pendulum  # noqa: PLC0415

    from carecore.billing.fees import format_amount  # noqa: PLC0415

    for problem in problems:
        click.echo(f"refused row: {problem}", err=True)
    for refusal in batch.refusals:
        click.echo(f"refused claim: {refusal}", err=True)
    if not batch.claims:
        click.echo(f"carecore billing: no claim of {batch.period} to write; {out} not written")
        sys.exit(1)
    folder = out.parent if str(out.parent) else Path()
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".part")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            writer.write(batch, handle, created=pendulum.now("UTC"))
        Path(temporary).replace(out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    refused = sum(r.lines for r in batch.refusals)
    click.echo(
        f"{_count(len(batch.claims), 'claim')}, {_count(batch.line_count, 'claim line')}, "
        f"total charge {format_amount(batch.total)} written to {out} ({writer.id})"
    )
    if batch.refusals or problems:
        click.echo(
            f"refused: {_count(len(batch.refusals), 'claim')} "
            f"({_count(refused, 'claim line')}), {_count(len(problems), 'patient row')}",
            err=True,
        )
        sys.exit(1)
