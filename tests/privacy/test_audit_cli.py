"""``carecore audit``: who saw a patient, what an actor did, as a table, JSON or FHIR AuditEvents."""

from __future__ import annotations

import json
import shutil

import pendulum
import pytest
from click.testing import CliRunner

from carecore.audit import audit_event, entries
from carecore.cli import make_app
from carecore.storage import open_store
from carecore.testing._store_contract import AT, make_patient

PID = make_patient().id


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    with store.transaction(actor="nurse-1", reason="intake", at=AT) as tx:
        tx.add(make_patient())
    later = pendulum.datetime(2026, 3, 2, 9, tz="UTC")
    with store.transaction(actor="md-2", reason="visit", at=later) as tx:
        tx.get(type(make_patient()), PID)
    with store.transaction(actor="md-2", reason="roster", at=later) as tx:
        tx.patient_ids()
    store.close()
    return url


def _run(*args, env=None):
    return CliRunner().invoke(make_app(), ["audit", *args], env=env)


def test_who_saw_a_patient(url):
    result = _run("--patient", PID, "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["actor"], r["action"], r["reason"]) for r in rows] == [
        ("nurse-1", "create", "intake"),
        ("md-2", "read", "visit"),
    ]
    assert {r["patient_id"] for r in rows} == {PID}


def test_what_an_actor_did_since_a_day(url):
    result = _run("--actor", "md-2", "--since", "2026-03-02", "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [(r["action"], r["patient_id"]) for r in json.loads(result.output)] == [
        ("read", PID),
        ("read", None),
    ]
    later = _run("--actor", "md-2", "--since", "2026-03-03", "--db", url, "--format", "json")
    assert json.loads(later.output) == []


def test_the_table_names_actor_action_and_patient(url):
    result = _run("--patient", PID, "--db", url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert "md-2" in lines[1]
    assert "read" in lines[1]
    assert f"patient={PID}" in lines[1]


def test_fhir_writes_audit_events(url):
    result = _run("--patient", PID, "--db", url, "--format", "fhir")
    assert result.exit_code == 0, result.output
    bundle = json.loads(result.output)
    events = [e["resource"] for e in bundle["entry"]]
    assert [e["action"] for e in events] == ["C", "R"]
    assert events[1]["agent"][0]["who"]["identifier"]["value"] == "md-2"
    assert {"reference": f"Patient/{PID}"} in [x["what"] for x in events[1]["entity"]]
    assert events[1]["recorded"] == "2026-03-02T09:00:00+00:00"


def test_audit_events_are_valid_fhir_r4(url):
    pytest.importorskip("fhir.resources")
    from fhir.resources.R4B.auditevent import AuditEvent

    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            found = entries(tx, patient_id=PID)
    finally:
        store.close()
    for entry in found:
        AuditEvent.model_validate(audit_event(entry))


@pytest.mark.parametrize(
    "args",
    [
        ["--since", "2026-01-01"],
        ["--patient", PID, "--since", "March"],
    ],
)
def test_bad_input_exits_2(url, args):
    result = _run(*args, "--db", url)
    assert result.exit_code == 2, result.output


def test_the_report_is_read_under_the_environments_actor(url):
    assert (
        _run(
            "--patient",
            PID,
            "--db",
            url,
            env={"CARECORE_ACTOR": "privacy-officer", "CARECORE_ACTOR_ROLES": "admin"},
        ).exit_code
        == 0
    )
    result = _run("--actor", "privacy-officer", "--db", url, "--format", "json")
    # Reading a patient's audit trail is a read of that patient's data: it is on the trail.
    assert [
        (r["action"], r["kind"], r["patient_id"], r["reason"]) for r in json.loads(result.output)
    ] == [("read", "AuditEntry", PID, "audit log report")]


def test_demo_accesses_to_a_patient(demo_store):
    store = open_store(demo_store)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            pid = tx.patient_ids()[0]
    finally:
        store.close()
    result = _run("--patient", pid, "--db", demo_store, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows
    assert {r["patient_id"] for r in rows} == {pid}
    assert "create" in {r["action"] for r in rows}


def test_the_sqlite_shell_deleting_a_demo_audit_row_fails_db_check(demo_store, tmp_path):
    if shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 shell")
    import subprocess

    copy = tmp_path / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), copy)
    url = f"sqlite:///{copy}"
    assert CliRunner().invoke(make_app(), ["db", "check", url]).exit_code == 0
    subprocess.run(
        ["sqlite3", str(copy), "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 20;"],
        check=True,
    )
    result = CliRunner().invoke(make_app(), ["db", "check", url])
    assert result.exit_code == 1
    assert "audit row 21: chain broken" in result.output


def test_history_lists_every_value_a_record_had_and_is_audited(url):
    import attrs

    from carecore.model import TimeEntry
    from carecore.testing._store_contract import make_time_entry

    store = open_store(url)
    try:
        with store.transaction(actor="nurse-1", reason="fix", at=AT) as tx:
            tx.replace(attrs.evolve(make_patient(), given_name="Ana"))
            tx.add(make_time_entry(1))
        with store.transaction(actor="nurse-1", reason="entered in error", at=AT) as tx:
            tx.delete(TimeEntry, "te-1")
    finally:
        store.close()
    env = {"CARECORE_ACTOR": "privacy-officer", "CARECORE_ACTOR_ROLES": "system"}
    result = _run("--history", f"Patient:{PID}", "--db", url, "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    assert [v["given_name"] for v in json.loads(result.output)] == ["Ada", "Ana"]
    deleted = _run("--history", "TimeEntry:te-1", "--db", url, "--format", "json", env=env)
    assert deleted.exit_code == 0, deleted.output
    assert [v["minutes"] for v in json.loads(deleted.output)] == [make_time_entry(1).minutes]
    table = _run("--history", f"Patient:{PID}", "--db", url, env=env)
    assert table.exit_code == 0, table.output
    assert "Ana" in table.output
    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            reads = [
                (e.kind, e.patient_id, e.reason)
                for e in tx.audit_entries()
                if e.actor == "privacy-officer"
            ]
    finally:
        store.close()
    assert ("Patient", PID, "record history: Patient") in reads
    assert ("TimeEntry", PID, "record history: TimeEntry") in reads


@pytest.mark.parametrize(
    ("value", "field"),
    [("Nothing:1", "--history"), ("Patient", "--history"), ("Patient:", "--history")],
)
def test_a_bad_history_record_exits_2_naming_the_option(url, value, field):
    result = _run("--history", value, "--db", url)
    assert result.exit_code == 2, result.output
    assert field in result.output


def test_an_unknown_record_has_no_history(url):
    result = _run("--history", "TimeEntry:none", "--db", url)
    assert result.exit_code == 2, result.output
    assert "no such TimeEntry" in result.output
