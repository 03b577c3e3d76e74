"""Schema 19: a reading keeps its urgent findings and their acknowledgement.

Migration 19 adds the observations' ``findings``, ``acknowledged_by`` and
``acknowledged_at`` columns, and gives assessment results the acknowledgement
columns when their table lacks them (a store created before they existed).
"""

from __future__ import annotations

import sqlite3

import pendulum

from carecore.model import AssessmentResult, Observation
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, make_patient

DAY = pendulum.Date(2026, 3, 4)


def _reading(reading_id, **more):
    return Observation(
        id=reading_id,
        patient_id="contract-patient",
        measure="Systolic blood pressure",
        loinc="8480-6",
        value="186",
        unit="mm[Hg]",
        on=DAY,
        **more,
    )


def _columns(path, table):
    conn = sqlite3.connect(path)
    try:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    finally:
        conn.close()


def _schema_18(path, *, drop_assessment_acknowledgement=False):
    """A schema-18 store holding a patient and a reading written before schema 19."""
    old = SqliteStore(f"sqlite:///{path}")
    old.migrate(target=18)
    old.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert "findings" not in {r[1] for r in conn.execute("PRAGMA table_info(observations)")}
        if drop_assessment_acknowledgement:
            for column in ("acknowledged_by", "acknowledged_at"):
                conn.execute(f"ALTER TABLE assessment_results DROP COLUMN {column}")
    finally:
        conn.close()
    old = SqliteStore(f"sqlite:///{path}")
    old._ready = True  # write as a schema-18 carecore would have
    with old.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
    old.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            'INSERT INTO observations (id, patient_id, measure, value, unit, "on", loinc) '
            "VALUES ('o-old', 'contract-patient', 'Systolic blood pressure', '150', 'mm[Hg]', "
            "'2026-03-01', '8480-6')"
        )
    finally:
        conn.close()


def test_a_reading_round_trips_its_findings_and_acknowledgement(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    store.initialize()
    try:
        with store.transaction(actor="t", reason="setup", at=AT) as tx:
            tx.add(make_patient())
            tx.add(_reading("o1", findings=("red-zone", "alert-threshold")))
        with store.transaction(actor="t", reason="ack", at=AT) as tx:
            tx.replace(
                _reading("o1", findings=("red-zone",), acknowledged_by="rn", acknowledged_at=AT)
            )
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            stored = tx.get(Observation, "o1")
    finally:
        store.close()
    assert stored.findings == ("red-zone",)
    assert (stored.acknowledged_by, stored.acknowledged_at) == ("rn", AT)


def test_migration_19_keeps_the_readings_stored_before(tmp_path):
    path = tmp_path / "old.db"
    _schema_18(path)
    store = SqliteStore(f"sqlite:///{path}")
    try:
        assert store.migrate() == list(range(19, SCHEMA_VERSION + 1))
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            before = tx.get(Observation, "o-old")
            tx.add(_reading("o-new", findings=("red-zone",)))
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            after = tx.get(Observation, "o-new")
    finally:
        store.close()
    assert (before.findings, before.acknowledged_by, before.acknowledged_at) == ((), None, None)
    assert after.findings == ("red-zone",)


def test_migration_19_gives_old_assessment_results_their_acknowledgement(tmp_path):
    path = tmp_path / "old.db"
    _schema_18(path, drop_assessment_acknowledgement=True)
    assert "acknowledged_by" not in _columns(path, "assessment_results")
    store = SqliteStore(f"sqlite:///{path}")
    result = AssessmentResult(
        id="r1",
        patient_id="contract-patient",
        instrument_id="phq-9",
        on=DAY,
        answers=(),
        flags=("suicidal-ideation",),
        acknowledged_by="rn",
        acknowledged_at=AT,
    )
    try:
        store.migrate()
        with store.transaction(actor="t", reason="add", at=AT) as tx:
            tx.add(result)
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.get(AssessmentResult, "r1") == result
    finally:
        store.close()
    assert {"acknowledged_by", "acknowledged_at"} <= _columns(path, "assessment_results")


def test_migration_19_leaves_assessment_results_that_have_the_columns(tmp_path):
    path = tmp_path / "old.db"
    _schema_18(path)
    assert "acknowledged_by" in _columns(path, "assessment_results")
    store = SqliteStore(f"sqlite:///{path}")
    try:
        assert store.migrate() == list(range(19, SCHEMA_VERSION + 1))
    finally:
        store.close()
    assert _columns(path, "observations") >= {"findings", "acknowledged_by", "acknowledged_at"}
