"""``carecore simulate``: run a study's replications and write the table, the summary and the plots."""

from __future__ import annotations

import base64
import html
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_common import check_out_folder, echo_records, format_option, output_error
from carecore._files import PRIVATE_FOLDER, private_open, write_private

if TYPE_CHECKING:
    import pluggy

    from carecore.simulation import Interval, Study, StudyResult

#: The summary figures the table output shows, in order, with the kind of number each is:
#: dollars, a count (or a mean of counts, or a rate per 1,000) or a share shown as a percent.
SHOWN = (
    ("revenue", "revenue ($)", "dollars"),
    ("staff_cost", "staff cost ($)", "dollars"),
    ("net_revenue", "net revenue ($)", "dollars"),
    (
        "net_revenue_per_enrolled_patient_year",
        "net revenue per enrolled patient-year ($)",
        "dollars",
    ),
    (
        "revenue_less_time_cost_per_enrolled_patient_year",
        "revenue less the cost of the minutes spent, per enrolled patient-year ($)",
        "dollars",
    ),
    ("break_even_enrollment_per_fte", "break-even enrollment per FTE", "count"),
    ("enrolled_patients_end", "enrolled patients (last month)", "count"),
    ("billable_rate", "billable rate", "share"),
    ("minutes_logged", "minutes logged", "count"),
    ("staff_utilisation", "staff utilisation", "share"),
    ("ed_visits_per_1000", "ED visits per 1,000 member-years", "count"),
    ("admissions_per_1000", "admissions per 1,000 member-years", "count"),
    ("readmission_rate", "30-day readmission rate", "share"),
)

#: Above this, dollars and counts are shown whole (cents and tenths are noise there).
_WHOLE_FROM = 1000


def _number(value: float, kind: str, digits: int | None = None) -> str:
    """*value* as the table shows a number of *kind* (``n/a`` when it is NaN).

    Dollars with cents, or whole from $1,000; counts with at most one
    decimal, whole from 1,000 (*digits* overrides both: a row shows its three
    numbers alike); shares as a percent with one decimal.

    >>> _number(77.676, "dollars"), _number(108_599.4, "dollars"), _number(150, "dollars", 2)
    ('77.68', '108,599', '150.00')
    >>> _number(50.5, "count"), _number(50.0, "count"), _number(48_413.4, "count")
    ('50.5', '50', '48,413')
    >>> _number(0.5594, "share"), _number(float("nan"), "share")
    ('55.9%', 'n/a')
    """
    if math.isnan(value):
        return "n/a"
    if kind == "share":
        return _fixed(value * 100, 1) + "%"
    if kind == "dollars":
        return _fixed(value, (0 if abs(value) >= _WHOLE_FROM else 2) if digits is None else digits)
    if digits is not None:
        return _fixed(value, digits)
    if abs(value) >= _WHOLE_FROM:
        return _fixed(value, 0)
    return _fixed(value, 1).removesuffix(".0")


def _fixed(value: float, digits: int) -> str:
    """*value* with *digits* decimals and thousands separators; a value that rounds to 0 unsigned."""
    text = f"{value:,.{digits}f}"
    return text.removeprefix("-") if not any(c in "123456789" for c in text) else text


def _cells(values: Interval, kind: str, replications: int) -> tuple[str, str]:
    """The mean and the 95% interval of one measure, as the table and the page show them.

    The three numbers of a row take one precision: a dollar row cents
    unless one is $1,000 or more, a count row one decimal unless they are
    whole (or one is 1,000 or more). One replication has no spread: its interval is
    ``n/a``, not the mean twice.
    """
    shown = [x for x in (values.mean, values.low, values.high) if not math.isnan(x)]
    digits = None
    if kind != "share" and shown:
        large = max(abs(x) for x in shown) >= _WHOLE_FROM
        if kind == "dollars":
            digits = 0 if large else 2
        else:
            digits = 0 if large or all(round(x, 1) == round(x) for x in shown) else 1
    mean = _number(values.mean, kind, digits)
    if replications < _FOR_AN_INTERVAL or math.isnan(values.low) or math.isnan(values.high):
        return mean, "n/a"
    return mean, f"{_number(values.low, kind, digits)} to {_number(values.high, kind, digits)}"


#: The replications an interval needs (one gives no spread).
_FOR_AN_INTERVAL = 2


def _runs(replications: int) -> str:
    """``1 replication``, ``20 replications``."""
    return f"{replications} replication{'' if replications == 1 else 's'}"


_ONE_RUN_NOTE = (
    "The 95% interval needs at least 2 replications (--replications): one shows no spread."
)


def _summary_json(result: StudyResult) -> dict[str, Any]:
    def clean(x: float) -> float | None:
        return None if math.isnan(x) else x

    return {
        "study": result.study.name,
        "seed": result.seed,
        "replications": len(result.replications),
        "first_month": result.study.first_month,
        "months": result.study.months,
        "interval": "mean and 2.5th-97.5th percentiles across replications",
        "measures": {
            name: {"mean": clean(i.mean), "low": clean(i.low), "high": clean(i.high)}
            for name, i in result.summary.items()
        },
    }


