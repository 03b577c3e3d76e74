"""The program measures: enrollment, churn, minutes, billing, use of the hospital, outcomes, PMPM."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import pendulum
from attrs import frozen

from carecore import errors
from carecore.billing.fees import revenue
from carecore.billing.primitives import closed_with
from carecore.metrics._measure import Measure, enrolled_months, month_key, months_of
from carecore.model import (
    CareSetting,
    EnrollmentStatus,
    EpisodeStatus,
    GoalAchievement,
    GoalLifecycle,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
)
from carecore.model.validators import check_date
from carecore.risk import EncounterKind, encounters

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from carecore.model import (
        AdtEvent,
        CarePlan,
        ClaimLine,
        Enrollment,
        Observation,
        TimeEntry,
        TransitionEpisode,
    )
    from carecore.registry import Eligibility

__all__ = [
    "A1C_LOINC",
    "A1cChange",
    "PatientCost",
    "PmpmRow",
    "a1c_change",
    "a1c_changes",
    "admissions_per_1000",
    "billable_rate",
    "churn",
    "ed_visits_per_1000",
    "enrolled_patients",
    "enrollment_rate",
    "expected_revenue",
    "goal_attainment",
    "minutes_per_patient_month",
    "parse_costs",
    "parse_expected_pmpm",
    "pmpm_by_quarter",
    "quarter_of",
    "readmission_rate",
]

#: LOINC 4548-4, Hemoglobin A1c/Hemoglobin.total in Blood.
A1C_LOINC = "4548-4"
_A1C_NAME = re.compile(r"\b(hb)?a1c\b", re.IGNORECASE)
_A1C_MIN_DAYS = 90  # an A1c reflects about three months of glucose
_QUARTER = re.compile(r"([0-9]{4})-?Q([1-4])")
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_INDEX_SETTINGS = frozenset({CareSetting.INPATIENT_ACUTE})
_CENT = Decimal("0.01")


def _period(value: object) -> ServicePeriod:
    if not isinstance(value, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=value)
    return value


def _family(value: object) -> ServiceFamily:
    if not isinstance(value, ServiceFamily):
        raise errors.InvalidValue("must be a ServiceFamily", field="family", value=value)
    return value


def _dec(n: float) -> Decimal:
    return Decimal(n)


# -- enrollment ------------------------------------------------------------------------


def enrollment_rate(
    eligibility: Iterable[Eligibility],
    enrollments: Iterable[Enrollment],
    *,
    family: ServiceFamily,
    on: pendulum.Date,
) -> Measure:
    """Of the patients eligible for *family* on *on*, the share enrolled in it that day.

    >>> from carecore.model import ServiceFamily
    >>> enrollment_rate([], [], family=ServiceFamily.CCM, on=pendulum.Date(2026, 3, 31)).value is None
    True
    """
    fam = _family(family)
    day = check_date(on, "on")
    eligible = {e.patient_id for e in eligibility if e.family is fam and e.eligible}
    enrolled = {
        e.patient_id
        for e in enrollments
        if e.family is fam and e.status_on(day) is EnrollmentStatus.ENROLLED
    }
    return Measure(
        name="enrollment_rate",
        numerator=_dec(len(eligible & enrolled)),
        denominator=_dec(len(eligible)),
        unit="ratio",
        period=ServicePeriod(start=day, end=day),
        definition=f"patients eligible for {fam.value} on {day} who are enrolled that day, "
        "over the patients eligible",
    )


def enrolled_patients(
    enrollments: Iterable[Enrollment], *, period: ServicePeriod, family: ServiceFamily
) -> Measure:
    """How many patients are enrolled in *family* on the last day of *period*.

    >>> from carecore.model import ServiceFamily
    >>> enrolled_patients([], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM).value
    Decimal('0')
    """
    p, fam = _period(period), _family(family)
    count = len(
        {
            e.patient_id
            for e in enrollments
            if e.family is fam and e.status_on(p.end) is EnrollmentStatus.ENROLLED
        }
    )
    return Measure(
        name="enrolled_patients",
        numerator=_dec(count),
        denominator=None,
        unit="patients",
        period=p,
        definition=f"patients enrolled in {fam.value} on {p.end}",
    )


def churn(
    enrollments: Iterable[Enrollment], *, period: ServicePeriod, family: ServiceFamily
) -> Measure:
    """Of the enrollments at risk in *period*, the share that ended (disenrolled) in it.

    At risk: enrolled (or paused) on the first day, or enrolled during the period.

    >>> from carecore.model import DisenrollmentReason, Enrollment, ServiceFamily
    >>> e = Enrollment.start(id="e1", patient_id="p1", program_id="ccm", family=ServiceFamily.CCM,
    ...     billing_practitioner_id="dr1", on=pendulum.Date(2026, 1, 5))
    >>> gone = e.disenroll(pendulum.Date(2026, 3, 9), DisenrollmentReason.MOVED)
    >>> churn([gone], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM).value
    Decimal('1.0000')
    """
    p, fam = _period(period), _family(family)
    at_risk = ended = 0
    for e in enrollments:
        if e.family is not fam:
            continue
        start_status = e.status_on(p.start)
        joined = any(
            c.status is EnrollmentStatus.ENROLLED and p.start < c.on <= p.end for c in e.history
        )
        if start_status not in {EnrollmentStatus.ENROLLED, EnrollmentStatus.PAUSED} and not joined:
            continue
        at_risk += 1
        if any(
            c.status is EnrollmentStatus.DISENROLLED and p.start <= c.on <= p.end for c in e.history
        ):
            ended += 1
    return Measure(
        name="churn",
        numerator=_dec(ended),
        denominator=_dec(at_risk),
        unit="ratio",
        period=p,
        definition=f"{fam.value} enrollments disenrolled in the period, over the enrollments "
        "enrolled (or paused) on its first day or enrolled during it",
    )


# -- minutes and billing ---------------------------------------------------------------


def minutes_per_patient_month(
    time_entries: Iterable[TimeEntry],
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
) -> Measure:
    """Minutes of *family* logged per enrolled patient-month in *period*: a measure of effort.

    Every minute not logged as non-clinical is included (clinical staff,
    practitioners, auxiliary personnel such as community health workers);
    only minutes inside an enrolled patient-month count. This is not what
    the billing engine counts toward a code: that is the worklist's
    ``minutes-to-threshold`` advice and the month close.

    >>> from carecore.model import ServiceFamily
    >>> minutes_per_patient_month([], [], period=ServicePeriod.month(2026, 3),
    ...     family=ServiceFamily.CCM).value is None
    True
    """
    p, fam = _period(period), _family(family)
    months = enrolled_months(enrollments, period=p, family=fam)
    minutes = sum(
        t.minutes
        for t in time_entries
        if t.family is fam
        and t.role_class is not RoleClass.NON_CLINICAL
        and t.service_date in p
        and (t.patient_id, month_key(t.service_date)) in months
    )
    return Measure(
        name="minutes_per_patient_month",
        numerator=_dec(minutes),
        denominator=_dec(len(months)),
        unit="minutes",
        period=p,
        definition=f"{fam.value} minutes logged by anyone but non-clinical staff (clinical staff, "
        "practitioners, auxiliary personnel) in enrolled patient-months, over the enrolled "
        "patient-months; effort, not the minutes billing counts",
    )


def _line_month(line: ClaimLine) -> str:
    return month_key(line.period.start)


def billable_rate(
    claim_lines: Iterable[ClaimLine],
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
) -> Measure:
    """Of the enrolled patient-months of *family* in *period*, the share with a claim line of the family.

    A line belongs to the month its service period starts in.

    >>> from carecore.model import ServiceFamily
    >>> billable_rate([], [], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM).value is None
    True
    """
    p, fam = _period(period), _family(family)
    months = enrolled_months(enrollments, period=p, family=fam)
    billed = {(line.patient_id, _line_month(line)) for line in claim_lines if line.family is fam}
    return Measure(
        name="billable_rate",
        numerator=_dec(len(months & billed)),
        denominator=_dec(len(months)),
        unit="ratio",
        period=p,
        definition=f"enrolled {fam.value} patient-months with at least one {fam.value} claim "
        "line, over the enrolled patient-months",
    )


def expected_revenue(
    claim_lines: Iterable[ClaimLine], *, period: ServicePeriod, family: ServiceFamily | None = None
) -> Measure:
    """The sum of the amounts of the claim lines whose service period starts in *period*.

    Lines with no listed fee (no amount) are left out of the sum, never priced at $0;
    the definition says how many there were.

    >>> expected_revenue([], period=ServicePeriod.month(2026, 3)).value
    Decimal('0')
    """
    p = _period(period)
    fam = None if family is None else _family(family)
    return _revenue_measure(
        *_revenue_parts(claim_lines, period=p, family=fam), period=p, family=fam
    )


def _revenue_parts(
    claim_lines: Iterable[ClaimLine], *, period: ServicePeriod, family: ServiceFamily | None
) -> tuple[Decimal, int, int]:
    """What :func:`expected_revenue` is made of: the amount, the lines, the lines with no fee.

    Each is a sum over lines, so the parts of disjoint sets of patients add up.
    """
    lines = [
        line
        for line in claim_lines
        if closed_with(line.period, period) and (family is None or line.family is family)
    ]
    money = revenue(lines)
    return money.total, len(lines), money.unpriced_lines


def _revenue_measure(
    total: Decimal,
    lines: int,
    unpriced: int,
    *,
    period: ServicePeriod,
    family: ServiceFamily | None,
) -> Measure:
    """:func:`expected_revenue` from its parts (:func:`_revenue_parts`, added up)."""
    which = "all families" if family is None else family.value
    return Measure(
        name="expected_revenue",
        numerator=total,
        denominator=None,
        unit="USD",
        period=period,
        definition=f"sum of the approximate amounts of {lines} claim line(s) ({which}); "
        f"{unpriced} with no listed fee, not included",
    )


# -- hospital use ----------------------------------------------------------------------


def _per_1000(
    kind: EncounterKind,
    adt_events: Iterable[AdtEvent],
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
    time_zone: str,
) -> Measure:
    p, fam = _period(period), _family(family)
    months = enrolled_months(enrollments, period=p, family=fam)
    count = sum(
        1
        for e in encounters(adt_events, time_zone=time_zone)
        if e.kind is kind and e.on in p and (e.patient_id, month_key(e.on)) in months
    )
    what = "ED visits" if kind is EncounterKind.ED_VISIT else "inpatient admissions"
    return Measure(
        name="ed_visits_per_1000" if kind is EncounterKind.ED_VISIT else "admissions_per_1000",
        numerator=_dec(count),
        denominator=Decimal(len(months)) / 12,
        scale=1000,
        unit="per 1,000 member-years",
        period=p,
        definition=f"{what} starting in enrolled {fam.value} patient-months, per 1,000 "
        "member-years (enrolled patient-months / 12), as in HEDIS AHU/EDU",
    )


def ed_visits_per_1000(
    adt_events: Iterable[AdtEvent],
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
    time_zone: str,
) -> Measure:
    """ED visits (see :func:`carecore.risk.encounters`) per 1,000 enrolled member-years in *period*.

    >>> from carecore.model import ServiceFamily
    >>> ed_visits_per_1000([], [], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM,
    ...     time_zone="UTC").value is None
    True
    """
    return _per_1000(
        EncounterKind.ED_VISIT,
        adt_events,
        enrollments,
        period=period,
        family=family,
        time_zone=time_zone,
    )


def admissions_per_1000(
    adt_events: Iterable[AdtEvent],
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
    time_zone: str,
) -> Measure:
    """Inpatient admissions per 1,000 enrolled member-years in *period*.

    >>> from carecore.model import ServiceFamily
    >>> admissions_per_1000([], [], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM,
    ...     time_zone="UTC").numerator
    Decimal('0')
    """
    return _per_1000(
        EncounterKind.ADMISSION,
        adt_events,
        enrollments,
        period=period,
        family=family,
        time_zone=time_zone,
    )


def readmission_rate(
    episodes: Iterable[TransitionEpisode],
    *,
    period: ServicePeriod,
    time_zone: str | None = None,
    patient_ids: Iterable[str] | None = None,
    enrollments: Iterable[Enrollment] | None = None,
    family: ServiceFamily = ServiceFamily.CCM,
) -> Measure:
    """Of the index discharges in *period*, the share followed by an admission within 30 days.

    Index discharges: transition episodes from an acute inpatient hospital,
    not cancelled and not ending in death, whose discharge date is in the
    period: the episode's stored ``discharge_date``, the day its TCM
    deadlines and the close count from; readmitted: the episode's
    ``readmitted`` flag (an admission on days 1 to 30 after the discharge
    date, :func:`carecore.transitions.readmission_window`). Modelled on CMS's
    Plan All-Cause Readmissions, without its risk adjustment or exclusions.
    *patient_ids* restricts the population (None: everyone); with
    *enrollments*, only discharges in a patient-month enrolled in *family*
    count, the population of the per-1,000 measures.

    *time_zone* is deprecated and not used (each episode keeps its local
    discharge day); passing it warns (:class:`DeprecationWarning`), and it
    will be removed.

    >>> readmission_rate([], period=ServicePeriod.month(2026, 3)).value is None
    True
    """
    if time_zone is not None:
        warnings.warn(
            "readmission_rate(time_zone=) is not used (each episode keeps its discharge day) "
            "and will be removed",
            DeprecationWarning,
            stacklevel=2,
        )
    p = _period(period)
    only = None if patient_ids is None else set(patient_ids)
    months = (
        None
        if enrollments is None
        else enrolled_months(enrollments, period=p, family=_family(family))
    )
    index = [
        e
        for e in episodes
        if e.from_setting in _INDEX_SETTINGS
        and e.status is not EpisodeStatus.CANCELLED
        and e.to_setting is not CareSetting.EXPIRED
        and e.discharge_date in p
        and (only is None or e.patient_id in only)
        and (months is None or (e.patient_id, month_key(e.discharge_date)) in months)
    ]
    return Measure(
        name="readmission_rate_30d",
        numerator=_dec(sum(1 for e in index if e.readmitted)),
        denominator=_dec(len(index)),
        unit="ratio",
        period=p,
        definition="acute inpatient discharges in the period followed by an admission within "
        "30 days, over those discharges (PCR-like, unadjusted)",
    )


# -- outcomes --------------------------------------------------------------------------


def goal_attainment(care_plans: Iterable[CarePlan], *, period: ServicePeriod) -> Measure:
    """Of the measurable goals due in *period* (not cancelled), the share achieved or sustaining.

    Only the latest version of each plan counts.

    >>> goal_attainment([], period=ServicePeriod.month(2026, 3)).value is None
    True
    """
    p = _period(period)
    latest: dict[str, CarePlan] = {}
    for plan in care_plans:
        if plan.id not in latest or plan.version > latest[plan.id].version:
            latest[plan.id] = plan
    goals = [
        g
        for plan in latest.values()
        for g in plan.goals
        if g.target is not None and g.target.due in p and g.lifecycle is not GoalLifecycle.CANCELLED
    ]
    met = sum(
        1 for g in goals if g.achievement in {GoalAchievement.ACHIEVED, GoalAchievement.SUSTAINING}
    )
    return Measure(
        name="goal_attainment",
        numerator=_dec(met),
        denominator=_dec(len(goals)),
        unit="ratio",
        period=p,
        definition="goals with a target due in the period (not cancelled) that are achieved or "
        "sustaining, over those goals",
    )


@frozen(kw_only=True)
class A1cChange:
    """One patient's first and last A1c in a 12-month window, and the change."""

    patient_id: str
    first_on: pendulum.Date
    first: Decimal
    last_on: pendulum.Date
    last: Decimal

    @property
    def change(self) -> Decimal:
        """``last - first`` in percentage points (negative is better)."""
        return self.last - self.first


