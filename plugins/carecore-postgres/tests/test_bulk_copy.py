"""Bulk loads COPY straight into the table; a load holding stored keys falls back to the staging path."""

from __future__ import annotations

import pendulum
import psycopg

from carecore.model import CarePlan, Patient
from carecore.storage import open_store
from carecore.testing._store_contract import make_care_plan, make_patient, make_time_entry

AT = pendulum.datetime(2026, 3, 1, 12, tz="UTC")


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_a_load_of_new_keys_then_one_holding_stored_keys_adds_each_row_once(postgres_url):
    store = open_store(postgres_url)
    store.initialize()
    try:
        patients = [make_patient(f"p{n:03d}") for n in range(120)]
        first = store.bulk_add(patients, actor="loader", reason="first", at=AT)
        assert (first.added, first.skipped) == (120, 0)
        # Half stored already, one new key offered twice: the COPY fails on a stored key and
        # the chunk is stored through the staging table, skipping the stored and the repeat.
        again = [make_patient(f"p{n:03d}") for n in range(60, 180)] + [make_patient("p170")]
        second = store.bulk_add(again, actor="loader", reason="second", at=AT)
        assert (second.added, second.skipped) == (60, 61)
        entries = [make_time_entry(n, patient_id=f"p{n % 180:03d}") for n in range(400)]
        third = store.bulk_add(entries, actor="loader", reason="time", at=AT)
        assert (third.added, third.skipped) == (400, 0)
        with store.transaction(actor="t", reason="look", at=AT) as tx:
            assert len(tx.all(Patient)) == 180
            assert tx.get(Patient, "p150") == make_patient("p150")
            assert tx.get(type(entries[7]), entries[7].id) == entries[7]
        # One audit row a patient of each load, and one for each load, chained unbroken.
        per_patient = _count(
            postgres_url,
            "SELECT count(*) FROM audit WHERE action = 'bulk-create' AND patient_id IS NOT NULL",
        )
        assert per_patient == 120 + 120 + 180
        assert store.check().ok
    finally:
        store.close()


def test_a_copied_plan_load_keeps_each_new_plan_in_history_and_no_version_of_a_stored_one(
    postgres_url,
):
    store = open_store(postgres_url)
    store.initialize()
    try:
        store.bulk_add([make_patient()], actor="loader", reason="p", at=AT)
        plans = [make_care_plan(f"cp{n}") for n in range(60)]
        assert store.bulk_add(plans, actor="loader", reason="plans", at=AT).added == 60
        later = [
            *(p.activate() for p in plans[:30]),
            *(make_care_plan(f"cp{n}") for n in range(60, 90)),
        ]
        result = store.bulk_add(later, actor="loader", reason="plans", at=AT)
        assert (result.added, result.skipped) == (30, 30)
        with store.transaction(actor="t", reason="look", at=AT) as tx:
            assert [p.version for p in tx.history(CarePlan, "cp3")] == [1]
            assert [p.version for p in tx.history(CarePlan, "cp75")] == [1]
        assert _count(postgres_url, "SELECT count(*) FROM care_plans_history") == 90
        assert store.check().ok
    finally:
        store.close()
