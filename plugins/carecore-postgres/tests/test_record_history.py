"""Kinds without versions keep the values replaces and deletes end, on PostgreSQL (schema 18)."""

from __future__ import annotations

import attrs
import psycopg
from carecore_postgres.store import PostgresStore

from carecore.model import Patient, TimeEntry
from carecore.storage import SCHEMA_VERSION
from carecore.testing._store_contract import AT, PID, make_patient, make_time_entry


def test_migration_18_then_a_replace_and_a_delete_keep_the_earlier_values(postgres_url):
    old = PostgresStore(postgres_url)
    old.migrate(target=17)
    old._ready = True  # write as a schema-17 carecore would have
    with old.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
        tx.add(make_time_entry(1))
    old.close()
    store = PostgresStore(postgres_url)
    try:
        assert store.migrate() == list(range(18, SCHEMA_VERSION + 1))
        renamed = attrs.evolve(make_patient(), given_name="Ana")
        with store.transaction(actor="rn:ana", reason="new name", at=AT) as tx:
            tx.replace(renamed)
        with store.transaction(actor="rn:bo", reason="entered in error", at=AT) as tx:
            tx.delete(TimeEntry, "te-1")
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.history(Patient, PID) == [make_patient(), renamed]
            assert tx.history(TimeEntry, "te-1") == [make_time_entry(1)]
        assert store.check().ok
    finally:
        store.close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT kind, key, patient_id, actor, reason, change FROM record_history ORDER BY seq"
        ).fetchall()
    assert rows == [
        ("Patient", PID, PID, "rn:ana", "new name", "update"),
        ("TimeEntry", "te-1", PID, "rn:bo", "entered in error", "delete"),
    ]
