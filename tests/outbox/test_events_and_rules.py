"""Domain events become outbox messages by configurable rules; observers hear of them after commit."""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve

from carecore import errors
from carecore.careplans import draft_plan
from carecore.clock import FixedClock
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CarePlan,
    CareSetting,
    Coding,
    Condition,
    Enrollment,
    PatientClass,
    ServiceFamily,
)
from carecore.notify import DEFAULT_RULES, GENERIC_SMS, NotificationRule
from carecore.plugins import hookimpl
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")


class Observer:
    def __init__(self):
        self.seen = []

    @hookimpl
    def carecore_on_event(self, event):
        self.seen.append(event.key)


@pytest.fixture
def observer(carecore_pm):
    o = Observer()
    carecore_pm.register(o)
    return o


RULES = (
    *DEFAULT_RULES,
    NotificationRule(
        id="plan",
        event="CarePlanRevised",
        channel="email",
        recipient="{patient_id}@patients.example",
        subject="Your care plan changed (version {version})",
        body="Call us at {clinic_phone}.",
        extra=(("clinic_phone", "555-0100"),),
    ),
    NotificationRule(
        id="overdue",
        event="TaskOverdue",
        channel="console",
        recipient="{owner}",
        subject="Overdue: {task_id} for {patient_id} (due {due})",
    ),
    NotificationRule(
        id="enrolled",
        event="EnrollmentChanged",
        channel="console",
        recipient="care-team",
        subject="{patient_id} is now {status} in {program}",
    ),
)


@pytest.fixture
def program(carecore_pm, observer):
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=RULES
    )
    with program.transaction("registration") as tx:
        tx.add(make_patient("p1"))
    return program


def subjects(program):
    with program.transaction("check") as tx:
        return sorted(i.message.subject for i in tx.outbox())


def test_a_discharge_queues_the_default_notice_once_and_observers_hear_once(program, observer):
    at = pendulum.datetime(2026, 3, 4, 15, tz="America/Chicago")
    a03 = AdtEvent(
        id="M1",
        source_key="M1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=at,
        discharged_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )
    program.receive(a03, source="hl7")
    program.receive(a03, source="hl7")
    assert subjects(program) == ["Discharge: contact p1 by 2026-03-06"]
    assert observer.seen == ["DischargeReceived:M1"]


def test_plan_revisions_enrollment_changes_and_overdue_tasks(program, observer):
    plan = draft_plan(
        "cp1",
        "p1",
        conditions=[
            Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.65"), chronic=True)
        ],
        on=pendulum.Date(2026, 2, 1),
        responsible_id="rn-park",
    )
    with program.transaction("plan") as tx:
        tx.add(plan)
        tx.add(
            Enrollment.identify(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=pendulum.Date(2026, 2, 1),
            )
        )
    program.revise_care_plan("cp1", lambda p: p.activate(), reason="agreed")
    program.change_enrollment("e1", lambda e: e.reach_out(pendulum.Date(2026, 2, 2)), reason="call")
    first = program.check_overdue_tasks()
    again = program.check_overdue_tasks()
    overdue = [t for t in plan.tasks if t.due < pendulum.Date(2026, 3, 4)]
    assert first == len(overdue) > 0
    assert again == 0
    got = subjects(program)
    assert "Your care plan changed (version 2)" in got
    assert "p1 is now outreach in CCM" in got
    assert sum(s.startswith("Overdue:") for s in got) == len(overdue)
    with program.transaction("check") as tx:
        email = next(i.message for i in tx.outbox() if i.message.channel == "email")
    assert (email.recipient, email.body) == ("p1@patients.example", "Call us at 555-0100.")
    assert "CarePlanRevised:cp1:2" in observer.seen


def test_a_failed_write_queues_nothing_and_tells_no_one(program, observer):
    from carecore.model import CarePlanRevised

    with pytest.raises(errors.InvalidValue), program.transaction("doomed") as tx:  # noqa: PT012
        tx.add(draft_plan("cp9", "p1", on=pendulum.Date(2026, 3, 1)))
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp9", version=1)
        )
        raise errors.InvalidValue("stop", field="x", value=1)
    assert subjects(program) == []
    assert observer.seen == []
    with program.transaction("check") as tx:
        assert tx.all(CarePlan) == []


def test_a_template_asking_for_a_missing_field_is_a_typed_error(program):
    bad = NotificationRule(
        id="bad", event="CarePlanRevised", channel="console", recipient="x", subject="{diagnosis}"
    )
    strict = CareProgram(program.store, clock=program.clock, rules=[bad])
    with program.transaction("plan") as tx:
        tx.add(draft_plan("cp2", "p1", on=pendulum.Date(2026, 3, 1)))
    with pytest.raises(errors.InvalidValue) as info:
        strict.revise_care_plan("cp2", lambda p: p.activate(), reason="agreed")
    assert "{diagnosis}" in str(info.value)
    with program.transaction("check") as tx:
        assert (
            tx.get(CarePlan, "cp2").version == 1
        )  # the revision and its message rolled back together


