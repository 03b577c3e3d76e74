"""Audit reasons that count read one record as "1 record", not "1 records" (issue 22)."""

from __future__ import annotations

import pytest

from carecore.model import Patient
from carecore.storage import open_store
from carecore.testing._store_contract import AT, PID, make_patient


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'practice.db'}")
    store.initialize()
    with store.transaction(actor="rn:ana", reason="enrollment", at=AT) as tx:
        tx.add(make_patient())
    yield store
    store.close()


def _trail(store, **where):
    with store.transaction(actor="rn:ana", reason="audit", at=AT) as tx:
        return tx.audit_entries(**where)


def _details(store, read) -> list[str]:
    """The audit details written by *read* (run in its own transaction)."""
    before = _trail(store)[-1].seq
    with store.transaction(actor="rn:ana", reason="count", at=AT) as tx:
        read(tx)
    return [e.detail for e in _trail(store, after=before)]


@pytest.mark.parametrize(
    ("read", "detail"),
    [
        (lambda tx: tx.find(Patient, patient_id=PID), "1 record"),
        (lambda tx: tx.patient_ids(), "ids of 1 patient"),
        (lambda tx: tx.all(Patient), "all 1 record"),
        (lambda tx: tx.find_rows(Patient, patient_ids=[PID]), "1 record of 1 patient"),
    ],
    ids=["find", "patient_ids", "all", "find_rows"],
)
def test_one_is_singular(store, read, detail):
    assert detail in _details(store, read)


def test_many_stay_plural(store):
    with store.transaction(actor="rn:ana", reason="more", at=AT) as tx:
        tx.add(make_patient("p-two"))
    assert "ids of 2 patients" in _details(store, lambda tx: tx.patient_ids())
    assert "all 2 records" in _details(store, lambda tx: tx.all(Patient))


def test_one_audit_entry_read_is_singular(store):
    # the patient's trail holds one entry (the create); reading it is audited with the count
    assert len(_trail(store, patient_id=PID)) == 1
    assert _trail(store)[-1].detail == "1 entry"
