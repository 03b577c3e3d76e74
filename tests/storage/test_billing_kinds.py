"""Schema 11: the practice's billing identity and patients' addresses, stored and read back."""

from __future__ import annotations

import pytest

from carecore.model import BillingIdentity, PatientAddress, PostalAddress
from carecore.storage import KINDS, SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, make_patient

PID = "contract-patient"
IDENTITY = BillingIdentity(
    id="practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(
        line1="100 Main St", line2="Suite 2", city="Chicago", state="IL", postal_code="606011234"
    ),
    phone="3125550100",
    payer_id="06102",
    taxonomy="207Q00000X",
)
HOME = PatientAddress(
    patient_id=PID,
    address=PostalAddress(line1="1 Elm St", city="Evanston", state="IL", postal_code="60201"),
)


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    with store.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
    yield store
    store.close()


def test_the_billing_kinds_arrive_with_schema_11():
    tables = {k.table: k.since for k in KINDS}
    assert tables["billing_identities"] == 11
    assert tables["patient_addresses"] == 11
    assert SCHEMA_VERSION >= 11


def test_identity_and_address_come_back_equal(store):
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(IDENTITY)
        tx.add(HOME)
    with store.transaction(actor="t", reason="read", at=AT) as tx:
        assert tx.all(BillingIdentity) == [IDENTITY]
        assert tx.get(BillingIdentity, "practice") == IDENTITY
        assert tx.find(PatientAddress, patient_id=PID) == [HOME]


def test_a_schema_8_database_migrates_and_keeps_its_records(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=8)
    old._ready = True  # write as a version-8 carecore would have
    with old.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
    old.close()
    store = SqliteStore(url)
    try:
        assert 11 in store.migrate()
        store.initialize()
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.get(type(make_patient()), PID) == make_patient()
            tx.add(IDENTITY)
            tx.add(HOME)
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.all(PatientAddress) == [HOME]
    finally:
        store.close()
