"""Disclosures record what went where: the audit rows of an export, a claims file and a delivery.

Each names the patient (ids only) and the destination: the file written, or
the channel a message went through.
"""

from __future__ import annotations

import shutil
import sqlite3

import pendulum
import pytest
from click.testing import CliRunner

from carecore._redact import MASK
from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram

ENV = {"CARECORE_ACTOR": "rn:ana", "CARECORE_ACTOR_ROLES": "system", "CARECORE_CONFIG": ""}


@pytest.fixture
def store(demo_store, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), path)
    return path


def _rows(path, sql, params=()):
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def _run(store, args):
    ((last,),) = _rows(store, "SELECT max(seq) FROM audit")
    result = CliRunner().invoke(
        make_app(get_plugin_manager()), [*args, "--db", f"sqlite:///{store}"], env=ENV
    )
    assert result.exit_code == 0, result.output
    return _rows(
        store,
        "SELECT action, kind, key, patient_id, reason, detail FROM audit "
        "WHERE seq > ? AND actor = 'rn:ana' ORDER BY seq",
        (last,),
    )


def test_a_fhir_export_records_the_file_it_wrote(store, tmp_path):
    ((patient,),) = _rows(store, "SELECT id FROM patients ORDER BY id LIMIT 1")
    out = tmp_path / "bundle.json"
    rows = _run(store, ["fhir", "export", patient, "--out", str(out)])
    named = [r for r in rows if r[3] == patient]
    assert named
    assert any(str(out.resolve()) in r[4] for r in named), rows


def test_a_fhir_export_to_standard_output_says_so(store):
    ((patient,),) = _rows(store, "SELECT id FROM patients ORDER BY id LIMIT 1")
    rows = _run(store, ["fhir", "export", patient])
    assert any(r[3] == patient and "standard output" in r[4] for r in rows), rows


def test_a_claims_file_records_the_file_and_each_patient_billed(store, tmp_path):
    out = tmp_path / "claims.json"
    args = ["billing", "claims", "--month", "2026-04", "--format", "fhir", "--out", str(out)]
    rows = _run(store, args)
    billed = {
        p
        for (p,) in _rows(
            store, "SELECT patient_id FROM claim_lines WHERE period_start = ?", ("2026-04-01",)
        )
    }
    assert billed
    to_file = {r[3] for r in rows if r[3] and str(out.resolve()) in r[4]}
    assert to_file >= billed, rows


def test_a_delivery_records_the_patient_and_the_channel(store):
    pending = _rows(store, "SELECT id, patient_id FROM outbox WHERE status = 'pending'")
    assert pending
    rows = _run(store, ["outbox", "run"])
    delivered = {r[2]: r for r in rows if r[0] == "deliver"}
    for message, patient in pending:
        row = delivered[message]
        assert row[3] == patient, row
        assert row[4] == "outbox: delivery by console to standard output", row


def test_a_webhook_delivery_names_its_endpoint_with_the_token_masked():
    pytest.importorskip("carecore_http", reason="the webhook channel is in carecore-http")
    from carecore_http import WebhookChannel

    now = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
    url = "http://127.0.0.1:9/hook?token=abc123secret"
    channel = WebhookChannel(url=url, secret="s", insecure=True)  # noqa: S106 - a test key
    program = CareProgram.open("memory://", clock=FixedClock(now), actor="test")
    with program:
        with program.transaction("queue") as tx:
            tx.enqueue(
                OutboundMessage(
                    id="m1",
                    idempotency_key="k1",
                    channel="webhook",
                    recipient="rn@example.org",
                    subject="Check-in",
                    body="Due today.",
                    created_at=now,
                )
            )
        Dispatcher(
            program, {"webhook": channel}, policy=RetryPolicy(max_attempts=1, jitter=0)
        ).run_once()
        with program.transaction("check") as tx:
            (row,) = [e for e in tx.audit_entries() if e.action == "deliver"]
    assert row.reason.startswith("outbox: delivery by webhook to http://127.0.0.1:9/hook?token=")
    assert MASK in row.reason
    assert "abc123secret" not in row.reason


