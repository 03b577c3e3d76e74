"""The practice manager's view of a :class:`~carecore.metrics.ProgramReport`: cards, funnel, sections.

Every number comes from :mod:`carecore.metrics` (the same functions the
report's measures use, asked about single months), from the billing
engine (its stored results: claim lines, denials, fees; its minutes to the
next code, :attr:`~carecore.metrics.ProgramReport.minutes_progress`; its
thresholds, :func:`carecore.billing.primitives.unit_thresholds`) or from the
transitions module's deadlines; this module only groups, counts and words.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING

from attrs import frozen

from carecore import errors
from carecore.billing._engine import BASE_CODE
from carecore.billing._progress import NEAR_MINUTES
from carecore.billing.cms import close_rule_set
from carecore.billing.fees import NO_LISTED_FEE
from carecore.billing.primitives import closed_with, line_amount, unit_thresholds
from carecore.metrics import (
    Measure,
    billable_rate,
    enrolled_months,
    enrolled_patients,
    enrollment_funnel,
    expected_revenue,
    minutes_per_patient_month,
    month_key,
)
from carecore.metrics._program import _revenue_measure, _revenue_parts
from carecore.model import ServicePeriod
from carecore.report._labels import count, label, measure_value, money, month_name, percent
from carecore.report._tables import Table

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import pendulum

    from carecore.billing.rules import RuleSet
    from carecore.metrics import ProgramData, ProgramReport
    from carecore.model import Enrollment, Practitioner, TimeEntry
    from carecore.outreach import Worklist

__all__ = [
    "HEADLINES",
    "Card",
    "PracticeView",
    "Section",
    "Step",
    "ViewPart",
    "last_month",
    "last_quarter",
    "practice_view",
    "view_of_parts",
    "view_part",
]

#: Fewer events than this make a rate a small number (it moves a lot with one event).
SMALL_NUMBERS = 11


@frozen(kw_only=True)
class Card:
    """One headline number: its label, value, how it was counted, and the change."""

    label: str
    value: str
    detail: str
    change: str


@frozen(kw_only=True)
class Step:
    """One step of the enrollment funnel."""

    label: str
    count: int
    share: str
    definition: str


@frozen(kw_only=True)
class Section:
    """One section of the page: a title, a sentence, an optional plot, tables and notes.

    Other parts of carecore (or plugins) add sections by appending to
    :attr:`PracticeView.sections`; the template shows them in order.
    """

    key: str
    title: str
    intro: str = ""
    plot: str | None = None
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


@frozen(kw_only=True)
class PracticeView:
    """What the page shows, as text, and the series its plots draw."""

    title: str
    #: The period the cards describe: the last month (or quarter) of the report's period.
    headline: ServicePeriod
    #: The period before it, of the same length, the cards compare with.
    previous: ServicePeriod
    #: The last month of the report's period (the funnel and the minutes per patient).
    month: ServicePeriod
    cards: tuple[Card, ...]
    funnel: tuple[Step, ...]
    sections: tuple[Section, ...]
    revenue_by_month: dict[str, dict[str, Decimal]]
    minutes: tuple[int, ...]
    staff_minutes: tuple[tuple[str, int, int], ...]
    #: Where the units of the family's first time code start, in minutes (the rule set's
    #: :func:`~carecore.billing.primitives.unit_thresholds`; CCM: 20, 40 and 60). The
    #: minutes plot marks them; a family without time codes has none.
    thresholds: tuple[int, ...] = ()


def last_month(period: ServicePeriod) -> ServicePeriod:
    """The last calendar month of *period* (the month the cards and funnel describe)."""
    return ServicePeriod.month(period.end.year, period.end.month)


#: What the headline cards can describe.
HEADLINES = ("month", "quarter")


def last_quarter(period: ServicePeriod) -> ServicePeriod:
    """The calendar quarter *period* ends in.

    >>> str(last_quarter(ServicePeriod.month(2026, 8)))
    '2026-07-01..2026-09-30'
    """
    first = (period.end.month - 1) // 3 * 3 + 1
    start = period.end.replace(month=first, day=1)
    return ServicePeriod(start=start, end=start.add(months=3).subtract(days=1))


def _months_in(period: ServicePeriod) -> int:
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1


def _previous(period: ServicePeriod) -> ServicePeriod:
    n = _months_in(period)
    start = period.start.subtract(months=n)
    return ServicePeriod(start=start, end=period.start.subtract(days=1))


def _points(now: Decimal | None, then: Decimal | None) -> str:
    if now is None or then is None:
        return "no earlier figure to compare"
    diff = ((now - then) * 100).quantize(Decimal("0.1"))
    sign = "+" if diff > 0 else ""
    return f"{sign}{diff} points"


def _delta(now: Decimal | None, then: Decimal | None, fmt: str) -> str:
    if now is None or then is None:
        return "no earlier figure to compare"
    diff = (now - then).quantize(Decimal("0.1"))
    sign = "+" if diff > 0 else "-" if diff < 0 else "±"
    text = money(abs(diff)) if fmt == "money" else count(abs(diff))
    if then:
        text += f" ({sign}{percent(abs(diff) / then)})"
    return f"{sign}{text}"


def _card_measures(
    data: ProgramData, report: ProgramReport, month: ServicePeriod
) -> tuple[tuple[Measure, ...], tuple[tuple[Decimal, int, int], ...]]:
    """The cards' measures over *month* and the period before, and the revenue's parts."""
    family = report.family
    before = _previous(month)
    measures = tuple(
        m
        for p in (month, before)
        for m in (
            billable_rate(data.claim_lines, data.enrollments, period=p, family=family),
            enrolled_patients(data.enrollments, period=p, family=family),
            minutes_per_patient_month(data.time_entries, data.enrollments, period=p, family=family),
        )
    )
    revenue = tuple(
        _revenue_parts(data.claim_lines, period=p, family=family) for p in (month, before)
    )
    return measures, revenue


def _cards(
    report: ProgramReport,
    month: ServicePeriod,
    measures: tuple[Measure, ...],
    revenue: tuple[tuple[Decimal, int, int], ...],
) -> tuple[Card, ...]:
    """The cards over *month* (a month or a quarter) against the period before."""
    family = report.family
    before = _previous(month)
    since = f"from {month_name(before)}"
    b, e, m, b0, e0, m0 = measures
    r, r0 = (
        _revenue_measure(*parts, period=p, family=family)
        for parts, p in zip(revenue, (month, before), strict=True)
    )
    return (
        Card(
            label="Billable rate",
            value=percent(b.value),
            detail=f"{count(b.numerator)} of {count(b.denominator)} enrolled patient-months billed",
            change=f"{_points(b.value, b0.value)} {since}",
        ),
        Card(
            label="Revenue (approximate)",
            value=money(r.value),
            detail=f"{family.value} claim lines at national non-facility fees",
            change=f"{_delta(r.value, r0.value, 'money')} {since}",
        ),
        Card(
            label="Enrolled patients",
            value=count(e.value),
            detail=f"in {family.value} on {month.end}",
            change=f"{_delta(e.value, e0.value, 'count')} {since}",
        ),
        Card(
            label="Minutes per patient-month",
            value="n/a" if m.value is None else f"{m.value.quantize(Decimal('0.1'))}",
            detail=f"{count(m.numerator)} clinical minutes, {count(m.denominator)} patient-months",
            change=f"{_delta(m.value, m0.value, 'count')} {since}",
        ),
    )


#: The funnel's stage names as the page shows them.
_STEP_LABELS = {
    "identified": "Identified",
    "eligible": "Eligible",
    "outreached": "Outreached",
    "consented": "Consented",
    "enrolled": "Enrolled",
    "billed": "Billed",
}


def _funnel_counts(
    data: ProgramData, report: ProgramReport, month: ServicePeriod
) -> tuple[tuple[str, int, str], ...]:
    """The metrics' funnel (:func:`~carecore.metrics.enrollment_funnel`): name, count, definition."""
    stages = enrollment_funnel(
        report.eligibility,
        data.enrollments,
        data.consents,
        data.claim_lines,
        family=report.family,
        month=month,
    )
    return tuple((stage.name, stage.count, stage.definition) for stage in stages)


