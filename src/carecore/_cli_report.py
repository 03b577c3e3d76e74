"""``carecore report``: the program report (HTML with plots, tables as CSV) from a store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_common import (
    day_option,
    echo_records,
    format_option,
    parse_month,
    time_zone_option,
)
from carecore.clock import SystemClock
from carecore.model import ServiceFamily, ServicePeriod
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pendulum
    import pluggy

    from carecore.report import Table

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
) -> None:
    """Write the program report: a practice manager's page with plots, and every table as CSV.

    The numbers are those of carecore.metrics.program_report over the
    months --from..--to; the headline cards and the funnel describe the
    month --to, against the month before it. The measures are also printed.
    """
    from carecore.metrics import parse_costs, parse_expected_pmpm, program_report  # noqa: PLC0415
    from carecore.report import write_report  # noqa: PLC0415
    from carecore.risk import HccModel, HccVersion  # noqa: PLC0415

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
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        # The reason says where the report went: the audit log records the disclosure.
        reason = f"carecore report to {Path(out).resolve()}"
        data = program.program_data(reason=reason)
        extra = _care_tables(program, period.start, day, reason=reason)
    result = program_report(
        data,
        period=period,
        as_of=day,
        family=ServiceFamily(family),
        time_zone=time_zone,
        expected_pmpm=None if expected_text is None else parse_expected_pmpm(expected_text),
        costs=None if costs_text is None else parse_costs(costs_text),
        intervention=intervention,
        comparison_months=months,
        hcc_model=model,
    )
    files = write_report(result, out, extra=extra, phi=not no_phi, headline=headline)
    care = _care_summary(extra)
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
        for line in _care_lines(care, period.start, day):
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


def _care_tables(
    program: CareProgram, start: pendulum.Date, end: pendulum.Date, *, reason: str
) -> tuple[Table, ...]:
    """Gap closure over the period and PDC by drug class (issue 18), as report tables."""
    from carecore.gaps._report import adherence_table, gap_closure_table  # noqa: PLC0415

    if end < start:
        return ()
    closure = gap_closure_table(
        program.care_gaps(on=start, reason=reason), program.care_gaps(on=end, reason=reason)
    )
    adherence = program.medication_adherence(start=start, end=end, reason=reason)
    return (closure, adherence_table(adherence))


def _care_summary(tables: tuple[Table, ...]) -> dict[str, Any]:
    """The gap-closure total and the PDC by class, read from the report's own tables."""
    found = {t.name: t for t in tables}
    out: dict[str, Any] = {}
    closure = found.get("gap_closure")
    if closure is not None:
        row = dict(zip(closure.columns, closure.rows[-1], strict=True))  # the "all" row
        out["gap_closure"] = {
            "open_at_start": int(row["open_at_start"].replace(",", "")),
            "closed_by_end": int(row["closed_by_end"].replace(",", "")),
            "closure_rate": row["closure_rate"] or None,
            "open_at_end": int(row["open_at_end"].replace(",", "")),
        }
    adherence = found.get("adherence_by_class")
    if adherence is not None:
        out["adherence"] = [
            {
                "drug_class": row["drug_class"],
                "patients": int(row["patients"].replace(",", "")),
                "mean_pdc": row["mean_pdc"] or None,
                "under_80_percent": int(row["under_80_percent"].replace(",", "")),
            }
            for row in (dict(zip(adherence.columns, r, strict=True)) for r in adherence.rows)
        ]
    return out


def _care_lines(care: dict[str, Any], start: pendulum.Date, end: pendulum.Date) -> list[str]:
    """The gap closure and the adherence by class, as the printed report's last lines."""
    lines = []
    gaps = care.get("gap_closure")
    if gaps is not None:
        rate = gaps["closure_rate"]
        shown = "n/a" if rate is None else f"{Decimal(rate) * 100:.1f}%"
        lines.append(
            f"Gaps in care: {gaps['closed_by_end']} of the {gaps['open_at_start']} open on "
            f"{start} closed by {end} ({shown}); {gaps['open_at_end']} open on {end}"
        )
    classes = care.get("adherence")
    if classes is not None:
        if not classes:
            lines.append("Adherence (PDC): no stored fills in the period")
        for c in classes:
            mean = "n/a" if c["mean_pdc"] is None else f"{Decimal(c['mean_pdc']) * 100:.1f}%"
            lines.append(
                f"Adherence (PDC) {c['drug_class']}: {c['patients']} patient(s) measured, "
                f"mean {mean}, {c['under_80_percent']} under 80%"
            )
    return lines
