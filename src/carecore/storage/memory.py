"""A store in the process's memory (``memory://``): fast, private, gone at exit.

It keeps the same promises as the SQL stores (atomic transactions, versioned
care plans with history, an append-only audit log, an outbox, inbound
idempotency), so tests and simulations written against it behave the same on
SQLite and PostgreSQL. Each ``memory://`` URL opens a new, empty store;
``memory://name`` is only a label.

>>> import pendulum
>>> from carecore.model import Practitioner, Credential
>>> store = MemoryStore("memory://")
>>> store.initialize()
>>> at = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
>>> with store.transaction(actor="admin", reason="onboarding", at=at) as tx:
...     tx.add(Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD))
>>> with store.transaction(actor="admin", reason="lookup", at=at) as tx:
...     [p.id for p in tx.all(Practitioner)]
['dr1']
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pendulum

from carecore import errors
from carecore.storage import _checks
from carecore.storage._kinds import KINDS, Kind, kind_for
from carecore.storage._rows import StoredRows
from carecore.storage._values import AuditEntry, BulkResult, CheckReport, OutboxItem
from carecore.storage.sql import SCHEMA_VERSION, _check_audit_args, _delivery_status

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from carecore.model import DeliveryReceipt, OutboundMessage

__all__ = ["MemoryStore", "MemoryTransaction"]

T = TypeVar("T")


class MemoryStore:
    """Everything in dictionaries, guarded by one lock; a failed block is undone."""

    def __init__(self, url: str = "memory://") -> None:
        self._url = url
        self._lock = threading.RLock()
        self._version = 0
        self._open = False
        self.tables: dict[str, dict[tuple[Any, ...], Any]] = {k.table: {} for k in KINDS}
        self.history: dict[str, dict[str, list[Any]]] = {k.table: {} for k in KINDS if k.versioned}
        self.audit: list[AuditEntry] = []
        self.outbox_items: dict[str, OutboxItem] = {}
        self.outbox_keys: set[str] = set()
        self.inbound: set[tuple[str, str]] = set()

    @property
    def url(self) -> str:
        """The URL the store was opened with."""
        return self._url

    def schema_version(self) -> int:
        """0 until :meth:`initialize`, then the current schema version."""
        return self._version

    def initialize(self) -> None:
        """Mark the store ready (there is no schema to create)."""
        self._version = SCHEMA_VERSION

    def migrate(self, *, target: int = SCHEMA_VERSION) -> list[int]:
        """Nothing to migrate in memory; returns the versions it moved through."""
        _checks.migration_target(target, self._version, SCHEMA_VERSION)
        steps = list(range(self._version + 1, target + 1))
        self._version = target
        return steps

    def close(self) -> None:
        """Nothing to release. Closing twice is harmless."""

    def _require_ready(self) -> None:
        if self._version != SCHEMA_VERSION:
            raise errors.StoreError(
                f"has no carecore schema; run: carecore db init {self.url}",
                field="url",
                value=self.url,
            )

    @contextlib.contextmanager
    def transaction(
        self, *, actor: str, reason: str, at: dt.datetime
    ) -> Iterator[MemoryTransaction]:
        """One atomic unit of work (see :meth:`carecore.storage.sql.SqlStore.transaction`)."""
        _check_audit_args(actor, reason, at)
        with self._lock:
            if self._open:
                raise errors.StoreError(
                    "transactions do not nest: finish the open one first",
                    field="transaction",
                    value=self.url,
                )
            self._require_ready()
            self._open = True
            tx = MemoryTransaction(self, actor=actor, reason=reason, at=pendulum.instance(at))
            try:
                yield tx
            except BaseException:
                tx.undo()
                raise
            finally:
                self._open = False
            if tx.failed:
                tx.undo()
                raise errors.StoreError(
                    "the transaction was rolled back after an error inside it",
                    field="transaction",
                    value=reason,
                )
            tx.log_bulk_reads()

    def bulk_add(
        self,
        records: Iterable[Any],
        *,
        actor: str,
        reason: str,
        at: dt.datetime,
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """Add many records of one kind at once; stored keys are skipped."""
        with self.transaction(actor=actor, reason=reason, at=at) as tx:
            kind: Kind | None = None
            fresh: dict[tuple[Any, ...], Any] = {}
            offered = 0
            for record in records:
                if kind is None:
                    kind = kind_for(type(record))
                    stored = self.tables[kind.table]
                elif type(record) is not kind.cls:
                    raise errors.InvalidValue(
                        f"a bulk load holds one kind ({kind.name})", field="records", value=record
                    )
                offered += 1
                key = kind.key_of(record)
                if key not in stored and key not in fresh:
                    fresh[key] = record
                if progress is not None and offered % 20_000 == 0:
                    progress(offered)
            if kind is None:
                return BulkResult(kind="", added=0, skipped=0)
            if progress is not None:
                progress(offered)
            tx.insert_many(kind, fresh)
            tx.log("bulk-create", kind.name, None, None, f"added {len(fresh)} of {offered}")
            return BulkResult(kind=kind.name, added=len(fresh), skipped=offered - len(fresh))

    def check(self) -> CheckReport:
        """Counts, and the same consistency checks as the SQL stores."""
        if self._version == 0:
            return CheckReport(url=self.url, schema_version=0, problems=("no carecore schema",))
        with self._lock:
            problems = []
            patients = self.tables["patients"]
            for kind in KINDS:
                for key, value in self.tables[kind.table].items():
                    if kind.references_patient and (value.patient_id,) not in patients:
                        problems.append(
                            f"foreign key: {kind.table} row {key} points to a missing patient"
                        )
                    if (
                        kind.versioned
                        and value.version != self.history[kind.table][key[0]][-1].version
                    ):
                        problems.append(
                            f"{kind.name} {key[0]!r}: current version has no history row"
                        )
            counts = {k.table: len(self.tables[k.table]) for k in KINDS}
            counts |= {
                "audit": len(self.audit),
                "outbox": len(self.outbox_items),
                "inbound": len(self.inbound),
            }
            return CheckReport(
                url=self.url, schema_version=self._version, counts=counts, problems=tuple(problems)
            )


class MemoryTransaction:
    """The work of one :meth:`MemoryStore.transaction` block; every change records its undo."""

    def __init__(
        self, store: MemoryStore, *, actor: str, reason: str, at: pendulum.DateTime
    ) -> None:
        self._store = store
        self._actor = actor
        self._reason = reason
        self._at = at
        self._undo: list[Callable[[], object]] = []
        self.failed = False
        #: Patients whose records bulk reads returned, with the kinds read (logged at commit).
        self._touched: dict[str, set[str]] = {}

    def undo(self) -> None:
        """Reverse every change made so far, newest first."""
        while self._undo:
            self._undo.pop()()

    def _guard(self) -> None:
        if self.failed:
            raise errors.StoreError(
                "an earlier error aborted this transaction; leave the block",
                field="transaction",
                value=self._reason,
            )

    def _fail(self, exc: errors.CarecoreError) -> errors.CarecoreError:
        self.failed = True
        return exc

    def touch(self, kind: str, patients: Iterable[str | None]) -> None:
        """Note that a bulk read returned records of *kind* for *patients*."""
        for patient in patients:
            if patient is not None:
                self._touched.setdefault(patient, set()).add(kind)

    def log_bulk_reads(self) -> None:
        """One ``bulk-read`` audit entry per patient bulk reads touched (see :mod:`carecore.audit`)."""
        touched, self._touched = self._touched, {}
        for patient, kinds in sorted(touched.items()):
            self.log("bulk-read", "Patient", None, patient, ", ".join(sorted(kinds)))

    def log(
        self, action: str, kind: str, key: str | None, patient_id: str | None, detail: str = ""
    ) -> None:
        """Append an audit entry (undone with the transaction)."""
        audit = self._store.audit
        audit.append(
            AuditEntry(
                seq=len(audit) + 1,
                at=self._at,
                actor=self._actor,
                action=action,
                kind=kind,
                key=key,
                patient_id=patient_id,
                reason=self._reason,
                detail=detail,
            )
        )
        self._undo.append(audit.pop)

    def insert(self, kind: Kind, key: tuple[Any, ...], record: Any) -> None:
        """Store *record* under *key*, checking only that its patient is stored (add's helper)."""
        if kind.references_patient and (record.patient_id,) not in self._store.tables["patients"]:
            raise self._fail(
                errors.InvalidValue(
                    "no such patient is stored", field="patient_id", value=record.patient_id
                )
            )
        table = self._store.tables[kind.table]
        table[key] = record
        self._undo.append(lambda: table.pop(key))
        if kind.versioned:
            versions = self._store.history[kind.table].setdefault(key[0], [])
            versions.append(record)
            self._undo.append(versions.pop)

    def insert_many(self, kind: Kind, fresh: dict[tuple[Any, ...], Any]) -> None:
        """Store new records at once, after checking their patients (used by bulk loads)."""
        if kind.references_patient:
            patients = self._store.tables["patients"]
            missing = sorted({r.patient_id for r in fresh.values()} - {k[0] for k in patients})
            if missing:
                raise self._fail(
                    errors.InvalidValue(
                        f"no such patient is stored ({len(missing)} missing in this {kind.name} load)",
                        field="patient_id",
                        value=missing[0],
                    )
                )
        table = self._store.tables[kind.table]
        table.update(fresh)

        def undo() -> None:
            for key in fresh:
                del table[key]

        self._undo.append(undo)
        if kind.versioned:
            history = self._store.history[kind.table]
            for key, record in fresh.items():
                history.setdefault(key[0], []).append(record)
                self._undo.append(history[key[0]].pop)

    def add(self, record: object) -> None:
        """Store a new record; a stored key raises :class:`~carecore.errors.ConflictError`."""
        self._guard()
        kind = kind_for(type(record))
        key = kind.key_of(record)
        _checks.row_text(kind, kind.to_row(record))
        if key in self._store.tables[kind.table]:
            raise self._fail(
                errors.ConflictError(
                    f"a {kind.name} with this key is already stored",
                    field="key",
                    value=kind.key_text(key),
                )
            )
        self.insert(kind, key, record)
        self.log("create", kind.name, kind.key_text(key), kind.patient_of(record))

    def replace(self, record: object) -> None:
        """Replace a stored record. A versioned record must bring the stored version + 1."""
        self._guard()
        kind = kind_for(type(record))
        key = kind.key_of(record)
        _checks.row_text(kind, kind.to_row(record))
        table = self._store.tables[kind.table]
        old = table.get(key)
        if old is None:
            raise self._fail(
                errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(key))
            )
        detail = ""
        if kind.versioned:
            version = record.version  # type: ignore[attr-defined]
            if version != old.version + 1:
                raise self._fail(
                    errors.ConflictError(
                        f"stale {kind.name}: stored version is {old.version}, a revision must be {old.version + 1}",
                        field="version",
                        value=version,
                    )
                )
            versions = self._store.history[kind.table][key[0]]
            versions.append(record)
            self._undo.append(versions.pop)
            detail = f"version {version}"
        if kind.references_patient and (record.patient_id,) not in self._store.tables["patients"]:  # type: ignore[attr-defined]
            raise self._fail(
                errors.InvalidValue(
                    "no such patient is stored",
                    field="patient_id",
                    value=record.patient_id,  # type: ignore[attr-defined]
                )
            )
        table[key] = record
        self._undo.append(lambda: table.__setitem__(key, old))
        self.log("update", kind.name, kind.key_text(key), kind.patient_of(record), detail)

    def delete(self, kind_cls: type[Any], key: object) -> None:
        """Delete a record of a kind without history (an entry made in error)."""
        self._guard()
        kind = _checks.deletable(kind_cls)
        parts = _checks.parse_key(kind, key)
        table = self._store.tables[kind.table]
        old = table.get(parts)
        if old is None:
            raise self._fail(
                errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(parts))
            )
        if kind.patient_column == "id" and any(
            k.references_patient
            and any(v.patient_id == old.id for v in self._store.tables[k.table].values())
            for k in KINDS
        ):
            raise self._fail(
                errors.InvalidValue(
                    "the patient still has stored records", field="patient_id", value=old.id
                )
            )
        del table[parts]
        self._undo.append(lambda: table.__setitem__(parts, old))
        self.log("delete", kind.name, kind.key_text(parts), kind.patient_of(old))

    def get(self, kind_cls: type[T], key: object) -> T:
        """The stored record with this key (a read of patient data is audited)."""
        self._guard()
        kind = kind_for(kind_cls)
        parts = _checks.parse_key(kind, key)
        found = self._store.tables[kind.table].get(parts)
        if found is None:
            raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(parts))
        if kind.patient_column:
            self.log("read", kind.name, kind.key_text(parts), kind.patient_of(found))
        return found  # type: ignore[no-any-return]

    def find(self, kind_cls: type[T], *, patient_id: str) -> list[T]:
        """Every stored record of a kind for one patient, in key order (audited)."""
        self._guard()
        _checks.patient_id(patient_id)
        kind = _checks.per_patient(kind_cls)
        table = self._store.tables[kind.table]
        found = [table[k] for k in sorted(table) if kind.patient_of(table[k]) == patient_id]
        self.log("read", kind.name, None, patient_id, f"{len(found)} records")
        return found

    def patient_ids(self) -> list[str]:
        """The ids of every stored patient, sorted (one audit entry)."""
        self._guard()
        ids = sorted(key[0] for key in self._store.tables["patients"])
        self.log("read", "Patient", None, None, f"ids of {len(ids)} patients")
        return ids

    def patients_with_identifier(self, system: str, value: str) -> list[str]:
        """The ids of stored patients whose ``identifiers`` hold (*system*, *value*), sorted."""
        self._guard()
        _checks.inbound_key(system, value)
        ids = sorted(
            p.id
            for p in self._store.tables["patients"].values()
            if any(i.system == system and i.value == value for i in p.identifiers)
        )
        self.log("read", "Patient", None, None, f"ids of {len(ids)} patients by identifier")
        return ids

    def find_many(self, kind_cls: type[T], *, patient_ids: Sequence[str]) -> list[T]:
        """Every stored record of a kind for these patients, in key order (one audit entry)."""
        self._guard()
        kind = _checks.per_patient(kind_cls)
        wanted = set(_checks.patient_ids(patient_ids))
        table = self._store.tables[kind.table]
        found = [table[k] for k in sorted(table) if kind.patient_of(table[k]) in wanted]
        self.log("read", kind.name, None, None, f"{len(found)} records of {len(wanted)} patients")
        self.touch(kind.name, map(kind.patient_of, found))
        return found

    def find_rows(
        self, kind_cls: type[T], *, patient_ids: Sequence[str], history: bool = False
    ) -> StoredRows[T]:
        """:meth:`find_many`'s records as :class:`~carecore.storage.StoredRows` (built already).

        With *history*, every stored version, by key then version.
        """
        if not history:
            return StoredRows(kind_cls, records=self.find_many(kind_cls, patient_ids=patient_ids))
        self._guard()
        kind = _checks.versioned(kind_cls)
        wanted = set(_checks.patient_ids(patient_ids))
        versions = self._store.history[kind.table]
        found = [
            version
            for key in sorted(versions)
            for version in versions[key]
            if kind.patient_of(version) in wanted
        ]
        self.log("read", kind.name, None, None, f"{len(found)} versions of {len(wanted)} patients")
        self.touch(kind.name, map(kind.patient_of, found))
        return StoredRows(kind_cls, records=found)

    def add_many(self, records: Sequence[object]) -> None:
        """Store new records of any kinds, as :meth:`add` each one (an audit entry each)."""
        self._guard()
        for record in records:
            self.add(record)

    def all(self, kind_cls: type[T]) -> list[T]:
        """Every stored record of a kind, in key order (one audit entry for patient data)."""
        self._guard()
        kind = kind_for(kind_cls)
        table = self._store.tables[kind.table]
        found = [table[k] for k in sorted(table)]
        if kind.patient_column is not None:
            self.log("read", kind.name, None, None, f"all {len(found)} records")
            self.touch(kind.name, map(kind.patient_of, found))
        return found

    def history(self, kind_cls: type[T], key: str) -> list[T]:
        """Every version of a versioned record, oldest first (audited)."""
        self._guard()
        kind = _checks.versioned(kind_cls)
        (key,) = _checks.parse_key(kind, key)
        found = list(self._store.history[kind.table].get(key, ()))
        if not found:
            raise errors.NotFound(f"no such {kind.name}", field="key", value=key)
        self.log("read", kind.name, key, kind.patient_of(found[-1]), "history")
        return found

    def audit_entries(self, *, patient_id: str | None = None, after: int = 0) -> list[AuditEntry]:
        """Audit entries after sequence number *after*, optionally for one patient."""
        self._guard()
        self.log_bulk_reads()
        return [
            e
            for e in self._store.audit
            if e.seq > after and (patient_id is None or e.patient_id == patient_id)
        ]

    def enqueue(self, message: OutboundMessage) -> bool:
        """Put *message* in the outbox; False when its idempotency key is already there."""
        self._guard()
        _checks.message(message)
        store = self._store
        if message.idempotency_key in store.outbox_keys or message.id in store.outbox_items:
            return False
        store.outbox_items[message.id] = OutboxItem(message=message)
        store.outbox_keys.add(message.idempotency_key)
        self._undo.append(lambda: store.outbox_items.pop(message.id))
        self._undo.append(lambda: store.outbox_keys.discard(message.idempotency_key))
        self.log("enqueue", "OutboundMessage", message.id, message.patient_id, message.channel)
        return True

    def outbox(
        self, *, status: str = "pending", limit: int = 100, due_at: dt.datetime | None = None
    ) -> list[OutboxItem]:
        """Outbox items with *status*, oldest first; with *due_at*, only those whose next attempt is due."""
        self._guard()
        _checks.outbox_query(status, limit)
        items = [
            i
            for i in self._store.outbox_items.values()
            if i.status == status
            and (due_at is None or i.next_attempt_at is None or i.next_attempt_at <= due_at)
        ]
        items.sort(key=lambda i: (i.message.created_at, i.message.id))
        return items[:limit]

    def record_delivery(
        self,
        receipt: DeliveryReceipt,
        *,
        retry_at: dt.datetime | None = None,
        give_up: bool = False,
        claim: int | None = None,
    ) -> None:
        """Record a delivery attempt (see :meth:`carecore.protocols.Transaction.record_delivery`)."""
        self._guard()
        _checks.receipt(receipt)
        _checks.claim(claim)
        items = self._store.outbox_items
        old = items.get(receipt.message_id)
        if old is None:
            raise self._fail(
                errors.NotFound(
                    "no such outbox message", field="message_id", value=receipt.message_id
                )
            )
        if claim is not None and (old.status != "pending" or old.claim != claim):
            raise self._fail(errors.LeaseLost(message_id=receipt.message_id, claim=claim))
        status = _delivery_status(receipt, retry_at=retry_at, give_up=give_up)
        items[receipt.message_id] = attrs.evolve(
            old,
            status=status,
            attempts=old.attempts + 1,
            delivered_at=receipt.at if receipt.accepted else None,
            last_error=None if receipt.accepted else receipt.detail,
            next_attempt_at=None
            if retry_at is None or receipt.accepted
            else pendulum.instance(retry_at),
        )
        self._undo.append(lambda: items.__setitem__(receipt.message_id, old))
        self.log("deliver", "OutboundMessage", receipt.message_id, None, status)

    def claim_outbox(
        self, *, due_at: dt.datetime, lease_until: dt.datetime, limit: int = 100
    ) -> list[OutboxItem]:
        """Take due messages for delivery (see :meth:`carecore.protocols.Transaction.claim_outbox`)."""
        _checks.lease(due_at, lease_until)
        items = self._store.outbox_items
        until = pendulum.instance(lease_until)
        claimed = []
        for item in self.outbox(status="pending", limit=limit, due_at=due_at):
            key = item.message.id
            old = items[key]
            items[key] = attrs.evolve(old, next_attempt_at=until, claim=old.claim + 1)
            self._undo.append(lambda key=key, old=old: items.__setitem__(key, old))  # type: ignore[misc]
            self.log("claim", "OutboundMessage", key, None, until.isoformat())
            claimed.append(items[key])
        return claimed

    def extend_lease(self, message_id: str, *, claim: int, until: dt.datetime) -> bool:
        """Hold a claimed message until *until*; False when a newer claim took it (see the protocol)."""
        self._guard()
        _checks.claim(claim)
        _checks.instant("until", until)
        items = self._store.outbox_items
        old = items.get(message_id)
        if old is None or old.status != "pending" or old.claim != claim:
            return False
        items[message_id] = attrs.evolve(old, next_attempt_at=pendulum.instance(until))
        self._undo.append(lambda: items.__setitem__(message_id, old))
        self.log("extend lease", "OutboundMessage", message_id, None, until.isoformat())
        return True

    def defer(self, message_id: str, until: dt.datetime) -> None:
        """Hold a pending message until *until* without counting an attempt (quiet hours)."""
        self._guard()
        items = self._store.outbox_items
        old = items.get(message_id)
        if old is None or old.status != "pending":
            raise self._fail(
                errors.NotFound(
                    "no pending outbox message with this id", field="message_id", value=message_id
                )
            )
        items[message_id] = attrs.evolve(old, next_attempt_at=pendulum.instance(until))
        self._undo.append(lambda: items.__setitem__(message_id, old))
        self.log("defer", "OutboundMessage", message_id, None, pendulum.instance(until).isoformat())

    def requeue(self, message_id: str) -> None:
        """Put a failed or dead message back in the queue, due now."""
        self._guard()
        items = self._store.outbox_items
        old = items.get(message_id)
        if old is None or old.status not in {"failed", "dead"}:
            raise self._fail(
                errors.NotFound(
                    "no failed or dead outbox message with this id",
                    field="message_id",
                    value=message_id,
                )
            )
        items[message_id] = attrs.evolve(old, status="pending", next_attempt_at=None, attempts=0)
        self._undo.append(lambda: items.__setitem__(message_id, old))
        self.log("requeue", "OutboundMessage", message_id, None)

    def claim_inbound(self, source: str, key: str) -> bool:
        """Record an inbound message key; True the first time, False for a duplicate."""
        self._guard()
        _checks.inbound_key(source, key)
        seen = self._store.inbound
        if (source, key) in seen:
            return False
        seen.add((source, key))
        self._undo.append(lambda: seen.discard((source, key)))
        return True
