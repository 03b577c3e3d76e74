"""A home reading in the red zone, or past an alert threshold, tells the care manager in its transaction."""

from __future__ import annotations

import attrs
import pendulum
import pytest

from carecore import audit, errors
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    CarePlan,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Comparator,
    InterventionKind,
    Observation,
    Patient,
    ReadingLimit,
    Task,
)
from carecore.registry import priority
from carecore.service import CareProgram
from carecore.testing.records import blood_pressure_plan, blood_pressure_zones, systolic_limit

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")


def systolic(limit):
    return systolic_limit(limit)


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path, carecore_pm):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    program = CareProgram.open(url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm)
    zones = blood_pressure_zones(
        alerts=[
            ReadingLimit(
                measure="Body weight",
                loinc="29463-7",
                comparator=Comparator.GE,
                value="95",
                unit="kg",
            )
        ],
    )
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        )
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)],
            )
        )
        tx.add(blood_pressure_plan(zones=zones))
    yield program
    program.close()


def cuff(reading_id, value):
    return Observation(
        id=reading_id,
        patient_id="p1",
        measure="Systolic blood pressure",
        loinc="8480-6",
        value=value,
        unit="mm[Hg]",
        on=pendulum.Date(2026, 3, 4),
    )


def outbox(program):
    with program.transaction("read") as tx:
        return [i.message for i in tx.outbox()]


def test_the_stored_plan_keeps_its_limits(program):
    with program.transaction("read") as tx:
        (zones,) = tx.get(CarePlan, "cp1").symptom_plans
    assert zones.red.limits == (systolic("180"),)
    assert zones.alerts[0].unit == "kg"


def test_a_red_zone_reading_queues_a_message_to_the_care_manager(program):
    assert program.record_reading(cuff("o0", "179")) == ()
    assert outbox(program) == []
    assert program.record_reading(cuff("o1", "180")) == ("red-zone",)
    (message,) = outbox(program)
    assert (message.channel, message.recipient) == ("console", "rn-park")
    assert message.subject == "Urgent: red-zone for p1"
    assert "o1" in message.body
    assert "Okafor" not in message.subject + message.body  # ids only
    with program.transaction("read") as tx:
        assert tx.get(Observation, "o1").value == 180  # stored as well


def test_a_reading_past_an_alert_threshold_queues_a_message(program):
    scale = Observation(
        id="w1",
        patient_id="p1",
        measure="Body weight",
        loinc="29463-7",
        value="95.2",
        unit="kg",
        on=pendulum.Date(2026, 3, 4),
    )
    assert program.record_reading(scale) == ("alert-threshold",)
    (message,) = outbox(program)
    assert message.subject == "Urgent: alert-threshold for p1"


def test_a_failed_write_queues_no_alert(program):
    program.record_reading(cuff("o1", "190"))
    with pytest.raises(errors.ConflictError):
        program.record_reading(cuff("o1", "200"))  # the same id again
    assert len(outbox(program)) == 1  # the first one's only


def test_a_reading_for_an_unknown_patient_is_refused(program):
    other = Observation(
        id="x1",
        patient_id="p9",
        measure="Systolic blood pressure",
        value="200",
        unit="mm[Hg]",
        on=pendulum.Date(2026, 3, 4),
    )
    with pytest.raises(errors.NotFound):
        program.record_reading(other)
    assert outbox(program) == []


def _urgent_items(program, owner="rn-park"):
    lists = program.worklists(time_zone="America/Chicago", on=pendulum.Date(2026, 3, 4))
    return list(lists[owner].items) if owner in lists else []


def test_the_reading_is_stored_with_its_findings(program):
    program.record_reading(cuff("o0", "150"))
    program.record_reading(cuff("o1", "186"))
    with program.transaction("read") as tx:
        assert tx.get(Observation, "o0").findings == ()
        stored = tx.get(Observation, "o1")
    assert stored.findings == ("red-zone",)
    assert stored.acknowledged_by is None


def test_a_red_zone_reading_tops_the_worklist_until_acknowledged(program):
    overdue = Task(
        id="k1",
        description="Review the home blood-pressure log",
        owner="rn-park",
        kind=InterventionKind.MONITORING,
        due=pendulum.Date(2026, 2, 20),
    )
    program.revise_care_plan(
        "cp1", lambda plan: attrs.evolve(plan, tasks=(overdue,)), reason="add a task"
    )
    program.record_reading(cuff("o0", "150"))  # in range: not on the list
    program.record_reading(cuff("o1", "186"))
    first, *rest = _urgent_items(program)
    assert (first.kind, first.patient_id) == ("urgent-reading", "p1")
    assert first.detail == "red-zone: Systolic blood pressure 186 mm[Hg] on 2026-03-04 (o1)"
    assert priority(first, pendulum.Date(2026, 3, 4)) == "urgent"
    assert [i.kind for i in rest] == ["task"]  # the overdue task comes after it
    done = program.acknowledge_finding("o1")
    assert (done.acknowledged_by, done.acknowledged_at) == ("rn", NOW)
    assert [i.kind for i in _urgent_items(program)] == ["task"]
    with program.transaction("check") as tx:
        assert tx.get(Observation, "o1").acknowledged_by == "rn"
        trail = audit.entries(tx, patient_id="p1")
    assert any(
        (e.actor, e.action, e.kind, e.key, e.reason)
        == ("rn", "update", "Observation", "o1", "urgent finding acknowledged")
        for e in trail
    ), [(e.action, e.kind, e.key) for e in trail]


def test_a_reading_is_acknowledged_once_and_only_with_a_finding(program):
    program.record_reading(cuff("o0", "150"))
    program.record_reading(cuff("o1", "186"))
    with pytest.raises(errors.InvalidValue, match="no urgent finding") as nothing:
        program.acknowledge_finding("o0")
    assert nothing.value.field == "result_id"
    program.acknowledge_finding("o1")
    with pytest.raises(errors.InvalidValue, match="acknowledged already by rn"):
        program.acknowledge_finding("o1")
    with pytest.raises(errors.NotFound, match="no assessment result or reading") as unknown:
        program.acknowledge_finding("o404")
    assert unknown.value.value == "o404"


def test_findings_given_with_a_reading_are_decided_again(program):
    claimed = attrs.evolve(cuff("o1", "120"), findings=("red-zone",))
    assert program.record_reading(claimed) == ()
    assert _urgent_items(program) == []


def test_a_reading_given_acknowledged_is_refused_and_nothing_is_stored(program):
    given = attrs.evolve(cuff("o1", "190"), acknowledged_by="rn", acknowledged_at=NOW)
    with pytest.raises(errors.InvalidValue) as refused:
        program.record_reading(given)
    assert refused.value.field == "acknowledged_by"
    with program.transaction("read") as tx:
        assert tx.find(Observation, patient_id="p1") == []
    assert outbox(program) == []


def test_readings_recorded_together_fail_together(program):
    with pytest.raises(errors.NotFound):
        program.record_readings(
            [cuff("o1", "190"), attrs.evolve(cuff("o2", "200"), patient_id="p9")]
        )
    with program.transaction("read") as tx:
        assert tx.find(Observation, patient_id="p1") == []
    assert outbox(program) == []
    stored = program.record_readings([cuff("o1", "190"), cuff("o2", "120")])
    assert [o.findings for o in stored] == [("red-zone",), ()]
    assert len(outbox(program)) == 1
