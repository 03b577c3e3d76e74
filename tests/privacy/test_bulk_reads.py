"""Bulk reads record each patient they touch: "who saw patient X" has an answer for lists and reports."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from carecore.access import Actor, Role
from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import CareTeam, CareTeamMember, CareTeamRole, Patient
from carecore.service import CareProgram
from carecore.storage import open_store
from carecore.testing._store_contract import AT, make_patient


@pytest.fixture(scope="module")
def copy_of_demo(demo_store, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bulk")
    path = folder / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def _tail(url, after):
    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            patients = tx.patient_ids()
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            return patients, tx.audit_entries(after=after)
    finally:
        store.close()


def _last_seq(url):
    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            return tx.audit_entries()[-1].seq
    finally:
        store.close()


@pytest.mark.parametrize(
    "command",
    [
        ["worklist", "--on", "2026-06-15"],
        ["tcm", "list"],
        ["registry"],
        ["report", "--to", "2026-06", "--out", "{out}"],
        ["billing", "close", "--month", "2026-05"],
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_a_bulk_command_logs_each_patient_it_read(copy_of_demo, command, tmp_path):
    before = _last_seq(copy_of_demo)
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    result = CliRunner().invoke(
        make_app(),
        [*args, "--db", copy_of_demo],
        env={"CARECORE_ACTOR": "rn:ana", "CARECORE_ACTOR_ROLES": "system"},
    )
    assert result.exit_code == 0, result.output
    patients, entries = _tail(copy_of_demo, before)
    bulk = [e for e in entries if e.action == "bulk-read"]
    seen = {e.patient_id for e in bulk}
    assert seen, [(e.action, e.kind, e.detail) for e in entries]
    assert seen <= set(patients)
    # Every patient the command read in bulk gets exactly one row per transaction.
    per_tx = {(e.at, e.reason, e.patient_id) for e in bulk}
    assert len(per_tx) == len(bulk)
    assert all(e.kind == "Patient" and e.detail for e in bulk)


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_all_and_find_many_log_one_row_per_patient_at_commit(url, tmp_path):
    url = url if url == "memory://" else f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    try:
        other = make_patient().__class__(**{**_fields(make_patient()), "id": "other-patient"})
        with store.transaction(actor="t", reason="setup", at=AT) as tx:
            tx.add(make_patient())
            tx.add(other)
        with store.transaction(actor="md-2", reason="roster", at=AT) as tx:
            tx.all(Patient)
            tx.find_many(Patient, patient_ids=[other.id])
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            bulk = [e for e in tx.audit_entries() if e.action == "bulk-read"]
        assert [(e.actor, e.patient_id, e.detail) for e in bulk] == [
            ("md-2", make_patient().id, "Patient"),
            ("md-2", "other-patient", "Patient"),
        ]
    finally:
        store.close()


def _fields(record):
    import attrs

    return attrs.asdict(record, recurse=False)


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_a_care_managers_bulk_read_leaves_rows_only_for_their_own_patients(url, tmp_path):
    """Finding a care manager's patients reads their own care teams, not every patient's."""
    url = url if url == "memory://" else f"sqlite:///{tmp_path / 'p.db'}"
    system = CareProgram.open(url, actor="setup", clock=FixedClock(AT))
    with system:
        with system.transaction("setup") as tx:
            for pid, rn in (("p1", "rn-1"), ("p2", "rn-2"), ("p3", "rn-2")):
                tx.add(make_patient(pid))
                tx.add(
                    CareTeam(
                        id=f"team-{pid}",
                        patient_id=pid,
                        members=[
                            CareTeamMember(practitioner_id=rn, role=CareTeamRole.CARE_MANAGER)
                        ],
                    )
                )
        nurse = system.as_actor(Actor(id="rn-1", roles={Role.CARE_MANAGER}))
        with nurse.transaction("my patients") as tx:
            assert [p.id for p in tx.all(Patient)] == ["p1"]
        with system.store.transaction(actor="t", reason="r", at=AT) as tx:
            rows = [e for e in tx.audit_entries() if e.actor == "rn-1"]
    assert {e.patient_id for e in rows if e.patient_id} == {"p1"}, [
        (e.action, e.kind, e.patient_id) for e in rows
    ]
