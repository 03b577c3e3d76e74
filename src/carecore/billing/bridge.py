"""From model values to billing facts: what a program has recorded, as the engine reads it.

:func:`facts_from_model` turns a patient's :mod:`carecore.model` values
(conditions, consents, care plans, time entries, contacts, visits, ADT
events) into :class:`~carecore.billing.facts.BillingFacts` for one period.

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

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from carecore import errors
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    ContactFact,
    DischargeFact,
    Event,
    PatientFacts,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.careplans import billing_care_plans
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CarePlan,
    CareSetting,
    Condition,
    Consent,
    EpisodeStatus,
    FaceToFaceVisit,
    InteractiveContact,
    Patient,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)

if TYPE_CHECKING:
    import pendulum

__all__ = ["facts_from_model"]


def facts_from_model(
    *,
    patient: Patient,
    practitioners: Iterable[Practitioner],
    period: ServicePeriod,
    time_zone: str | None = None,
    setting: Setting = Setting.PHYSICIAN_OFFICE,
    conditions: Iterable[Condition] = (),
    consents: Iterable[Consent] = (),
    care_plans: Mapping[ServiceFamily, pendulum.Date] | Iterable[CarePlan] | None = None,
    time_entries: Iterable[TimeEntry] = (),
    contacts: Iterable[InteractiveContact] = (),
    visits: Iterable[FaceToFaceVisit] = (),
    adt_events: Iterable[AdtEvent] = (),
    episodes: Iterable[TransitionEpisode] = (),
    established: bool = True,
    last_visit: pendulum.Date | None = None,
    qmb: bool = False,
    primary_care_focal_point: bool = True,
) -> BillingFacts:
    """Billing facts for *patient* in *period* from what the program recorded.

    Conditions count when chronic and active at the period's end; a consent
    counts while not revoked by the period's start (a revocation takes effect
    at the end of its month). Instants (contacts, ADT events) become local
    dates in *time_zone* (default: the patient's).

    *episodes* (transition episodes, see :mod:`carecore.transitions`) give
    the discharges for TCM; a cancelled episode (A13) gives none, and an ADT
    event an episode follows is not counted again.

    *care_plans* is either the date each family's care plan was established,
    or the patient's :class:`~carecore.model.CarePlan` values: then only
    active plans that pass the CMS completeness check count
    (:func:`carecore.careplans.billing_care_plans`).
    """
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
        if c.chronic and c.patient_id == patient.id and c.active_on(period.end)
    ]
    consent_on: dict[ServiceFamily, pendulum.Date] = {}
    for consent in consents:
        if consent.patient_id != patient.id:
            continue
        until = consent.effective_until  # a revocation runs to the end of its month
        if until is not None and until < period.start:
            continue
        known = consent_on.get(consent.family)
        consent_on[consent.family] = (
            consent.obtained_on if known is None else min(known, consent.obtained_on)
        )
    events: list[Event] = [
        TimeFact(
            date=t.service_date,
            minutes=t.minutes,
            role=t.role_class,
            practitioner=t.billing_practitioner_id,
            family=t.family,
            credential=t.credential,
            interactive=t.interactive,
            activity=t.activity,
        )
        for t in time_entries
        if t.patient_id == patient.id
    ]
    events += [
        ContactFact(
            date=c.at.in_timezone(zone).date(),
            mode=c.mode,
            successful=c.successful,
            role=c.role_class,
            practitioner=c.billing_practitioner_id,
            family=c.family,
        )
        for c in contacts
        if c.patient_id == patient.id
    ]
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
    events += _discharges(adt_events, episodes, patient.id, zone)
    return BillingFacts(
        period=period,
        setting=setting,
        practitioners=[
            BillingPractitioner(
                id=p.id, credential=p.credential, primary_care_focal_point=primary_care_focal_point
            )
            for p in staff
        ],
        patient=PatientFacts(
            id=patient.id,
            conditions=[
                ChronicCondition(
                    icd10=c.coding.code,
                    label=c.coding.display,
                    expected_duration_months=c.expected_duration_months,
                    significant_risk=c.significant_risk,
                    behavioral=c.behavioral,
                )
                for c in active
            ],
            consent_on=consent_on,
            care_plan_on=_care_plan_dates(care_plans, patient.id),
            established=established,
            last_visit=last_visit,
            qmb=qmb,
            date_of_death=patient.date_of_death,
        ),
        events=events,
    )


def _discharges(
    adt_events: Iterable[AdtEvent],
    episodes: Iterable[TransitionEpisode],
    patient_id: str,
    zone: str,
) -> list[Event]:
    followed = [e for e in episodes if e.patient_id == patient_id]
    out: list[Event] = [
        DischargeFact(
            date=e.discharged_at.in_timezone(zone).date(),
            from_setting=e.from_setting,
            to_setting=e.to_setting or CareSetting.UNKNOWN,
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


def _care_plan_dates(
    care_plans: Mapping[ServiceFamily, pendulum.Date] | Iterable[CarePlan] | None, patient_id: str
) -> dict[ServiceFamily, pendulum.Date]:
    if care_plans is None:
        return {}
    if isinstance(care_plans, Mapping):
        return dict(care_plans)
    plans = list(care_plans)
    for index, plan in enumerate(plans):
        if not isinstance(plan, CarePlan):
            raise errors.InvalidValue(
                "must be a CarePlan", field=f"care_plans[{index}]", value=plan
            )
    return dict(billing_care_plans(p for p in plans if p.patient_id == patient_id))
