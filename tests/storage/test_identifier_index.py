"""Patients by identifier (schema 17): found through an index that follows every write.

The HL7 intake looks up the patients carrying a PID-3 identifier for each
message whose identifiers are not linked yet. The lookup read every stored
patient's identifiers (a LIKE over their JSON), so it grew with the practice.
"""

from __future__ import annotations

import sqlite3

import attrs
import pytest

from carecore.model import Identifier
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, make_patient


def _patient(patient_id, *pairs):
    return attrs.evolve(
        make_patient(patient_id),
        identifiers=tuple(Identifier(system=s, value=v) for s, v in pairs),
    )


def _lookup(store, system, value):
    with store.transaction(actor="t", reason="lookup", at=AT) as tx:
        return tx.patients_with_identifier(system, value)


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    yield store
    store.close()


def test_the_lookup_follows_every_way_a_patient_is_written(store):
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(_patient("p1", ("GEN", "1"), ("MERCY", "9")))
        tx.add(_patient("p3", ("GEN", "1")))  # two patients may carry one identifier
    store.bulk_add([_patient("p2", ("GEN", "2"))], actor="t", reason="load", at=AT)
    assert _lookup(store, "GEN", "1") == ["p1", "p3"]
    assert _lookup(store, "GEN", "2") == ["p2"]
    assert _lookup(store, "MERCY", "9") == ["p1"]
    assert _lookup(store, "MERCY", "1") == []  # the value under another authority
    with store.transaction(actor="t", reason="replace", at=AT) as tx:
        tx.replace(_patient("p1", ("GEN", "3")))
        tx.delete(type(make_patient()), "p2")
    assert _lookup(store, "GEN", "1") == ["p3"]
    assert _lookup(store, "GEN", "3") == ["p1"]
    assert _lookup(store, "MERCY", "9") == []
    assert _lookup(store, "GEN", "2") == []


def test_sqlite_reads_the_index_not_every_patient(tmp_path):
    store = SqliteStore(f"sqlite:///{tmp_path / 'p.db'}")
    store.initialize()
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        for n in range(20):
            tx.add(_patient(f"p{n}", ("GEN", str(n))))
    seen = []
    execute = store._execute

    def spy(cur, text, params=()):
        seen.append((text, tuple(params)))
        return execute(cur, text, params)

    store._execute = spy
    assert _lookup(store, "GEN", "7") == ["p7"]
    store._execute = execute
    (query,) = [(t, p) for t, p in seen if "identifiers" in t]
    conn = sqlite3.connect(tmp_path / "p.db")
    try:
        plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + query[0], query[1])]
    finally:
        conn.close()
        store.close()
    # Each table is searched by key; none is scanned.
    assert plan, plan
    assert all(step.startswith("SEARCH") for step in plan), plan


def test_migration_17_indexes_the_patients_stored_before(tmp_path):
    # A patient row as this carecore writes it, put into a schema-16 database.
    new = open_store(f"sqlite:///{tmp_path / 'new.db'}")
    new.initialize()
    with new.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(_patient("p1", ("GEN", "1"), ("MERCY", "9")))
    new.close()
    old = SqliteStore(f"sqlite:///{tmp_path / 'old.db'}")
    old.migrate(target=16)
    old.close()
    src = sqlite3.connect(tmp_path / "new.db")
    dst = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    try:
        (row,) = src.execute("SELECT * FROM patients").fetchall()
        names = [d[0] for d in src.execute("SELECT * FROM patients").description]
        dst.execute(
            f"INSERT INTO patients ({', '.join(names)}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
            row,
        )
    finally:
        src.close()
        dst.close()
    old = SqliteStore(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        assert old.migrate() == list(range(17, SCHEMA_VERSION + 1))
        assert _lookup(old, "MERCY", "9") == ["p1"]
        assert _lookup(old, "GEN", "1") == ["p1"]
    finally:
        old.close()


def test_a_bulk_load_counts_patients_not_the_index_rows_its_triggers_add(store):
    """The FHIR import printed 'Patient 63 new, -54 already stored' for 9 patients."""
    patients = [_patient(f"p{n}", ("GEN", str(n)), ("MERCY", str(n))) for n in range(3)]
    first = store.bulk_add(patients, actor="t", reason="load", at=AT)
    assert (first.added, first.skipped) == (3, 0)
    again = store.bulk_add(patients, actor="t", reason="load", at=AT)
    assert (again.added, again.skipped) == (0, 3)
