"""A scenario case as records in a store, closed through :class:`~carecore.service.CareProgram`.

``carecore billing evaluate FILE --via store`` uses this to check that a
practice's path (records in a store, then a month close) gives the same
answer as the engine given the case's facts directly. Each case is loaded
into a fresh in-memory store through the public API, then:

- a case whose evaluation period is a calendar month is closed with
  :meth:`CareProgram.close_month <carecore.service.CareProgram.close_month>`;
- any other period (TCM's 30 days from a discharge, an ACP day, a device
  period) is evaluated with :meth:`CareProgram.evaluate_period
  <carecore.service.CareProgram.evaluate_period>`, which reads and evaluates
  as a close does, without storing an outcome.

How the scenario's facts become records:

- the patient, with the date of death; Medicare Part B coverage (the
  scenarios are Part B cases), and Medicaid QMB coverage for a QMB patient;
  the practitioners, each the billing practitioner of a care team of the
  patient, the teams numbered in the case's order (so each is evaluated, in
  the order the engine evaluates them);
- each chronic condition as a chronic :class:`~carecore.model.Condition`;
- each family's consent date as a :class:`~carecore.model.Consent`, and its
  care-plan date (or ``established`` care-plan event) as a CMS-complete plan
  agreed on that date; ``monitored`` and ``substantially_revised`` events as
  a review or a new goal, each written on its day;
- the last visit with the billing practitioner as an office visit with each
  practitioner on that date (a date after the period stays after it: a close
  does not count a visit after the period, where the engine takes the
  scenario's last visit as one before it); an established patient with no
  visit in the three years up to the period's end (from which a store derives
  "established") also gets a level-1 staff visit (99211) on the first day of
  those years, which no rule takes as an initiating, TCM or ACP visit;
- time entries, contacts and visits as themselves (time logged without a
  credential gets the practitioner's own, or the role's usual one; so does
  time of a role whose counting does not depend on the credential, logged
  with one outside the list, such as ``"receptionist"``: a stored entry holds
  a known credential);
  discharges as transition episodes (one that gives ``med_rec_on`` tracks the
  reconciliation, due by the TCM clock's 14-day visit deadline counted with
  the rule set's switches); admissions as ADT events; device
  readings as one :class:`~carecore.model.DeviceReadingDay` per day with
  data, from the period's first day; APCM and CoCM program months as
  enrollments (a CoCM month *n* as an enrollment *n* - 1 months earlier),
  an APCM month's behavioral-health add-on as an
  :class:`~carecore.model.ApcmAddon` on the month's date;
- device set-ups as :class:`~carecore.model.DeviceSetup`, MDM assessments as
  :class:`~carecore.model.MdmAssessment`, other claims as
  :class:`~carecore.model.ExternalClaim` and elections as
  :class:`~carecore.model.ProgramElection`.

What the store cannot hold is refused with
:class:`NotExpressibleAsRecords`, naming the case, the JSON path and the
missing feature; a case is never evaluated to a silently different answer.

>>> from carecore.billing.scenarios import read_scenarios
>>> from carecore.billing import cms_rule_set
>>> case = {"id": "X-1", "year": 2026,
...     "evaluation_period": {"start": "2026-03-01", "end": "2026-03-31"},
...     "practitioners": [{"id": "dr1", "credential": "MD"}],
...     "patient": {"id": "p1", "consent_on": {"CCM": "2026-01-05"}}, "events": []}
>>> (scenario,) = read_scenarios(case)
>>> evaluate_via_store(scenario, cms_rule_set(2026)).claim_lines
()
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import attrs
import pendulum
from attrs import evolve

from carecore import errors
from carecore.billing._bridge import DEVICE_PERIOD_DAYS
from carecore.billing._engine import EvaluationResult, tcm_clock
from carecore.billing._month import ESTABLISHED_YEARS
from carecore.billing.facts import (
    AdmissionFact,
    CarePlanAction,
    CarePlanFact,
    ContactFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    DischargeFact,
    ElectionFact,
    Event,
    MdmFact,
    OtherClaimFact,
    ProgramMonthFact,
    TimeFact,
    VisitFact,
)
from carecore.billing.primitives import personal_time_counts
from carecore.billing.rules import Switches
from carecore.billing.scenarios import CREDENTIAL_DEPENDENT_ROLES
from carecore.careplans import draft_plan
from carecore.clock import FixedClock
from carecore.conditions import SignificantRisk
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    ApcmAddon,
    AssessmentDomain,
    AssessmentNote,
    CarePlan,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Coverage,
    CoveragePlan,
    Credential,
    DeviceReadingDay,
    DeviceSetup,
    Enrollment,
    ExternalClaim,
    FaceToFaceVisit,
    Goal,
    InteractiveContact,
    MdmAssessment,
    MdmLevel,
    Patient,
    PatientClass,
    Practitioner,
    ProgramElection,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
    VisitKind,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.billing.facts import BillingFacts
    from carecore.billing.rules import RuleSet
    from carecore.billing.scenarios import Scenario
    from carecore.protocols import Transaction
    from carecore.service import CareProgram

__all__ = ["NotExpressibleAsRecords", "evaluate_via_store", "load_case", "unsupported"]

_EVENT_NAMES: dict[type, str] = {
    DeviceSetupFact: "device_setup",
    CarePlanFact: "care_plan",
    MdmFact: "mdm_assessment",
    ProgramMonthFact: "program_month",
    OtherClaimFact: "other_claim",
    ElectionFact: "election",
    DischargeFact: "discharge",
    TimeFact: "time_entry",
    DeviceReadingsFact: "device_readings",
    ContactFact: "interactive_contact",
    VisitFact: "face_to_face_visit",
    AdmissionFact: "admission",
}
_PERSONAL = frozenset({RoleClass.PHYSICIAN, RoleClass.QHP})
_UTC = "UTC"
_NOON = 12


class NotExpressibleAsRecords(errors.InvalidInput):
    """A scenario case uses a feature the store cannot hold as records yet.

    ``problems`` name the JSON path of each such part and the feature.
    """

    def __init__(self, case_id: str, problems: Sequence[errors.Problem]) -> None:
        super().__init__(f"scenario {case_id} for the store path", problems=problems)
        self.case_id = case_id


def unsupported(scenario: Scenario) -> list[errors.Problem]:  # noqa: C901, PLR0912 - flat checks
    """What in *scenario* the store cannot hold as records (empty: it can be loaded)."""
    facts = scenario.facts
    patient = facts.patient
    base = scenario.path
    problems: list[errors.Problem] = []

    def refuse(path: str, feature: str) -> None:
        where = base + path[1:]
        problems.append(
            errors.Problem(path=where, message=f"not expressible as records: {feature}")
        )

    if not patient.established and patient.last_visit is not None:
        refuse(
            "$.patient.established_patient",
            "a new patient with a last visit (a stored visit makes the patient established)",
        )
    plan_on = patient.care_plan(ServiceFamily.CCM)
    if (
        plan_on is not None
        and plan_on in facts.period
        and not any(
            isinstance(e, CarePlanFact) and e.action is CarePlanAction.ESTABLISHED
            for e in facts.events
        )
        and any(day in facts.period for day in _initiating_days(scenario))
    ):
        refuse(
            "$.patient.care_plan_on.CCM",
            "a CCM plan established in the period without its care_plan event "
            "(a stored plan records its establishment)",
        )
    for event in facts.events:
        path = f"$.events[{_EVENT_NAMES.get(type(event), type(event).__name__)} on {event.date}]"
        if isinstance(event, DischargeFact) and event.practitioner is not None:
            refuse(
                f"{path}.practitioner", "the discharging practitioner (episodes do not name one)"
            )
        elif isinstance(event, ElectionFact) and event.date > facts.period.end:
            refuse(
                f"{path}.date",
                "an election after the period (a stored election holds from its day on)",
            )
        elif isinstance(event, ProgramMonthFact):
            problems += _program_month_problems(facts.events, base + path[1:], event)
        elif isinstance(event, CarePlanFact):
            plan_on = _plan_days(scenario).get(event.family)
            if event.action is CarePlanAction.ESTABLISHED:
                if patient.care_plan(event.family) not in {None, event.date}:
                    refuse(
                        f"{path}.date",
                        "a care plan established twice (a plan has one establishment)",
                    )
            elif plan_on is None or plan_on > event.date:
                refuse(f"{path}.action", "a care-plan action before the plan was established")
        elif (
            isinstance(event, TimeFact)
            and event.credential is None
            and event.credential_text is not None
            and event.role in CREDENTIAL_DEPENDENT_ROLES
        ):
            # The scenario reader refuses these already; a case built in code may not.
            refuse(f"{path}.credential", "a credential outside the list (a time entry needs one)")
        elif (
            isinstance(event, TimeFact)
            and event.credential is None
            and event.role in _PERSONAL
            and not _trusted_credential(facts, event)
        ):
            refuse(
                f"{path}.credential",
                "a practitioner's own time without a credential, where the practitioner's "
                "credential may not bill it personally (the engine trusts such a minute; "
                "a stored entry carries the practitioner's credential)",
            )
    if any(f.family is ServiceFamily.APCM for f in _family_events(facts.events)) and not all(
        p.primary_care_focal_point for p in facts.practitioners
    ):
        refuse("$.practitioners", "a practitioner who is not the primary-care focal point")
    problems += _device_problems(scenario, base)
    if (
        not patient.established
        and _has_family(facts.events, ServiceFamily.RPM)
        and _visit_days(scenario)
    ):
        refuse("$.patient.established_patient", "a new patient with stored visits")
    return problems


def _trusted_credential(facts: BillingFacts, event: TimeFact) -> bool:
    """Whether the practitioner's own credential counts *event* as the engine counts it without one."""
    known = {p.id: p.credential for p in facts.practitioners}
    credential = known.get(event.practitioner)
    return credential is None or personal_time_counts(
        Switches(), event.family, event.role, credential
    )


