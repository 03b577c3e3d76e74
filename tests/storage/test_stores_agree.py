"""The memory and SQLite stores, driven by the same random operations, must agree.

A hypothesis state machine applies each step (adds, replacements, deletes,
revisions with right and wrong versions, outbox and inbound writes, doomed
transactions, bulk loads with bad rows) to both stores and compares what each
one did: the error type raised, the records kept, the audit log and the
outbox. Bad input is part of the mix on purpose.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from carecore import errors
from carecore.model import CarePlan, TimeEntry
from carecore.storage import open_store
from carecore.testing._store_contract import (
    AT,
    PID,
    make_care_plan,
    make_message,
    make_patient,
    make_time_entry,
)

ENTRY_IDS = st.integers(0, 6)
PLAN_IDS = st.sampled_from(["cp1", "cp2"])
PATIENTS = st.sampled_from([PID, "p2", "ghost"])


def outcome(store, fn):
    """Run *fn* in a transaction; return the error type's name, or the result."""
    try:
        with store.transaction(actor="machine", reason="step", at=AT) as tx:
            return ("ok", fn(tx))
    except errors.CarecoreError as exc:
        return ("error", type(exc).__name__, exc.field)
    except RuntimeError as exc:
        return ("runtime", str(exc))


class StoresAgree(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.folder = tempfile.TemporaryDirectory()
        self.stores = [
            open_store("memory://"),
            open_store(f"sqlite:///{Path(self.folder.name) / 'agree.db'}"),
        ]
        for store in self.stores:
            store.initialize()
            with store.transaction(actor="machine", reason="setup", at=AT) as tx:
                tx.add(make_patient())
                tx.add(make_patient("p2"))

    def teardown(self):
        for store in self.stores:
            store.close()
        self.folder.cleanup()

    def both(self, fn):
        results = [outcome(store, fn) for store in self.stores]
        assert results[0] == results[1], results
        return results[0]

    @rule(n=ENTRY_IDS, patient=PATIENTS)
    def add_entry(self, n, patient):
        self.both(lambda tx: tx.add(make_time_entry(n, patient_id=patient)))

    @rule(n=ENTRY_IDS, minutes=st.integers(1, 60))
    def replace_entry(self, n, minutes):
        self.both(lambda tx: tx.replace(attrs.evolve(make_time_entry(n), minutes=minutes)))

    @rule(n=ENTRY_IDS)
    def delete_entry(self, n):
        self.both(lambda tx: tx.delete(TimeEntry, f"te-{n}"))

    @rule(plan=PLAN_IDS)
    def add_plan(self, plan):
        self.both(lambda tx: tx.add(make_care_plan(plan)))

    @rule(
        plan=PLAN_IDS,
        version=st.integers(1, 6),
        title=st.text(min_size=1, max_size=8).filter(str.strip),
    )
    def revise_plan(self, plan, version, title):
        self.both(
            lambda tx: tx.replace(attrs.evolve(make_care_plan(plan), version=version, title=title))
        )

    @rule(plan=PLAN_IDS)
    def read_history(self, plan):
        self.both(lambda tx: tx.history(CarePlan, plan))

    @rule(n=st.integers(0, 3), key=st.integers(0, 3))
    def enqueue(self, n, key):
        self.both(
            lambda tx: tx.enqueue(attrs.evolve(make_message(n), idempotency_key=f"key-{key}"))
        )

    @rule(key=st.sampled_from(["A", "B", " ", ""]))
    def claim(self, key):
        self.both(lambda tx: tx.claim_inbound("hl7", key))

    @rule(n=ENTRY_IDS, plan=PLAN_IDS)
    def doomed(self, n, plan):
        def fn(tx):
            tx.add(make_time_entry(100 + n))
            tx.add(make_care_plan(plan + "-doomed"))
            tx.enqueue(make_message(50 + n))
            raise RuntimeError("abandoned")

        self.both(fn)

    @rule(n=ENTRY_IDS)
    def swallowed_conflict(self, n):
        def fn(tx):
            tx.add(make_time_entry(200 + n))
            with contextlib.suppress(errors.ConflictError):
                tx.add(make_patient())
            return "done"

        self.both(fn)

    @rule(start=ENTRY_IDS, count=st.integers(0, 5), bad=st.booleans())
    def bulk(self, start, count, bad):
        entries = [make_time_entry(start + i) for i in range(count)]
        if bad:
            entries.append(make_time_entry(99, patient_id="ghost"))
        results = []
        for store in self.stores:
            try:
                r = store.bulk_add(entries, actor="machine", reason="bulk", at=AT)
                results.append((r.added, r.skipped))
            except errors.CarecoreError as exc:
                results.append((type(exc).__name__, exc.field, exc.value))
        assert results[0] == results[1], results

    @precondition(lambda self: True)
    @invariant()
    def same_records_audit_and_outbox(self):
        def snapshot(tx):
            return (
                tx.find(TimeEntry, patient_id=PID),
                tx.find(CarePlan, patient_id=PID),
                [
                    (e.seq, e.actor, e.action, e.kind, e.key, e.patient_id, e.detail)
                    for e in tx.audit_entries()
                ],
                [(i.message.id, i.status) for i in tx.outbox()],
            )

        self.both(snapshot)
        for store in self.stores:
            assert store.check().ok, store.check().problems


StoresAgree.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_memory_and_sqlite_agree = pytest.mark.filterwarnings("ignore::ResourceWarning")(
    StoresAgree.TestCase
)
