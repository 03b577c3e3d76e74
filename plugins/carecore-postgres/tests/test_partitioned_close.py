"""A month close over PostgreSQL in hash partitions, on every executor, gives one answer.

Workers read their partitions from the store themselves (they are sent the
store's URL and the partition's patient ids, never the records) and store
each partition's claim lines and denials in one transaction. The files and
the stored lines are the same in this process, in a process pool and on a
Dask ``LocalCluster`` (127.0.0.1, two worker processes), for 1, 7 and 64
partitions; a worker killed in the middle of a close loses nothing and adds
nothing twice.
"""

from __future__ import annotations

import os
import signal

import pendulum
import pytest
from attrs import evolve

from carecore.billing import _store_parts, close_store, cms_rule_set
from carecore.careplans import draft_plan
from carecore.clock import FixedClock
from carecore.executors import get_executor
from carecore.model import (
    AdministrativeSex,
    AssessmentDomain,
    AssessmentNote,
    ClaimLine,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Denial,
    FaceToFaceVisit,
    MdmLevel,
    Patient,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    VisitKind,
)
from carecore.service import CareProgram
from carecore.storage import kind_for

MARCH = ServicePeriod.month(2026, 3)
PATIENTS = 90
FILES = ("claims.csv", "claims.json", "denials.csv", "audit/packets.jsonl", "summary.json")
JAN_5 = pendulum.Date(2026, 1, 5)


def _records(n: int) -> list[object]:
    """Patient *n*: CCM-consented with a plan (agreed for most), and 0 to 5 staff entries in March."""
    pid = f"p{n:04d}"
    conditions = [
        Condition(
            id=f"{pid}-c{i}",
            patient_id=pid,
            coding=Coding.icd10cm(code),
            chronic=True,
            significant_risk=True,
            onset=pendulum.Date(2019, 1, 1),
        )
        for i, code in enumerate(("E11.65", "I50.22"))
    ]
    draft = draft_plan(f"{pid}-cp", pid, conditions=conditions, on=JAN_5, responsible_id="dr1")
    plan = evolve(
        draft,
        expected_outcome="Stable",
        shared_with_patient_on=JAN_5,
        assessments=[
            AssessmentNote(domain=d, summary="done")
            for d in (
                AssessmentDomain.FUNCTIONAL,
                AssessmentDomain.ENVIRONMENTAL,
                AssessmentDomain.CAREGIVER,
            )
        ],
    )
    out: list[object] = [
        Patient(
            id=pid,
            given_name="Test",
            family_name=f"Patient {n}",
            birth_date=pendulum.Date(1950, 1, 1),
            sex=AdministrativeSex.UNKNOWN,
            time_zone="America/Chicago",
        ),
        *conditions,
        Consent(
            id=f"{pid}-k",
            patient_id=pid,
            family=ServiceFamily.CCM,
            method=ConsentMethod.VERBAL,
            obtained_on=JAN_5,
            obtained_by="dr1",
            billing_practitioner_id="dr1",
            cost_sharing_explained=True,
        ),
        FaceToFaceVisit(
            id=f"{pid}-v",
            patient_id=pid,
            on=JAN_5,
            kind=VisitKind.OFFICE_EM,
            mdm=MdmLevel.MODERATE,
            billing_practitioner_id="dr1",
            em_code="99214",
        ),
        plan.activate() if n % 5 else plan,
    ]
    out += [
        TimeEntry(
            id=f"{pid}-t{k}",
            patient_id=pid,
            performer_id="rn1",
            credential=Credential.RN,
            role_class=RoleClass.CLINICAL_STAFF,
            minutes=4 + (n * 7 + k * 3) % 12,
            family=ServiceFamily.CCM,
            activity="check-in call",
            service_date=pendulum.Date(2026, 3, 2 + 5 * k),
            billing_practitioner_id="dr1",
        )
        for k in range(n % 6)
    ]
    return out


