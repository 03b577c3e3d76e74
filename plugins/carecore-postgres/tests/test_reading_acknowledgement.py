"""Home readings on PostgreSQL (schema 19): findings stored, the reading tops the worklist
until acknowledged, the acknowledgement audited; migration 19 from a schema-18 database."""

from __future__ import annotations

import attrs
import pendulum
import psycopg

from carecore import audit
from carecore.clock import FixedClock
from carecore.model import (
    CORRECTED_BY_SOURCE,
    AssessmentResult,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Observation,
)
from carecore.service import CareProgram
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.testing._store_contract import AT, make_patient
from carecore.testing.records import blood_pressure_plan

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def _plan():
    return blood_pressure_plan()


def _kinds(program):
    lists = program.worklists(time_zone="UTC")
    return [i.kind for i in lists["rn-park"].items] if "rn-park" in lists else []


def test_a_red_zone_reading_on_postgres(postgres_url):
    with CareProgram.open(postgres_url, clock=FixedClock(NOW), actor="rn-park") as program:
        with program.transaction("setup") as tx:
            tx.add(make_patient("p1"))
            manager = CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)
            tx.add(CareTeam(id="t1", patient_id="p1", members=[manager]))
            tx.add(_plan())
        cuff = Observation(
            id="o1",
            patient_id="p1",
            measure="Systolic blood pressure",
            loinc="8480-6",
            value="186",
            unit="mm[Hg]",
            on=NOW.date(),
        )
        assert program.record_reading(cuff) == ("red-zone",)
        assert _kinds(program)[:1] == ["urgent-reading"]
        program.acknowledge_finding("o1")
    with CareProgram.open(postgres_url) as again:
        with again.transaction("check") as tx:
            stored = tx.get(Observation, "o1")
            trail = audit.entries(tx, patient_id="p1", actor="rn-park")
            (queued,) = tx.outbox()
        assert stored.findings == ("red-zone",)
        assert (stored.acknowledged_by, stored.acknowledged_at) == ("rn-park", NOW)
        assert ("update", "Observation", "o1") in {(e.action, e.kind, e.key) for e in trail}
        assert queued.message.subject == "Urgent: red-zone for p1"
        assert "urgent-reading" not in _kinds(again)


def test_imported_and_corrected_readings_on_postgres(postgres_url):
    """An import's reading is checked in its transaction; a correction taking it back closes it."""
    with CareProgram.open(postgres_url, clock=FixedClock(NOW), actor="rn-park") as program:
        manager = CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)
        cuff = Observation(
            id="o1",
            patient_id="p1",
            measure="Systolic blood pressure",
            loinc="8480-6",
            value="186",
            unit="mm[Hg]",
            on=NOW.date(),
        )
        team = CareTeam(id="t1", patient_id="p1", members=[manager])
        result = program.import_records([make_patient("p1"), team, cuff, _plan()], reason="load")
        assert result.added == 4
        assert _kinds(program)[:1] == ["urgent-reading"]
        (done,) = program.correct_readings([attrs.evolve(cuff, value="150")])
        assert done.acknowledged_by == CORRECTED_BY_SOURCE
    with CareProgram.open(postgres_url, clock=FixedClock(NOW)) as again:
        with again.transaction("check") as tx:
            stored = tx.get(Observation, "o1")
            (queued,) = tx.outbox()
        assert (stored.value, stored.findings) == (150, ("red-zone",))
        assert queued.message.subject == "Urgent: red-zone for p1"
        assert "urgent-reading" not in _kinds(again)
        (gone,) = again.worklists(time_zone="UTC")["rn-park"].closed
        assert gone.reason.startswith("corrected by the source on 2026-03-04")


def _columns(url, table):
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
        )
        return {r[0] for r in rows}


def test_migration_19_on_postgres(postgres_url):
    old = open_store(postgres_url)
    old.migrate(target=18)
    old.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        # A store created before assessment results had their acknowledgement columns.
        conn.execute("ALTER TABLE assessment_results DROP COLUMN acknowledged_by")
        conn.execute("ALTER TABLE assessment_results DROP COLUMN acknowledged_at")
    assert "findings" not in _columns(postgres_url, "observations")
    store = open_store(postgres_url)
    try:
        assert store.migrate() == list(range(19, SCHEMA_VERSION + 1))
        result = AssessmentResult(
            id="r1",
            patient_id="contract-patient",
            instrument_id="phq-9",
            on=NOW.date(),
            answers=(),
            flags=("suicidal-ideation",),
            acknowledged_by="rn",
            acknowledged_at=AT,
        )
        reading = Observation(
            id="o1",
            patient_id="contract-patient",
            measure="Body weight",
            value="96",
            unit="kg",
            on=NOW.date(),
            findings=("alert-threshold",),
        )
        with store.transaction(actor="t", reason="add", at=AT) as tx:
            tx.add(make_patient())
            tx.add(result)
            tx.add(reading)
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.get(AssessmentResult, "r1") == result
            assert tx.get(Observation, "o1") == reading
    finally:
        store.close()