def _funnel(stages: tuple[tuple[str, int, str], ...]) -> tuple[Step, ...]:
    """The funnel in words and shares."""
    first = stages[0][1]
    return tuple(
        Step(
            label=_STEP_LABELS[name],
            count=n,
            share=percent(Decimal(n) / first) if first else "n/a",
            definition=definition,
        )
        for name, n, definition in stages
    )


def _revenue_amounts(data: ProgramData, report: ProgramReport) -> _Revenue:
    """Each month's revenue per code and in all (the codes of lines in the period)."""
    family = report.family
    lines = [line for line in data.claim_lines if line.family is family]
    codes = frozenset(line.code for line in lines if closed_with(line.period, report.period))
    by_month: dict[str, dict[str, Decimal]] = {}
    totals: dict[str, Decimal] = {}
    for start in _months(report.period):
        month = ServicePeriod.month(start.year, start.month)
        key = month_key(start)
        by_month[key] = {
            code: expected_revenue(
                [x for x in lines if x.code == code], period=month, family=family
            ).numerator
            for code in sorted(codes)
        }
        totals[key] = expected_revenue(lines, period=month, family=family).numerator
    return _Revenue(codes=codes, by_month=by_month, totals=totals)


def _revenue(
    report: ProgramReport, amounts: _Revenue
) -> tuple[dict[str, dict[str, Decimal]], Table]:
    codes = sorted(amounts.codes)
    zero = expected_revenue([], period=report.period, family=report.family).numerator
    by_month: dict[str, dict[str, Decimal]] = {}
    rows = []
    for key, found in amounts.by_month.items():
        by_month[key] = {code: found.get(code, zero) for code in codes}
        rows.append((key, *(money(by_month[key][c]) for c in codes), money(amounts.totals[key])))
    table = Table(
        name="revenue_by_month",
        title="Revenue by month and code",
        columns=("month", *codes, "total"),
        rows=tuple(rows),
    )
    return by_month, table


