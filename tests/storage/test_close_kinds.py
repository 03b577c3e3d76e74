"""The kinds schema 8 added for month closes: stored and read back by the memory and SQLite stores."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import (
    ApcmAddon,
    BhAddon,
    DeviceSetup,
    ExternalClaim,
    MdmAssessment,
    MdmLevel,
    ProgramElection,
    ServiceFamily,
)
from carecore.storage import KINDS, SCHEMA_VERSION, kind_for, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, make_patient

PID = "contract-patient"
DAY = pendulum.Date(2026, 3, 2)

NEW = [
    MdmAssessment(
        id="m1",
        patient_id=PID,
        family=ServiceFamily.CCM,
        level=MdmLevel.MODERATE,
        on=DAY,
        billing_practitioner_id="dr1",
    ),
    DeviceSetup(
        id="s1",
        patient_id=PID,
        family=ServiceFamily.RPM,
        on=DAY,
        billing_practitioner_id="dr1",
        device="bp_cuff",
    ),
    DeviceSetup(
        id="s2", patient_id=PID, family=ServiceFamily.RTM, on=DAY, billing_practitioner_id="dr1"
    ),
    ApcmAddon(
        id="a1", patient_id=PID, addon=BhAddon.COCM_INITIAL, on=DAY, billing_practitioner_id="dr1"
    ),
    ExternalClaim(id="x1", patient_id=PID, code="99495", on=DAY, billing_practitioner_id="dr2"),
    ProgramElection(
        id="e1",
        patient_id=PID,
        prefer_family=ServiceFamily.COCM,
        on=DAY,
        billing_practitioner_id="dr1",
    ),
]


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    with store.transaction(actor="t", reason="setup", at=AT) as tx:
        tx.add(make_patient())
    yield store
    store.close()


def test_the_new_kinds_arrive_with_schema_8():
    tables = {k.table: k.since for k in KINDS}
    for name in (
        "mdm_assessments",
        "device_setups",
        "apcm_addons",
        "external_claims",
        "program_elections",
    ):
        assert tables[name] == 8
    assert SCHEMA_VERSION >= 8


@pytest.mark.parametrize("value", NEW, ids=lambda v: f"{type(v).__name__}-{v.id}")
def test_each_new_kind_comes_back_equal(store, value):
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(value)
    with store.transaction(actor="t", reason="read", at=AT) as tx:
        assert tx.get(type(value), kind_for(type(value)).key_of(value)) == value
        assert tx.find(type(value), patient_id=PID) == [value]


@pytest.mark.parametrize("value", NEW[:1] + NEW[3:], ids=lambda v: type(v).__name__)
def test_each_new_kind_needs_a_stored_patient(store, value):
    import attrs

    with (
        pytest.raises(errors.InvalidValue) as info,
        store.transaction(actor="t", reason="add", at=AT) as tx,
    ):
        tx.add(attrs.evolve(value, patient_id="nobody"))
    assert info.value.field == "patient_id"


def test_a_schema_7_database_migrates_and_keeps_its_records(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=7)
    old._ready = True  # write as a version-7 carecore would have
    with old.transaction(actor="a", reason="r", at=AT) as tx:
        tx.add(make_patient())
    old.close()
    store = SqliteStore(url)
    try:
        assert store.migrate()[0] == 8
        store.initialize()
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.get(type(make_patient()), PID) == make_patient()
            for value in NEW:
                tx.add(value)
        with store.transaction(actor="a", reason="r", at=AT) as tx:
            assert tx.all(ExternalClaim) == [NEW[4]]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: DeviceSetup(
                id="s",
                patient_id=PID,
                family=ServiceFamily.CCM,
                on=DAY,
                billing_practitioner_id="d",
            ),
            "family",
        ),
        (
            lambda: ExternalClaim(
                id="x", patient_id=PID, code="9949", on=DAY, billing_practitioner_id="d"
            ),
            "code",
        ),
        (
            lambda: ApcmAddon(
                id="a", patient_id=PID, addon="bhi", on=DAY, billing_practitioner_id="d"
            ),
            "addon",
        ),
    ],
)
def test_bad_values_name_their_field(build, field):
    with pytest.raises(errors.InvalidValue) as info:
        build()
    assert info.value.field == field