@pytest.fixture
def store(postgres_url):
    with CareProgram.open(
        postgres_url, actor="test", clock=FixedClock(pendulum.datetime(2026, 4, 2, 9))
    ) as program:
        with program.transaction("seed") as tx:
            tx.add(Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD))
            tx.add_many([r for n in range(PATIENTS) for r in _records(n)])
        yield program


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # The scheduler's HTTP routes on a free port: another cluster may hold 8787.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    ) as running:
        yield running


def _stored(program):
    with program.transaction("look") as tx:
        lines, denials = tx.all(ClaimLine), tx.all(Denial)
    return sorted(map(repr, lines)), sorted(map(repr, denials))


def _close(program, out, **options):
    close_store(program, MARCH, cms_rule_set(2026), out, **options)
    return {name: (out / name).read_bytes() for name in FILES}, _stored(program)


def test_every_executor_and_partition_count_closes_alike(store, tmp_path, cluster):
    files, stored = _close(store, tmp_path / "one", workers=1, partitions=1)
    assert stored[0], "the store close billed some patients"
    assert stored[1], "and denied others"
    assert len(stored[0]) == len(set(stored[0]))
    runs = {"local-7": _close(store, tmp_path / "l7", workers=1, partitions=7)}
    with get_executor("process", workers=2) as pool:
        runs["process-64"] = _close(store, tmp_path / "p64", executor=pool, partitions=64)
    with get_executor("dask", scheduler=cluster.scheduler_address) as dask:
        for count in (1, 7, 64):
            runs[f"dask-{count}"] = _close(
                store, tmp_path / f"d{count}", executor=dask, partitions=count
            )
    for name, run in runs.items():
        assert run == (files, stored), name


def test_partitions_are_read_and_written_back_by_the_workers(store, tmp_path, cluster):
    # The driver reads no record of a partition: every partition is read on a worker.
    read = []
    original = _store_parts.read_partition

    def counting(tx, ids):
        read.append(len(ids))
        return original(tx, ids)

    _store_parts.read_partition = counting
    try:
        with get_executor("dask", scheduler=cluster.scheduler_address) as dask:
            close_store(
                store, MARCH, cms_rule_set(2026), tmp_path / "d", executor=dask, partitions=7
            )
    finally:
        _store_parts.read_partition = original
    assert read == []
    with store.transaction("look") as tx:
        written = [e for e in tx.audit_entries() if "partition" in (e.reason or "")]
    assert written, "each partition's lines are stored under its own reason"


_REAL_TASK = _store_parts._close_part


def test_a_worker_killed_mid_close_loses_and_doubles_nothing(store, tmp_path, cluster, monkeypatch):
    expected = _close(store, tmp_path / "local", workers=1, partitions=7)
    with store.transaction("clear") as tx:  # the close starts from a store with no lines
        for cls in (ClaimLine, Denial):
            for item in tx.all(cls):
                tx.delete(cls, kind_for(cls).key_of(item))
    marker = str(tmp_path / "killed")
    real = _REAL_TASK

    def dies_once(state, index, part, out, ship_text=False):
        # The close's partition task, but the worker running partition 3 is killed once.
        # (A local function travels by value: the test module is not importable there.)
        if index == 3 and not os.path.exists(marker):  # noqa: PTH110
            with open(marker, "w", encoding="utf-8"):  # noqa: PTH123
                pass
            os.kill(os.getpid(), signal.SIGKILL)
        return real(state, index, part, out, ship_text)

    with get_executor("dask", scheduler=cluster.scheduler_address) as dask:
        monkeypatch.setattr(_store_parts, "_close_part", dies_once)
        first = _close(store, tmp_path / "first", executor=dask, partitions=7)
        monkeypatch.setattr(_store_parts, "_close_part", _REAL_TASK)
        assert os.path.exists(marker), "a worker was killed in the close"  # noqa: PTH110
        again = _close(store, tmp_path / "again", executor=dask, partitions=7)
    assert first == expected
    assert again == expected
