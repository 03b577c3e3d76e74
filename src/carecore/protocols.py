"""The shapes plugins give carecore: stores, channels, EHR sources, rule sets, instruments.

Each is a :class:`typing.Protocol`, so a plugin needs no carecore base class;
any object with these members will do. Every registrable item has an ``id``,
unique within its kind, by which it is looked up and by which a plugin may
replace a built-in (see :doc:`/explanation/plugins`).

These are the first cut: the store, the rule set and the instrument grow with
the storage, billing and clinical-core work. New members are added in a way
that keeps old plugins importable.

>>> from carecore._builtin.console_channel import ConsoleChannel
>>> isinstance(ConsoleChannel(), Channel)
True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from contextlib import AbstractContextManager

    from carecore.model import DeliveryReceipt, OutboundMessage
    from carecore.storage import AuditEntry, BulkResult, CheckReport, OutboxItem, StoredRows

T = TypeVar("T")

__all__ = ["Channel", "EhrSource", "Instrument", "RuleSet", "Store", "Transaction"]


@runtime_checkable
class Transaction(Protocol):
    """The work of one ``store.transaction(...)`` block.

    Records are carecore model values of the kinds in
    :data:`carecore.storage.KINDS`. Every write, and every read of patient
    data, adds an audit entry in the same transaction. Any error raised by a
    method marks the transaction failed: the block's changes are rolled back
    when it ends, even if the error was caught inside it.
    """

    def add(self, record: object) -> None:
        """Store a new record; a stored key raises :class:`~carecore.errors.ConflictError`."""
        ...

    def replace(self, record: object) -> None:
        """Replace a stored record; a versioned one must bring the stored version + 1."""
        ...

    def delete(self, kind_cls: type[Any], key: object) -> None:
        """Delete a record of a kind that keeps no history."""
        ...

    def get(self, kind_cls: type[T], key: object) -> T:
        """The record with this key, or :class:`~carecore.errors.NotFound`."""
        ...

    def find(self, kind_cls: type[T], *, patient_id: str) -> list[T]:
        """Every record of a kind for one patient, in key order."""
        ...

    def all(self, kind_cls: type[T]) -> list[T]:
        """Every record of a kind, in key order (one audit entry when it is patient data)."""
        ...

    def patient_ids(self) -> list[str]:
        """The ids of every stored patient, sorted (to cut the patients into partitions)."""
        ...

    def patients_with_identifier(self, system: str, value: str) -> list[str]:
        """The ids of stored patients whose ``identifiers`` hold (*system*, *value*), sorted.

        One audit entry. Inbound feeds (HL7 PID-3) find their patient with it.
        """
        ...

    def find_many(self, kind_cls: type[T], *, patient_ids: Sequence[str]) -> list[T]:
        """Every record of a kind for these patients, in key order (one audit entry)."""
        ...

    def find_rows(
        self, kind_cls: type[T], *, patient_ids: Sequence[str], history: bool = False
    ) -> StoredRows[T]:
        """:meth:`find_many`'s records unbuilt, to build in another process (one audit entry).

        With *history*, every version of a versioned kind, by key then version.
        """
        ...

    def add_many(self, records: Sequence[object]) -> None:
        """Store new records (any kinds) as :meth:`add` does each, in fewer statements."""
        ...

    def history(self, kind_cls: type[T], key: str) -> list[T]:
        """Every version of a versioned record, oldest first."""
        ...

    def audit_entries(self, *, patient_id: str | None = None, after: int = 0) -> list[AuditEntry]:
        """Audit entries after sequence number *after*, optionally for one patient."""
        ...

    def enqueue(self, message: OutboundMessage) -> bool:
        """Add *message* to the outbox; False when its idempotency key is there already."""
        ...

    def outbox(
        self, *, status: str = "pending", limit: int = 100, due_at: dt.datetime | None = None
    ) -> list[OutboxItem]:
        """Outbox items with *status*, oldest first; with *due_at*, only those due by then."""
        ...

    def record_delivery(
        self,
        receipt: DeliveryReceipt,
        *,
        retry_at: dt.datetime | None = None,
        give_up: bool = False,
        claim: int | None = None,
    ) -> None:
        """Record a delivery attempt.

        Accepted: ``delivered``. Refused with *retry_at*: ``pending`` again,
        due then. Refused with *give_up*: ``dead``. Refused otherwise:
        ``failed``, until :meth:`requeue`. With *claim* (the
        :attr:`~carecore.storage.OutboxItem.claim` a dispatcher was handed),
        a message no longer pending under that claim raises
        :class:`~carecore.errors.LeaseLost` and nothing is recorded.
        """
        ...

    def extend_lease(self, message_id: str, *, claim: int, until: dt.datetime) -> bool:
        """Hold a message claimed as *claim* until *until*.

        True when that claim still holds it (the lease is extended, even if it
        had ended and no one had claimed it since); False when it was claimed
        again or is no longer pending, and nothing changes.
        """
        ...

    def requeue(self, message_id: str) -> None:
        """Put a failed or dead message back in the queue, due now, with a fresh attempt count."""
        ...

    def defer(self, message_id: str, until: dt.datetime) -> None:
        """Hold a pending message until *until* without counting an attempt (quiet hours)."""
        ...

    def claim_outbox(
        self, *, due_at: dt.datetime, lease_until: dt.datetime, limit: int = 100
    ) -> list[OutboxItem]:
        """Take up to *limit* pending messages due by *due_at* for delivery, oldest first.

        Each is held (due again only at *lease_until*) so that a second
        dispatcher running at the same time does not take it too; a dispatcher
        that dies while sending leaves it to be retried when the lease ends.
        Each claim of a message gets the next claim number, in the items'
        ``claim``; :meth:`extend_lease` and :meth:`record_delivery` take it.
        """
        ...

    def claim_inbound(self, source: str, key: str) -> bool:
        """Record an inbound message key: True the first time, False for a duplicate."""
        ...


@runtime_checkable
class Store(Protocol):
    """Persistence for a care program (opened by ``carecore_open_store``).

    See :doc:`/explanation/storage` for the promises every store keeps;
    :class:`carecore.testing.contracts.StoreContract` checks them.
    """

    @property
    def url(self) -> str:
        """The URL the store was opened with, with any password removed."""
        ...

    def schema_version(self) -> int:
        """The stored schema version, 0 for an empty database."""
        ...

    def initialize(self) -> None:
        """Create the schema in an empty database; check the version of a used one."""
        ...

    def migrate(self, *, target: int = ...) -> list[int]:
        """Apply missing migrations; return the versions applied."""
        ...

    def transaction(
        self, *, actor: str, reason: str, at: dt.datetime
    ) -> AbstractContextManager[Transaction]:
        """A block whose writes, audit entries and outbox rows commit together or not at all."""
        ...

    def bulk_add(
        self,
        records: Iterable[Any],
        *,
        actor: str,
        reason: str,
        at: dt.datetime,
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """Add many records of one kind in one transaction, skipping stored keys."""
        ...

    def check(self) -> CheckReport:
        """Look for anything half-written or inconsistent; change nothing."""
        ...

    def close(self) -> None:
        """Release the store's connections. Closing twice is harmless."""
        ...