def _program_month_problems(
    events: Sequence[Event], path: str, event: ProgramMonthFact
) -> list[errors.Problem]:
    """A program month is an enrollment: one per family, starting where its date and number say."""
    out: list[errors.Problem] = []

    def refuse(where: str, feature: str) -> None:
        out.append(errors.Problem(path=where, message=f"not expressible as records: {feature}"))

    if event.bh_addon is not None and event.family is not ServiceFamily.APCM:
        refuse(
            f"{path}.bh_addon",
            "a behavioral-health add-on on a CoCM month (a stored add-on belongs to the APCM month)",
        )
    same = [e for e in events if isinstance(e, ProgramMonthFact) and e.family is event.family]
    if len(same) > 1:
        refuse(f"{path}.family", "two program months of one family (one enrollment per family)")
    if event.month != f"{event.date.year:04d}-{event.date.month:02d}":
        refuse(f"{path}.month", "a program month dated in another month")
    if event.family is ServiceFamily.APCM and event.episode_month is not None:
        refuse(f"{path}.episode_month", "an APCM month number (APCM months are not numbered)")
    return out


def _plan_days(scenario: Scenario) -> dict[ServiceFamily, pendulum.Date]:
    """The day each family's plan is established: care_plan_on, else an established event."""
    out = dict(scenario.facts.patient.care_plan_on)
    for e in scenario.facts.events:
        if isinstance(e, CarePlanFact) and e.action is CarePlanAction.ESTABLISHED:
            out.setdefault(e.family, e.date)
    return out


