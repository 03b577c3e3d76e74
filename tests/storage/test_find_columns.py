"""find_columns: some columns of find_rows's rows, in its order, read and audited alike (issue 15).

A store close reads each care plan's dates, status and completeness, and the
number of its stored versions, without the plan's content.
"""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.access import AccessPolicy, Action
from carecore.model import CarePlan, Patient, TimeEntry
from carecore.service import CareProgram
from carecore.storage import kind_for, open_store
from carecore.testing._store_contract import AT

from ..billing.test_month_facts import at, ccm_patient, staff_minutes

IDS = ["p2", "p10", "p1", "pé"]


@pytest.fixture
def program(tmp_path):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'cols.db'}", actor="test", clock=at(2026, 1, 5)
    )
    for n, pid in enumerate(IDS):
        ccm_patient(program, pid, agreed=n % 2 == 0)
    with program.transaction("time") as tx:
        for n, pid in enumerate(IDS):
            tx.add(staff_minutes(1, pendulum.Date(2026, 3, 4 + n), 5 * (n + 1), pid=pid))
            tx.add(staff_minutes(2, pendulum.Date(2026, 3, 2), 20, pid=pid))
    program.clock = at(2026, 3, 12)
    program.revise_care_plan("p10-cp", lambda p: p.activate(), reason="agreed")
    yield program
    program.close()


@pytest.mark.parametrize(
    ("cls", "columns", "history"),
    [
        (CarePlan, ("id", "patient_id", "version", "status", "cms_complete"), False),
        (CarePlan, ("cms_complete", "id"), False),
        (CarePlan, ("version",), True),
        (CarePlan, ("id",), True),
        (TimeEntry, ("minutes", "service_date"), False),
        (Patient, ("time_zone",), False),
    ],
)
def test_the_columns_of_find_rows_rows_in_its_order(program, cls, columns, history):
    names = kind_for(cls).column_names
    with program.transaction("read") as tx:
        rows = tx.find_rows(cls, patient_ids=IDS, history=history).rows
        found = tx.find_columns(cls, patient_ids=IDS, columns=columns, history=history)
    assert found == [tuple(row[names.index(c)] for c in columns) for row in rows]
    assert len(found) >= len(IDS)


def test_the_read_is_audited_as_find_rows_audits_it(program):
    with program.transaction("read") as tx:
        before = tx.audit_entries()[-1].seq
        tx.find_columns(CarePlan, patient_ids=IDS, columns=("id",), history=True)
    with program.transaction("look") as tx:
        entries = tx.audit_entries(after=before)
    reads = [(e.action, e.kind, e.detail) for e in entries if e.action == "read"]
    assert reads == [("read", "CarePlan", "5 versions of 4 patients")]
    bulk = sorted((e.patient_id, e.detail) for e in entries if e.action == "bulk-read")
    assert bulk == sorted((pid, "CarePlan") for pid in IDS)


def test_unknown_or_no_columns_are_refused(program):
    for columns in (("id", "nope"), (), "id"):
        with pytest.raises(errors.InvalidValue) as caught, program.transaction("read") as tx:
            tx.find_columns(CarePlan, patient_ids=IDS, columns=columns)
        assert caught.value.field == "columns"


class _NotP1(AccessPolicy):
    def allows(self, request):
        return request.action is not Action.READ or request.patient_id != "p1"


def test_the_policy_decides_as_for_find_rows(program):
    guarded = CareProgram(store=program.store, actor="nurse", policy=_NotP1())
    outcomes = []
    for read in (
        lambda tx: [row[1] for row in tx.find_rows(CarePlan, patient_ids=IDS).rows],
        lambda tx: [
            row[1]
            for row in tx.find_columns(CarePlan, patient_ids=IDS, columns=("id", "patient_id"))
        ],
    ):
        try:
            with guarded.transaction("read") as tx:
                outcomes.append(read(tx))
        except errors.AccessDenied as exc:
            outcomes.append(type(exc))
    assert outcomes[0] == outcomes[1]


def test_store_level_reads_need_no_program(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.initialize()
    try:
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.find_columns(CarePlan, patient_ids=["x"], columns=("id",)) == []
    finally:
        store.close()
