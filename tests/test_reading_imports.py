"""Home readings stored by an import, or corrected by their source, get the same check as a recorded one.

:meth:`CareProgram.import_records` stores new Observations through the
program's reading path (findings, ``UrgentFinding``, the care manager's
message, in the import's transaction), except readings too old to act on;
:meth:`CareProgram.correct_readings` checks a corrected value again.
"""

from __future__ import annotations

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    Credential,
    Observation,
    Patient,
    Practitioner,
    ReadingLimit,
    ServiceFamily,
    SymptomActionPlan,
    ZoneAction,
)
from carecore.service import READING_ALERT_DAYS, CareProgram, ImportRefusal

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")
TODAY = pendulum.Date(2026, 3, 4)


def _limit(measure, loinc, value, unit):
    return ReadingLimit(
        measure=measure, loinc=loinc, comparator=Comparator.GE, value=value, unit=unit
    )


def _patient(pid):
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )


def _team(pid):
    return CareTeam(
        id=f"t-{pid}",
        patient_id=pid,
        members=[CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)],
    )


def _plan(pid):
    """Red zone at systolic 180; an alert threshold at systolic 170 and at weight 95 kg."""
    zones = SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep taking your medicines"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(
            signs=["180 or above"],
            actions=["call now"],
            limits=[_limit("Systolic blood pressure", "8480-6", "180", "mm[Hg]")],
        ),
        alerts=[
            _limit("Systolic blood pressure", "8480-6", "170", "mm[Hg]"),
            _limit("Body weight", "29463-7", "95", "kg"),
        ],
    )
    return CarePlan(
        id=f"cp-{pid}",
        patient_id=pid,
        title="Plan",
        families={ServiceFamily.CCM},
        created_on=pendulum.Date(2026, 3, 1),
        status=CarePlanStatus.ACTIVE,
        symptom_plans=[zones],
    )


def cuff(reading_id, value, *, pid="p1", on=TODAY):
    return Observation(
        id=reading_id,
        patient_id=pid,
        measure="Systolic blood pressure",
        loinc="8480-6",
        value=value,
        unit="mm[Hg]",
        on=on,
    )


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path, carecore_pm):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'r.db'}"
    program = CareProgram.open(url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm)
    with program.transaction("setup") as tx:
        tx.add(_patient("p1"))
        tx.add(_team("p1"))
        tx.add(_plan("p1"))
    yield program
    program.close()


def outbox(program):
    with program.transaction("read") as tx:
        return sorted((i.message.subject, i.message.body) for i in tx.outbox())


def stored(program, reading_id):
    with program.transaction("read") as tx:
        return tx.get(Observation, reading_id)


def lists(program):
    return program.worklists(time_zone="America/Chicago", on=TODAY)


def urgent(program, owner="rn-park"):
    mine = lists(program).get(owner)
    return [i.detail for i in mine.items if i.kind == "urgent-reading"] if mine else []


def closed(program, owner="rn-park"):
    mine = lists(program).get(owner)
    return [(c.item.detail, c.reason) for c in mine.closed] if mine else []


# -- imports -------------------------------------------------------------------------


def test_readings_imported_alone_are_checked_in_the_import(program):
    result = program.import_records([cuff("o1", "186"), cuff("o2", "150")], reason="device sync")
    assert (result.added, result.skipped) == (2, 0)
    assert stored(program, "o1").findings == ("red-zone", "alert-threshold")
    assert stored(program, "o2").findings == ()
    subjects = [s for s, _ in outbox(program)]
    assert subjects == ["Urgent: alert-threshold for p1", "Urgent: red-zone for p1"]
    assert sorted(d.split(":")[0] for d in urgent(program)) == ["alert-threshold", "red-zone"]
    assert all("Systolic blood pressure 186 mm[Hg]" in d for d in urgent(program))


def test_a_reading_imported_again_is_skipped_and_alerts_once(program):
    program.import_records([cuff("o1", "186")], reason="device sync")
    again = program.import_records([cuff("o1", "186")], reason="device sync")
    assert (again.added, again.skipped) == (1 - 1, 1)
    assert len(outbox(program)) == 2  # red zone and alert threshold, once