_INITIATING_KINDS = frozenset(
    {VisitKind.OFFICE_EM, VisitKind.AWV, VisitKind.IPPE, VisitKind.TCM_F2F}
)


def _initiating_days(scenario: Scenario) -> list[pendulum.Date]:
    days = [
        e.date
        for e in scenario.facts.events
        if isinstance(e, VisitFact) and e.kind in _INITIATING_KINDS and e.em_code != "99211"
    ]
    last = scenario.facts.patient.last_visit
    return [*days, last] if last is not None else days


def _family_events(events: Sequence[Event]) -> list[ProgramMonthFact | TimeFact]:
    return [e for e in events if isinstance(e, (ProgramMonthFact, TimeFact))]


def _has_family(events: Sequence[Event], family: ServiceFamily) -> bool:
    return any(getattr(e, "family", None) is family for e in events)


def _visit_days(scenario: Scenario) -> list[pendulum.Date]:
    days = [e.date for e in scenario.facts.events if isinstance(e, VisitFact)]
    last = scenario.facts.patient.last_visit
    return [*days, last] if last is not None else days


def _established_visit_day(scenario: Scenario) -> pendulum.Date | None:
    """The day of the visit that makes an established patient established in the store, if one is needed.

    None when the patient is new, or a visit the case gives already falls in
    the three years up to the period's end. Otherwise the first day of those
    years: before the period, and before a date of death within them.
    """
    facts = scenario.facts
    if not facts.patient.established:
        return None
    end = facts.period.end
    since = end.subtract(years=ESTABLISHED_YEARS)
    if any(since <= day <= end for day in _visit_days(scenario)):
        return None
    return since