@pytest.mark.parametrize("subject", ["{unclosed", "{}", "{0} due", "x {1}"])
def test_broken_templates_are_refused_when_written(subject):
    with pytest.raises(errors.InvalidValue) as info:
        NotificationRule(id="r", event="X", channel="c", recipient="r", subject=subject)
    assert (info.value.field, info.value.value) == ("subject", subject)
    assert evolve(DEFAULT_RULES[0], channel="email").channel == "email"


def test_sms_to_patients_carries_health_details_only_with_their_consent(carecore_pm):
    import datetime as dt

    from carecore.model import CarePlanRevised, ContactPreferences

    rule = NotificationRule(
        id="sms-plan",
        event="CarePlanRevised",
        channel="sms",
        recipient="+1555{patient_id}",
        subject="Your diabetes plan changed (version {version})",
        body="A1c goal: under 8%.",
        audience="patient",
    )
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=[rule]
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(ContactPreferences(patient_id="p1", quiet_start=dt.time(21), quiet_end=dt.time(8)))
    with program.transaction("revise") as tx:
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=2)
        )
    with program.transaction("consent") as tx:
        tx.replace(ContactPreferences(patient_id="p1", health_details_in_sms=True))
    with program.transaction("revise") as tx:
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=3)
        )
    with program.transaction("check") as tx:
        sent = sorted((i.message.subject, i.message.body) for i in tx.outbox())
    assert sent == [
        (
            "You have a message from your care team. Please call us or check your patient portal.",
            GENERIC_SMS,
        ),
        ("Your diabetes plan changed (version 3)", "A1c goal: under 8%."),
    ]


def test_the_99490_threshold_is_reported_once_a_month(carecore_pm):
    from carecore.model import Credential, Practitioner, RoleClass, TimeEntry

    rule = NotificationRule(
        id="threshold",
        event="ThresholdReached",
        channel="console",
        recipient="billing",
        subject="{patient_id} reached {minutes} minutes for {code} in {month}",
    )
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=[rule]
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        # The billing engine evaluates the month under the billing practitioner.
        tx.add(Practitioner(id="dr1", name="Dr. One", credential=Credential.MD))

    def entry(n, minutes, day=3, role=RoleClass.CLINICAL_STAFF, credential=Credential.RN):
        return TimeEntry(
            id=f"t{n}",
            patient_id="p1",
            performer_id="rn1",
            credential=credential,
            role_class=role,
            minutes=minutes,
            family=ServiceFamily.CCM,
            activity="call",
            service_date=pendulum.Date(2026, 3, day),
            billing_practitioner_id="dr1",
        )

    program.record_time(entry(1, 12))
    program.record_time(
        entry(2, 10, role=RoleClass.NON_CLINICAL, credential=Credential.NONE)
    )  # never counts
    program.record_time(entry(3, 7))
    assert subjects(program) == []
    program.record_time(entry(4, 5))  # 24 minutes: reached
    program.record_time(entry(5, 9))
    assert subjects(program) == ["p1 reached 24 minutes for 99490 in 2026-03"]


def test_preferred_channel_follows_the_patient_and_keeps_sms_generic(carecore_pm):
    from carecore.model import CarePlanRevised, ContactPreferences

    rule = NotificationRule(
        id="plan",
        event="CarePlanRevised",
        channel="preferred",
        recipient="{patient_id}",
        subject="Care plan version {version}",
        body="Details.",
        audience="patient",
    )
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=[rule]
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(ContactPreferences(patient_id="p1", channels=("email", "sms"), opted_out={"email"}))
    with program.transaction("revise") as tx:
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=2)
        )
    with program.transaction("check") as tx:
        (item,) = tx.outbox()
    assert (item.message.channel, item.message.body) == (
        "sms",
        GENERIC_SMS,
    )  # email opted out; SMS without details


def test_a_failing_observer_does_not_keep_others_from_hearing(carecore_pm, observer):
    from carecore.model import CarePlanRevised

    class Broken:
        @hookimpl
        def carecore_on_event(self, event):
            raise RuntimeError("observer down")

    carecore_pm.register(Broken())
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), plugin_manager=carecore_pm, rules=[]
    )
    with program.transaction("x") as tx:
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=2)
        )
    assert observer.seen == ["CarePlanRevised:cp1:2"]


def test_rule_audience_and_extras_are_checked_when_written():
    with pytest.raises(errors.InvalidValue) as audience:
        NotificationRule(
            id="r", event="X", channel="c", recipient="r", subject="s", audience="Patient"
        )
    assert audience.value.field == "audience"
    with pytest.raises(errors.InvalidValue) as extra:
        NotificationRule(
            id="r", event="X", channel="c", recipient="r", subject="s", extra=[("phone",)]
        )
    assert extra.value.field == "extra[0]"
