"""The store contract suites (re-exported by :mod:`carecore.testing.contracts`)."""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import pendulum
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.model import (
    AdministrativeSex,
    CarePlan,
    CarePlanStatus,
    Credential,
    DeliveryReceipt,
    OutboundMessage,
    Patient,
    Practitioner,
    RoleClass,
    ServiceFamily,
    TimeEntry,
)
from carecore.protocols import Store
from carecore.storage import KINDS, SCHEMA_VERSION, Kind, open_store
from carecore.testing.strategies import STRATEGIES

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["DurableStoreContract", "StoreContract"]

AT = pendulum.datetime(2026, 1, 5, 9, tz="America/Chicago")
PID = "contract-patient"
#: A second patient, for a record that moves from one patient to another.
OTHER = "contract-other"


def make_patient(patient_id: str = PID) -> Patient:
    """A valid patient for contract tests."""
    return Patient(
        id=patient_id,
        given_name="Ada",
        family_name="Lopez",
        birth_date=pendulum.date(1950, 3, 1),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )


def make_time_entry(n: int, patient_id: str = PID) -> TimeEntry:
    """The *n*-th of a series of valid time entries (ids ``te-<n>``).

    Built from a checked template by copying fields: a bulk test makes a
    million of these, and only the id, minutes and date (always valid) vary.
    """
    entry = object.__new__(TimeEntry)
    for name in _TIME_ENTRY_FIELDS:
        object.__setattr__(entry, name, getattr(_TEMPLATE, name))
    object.__setattr__(entry, "id", f"te-{n}")
    object.__setattr__(entry, "patient_id", patient_id)
    object.__setattr__(entry, "minutes", 1 + n % 30)
    object.__setattr__(entry, "service_date", _DATES[n % 28])
    return entry


def _checked_time_entry(n: int, patient_id: str = PID) -> TimeEntry:
    return TimeEntry(
        id=f"te-{n}",
        patient_id=patient_id,
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=1 + n % 30,
        family=ServiceFamily.CCM,
        activity="phone follow-up",
        service_date=pendulum.date(2026, 1, 1 + n % 28),
        billing_practitioner_id="dr1",
    )


_TEMPLATE = _checked_time_entry(0)
_TIME_ENTRY_FIELDS = tuple(f.name for f in attrs.fields(TimeEntry))
_DATES = tuple(pendulum.date(2026, 1, 1 + d) for d in range(28))


def make_care_plan(plan_id: str = "cp1", patient_id: str = PID) -> CarePlan:
    """A version-1 draft care plan."""
    return CarePlan(
        id=plan_id,
        patient_id=patient_id,
        title="Heart failure and diabetes",
        families=frozenset({ServiceFamily.CCM}),
        created_on=pendulum.date(2026, 1, 5),
    )


def make_message(n: int, patient_id: str | None = PID) -> OutboundMessage:
    """A console message with idempotency key ``key-<n>``."""
    return OutboundMessage(
        id=f"msg-{n}",
        idempotency_key=f"key-{n}",
        channel="console",
        recipient="rn1",
        subject="TCM contact due",
        body="Call the patient by Wednesday.",
        created_at=AT,
        patient_id=patient_id,
    )


def _same_key(kind: Kind, first: Any, other: Any) -> Any:
    """*other* with *first*'s key and patient (None when the mix is not a valid record).

    A versioned record becomes *first*'s next version.
    """
    names = kind.column_names
    keep = {*kind.key, kind.patient_column or ""}
    if keep >= set(names):
        # Nothing but the key and the patient (a patient link): it is relinked.
        keep = set(kind.key)
        if kind.references_patient:
            other = attrs.evolve(other, patient_id=OTHER)
    if "period_start" in keep:
        keep.add("period_end")
    row = [
        a if name in keep else b
        for name, a, b in zip(names, kind.to_row(first), kind.to_row(other), strict=True)
    ]
    try:
        mixed = kind.build(row)
        if kind.versioned:
            mixed = attrs.evolve(mixed, version=first.version + 1)
    except (ValueError, TypeError, errors.CarecoreError):
        return None
    return mixed


def revise(store: Store, plan_id: str, count: int, actor: str) -> int:
    """Revise a care plan *count* times, retrying on conflicts; return the retries."""
    retries = 0
    done = 0
    while done < count:
        try:
            with store.transaction(actor=actor, reason="care plan revision", at=AT) as tx:
                plan = tx.get(CarePlan, plan_id)
                tx.replace(attrs.evolve(plan, version=plan.version + 1, title=f"{actor} {done}"))
            done += 1
        except errors.ConflictError:
            retries += 1
        except errors.SchemaVersionError:
            raise  # no retry can help: the store is of another schema
        except errors.StoreError:
            retries += 1  # a transaction rolled back after a conflict inside it
    return retries


