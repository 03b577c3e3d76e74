"""From model values to billing facts: what a program has recorded, as the engine reads it.

:func:`facts_from_model` turns a patient's :mod:`carecore.model` values
(conditions, consents, care plans, time entries, contacts, visits, ADT
events, and what else the rules read: MDM made outside a visit, device
set-ups, APCM add-ons, codes billed outside carecore, family elections)
into :class:`~carecore.billing.facts.BillingFacts` for one period.

>>> import pendulum
>>> from carecore.model import (AdministrativeSex, Coding, Condition, Consent, ConsentMethod,
...     Credential, Patient, Practitioner, RoleClass, ServiceFamily, ServicePeriod, TimeEntry)
>>> patient = Patient(id="p1", given_name="Ada", family_name="Okafor", birth_date=pendulum.Date(1948, 3, 2),
...     sex=AdministrativeSex.FEMALE, time_zone="America/Chicago")
>>> doctor = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
>>> conditions = [Condition(id=f"c{i}", patient_id="p1", coding=Coding.icd10cm(code), chronic=True,
...     significant_risk=True) for i, code in enumerate(["E11.65", "I10"])]
>>> consent = Consent(id="k1", patient_id="p1", family=ServiceFamily.CCM, method=ConsentMethod.VERBAL,
...     obtained_on=pendulum.Date(2026, 1, 5), obtained_by="rn1", billing_practitioner_id="dr1",
...     cost_sharing_explained=True)
>>> entry = TimeEntry(id="t1", patient_id="p1", performer_id="rn1", credential=Credential.RN,
...     role_class=RoleClass.CLINICAL_STAFF, minutes=24, family=ServiceFamily.CCM, activity="call",
...     service_date=pendulum.Date(2026, 3, 9), billing_practitioner_id="dr1")
>>> facts = facts_from_model(patient=patient, practitioners=[doctor], period=ServicePeriod.month(2026, 3),
...     conditions=conditions, consents=[consent], care_plans={ServiceFamily.CCM: pendulum.Date(2026, 1, 5)},
...     time_entries=[entry], last_visit=pendulum.Date(2026, 1, 5))
>>> from carecore.billing import cms_rule_set, evaluate
>>> evaluate(facts, cms_rule_set(2026)).billable
[('99490', 1)]
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from carecore import errors
from carecore.billing._unchecked import unchecked_init
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    CarePlanAction,
    CarePlanFact,
    ChronicCondition,
    ContactFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    DischargeFact,
    ElectionFact,
    Event,
    MdmFact,
    OtherClaimFact,
    PatientFacts,
    ProgramMonthFact,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.careplans import PlanSpan, billing_care_plans
from carecore.conditions import SignificantRisk, at_significant_risk, billing_code, is_chronic
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    ApcmAddon,
    CarePlan,
    CareSetting,
    Condition,
    Consent,
    DeviceReadingDay,
    DeviceSetup,
    Enrollment,
    EnrollmentStatus,
    EpisodeStatus,
    ExternalClaim,
    FaceToFaceVisit,
    InteractiveContact,
    MdmAssessment,
    Patient,
    Practitioner,
    ProgramElection,
    RtmSystem,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pendulum

    from carecore.model import Credential

__all__ = [
    "DEVICE_PERIOD_DAYS",
    "PROGRAM_MONTH_FAMILIES",
    "ProgramGap",
    "facts_and_gaps",
    "facts_from_model",
]

#: The length of one device data period (RPM and RTM supply codes).
DEVICE_PERIOD_DAYS = 30

_OUT = frozenset({EnrollmentStatus.PAUSED, EnrollmentStatus.DISENROLLED})
_IN = frozenset({EnrollmentStatus.CONSENTED, EnrollmentStatus.ENROLLED})


@attrs.frozen(kw_only=True)
class ProgramGap:
    """Days of the period a consented patient was out of a program (paused or disenrolled).

    ``whole`` is true when no day of the period was in the program; ``minutes``
    counts the time entries left out (by billing practitioner), ``cause`` says
    why in words (``"disenrolled on 2026-03-31 (moved)"``).
    """

    family: ServiceFamily
    cause: str
    whole: bool
    minutes: tuple[tuple[str, int], ...] = ()


def facts_from_model(
    *,
    patient: Patient,
    practitioners: Iterable[Practitioner],
    period: ServicePeriod,
    time_zone: str | None = None,
    setting: Setting = Setting.PHYSICIAN_OFFICE,
    conditions: Iterable[Condition] = (),
    consents: Iterable[Consent] = (),
    enrollments: Iterable[Enrollment] = (),
    care_plans: Mapping[ServiceFamily, pendulum.Date]
    | Iterable[CarePlan]
    | Iterable[PlanSpan]
    | None = None,
    time_entries: Iterable[TimeEntry] = (),
    contacts: Iterable[InteractiveContact] = (),
    visits: Iterable[FaceToFaceVisit] = (),
    device_readings: Iterable[DeviceReadingDay] = (),
    adt_events: Iterable[AdtEvent] = (),
    episodes: Iterable[TransitionEpisode] = (),
    mdm_assessments: Iterable[MdmAssessment] = (),
    device_setups: Iterable[DeviceSetup] = (),
    apcm_addons: Iterable[ApcmAddon] = (),
    external_claims: Iterable[ExternalClaim] = (),
    elections: Iterable[ProgramElection] = (),
    established: bool = True,
    last_visit: pendulum.Date | None = None,
    qmb: bool = False,
    primary_care_focal_point: bool = True,
    significant_risk_from: SignificantRisk = SignificantRisk.TABLE,
) -> BillingFacts:
    """Billing facts for *patient* in *period* from what the program recorded.

    Conditions count when chronic (the record's flag or the condition-group
    table, :func:`carecore.conditions.is_chronic`) and active at the period's
    end. Each is passed by the ICD-10-CM code it is billed by
    (:func:`carecore.conditions.billing_code`: a SNOMED CT concept by its
    table row's code; one the table does not know as it is, and the engine
    names it as counting for nothing), at significant risk as
    :func:`carecore.conditions.at_significant_risk` says with
    *significant_risk_from* (the rule set's switch of that name). Consent
    and enrollment are read day by day: a day is in a program when a consent
    covers it (a revocation takes effect at the end of its month) and no
    enrollment of that family has the patient paused or disenrolled that day.
    Time, contacts and device days on days out of the program after the
    first day in it are left out (:func:`facts_and_gaps` says which); a period
    with no day in the program has no consent for that family. Instants
    (contacts, ADT events) become local dates in *time_zone* (default: the
    patient's).

    *episodes* (transition episodes, see :mod:`carecore.transitions`) give
    the discharges for TCM, each on the episode's stored ``discharge_date``
    (the day its deadlines count from, not a day worked out again in
    *time_zone*); a cancelled episode (A13) gives none, and an ADT event an
    episode follows is not counted again.

    *device_readings* are days with device data; they are grouped into
    30-day device periods that run back to back from the family's first day
    of data, attributed to the billing practitioner of the family's consent
    (else enrollment).

    *mdm_assessments* (medical decision-making made outside a visit) and
    *elections* (the family a practice chooses when two conflict) count from
    their day up to the period's end; *device_setups* are read like device
    days; *external_claims* (codes billed outside carecore) are all passed,
    and the rules that look at other claims decide by their dates;
    *apcm_addons* give the behavioral-health add-on of the APCM month they
    fall in, billed by the APCM enrollment's practitioner.

    *care_plans* is either the date each family's care plan was established,
    the spans read from the plans' histories
    (:func:`carecore.careplans.established_span`: a plan counts in a period
    it was in force), or the current :class:`~carecore.model.CarePlan`
    values (:func:`carecore.careplans.billing_care_plans`).
    """
    facts, _gaps = facts_and_gaps(
        patient=patient,
        practitioners=practitioners,
        period=period,
        time_zone=time_zone,
        setting=setting,
        conditions=conditions,
        consents=consents,
        enrollments=enrollments,
        care_plans=care_plans,
        time_entries=time_entries,
        contacts=contacts,
        visits=visits,
        device_readings=device_readings,
        adt_events=adt_events,
        episodes=episodes,
        mdm_assessments=mdm_assessments,
        device_setups=device_setups,
        apcm_addons=apcm_addons,
        external_claims=external_claims,
        elections=elections,
        established=established,
        last_visit=last_visit,
        qmb=qmb,
        primary_care_focal_point=primary_care_focal_point,
        significant_risk_from=significant_risk_from,
    )
    return facts


def facts_and_gaps(
    *,
    patient: Patient,
    practitioners: Iterable[Practitioner],
    period: ServicePeriod,
    time_zone: str | None = None,
    setting: Setting = Setting.PHYSICIAN_OFFICE,
    conditions: Iterable[Condition] = (),
    consents: Iterable[Consent] = (),
    enrollments: Iterable[Enrollment] = (),
    care_plans: Mapping[ServiceFamily, pendulum.Date]
    | Iterable[CarePlan]
    | Iterable[PlanSpan]
    | None = None,
    time_entries: Iterable[TimeEntry] = (),
    contacts: Iterable[InteractiveContact] = (),
    visits: Iterable[FaceToFaceVisit] = (),
    device_readings: Iterable[DeviceReadingDay] = (),
    adt_events: Iterable[AdtEvent] = (),
    episodes: Iterable[TransitionEpisode] = (),
    mdm_assessments: Iterable[MdmAssessment] = (),
    device_setups: Iterable[DeviceSetup] = (),
    apcm_addons: Iterable[ApcmAddon] = (),
    external_claims: Iterable[ExternalClaim] = (),
    elections: Iterable[ProgramElection] = (),
    established: bool = True,
    last_visit: pendulum.Date | None = None,
    qmb: bool = False,
    primary_care_focal_point: bool = True,
    significant_risk_from: SignificantRisk = SignificantRisk.TABLE,
) -> tuple[BillingFacts, tuple[ProgramGap, ...]]:
    """As :func:`facts_from_model`, with the program gaps that left records out."""
    if not isinstance(patient, Patient):
        raise errors.InvalidValue("must be a Patient", field="patient", value=patient)
    if not isinstance(period, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
    staff = list(practitioners)
    for index, practitioner in enumerate(staff):
        if not isinstance(practitioner, Practitioner):
            raise errors.InvalidValue(
                "must be a Practitioner", field=f"practitioners[{index}]", value=practitioner
            )
    zone = time_zone or patient.time_zone
    active = [
        c
        for c in conditions
        if c.patient_id == patient.id and c.active_on(period.end) and is_chronic(c)
    ]
    plans: Mapping[ServiceFamily, pendulum.Date] | list[CarePlan | PlanSpan] | None = (
        care_plans
        if care_plans is None or isinstance(care_plans, Mapping)
        else list(care_plans)  # read twice: for the dates and for the actions
    )
    mine_consents = [c for c in consents if c.patient_id == patient.id]
    mine_enrollments = [e for e in enrollments if e.patient_id == patient.id]
    consent_on, out_days, causes = _program_days(mine_consents, mine_enrollments, period)
    gap_minutes: dict[ServiceFamily, dict[str, int]] = {}
    events: list[Event] = []
    for t in time_entries:
        if t.patient_id != patient.id:
            continue
        if t.service_date in out_days.get(t.family, ()):
            per = gap_minutes.setdefault(t.family, {})
            per[t.billing_practitioner_id] = per.get(t.billing_practitioner_id, 0) + t.minutes
            continue
        # A TimeEntry's fields passed the checks a TimeFact's carry (see _time_fact).
        fact = TimeFact.__new__(TimeFact)
        _time_fact(
            fact,
            date=t.service_date,
            minutes=t.minutes,
            role=t.role_class,
            practitioner=t.billing_practitioner_id,
            family=t.family,
            credential=t.credential,
            interactive=t.interactive,
            activity=t.activity,
        )
        events.append(fact)
    for c in contacts:
        day = c.at.in_timezone(zone).date()
        if c.patient_id != patient.id or day in out_days.get(c.family, ()):
            continue
        events.append(
            ContactFact(
                date=day,
                mode=c.mode,
                successful=c.successful,
                role=c.role_class,
                practitioner=c.billing_practitioner_id,
                family=c.family,
            )
        )
    events += [
        VisitFact(
            date=v.on,
            kind=v.kind,
            mdm=v.mdm,
            practitioner=v.billing_practitioner_id,
            em_code=v.em_code,
        )
        for v in visits
        if v.patient_id == patient.id
    ]
    events += _device_periods(
        [
            d
            for d in device_readings
            if d.patient_id == patient.id and d.on not in out_days.get(d.family, ())
        ],
        period,
        _device_practitioners(mine_consents, mine_enrollments),
    )
    events += _program_months(
        mine_enrollments, period, [a for a in apcm_addons if a.patient_id == patient.id]
    )
    events += [
        MdmFact(date=m.on, family=m.family, level=m.level, practitioner=m.billing_practitioner_id)
        for m in mdm_assessments
        if m.patient_id == patient.id and m.on <= period.end
    ]
    events += [
        DeviceSetupFact(
            date=d.on, family=d.family, practitioner=d.billing_practitioner_id, device=d.device
        )
        for d in device_setups
        if d.patient_id == patient.id and d.on not in out_days.get(d.family, ())
    ]
    events += [
        OtherClaimFact(date=c.on, code=c.code, practitioner=c.billing_practitioner_id)
        for c in external_claims
        if c.patient_id == patient.id
    ]
    events += [
        ElectionFact(
            date=e.on, prefer_family=e.prefer_family, practitioner=e.billing_practitioner_id
        )
        for e in elections
        if e.patient_id == patient.id and e.on <= period.end
    ]
    events += _care_plan_actions(plans, patient.id, period)
    events += _discharges(adt_events, episodes, patient.id, zone)
    gaps = tuple(
        ProgramGap(
            family=family,
            cause=cause,
            whole=family not in consent_on,
            minutes=tuple(sorted(gap_minutes.get(family, {}).items())),
        )
        for family, cause in sorted(causes.items(), key=lambda item: item[0].value)
    )
    facts = BillingFacts(
        period=period,
        setting=setting,
        practitioners=[_billing_practitioner(p, primary_care_focal_point) for p in staff],
        patient=PatientFacts(
            id=patient.id,
            conditions=[_chronic(c, significant_risk_from) for c in active],
            consent_on=consent_on,
            care_plan_on=_care_plan_dates(plans, patient.id, period),
            established=established,
            last_visit=last_visit,
            qmb=qmb,
            date_of_death=patient.date_of_death,
        ),
        events=events,
    )
    return facts, gaps


def _billing_practitioner(practitioner: Practitioner, focal_point: bool) -> BillingPractitioner:  # noqa: FBT001
    """*practitioner* as the engine reads them: one value per id, credential and flag.

    A close names the same few hundred practitioners for every patient: each
    value is made (and checked) once and shared (see :func:`_practitioner_value`).
    """
    # Anything but a bool is made afresh, and refused by the value's check (never looked
    # up: 1 == True, and True's value would be found).
    make = _practitioner_value if isinstance(focal_point, bool) else _practitioner_value.__wrapped__
    return make(practitioner.id, practitioner.credential, focal_point)


#: The most practitioner values kept (see _practitioner_value): a practice names a few hundred.
_PRACTITIONER_LIMIT = 10_000


@functools.lru_cache(maxsize=_PRACTITIONER_LIMIT)
def _practitioner_value(
    practitioner_id: str,
    credential: Credential,
    focal_point: bool,  # noqa: FBT001
) -> BillingPractitioner:
    """The engine's practitioner of this id, credential and focal-point flag.

    A pure function of its arguments, the value immutable: a memo of it
    holds nothing of a close, a rule set or a thread (a value made for one
    close is the value any other would make), so it is kept beside the
    function, bounded, not by each close.
    """
    return BillingPractitioner(
        id=practitioner_id, credential=credential, primary_care_focal_point=focal_point
    )


#: TimeFact's __init__ without its validators: a time entry's date, minutes, role,
#: billing practitioner, family, credential and flag passed the same checks (a
#: TimeEntry's validators are a TimeFact's, or stricter), and the converters still run.
_time_fact = unchecked_init(TimeFact)


def _chronic(condition: Condition, source: SignificantRisk) -> ChronicCondition:
    """*condition* as the engine counts it (see :func:`facts_from_model`), one value per distinct fact.

    The value depends on the coding, the chronic, significant-risk and
    behavioral flags, the expected duration and *source* only (what
    :func:`~carecore.conditions.billing_code` and
    :func:`~carecore.conditions.at_significant_risk` read): conditions alike in
    those share one (a close's conditions are a few codes over and over).
    """
    key = (
        condition.coding,
        condition.chronic,
        condition.significant_risk,
        condition.behavioral,
        condition.expected_duration_months,
        source,
    )
    found = _CHRONIC.get(key)
    if found is None:
        found = ChronicCondition(
            icd10=billing_code(condition.coding),
            label=condition.coding.display,
            expected_duration_months=condition.expected_duration_months,
            significant_risk=at_significant_risk(condition, source),
            behavioral=condition.behavioral,
        )
        if len(_CHRONIC) < _CHRONIC_LIMIT:
            _CHRONIC[key] = found
    return found


#: Chronic conditions by what they depend on (see _chronic); at most _CHRONIC_LIMIT.
_CHRONIC: dict[tuple[object, ...], ChronicCondition] = {}
_CHRONIC_LIMIT = 10_000


@functools.lru_cache(maxsize=64)
def _days(period: ServicePeriod) -> tuple[pendulum.Date, ...]:
    count = (period.end - period.start).in_days() + 1
    return tuple(period.start.add(days=n) for n in range(count))


def _changes_within(
    consents: Sequence[Consent], enrollments: Sequence[Enrollment], period: ServicePeriod
) -> bool:
    """Whether a consent or an enrollment reads differently on some day of *period* than on its first.

    A consent covers from the day obtained to its last day (``effective_until``);
    an enrollment's status changes only on the days of its history.
    """
    start, end = period.start, period.end
    for c in consents:
        if start < c.obtained_on <= end:
            return True
        until = c.effective_until
        if until is not None and start <= until < end:
            return True
    return any(start < step.on <= end for e in enrollments for step in e.history)


def _program_days(  # noqa: C901 - one pass over the days, one branch per case
    consents: Sequence[Consent], enrollments: Sequence[Enrollment], period: ServicePeriod
) -> tuple[
    dict[ServiceFamily, pendulum.Date],
    dict[ServiceFamily, set[pendulum.Date]],
    dict[ServiceFamily, str],
]:
    """Per family with a consent: the consent date the period bills on, the days out, and why."""
    consent_on: dict[ServiceFamily, pendulum.Date] = {}
    out_days: dict[ServiceFamily, set[pendulum.Date]] = {}
    causes: dict[ServiceFamily, str] = {}
    days = _days(period)
    for family in sorted({c.family for c in consents}, key=lambda f: f.value):
        given = [c for c in consents if c.family is family]
        joined = [e for e in enrollments if e.family is family]
        first: pendulum.Date | None = None
        out: set[pendulum.Date] = set()
        cause: str | None = None
        # When nothing changes within the period, every day reads as its first.
        for day in days if _changes_within(given, joined, period) else days[:1]:
            covering = [c for c in given if c.active_on(day)]
            statuses = [e.status_on(day) for e in joined]
            left = any(s in _OUT for s in statuses) and not any(s in _IN for s in statuses)
            if covering and not left:
                if first is None:
                    first = day
                    consent_on[family] = min(c.obtained_on for c in covering)
                continue
            if covering:  # consented, but paused or disenrolled that day
                cause = cause or _enrollment_cause(joined, day)
            elif first is not None:  # the consent ran out after the first day in the program
                cause = cause or _revocation_cause(given, day)
            if first is not None:
                out.add(day)
        if first is None:
            if cause is not None:  # consented, but out of the program the whole period
                causes[family] = cause
                continue
            # A consent obtained after the period (the engine says there is none
            # yet), or one revoked before it: nothing to say beyond the engine.
            later = [c.obtained_on for c in given if c.obtained_on > period.end]
            if later:
                consent_on[family] = min(later)
            continue
        if out:
            out_days[family] = out
            causes[family] = cause or "out of the program"
    return consent_on, out_days, causes


def _enrollment_cause(enrollments: Sequence[Enrollment], day: pendulum.Date) -> str:
    for enrollment in enrollments:
        change = None
        for step in enrollment.history:
            if step.on > day:
                break
            change = step
        if change is not None and change.status in _OUT:
            why = f" ({change.reason.value.replace('_', ' ')})" if change.reason else ""
            return f"{change.status.value} on {change.on.isoformat()}{why}"
    return "out of the program"


def _revocation_cause(consents: Sequence[Consent], day: pendulum.Date) -> str:
    revoked = sorted(
        c.revoked_on for c in consents if c.revoked_on is not None and c.revoked_on <= day
    )
    if revoked:
        return f"consent revoked on {revoked[-1].isoformat()}"
    return "no consent covers the day"


#: Families billed per month of enrollment (APCM), or per month of an episode (CoCM).
PROGRAM_MONTH_FAMILIES = frozenset({ServiceFamily.APCM, ServiceFamily.COCM})


def _program_months(
    enrollments: Sequence[Enrollment], period: ServicePeriod, addons: Sequence[ApcmAddon] = ()
) -> list[Event]:
    """A program month for each APCM or CoCM enrollment the patient was enrolled under in *period*.

    The month's date is its first day enrolled; a CoCM month is numbered
    within its episode, which starts at the enrollment (or re-enrollment)
    the month falls in. An APCM month carries the behavioral-health add-on
    recorded in the period by the enrollment's billing practitioner (the
    earliest, when more than one was recorded: one add-on is billed a month).
    """
    out: list[Event] = []
    for enrollment in enrollments:
        if enrollment.family not in PROGRAM_MONTH_FAMILIES:
            continue
        day = next(
            (d for d in _days(period) if enrollment.status_on(d) is EnrollmentStatus.ENROLLED),
            None,
        )
        if day is None:
            continue
        started: pendulum.Date | None = None
        for step in enrollment.history:
            if step.on > day:
                break
            if step.status is EnrollmentStatus.DISENROLLED:
                started = None  # a later enrollment starts a new episode
            elif step.status is EnrollmentStatus.ENROLLED and started is None:
                started = step.on  # (a resume after a pause continues the episode)
        first = started or day
        episode = (day.year - first.year) * 12 + day.month - first.month + 1
        addon = (
            min(
                (
                    a
                    for a in addons
                    if a.on in period
                    and a.billing_practitioner_id == enrollment.billing_practitioner_id
                ),
                key=lambda a: (a.on, a.id),
                default=None,
            )
            if enrollment.family is ServiceFamily.APCM
            else None
        )
        out.append(
            ProgramMonthFact(
                date=day,
                family=enrollment.family,
                month=f"{day.year:04d}-{day.month:02d}",
                practitioner=enrollment.billing_practitioner_id,
                episode_month=episode if enrollment.family is ServiceFamily.COCM else None,
                bh_addon=None if addon is None else addon.addon,
            )
        )
    return out


def _device_practitioners(
    consents: Sequence[Consent], enrollments: Sequence[Enrollment]
) -> dict[ServiceFamily, str]:
    """Who bills a family's device days: the billing practitioner of its consent, else enrollment."""
    out: dict[ServiceFamily, str] = {}
    for enrollment in sorted(enrollments, key=lambda e: (e.history[0].on, e.id)):
        out.setdefault(enrollment.family, enrollment.billing_practitioner_id)
    for consent in sorted(consents, key=lambda c: (c.obtained_on, c.id), reverse=True):
        out[consent.family] = consent.billing_practitioner_id
    return out


def _device_periods(
    days: Sequence[DeviceReadingDay],
    period: ServicePeriod,
    practitioners: Mapping[ServiceFamily, str],
) -> list[Event]:
    """Device days as 30-day device periods touching *period*, one fact per device and period."""
    out: list[Event] = []
    for family in (ServiceFamily.RPM, ServiceFamily.RTM):
        mine = sorted((d for d in days if d.family is family), key=lambda d: (d.on, d.device))
        practitioner = practitioners.get(family)
        if not mine or practitioner is None:
            continue
        anchor = mine[0].on
        first = anchor.toordinal()
        starts: dict[int, pendulum.Date] = {}
        windows: dict[tuple[pendulum.Date, str], list[DeviceReadingDay]] = {}
        for day in mine:
            # Days since the first reading, by ordinal (pendulum's date difference is slow).
            index = (day.on.toordinal() - first) // DEVICE_PERIOD_DAYS
            start = starts.get(index)
            if start is None:
                start = starts[index] = anchor.add(days=index * DEVICE_PERIOD_DAYS)
            windows.setdefault((start, day.device), []).append(day)
        for (start, device), group in sorted(windows.items()):
            end = start.add(days=DEVICE_PERIOD_DAYS - 1)
            if not (start in period or end in period):
                continue
            systems = [d.rtm_system for d in group if d.rtm_system is not None]
            system: RtmSystem | None = (
                max(set(systems), key=lambda s: (systems.count(s), s.value)) if systems else None
            )
            out.append(
                DeviceReadingsFact(
                    date=group[-1].on,
                    period_start=start,
                    period_end=end,
                    days_with_data=len({d.on for d in group}),
                    device=device,
                    family=family,
                    practitioner=practitioner,
                    rtm_system=system,
                )
            )
    return out


def _discharges(
    adt_events: Iterable[AdtEvent],
    episodes: Iterable[TransitionEpisode],
    patient_id: str,
    zone: str,
) -> list[Event]:
    followed = [e for e in episodes if e.patient_id == patient_id]
    out: list[Event] = [
        DischargeFact(
            date=e.discharge_date,  # the day its deadlines count from, as stored
            from_setting=e.from_setting,
            to_setting=e.to_setting or CareSetting.UNKNOWN,
            # An episode with a reconciliation deadline tracks it: no date means none done.
            med_rec_on=e.med_rec_on,
            med_rec_tracked=e.med_rec_due is not None or e.med_rec_on is not None,
        )
        for e in followed
        if e.status is not EpisodeStatus.CANCELLED
    ]
    covered = {
        e.discharge_event_id for e in followed
    }  # an episode speaks for its event (and its A13)
    for adt in adt_events:
        day = adt.discharge_date(zone)
        if adt.patient_id != patient_id or adt.kind is not AdtEventKind.DISCHARGE or day is None:
            continue
        if adt.id in covered:
            continue
        out.append(
            DischargeFact(
                date=day,
                from_setting=adt.from_setting or CareSetting.UNKNOWN,
                to_setting=adt.to_setting or CareSetting.UNKNOWN,
            )
        )
    return out


def _care_plan_actions(care_plans: object, patient_id: str, period: ServicePeriod) -> list[Event]:
    """What was done to the plans in force in *period*, from their histories, up to its end.

    A plan is established on the day it first became active and complete,
    monitored on each review, and substantially revised by each version that
    changed its problems or goals; each action is the responsible
    practitioner's (a plan naming none gives no action).
    """
    if not isinstance(care_plans, list):
        return []
    out: list[Event] = []
    for span in care_plans:
        if (
            not isinstance(span, PlanSpan)
            or span.patient_id != patient_id
            or span.established is None
            or span.responsible_id is None
            or not span.in_force(period.start, period.end)
        ):
            continue
        actions = [
            (span.established, CarePlanAction.ESTABLISHED),
            *((day, CarePlanAction.MONITORED) for day in span.reviewed),
            *((day, CarePlanAction.SUBSTANTIALLY_REVISED) for day in span.revised),
        ]
        out += [
            CarePlanFact(date=day, family=family, action=action, practitioner=span.responsible_id)
            for day, action in actions
            if day <= period.end
            for family in sorted(span.families, key=lambda f: f.value)
        ]
    return out


def _care_plan_dates(
    care_plans: Mapping[ServiceFamily, pendulum.Date] | Iterable[CarePlan | PlanSpan] | None,
    patient_id: str,
    period: ServicePeriod,
) -> dict[ServiceFamily, pendulum.Date]:
    if care_plans is None:
        return {}
    if isinstance(care_plans, Mapping):
        return dict(care_plans)
    items = list(care_plans)
    spans = [p for p in items if isinstance(p, PlanSpan)]
    plans = [p for p in items if isinstance(p, CarePlan)]
    for index, item in enumerate(items):
        if not isinstance(item, (CarePlan, PlanSpan)):
            raise errors.InvalidValue(
                "must be a CarePlan or a PlanSpan", field=f"care_plans[{index}]", value=item
            )
    out = dict(billing_care_plans(p for p in plans if p.patient_id == patient_id))
    for span in spans:
        if (
            span.patient_id != patient_id
            or span.established is None
            or not span.in_force(period.start, period.end)
        ):
            continue
        for family in span.families:
            known = out.get(family)
            if known is None or span.established < known:
                out[family] = span.established
    return out