def _months(period: ServicePeriod) -> list[pendulum.Date]:
    out = []
    day = period.start.start_of("month")
    while day <= period.end:
        out.append(day)
        day = day.add(months=1)
    return out


def _close_rules(report: ProgramReport, month: ServicePeriod) -> RuleSet | None:
    """The rule set the close of *month* priced its lines with (None: carecore has none).

    The report's own rule set (the one it was made under) for a month of its
    year; otherwise what a close of the month uses when given none
    (:func:`carecore.billing.cms.close_rule_set`).
    """
    if report.rules is not None and report.rules.year == month.start.year:
        return report.rules
    try:
        return close_rule_set(month)
    except errors.NotFound:
        return None


def _denial_groups(data: ProgramData, report: ProgramReport) -> dict[str, _Denied]:
    """The period's denials of the family per reason: counts, the amount at stake, the rule."""
    groups: dict[str, list[tuple[str, Decimal | None]]] = defaultdict(list)
    first: dict[str, tuple[tuple[str, ...], str]] = {}
    rule_sets: dict[tuple[int, int], RuleSet | None] = {}
    for d in data.denials:
        if d.family is not report.family or not closed_with(d.period, report.period):
            continue
        # The month whose close refused the code, and the rule set that close priced with.
        key = (d.period.start.year, d.period.start.month)
        if key not in rule_sets:
            rule_sets[key] = _close_rules(report, ServicePeriod.month(*key))
        rules = rule_sets[key]
        amount = None if rules is None else line_amount(rules.by_code.get(d.code))
        reason = d.reason.value
        groups[reason].append((d.patient_id, amount))
        # The store's key of the first denial of the reason (the store lists them in key order).
        first.setdefault(
            reason, ((d.patient_id, str(d.period.start), d.code, reason, d.rule), d.rule)
        )
    return {
        reason: _Denied(
            codes=len(items),
            patients=len({pid for pid, _ in items}),
            unpriced=sum(1 for _, a in items if a is None),
            at_stake=sum((a for _, a in items if a is not None), Decimal(0)),
            priced=any(a is not None for _, a in items),
            first=first[reason][0],
            rule=first[reason][1],
        )
        for reason, items in groups.items()
    }


