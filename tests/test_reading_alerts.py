"""A home reading in the red zone, or past an alert threshold, tells the care manager in its transaction."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    CarePlan,
    CarePlanStatus,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Comparator,
    Observation,
    Patient,
    ReadingLimit,
    ServiceFamily,
    SymptomActionPlan,
    ZoneAction,
)
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")


def systolic(limit):
    return ReadingLimit(
        measure="Systolic blood pressure",
        loinc="8480-6",
        comparator=Comparator.GE,
        value=limit,
        unit="mm[Hg]",
    )


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path, carecore_pm):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    program = CareProgram.open(url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm)
    zones = SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep taking your medicines"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(signs=["180 or above"], actions=["call now"], limits=[systolic("180")]),
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
        tx.add(
            CarePlan(
                id="cp1",
                patient_id="p1",
                title="Plan",
                families={ServiceFamily.CCM},
                created_on=pendulum.Date(2026, 3, 1),
                status=CarePlanStatus.ACTIVE,
                symptom_plans=[zones],
            )
        )
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
