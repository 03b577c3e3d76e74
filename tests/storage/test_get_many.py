"""Transaction.get_many: the stored records of many keys at once, the missing ones left out."""

from __future__ import annotations

import pytest

from carecore import errors
from carecore.access import AccessPolicy, Action
from carecore.model import Patient, PatientLink
from carecore.service import CareProgram
from carecore.storage import open_store
from carecore.testing._store_contract import AT, make_patient


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'p.db'}")
    store.initialize()
    with store.transaction(actor="admin", reason="setup", at=AT) as tx:
        for pid in ("p1", "p2"):
            tx.add(make_patient(pid))
            tx.add(PatientLink(system="GEN", value=pid.upper(), patient_id=pid))
    yield store
    store.close()


def test_found_records_in_the_order_asked_and_the_missing_left_out(store):
    keys = [("GEN", "P2"), ("GEN", "NONE"), ("GEN", "P1"), ("OTHER", "P1")]
    with store.transaction(actor="nurse", reason="lookup", at=AT) as tx:
        before = tx.audit_entries()[-1].seq
        found = tx.get_many(PatientLink, keys)
        reads = [(e.action, e.kind, e.key, e.patient_id) for e in tx.audit_entries(after=before)]
        assert tx.get_many(PatientLink, []) == []
    assert [(link.value, link.patient_id) for link in found] == [("P2", "p2"), ("P1", "p1")]
    # Each record found is audited as get audits it; a key not stored writes nothing.
    assert reads == [
        ("read", "PatientLink", "GEN|P2", "p2"),
        ("read", "PatientLink", "GEN|P1", "p1"),
    ]


def test_a_text_is_not_a_list_of_keys(store):
    with (
        store.transaction(actor="nurse", reason="lookup", at=AT) as tx,
        pytest.raises(errors.InvalidValue) as caught,
    ):
        tx.get_many(Patient, "p1")
    assert caught.value.field == "keys"


class _OnlyP1(AccessPolicy):
    def allows(self, request):
        return request.action is not Action.READ or request.patient_id in {None, "p1"}


def test_through_a_program_each_record_found_is_checked_against_the_policy(store):
    # As get: a patient's key is checked before it is read, any other record once found.
    program = CareProgram(store=store, actor="nurse", policy=_OnlyP1())
    with program.transaction("lookup") as tx:
        assert [p.id for p in tx.get_many(Patient, ["p1"])] == ["p1"]
        links = tx.get_many(PatientLink, [("GEN", "P1"), ("GEN", "NONE")])
        assert [link.patient_id for link in links] == ["p1"]
    for kind, keys in ((Patient, ["p1", "p2"]), (PatientLink, [("GEN", "P1"), ("GEN", "P2")])):
        with pytest.raises(errors.AccessDenied), program.transaction("lookup") as tx:
            tx.get_many(kind, keys)