def _is_a1c(o: Observation) -> bool:
    return o.loinc == A1C_LOINC if o.loinc else bool(_A1C_NAME.search(o.measure))


def a1c_changes(
    observations: Iterable[Observation],
    *,
    as_of: pendulum.Date,
    months: int = 12,
    patient_ids: Iterable[str] | None = None,
) -> tuple[A1cChange, ...]:
    """Each patient's change from their first to their last A1c in the *months* to *as_of*.

    A1c: LOINC 4548-4, or (without a LOINC code) a measure named A1c. A
    patient counts with two results at least 90 days apart in the window.

    >>> a1c_changes([], as_of=pendulum.Date(2026, 3, 31))
    ()
    """
    day = check_date(as_of, "as_of")
    start = day.subtract(months=months)
    only = None if patient_ids is None else set(patient_ids)
    series: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        if _is_a1c(o) and start < o.on <= day and (only is None or o.patient_id in only):
            series[o.patient_id].append(o)
    out = []
    for pid in sorted(series):
        values = sorted(series[pid], key=lambda o: (o.on, o.id))
        first, last = values[0], values[-1]
        if (last.on - first.on).in_days() >= _A1C_MIN_DAYS:
            out.append(
                A1cChange(
                    patient_id=pid,
                    first_on=first.on,
                    first=first.value,
                    last_on=last.on,
                    last=last.value,
                )
            )
    return tuple(out)


