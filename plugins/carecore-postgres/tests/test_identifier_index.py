"""Patients by identifier on PostgreSQL (schema 17): a GIN index on the identifiers, kept by
every write, and the lookup answered from it rather than by reading every patient."""

from __future__ import annotations

import attrs
import psycopg

from carecore.model import Identifier, Patient
from carecore.storage import open_store
from carecore.testing._store_contract import AT, make_patient


def _patient(patient_id, *pairs):
    return attrs.evolve(
        make_patient(patient_id),
        identifiers=tuple(Identifier(system=s, value=v) for s, v in pairs),
    )


def _lookup(store, system, value):
    with store.transaction(actor="t", reason="lookup", at=AT) as tx:
        return tx.patients_with_identifier(system, value)


def test_the_lookup_follows_writes_and_reads_the_index(postgres_url):
    store = open_store(postgres_url)
    store.initialize()
    try:
        with store.transaction(actor="t", reason="add", at=AT) as tx:
            tx.add(_patient("p1", ("GEN", "1"), ("MERCY", "9")))
            tx.add(_patient("p3", ("GEN", "1")))
            tx.add(_patient("p4", ("GEN", "12_4%"), ("GEN", 'q"uote\\d')))
        store.bulk_add([_patient("p2", ("GEN", "2"))], actor="t", reason="load", at=AT)
        assert _lookup(store, "GEN", "1") == ["p1", "p3"]
        assert _lookup(store, "GEN", "2") == ["p2"]
        assert _lookup(store, "MERCY", "1") == []
        assert _lookup(store, "GEN", "12_4%") == ["p4"]
        assert _lookup(store, "GEN", 'q"uote\\d') == ["p4"]
        assert _lookup(store, "GEN", "1234") == []
        with store.transaction(actor="t", reason="replace", at=AT) as tx:
            tx.replace(_patient("p1", ("GEN", "3")))
            tx.delete(Patient, "p2")
        assert _lookup(store, "GEN", "1") == ["p3"]
        assert _lookup(store, "GEN", "3") == ["p1"]
        assert _lookup(store, "GEN", "2") == []
        query, params = store._identifier_lookup("GEN", "1")
    finally:
        store.close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("SET enable_seqscan = off")  # a tiny table is scanned whenever it may be
        plan = "\n".join(
            row[0] for row in conn.execute("EXPLAIN " + query.replace("?", "%s"), params)
        )
    assert "patients_identifiers" in plan, plan
