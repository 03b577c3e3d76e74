"""The report's tables as text cells, formatted once from a :class:`~carecore.metrics.ProgramReport`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import evolve, frozen

from carecore.metrics import month_key
from carecore.registry import worklist_rows

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from carecore.metrics import ProgramReport
    from carecore.registry import WorklistRow

__all__ = ["Table", "cell", "report_tables", "worklist_cells"]


@frozen(kw_only=True)
class Table:
    """One table of the report: a file name, a title, column names and rows of text cells."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def csv_name(self) -> str:
        """The CSV file the table is written to."""
        return f"{self.name}.csv"


def cell(value: object) -> str:
    """How the report writes a value: None as empty, booleans as true/false, enums by value.

    >>> from decimal import Decimal
    >>> cell(None), cell(True), cell(Decimal("0.5000"))
    ('', 'true', '0.5000')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    enum_value = getattr(value, "value", None)
    if isinstance(enum_value, str):
        return enum_value
    return str(value)


def _measures(report: ProgramReport) -> Table:
    return Table(
        name="measures",
        title="Program measures",
        columns=(
            "measure",
            "value",
            "numerator",
            "denominator",
            "scale",
            "unit",
            "period",
            "definition",
        ),
        rows=tuple(
            (
                *(cell(x) for x in (m.name, m.value, m.numerator, m.denominator, m.scale, m.unit)),
                cell(m.period),
                m.definition,
            )
            for m in report.measures
        ),
    )


_ELIGIBILITY_COLUMNS = (
    "patient_id",
    "program",
    "eligible",
    "verified",
    "level",
    "conditions",
    "reasons",
)


def _eligibility_rows(report: ProgramReport) -> Iterator[tuple[str, ...]]:
    for e in report.eligibility:
        yield (
            e.patient_id,
            cell(e.family),
            cell(e.eligible),
            cell(e.verified),
            cell(e.level),
            " ".join(e.conditions),
            "; ".join(
                f"{c.rule}: {'met' if c.met else 'unknown' if c.met is None else 'not met'}"
                f" ({c.detail})"
                for c in e.criteria
            ),
        )


def _eligibility(report: ProgramReport) -> Table:
    return Table(
        name="eligibility",
        title="Eligibility",
        columns=_ELIGIBILITY_COLUMNS,
        rows=tuple(_eligibility_rows(report)),
    )


_RISK_COLUMNS = (
    "patient_id",
    "ed_visits_12m",
    "admissions_12m",
    "utilization_tier",
    "hcc_score",
    "hcc_tier",
    "tier",
    "reasons",
)


def _risk_rows(report: ProgramReport) -> Iterator[tuple[str, ...]]:
    for s in report.stratification:
        yield (
            s.patient_id,
            cell(s.utilization.ed_visits),
            cell(s.utilization.admissions),
            cell(s.utilization_tier),
            cell(None if s.hcc is None else s.hcc.score),
            cell(s.hcc_tier),
            cell(s.tier),
            "; ".join(s.reasons),
        )


def _risk(report: ProgramReport) -> Table:
    return Table(
        name="risk",
        title="Risk stratification",
        columns=_RISK_COLUMNS,
        rows=tuple(_risk_rows(report)),
    )


def _caseload(report: ProgramReport) -> Table:
    return Table(
        name="caseload",
        title="Caseload per care manager",
        columns=("care_manager", "patients", "patient_ids"),
        rows=tuple((c.owner, cell(c.size), " ".join(c.patient_ids)) for c in report.caseloads),
    )


def _pmpm(report: ProgramReport) -> Table:
    return Table(
        name="pmpm",
        title="PMPM observed against expected, by quarter",
        columns=(
            "quarter",
            "member_months",
            "observed_total",
            "observed_pmpm",
            "expected_pmpm",
            "difference",
            "source",
        ),
        rows=tuple(
            tuple(
                cell(x)
                for x in (
                    r.quarter,
                    r.member_months,
                    r.observed_total,
                    r.observed_pmpm,
                    r.expected_pmpm,
                    r.difference,
                    r.source,
                )
            )
            for r in report.pmpm
        ),
    )


def _before_after(report: ProgramReport) -> Table:
    return Table(
        name="before_after",
        title="Before and after the intervention",
        columns=(
            "measure",
            "intervention",
            "before_period",
            "before",
            "after_period",
            "after",
            "change",
        ),
        rows=tuple(
            tuple(
                cell(x)
                for x in (
                    c.name,
                    c.intervention,
                    c.before.period,
                    c.before.value,
                    c.after.period,
                    c.after.value,
                    c.change,
                )
            )
            for c in report.comparisons
        ),
    )


def _a1c_rows(report: ProgramReport) -> Iterator[tuple[str, ...]]:
    for a in report.a1c:
        yield tuple(
            cell(x) for x in (a.patient_id, a.first_on, a.first, a.last_on, a.last, a.change)
        )


def _a1c(report: ProgramReport) -> Table:
    return Table(
        name="a1c",
        title="A1c change over 12 months",
        columns=("patient_id", "first_on", "first", "last_on", "last", "change"),
        rows=tuple(_a1c_rows(report)),
    )


def worklist_cells(r: WorklistRow) -> tuple[str, ...]:
    """One open worklist row as the worklist table's cells (its columns' order)."""
    return (
        r.owner,
        r.band,
        cell(r.due),
        cell(r.overdue_since),
        r.kind,
        r.patient_id,
        r.action,
        r.detail,
    )


def _worklist(report: ProgramReport) -> Table:
    # The rows a care manager reads (carecore worklist): priority, overdue since, what to do.
    plans = () if report.data is None else report.data.care_plans
    rows = worklist_rows(
        report.worklists, today=report.as_of, care_plans=plans, descriptions=report.texts
    )
    return Table(
        name="worklist",
        title=f"Worklists on {report.as_of}",
        columns=(
            "owner",
            "priority",
            "due",
            "overdue_since",
            "kind",
            "patient_id",
            "action",
            "detail",
        ),
        rows=tuple(worklist_cells(r) for r in rows if r.closed_reason is None),
    )


def _series(name: str, title: str, column: str, measures: tuple[object, ...]) -> Table:
    rows = []
    for m in measures:
        period = getattr(m, "period", None)
        start = getattr(period, "start", None)
        month = "" if start is None else month_key(start)
        rows.append(
            (
                month,
                cell(getattr(m, "value", None)),
                cell(getattr(m, "numerator", None)),
                cell(getattr(m, "denominator", None)),
            )
        )
    return Table(
        name=name,
        title=title,
        columns=("month", column, "numerator", "denominator"),
        rows=tuple(rows),
    )


def report_tables(report: ProgramReport) -> tuple[Table, ...]:
    """Every table of the report, in the order the HTML shows them.

    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> [t.name for t in report_tables(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)))]
    ['measures', 'enrollment_by_month', 'minutes_by_month', 'pmpm', 'before_after', 'caseload', 'worklist', 'risk', 'eligibility', 'a1c']
    """
    return tuple(make(report) for make in TABLE_MAKERS)


def table_stream(
    make: Callable[[ProgramReport], Table], report: ProgramReport
) -> tuple[Table, Iterable[tuple[str, ...]]]:
    """The table *make* makes of *report*, without its rows, and its rows as the writer reads them.

    The eligibility, risk and A1c tables (a row per patient and program, per
    patient) are made row by row as they are written; the others are made whole.
    """
    streams: dict[
        Callable[[ProgramReport], Table], Callable[[ProgramReport], Iterator[tuple[str, ...]]]
    ] = {
        _eligibility: _eligibility_rows,
        _risk: _risk_rows,
        _a1c: _a1c_rows,
    }
    streamed = streams.get(make)
    if streamed is not None:
        head = make(evolve(report, eligibility=(), stratification=(), a1c=()))
        return head, streamed(report)
    table = make(report)
    return evolve(table, rows=()), table.rows


#: How the worklist table is made (a report built in partitions reads its rows from disk).
worklist_table = _worklist

#: How each table of :func:`report_tables` is made, in its order: the writer makes,
#: writes and drops them one at a time, so it never holds every row at once.
TABLE_MAKERS: tuple[Callable[[ProgramReport], Table], ...] = (
    _measures,
    lambda report: _series(
        "enrollment_by_month",
        "Enrolled patients at each month's end",
        "enrolled_patients",
        report.enrollment_by_month,
    ),
    lambda report: _series(
        "minutes_by_month",
        "Minutes per enrolled patient-month",
        "minutes_per_patient_month",
        report.minutes_by_month,
    ),
    _pmpm,
    _before_after,
    _caseload,
    _worklist,
    _risk,
    _eligibility,
    _a1c,
)