def _denials(groups: dict[str, _Denied]) -> Section:
    # Most at stake first; a tie in the order the store lists the denials.
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].at_stake, kv[1].first))
    rows = tuple(
        (
            reason.replace("_", " "),
            g.rule,
            count(g.codes),
            count(g.patients),
            count(g.unpriced),
            money(g.at_stake) if g.priced else NO_LISTED_FEE,
        )
        for reason, g in ordered
    )
    return Section(
        key="denials",
        title="Denials: revenue still to recover",
        intro="Codes the billing engine did not bill in the period, grouped by reason. The "
        "amount at stake is what the month's close would have charged for each code not "
        "billed (one unit at its rule set's approximate national non-facility fee); codes "
        "with no listed fee are counted as unpriced and left out of the amount, never "
        "counted as $0.",
        tables=(
            Table(
                name="denials_by_reason",
                title="Denials by reason",
                columns=(
                    "reason",
                    "rule",
                    "codes not billed",
                    "patients",
                    "unpriced",
                    "at stake",
                ),
                rows=rows,
            ),
        ),
        notes=() if rows else ("No denials in the period.",),
    )


def _patient_minutes(
    data: ProgramData, report: ProgramReport, month: ServicePeriod
) -> tuple[tuple[str, int], ...]:
    """Each patient enrolled in *month*: their clinical minutes in it, in patient-id order."""
    family = report.family
    entries: dict[str, list[TimeEntry]] = defaultdict(list)
    for t in data.time_entries:
        entries[t.patient_id].append(t)
    enrollments: dict[str, list[Enrollment]] = defaultdict(list)
    for en in data.enrollments:
        enrollments[en.patient_id].append(en)
    patients = sorted(
        {pid for pid, _ in enrolled_months(data.enrollments, period=month, family=family)}
    )
    return tuple(
        (
            pid,
            int(
                minutes_per_patient_month(
                    entries[pid], enrollments[pid], period=month, family=family
                ).numerator
            ),
        )
        for pid in patients
    )


def _thresholds(report: ProgramReport) -> tuple[int, ...]:
    """The rule set's thresholds of the family's first time code (none without a rule set)."""
    base = BASE_CODE.get(report.family)
    if report.rules is None or base is None:
        return ()
    return unit_thresholds(report.rules, base)


def _minutes(
    report: ProgramReport,
    month: ServicePeriod,
    thresholds: tuple[int, ...],
) -> Section:
    family, day = report.family, report.as_of
    near: dict[str, int] = defaultdict(int)
    for p in report.minutes_progress:
        if p.family is family and p.next_code is not None and p.minutes_needed <= NEAR_MINUTES:
            near[p.next_code] += 1
    rows = tuple((code, f"{NEAR_MINUTES} or fewer", count(near[code])) for code in sorted(near))
    marks = ", ".join(f"{t}" for t in thresholds)
    lines = (
        f"The lines mark {marks} minutes, where the units of {BASE_CODE[family]} start. "
        if thresholds
        else ""
    )
    return Section(
        key="minutes",
        title=f"Minutes per patient, {month_name(month)}",
        intro="Clinical minutes logged for each enrolled patient in the month. "
        + lines
        + f"The table counts the patients the billing engine finds {NEAR_MINUTES} minutes or "
        f"fewer from their next {family.value} code on {day} (the worklist's minutes items): "
        "a call away from it.",
        plot="minutes_distribution.png",
        tables=(
            Table(
                name="near_threshold",
                title=f"Patients near their next code on {day}",
                columns=("next code", "minutes still needed", "patients"),
                rows=rows,
            ),
        ),
        notes=()
        if rows
        else (f"No patient is {NEAR_MINUTES} minutes or fewer from a {family.value} code.",),
    )