def _device_problems(scenario: Scenario, base: str) -> list[errors.Problem]:
    """Device readings must fall in back-to-back 30-day periods from the first, one set per device."""
    problems: list[errors.Problem] = []
    indexed = [
        (f"{base}.events[device_readings on {e.date}]", e)
        for e in scenario.facts.events
        if isinstance(e, DeviceReadingsFact)
    ]
    for family in (ServiceFamily.RPM, ServiceFamily.RTM):
        mine = [(i, e) for i, e in indexed if e.family is family]
        if not mine:
            continue
        anchor = min(e.period_start for _, e in mine)
        seen: set[tuple[pendulum.Date, str]] = set()
        for path, event in mine:
            offset = (event.period_start - anchor).in_days()
            length = (event.period_end - event.period_start).in_days() + 1
            if offset % DEVICE_PERIOD_DAYS or length != DEVICE_PERIOD_DAYS:
                problems.append(
                    errors.Problem(
                        path=f"{path}.period_end",
                        message=(
                            "not expressible as records: a device period that is not one of the "
                            "back-to-back 30-day periods from the first day of data"
                        ),
                    )
                )
            key = (event.period_start, event.device)
            if key in seen:
                problems.append(
                    errors.Problem(
                        path=f"{path}.device",
                        message="not expressible as records: two readings of one device in one period",
                    )
                )
            seen.add(key)
            if event.days_with_data == 0 and event.period_start == anchor:
                problems.append(
                    errors.Problem(
                        path=f"{path}.days_with_data",
                        message="not expressible as records: a first device period with no data",
                    )
                )
        if len({e.practitioner for _, e in mine}) > 1:
            problems.append(
                errors.Problem(
                    path=f"{mine[0][0]}.practitioner",
                    message=(
                        "not expressible as records: one family's device days billed by "
                        "two practitioners (device days name no practitioner)"
                    ),
                )
            )
    return problems


def load_case(
    program: CareProgram, scenario: Scenario, *, switches: Switches | None = None
) -> None:
    """Store *scenario*'s facts as records in *program* (see the module docs for how).

    *switches* are the billing rule set's (default: ``Switches()``): a
    discharge episode's medication-reconciliation deadline is the TCM
    clock's 14-day visit deadline counted by their day-counting convention.
    Raises :class:`NotExpressibleAsRecords` when the case uses a feature
    the store cannot hold yet; nothing is stored then.
    """
    if switches is None:
        switches = Switches()
    elif not isinstance(switches, Switches):
        raise errors.InvalidValue("must be billing Switches", field="switches", value=switches)
    problems = unsupported(scenario)
    if problems:
        raise NotExpressibleAsRecords(scenario.id, problems)
    try:
        with program.transaction(f"scenario {scenario.id}") as tx:
            _load(tx, scenario, switches)
        _plan_actions(program, scenario)
    except errors.InvalidValue as exc:  # a value the records refuse (a malformed ICD-10 code)
        raise NotExpressibleAsRecords(
            scenario.id,
            [errors.Problem(path=scenario.path, message=f"not expressible as records: {exc}")],
        ) from exc