def _revise_in_process(url: str, plan_id: str, count: int, actor: str) -> None:
    store = open_store(url)
    try:
        revise(store, plan_id, count, actor)
    finally:
        store.close()


def _claim_in_process(url: str, key: str, results: Any) -> None:
    store = open_store(url)
    try:
        with store.transaction(actor="feed", reason="inbound ADT", at=AT) as tx:
            results.put(tx.claim_inbound("hl7", key))
    finally:
        store.close()


def _claim_outbox_in_process(url: str, results: Any) -> None:
    store = open_store(url)
    try:
        taken: list[str] = []
        while True:
            with store.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
                items = tx.claim_outbox(due_at=AT, lease_until=AT.add(minutes=5), limit=3)
            if not items:
                break
            taken += [i.message.id for i in items]
        results.put(taken)
    finally:
        store.close()


class StoreContract:
    """What every carecore store must do; override :meth:`store`.

    The fixture returns a new, empty store opened from its URL (not yet
    initialised). :attr:`BULK_ROWS` is the size of the bulk-load test.
    """

    #: Time entries loaded by :meth:`test_bulk_load_of_many_time_entries`.
    BULK_ROWS: ClassVar[int] = 1_000_000

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A new, empty store (override)."""
        raise NotImplementedError("override the 'store' fixture in your TestXxx(StoreContract)")

    @pytest.fixture
    def ready(self, store: Store) -> Store:
        """The store, initialised, with one patient stored."""
        store.initialize()
        with store.transaction(actor="contract", reason="setup", at=AT) as tx:
            tx.add(make_patient())
            tx.add(Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD))
        return store

    # -- schema ----------------------------------------------------------------------

    def test_is_a_store(self, store: Store) -> None:
        """The object satisfies the Store protocol; a new store is empty."""
        assert isinstance(store, Store)
        assert store.schema_version() == 0

    def test_initialize_is_idempotent(self, store: Store) -> None:
        """initialize() creates the schema once and then only checks it."""
        store.initialize()
        store.initialize()
        assert store.schema_version() == SCHEMA_VERSION
        assert store.check().ok

    def test_check_of_an_empty_store_reports_no_schema(self, store: Store) -> None:
        """A store never initialised is not called consistent."""
        report = store.check()
        assert (report.schema_version, report.ok, report.problems) == (
            0,
            False,
            ("no carecore schema",),
        )

    def test_transactions_do_not_nest(self, ready: Store) -> None:
        """Opening a transaction inside another on the same store is refused; the outer one still commits."""
        with ready.transaction(actor="contract", reason="outer", at=AT) as tx:
            tx.add(make_time_entry(1))
            with (
                pytest.raises(errors.StoreError, match="do not nest"),
                ready.transaction(actor="contract", reason="inner", at=AT),
            ):
                pass
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.get(TimeEntry, "te-1") == make_time_entry(1)

    def test_bulk_load_of_a_stored_plan_adds_no_version(self, ready: Store) -> None:
        """A bulk-loaded care plan whose id is stored is skipped, history and all."""
        plan = make_care_plan()
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(plan)
        later = attrs.evolve(plan, version=2, title="From another system")
        result = ready.bulk_add([later, make_care_plan("cp2")], actor="import", reason="t", at=AT)
        assert (result.added, result.skipped) == (1, 1)
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.history(CarePlan, "cp1") == [plan]
            assert tx.history(CarePlan, "cp2") == [make_care_plan("cp2")]
        assert ready.check().ok

    def test_refuses_work_before_initialize(self, store: Store) -> None:
        """Writing to a store without a schema is a typed error, not a crash."""
        with (
            pytest.raises(errors.StoreError, match="db init"),
            store.transaction(actor="contract", reason="too early", at=AT) as tx,
        ):
            tx.add(make_patient())

    # -- round trips -------------------------------------------------------------------

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.data())
    def test_round_trip_of_every_kind(self, ready: Store, data: st.DataObject) -> None:
        """Every stored kind comes back equal to what was stored."""
        for kind in KINDS:
            value = data.draw(STRATEGIES[kind.cls], label=kind.name)
            if kind.references_patient:
                value = attrs.evolve(value, patient_id=PID)
            key = kind.key_of(value)
            with ready.transaction(actor="contract", reason="round trip", at=AT) as tx:
                try:
                    stored = tx.get(kind.cls, key)
                except errors.NotFound:
                    stored = None
                if stored is None:
                    tx.add(value)
                elif kind.versioned:
                    value = attrs.evolve(value, version=stored.version + 1)
                    tx.replace(value)
                else:
                    tx.replace(value)
            with ready.transaction(actor="contract", reason="round trip", at=AT) as tx:
                assert tx.get(kind.cls, key) == value
                owner = kind.patient_of(value)
                if owner is not None:
                    assert value in tx.find(kind.cls, patient_id=owner)
                else:
                    assert value in tx.all(kind.cls)

    def test_adding_a_stored_key_conflicts(self, ready: Store) -> None:
        """A second add with the same key is a ConflictError and stores nothing."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.add(make_time_entry(1))
        with (
            pytest.raises(errors.ConflictError) as info,
            ready.transaction(actor="contract", reason="t", at=AT) as tx,
        ):
            tx.add(attrs.evolve(make_time_entry(1), minutes=59))
        assert info.value.value == "te-1"
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.get(TimeEntry, "te-1").minutes == make_time_entry(1).minutes

    def test_records_need_a_stored_patient(self, ready: Store) -> None:
        """Patient data for an unknown patient is refused, naming the field."""
        with (
            pytest.raises(errors.InvalidValue) as info,
            ready.transaction(actor="contract", reason="t", at=AT) as tx,
        ):
            tx.add(make_time_entry(1, patient_id="nobody"))
        assert info.value.field == "patient_id"

    def test_delete_removes_and_is_audited(self, ready: Store) -> None:
        """An entry made in error can be deleted; the audit log keeps the deletion."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.add(make_time_entry(1))
        with ready.transaction(actor="rn:ana", reason="entered in error", at=AT) as tx:
            tx.delete(TimeEntry, "te-1")
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.find(TimeEntry, patient_id=PID) == []
            deletes = [e for e in tx.audit_entries() if e.action == "delete"]
        assert [(e.actor, e.key, e.reason) for e in deletes] == [
            ("rn:ana", "te-1", "entered in error")
        ]
        assert ready.check().ok

    # -- versions ------------------------------------------------------------------------

    def test_care_plan_versions_and_history(self, ready: Store) -> None:
        """Each revision brings version + 1; every version stays in the history."""
        plan = make_care_plan()
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(plan)
        v2 = attrs.evolve(plan, version=2, status=CarePlanStatus.ACTIVE)
        v3 = attrs.evolve(v2, version=3, title="Revised after discharge")
        for revision in (v2, v3):
            with ready.transaction(actor="contract", reason="revision", at=AT) as tx:
                tx.replace(revision)
        with ready.transaction(actor="contract", reason="review", at=AT) as tx:
            assert tx.get(CarePlan, "cp1") == v3
            assert tx.history(CarePlan, "cp1") == [plan, v2, v3]

    def test_stale_write_conflicts_and_changes_nothing(self, ready: Store) -> None:
        """A write against a stale version raises ConflictError; store and audit log are unchanged."""
        plan = make_care_plan()
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(plan)
            tx.replace(attrs.evolve(plan, version=2))
            before = len(tx.audit_entries())
        stale = attrs.evolve(plan, version=2, title="Written from an old copy")
        with (
            pytest.raises(errors.ConflictError) as info,
            ready.transaction(actor="contract", reason="stale", at=AT) as tx,
        ):
            tx.replace(stale)
        assert info.value.field == "version"
        with ready.transaction(actor="contract", reason="review", at=AT) as tx:
            assert tx.get(CarePlan, "cp1").title == plan.title
            assert len(tx.history(CarePlan, "cp1")) == 2  # noqa: PLR2004
            assert len(tx.audit_entries()) == before + 2  # only the get and history reads above

    @pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.name)
    @settings(
        max_examples=3,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
            HealthCheck.filter_too_much,
        ],
    )
    @given(data=st.data())
    def test_every_kind_keeps_its_earlier_values(
        self, ready: Store, kind: Kind, data: st.DataObject
    ) -> None:
        """A replaced or deleted record of any kind keeps the value it had in its history."""
        first = data.draw(STRATEGIES[kind.cls], label="first")
        if kind.references_patient:
            first = attrs.evolve(first, patient_id=PID)
        second = _same_key(kind, first, data.draw(STRATEGIES[kind.cls], label="second"))
        assume(second is not None and kind.to_row(second) != kind.to_row(first))
        key = kind.key_of(first)
        with ready.transaction(actor="contract", reason="before", at=AT) as tx:
            if OTHER not in tx.patient_ids():
                tx.add(make_patient(OTHER))
            try:
                tx.get(kind.cls, key)
            except errors.NotFound:
                stored = False
            else:
                stored = True
            try:
                earlier = tx.history(kind.cls, key)
            except errors.NotFound:
                earlier = []
        assume(not stored)
        with ready.transaction(actor="contract", reason="new", at=AT) as tx:
            tx.add(first)
        with ready.transaction(actor="rn:ana", reason="corrected", at=AT) as tx:
            tx.replace(second)
        if kind.versioned:
            with (
                pytest.raises(errors.InvalidValue),
                ready.transaction(actor="contract", reason="t", at=AT) as tx,
            ):
                tx.delete(kind.cls, key)
        else:
            with ready.transaction(actor="rn:ana", reason="entered in error", at=AT) as tx:
                tx.delete(kind.cls, key)
        with ready.transaction(actor="contract", reason="review", at=AT) as tx:
            assert tx.history(kind.cls, key) == [*earlier, first, second]
            reads = [e for e in tx.audit_entries() if e.reason == "review"]
        assert ("read", kind.name, kind.key_text(key), kind.patient_of(first)) in [
            (e.action, e.kind, e.key, e.patient_id) for e in reads
        ]
        assert ready.check().ok

    def test_versioned_records_cannot_be_deleted(self, ready: Store) -> None:
        """History is never overwritten: a care plan changes status instead."""
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(make_care_plan())
        with (
            pytest.raises(errors.InvalidValue),
            ready.transaction(actor="contract", reason="t", at=AT) as tx,
        ):
            tx.delete(CarePlan, "cp1")

    def test_concurrent_revisions_lose_no_update(self, ready: Store) -> None:
        """Two writers revising one plan: every revision lands, in order, none lost."""
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(make_care_plan())
        per_writer = 15
        self.run_concurrently(ready, [("writer-a", per_writer), ("writer-b", per_writer)])
        with ready.transaction(actor="contract", reason="review", at=AT) as tx:
            history = tx.history(CarePlan, "cp1")
        assert [p.version for p in history] == list(range(1, 2 * per_writer + 2))
        titles = [p.title for p in history[1:]]
        for writer in ("writer-a", "writer-b"):
            assert [t for t in titles if t.startswith(writer)] == [
                f"{writer} {i}" for i in range(per_writer)
            ]
        assert ready.check().ok

    def run_concurrently(self, store: Store, writers: list[tuple[str, int]]) -> None:
        """Run the revision writers at once (threads here; processes for durable stores)."""
        threads = [
            threading.Thread(target=revise, args=(store, "cp1", n, who)) for who, n in writers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    # -- atomicity -----------------------------------------------------------------------------

    def test_failed_transaction_leaves_nothing_behind(self, ready: Store) -> None:
        """An exception in the block undoes the change, its audit entries, outbox rows and claims."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            audit_before = len(tx.audit_entries())
        with (
            pytest.raises(RuntimeError, match="boom"),
            ready.transaction(actor="contract", reason="doomed", at=AT) as tx,
        ):
            tx.add(make_patient("p2"))
            tx.add(make_time_entry(1, patient_id="p2"))
            tx.add(make_care_plan("cp2", patient_id="p2"))
            tx.enqueue(make_message(1, patient_id="p2"))
            tx.claim_inbound("hl7", "MSG-1")
            raise RuntimeError("boom")
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            with pytest.raises(errors.NotFound):
                tx.get(Patient, "p2")
            assert tx.find(TimeEntry, patient_id="p2") == []
            assert tx.outbox() == []
            assert (
                len(tx.audit_entries()) == audit_before + 1
            )  # this block's find (the get found nothing)
            assert tx.claim_inbound("hl7", "MSG-1") is True
        assert ready.check().ok

    def test_an_error_caught_inside_the_block_still_rolls_back(self, ready: Store) -> None:
        """Catching a store error inside the block does not let half the work commit."""
        with (
            pytest.raises(errors.StoreError),
            ready.transaction(actor="contract", reason="t", at=AT) as tx,
        ):
            tx.add(make_time_entry(1))
            with pytest.raises(errors.ConflictError):
                tx.add(make_patient())
            tx.add(make_time_entry(2))
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.find(TimeEntry, patient_id=PID) == []

    # -- audit ------------------------------------------------------------------------------------

    def test_reads_and_writes_are_audited(self, ready: Store) -> None:
        """Who, what, when and why, for writes and for reads of patient data."""
        at = pendulum.datetime(2026, 2, 3, 14, 30, tz="America/New_York")
        with ready.transaction(actor="rn:ana", reason="monthly call", at=at) as tx:
            tx.add(make_time_entry(7))
        with ready.transaction(actor="md:ruiz", reason="chart review", at=at) as tx:
            tx.get(TimeEntry, "te-7")
            tx.find(TimeEntry, patient_id=PID)
            tx.get(Practitioner, "dr1")  # not patient data: not a read of the record
            entries = tx.audit_entries(patient_id=PID)
        got = [(e.actor, e.action, e.kind, e.key, e.reason) for e in entries[-3:]]
        assert got == [
            ("rn:ana", "create", "TimeEntry", "te-7", "monthly call"),
            ("md:ruiz", "read", "TimeEntry", "te-7", "chart review"),
            ("md:ruiz", "read", "TimeEntry", None, "chart review"),
        ]
        assert all(e.at == at for e in entries[-3:])
        assert [e.seq for e in entries] == sorted({e.seq for e in entries})

    def test_a_recorded_denial_is_an_audit_entry(self, ready: Store) -> None:
        """``record_denial`` (optional) adds a ``denied`` entry naming the refused action, ids only."""
        with ready.transaction(actor="rn-2", reason="access denied: peek", at=AT) as tx:
            record = getattr(tx, "record_denial", None)
            if record is None:
                pytest.skip("the store cannot record access denials (carecore logs them instead)")
            record(action="read", kind="CarePlan", patient_id=PID)
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            found = [e for e in tx.audit_entries(patient_id=PID) if e.action == "denied"]
        assert [(e.actor, e.kind, e.key, e.detail, e.reason) for e in found] == [
            ("rn-2", "CarePlan", None, "read", "access denied: peek")
        ]
        assert ready.check().ok

    def test_bulk_reads_log_each_patient_touched(self, ready: Store) -> None:
        """``all`` and ``find_many`` add one ``bulk-read`` entry per patient they returned, at commit."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.add(make_time_entry(1))
        with ready.transaction(actor="md:ruiz", reason="roster", at=AT) as tx:
            tx.all(TimeEntry)
            tx.find_many(TimeEntry, patient_ids=[PID])
            tx.all(Practitioner)  # not patient data
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            bulk = [e for e in tx.audit_entries() if e.action == "bulk-read"]
        assert [(e.actor, e.kind, e.patient_id, e.detail, e.reason) for e in bulk] == [
            ("md:ruiz", "Patient", PID, "TimeEntry", "roster")
        ]
        assert ready.check().ok

    @pytest.mark.parametrize(
        ("name", "bad", "error"),
        [
            ("actor", {"actor": " "}, errors.InvalidValue),
            ("reason", {"reason": ""}, errors.InvalidValue),
            ("at", {"at": pendulum.naive(2026, 1, 5)}, errors.NaiveDatetime),
            ("at", {"at": "2026-01-05"}, errors.InvalidValue),
        ],
    )
    def test_audit_fields_are_required(
        self, ready: Store, name: str, bad: dict[str, object], error: type[Exception]
    ) -> None:
        """A transaction must say who, why and when (an aware instant)."""
        args: dict[str, Any] = {"actor": "contract", "reason": "t", "at": AT} | bad
        with pytest.raises(error) as info, ready.transaction(**args):
            pass
        assert getattr(info.value, "field", None) == name

    # -- outbox and inbound ---------------------------------------------------------------------

    def test_outbox_is_written_with_the_change_and_once_per_key(self, ready: Store) -> None:
        """Messages commit with the change; a repeated idempotency key is stored once."""
        with ready.transaction(actor="contract", reason="discharge", at=AT) as tx:
            tx.add(make_time_entry(1))
            assert tx.enqueue(make_message(1)) is True
        with ready.transaction(actor="contract", reason="discharge again", at=AT) as tx:
            assert tx.enqueue(attrs.evolve(make_message(1), id="msg-1b")) is False
            pending = tx.outbox()
        assert [i.message for i in pending] == [make_message(1)]
        receipt = DeliveryReceipt(message_id="msg-1", channel="console", accepted=True, at=AT)
        with ready.transaction(actor="outbox", reason="delivery", at=AT) as tx:
            tx.record_delivery(receipt)
        with ready.transaction(actor="outbox", reason="delivery", at=AT) as tx:
            assert tx.outbox() == []
            delivered = tx.outbox(status="delivered")
        assert [(i.message.id, i.attempts, i.delivered_at) for i in delivered] == [("msg-1", 1, AT)]

    def test_failed_delivery_is_kept_with_its_error(self, ready: Store) -> None:
        """A refused delivery is recorded as failed with the channel's detail."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.enqueue(make_message(2))
        receipt = DeliveryReceipt(
            message_id="msg-2", channel="console", accepted=False, at=AT, detail="mailbox full"
        )
        with ready.transaction(actor="outbox", reason="delivery", at=AT) as tx:
            tx.record_delivery(receipt)
        with ready.transaction(actor="outbox", reason="delivery", at=AT) as tx:
            failed = tx.outbox(status="failed")
        assert [(i.attempts, i.last_error) for i in failed] == [(1, "mailbox full")]

    def test_claimed_messages_are_held_until_the_lease_ends(self, ready: Store) -> None:
        """A claim takes due messages oldest first and holds them; a second claim gets the rest."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            for n in range(3):
                tx.enqueue(attrs.evolve(make_message(n), created_at=AT.add(seconds=n)))
        lease = AT.add(minutes=5)
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            first = tx.claim_outbox(due_at=AT, lease_until=lease, limit=2)
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            second = tx.claim_outbox(due_at=AT, lease_until=lease, limit=2)
            third = tx.claim_outbox(due_at=AT, lease_until=lease, limit=2)
        assert [i.message.id for i in first] == ["msg-0", "msg-1"]
        assert [i.message.id for i in second] == ["msg-2"]
        assert third == []
        assert all(i.next_attempt_at == lease and i.status == "pending" for i in first + second)
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            again = tx.claim_outbox(
                due_at=lease, lease_until=lease.add(minutes=5), limit=10
            )  # a dispatcher that died: its messages come back when the lease ends
        assert [i.message.id for i in again] == ["msg-0", "msg-1", "msg-2"]

    def test_only_the_newest_claim_extends_and_records(self, ready: Store) -> None:
        """A claim taken over after its lease ended can neither extend nor record (fencing)."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.enqueue(make_message(1))
        lease = AT.add(minutes=5)
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            (old,) = tx.claim_outbox(due_at=AT, lease_until=lease)
            assert tx.extend_lease("msg-1", claim=old.claim, until=lease.add(minutes=1))
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            (new,) = tx.claim_outbox(due_at=lease.add(minutes=1), lease_until=lease.add(minutes=9))
        assert new.claim > old.claim
        receipt = DeliveryReceipt(message_id="msg-1", channel="console", accepted=True, at=AT)
        with ready.transaction(actor="stale", reason="extend", at=AT) as tx:
            assert tx.extend_lease("msg-1", claim=old.claim, until=lease.add(minutes=30)) is False
        with (
            pytest.raises(errors.LeaseLost) as info,
            ready.transaction(actor="stale", reason="record", at=AT) as tx,
        ):
            tx.record_delivery(receipt, claim=old.claim)
        assert info.value.field == "claim"
        with ready.transaction(actor="dispatcher", reason="record", at=AT) as tx:
            assert [i.claim for i in tx.outbox(status="pending")] == [new.claim]
            tx.record_delivery(receipt, claim=new.claim)
        with ready.transaction(actor="dispatcher", reason="record", at=AT) as tx:
            assert [i.attempts for i in tx.outbox(status="delivered")] == [1]
            assert tx.extend_lease("msg-1", claim=new.claim, until=lease.add(minutes=30)) is False

    def test_a_failed_transaction_gives_its_claims_back(self, ready: Store) -> None:
        """Claims made in a transaction that fails are undone with it."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            tx.enqueue(make_message(1))
        with (
            pytest.raises(RuntimeError),
            ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx,
        ):
            assert len(tx.claim_outbox(due_at=AT, lease_until=AT.add(minutes=5))) == 1
            raise RuntimeError
        with ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx:
            assert [
                i.message.id for i in tx.claim_outbox(due_at=AT, lease_until=AT.add(minutes=5))
            ] == ["msg-1"]

    @pytest.mark.parametrize(
        ("due_at", "lease_until", "name"),
        [
            (AT.naive(), AT.add(minutes=5), "due_at"),
            (AT, "soon", "lease_until"),
            (AT, AT, "lease_until"),
        ],
    )
    def test_claims_refuse_bad_times(
        self, ready: Store, due_at: Any, lease_until: Any, name: str
    ) -> None:
        """A naive or non-time argument, or a lease that ends before it starts, is refused by name."""
        with (
            pytest.raises(errors.InvalidValue) as info,
            ready.transaction(actor="dispatcher", reason="claim", at=AT) as tx,
        ):
            tx.claim_outbox(due_at=due_at, lease_until=lease_until)
        assert info.value.field == name

    def test_inbound_keys_are_claimed_once(self, ready: Store) -> None:
        """The first claim of a message key wins; repeats are reported as duplicates."""
        with ready.transaction(actor="feed", reason="inbound ADT", at=AT) as tx:
            assert tx.claim_inbound("hl7", "MSG00001") is True
            assert tx.claim_inbound("hl7", "MSG00001") is False
            assert tx.claim_inbound("fhir", "MSG00001") is True
        with ready.transaction(actor="feed", reason="inbound ADT", at=AT) as tx:
            assert tx.claim_inbound("hl7", "MSG00001") is False

    # -- bulk -------------------------------------------------------------------------------------

    def test_bulk_load_of_many_time_entries(self, ready: Store) -> None:
        """A bulk load stores every row once; re-running it adds nothing."""
        rows = self.BULK_ROWS
        seen: list[int] = []
        result = ready.bulk_add(
            (make_time_entry(n) for n in range(rows)),
            actor="import",
            reason="EHR time export",
            at=AT,
            progress=seen.append,
        )
        assert (result.added, result.skipped) == (rows, 0)
        assert seen
        assert seen[-1] <= rows
        again = ready.bulk_add(
            (make_time_entry(n) for n in range(0, rows, max(1, rows // 1000))),
            actor="import",
            reason="EHR time export (re-run)",
            at=AT,
        )
        assert again.added == 0
        assert again.skipped == len(range(0, rows, max(1, rows // 1000)))
        report = ready.check()
        assert report.ok
        assert report.counts["time_entries"] == rows
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.get(TimeEntry, f"te-{rows - 1}") == make_time_entry(rows - 1)
            loads = [
                e for e in tx.audit_entries() if e.action == "bulk-create" and e.patient_id is None
            ]
        assert [e.detail for e in loads] == [f"added {rows} of {rows}", f"added 0 of {again.total}"]

    def test_bulk_load_with_an_unknown_patient_stores_nothing(self, ready: Store) -> None:
        """One bad row fails the whole load, naming the missing patient."""
        entries = [make_time_entry(n) for n in range(50)] + [
            make_time_entry(50, patient_id="ghost")
        ]
        with pytest.raises(errors.InvalidValue) as info:
            ready.bulk_add(entries, actor="import", reason="t", at=AT)
        assert (info.value.field, info.value.value) == ("patient_id", "ghost")
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            assert tx.find(TimeEntry, patient_id=PID) == []

    def test_bulk_load_refuses_mixed_kinds(self, ready: Store) -> None:
        """A bulk load holds one kind of record."""
        with pytest.raises(errors.InvalidValue) as info:
            ready.bulk_add(
                [make_time_entry(1), make_care_plan()], actor="import", reason="t", at=AT
            )
        assert info.value.field == "records"
        assert ready.check().counts["time_entries"] == 0

    # -- bad input ---------------------------------------------------------------------------------

    @pytest.mark.parametrize("thing", [object(), "a string", {"id": "x"}, 42])
    def test_unknown_kinds_are_refused(self, ready: Store, thing: object) -> None:
        """Only the stored kinds can be stored or asked for."""
        with (
            pytest.raises(errors.InvalidValue) as info,
            ready.transaction(actor="c", reason="t", at=AT) as tx,
        ):
            tx.add(thing)
        assert info.value.field == "kind"
        with (
            pytest.raises(errors.InvalidValue),
            ready.transaction(actor="c", reason="t", at=AT) as tx,
        ):
            tx.get(type(thing), "x")

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda tx: tx.find(TimeEntry, patient_id=""), "patient_id"),
            (lambda tx: tx.find(TimeEntry, patient_id=None), "patient_id"),
            (lambda tx: tx.outbox(status="sent"), "status"),
            (lambda tx: tx.outbox(limit=0), "limit"),
            (lambda tx: tx.record_delivery("msg-1"), "receipt"),
            (lambda tx: tx.enqueue("msg-1"), "message"),
            (lambda tx: tx.claim_inbound("hl7", " "), "key"),
        ],
    )
    def test_bad_arguments_name_their_field(self, ready: Store, call: Any, field: str) -> None:
        """Wrong arguments to a transaction's methods are typed errors naming the argument."""
        with (
            pytest.raises(errors.InvalidValue) as info,
            ready.transaction(actor="c", reason="t", at=AT) as tx,
        ):
            call(tx)
        assert info.value.field == field

    def test_missing_records_are_not_found(self, ready: Store) -> None:
        """get, history and replace of an unknown key raise NotFound naming the key."""
        with ready.transaction(actor="c", reason="t", at=AT) as tx:
            with pytest.raises(errors.NotFound) as info:
                tx.get(TimeEntry, "te-404")
            assert info.value.value == "te-404"
            with pytest.raises(errors.NotFound):
                tx.history(CarePlan, "cp-404")
        with pytest.raises(errors.NotFound), ready.transaction(actor="c", reason="t", at=AT) as tx:
            tx.replace(make_time_entry(404))


