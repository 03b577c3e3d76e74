"""What only the PostgreSQL store does: its types, its trigger, its errors."""

from __future__ import annotations

import socket

import psycopg
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.model import CarePlan, TimeEntry
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.testing._store_contract import AT, make_care_plan, make_patient, make_time_entry


@pytest.fixture
def store(postgres_url):
    store = open_store(postgres_url)
    store.initialize()
    yield store
    store.close()


def test_columns_have_postgres_types(store, postgres_url):
    with store.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
        tx.add(make_time_entry(1))
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT service_date, minutes, interactive FROM time_entries").fetchone()
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'patients'"
            ).fetchall()
        )
    assert row == (make_time_entry(1).service_date, make_time_entry(1).minutes, False)
    assert types["birth_date"] == "date"
    assert types["identifiers"] == "jsonb"


def test_json_cells_are_read_as_their_text(store):
    # As SQLite gives them: the store builds each distinct short text once and keeps built
    # records by the hash of their row, which a cell parsed into a dict made impossible
    # (every row of a kind with a JSON column was parsed and built again on every read).
    plans = [make_care_plan("cp1"), make_care_plan("cp2")]
    with store.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
        for plan in plans:
            tx.add(plan)
    with store.transaction(actor="a", reason="r", at=AT) as tx:
        rows = tx.find_rows(CarePlan, patient_ids=[plans[0].patient_id]).rows
        found = tx.find_many(CarePlan, patient_ids=[plans[0].patient_id])
    assert rows
    for row in rows:
        hash(tuple(row))  # a dict in a cell raises TypeError
    assert any(
        isinstance(cell, str) and cell.startswith(("[", "{")) for row in rows for cell in row
    )
    assert sorted(found, key=lambda p: p.id) == plans


def test_reads_for_thousands_of_patients_take_the_ids_as_one_array(store):
    # A partition's read names thousands of patients: one `= ANY(%s)` array parameter, not
    # an IN list of a mark per id (a statement text too long for psycopg to keep parsed).
    where, params = store._in('"patient_id"', [f"p{n}" for n in range(5000)])
    assert len(where) < 40
    assert params == [[f"p{n}" for n in range(5000)]]
    patients = ["p0100", "p2500", "p4999"]
    with store.transaction(actor="a", reason="r", at=AT) as tx:
        for n, pid in enumerate(patients):
            tx.add(make_patient(pid))
            tx.add(make_time_entry(n, patient_id=pid))
    wanted = [f"p{n:04d}" for n in range(5000)]
    with store.transaction(actor="a", reason="r", at=AT) as tx:
        found = tx.find_many(TimeEntry, patient_ids=wanted)
        missing = tx.find_many(TimeEntry, patient_ids=["nobody"])
    assert [e.patient_id for e in found] == patients
    assert missing == []


def test_audit_log_refuses_update_delete_and_truncate(store, postgres_url):
    with store.transaction(actor="rn:ana", reason="enrollment", at=AT) as tx:
        tx.add(make_patient())
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
        assert conn.execute("SELECT actor FROM audit").fetchall() == [("rn:ana",)]


def test_unreachable_server_is_a_typed_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        url = f"postgresql://carer:secret@127.0.0.1:{port}/practice"
        with pytest.raises(errors.StoreUnavailable) as info:
            open_store(url)
    assert info.value.value == f"postgresql://carer@127.0.0.1:{port}/practice"
    assert "secret" not in str(info.value)


def test_newer_schema_is_refused_and_untouched(store, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE carecore_schema SET version = 42")
    store.close()
    again = open_store(postgres_url)
    try:
        with pytest.raises(errors.SchemaVersionError) as info:
            again.initialize()
        assert info.value.value == 42
        with pytest.raises(errors.SchemaVersionError):
            again.migrate()
    finally:
        again.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM carecore_schema").fetchone() == (42,)
        assert conn.execute("SELECT count(*) FROM audit").fetchone() == (0,)


def test_missing_database_is_no_such_store(postgres_server):
    # The same answer as an SQLite file that does not exist (exit 2 on the command line).
    url = postgres_server.rsplit("/", 1)[0] + "/no_such_database_here"
    with pytest.raises(errors.NoSuchStore, match="no such database"):
        open_store(url)


def test_db_init_and_check_from_the_cli(postgres_url):
    runner = CliRunner()
    app = make_app()
    first = runner.invoke(app, ["db", "init", postgres_url])
    assert first.exit_code == 0, first.output
    assert f"created schema version {SCHEMA_VERSION}" in first.output
    check = runner.invoke(app, ["db", "check", postgres_url])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output


def test_missing_server_binaries_say_how_to_install_them(tmp_path):
    from carecore_postgres.testing import NoServerBinaries, find_binaries

    with pytest.raises(NoServerBinaries) as info:
        find_binaries(path=str(tmp_path), search=((str(tmp_path), "*/bin"),))
    message = str(info.value)
    assert "apt-get install postgresql" in message
    assert "CARECORE_TEST_POSTGRES_URL" in message


def test_server_binaries_are_found_on_a_given_path(tmp_path):
    from carecore_postgres.testing import find_binaries

    for name in ("initdb", "pg_ctl"):
        tool = tmp_path / "bin" / name
        tool.parent.mkdir(exist_ok=True)
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    assert find_binaries(path=str(tmp_path / "bin"), search=()) == tmp_path / "bin"
