"""Kinds without versions keep the values replaces and deletes end (schema 18, issue 20)."""

from __future__ import annotations

import sqlite3

import attrs
import pytest

from carecore import errors
from carecore.model import Patient, TimeEntry
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, PID, make_patient, make_time_entry


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'h.db'}"


@pytest.fixture
def store(url):
    store = open_store(url)
    store.initialize()
    with store.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
    yield store
    store.close()


def _rows(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT kind, key, patient_id, ended_at, actor, reason, change FROM record_history "
            "ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()


def test_a_replace_and_a_delete_keep_who_ended_the_value_when_and_why(store, tmp_path):
    moved = make_patient()
    with store.transaction(actor="rn:ana", reason="new address", at=AT) as tx:
        tx.replace(attrs.evolve(moved, family_name="Lopez-Garcia"))
        tx.add(make_time_entry(1))
    with store.transaction(actor="rn:bo", reason="entered in error", at=AT.add(days=1)) as tx:
        tx.delete(TimeEntry, "te-1")
    assert _rows(tmp_path / "h.db") == [
        ("Patient", PID, PID, AT.isoformat(), "rn:ana", "new address", "update"),
        (
            "TimeEntry",
            "te-1",
            PID,
            AT.add(days=1).isoformat(),
            "rn:bo",
            "entered in error",
            "delete",
        ),
    ]
    with store.transaction(actor="t", reason="who changed it", at=AT) as tx:
        assert tx.history(Patient, PID) == [moved, attrs.evolve(moved, family_name="Lopez-Garcia")]
        assert tx.history(TimeEntry, "te-1") == [make_time_entry(1)]
        with pytest.raises(errors.NotFound):
            tx.history(TimeEntry, "te-2")


def test_a_rolled_back_replace_keeps_no_earlier_value(store, tmp_path):
    def replace_then_fail():
        with store.transaction(actor="t", reason="fails", at=AT) as tx:
            tx.replace(attrs.evolve(make_patient(), family_name="Other"))
            tx.get(TimeEntry, "te-missing")

    with pytest.raises(errors.NotFound):
        replace_then_fail()
    assert _rows(tmp_path / "h.db") == []
    with store.transaction(actor="t", reason="read", at=AT) as tx:
        assert tx.history(Patient, PID) == [make_patient()]


def test_a_replace_of_a_missing_record_is_not_found_and_keeps_nothing(store, tmp_path):
    with (
        pytest.raises(errors.NotFound),
        store.transaction(actor="t", reason="fails", at=AT) as tx,
    ):
        tx.replace(make_time_entry(9))
    assert _rows(tmp_path / "h.db") == []


def test_migration_18_adds_the_history_to_a_store_of_schema_17(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=17)
    old._ready = True  # write as a schema-17 carecore would have
    with old.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
    old._ready = False
    assert old.migrate(target=18) == [18]
    old.close()
    store = open_store(url)
    try:
        store.migrate()
        store.initialize()
        assert store.schema_version() == SCHEMA_VERSION
        with store.transaction(actor="t", reason="fix", at=AT) as tx:
            tx.replace(attrs.evolve(make_patient(), given_name="Ana"))
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.history(Patient, PID) == [
                make_patient(),
                attrs.evolve(make_patient(), given_name="Ana"),
            ]
        assert store.check().ok
    finally:
        store.close()