def _plots(result: StudyResult) -> dict[str, bytes]:
    """The fan chart of monthly revenue and the histogram of annual net revenue (needs matplotlib)."""
    import numpy as np  # noqa: PLC0415 - the simulation's own dependency

    from carecore.report._plots import _figure, _png  # noqa: PLC0415 - the report's canvas

    revenue = np.array(result.monthly("revenue"), dtype=float)
    months = [m for m, _ in result.replications[0].months]
    x = np.arange(len(months))
    figure, axes = _figure()
    # _figure has imported matplotlib, or said which extra to install when it is missing.
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter  # noqa: PLC0415

    bands = ((2.5, 97.5, 0.2), (10, 90, 0.3), (25, 75, 0.45)) if len(revenue) > 1 else ()
    for low, high, alpha in bands:  # one replication has no spread: its line alone
        axes.fill_between(
            x,
            np.percentile(revenue, low, axis=0),
            np.percentile(revenue, high, axis=0),
            alpha=alpha,
            color="tab:blue",
            linewidth=0,
            label=f"{low:g}-{high:g}th percentile",
        )
    label = "median" if bands else "the one replication"
    axes.plot(x, np.median(revenue, axis=0), color="tab:blue", label=label)
    axes.set_xticks(x, months, rotation=45, fontsize=7)
    axes.set_ylabel("revenue ($)")
    across = "across replications" if bands else "in the one replication"
    axes.set_title(f"Monthly revenue {across}")
    axes.legend(fontsize=7, loc="upper left")  # not "best": it warns when slow
    axes.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    fan = _png(figure)
    figure, axes = _figure()
    net = [t["net_revenue"] for t in result.totals()]
    # Values all alike (one replication) get a range of their own, 5% either side,
    # not matplotlib's one dollar, whose ticks would repeat one whole-dollar label.
    half = _half_range(net[0])
    spread = None if max(net) > min(net) else (net[0] - half, net[0] + half)
    axes.hist(
        net,
        bins=min(20, max(5, len(net) // 2)),
        range=spread,
        color="tab:green",
        edgecolor="white",
    )
    axes.set_xlabel("net revenue over the study ($)")
    axes.set_ylabel("replications")
    # A count of replications: whole ticks only (0, 1, 2, not 0.2 replications).
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    axes.set_title(f"Net revenue {across}")
    return {"revenue_fan.png": fan, "net_revenue_hist.png": _png(figure)}


def _half_range(value: float) -> float:
    """Half the range a histogram of values all equal to *value* spans: 5% of it, at least $100."""
    return max(abs(value) * 0.05, 100.0)


def _page(result: StudyResult, plots: dict[str, bytes]) -> str:
    runs = len(result.replications)
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(label), *_cells(result.summary[name], kind, runs)
        )
        for name, label, kind in SHOWN
        if name in result.summary
    )
    images = "".join(
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode()}">'
        for name, data in plots.items()
    )
    if not plots:
        install = html.escape(errors.MissingDependency.install_command("report"))
        images = f"<p>No plots: install matplotlib ({install}).</p>"
    note = (
        "Intervals: 2.5th to 97.5th percentile across replications."
        if runs >= _FOR_AN_INTERVAL
        else _ONE_RUN_NOTE
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(result.study.name)}</title>"
        "<style>td, th { padding: 0 0.6em; } td + td { text-align: right; }</style>"
        "</head><body>"
        f"<h1>{html.escape(result.study.name)}</h1>"
        f"<p>{_runs(runs)} from seed {result.seed}, "
        f"{result.study.months} months from {result.study.first_month}. "
        f"{html.escape(note)}</p>"
        f"<table><tr><th>measure</th><th>mean</th><th>95% interval</th></tr>{rows}</table>"
        f"{images}</body></html>"
    )


def _with_panel(study: Study, location: str, pm: pluggy.PluginManager | None) -> Study:
    """*study* with the patients at *location* (a store URL, or a location an EHR source reads)."""
    import attrs  # noqa: PLC0415
    import pendulum  # noqa: PLC0415

    from carecore.plugins import get_plugin_manager  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415
    from carecore.simulation import panel_from_ehr, panel_from_records  # noqa: PLC0415

    manager = pm if pm is not None else get_plugin_manager()
    as_of = pendulum.Date(study.start_year, study.start_month, 1)
    scheme = location.split("://", 1)[0] if "://" in location else ""
    if scheme and scheme not in {"http", "https"}:
        from carecore._cli_actor import current_actor  # noqa: PLC0415

        # The command line's actor reads the patients, held to the access policy.
        with CareProgram.open(
            location, actor=current_actor(), plugin_manager=manager, create=False
        ) as program:
            data = program.program_data(reason="simulation study")
        panel = panel_from_records(data, as_of=as_of, time_zone=study.time_zone)
    else:
        panel = panel_from_ehr(location, as_of=as_of, pm=manager, time_zone=study.time_zone)
    return attrs.evolve(study, population=panel)


def _write(result: StudyResult, out: Path) -> list[str]:
    try:
        return _write_files(result, out)
    except OSError as exc:
        raise output_error(exc, {"--out": out}) from exc