def a1c_change(
    observations: Iterable[Observation],
    *,
    as_of: pendulum.Date,
    months: int = 12,
    patient_ids: Iterable[str] | None = None,
) -> Measure:
    """The mean change in A1c over the *months* to *as_of* (see :func:`a1c_changes`).

    >>> a1c_change([], as_of=pendulum.Date(2026, 3, 31)).value is None
    True
    """
    day = check_date(as_of, "as_of")
    changes = a1c_changes(observations, as_of=day, months=months, patient_ids=patient_ids)
    return Measure(
        name="a1c_change",
        numerator=sum((c.change for c in changes), Decimal(0)),
        denominator=_dec(len(changes)),
        unit="percentage points",
        period=ServicePeriod(start=day.subtract(months=months).add(days=1), end=day),
        definition=f"mean of (last - first) A1c over patients with two A1c results at least "
        f"{_A1C_MIN_DAYS} days apart in the {months} months to {day}",
    )


# -- PMPM ------------------------------------------------------------------------------


def quarter_of(day: pendulum.Date) -> str:
    """``YYYYQn`` of *day*.

    >>> quarter_of(pendulum.Date(2026, 5, 2))
    '2026Q2'
    """
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@frozen(kw_only=True)
class PatientCost:
    """A user-supplied cost for one patient-month (``month`` as ``YYYY-MM``)."""

    patient_id: str
    month: str
    amount: Decimal


