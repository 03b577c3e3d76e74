"""Schema 20 on PostgreSQL (issue 15): each care-plan version keeps whether it was CMS-complete,
written with the version (add, replace, bulk load) and worked out by the migration for the
versions stored before."""

from __future__ import annotations

import attrs
import psycopg

from carecore.careplans import completeness, draft_plan
from carecore.model import AssessmentDomain, AssessmentNote, Coding, Condition
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.testing._store_contract import AT, make_patient


def _complete(pid):
    diabetes = Condition(
        id=f"{pid}-c1", patient_id=pid, coding=Coding.icd10cm("E11.65"), chronic=True
    )
    draft = draft_plan(f"{pid}-cp", pid, conditions=[diabetes], on=AT.date(), responsible_id="dr1")
    notes = [
        AssessmentNote(domain=d, summary="done")
        for d in (
            AssessmentDomain.FUNCTIONAL,
            AssessmentDomain.ENVIRONMENTAL,
            AssessmentDomain.CAREGIVER,
            AssessmentDomain.PSYCHOSOCIAL,
        )
    ]
    plan = attrs.evolve(
        draft, expected_outcome="Stable", shared_with_patient_on=AT.date(), assessments=notes
    )
    assert completeness(plan).complete, completeness(plan).missing
    return plan


def _flags(url, table):
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT id, version, cms_complete FROM {table}").fetchall()  # noqa: S608
    return {(r[0], r[1]): r[2] for r in rows}


def test_versions_keep_their_completeness_and_the_migration_fills_it_in(postgres_url):
    store = open_store(postgres_url)
    store.initialize()
    draft = attrs.evolve(_complete("p1"), expected_outcome=None)
    try:
        with store.transaction(actor="t", reason="add", at=AT) as tx:
            for pid in ("p1", "p2"):
                tx.add(make_patient(pid))
            tx.add(draft)
        with store.transaction(actor="t", reason="agree", at=AT) as tx:
            tx.replace(attrs.evolve(draft, expected_outcome="Stable", version=2))
        store.bulk_add([_complete("p2").activate()], actor="t", reason="load", at=AT)
    finally:
        store.close()
    expected = {("p1-cp", 1): False, ("p1-cp", 2): True, ("p2-cp", 2): True}
    assert _flags(postgres_url, "care_plans_history") == expected
    assert _flags(postgres_url, "care_plans") == {("p1-cp", 2): True, ("p2-cp", 2): True}
    # As a schema-19 store had them: no flags. Migration 20 works them out.
    with psycopg.connect(postgres_url) as conn:
        for table in ("care_plans", "care_plans_history"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN cms_complete")
        for table in ("transition_episodes", "transition_episodes_history"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN discharge_date")  # schema 21
        conn.execute("UPDATE carecore_schema SET version = 19")
    store = open_store(postgres_url)
    try:
        assert store.migrate() == list(range(20, SCHEMA_VERSION + 1))
    finally:
        store.close()
    assert _flags(postgres_url, "care_plans_history") == expected
