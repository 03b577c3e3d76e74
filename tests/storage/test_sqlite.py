"""What only the SQLite store does: its file, its pragmas, its migrations and bad files."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.model import CarePlan
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore, sqlite_path
from carecore.testing._store_contract import AT, make_care_plan, make_patient, make_time_entry


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'practice.db'}"


@pytest.fixture
def store(url):
    store = open_store(url)
    store.initialize()
    yield store
    store.close()


@contextlib.contextmanager
def raw(url):
    conn = sqlite3.connect(sqlite_path(url))
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def test_file_uses_wal_and_foreign_keys(store, url):
    assert store._connection().execute("PRAGMA foreign_keys").fetchone() == (1,)
    with raw(url) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_waits_for_a_writer_before_switching_to_wal(tmp_path):
    # Another connection is writing to a new file in its rollback journal (as a
    # second `db init` started at the same moment can be): switching the journal
    # mode then fails at once with "database is locked", without SQLite's busy
    # wait. The store waits for the writer instead of refusing the file.
    path = tmp_path / "racing.db"
    url = f"sqlite:///{path}"
    writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE other_writer (x)")
    done = threading.Timer(0.3, writer.execute, ("COMMIT",))
    done.start()
    try:
        store = SqliteStore(url)
    finally:
        done.join()
        writer.close()
    try:
        assert store._connection().execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        store.close()


def test_opening_refuses_a_file_locked_past_the_busy_timeout(tmp_path, monkeypatch):
    path = tmp_path / "held.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("CREATE TABLE other_writer (x)")
    monkeypatch.setattr(SqliteStore, "BUSY_TIMEOUT", 0.2)
    try:
        with pytest.raises(errors.StoreUnavailable, match="locked"):
            SqliteStore(f"sqlite:///{path}")
    finally:
        writer.close()


def test_audit_log_refuses_update_and_delete(store, url):
    with store.transaction(actor="rn:ana", reason="enrollment", at=AT) as tx:
        tx.add(make_patient())
    with raw(url) as conn:
        for statement in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor FROM audit").fetchall() == [("rn:ana",)]


def test_one_transaction_holds_change_audit_and_outbox(store, url):
    # A write that fails on its last step leaves no row in any of the three tables.
    from carecore.testing._store_contract import make_message

    with pytest.raises(errors.ConflictError), store.transaction(actor="a", reason="r", at=AT) as tx:  # noqa: PT012
        tx.add(make_patient("p9"))
        tx.enqueue(make_message(1, patient_id="p9"))
        tx.add(make_patient("p9"))
    with raw(url) as conn:
        counts = [
            conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
            for t in ("patients", "audit", "outbox")
        ]
    assert counts == [0, 0, 0]


def test_migrates_an_older_schema_and_keeps_its_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=1)
    assert old.schema_version() == 1
    with pytest.raises(errors.SchemaVersionError, match="carecore db migrate"):
        old.initialize()
    old._ready = True  # write as a version-1 carecore would have
    with old.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
    old.close()
    with raw(url) as conn:
        # A version-1 care plan row: no clinical content columns yet.
        for table in ("care_plans", "care_plans_history"):
            conn.execute(
                f"INSERT INTO {table} (id, patient_id, title, families, created_on, status, version) "  # noqa: S608
                "VALUES ('cp1', 'contract-patient', 'Heart failure and diabetes', '[\"CCM\"]', "
                "'2026-01-05', 'draft', 1)"
            )
    result = CliRunner().invoke(make_app(), ["db", "migrate", url])
    assert result.exit_code == 0, result.output
    assert f"migrated to schema version {SCHEMA_VERSION}" in result.output
    store = open_store(url)
    try:
        store.initialize()
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.get(type(make_patient()), "contract-patient") == make_patient()
            assert tx.get(CarePlan, "cp1") == make_care_plan()  # new parts read back empty
            assert tx.history(CarePlan, "cp1") == [make_care_plan()]
        assert store.check().ok
        with raw(url) as conn:
            indexes = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            }
        assert {"audit_patient", "outbox_status"} <= indexes
    finally:
        store.close()


def test_newer_schema_is_refused_and_untouched(store, url):
    with raw(url) as conn:
        conn.execute("UPDATE carecore_schema SET version = 99")
    store.close()
    before = Path(sqlite_path(url)).read_bytes()
    again = open_store(url)
    try:
        with pytest.raises(errors.SchemaVersionError) as info:
            again.initialize()
        assert (info.value.field, info.value.value) == ("schema_version", 99)
        with pytest.raises(errors.SchemaVersionError):
            again.migrate()
        with (
            pytest.raises(errors.SchemaVersionError),
            again.transaction(actor="a", reason="r", at=AT),
        ):
            pass
    finally:
        again.close()
    assert Path(sqlite_path(url)).read_bytes() == before


@pytest.mark.parametrize(
    "content",
    [
        b"these are not the droids\n" * 10,
        b"SQLite format 3\x00" + b"\xff" * 4000,
        bytes(range(256)) * 20,
    ],
)
def test_corrupted_file_is_a_typed_error_and_untouched(tmp_path, content):
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    with pytest.raises(errors.StoreCorrupt) as info:
        open_store(f"sqlite:///{path}")
    assert info.value.field == "url"
    assert path.read_bytes() == content
    result = CliRunner().invoke(make_app(), ["db", "check", f"sqlite:///{path}"])
    # A file that is not a database is bad input (exit 2), not a check that found problems.
    assert result.exit_code == 2
    assert "is not a database" in result.output
    assert path.read_bytes() == content


def test_a_folder_is_not_a_database_file(tmp_path):
    with pytest.raises(errors.InvalidValue) as info:
        open_store(f"sqlite:///{tmp_path}")
    assert str(info.value).endswith("is a folder, not a database file")
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_unavailable(tmp_path):
    with pytest.raises(errors.StoreUnavailable) as info:
        open_store(f"sqlite:///{tmp_path / 'nowhere' / 'x.db'}")
    assert "does not exist" in str(info.value)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://x.db", "sqlite:x.db"])
def test_malformed_sqlite_urls(url):
    with pytest.raises(errors.InvalidValue) as info:
        open_store(url)
    assert (info.value.field, info.value.value) == ("url", url)


@pytest.mark.parametrize("url", ["mongodb://localhost/db", "redis://127.0.0.1", "practice.db", ""])
def test_unknown_schemes(url):
    with pytest.raises((errors.NoStoreForURL, errors.InvalidValue)) as info:
        open_store(url)
    assert info.value.value == url


def test_db_commands(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app = make_app()
    runner = CliRunner()
    first = runner.invoke(app, ["db", "init", url])
    assert first.exit_code == 0, first.output
    assert f"created schema version {SCHEMA_VERSION}" in first.output
    assert "nothing to do" in runner.invoke(app, ["db", "init", url]).output
    store = open_store(url)
    store.initialize()
    store.bulk_add([make_patient()], actor="a", reason="r", at=AT)
    store.bulk_add([make_time_entry(n) for n in range(3)], actor="a", reason="r", at=AT)
    store.close()
    check = runner.invoke(app, ["db", "check", url])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output
    assert "time_entries: 3" in check.output
    import json

    report = json.loads(runner.invoke(app, ["db", "check", url, "--format", "json"]).output)
    assert report["ok"] is True
    assert report["counts"]["time_entries"] == 3


def test_check_reports_a_broken_history(store, url):
    from carecore.testing._store_contract import make_care_plan

    with store.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
        tx.add(make_care_plan())
    with raw(url) as conn:
        conn.execute("DELETE FROM care_plans_history")
    report = store.check()
    assert not report.ok
    assert report.problems == ("CarePlan 'cp1': current version has no history row",)
    result = CliRunner().invoke(make_app(), ["db", "check", url])
    assert result.exit_code == 1
    assert "problem: CarePlan 'cp1'" in result.output


def test_two_handles_see_each_others_commits(store, url):
    other = open_store(url)
    try:
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            tx.add(make_patient())
        with other.transaction(actor="b", reason="r", at=AT) as tx:
            assert tx.get(type(make_patient()), "contract-patient").id == "contract-patient"
    finally:
        other.close()


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
@pytest.mark.parametrize("target", [0, SCHEMA_VERSION + 1, "7", True])
def test_a_migration_target_outside_the_known_versions_is_refused(tmp_path, url, target):
    store = open_store(f"sqlite:///{tmp_path / 'm.db'}" if url == "sqlite" else url)
    store.initialize()
    with pytest.raises(errors.InvalidValue) as info:
        store.migrate(target=target)
    assert info.value.field == "target"
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_memory_urls_open_private_sqlite_databases(tmp_path):
    # memory:// is the SQLite store over ":memory:": each store is its own database, held
    # by its one connection, and writes no file.
    first, second = open_store("memory://"), open_store("memory://label")
    try:
        assert isinstance(first, SqliteStore)
        assert isinstance(second, SqliteStore)
        assert (first.url, second.url) == ("memory://", "memory://label")
        first.initialize()
        with first.transaction(actor="t", reason="setup", at=AT) as tx:
            tx.add(make_patient())
        assert second.schema_version() == 0
        assert first.check().ok
        assert list(tmp_path.iterdir()) == []
    finally:
        first.close()
        second.close()
    with pytest.raises(errors.StoreError):
        first.schema_version()


def test_threads_sharing_a_memory_store_see_one_database():
    import threading

    store = open_store("memory://")
    store.initialize()
    try:
        ids = [f"p{n}" for n in range(8)]

        def add(pid):
            with store.transaction(actor="t", reason="setup", at=AT) as tx:
                tx.add(make_patient(pid))

        threads = [threading.Thread(target=add, args=(pid,)) for pid in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.patient_ids() == sorted(ids)
    finally:
        store.close()
