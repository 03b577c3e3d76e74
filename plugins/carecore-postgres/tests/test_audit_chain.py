"""The audit log's hash chain on PostgreSQL: concurrent writers keep one chain; tampering is named."""

from __future__ import annotations

import threading

import psycopg
import pytest
from carecore_postgres.store import PostgresStore

from carecore.storage import SCHEMA_VERSION, open_store
from carecore.testing._store_contract import AT, make_patient


def _fill(store, n=4, *, add=True):
    if add:
        with store.transaction(actor="nurse-1", reason="setup", at=AT) as tx:
            tx.add(make_patient())
    for i in range(n):
        with store.transaction(actor=f"reader-{i}", reason="visit", at=AT) as tx:
            tx.get(type(make_patient()), make_patient().id)


def _check(url):
    store = open_store(url)
    try:
        return store.check()
    finally:
        store.close()


def _shell(url, *statements):
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _seqs(url):
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]


@pytest.fixture
def url(postgres_url):
    store = open_store(postgres_url)
    store.initialize()
    _fill(store)
    store.close()
    return postgres_url


def test_an_untouched_log_checks_clean_after_concurrent_writers(url):
    def work():
        store = open_store(url)
        try:
            _fill(store, 10, add=False)
        finally:
            store.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = _check(url)
    assert report.ok, report.problems
    assert report.counts["audit"] == 1 + 4 + 40


def test_delete_update_and_trigger_drop_are_named(url):
    seqs = _seqs(url)
    _shell(url, "ALTER TABLE audit DISABLE TRIGGER audit_append_only")
    assert _check(url).problems == (
        "audit log: the protecting trigger audit_append_only is missing or disabled",
    )
    _shell(url, f"DELETE FROM audit WHERE seq = {seqs[1]}")  # noqa: S608 - the test tampers on purpose
    problems = _check(url).problems
    assert problems[1].startswith(f"audit row {seqs[2]}: chain broken"), problems
    _shell(url, f"UPDATE audit SET reason = 'other' WHERE seq = {seqs[0]}")  # noqa: S608 - the test tampers on purpose
    assert _check(url).problems[1].startswith(f"audit row {seqs[0]}: chain broken")


def test_rows_deleted_from_the_end_are_found(url):
    seqs = _seqs(url)
    _shell(
        url,
        "DROP FUNCTION carecore_audit_append_only() CASCADE",
        f"DELETE FROM audit WHERE seq >= {seqs[-2]}",  # noqa: S608 - the test tampers on purpose
    )
    problems = _check(url).problems
    assert (
        f"audit row {seqs[-1]}: missing (the log ends at row {seqs[-3]}; rows were deleted from its end)"
        in problems
    )
    assert "audit log: the protecting trigger audit_no_truncate is missing or disabled" in problems


def test_migration_15_chains_the_rows_already_stored(postgres_url):
    old = PostgresStore(postgres_url)
    old.migrate(target=14)
    old._ready = True  # write as a schema-14 carecore would have
    _fill(old, 3)
    old.close()
    store = PostgresStore(postgres_url)
    try:
        assert store.migrate() == list(range(15, SCHEMA_VERSION + 1))
        _fill(store, 2, add=False)
        report = store.check()
        assert report.ok, report.problems
        assert report.counts["audit"] == 1 + 3 + 2
    finally:
        store.close()
    with pytest.raises(psycopg.Error, match="append-only"):
        _shell(postgres_url, "DELETE FROM audit")


def test_bulk_reads_log_each_patient_at_commit(url):
    from carecore.model import Patient

    store = open_store(url)
    try:
        with store.transaction(actor="md-2", reason="roster", at=AT) as tx:
            tx.all(Patient)
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            bulk = [e for e in tx.audit_entries() if e.action == "bulk-read"]
        assert [(e.actor, e.patient_id, e.detail) for e in bulk] == [
            ("md-2", make_patient().id, "Patient")
        ]
        assert store.check().ok
    finally:
        store.close()