def test_a_mixed_import_checks_readings_against_the_plan_it_brings(program):
    records = [
        Practitioner(id="rn-park", name="Pat Park", credential=Credential.RN),
        _patient("p2"),
        cuff("o9", "190", pid="p2"),  # given before its plan: stored after it
        _team("p2"),
        _plan("p2"),
    ]
    result = program.import_records(records, reason="EHR load")
    assert (result.kind, result.added) == ("mixed", 5)
    assert stored(program, "o9").findings == ("red-zone", "alert-threshold")
    assert [s for s, _ in outbox(program)] == [
        "Urgent: alert-threshold for p2",
        "Urgent: red-zone for p2",
    ]


def test_a_patient_refused_in_a_mixed_import_queues_no_alert(program):
    refused: list[ImportRefusal] = []
    bad_team = attrs.evolve(_team("p3"), id="t-p1")  # the id of p1's stored team: a conflict
    records = [
        _patient("p2"),
        _plan("p2"),
        cuff("o9", "190", pid="p2"),
        _patient("p3"),
        _plan("p3"),
        cuff("o8", "190", pid="p3"),
        bad_team,
    ]
    program.import_records(records, reason="EHR load", refused=refused)
    assert [r.where for r in refused] == ["patient p3"]
    with program.transaction("read") as tx:
        assert tx.find(Observation, patient_id="p3") == []
    assert [s for s, _ in outbox(program)] == [
        "Urgent: alert-threshold for p2",
        "Urgent: red-zone for p2",
    ]


def test_readings_older_than_the_alert_window_are_stored_as_history(program):
    last_year = cuff("old", "200", on=TODAY.subtract(years=1))
    edge = cuff("edge", "200", on=TODAY.subtract(days=READING_ALERT_DAYS))
    past = cuff("past", "200", on=TODAY.subtract(days=READING_ALERT_DAYS + 1))
    program.import_records([last_year, edge, past], reason="backfill")
    assert stored(program, "old").findings == ()
    assert stored(program, "past").findings == ()
    assert stored(program, "edge").findings == ("red-zone", "alert-threshold")
    bodies = [b for _, b in outbox(program)]
    assert len(bodies) == 2
    assert all("edge" in b for b in bodies)


def test_an_import_can_store_readings_without_the_check(program):
    program.import_records([cuff("o1", "200")], reason="backfill", check_readings=False)
    assert stored(program, "o1").findings == ()
    assert outbox(program) == []
    with pytest.raises(errors.InvalidValue) as bad:
        program.import_records([cuff("o2", "120")], reason="x", check_readings="no")
    assert bad.value.field == "check_readings"


def test_findings_given_to_an_import_are_decided_again(program):
    claimed = attrs.evolve(cuff("o1", "120"), findings=("red-zone",))
    program.import_records([claimed], reason="device sync")
    assert stored(program, "o1").findings == ()
    assert outbox(program) == []


# -- corrections by the source -------------------------------------------------------


def test_a_correction_that_adds_a_finding_raises_it_like_a_new_one(program):
    program.record_reading(cuff("o1", "150"))
    assert outbox(program) == []
    (done,) = program.correct_readings([cuff("o1", "186")])
    assert done.findings == ("red-zone", "alert-threshold")
    assert stored(program, "o1") == done
    assert [s for s, _ in outbox(program)] == [
        "Urgent: alert-threshold for p1",
        "Urgent: red-zone for p1",
    ]
    assert sorted(d.split(":")[0] for d in urgent(program)) == ["alert-threshold", "red-zone"]


def test_a_correction_reaching_a_further_limit_raises_only_that_one(program):
    program.record_reading(cuff("o1", "175"))  # alert threshold only
    program.acknowledge_finding("o1")
    (done,) = program.correct_readings([cuff("o1", "186")])
    subjects = [s for s, _ in outbox(program)]
    assert subjects.count("Urgent: alert-threshold for p1") == 1  # not raised again
    assert subjects.count("Urgent: red-zone for p1") == 1
    assert done.acknowledged_by is None  # nobody has seen the red zone yet
    assert len(urgent(program)) == 2