def worklist_counts(worklists: Iterable[Worklist], day: pendulum.Date) -> dict[str, list[int]]:
    """Per owner: open items, overdue, due on *day*, due within 7 days after, caseload.

    The counts of disjoint partitions add up (owner by owner) to the whole practice's.
    """
    counts: dict[str, list[int]] = {}
    for w in worklists:
        mine = counts.setdefault(w.owner, [0, 0, 0, 0, 0])
        mine[0] += len(w.items)
        mine[1] += sum(1 for i in w.items if i.due < day)
        mine[2] += sum(1 for i in w.items if i.due == day)
        mine[3] += sum(1 for i in w.items if 0 < (i.due - day).days <= 7)  # noqa: PLR2004
        mine[4] += w.caseload
    return counts


def _worklists(report: ProgramReport, counts: Mapping[str, Sequence[int]] | None = None) -> Section:
    day = report.as_of
    if counts is None:
        counts = worklist_counts(report.worklists, day)
    rows = tuple(
        (owner, count(n), count(overdue), count(today), count(week))
        for owner, (n, overdue, today, week, _) in sorted(counts.items())
    )
    return Section(
        key="worklists",
        title=f"Worklists on {day}",
        intro="Open items per care-team member; each list, item by item, is on its own page.",
        tables=(
            Table(
                name="worklist_summary",
                title="Items per owner",
                columns=("owner", "items", "overdue", "due today", "due within 7 days"),
                rows=rows,
            ),
        ),
        links=(("Every worklist, overdue first", "worklist.html"),),
    )


#: The TCM timeliness rows: the step, and the episode's deadline and done-on fields.
_TCM_STEPS = (
    ("Contact within 2 business days", "contact_due", "contact_made_on"),
    ("Visit within 7 days", "visit_due_7", "visit_on"),
    ("Visit within 14 days", "visit_due", "visit_on"),
)


def _tcm_counts(
    data: ProgramData, report: ProgramReport
) -> tuple[int, tuple[tuple[int, ...], ...]]:
    """Qualifying discharges in the period; per step, those on time, late and still open."""
    day = report.as_of
    episodes = [e for e in data.episodes if e.qualifies and e.discharge_date in report.period]

    def share(due: str, done: str) -> tuple[int, int, int]:
        timely = late = pending = 0
        for e in episodes:
            deadline, on = getattr(e, due), getattr(e, done)
            if deadline is None:
                continue
            if on is not None and on <= deadline:
                timely += 1
            elif on is None and deadline >= day:
                pending += 1
            else:
                late += 1
        return timely, late, pending

    return len(episodes), tuple(share(due, done) for _, due, done in _TCM_STEPS)


def _tcm(counts: tuple[int, tuple[tuple[int, ...], ...]]) -> Section:
    discharges, steps = counts

    def share(name: str, timely: int, late: int, pending: int) -> tuple[str, str, str, str]:
        total = timely + late
        return (
            name,
            percent(Decimal(timely) / total) if total else "n/a",
            f"{timely} of {total}",
            count(pending),
        )

    rows = tuple(share(name, *step) for (name, _, _), step in zip(_TCM_STEPS, steps, strict=True))
    return Section(
        key="tcm",
        title="Transitions of care: timeliness",
        intro=f"Qualifying discharges in the period: {discharges}. Deadlines are the "
        "transitions module's (business days in the practice's calendar); discharges whose "
        "deadline has not passed are counted apart as still open.",
        tables=(
            Table(
                name="tcm_timeliness",
                title="TCM timeliness",
                columns=("step", "on time", "discharges", "still open"),
                rows=rows,
            ),
        ),
    )


def _staff_counts(data: ProgramData, report: ProgramReport) -> dict[str, tuple[int, int, str]]:
    """Per person who logged the family's minutes in the period: minutes, patients, first entry."""
    minutes: dict[str, int] = defaultdict(int)
    patients: dict[str, set[str]] = defaultdict(set)
    first: dict[str, str] = {}
    for t in data.time_entries:
        if t.family is report.family and t.service_date in report.period:
            minutes[t.performer_id] += t.minutes
            patients[t.performer_id].add(t.patient_id)
            first.setdefault(t.performer_id, t.id)  # the store lists the entries by id
    return {k: (minutes[k], len(patients[k]), first[k]) for k in minutes}