@frozen(kw_only=True)
class PmpmRow:
    """One quarter's observed PMPM against the expected one."""

    quarter: str
    member_months: int
    observed_total: Decimal
    expected_pmpm: Decimal | None
    source: str

    @property
    def observed_pmpm(self) -> Decimal | None:
        """Observed total per member-month, to the cent (None without member-months)."""
        if self.member_months == 0:
            return None
        return (self.observed_total / self.member_months).quantize(_CENT)

    @property
    def difference(self) -> Decimal | None:
        """Observed minus expected PMPM (None when either is unknown)."""
        if self.observed_pmpm is None or self.expected_pmpm is None:
            return None
        return self.observed_pmpm - self.expected_pmpm


def _rows(text: str, columns: tuple[str, ...], what: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise errors.InvalidInput(
            what,
            problems=[
                errors.Problem(
                    path="header", message=f"needs the column {c!r}", value=reader.fieldnames
                )
                for c in missing
            ],
        )
    return [(n, row) for n, row in enumerate(reader, start=2)]


def _money(text: str | None) -> Decimal | None:
    try:
        value = Decimal((text or "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def parse_expected_pmpm(text: str) -> dict[str, Decimal]:
    r"""The expected PMPM per quarter from CSV text with columns ``quarter,expected_pmpm``.

    Quarters are written ``2026Q1`` (or ``2026-Q1``). Every bad row is
    reported at once in :class:`~carecore.errors.InvalidInput`.

    >>> parse_expected_pmpm("quarter,expected_pmpm\n2026Q1,45.50\n2026-Q2,47\n")
    {'2026Q1': Decimal('45.50'), '2026Q2': Decimal('47')}
    """
    out: dict[str, Decimal] = {}
    problems = []
    for line, row in _rows(text, ("quarter", "expected_pmpm"), "expected PMPM table"):
        match = _QUARTER.fullmatch((row["quarter"] or "").strip())
        amount = _money(row["expected_pmpm"])
        if match is None:
            problems.append(
                errors.Problem(
                    path=f"line {line}.quarter", message="write YYYYQn", value=row["quarter"]
                )
            )
        elif amount is None or amount < 0:
            problems.append(
                errors.Problem(
                    path=f"line {line}.expected_pmpm",
                    message="must be a non-negative amount",
                    value=row["expected_pmpm"],
                )
            )
        else:
            out[f"{match[1]}Q{match[2]}"] = amount
    if problems:
        raise errors.InvalidInput("expected PMPM table", problems=problems)
    return out


def parse_costs(text: str) -> tuple[PatientCost, ...]:
    r"""Per-patient, per-month costs from CSV text with columns ``patient_id,month,amount``.

    >>> parse_costs("patient_id,month,amount\np1,2026-03,120.00\n")
    (PatientCost(patient_id='p1', month='2026-03', amount=Decimal('120.00')),)
    """
    out = []
    problems = []
    for line, row in _rows(text, ("patient_id", "month", "amount"), "cost table"):
        pid, month, amount = (
            (row["patient_id"] or "").strip(),
            (row["month"] or "").strip(),
            _money(row["amount"]),
        )
        if not pid:
            problems.append(
                errors.Problem(path=f"line {line}.patient_id", message="required", value=pid)
            )
        elif not _MONTH.fullmatch(month):
            problems.append(
                errors.Problem(path=f"line {line}.month", message="write YYYY-MM", value=month)
            )
        elif amount is None:
            problems.append(
                errors.Problem(
                    path=f"line {line}.amount", message="must be an amount", value=row["amount"]
                )
            )
        else:
            out.append(PatientCost(patient_id=pid, month=month, amount=amount))
    if problems:
        raise errors.InvalidInput("cost table", problems=problems)
    return tuple(out)


def _pmpm_source(family: ServiceFamily, unpriced: int) -> str:
    """The ``source`` of a PMPM row costed by the claim lines, *unpriced* of them left out.

    >>> from carecore.model import ServiceFamily
    >>> _pmpm_source(ServiceFamily.CCM, 2)
    'care-management revenue (CCM claim lines; 2 with no listed fee left out)'
    """
    left_out = f"; {unpriced} with no listed fee left out" if unpriced else ""
    return f"care-management revenue ({family.value} claim lines{left_out})"


def _unpriced_lines(claim_lines: Iterable[ClaimLine], family: ServiceFamily) -> int:
    """The claim lines of *family* with no listed fee (what :func:`_pmpm_source` counts)."""
    return sum(1 for line in claim_lines if line.family is family and line.amount is None)


def pmpm_by_quarter(
    enrollments: Iterable[Enrollment],
    *,
    period: ServicePeriod,
    family: ServiceFamily,
    expected: Mapping[str, Decimal] | None = None,
    claim_lines: Iterable[ClaimLine] = (),
    costs: Iterable[PatientCost] | None = None,
) -> tuple[PmpmRow, ...]:
    """Observed PMPM per quarter of *period* against the *expected* table.

    Observed is the cost of the quarter's enrolled patient-months over their
    number. The cost is the care-management revenue of the family's claim
    lines, or, when *costs* is given, the user's per-patient cost table
    (``source`` says which). A quarter only partly inside *period* counts
    only its months inside the period.

    >>> from carecore.model import ServiceFamily
    >>> [r.quarter for r in pmpm_by_quarter([], period=ServicePeriod(start=pendulum.Date(2026, 1, 1),
    ...     end=pendulum.Date(2026, 6, 30)), family=ServiceFamily.CCM)]
    ['2026Q1', '2026Q2']
    """
    p, fam = _period(period), _family(family)
    months = enrolled_months(enrollments, period=p, family=fam)
    spent: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    if costs is None:
        unpriced = 0
        for line in claim_lines:
            if line.family is not fam:
                continue
            if line.amount is None:  # no listed fee: left out, never priced at $0
                unpriced += 1
                continue
            spent[line.patient_id, _line_month(line)] += line.amount
        source = _pmpm_source(fam, unpriced)
    else:
        source = "user cost table"
        for cost in costs:
            spent[cost.patient_id, cost.month] += cost.amount
    table = dict(expected or {})
    quarters: dict[str, list[ServicePeriod]] = defaultdict(list)
    for m in months_of(p):
        quarters[quarter_of(m.start)].append(m)
    rows = []
    for quarter, parts in quarters.items():
        keys = {month_key(m.start) for m in parts}
        member = [pm for pm in months if pm[1] in keys]
        rows.append(
            PmpmRow(
                quarter=quarter,
                member_months=len(member),
                observed_total=sum((spent.get(pm, Decimal(0)) for pm in member), Decimal(0)),
                expected_pmpm=table.get(quarter),
                source=source,
            )
        )
    return tuple(rows)