def _load(tx: Transaction, scenario: Scenario, switches: Switches) -> None:  # noqa: C901, PLR0912 - one branch per kind
    facts = scenario.facts
    patient = facts.patient
    pid = patient.id
    first = facts.practitioners[0].id
    tx.add(
        Patient(
            id=pid,
            given_name="Scenario",
            family_name=scenario.id,
            birth_date=pendulum.Date(1950, 1, 1),
            sex=AdministrativeSex.UNKNOWN,
            time_zone=_UTC,
            date_of_death=patient.date_of_death,
        )
    )
    tx.add(
        Coverage(
            id=f"{pid}-part-b",
            patient_id=pid,
            payer="Medicare",
            plan=CoveragePlan.MEDICARE_PART_B,
            start=pendulum.Date(2000, 1, 1),
        )
    )
    if patient.qmb:
        tx.add(
            Coverage(
                id=f"{pid}-qmb",
                patient_id=pid,
                payer="Medicaid",
                plan=CoveragePlan.MEDICAID_QMB,
                start=pendulum.Date(2000, 1, 1),
            )
        )
    for p in facts.practitioners:
        tx.add(Practitioner(id=p.id, name=p.id, credential=p.credential))
    # One team per billing practitioner (a team has one), numbered in the case's order:
    # a close evaluates the teams' practitioners in that order, as the engine does.
    for n, p in enumerate(facts.practitioners):
        tx.add(
            CareTeam(
                id=f"{pid}-team-{n:03d}",
                patient_id=pid,
                members=[
                    CareTeamMember(practitioner_id=p.id, role=CareTeamRole.BILLING_PRACTITIONER)
                ],
            )
        )
    for index, c in enumerate(patient.conditions):
        tx.add(
            Condition(
                id=f"{pid}-c{index}",
                patient_id=pid,
                coding=Coding.icd10cm(c.icd10, c.label),
                chronic=True,
                significant_risk=c.significant_risk,
                behavioral=c.behavioral,
                expected_duration_months=c.expected_duration_months,
            )
        )
    device_billers = {
        e.family: e.practitioner for e in facts.events if isinstance(e, DeviceReadingsFact)
    }
    for family, day in patient.consent_on:
        tx.add(
            Consent(
                id=f"{pid}-consent-{family.value}",
                patient_id=pid,
                family=family,
                method=ConsentMethod.VERBAL,
                obtained_on=day,
                obtained_by=first,
                billing_practitioner_id=device_billers.get(family, first),
                cost_sharing_explained=True,
            )
        )
    consented = {family for family, _ in patient.consent_on}
    for family, biller in sorted(device_billers.items(), key=lambda item: item[0].value):
        if family not in consented:  # who bills the device days, without a consent
            tx.add(
                Enrollment.identify(
                    id=f"{pid}-{family.value}",
                    patient_id=pid,
                    program_id=family.value.lower(),
                    family=family,
                    billing_practitioner_id=biller,
                    on=facts.period.start.subtract(years=1),
                )
            )
    for family, day in sorted(_plan_days(scenario).items(), key=lambda item: item[0].value):
        tx.add(_agreed_plan(_plan_id(pid, family), pid, family, day, first))
    prior = _established_visit_day(scenario)
    if prior is not None:
        # The store derives "established" from a visit in the three years up to the
        # period's end. A case that says so without giving such a visit gets a
        # level-1 staff visit (99211): no rule takes one as an initiating visit, a
        # TCM or an ACP visit, so it changes nothing else the engine reads.
        tx.add(
            FaceToFaceVisit(
                id=f"{pid}-established",
                patient_id=pid,
                on=prior,
                kind=VisitKind.EM_99211_STAFF,
                mdm=MdmLevel.STRAIGHTFORWARD,
                billing_practitioner_id=first,
                em_code="99211",
            )
        )
    if patient.last_visit is not None:
        for p in facts.practitioners:
            tx.add(
                FaceToFaceVisit(
                    id=f"{pid}-last-visit-{p.id}",
                    patient_id=pid,
                    on=patient.last_visit,
                    kind=VisitKind.OFFICE_EM,
                    mdm=MdmLevel.LOW,
                    billing_practitioner_id=p.id,
                )
            )
    for index, event in enumerate(facts.events):
        key = f"{pid}-e{index}"
        if isinstance(event, TimeFact):
            tx.add(
                TimeEntry(
                    id=key,
                    patient_id=pid,
                    performer_id=event.practitioner if event.role in _PERSONAL else f"staff-{key}",
                    credential=event.credential or _credential(facts, event),
                    role_class=event.role,
                    minutes=event.minutes,
                    family=event.family,
                    activity=event.activity or "care management",
                    service_date=event.date,
                    billing_practitioner_id=event.practitioner,
                    interactive=event.interactive,
                )
            )
        elif isinstance(event, ContactFact):
            tx.add(
                InteractiveContact(
                    id=key,
                    patient_id=pid,
                    at=_noon(event.date),
                    mode=event.mode,
                    successful=event.successful,
                    role_class=event.role,
                    performer_id=f"staff-{key}",
                    family=event.family,
                    billing_practitioner_id=event.practitioner,
                )
            )
        elif isinstance(event, VisitFact):
            tx.add(
                FaceToFaceVisit(
                    id=key,
                    patient_id=pid,
                    on=event.date,
                    kind=event.kind,
                    mdm=event.mdm,
                    billing_practitioner_id=event.practitioner,
                    em_code=event.em_code,
                )
            )
        elif isinstance(event, DischargeFact):
            # The reconciliation is due by the face-to-face visit: until there is one,
            # the TCM clock's 14-day visit deadline (as an opened episode has it).
            clock = tcm_clock(
                event.date,
                calendar=switches.business_days,
                day_counting=switches.tcm_day_counting,
            )
            tx.add(
                TransitionEpisode(
                    id=key,
                    patient_id=pid,
                    discharge_event_id=f"{key}-adt",
                    discharged_at=_noon(event.date),
                    from_setting=event.from_setting,
                    to_setting=event.to_setting,
                    med_rec_on=event.med_rec_on,
                    # A scenario that gives the reconciliation tracks it (see DischargeFact).
                    med_rec_due=clock.visit_due_14 if event.med_rec_tracked else None,
                )
            )
        elif isinstance(event, AdmissionFact):
            tx.add(
                AdtEvent(
                    id=key,
                    source_key=key,
                    patient_id=pid,
                    kind=AdtEventKind.ADMIT,
                    occurred_at=_noon(event.date),
                    patient_class=PatientClass.INPATIENT,
                    admitted_at=_noon(event.date),
                    from_setting=event.setting,
                )
            )
        elif isinstance(event, ProgramMonthFact):
            months_before = (event.episode_month or 1) - 1
            tx.add(
                Enrollment.start(
                    id=f"{pid}-{event.family.value}",
                    patient_id=pid,
                    program_id=event.family.value.lower(),
                    family=event.family,
                    billing_practitioner_id=event.practitioner,
                    on=event.date.subtract(months=months_before),
                )
            )
            if event.bh_addon is not None:
                tx.add(
                    ApcmAddon(
                        id=f"{key}-addon",
                        patient_id=pid,
                        addon=event.bh_addon,
                        on=event.date,
                        billing_practitioner_id=event.practitioner,
                    )
                )
        elif isinstance(event, MdmFact):
            tx.add(
                MdmAssessment(
                    id=key,
                    patient_id=pid,
                    family=event.family,
                    level=event.level,
                    on=event.date,
                    billing_practitioner_id=event.practitioner,
                )
            )
        elif isinstance(event, DeviceSetupFact):
            tx.add(
                DeviceSetup(
                    id=key,
                    patient_id=pid,
                    family=event.family,
                    on=event.date,
                    billing_practitioner_id=event.practitioner,
                    device=event.device,
                )
            )
        elif isinstance(event, OtherClaimFact):
            tx.add(
                ExternalClaim(
                    id=key,
                    patient_id=pid,
                    code=event.code,
                    on=event.date,
                    billing_practitioner_id=event.practitioner,
                )
            )
        elif isinstance(event, ElectionFact):
            tx.add(
                ProgramElection(
                    id=key,
                    patient_id=pid,
                    prefer_family=event.prefer_family,
                    on=event.date,
                    billing_practitioner_id=event.practitioner,
                )
            )
        elif isinstance(event, DeviceReadingsFact):
            for n in range(event.days_with_data):
                tx.add(
                    DeviceReadingDay(
                        patient_id=pid,
                        family=event.family,
                        device=event.device,
                        on=event.period_start.add(days=n),
                        rtm_system=(event.rtm_system or RtmSystem.MUSCULOSKELETAL)
                        if event.family is ServiceFamily.RTM
                        else None,
                    )
                )