class DurableStoreContract(StoreContract):
    """Stores that outlive a process: the contract, with other processes and SIGKILL.

    Override :meth:`store` and :meth:`store_url` (the URL the fixture's store
    was opened from; other processes open it again).
    """

    @pytest.fixture
    def store_url(self) -> str:
        """The URL of the store returned by :meth:`store` (override)."""
        raise NotImplementedError(
            "override the 'store_url' fixture in your TestXxx(DurableStoreContract)"
        )

    @pytest.fixture(autouse=True)
    def _remember_url(self, store_url: str) -> None:
        self._url = store_url

    def run_concurrently(self, store: Store, writers: list[tuple[str, int]]) -> None:  # noqa: ARG002
        """Run the revision writers in separate processes, each with its own connection."""
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=_revise_in_process, args=(self._url, "cp1", n, who))
            for who, n in writers
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=300)
            assert p.exitcode == 0, f"writer process failed with exit code {p.exitcode}"

    @pytest.mark.usefixtures("ready")
    def test_inbound_claims_race_to_one_winner(self, store_url: str) -> None:
        """Four processes claiming one message key: exactly one wins."""
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_claim_in_process, args=(store_url, "MSG-RACE", results))
            for _ in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        claims = sorted(results.get(timeout=10) for _ in procs)
        assert claims == [False, False, False, True]

    @pytest.mark.usefixtures("ready")
    def test_dispatchers_in_other_processes_never_claim_one_message_twice(
        self, ready: Store, store_url: str
    ) -> None:
        """Three processes claiming 60 messages in small batches: each message is taken exactly once."""
        with ready.transaction(actor="contract", reason="t", at=AT) as tx:
            for n in range(60):
                tx.enqueue(attrs.evolve(make_message(n), created_at=AT.add(seconds=n)))
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        procs = [
            ctx.Process(target=_claim_outbox_in_process, args=(store_url, results))
            for _ in range(3)
        ]
        for p in procs:
            p.start()
        taken = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        every = [m for part in taken for m in part]
        assert sorted(every) == sorted(f"msg-{n}" for n in range(60))

    def _kill_mid(self, code: str, store_url: str, *, started: str, delay: float) -> None:
        with subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code, store_url],
            stdout=subprocess.PIPE,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        ) as proc:
            assert proc.stdout is not None
            # A child that never gets there must fail the test, not hang the run.
            ready, _, _ = select.select([proc.stdout], [], [], 120)
            if not ready:
                proc.kill()
                pytest.fail(f"the child did not say {started!r} within 120 s")
            line = proc.stdout.readline().decode().strip()
            assert line == started, f"child said {line!r}"
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL

    def _db_check(self, store_url: str) -> str:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "carecore.cli", "db", "check", store_url],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def test_killed_bulk_import_leaves_nothing_half_written(
        self, ready: Store, store_url: str
    ) -> None:
        """SIGKILL in the middle of a bulk import: nothing of it is stored; a re-run adds each row once."""
        rows = min(self.BULK_ROWS, 300_000)
        ready.close()
        code = f"""
import sys
from carecore.storage import open_store
from carecore.testing._store_contract import AT, make_time_entry
store = open_store(sys.argv[1])
def entries():
    for n in range({rows}):
        if n == 1000:
            print("importing", flush=True)
        yield make_time_entry(n)
store.bulk_add(entries(), actor="import", reason="killed import", at=AT)
print("finished", flush=True)
"""
        self._kill_mid(code, store_url, started="importing", delay=1.0)
        assert "consistent" in self._db_check(store_url)
        store = open_store(store_url)
        try:
            assert store.check().counts["time_entries"] == 0
            result = store.bulk_add(
                (make_time_entry(n) for n in range(5000)), actor="import", reason="re-run", at=AT
            )
            again = store.bulk_add(
                (make_time_entry(n) for n in range(5000)), actor="import", reason="re-run", at=AT
            )
            assert (result.added, again.added, again.skipped) == (5000, 0, 5000)
            assert store.check().counts["time_entries"] == 5000  # noqa: PLR2004
        finally:
            store.close()

    def test_killed_care_plan_revision_leaves_history_whole(
        self, ready: Store, store_url: str
    ) -> None:
        """SIGKILL while a process revises a plan in a loop: every stored version is whole."""
        with ready.transaction(actor="contract", reason="new plan", at=AT) as tx:
            tx.add(make_care_plan())
        ready.close()
        code = """
import sys
from carecore.storage import open_store
from carecore.testing._store_contract import revise
store = open_store(sys.argv[1])
revise(store, "cp1", 5, "warmup")
print("revising", flush=True)
revise(store, "cp1", 10**9, "loop")
"""
        self._kill_mid(code, store_url, started="revising", delay=0.5)
        assert "consistent" in self._db_check(store_url)
        store = open_store(store_url)
        try:
            with store.transaction(actor="contract", reason="review", at=AT) as tx:
                current = tx.get(CarePlan, "cp1")
                history = tx.history(CarePlan, "cp1")
                updates = [
                    e for e in tx.audit_entries() if e.action == "update" and e.kind == "CarePlan"
                ]
            assert current.version > 6  # noqa: PLR2004 - the loop made progress before the kill
            assert [p.version for p in history] == list(range(1, current.version + 1))
            assert history[-1] == current
            assert len(updates) == current.version - 1
            revise(store, "cp1", 1, "after")
        finally:
            store.close()
