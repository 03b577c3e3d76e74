from __future__ import annotations

import pendulum

from carecore.billing import cms_rule_set, evaluate
from carecore.billing._bridge import facts_from_model
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Patient,
    PatientClass,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)

PATIENT = Patient(
    id="p1",
    given_name="Ada",
    family_name="Okafor",
    birth_date=pendulum.Date(1948, 3, 2),
    sex=AdministrativeSex.FEMALE,
    time_zone="America/Chicago",
)
DOCTOR = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)


def conditions(*codes, chronic=True):
    return [
        Condition(
            id=f"c{i}",
            patient_id="p1",
            coding=Coding.icd10cm(code),
            chronic=chronic,
            significant_risk=True,
        )
        for i, code in enumerate(codes)
    ]


def consent(revoked=None):
    return Consent(
        id="k1",
        patient_id="p1",
        family=ServiceFamily.CCM,
        method=ConsentMethod.VERBAL,
        obtained_on=pendulum.Date(2026, 1, 5),
        obtained_by="rn1",
        billing_practitioner_id="dr1",
        cost_sharing_explained=True,
        revoked_on=revoked,
    )


def entry(minutes, patient_id="p1"):
    return TimeEntry(
        id=f"t{minutes}{patient_id}",
        patient_id=patient_id,
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=minutes,
        family=ServiceFamily.CCM,
        activity="call",
        service_date=pendulum.Date(2026, 3, 9),
        billing_practitioner_id="dr1",
    )


def run(**changes):
    fields = {
        "patient": PATIENT,
        "practitioners": [DOCTOR],
        "period": ServicePeriod.month(2026, 3),
        "conditions": conditions("E11.65", "I10"),
        "consents": [consent()],
        "care_plans": {ServiceFamily.CCM: pendulum.Date(2026, 1, 5)},
        "time_entries": [entry(25), entry(30, patient_id="someone-else")],
        "last_visit": pendulum.Date(2026, 1, 5),
    }
    fields.update(changes)
    return evaluate(facts_from_model(**fields), cms_rule_set(2026))


def test_only_this_patients_values_count():
    assert run().billable == [("99490", 1)]


def test_revoked_consent_and_acute_conditions_do_not_count():
    assert run(consents=[consent(revoked=pendulum.Date(2026, 2, 1))]).billable == []
    assert run(conditions=conditions("E11.65", "J06.9", chronic=False)).billable == []


def test_discharges_become_local_dates():
    late = pendulum.datetime(2026, 3, 10, 3, tz="UTC")  # 9 March in Chicago
    adt = AdtEvent(
        id="a1",
        source_key="M1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=late,
        patient_class=PatientClass.INPATIENT,
        discharged_at=late,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )
    facts = facts_from_model(
        patient=PATIENT,
        practitioners=[DOCTOR],
        period=ServicePeriod.month(2026, 3),
        adt_events=[adt],
    )
    (discharge,) = facts.events
    assert discharge.date == pendulum.Date(2026, 3, 9)


def test_wrong_types_are_typed_errors():
    import pytest

    from carecore import errors
    from carecore.billing._fast import FastClose

    with pytest.raises(errors.InvalidValue) as caught:
        facts_from_model(patient="p1", practitioners=[DOCTOR], period=ServicePeriod.month(2026, 3))
    assert caught.value.field == "patient"
    with pytest.raises(errors.InvalidValue) as caught:
        facts_from_model(
            patient=PATIENT, practitioners=["dr1"], period=ServicePeriod.month(2026, 3)
        )
    assert caught.value.field == "practitioners[0]"
    with pytest.raises(errors.InvalidValue) as caught:
        FastClose("cms-2026", ServicePeriod.month(2026, 3))  # type: ignore[arg-type]
    assert caught.value.field == "rules"
    fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
    with pytest.raises(errors.InvalidValue) as caught:
        fast.evaluate("p1", DOCTOR, [])  # type: ignore[arg-type]
    assert caught.value.field == "patient"