def _staff(
    report: ProgramReport, names: dict[str, str], counts: dict[str, tuple[int, int, str]]
) -> tuple[tuple[tuple[str, int, int], ...], Section]:
    # Most minutes first; a tie in the order of each one's first entry.
    ordered = sorted(counts, key=lambda k: (-counts[k][0], counts[k][2]))
    staff = tuple((names.get(k, k), counts[k][0], counts[k][1]) for k in ordered)
    return staff, Section(
        key="staff",
        title="Minutes and patients per staff member",
        intro=f"Every {report.family.value} minute logged in the period, by the person who "
        "logged it (non-clinical time included).",
        plot="staff.png" if staff else None,
        tables=(
            Table(
                name="staff_minutes",
                title="Minutes per staff member",
                columns=("staff member", "minutes", "patients"),
                rows=tuple((n, count(m), count(p)) for n, m, p in staff),
            ),
        ),
    )


def _events(m: Measure) -> str:
    if m.unit.startswith("per 1,000"):
        return f"{count(m.numerator)} events"
    if m.denominator is None:
        return count(m.numerator)
    if m.unit == "ratio":
        return f"{count(m.numerator)} of {count(m.denominator)}"
    return f"{count(m.numerator)} / {count(m.denominator)}"


def _years(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.quantize(Decimal('0.1')):,}"


def _with_counts(m: Measure) -> str:
    return f"{measure_value(m)} ({_events(m)})"


def _utilisation(report: ProgramReport) -> Section:
    names = ("ed_visits_per_1000", "admissions_per_1000", "readmission_rate_30d")
    measures = [m for m in report.measures if m.name in names]
    rows = tuple(
        (
            label(m.name),
            measure_value(m),
            _events(m),
            "" if m.unit == "ratio" else f"{_years(m.denominator)} member-years",
        )
        for m in measures
    )
    small = [label(m.name) for m in measures if m.numerator < SMALL_NUMBERS]
    caution = (
        f"Small numbers: {', '.join(small)} rest on fewer than {SMALL_NUMBERS} events; "
        "one event more or less moves the rate a lot, so read the counts, not the rate."
    )
    notes = (caution,) if small else ()
    comparisons = tuple(
        (label(c.name), _with_counts(c.before), _with_counts(c.after)) for c in report.comparisons
    )
    tables = [
        Table(
            name="utilisation",
            title="Rates and the counts behind them",
            columns=("measure", "value", "events", "exposure"),
            rows=rows,
        )
    ]
    if comparisons:
        first = report.comparisons[0]
        tables.append(
            Table(
                name="before_after_counts",
                title=f"Before and after {first.intervention}",
                columns=(
                    "measure",
                    f"before ({first.before.period})",
                    f"after ({first.after.period})",
                ),
                rows=comparisons,
            )
        )
    return Section(
        key="utilisation",
        title="Hospital use",
        intro="ED visits and admissions of enrolled patients per 1,000 member-years, and "
        "readmissions within 30 days of a discharge.",
        plot="utilization.png",
        tables=tuple(tables),
        notes=notes,
    )


def _outcomes(report: ProgramReport) -> Section:
    names = ("goal_attainment", "a1c_change")
    rows = tuple(
        (label(m.name), measure_value(m), f"{count(m.numerator)} / {count(m.denominator)}")
        for m in report.measures
        if m.name in names
    )
    return Section(
        key="outcomes",
        title="Goals and A1c",
        intro="Care-plan goals met, and the change in A1c of enrolled patients with two "
        "results at least 90 days apart in the last 12 months (negative is better).",
        plot="a1c.png",
        tables=(
            Table(
                name="outcomes",
                title="Goal and A1c measures",
                columns=("measure", "value", "numerator / denominator"),
                rows=rows,
            ),
        ),
    )


