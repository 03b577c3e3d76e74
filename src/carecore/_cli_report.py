"""``carecore report``: the program report (HTML with plots, tables as CSV) from a store."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_billing import rule_set_options, significant_risk_option, switched_rules
from carecore._cli_common import (
    check_out_folder,
    day_option,
    echo_records,
    executor_options,
    format_option,
    open_executor,
    parse_month,
    time_zone_option,
)
from carecore.clock import SystemClock
from carecore.model import ServiceFamily, ServicePeriod
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pendulum
    import pluggy


_DEFAULT_MONTHS = 12


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    return Path(path).read_text(encoding="utf-8")


def _period(
    first: str | None, last: str | None, time_zone: str, headline: str = "month"
) -> ServicePeriod:
    if last is not None:
        end = parse_month(last, "--to")
    else:  # the last complete month (or quarter) in the practice's time zone
        today = SystemClock().today(time_zone)
        start = today.start_of("month")
        if headline == "quarter":
            start = start.replace(month=(today.month - 1) // 3 * 3 + 1)
        before = start.subtract(days=1)
        end = ServicePeriod.month(before.year, before.month)
    start = (
        parse_month(first, "--from").start
        if first is not None
        else end.start.subtract(months=_DEFAULT_MONTHS - 1)
    )
    if start > end.end:
        raise errors.InvalidValue("is after --to", field="--from", value=first)
    return ServicePeriod(start=start, end=end.end)


@click.command()
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option(
    "--out",
    "out",
    required=True,
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Folder for index.html, the CSV tables and the PNG plots.",
)
@click.option(
    "--from", "first", metavar="YYYY-MM", help="First month (default: 11 months before --to)."
)
@click.option(
    "--to",
    "last",
    metavar="YYYY-MM",
    help="Last month, the one the headline cards and funnel describe (default: the last "
    "complete month, or quarter with --headline quarter, in the practice's time zone).",
)
@day_option(
    "--as-of",
    "as_of",
    help="Day of eligibility, caseloads, risk and the A1c window (default: the last day, or today).",
)
@click.option(
    "--program",
    "family",
    type=click.Choice(
        [
            f.value
            for f in (ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI, ServiceFamily.APCM)
        ]
    ),
    default="CCM",
    show_default=True,
    help="The program (service family) to measure.",
)
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help=(
        "The practice's time zone (months and dates are counted in it; default: the one "
        "stored with db set time-zone, else UTC)."
    ),
)
@click.option(
    "--expected-pmpm",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True),
    help="CSV with columns quarter,expected_pmpm (quarters as 2026Q1).",
)
@click.option(
    "--costs",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True),
    help="CSV with columns patient_id,month,amount: observed PMPM from these costs "
    "instead of care-management revenue.",
)
@day_option(
    "--intervention", help="Compare the months before this day with as many months from it."
)
@click.option(
    "--months",
    type=click.IntRange(1, 60),
    default=6,
    show_default=True,
    help="Months on each side of --intervention.",
)
@click.option(
    "--hcc",
    "hcc",
    metavar="VERSION:YEAR",
    help="Add CMS-HCC risk scores with this model, e.g. V28:2026 (needs carecore[hcc]).",
)
@click.option(
    "--headline",
    type=click.Choice(["month", "quarter"]),
    default="month",
    show_default=True,
    help="What the headline cards describe: the last month of the report, or the quarter "
    "it ends in (then --to defaults to the last complete quarter).",
)
@click.option(
    "--no-phi",
    "no_phi",
    is_flag=True,
    help="Write patient ids instead of patient names (a version to share outside the care team).",
)
@format_option(
    help="How to print the measures: a table, JSON (with the files written) or CSV "
    "(a header row, one row per measure).",
)
@executor_options("the report's partitions of patients are computed")
@rule_set_options
@significant_risk_option
@click.pass_context
def report(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    out: str,
    first: str | None,
    last: str | None,
    as_of: pendulum.Date | None,
    family: str,
    time_zone: str | None,
    expected_pmpm: str | None,
    costs: str | None,
    intervention: pendulum.Date | None,
    months: int,
    hcc: str | None,
    headline: str,
    no_phi: bool,  # noqa: FBT001 - a click flag
    fmt: str,
    executor: str | None,
    scheduler: str | None,
    workers: int | None,
    partitions: int | None,
    payer: str,
    rule_set_id: str | None,
    significant_risk_from: str | None,
) -> None:
    """Write the program report: a practice manager's page with plots, and every table as CSV.

    The numbers are those of carecore.metrics.program_report over the
    months --from..--to; the headline cards and the funnel describe the
    month --to, against the month before it. The measures are also printed.
    Eligibility and the minutes to the next code are decided under the rule
    set the month close of --as-of's year uses: --rule-set, else --payer's
    (CMS by default), with --significant-risk-from (or the settings'
    significant_risk_from).

    The store is read partition by partition (--partitions), on the workers
    of --executor when one is named: each partition's measures, worklists,
    eligibility and gap-closure and adherence counts are added up, and the
    files are the same for any partition count and executor.
    """
    from carecore.metrics import parse_costs, parse_expected_pmpm  # noqa: PLC0415
    from carecore.risk import HccModel, HccVersion  # noqa: PLC0415

    check_out_folder(out)
    pm: pluggy.PluginManager = ctx.obj["pm"]
    if time_zone is None:
        from carecore._cli_db import stored_time_zone  # noqa: PLC0415

        time_zone = stored_time_zone(ctx, db_url) or "UTC"
    period = _period(first, last, time_zone, headline)
    model = None
    if hcc is not None:
        version, _, year = hcc.partition(":")
        if version not in {v.value for v in HccVersion} or not year.isdigit():
            raise errors.InvalidValue("write VERSION:YEAR, e.g. V28:2026", field="--hcc", value=hcc)
        model = HccModel(version=HccVersion(version), year=int(year))
    expected_text, costs_text = _read(expected_pmpm), _read(costs)
    day = as_of
    if day is None:  # the last day of the report, but never a day still to come
        day = min(period.end, SystemClock().today(time_zone))
    rules = switched_rules(pm, day.year, significant_risk_from, payer, rule_set_id)
    from carecore.report._build import build_report, care_lines, care_summary  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        program = stack.enter_context(
            CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False)
        )
        runner = open_executor(stack, pm, executor, scheduler, workers)
        # The reason says where the report went: the audit log records the disclosure.
        result, files, extra = build_report(
            program,
            out,
            period=period,
            as_of=day,
            reason=f"carecore report to {Path(out).resolve()}",
            phi=not no_phi,
            headline=headline,
            family=ServiceFamily(family),
            time_zone=time_zone,
            expected_pmpm=None if expected_text is None else parse_expected_pmpm(expected_text),
            costs=None if costs_text is None else parse_costs(costs_text),
            intervention=intervention,
            comparison_months=months,
            hcc_model=model,
            rules=rules,
            partitions=partitions,
            executor=runner,
        )
    care = care_summary(extra)
    from carecore.report._labels import count, label, measure_value  # noqa: PLC0415

    def number(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    def table() -> None:
        click.echo(f"{family} program report, {result.period} (as of {result.as_of})")
        for m in result.measures:
            behind = (
                count(m.numerator)
                if m.denominator is None
                else f"{count(m.numerator)} / {count(m.denominator.quantize(Decimal('0.1')))}"
            )
            click.echo(f"  {label(m.name):<28} {measure_value(m):>10}  ({behind})")
        for line in care_lines(care, period.start, day):
            click.echo(line)
        click.echo(
            f"wrote {files.index} with {len(files.pages)} linked pages, {len(files.csv)} CSV "
            f"tables and {len(files.png)} plots"
        )

    rows = [
        {
            "measure": m.name,
            "label": label(m.name),
            "value": number(m.value),
            "numerator": number(m.numerator),
            "denominator": number(m.denominator),
        }
        for m in result.measures
    ]
    echo_records(
        fmt,
        rows,
        table=table,
        columns=("measure", "label", "value", "numerator", "denominator"),
        data={
            "period": str(result.period),
            "as_of": result.as_of.isoformat(),
            "index": str(files.index),
            "files": [str(p) for p in (*files.csv, *files.png)],
            "measures": {m.name: number(m.value) for m in result.measures},
            **care,
        },
    )