def test_a_correction_that_removes_an_unacknowledged_finding_closes_the_item(program):
    program.record_reading(cuff("o1", "186"))
    assert len(urgent(program)) == 2
    (done,) = program.correct_readings([cuff("o1", "150")])
    assert done.value == 150
    assert urgent(program) == []
    gone = closed(program)
    assert len(gone) == 2
    assert all("corrected by the source" in reason for _, reason in gone)
    assert all("(o1)" in detail for detail, _ in gone)
    with pytest.raises(errors.InvalidValue, match="acknowledged already"):
        program.acknowledge_finding("o1")
    later = program.worklists(time_zone="America/Chicago", on=TODAY.add(days=30))
    assert "rn-park" not in later or later["rn-park"].closed == ()


def test_a_correction_that_removes_an_acknowledged_finding_closes_nothing(program):
    program.record_reading(cuff("o1", "186"))
    program.acknowledge_finding("o1")
    before = len(outbox(program))
    (done,) = program.correct_readings([cuff("o1", "150")])
    assert done.findings == ()
    assert done.acknowledged_by == "rn"  # the acknowledgement stands
    assert urgent(program) == []
    assert closed(program) == []
    assert len(outbox(program)) == before


def test_a_correction_leaving_one_finding_keeps_the_reading_urgent(program):
    program.record_reading(cuff("o1", "186"))
    (done,) = program.correct_readings([cuff("o1", "175")])
    assert done.findings == ("alert-threshold",)
    assert [d.split(":")[0] for d in urgent(program)] == ["alert-threshold"]
    assert len(outbox(program)) == 2  # nothing new raised


def test_a_reading_corrected_back_up_is_raised_again(program):
    program.record_reading(cuff("o1", "186"))
    program.correct_readings([cuff("o1", "150")])
    (done,) = program.correct_readings([cuff("o1", "190")])
    assert done.findings == ("red-zone", "alert-threshold")
    assert done.acknowledged_by is None
    assert len(urgent(program)) == 2
    # Back on the worklist; the message went once (one alert per reading and finding).
    assert len(outbox(program)) == 2


def test_an_unchanged_correction_raises_nothing(program):
    program.record_reading(cuff("o1", "186"))
    program.correct_readings([cuff("o1", "186")])
    assert len(outbox(program)) == 2
    assert len(urgent(program)) == 2


def test_a_correction_of_an_unknown_reading_is_refused_and_stores_nothing(program):
    program.record_reading(cuff("o1", "150"))
    with pytest.raises(errors.NotFound) as missing:
        program.correct_readings([cuff("o1", "190"), cuff("o404", "120")])
    assert missing.value.value == "o404"
    assert stored(program, "o1").value == 150
    assert outbox(program) == []


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    systolic=st.integers(90, 240),
    days_ago=st.integers(0, READING_ALERT_DAYS),
    mixed=st.booleans(),
)
def test_an_import_finds_what_record_readings_finds(systolic, days_ago, mixed):
    """The two ways in agree: a recent reading imported and one recorded get the same findings and alerts."""
    results = []
    for way in ("record", "import"):
        program = CareProgram.open("memory://", clock=FixedClock(NOW), actor="rn")
        with program.transaction("setup") as tx:
            tx.add(_patient("p1"))
            tx.add(_team("p1"))
            tx.add(_plan("p1"))
        reading = cuff("o1", systolic, on=TODAY.subtract(days=days_ago))
        if way == "record":
            program.record_readings([reading])
        elif mixed:
            program.import_records([_patient("p2"), reading], reason="load")
        else:
            program.import_records([reading], reason="load")
        results.append((stored(program, "o1").findings, outbox(program)))
        program.close()
    assert results[0] == results[1]