def practice_view(report: ProgramReport, *, headline: str = "month") -> PracticeView:
    """The practice manager's view of *report*, from the snapshot it was computed from.

    The cards describe the last calendar month of the report's period
    (*headline* ``"quarter"``: the calendar quarter it ends in), compared
    with the period of the same length before; the funnel and the minutes
    per patient describe the last month; the sections cover the whole period.

    :raises carecore.errors.InvalidValue: the report carries no snapshot
        (it was not made by :func:`carecore.metrics.program_report`).
    """
    data = report.data
    if data is None:
        raise errors.InvalidValue(
            "carries no ProgramData; make it with carecore.metrics.program_report",
            field="report",
            value=str(report.period),
        )
    return view_of_parts(report, (view_part(data, report, headline=headline),), headline=headline)


def _check_headline(headline: str) -> None:
    if headline not in HEADLINES:
        raise errors.InvalidValue("must be month or quarter", field="headline", value=headline)


@frozen(kw_only=True)
class _Revenue:
    codes: frozenset[str]
    by_month: dict[str, dict[str, Decimal]]
    totals: dict[str, Decimal]


@frozen(kw_only=True)
class _Denied:
    codes: int
    patients: int
    unpriced: int
    at_stake: Decimal
    priced: bool
    first: tuple[str, ...]
    rule: str


@frozen(kw_only=True)
class ViewPart:
    """What one partition of the patients adds to the practice view: counts and sums.

    :func:`view_part` makes it from the partition's records and report;
    :func:`view_of_parts` adds the parts up (see each field) and words the
    page. Every figure on the page is a sum over patients, except the
    orders of ties (staff with the same minutes, denial reasons with the
    same amount), which follow the first record in the store's key order.
    """

    #: Billable rate, enrolled patients, minutes per patient-month: the headline period, then the one before.
    card_measures: tuple[Measure, ...]
    #: Expected revenue's parts (amount, lines, lines with no fee) over the same two periods.
    card_revenue: tuple[tuple[Decimal, int, int], ...]
    #: The funnel's stages: name, patients, definition.
    funnel: tuple[tuple[str, int, str], ...]
    revenue: _Revenue
    denials: dict[str, _Denied]
    #: Each enrolled patient's minutes in the last month, in patient-id order.
    minutes: tuple[tuple[str, int], ...]
    #: Qualifying discharges; per TCM step, on time, late and still open.
    tcm: tuple[int, tuple[tuple[int, ...], ...]]
    #: Per staff member: minutes, patients and the id of their first time entry.
    staff: dict[str, tuple[int, int, str]]


def view_part(data: ProgramData, report: ProgramReport, *, headline: str = "month") -> ViewPart:
    """The practice view's counts and sums over *data* (one partition of the patients, or all).

    *report* is :func:`carecore.metrics.program_report` of the same records.
    """
    _check_headline(headline)
    month = last_month(report.period)
    head = month if headline == "month" else last_quarter(report.period)
    measures, revenue = _card_measures(data, report, head)
    return ViewPart(
        card_measures=measures,
        card_revenue=revenue,
        funnel=_funnel_counts(data, report, month),
        revenue=_revenue_amounts(data, report),
        denials=_denial_groups(data, report),
        minutes=_patient_minutes(data, report, month),
        tcm=_tcm_counts(data, report),
        staff=_staff_counts(data, report),
    )