#: The credential stored for time a case logged without one, by role (the
#: store's time entries need a credential that fits the role).
_STAFF_CREDENTIAL = {
    RoleClass.CLINICAL_STAFF: Credential.RN,
    RoleClass.BH_CARE_MANAGER: Credential.RN,
    RoleClass.AUXILIARY: Credential.CHW,
    RoleClass.NON_CLINICAL: Credential.NONE,
}


def _credential(facts: BillingFacts, event: TimeFact) -> Credential:
    """The credential of time logged without one: the practitioner's own, else the role's."""
    if event.role in _PERSONAL:
        return facts.practitioner(event.practitioner).credential
    return _STAFF_CREDENTIAL.get(event.role, Credential.NONE)


def _plan_id(patient_id: str, family: ServiceFamily) -> str:
    return f"{patient_id}-plan-{family.value}"


def _plan_actions(program: CareProgram, scenario: Scenario) -> None:
    """Reviews and substantial revisions of the plans, each written on its own day."""
    clock = program.clock
    pid = scenario.facts.patient.id
    try:
        for event in scenario.facts.events:
            if not isinstance(event, CarePlanFact) or event.action is CarePlanAction.ESTABLISHED:
                continue
            program.clock = FixedClock(_noon(event.date))
            plan_id = _plan_id(pid, event.family)
            if event.action is CarePlanAction.MONITORED:
                program.review_care_plan(plan_id, by=event.practitioner)
            else:
                program.revise_care_plan(
                    plan_id,
                    functools.partial(_revised, on=event.date),
                    reason="care plan substantially revised",
                )
    finally:
        program.clock = clock


