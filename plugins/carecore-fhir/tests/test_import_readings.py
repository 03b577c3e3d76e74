"""Imported Observations go through the program's reading check, as a recorded home reading does.

A blood pressure read from a FHIR bundle that is in the red zone of the
patient's symptom action plan raises the same urgent finding as
``CareProgram.record_reading``: stored with the reading, a message queued in
the import's transaction, and the reading on top of the care manager's
worklist until acknowledged.
"""

from __future__ import annotations

import json

import attrs
import pendulum
from carecore_fhir import import_bundle
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.clock import FixedClock
from carecore.model import (
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Comparator,
    Observation,
    ReadingLimit,
)
from carecore.service import CareProgram
from carecore.testing.records import blood_pressure_plan

NOW = pendulum.datetime(2026, 3, 4, 12, tz="UTC")
PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "gender": "female",
    "birthDate": "1950-03-01",
    "name": [{"family": "Okafor", "given": ["Ada"]}],
}


def _pressure(rid, systolic, diastolic=88):
    def part(code, value):
        return {
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": "mm[Hg]", "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-04T08:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
        "component": [part("8480-6", systolic), part("8462-4", diastolic)],
    }


def _bundle(*resources):
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
        }
    )


def _plan():
    return blood_pressure_plan()


def _setup(program, plan=None):
    assert import_bundle(program, _bundle(PATIENT), source="patients").refused == ()
    with program.transaction("setup") as tx:
        manager = CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)
        tx.add(CareTeam(id="t1", patient_id="p1", members=[manager]))
        tx.add(plan or _plan())


def _outbox(program):
    with program.transaction("read") as tx:
        return [i.message for i in tx.outbox()]


def _urgent(program):
    lists = program.worklists(time_zone="UTC", on=pendulum.Date(2026, 3, 4))
    items = lists["rn-park"].items if "rn-park" in lists else ()
    return [i.detail for i in items if i.kind == "urgent-reading"]


def test_an_imported_red_zone_reading_alerts_and_tops_the_worklist(program):
    _setup(program)
    report = import_bundle(
        program, _bundle(_pressure("bp1", 186), _pressure("bp2", 132)), source="cuff"
    )
    assert {o.status for o in report.outcomes} == {"imported"}
    with program.transaction("read") as tx:
        red = tx.get(Observation, "bp1-8480-6")
        fine = tx.get(Observation, "bp2-8480-6")
    assert red.findings == ("red-zone",)
    assert fine.findings == ()
    (message,) = _outbox(program)
    assert (message.recipient, message.subject) == ("rn-park", "Urgent: red-zone for p1")
    assert "bp1-8480-6" in message.body
    assert _urgent(program) == [
        "red-zone: Systolic blood pressure 186 mm[Hg] on 2026-03-04 (bp1-8480-6)"
    ]
    program.acknowledge_finding("bp1-8480-6")
    assert _urgent(program) == []


def test_importing_the_reading_again_alerts_once_and_keeps_the_acknowledgement(program):
    _setup(program)
    import_bundle(program, _bundle(_pressure("bp1", 186)), source="first")
    program.acknowledge_finding("bp1-8480-6")
    again = import_bundle(program, _bundle(_pressure("bp1", 186)), source="again")
    assert {o.status for o in again.outcomes} == {"unchanged"}
    # The source changes the diastolic value: the reading is updated, its
    # findings and their acknowledgement stay as carecore recorded them.
    changed = import_bundle(program, _bundle(_pressure("bp1", 186, 92)), source="changed")
    assert {o.status for o in changed.outcomes} == {"updated"}
    with program.transaction("read") as tx:
        stored = tx.get(Observation, "bp1-8480-6")
        diastolic = tx.get(Observation, "bp1-8462-4")
    assert (stored.findings, stored.acknowledged_by) == (("red-zone",), "fhir-test")
    assert diastolic.value == 92
    assert len(_outbox(program)) == 1
    assert _urgent(program) == []


