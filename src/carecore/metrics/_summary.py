"""A snapshot of a program's records, and every measure and table of the program report."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import field, frozen

from carecore import billing, errors
from carecore.metrics._measure import Comparison, Measure, before_after, by_month, enrolled_months
from carecore.metrics._program import (
    A1cChange,
    PatientCost,
    PmpmRow,
    a1c_change,
    a1c_changes,
    admissions_per_1000,
    billable_rate,
    churn,
    ed_visits_per_1000,
    enrolled_patients,
    enrollment_rate,
    expected_revenue,
    goal_attainment,
    minutes_per_patient_month,
    pmpm_by_quarter,
    readmission_rate,
)
from carecore.model import (
    AdtEvent,
    AssessmentResult,
    CarePlan,
    CareTeam,
    ClaimLine,
    Condition,
    Consent,
    Coverage,
    Denial,
    Enrollment,
    FaceToFaceVisit,
    InteractiveContact,
    Observation,
    Patient,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)
from carecore.model import validators as v
from carecore.model.validators import check_date
from carecore.outreach import Worklist
from carecore.registry import (
    Caseload,
    Eligibility,
    MinutesProgress,
    Turns,
    caseloads,
    program_progress,
    program_worklists,
    registry,
)
from carecore.risk import HccModel, Stratification, TierRules, hcc_scores, stratify_all

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["ProgramData", "ProgramReport", "program_report"]


def _tuple_of(cls: type, what: str) -> Any:
    return field(default=(), converter=v.to_tuple, validator=v.tuple_of(v.instance_of(cls, what)))


def _optional_tuple(value: Iterable[Coverage] | None) -> tuple[Coverage, ...] | None:
    return None if value is None else tuple(value)


@frozen(kw_only=True)
class ProgramData:
    """Every record the registry, risk and metrics read: one snapshot of a program's store.

    :meth:`carecore.service.CareProgram.program_data` reads it in one
    transaction; tests and notebooks build it from values. ``coverages``
    None means the caller has no coverage data (eligibility then explains
    that Medicare Part B is not verified).

    >>> ProgramData().patients
    ()
    """

    patients: tuple[Patient, ...] = _tuple_of(Patient, "a Patient")
    practitioners: tuple[Practitioner, ...] = _tuple_of(Practitioner, "a Practitioner")
    conditions: tuple[Condition, ...] = _tuple_of(Condition, "a Condition")
    coverages: tuple[Coverage, ...] | None = field(default=None, converter=_optional_tuple)
    consents: tuple[Consent, ...] = _tuple_of(Consent, "a Consent")
    enrollments: tuple[Enrollment, ...] = _tuple_of(Enrollment, "an Enrollment")
    care_teams: tuple[CareTeam, ...] = _tuple_of(CareTeam, "a CareTeam")
    care_plans: tuple[CarePlan, ...] = _tuple_of(CarePlan, "a CarePlan")
    time_entries: tuple[TimeEntry, ...] = _tuple_of(TimeEntry, "a TimeEntry")
    contacts: tuple[InteractiveContact, ...] = _tuple_of(
        InteractiveContact, "an InteractiveContact"
    )
    visits: tuple[FaceToFaceVisit, ...] = _tuple_of(FaceToFaceVisit, "a FaceToFaceVisit")
    adt_events: tuple[AdtEvent, ...] = _tuple_of(AdtEvent, "an AdtEvent")
    episodes: tuple[TransitionEpisode, ...] = _tuple_of(TransitionEpisode, "a TransitionEpisode")
    claim_lines: tuple[ClaimLine, ...] = _tuple_of(ClaimLine, "a ClaimLine")
    denials: tuple[Denial, ...] = _tuple_of(Denial, "a Denial")
    observations: tuple[Observation, ...] = _tuple_of(Observation, "an Observation")
    assessments: tuple[AssessmentResult, ...] = _tuple_of(AssessmentResult, "an AssessmentResult")


@frozen(kw_only=True)
class ProgramReport:
    """Every measure and table of the program report, as values.

    ``measures`` are the headline measures over ``period`` (and on
    ``as_of``); the other fields are the report's tables. The HTML and CSV
    report (:mod:`carecore.report`) only formats these.
    """

    family: ServiceFamily
    period: ServicePeriod
    as_of: pendulum.Date
    time_zone: str
    measures: tuple[Measure, ...]
    eligibility: tuple[Eligibility, ...]
    stratification: tuple[Stratification, ...]
    caseloads: tuple[Caseload, ...]
    pmpm: tuple[PmpmRow, ...]
    comparisons: tuple[Comparison, ...]
    a1c: tuple[A1cChange, ...]
    enrollment_by_month: tuple[Measure, ...]
    minutes_by_month: tuple[Measure, ...]
    worklists: tuple[Worklist, ...] = ()
    #: The billing engine's minutes to the next code on ``as_of``, per enrollment
    #: (:func:`carecore.registry.program_progress`): what the worklists' minutes items say.
    minutes_progress: tuple[MinutesProgress, ...] = ()
    hcc_model: HccModel | None = None
    #: The rule set the worklists and the minutes were asked under (None: carecore has
    #: none for ``as_of``'s year).
    rules: billing.RuleSet | None = field(default=None, eq=False, repr=False)
    #: The snapshot the report was computed from: the report's practice sections
    #: (:mod:`carecore.report`) call the same metrics on it for single months.
    data: ProgramData | None = field(default=None, eq=False, repr=False)
    #: What the worklists' care-plan items say (``plan/task`` or ``plan/goal`` to its words),
    #: for a report that carries no snapshot (combined from partitions of the store).
    texts: dict[str, str] = field(factory=dict, eq=False, repr=False)

    def measure(self, name: str) -> Measure:
        """The headline measure called *name*.

        :raises carecore.errors.NotFound: no measure has that name.

        >>> r = program_report(ProgramData(), period=ServicePeriod.month(2026, 3))
        >>> r.measure("churn").definition.startswith("CCM enrollments disenrolled")
        True
        """
        for m in self.measures:
            if m.name == name:
                return m
        raise errors.NotFound("no such measure in the report", field="name", value=name)


def program_report(
    data: ProgramData,
    *,
    period: ServicePeriod,
    as_of: pendulum.Date | None = None,
    family: ServiceFamily = ServiceFamily.CCM,
    time_zone: str = "UTC",
    expected_pmpm: Mapping[str, Decimal] | None = None,
    costs: tuple[PatientCost, ...] | None = None,
    intervention: pendulum.Date | None = None,
    comparison_months: int = 6,
    hcc_model: HccModel | None = None,
    tier_rules: TierRules | None = None,
    rules: billing.RuleSet | None = None,
    turns: Turns | None = None,
) -> ProgramReport:
    """Compute every measure and table of the program report from *data*.

    *as_of* (default: the period's last day) is the day of eligibility,
    enrollment rate, caseloads, risk and the A1c window. *intervention*
    adds before/after comparisons of *comparison_months* months (minutes per
    patient-month, ED visits and admissions per 1,000, readmissions, billable
    rate). *hcc_model* adds CMS-HCC scores (needs the ``hcc`` extra).
    Eligibility is decided with the switches of *rules* (such as where
    significant risk comes from), as the month close decides it.
    The worklists (:func:`carecore.registry.registry_worklists` on *as_of*,
    for the report's program) give the billing engine's minutes to the next
    code under *rules* (default: the CMS rule set of *as_of*'s year, when
    carecore has one), from the same records a month close reads. *turns*
    (:func:`carecore.registry.worklist_turns`) are the worklists' turns
    shared out over the whole practice when *data* is one part of it.

    >>> r = program_report(ProgramData(), period=ServicePeriod.month(2026, 3))
    >>> r.measure("enrollment_rate").value is None, len(r.measures)
    (True, 13)
    """
    if not isinstance(data, ProgramData):
        raise errors.InvalidValue("must be a ProgramData", field="data", value=data)
    if not isinstance(period, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
    day = period.end if as_of is None else check_date(as_of, "as_of")
    zone = v.check_time_zone(time_zone)
    rules = _rules_of(rules, day)
    # The registry and the engine's minutes are worked out once; the worklists read both.
    elig = registry(
        data.patients,
        as_of=day,
        conditions=data.conditions,
        coverages=data.coverages,
        switches=None if rules is None else rules.switches,
    )
    progress = program_progress(data, today=day, rules=rules)
    members = {pid for pid, _ in enrolled_months(data.enrollments, period=period, family=family)}
    scores = (
        None
        if hcc_model is None
        else hcc_scores(data.patients, data.conditions, model=hcc_model, as_of=day)
    )

    def minutes(p: ServicePeriod) -> Measure:
        return minutes_per_patient_month(
            data.time_entries, data.enrollments, period=p, family=family
        )

    def ed(p: ServicePeriod) -> Measure:
        return ed_visits_per_1000(
            data.adt_events, data.enrollments, period=p, family=family, time_zone=zone
        )

    def admissions(p: ServicePeriod) -> Measure:
        return admissions_per_1000(
            data.adt_events, data.enrollments, period=p, family=family, time_zone=zone
        )

    def readmissions(p: ServicePeriod) -> Measure:
        return readmission_rate(
            data.episodes, period=p, enrollments=data.enrollments, family=family
        )

    def billable(p: ServicePeriod) -> Measure:
        return billable_rate(data.claim_lines, data.enrollments, period=p, family=family)

    def enrolled(p: ServicePeriod) -> Measure:
        return enrolled_patients(data.enrollments, period=p, family=family)

    loads = caseloads(data.enrollments, data.care_teams, on=day)
    measures = (
        enrollment_rate(elig, data.enrollments, family=family, on=day),
        enrolled(period),
        churn(data.enrollments, period=period, family=family),
        minutes(period),
        billable(period),
        expected_revenue(data.claim_lines, period=period, family=family),
        ed(period),
        admissions(period),
        readmissions(period),
        goal_attainment(data.care_plans, period=period),
        a1c_change(data.observations, as_of=day, patient_ids=members),
        _caseload_measure(loads, day),
        _revenue_per_member_month(data, period, family),
    )
    comparisons: tuple[Comparison, ...] = ()
    if intervention is not None:
        when = check_date(intervention, "intervention")
        comparisons = tuple(
            before_after(f, intervention=when, months=comparison_months)
            for f in (minutes, billable, ed, admissions, readmissions)
        )
    return ProgramReport(
        family=family,
        period=period,
        as_of=day,
        time_zone=zone,
        measures=measures,
        eligibility=elig,
        stratification=stratify_all(
            data.patients,
            data.adt_events,
            as_of=day,
            time_zone=zone,
            scores=scores,
            rules=tier_rules,
        ),
        caseloads=loads,
        pmpm=pmpm_by_quarter(
            data.enrollments,
            period=period,
            family=family,
            expected=expected_pmpm,
            claim_lines=data.claim_lines,
            costs=costs,
        ),
        comparisons=comparisons,
        a1c=a1c_changes(data.observations, as_of=day, patient_ids=members),
        enrollment_by_month=by_month(enrolled, period),
        minutes_by_month=by_month(minutes, period),
        worklists=tuple(
            program_worklists(
                data,
                today=day,
                time_zone=zone,
                families=(family,),
                rules=rules,
                eligibility=elig,
                progress=progress,
                turns=turns,
            ).values()
        ),
        minutes_progress=progress,
        hcc_model=hcc_model,
        rules=rules,
        data=data,
    )


def _rules_of(rules: billing.RuleSet | None, day: pendulum.Date) -> billing.RuleSet | None:
    """*rules*, else the CMS rule set of *day*'s year when carecore has one."""
    if rules is None and day.year in billing.CMS_YEARS:
        return billing.cms_rule_set(day.year)
    return rules


def _caseload_measure(loads: tuple[Caseload, ...], day: pendulum.Date) -> Measure:
    return Measure(
        name="caseload_per_care_manager",
        numerator=Decimal(sum(c.size for c in loads)),
        denominator=Decimal(len(loads)),
        unit="patients",
        period=ServicePeriod(start=day, end=day),
        definition="patients enrolled on the day over the care managers following them "
        "(the care manager on the care team, else the billing practitioner)",
    )


def _revenue_per_member_month(
    data: ProgramData, period: ServicePeriod, family: ServiceFamily
) -> Measure:
    rows = pmpm_by_quarter(
        data.enrollments, period=period, family=family, claim_lines=data.claim_lines
    )
    return Measure(
        name="revenue_pmpm",
        numerator=sum((r.observed_total for r in rows), Decimal(0)),
        denominator=Decimal(sum(r.member_months for r in rows)),
        unit="USD per member-month",
        period=period,
        definition=f"care-management revenue of {family.value} claim lines in enrolled "
        "patient-months (lines with no listed fee left out), over the enrolled patient-months",
    )