def _revised(plan: CarePlan, *, on: pendulum.Date) -> CarePlan:
    """The plan with one more goal (a substantial revision)."""
    goal = Goal(
        id=f"{plan.id}-goal-{on.isoformat()}",
        description="Revised goal",
        problem_ids=(plan.problems[0].id,) if plan.problems else (),
    )
    return evolve(plan, goals=(*plan.goals, goal))


def _noon(day: pendulum.Date) -> pendulum.DateTime:
    return pendulum.datetime(day.year, day.month, day.day, _NOON, tz=_UTC)


_PLAN_CONDITIONS = ("E11.9", "I10")


def _agreed_plan(
    plan_id: str, patient_id: str, family: ServiceFamily, on: pendulum.Date, responsible: str
) -> CarePlan:
    """A care plan with every CMS element, agreed with the patient and shared on *on*."""
    draft = draft_plan(
        plan_id,
        patient_id,
        conditions=[
            Condition(
                id=f"{plan_id}-{code}",
                patient_id=patient_id,
                coding=Coding.icd10cm(code),
                chronic=True,
            )
            for code in _PLAN_CONDITIONS
        ],
        on=on,
        responsible_id=responsible,
        families=(family,),
    )
    return evolve(
        draft,
        expected_outcome="Stable at home",
        shared_with_patient_on=on,
        assessments=[
            AssessmentNote(domain=domain, summary="assessed")
            for domain in (
                AssessmentDomain.FUNCTIONAL,
                AssessmentDomain.ENVIRONMENTAL,
                AssessmentDomain.CAREGIVER,
            )
        ],
    ).activate()


def evaluate_via_store(scenario: Scenario, rules: RuleSet) -> EvaluationResult:
    """Load *scenario* into a fresh in-memory store and evaluate its period from the records.

    A calendar month is closed with ``CareProgram.close_month``; any other
    period is evaluated with ``CareProgram.evaluate_period``. Raises
    :class:`NotExpressibleAsRecords` for a case the store cannot hold yet.

    A case's conditions carry the billing practitioner's judgment of each
    (``significant_risk`` true or false), which a record can only say as an
    attestation: the records are closed with the switch
    ``significant_risk_from`` set to ``ATTESTED``, so that a condition the
    case says is not at significant risk stays so even in a group the
    condition-group table places at significant risk.
    """
    from carecore.service import CareProgram  # noqa: PLC0415 - the service layer loads on use

    rules = attrs.evolve(
        rules,
        switches=attrs.evolve(rules.switches, significant_risk_from=SignificantRisk.ATTESTED),
    )
    period = scenario.facts.period
    clock = FixedClock(_noon(period.end.add(days=1)))
    with CareProgram.open("memory://", actor="scenario loader", clock=clock) as program:
        load_case(program, scenario, switches=rules.switches)
        month = ServicePeriod.month(period.start.year, period.start.month)
        run = program.close_month if period == month else program.evaluate_period
        results = run(
            period,
            rules=rules,
            reason=f"scenario {scenario.id}",
            setting=scenario.facts.setting,
        )
    found = [r for r in results if r.patient_id == scenario.facts.patient.id]
    if found:
        return found[0]
    return EvaluationResult(
        patient_id=scenario.facts.patient.id,
        period=period,
        rule_set=rules.id,
        rule_set_version=rules.version,
    )