def test_a_corrected_reading_is_checked_again(program):
    _setup(program)
    import_bundle(program, _bundle(_pressure("bp1", 150)), source="first")
    assert _outbox(program) == []
    # The source corrects the systolic value into the red zone: raised like a new reading.
    up = import_bundle(program, _bundle(_pressure("bp1", 186)), source="corrected")
    assert {o.status for o in up.outcomes} == {"updated"}
    (message,) = _outbox(program)
    assert message.subject == "Urgent: red-zone for p1"
    assert _urgent(program) == [
        "red-zone: Systolic blood pressure 186 mm[Hg] on 2026-03-04 (bp1-8480-6)"
    ]
    # Corrected back before anyone acknowledged it: the item closes itself.
    down = import_bundle(program, _bundle(_pressure("bp1", 140)), source="corrected again")
    assert {o.status for o in down.outcomes} == {"updated"}
    assert _urgent(program) == []
    lists = program.worklists(time_zone="UTC", on=pendulum.Date(2026, 3, 4))
    (gone,) = lists["rn-park"].closed
    assert gone.item.kind == "urgent-reading"
    assert gone.reason.startswith("corrected by the source on ")
    with program.transaction("read") as tx:
        assert tx.get(Observation, "bp1-8480-6").value == 140


def test_a_bundle_of_last_years_readings_alerts_no_one(program):
    _setup(program)
    old = _pressure("bp0", 200) | {"effectiveDateTime": "2025-03-04T08:00:00Z"}
    report = import_bundle(program, _bundle(old, _pressure("bp1", 186)), source="history")
    assert {o.status for o in report.outcomes} == {"imported"}
    with program.transaction("read") as tx:
        assert tx.get(Observation, "bp0-8480-6").findings == ()  # history
        assert tx.get(Observation, "bp1-8480-6").findings == ("red-zone",)
    (message,) = _outbox(program)
    assert "bp1-8480-6" in message.body


def test_a_reading_whose_patient_is_unknown_is_refused_and_the_others_import(program):
    _setup(program)
    stranger = _pressure("bp9", 200) | {"subject": {"reference": "Patient/p404"}}
    report = import_bundle(program, _bundle(_pressure("bp1", 186), stranger), source="mixed")
    assert sorted(o.status for o in report.outcomes) == ["imported", "refused"]
    assert len(_outbox(program)) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    systolic=st.integers(90, 240),
    limit=st.integers(120, 220),
    comparator=st.sampled_from([Comparator.GE, Comparator.GT]),
    weight=st.decimals(min_value=60, max_value=130, places=1),
    threshold=st.decimals(min_value=70, max_value=120, places=1),
)
def test_an_import_finds_what_record_reading_finds(
    *, systolic, limit, comparator, weight, threshold
):
    """The two ways in agree: a FHIR import and record_reading store the same findings and alerts."""
    plan = _plan()
    (zones,) = plan.symptom_plans
    red = attrs.evolve(zones.red.limits[0], comparator=comparator, value=limit)
    alert = ReadingLimit(
        measure="Body weight",
        loinc="29463-7",
        comparator=Comparator.GE,
        value=threshold,
        unit="kg",
    )
    zones = attrs.evolve(zones, red=attrs.evolve(zones.red, limits=[red]), alerts=[alert])
    plan = attrs.evolve(plan, symptom_plans=[zones])
    scale = {
        "resourceType": "Observation",
        "id": "w1",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-03-04T08:00:00Z",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "valueQuantity": {"value": float(weight), "unit": "kg"},
    }
    seen = []
    for way in ("import", "record"):
        program = CareProgram.open("memory://", actor="t", clock=FixedClock(NOW))
        _setup(program, plan)
        if way == "import":
            import_bundle(program, _bundle(_pressure("bp1", systolic), scale), source="property")
        else:
            program.record_readings(
                [
                    Observation(
                        id="bp1-8480-6",
                        patient_id="p1",
                        measure="Systolic blood pressure",
                        loinc="8480-6",
                        value=systolic,
                        unit="mm[Hg]",
                        on=pendulum.Date(2026, 3, 4),
                    ),
                    Observation(
                        id="w1",
                        patient_id="p1",
                        measure="Body weight",
                        loinc="29463-7",
                        value=weight,
                        unit="kg",
                        on=pendulum.Date(2026, 3, 4),
                    ),
                ]
            )
        with program.transaction("read") as tx:
            found = {o.id: o.findings for o in tx.find(Observation, patient_id="p1")}
            sent = sorted(i.message.subject for i in tx.outbox())
        seen.append((found["bp1-8480-6"], found["w1"], sent, _urgent(program)))
        program.close()
    assert seen[0] == seen[1]
    assert ("red-zone" in seen[0][0]) == (
        systolic >= limit if comparator is Comparator.GE else systolic > limit
    )
    assert ("alert-threshold" in seen[0][1]) == (weight >= threshold)