def test_an_sms_delivery_names_its_gateway_with_the_password_masked():
    pytest.importorskip("carecore_http", reason="the SMS channel is in carecore-http")
    from carecore_http import SmsChannel

    now = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
    url = "http://gw:pa55word@127.0.0.1:9/send?api_key=k3y"
    channel = SmsChannel(url=url, sender="+15550100", insecure=True)
    program = CareProgram.open("memory://", clock=FixedClock(now), actor="test")
    with program:
        with program.transaction("queue") as tx:
            tx.enqueue(
                OutboundMessage(
                    id="m1",
                    idempotency_key="k1",
                    channel="sms",
                    recipient="+15550101",
                    subject="Check-in",
                    body="Due today.",
                    created_at=now,
                )
            )
        Dispatcher(
            program, {"sms": channel}, policy=RetryPolicy(max_attempts=1, jitter=0)
        ).run_once()
        with program.transaction("check") as tx:
            (row,) = [e for e in tx.audit_entries() if e.action == "deliver"]
    assert row.reason.startswith("outbox: delivery by sms to http://gw:")
    assert "127.0.0.1:9/send" in row.reason
    assert "pa55word" not in row.reason
    assert "k3y" not in row.reason


def test_a_report_with_phi_records_the_folder_it_wrote(store, tmp_path):
    out = tmp_path / "report"
    rows = _run(store, ["report", "--to", "2026-06", "--out", str(out)])
    patients = {p for (p,) in _rows(store, "SELECT id FROM patients")}
    to_folder = {r[3] for r in rows if r[3] and str(out.resolve()) in r[4]}
    assert to_folder == patients, rows


def test_a_month_close_from_a_store_records_the_folder_its_files_went_to(store, tmp_path):
    out = tmp_path / "close"
    rows = _run(store, ["billing", "close", "--month", "2026-04", "--out", str(out)])
    assert (out / "claims.csv").is_file()
    patients = {p for (p,) in _rows(store, "SELECT id FROM patients")}
    billed = {
        p
        for (p,) in _rows(
            store, "SELECT patient_id FROM claim_lines WHERE period_start = ?", ("2026-04-01",)
        )
    }
    assert billed
    to_folder = {r[3] for r in rows if r[3] and str(out.resolve()) in r[4]}
    assert to_folder == patients, rows


def test_a_deidentified_export_records_the_folder_it_wrote(store, tmp_path):
    out, key = tmp_path / "research", tmp_path / "key"
    key.write_text("k" * 32)
    args = ["export", "--deidentify", "safe-harbor", "--key-file", str(key), "--out", str(out)]
    rows = _run(store, args)
    patients = {p for (p,) in _rows(store, "SELECT id FROM patients")}
    to_folder = {r[3] for r in rows if r[3] and str(out.resolve()) in r[4]}
    assert to_folder == patients, rows


def _simulate(store, env):
    args = ["simulate", "ccm-2015", "--replications", "2", "--no-progress"]
    return CliRunner().invoke(
        make_app(get_plugin_manager()),
        [*args, "--population-from", f"sqlite:///{store}"],
        env={**ENV, **env},
    )


def test_a_simulation_of_a_stores_patients_reads_them_as_the_named_actor(store):
    ((last,),) = _rows(store, "SELECT max(seq) FROM audit")
    result = _simulate(store, {})
    assert result.exit_code == 0, result.output
    rows = _rows(store, "SELECT actor, patient_id FROM audit WHERE seq > ?", (last,))
    patients = {p for (p,) in _rows(store, "SELECT id FROM patients")}
    assert {p for a, p in rows if a == "rn:ana" and p} == patients, rows
    assert {a for a, _p in rows} == {"rn:ana"}, rows


def test_a_simulation_of_a_stores_patients_is_held_to_the_policy(store):
    ((last,),) = _rows(store, "SELECT max(seq) FROM audit")
    result = _simulate(store, {"CARECORE_ACTOR_ROLES": "researcher"})
    assert result.exit_code == 3, result.output
    rows = _rows(store, "SELECT actor, action FROM audit WHERE seq > ?", (last,))
    assert rows
    assert set(rows) == {("rn:ana", "denied")}, rows
