"""Every CLI command is classified: touching patient data or not; those that do leave rows naming patients.

The commands are read from the command tree (with every installed plugin), so
a command added later and not classified below fails
:func:`test_every_command_is_classified` with a message saying where to add it.
"""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

APP = make_app(get_plugin_manager())


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command under *group*, by its path of names."""
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        found += leaves(command, here) if isinstance(command, click.Group) else [here]
    return found


COMMANDS = leaves(APP)

#: Commands that touch patient data, with arguments to run each on a copy of the demo store.
#: ``{patient}``, ``{condition}``, ``{practitioner}``, ``{out}`` and the input files are
#: filled in; ``single`` commands must name that one patient, the rest any patients they read.
RUN: dict[tuple[str, ...], list[str]] = {
    ("audit",): ["--patient", "{patient}"],
    ("fhir", "import"): ["{bundle}", "--no-progress"],
    ("fhir", "pull"): ["{fhir_server}", "--insecure"],
    ("hl7", "import"): ["{adt}", "--time-zone", "UTC", "--no-progress"],
    ("import",): ["--source", "fhir", "{bundle}"],
    ("meds", "reconcile"): ["{patient}"],
    ("outbox", "retry"): ["{failed_message}"],
    ("outbox", "status"): [],
    ("attest",): ["--by", "{practitioner}", "{condition}"],
    ("billing", "claims"): ["--month", "2026-05", "--format", "fhir", "--out", "{out}/c.json"],
    ("billing", "close"): ["--month", "2026-05"],
    ("export",): ["--out", "{out}/e", "--deidentify", "safe-harbor", "--key-file", "{key}"],
    ("fhir", "export"): ["{patient}", "--out", "{out}/p.json"],
    ("gaps",): [],
    ("meds", "adherence"): ["--from", "2026-04-01", "--to", "2026-06-30"],
    ("meds", "import-fills"): ["{fills}"],
    ("meds", "list"): ["{patient}"],
    ("readings", "record"): ["{patient}", "--code", "29463-7", "--value", "80", "--unit", "kg"],
    ("registry",): [],
    ("report",): ["--to", "2026-06", "--out", "{out}/r"],
    ("tcm", "list"): [],
    ("worklist",): ["--on", "2026-06-15"],
    ("tcm", "expire"): [],
    ("outbox", "run"): [],
}
SINGLE = {
    ("attest",),
    ("audit",),
    ("meds", "reconcile"),
    ("outbox", "retry"),
    ("fhir", "export"),
    ("meds", "list"),
    ("meds", "import-fills"),
    ("readings", "record"),
}

#: Commands that touch patient data but run until stopped: each has its own test below.
LONG_RUNNING: dict[tuple[str, ...], str] = {
    ("hl7", "listen"): "test_hl7_listen_leaves_rows_naming_the_patient_it_received",
}

#: Commands that touch no patient data, and why.
NO_PATIENT_DATA: dict[tuple[str, ...], str] = {
    ("billing", "evaluate"): "evaluates a facts file; opens no store",
    ("db", "check"): "checks the schema, counts and the audit chain",
    ("db", "init"): "creates an empty store",
    ("db", "migrate"): "changes the schema",
    ("db", "set", "time-zone"): "sets the practice's time zone",
    ("demo",): "creates a new store of made-up patients",
    ("plugins",): "lists installed plugins",
    # With --population-from a store it reads the patients as the actor (no --db, so it is
    # run by tests/privacy/test_disclosures.py); its files hold no patient's data.
    ("simulate",): "simulates a made-up population, or a store's patients in aggregate",
}


def test_every_command_is_classified():
    tables = [set(RUN), set(LONG_RUNNING), set(NO_PATIENT_DATA)]
    unclassified = sorted(" ".join(p) for p in set(COMMANDS) - set().union(*tables))
    assert not unclassified, (
        f"carecore {', '.join(unclassified)}: classify it in "
        "tests/privacy/test_audit_completeness_cli.py (RUN with arguments whose audit rows "
        "are checked, LONG_RUNNING with a test of its own, or NO_PATIENT_DATA with the reason)"
    )
    assert not set().union(*tables) - set(COMMANDS), "stale entries"
    assert sum(len(t) for t in tables) == len(set().union(*tables)), "classified twice"


@pytest.fixture
def store(demo_store, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), path)
    return path


def _query(path, sql, params=()):
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


#: A FHIR bundle of one patient not in the demo, with a condition.
BUNDLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "resource": {
                "resourceType": "Patient",
                "id": "audit-new-1",
                "gender": "female",
                "birthDate": "1950-01-01",
                "name": [{"family": "Testcase", "given": ["Pat"]}],
            }
        },
        {
            "resource": {
                "resourceType": "Condition",
                "id": "audit-cond-1",
                "subject": {"reference": "Patient/audit-new-1"},
                "code": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]
                },
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "onsetDateTime": "2020-01-01",
            }
        },
    ],
}

#: An ADT admission of a patient not in the demo (registered from PID).
ADT = (
    "MSH|^~\\&|EHR|CLINIC|CARECORE|CLINIC|20260601090000||ADT^A01|AUDIT0001|P|2.5\r"
    "EVN|A01|20260601090000\r"
    "PID|1||AUDITMRN1^^^CLINIC^MR||TESTCASE^PAT||19500101|F\r"
    "PV1|1|I|WARD^1^1\r"
)


class _FhirServer(BaseHTTPRequestHandler):
    """A FHIR server on loopback: a search for patients finds the bundle's patient, others none."""

    def do_GET(self):
        kind = self.path.lstrip("/").split("?")[0].split("/")[0]
        found = [e for e in BUNDLE["entry"] if e["resource"]["resourceType"] == kind]
        answer = (
            {"resourceType": "CapabilityStatement", "status": "active", "fhirVersion": "4.0.1"}
            if kind == "metadata"
            else {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(found),
                "entry": found,
            }
        )
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fhir_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FhirServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _demo_ids(store):
    ((patient, condition, practitioner),) = _query(
        store,
        "SELECT c.patient_id, c.id, e.billing_practitioner_id FROM conditions c "
        "JOIN enrollments e ON e.patient_id = c.patient_id ORDER BY c.id LIMIT 1",
    )
    return patient, condition, practitioner