def _add(parts: Sequence[ViewPart]) -> ViewPart:
    """The view parts of disjoint partitions added up."""
    from carecore.metrics._parts import combine_measures  # noqa: PLC0415

    first = parts[0]
    if len(parts) == 1:
        return first
    codes = frozenset().union(*(p.revenue.codes for p in parts))
    by_month: dict[str, dict[str, Decimal]] = {}
    totals: dict[str, Decimal] = {}
    for key in first.revenue.by_month:
        amounts: dict[str, Decimal] = {}
        for part in parts:
            for code, amount in part.revenue.by_month[key].items():
                amounts[code] = amounts[code] + amount if code in amounts else amount
        by_month[key] = amounts
        totals[key] = sum((p.revenue.totals[key] for p in parts[1:]), first.revenue.totals[key])
    denials: dict[str, _Denied] = {}
    for part in parts:
        for reason, g in part.denials.items():
            was = denials.get(reason)
            if was is None:
                denials[reason] = g
                continue
            earlier = was if was.first <= g.first else g
            denials[reason] = _Denied(
                codes=was.codes + g.codes,
                patients=was.patients + g.patients,  # a patient is in one partition
                unpriced=was.unpriced + g.unpriced,
                at_stake=was.at_stake + g.at_stake,
                priced=was.priced or g.priced,
                first=earlier.first,
                rule=earlier.rule,
            )
    staff: dict[str, tuple[int, int, str]] = {}
    for part in parts:
        for who, (minutes, patients, entry) in part.staff.items():
            m0, p0, e0 = staff.get(who, (0, 0, entry))
            staff[who] = (m0 + minutes, p0 + patients, min(e0, entry))
    identified = [p for p in parts if p.funnel[0][1]] or [first]
    return ViewPart(
        card_measures=tuple(
            combine_measures([p.card_measures[n] for p in parts])
            for n in range(len(first.card_measures))
        ),
        card_revenue=tuple(
            (
                sum((p.card_revenue[n][0] for p in parts[1:]), first.card_revenue[n][0]),
                sum(p.card_revenue[n][1] for p in parts),
                sum(p.card_revenue[n][2] for p in parts),
            )
            for n in range(len(first.card_revenue))
        ),
        funnel=tuple(
            (name, sum(p.funnel[n][1] for p in parts), identified[0].funnel[n][2])
            for n, (name, _, _) in enumerate(first.funnel)
        ),
        revenue=_Revenue(codes=codes, by_month=by_month, totals=totals),
        denials=denials,
        minutes=tuple(heapq.merge(*(p.minutes for p in parts))),
        tcm=(
            sum(p.tcm[0] for p in parts),
            tuple(
                tuple(sum(p.tcm[1][n][k] for p in parts) for k in range(3))
                for n in range(len(first.tcm[1]))
            ),
        ),
        staff=staff,
    )


def view_of_parts(
    report: ProgramReport,
    parts: Sequence[ViewPart],
    *,
    headline: str = "month",
    practitioners: Iterable[Practitioner] | None = None,
    owners: Mapping[str, Sequence[int]] | None = None,
) -> PracticeView:
    """The practice manager's view of *report* from the :func:`view_part` of each partition.

    *report* is the whole practice's (for a store read in partitions,
    :func:`carecore.metrics.combine_reports` of the partitions' reports);
    *practitioners* name the staff (default: the report's snapshot's);
    *owners* are the worklists' counts per owner (:func:`worklist_counts`,
    added up over the partitions) when the report's worklists carry no items
    (they were written to disk).
    """
    _check_headline(headline)
    if not parts:
        raise errors.InvalidValue("needs at least one part", field="parts", value=parts)
    part = _add(parts)
    staff_names = (
        practitioners
        if practitioners is not None
        else (() if report.data is None else report.data.practitioners)
    )
    month = last_month(report.period)
    head = month if headline == "month" else last_quarter(report.period)
    revenue_by_month, revenue_table = _revenue(report, part.revenue)
    thresholds = _thresholds(report)
    staff, staff_section = _staff(report, {p.id: p.name for p in staff_names}, part.staff)
    sections = (
        Section(
            key="revenue",
            title="Revenue by month and code",
            intro="The approximate amount of the claim lines the month close produced, at "
            "national non-facility fees (lines with no listed fee are left out).",
            plot="revenue.png",
            tables=(revenue_table,),
        ),
        _denials(part.denials),
        _minutes(report, month, thresholds),
        _worklists(report, owners),
        _tcm(part.tcm),
        staff_section,
        _utilisation(report),
        _outcomes(report),
    )
    return PracticeView(
        title=f"{report.family.value} program, {month_name(head)}",
        headline=head,
        previous=_previous(head),
        month=month,
        cards=_cards(report, head, part.card_measures, part.card_revenue),
        funnel=_funnel(part.funnel),
        sections=sections,
        revenue_by_month=revenue_by_month,
        minutes=tuple(n for _, n in part.minutes),
        staff_minutes=staff,
        thresholds=thresholds,
    )