def _write_files(result: StudyResult, out: Path) -> list[str]:
    out.mkdir(mode=PRIVATE_FOLDER, exist_ok=True)  # not its parents: a missing one is refused
    out.chmod(PRIVATE_FOLDER)
    written = ["results.csv", "summary.json", "index.html"]
    result.write_csv(out / "results.csv")
    try:
        frame = result.to_polars()
    except errors.MissingDependency:
        frame = None
    if frame is not None:
        with private_open(out / "results.parquet", "wb") as handle:
            frame.write_parquet(handle)
        written.insert(1, "results.parquet")
    write_private(out / "summary.json", json.dumps(_summary_json(result), indent=2) + "\n")
    try:
        plots = _plots(result)
    except errors.MissingDependency:
        plots = {}
    write_private(out / "index.html", _page(result, plots))
    return written


@click.command()
@click.argument("config", required=False)
@click.option("--list-examples", is_flag=True, help="List the shipped example studies, one a line.")
@click.option(
    "--replications", type=int, default=20, show_default=True, help="Replications to run."
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="The seed all streams come from."
)
@click.option(
    "--executor",
    default=None,
    help="Where replications run: local, process, dask (or one a plugin adds); default: "
    "local (dask with --scheduler).",
)
@click.option("--workers", type=int, default=None, help="Workers of the process or dask executor.")
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="A Dask scheduler (tcp://host:8786) to run on; alone it means --executor dask, and "
    "another --executor refuses it.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write results.csv (and .parquet with polars), summary.json and index.html here "
    "(made if missing; the folder it is in must exist).",
)
@format_option(
    help="How to print the summary: a table, JSON, or CSV (a header row, one row per measure).",
)
@click.option(
    "--population-from",
    "population_from",
    metavar="LOCATION",
    default=None,
    help="Simulate these patients instead of a generated panel: a store URL "
    "(sqlite:///x.db, postgresql://...) or what an EHR source reads (FHIR bundle files "
    "with carecore-fhir).",
)
@click.option("--no-progress", is_flag=True, help="Do not show the progress bar.")
@click.pass_context
def simulate(  # noqa: PLR0917, C901 - one option after another
    ctx: click.Context,
    config: str | None,
    list_examples: bool,  # noqa: FBT001
    replications: int,
    seed: int,
    executor: str | None,
    workers: int | None,
    scheduler: str | None,
    out_dir: Path | None,
    fmt: str,
    population_from: str | None,
    no_progress: bool,  # noqa: FBT001
) -> None:
    """Run a simulation study: CONFIG is a shipped example's name or a TOML or JSON file.

    Replications run on independent random streams spawned from --seed, so
    the same seed gives the same results on every executor. A bad config
    exits 2 and names the key.
    """
    from carecore.simulation import example_names, load_study, run_study  # noqa: PLC0415

    if list_examples:
        for name in example_names():
            click.echo(name)
        return
    if config is None:
        raise click.UsageError("CONFIG is needed: a study file or an example name")
    study = load_study(config)
    if replications < 1:
        raise errors.InvalidValue("must be at least 1", field="--replications", value=replications)
    if seed < 0:
        raise errors.InvalidValue("must be at least 0", field="--seed", value=seed)
    if out_dir is not None:
        check_out_folder(out_dir)
    pm: pluggy.PluginManager | None = (ctx.obj or {}).get("pm")
    if population_from is not None:
        study = _with_panel(study, population_from, pm)
    if executor is None:
        executor = "local" if scheduler is None else "dask"
    from carecore.executors import get_executor  # noqa: PLC0415 - loaded when the command runs

    # Its refusals name --workers and --executor: the CLI's guard renames them (cli._guarded).
    with get_executor(executor, workers=workers, scheduler=scheduler, pm=pm) as runner:
        if no_progress or not sys.stderr.isatty():
            result = run_study(study, replications=replications, seed=seed, executor=runner)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress  # noqa: PLC0415

            with Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                transient=True,
            ) as progress:
                task = progress.add_task("replications", total=replications)
                result = run_study(
                    study,
                    replications=replications,
                    seed=seed,
                    executor=runner,
                    on_done=lambda _i: progress.advance(task),
                )
    if out_dir is not None:
        written = _write(result, out_dir)
        click.echo(f"wrote {', '.join(written)} to {out_dir}", err=True)

    def table() -> None:
        click.echo(
            f"{study.name}: {_runs(replications)}, seed {seed}, "
            f"{study.months} months from {study.first_month}"
        )
        width = max(len(label) for _name, label, _kind in SHOWN)
        click.echo(f"{'measure':<{width}}  {'mean':>12}  95% interval")
        for name, label, kind in SHOWN:
            if name in result.summary:
                mean, interval = _cells(result.summary[name], kind, replications)
                click.echo(f"{label:<{width}}  {mean:>12}  {interval}")
        if replications < _FOR_AN_INTERVAL:
            click.echo(_ONE_RUN_NOTE)

    summary = _summary_json(result)
    rows = [{"measure": name, **values} for name, values in summary["measures"].items()]
    echo_records(fmt, rows, columns=("measure", "mean", "low", "high"), table=table, data=summary)