def _two_medication_lists(store):
    """A demo patient with the practice's medication list, given the patient's own list too."""
    with sqlite3.connect(store) as db:
        names = [r[1] for r in db.execute("PRAGMA table_info(medication_statements)")]
        row = db.execute(
            "SELECT * FROM medication_statements WHERE source = 'ehr' ORDER BY id LIMIT 1"
        ).fetchone()
        own = dict(zip(names, row, strict=True))
        own.update(id=own["id"] + "-own", source="patient_reported")
        db.execute(
            f"INSERT INTO medication_statements ({', '.join(names)}) "  # noqa: S608 - test columns
            f"VALUES ({', '.join('?' * len(names))})",
            tuple(own.values()),
        )
    return own["patient_id"]


@pytest.mark.parametrize("path", sorted(RUN), ids=" ".join)
def test_a_command_touching_patient_data_leaves_rows_naming_patients(
    path, store, tmp_path, fhir_server
):
    patient, condition, practitioner = _demo_ids(store)
    ((failed_message, message_patient),) = _query(
        store, "SELECT id, patient_id FROM outbox WHERE patient_id IS NOT NULL ORDER BY id LIMIT 1"
    )
    if path == ("outbox", "retry"):
        patient = message_patient
        with sqlite3.connect(store) as db:
            db.execute("UPDATE outbox SET status = 'failed' WHERE id = ?", (failed_message,))
    if path == ("meds", "reconcile"):
        patient = _two_medication_lists(store)
    ((last,),) = _query(store, "SELECT max(seq) FROM audit")
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps(BUNDLE))
    adt = tmp_path / "adt.hl7"
    adt.write_bytes(ADT.encode())
    key = tmp_path / "key.txt"
    key.write_text("k" * 32)
    fills = tmp_path / "fills.csv"
    fills.write_text(
        f"patient_id,filled_on,days_supply,drug_class,drug\n{patient},2026-05-02,30,statin,A\n"
    )
    values = {
        "{patient}": patient,
        "{condition}": condition,
        "{practitioner}": practitioner,
        "{out}": str(tmp_path),
        "{key}": str(key),
        "{fills}": str(fills),
        "{bundle}": str(bundle),
        "{adt}": str(adt),
        "{fhir_server}": fhir_server,
        "{failed_message}": failed_message,
    }
    args = []
    for template in RUN[path]:
        arg = template
        for mark, value in values.items():
            arg = arg.replace(mark, value)
        args.append(arg)
    result = CliRunner().invoke(
        APP,
        [*path, *args, "--db", f"sqlite:///{store}"],
        env={"CARECORE_ACTOR": "rn:ana", "CARECORE_ACTOR_ROLES": "system", "CARECORE_CONFIG": ""},
    )
    assert result.exit_code in {0, 1}, result.output
    named = {
        row[0]
        for row in _query(
            store,
            "SELECT patient_id FROM audit WHERE seq > ? AND actor = 'rn:ana' "
            "AND patient_id IS NOT NULL",
            (last,),
        )
    }
    if path in SINGLE:
        assert patient in named, named
    else:
        assert named, "no audit row names a patient"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mllp(port, message, *, wait=30.0):
    deadline = time.monotonic() + wait
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=wait)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with conn:
        conn.sendall(b"\x0b" + message.encode() + b"\x1c\x0d")
        answer = b""
        while not answer.endswith(b"\x1c\x0d"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer


def test_hl7_listen_leaves_rows_naming_the_patient_it_received(store):
    pytest.importorskip("carecore_hl7v2", reason="the listener is in carecore-hl7v2")
    ((last,),) = _query(store, "SELECT max(seq) FROM audit")
    port = _free_port()
    env = {
        "CARECORE_ACTOR": "rn:ana",
        "CARECORE_ACTOR_ROLES": "system",
        "CARECORE_CONFIG": "",
        "PATH": "/usr/bin:/bin",
    }
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "carecore",
            "hl7",
            "listen",
            "--port",
            str(port),
            "--time-zone",
            "UTC",
            "--db",
            f"sqlite:///{store}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        answer = _mllp(port, ADT)
    finally:
        listener.terminate()
        _, err = listener.communicate(timeout=30)
    assert b"MSA|AA" in answer, (answer, err)
    named = {
        row[0]
        for row in _query(
            store,
            "SELECT patient_id FROM audit WHERE seq > ? AND actor = 'rn:ana' "
            "AND patient_id IS NOT NULL",
            (last,),
        )
    }
    assert named, "no audit row names a patient"