def test_consent_revoked_during_the_month_still_covers_it():
    assert run(consents=[consent(revoked=pendulum.Date(2026, 3, 20))]).billable == [("99490", 1)]


def test_care_plans_count_only_when_active_and_complete():
    from attrs import evolve

    from carecore.careplans import draft_plan
    from carecore.model import AssessmentDomain, AssessmentNote

    draft = draft_plan(
        "cp1",
        "p1",
        conditions=conditions("E11.65"),
        on=pendulum.Date(2026, 1, 5),
        responsible_id="dr1",
    )
    complete = evolve(
        draft,
        expected_outcome="Stable",
        shared_with_patient_on=pendulum.Date(2026, 1, 5),
        assessments=[
            AssessmentNote(domain=d, summary="done")
            for d in (
                AssessmentDomain.FUNCTIONAL,
                AssessmentDomain.ENVIRONMENTAL,
                AssessmentDomain.CAREGIVER,
            )
        ],
    )
    assert run(care_plans=[complete.activate()]).billable == [("99490", 1)]
    assert run(care_plans=[complete]).billable == []  # still a draft
    assert (
        run(care_plans=[evolve(complete.activate(), expected_outcome=None)]).billable == []
    )  # incomplete
    assert (
        run(care_plans=[evolve(complete.activate(), patient_id="p2")]).billable == []
    )  # someone else's
    denial = run(care_plans=[]).denials
    assert any(d.code == "99490" for d in denial)


def test_episodes_feed_tcm_and_a_cancelled_discharge_bills_nothing():
    from carecore.model import (
        ContactMode,
        FaceToFaceVisit,
        InteractiveContact,
        MdmLevel,
        VisitKind,
    )
    from carecore.transitions import apply_event

    tz = "America/Chicago"
    at = pendulum.datetime(2026, 3, 4, 15, tz=tz)
    a03 = AdtEvent(
        id="a03",
        source_key="a03",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=at,
        discharged_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
        visit_number="V1",
    )
    (episode,) = apply_event([], a03, time_zone=tz)
    call = InteractiveContact(
        id="k1",
        patient_id="p1",
        at=pendulum.datetime(2026, 3, 5, 10, tz=tz),
        mode=ContactMode.PHONE,
        successful=True,
        role_class=RoleClass.CLINICAL_STAFF,
        performer_id="rn1",
        family=ServiceFamily.TCM,
        billing_practitioner_id="dr1",
    )
    visit = FaceToFaceVisit(
        id="v1",
        patient_id="p1",
        on=pendulum.Date(2026, 3, 10),
        kind=VisitKind.TCM_F2F,
        mdm=MdmLevel.HIGH,
        billing_practitioner_id="dr1",
    )

    def tcm(**kw):
        facts = facts_from_model(
            patient=PATIENT,
            practitioners=[DOCTOR],
            period=ServicePeriod(start=pendulum.Date(2026, 3, 4), end=pendulum.Date(2026, 4, 2)),
            contacts=[call],
            visits=[visit],
            **kw,
        )
        return [c for c, _ in evaluate(facts, cms_rule_set(2026)).billable]

    # The episode tracks medication reconciliation: none by the visit, no TCM (issue 18).
    assert tcm(episodes=[episode]) == []
    assert tcm(episodes=[evolve_event(episode, med_rec_on=pendulum.Date(2026, 3, 11))]) == []
    episode = evolve_event(episode, med_rec_on=pendulum.Date(2026, 3, 9))
    assert tcm(episodes=[episode]) == ["99496"]
    assert tcm(episodes=[episode], adt_events=[a03]) == ["99496"]  # counted once
    a13 = evolve_event(a03, id="a13", source_key="a13", kind=AdtEventKind.CANCEL_DISCHARGE)
    (cancelled,) = apply_event([episode], a13, time_zone=tz, history=[a03])
    assert tcm(episodes=[cancelled], adt_events=[a03]) == []


def evolve_event(event, **changes):
    from attrs import evolve

    return evolve(event, **changes)