@runtime_checkable
class Channel(Protocol):
    """A way to deliver messages: console, email, SMS, webhook."""

    @property
    def id(self) -> str:
        """The channel's name, e.g. ``"email"``; messages name it in ``channel``."""
        ...

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver *message* and report what happened.

        Raise only for failures worth retrying; a refusal that will never
        succeed is a receipt with ``accepted=False``.
        """
        ...


@runtime_checkable
class EhrSource(Protocol):
    """A source of patients, conditions, encounters and ADT events (FHIR, HL7 v2)."""

    @property
    def id(self) -> str:
        """The source's name, e.g. ``"fhir"``."""
        ...

    def can_read(self, location: str) -> bool:
        """Whether this source understands *location* (a path or URL)."""
        ...

    def read(self, location: str) -> Iterator[object]:
        """Yield carecore model values read from *location*."""
        ...


@runtime_checkable
class RuleSet(Protocol):
    """Billing rules for one payer and one calendar year."""

    @property
    def id(self) -> str:
        """A unique id such as ``"cms-2026"``."""
        ...

    @property
    def year(self) -> int:
        """The calendar year the rules are in effect."""
        ...

    @property
    def payer(self) -> str:
        """Whose rules these are, e.g. ``"cms"``."""
        ...


@runtime_checkable
class Instrument(Protocol):
    """An assessment instrument such as the PHQ-9."""

    @property
    def id(self) -> str:
        """A unique id such as ``"phq-9"``."""
        ...

    @property
    def title(self) -> str:
        """The instrument's published name."""
        ...
