"""Files carecore creates are 0600 and its folders 0700, whatever the umask (issue 20).

The store, FHIR exports and report CSVs were created 0644, readable by every
local user. Checked here through the command line with a permissive umask:
the demo's store and report folder, a month close's output folder (a new one,
nested), a report, a FHIR export, a de-identified export, and the JSON-lines
channel's outbox file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.storage import open_store
from carecore.testing._store_contract import AT

PATIENTS = (
    "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
    "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
)
EVENTS = (
    "patient_id,date,type,minutes,role,family\np1,2026-01-06,time_entry,25,clinical_staff,CCM\n"
)


@pytest.fixture(autouse=True)
def permissive_umask():
    """0o022: without care a file would be 0644 and a folder 0755."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(root: Path) -> None:
    """*root* (a file, or a folder and everything under it) is its owner's only."""
    paths = [root, *root.rglob("*")] if root.is_dir() else [root]
    wrong = {
        str(p.relative_to(root.parent)): oct(mode(p))
        for p in paths
        if mode(p) != (0o700 if p.is_dir() else 0o600)
    }
    assert wrong == {}


def run(*args):
    result = CliRunner().invoke(make_app(), [*args])
    assert result.exit_code in {0, 1}, result.output
    return result


def demo_path(demo_store: str) -> Path:
    return Path(demo_store.removeprefix("sqlite:///"))


def test_the_demo_store_and_report_folder_are_private(demo_store):
    db = demo_path(demo_store)
    assert_private(db)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = db.with_name(db.name + suffix)
        if extra.exists():
            assert_private(extra)
    assert_private(db.parent / "r")


@pytest.mark.parametrize("buckets", ["1", "2"])
def test_a_new_close_output_folder_is_private(tmp_path, buckets):
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "events.csv").write_text(EVENTS)
    (tmp_path / "months").mkdir()  # --out is made; the folders above it must exist
    out = tmp_path / "months" / "2026-01"
    run(
        "billing",
        "close",
        "--month",
        "2026-01",
        "--patients",
        str(tmp_path / "patients.csv"),
        "--events",
        str(tmp_path / "events.csv"),
        "--out",
        str(out),
        "--buckets",
        buckets,
        "--no-progress",
    )
    assert (out / "claims.csv").is_file()
    assert_private(out)


def test_a_report_folder_is_private(demo_store, tmp_path):
    out = tmp_path / "report"
    run("report", "--db", demo_store, "--out", str(out), "--to", "2026-06")
    assert (out / "index.html").is_file()
    assert_private(out)


def test_a_fhir_export_file_is_private(demo_store, tmp_path):
    pytest.importorskip("carecore_fhir")
    store = open_store(demo_store)
    try:
        with store.transaction(actor="t", reason="which patient", at=AT) as tx:
            patient_id = min(tx.patient_ids())
    finally:
        store.close()
    out = tmp_path / "bundle.json"
    run("fhir", "export", patient_id, "--db", demo_store, "--out", str(out))
    assert out.stat().st_size > 0
    assert_private(out)


def test_a_deidentified_export_is_private(demo_store, tmp_path):
    key = tmp_path / "key"
    key.write_text("k" * 32)
    key.chmod(0o600)
    out = tmp_path / "research"
    run(
        "export",
        "--db",
        demo_store,
        "--out",
        str(out),
        "--deidentify",
        "safe-harbor",
        "--key-file",
        str(key),
    )
    assert (out / "manifest.json").is_file()
    assert_private(out)


def test_the_jsonl_outbox_file_is_private(tmp_path):
    jsonl = pytest.importorskip("carecore_jsonl")
    from carecore.model import OutboundMessage

    path = tmp_path / "outbox" / "messages.jsonl"
    channel = jsonl.JsonlChannel(path)
    channel.send(
        OutboundMessage(
            id="m1",
            idempotency_key="k1",
            channel=channel.id,
            recipient="rn@example.org",
            subject="Check-in",
            body="Due today.",
            created_at=pendulum.datetime(2026, 3, 4, 9, tz="UTC"),
        )
    )
    assert_private(path.parent)  # the folder it made, and the file
