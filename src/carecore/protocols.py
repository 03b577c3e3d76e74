"""The shapes plugins give carecore: stores, channels, EHR sources, rule sets, instruments.

Each is a :class:`typing.Protocol`, so a plugin needs no carecore base class;
any object with these members will do. Every registrable item has an ``id``,
unique within its kind, by which it is looked up and by which a plugin may
replace a built-in (see :doc:`/explanation/plugins`).

These are the first cut: the store, the rule set and the instrument grow with
the storage, billing and clinical-core work. New members are added in a way
that keeps old plugins importable.

The values a store returns (:class:`~carecore.storage.AuditEntry`,
:class:`~carecore.storage.OutboxItem`, :class:`~carecore.storage.BulkResult`,
:class:`~carecore.storage.CheckReport` and :class:`~carecore.storage.StoredRows`)
are defined here too, and used under their ``carecore.storage`` names: this
module imports nothing from the layers above it, so ``typing.get_type_hints``
works on every protocol.

>>> from carecore._builtin.console_channel import ConsoleChannel
>>> isinstance(ConsoleChannel(), Channel)
True
"""

from __future__ import annotations

# The value types below are read at run time too (``typing.get_type_hints`` on a
# protocol's methods), so everything the annotations name is imported here, and
# only from the layers below this one: the stores import this module, never the
# other way round.
import datetime as dt  # noqa: TC003 - read by typing.get_type_hints
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence  # noqa: TC003 - as above
from contextlib import AbstractContextManager  # noqa: TC003 - as above
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import pendulum
from attrs import field, frozen

from carecore.model import DeliveryReceipt, OutboundMessage

T = TypeVar("T")

__all__ = [
    "Channel",
    "ClockedSource",
    "ConfigurableSource",
    "EhrSource",
    "ImportingSource",
    "Instrument",
    "RuleSet",
    "Store",
    "Transaction",
    "offers",
]


# -- the values a store returns ------------------------------------------------
#
# Public as carecore.storage.AuditEntry, ...; defined here, with the protocols
# that return them, so that this module imports nothing above it.


@frozen(kw_only=True)
class AuditEntry:
    """One line of the append-only audit log: who did what, when, and why.

    ``action`` is ``create``, ``update``, ``delete``, ``read``, ``bulk-create``,
    ``enqueue`` or ``deliver``; ``kind`` names the stored kind (``"CarePlan"``)
    and ``key`` the record (parts of a composite key joined by ``|``); a read
    of all of a patient's records of a kind has no key.

    >>> e = AuditEntry(seq=1, at=pendulum.datetime(2026, 1, 5, tz="UTC"), actor="rn:ana",
    ...     action="read", kind="CarePlan", key="cp1", patient_id="p1", reason="weekly review")
    >>> e.action, e.detail
    ('read', '')
    """

    seq: int
    at: pendulum.DateTime
    actor: str
    action: str
    kind: str
    key: str | None
    patient_id: str | None
    reason: str
    detail: str = ""


@frozen(kw_only=True)
class OutboxItem:
    """A message in the outbox with its delivery state.

    ``status`` is ``pending`` (waiting, or waiting for a retry at
    ``next_attempt_at``), ``delivered``, ``failed`` (refused, not retried
    until requeued) or ``dead`` (given up after the last attempt).

    >>> import pendulum
    >>> from carecore.model import OutboundMessage
    >>> m = OutboundMessage(id="m1", idempotency_key="k1", channel="console", recipient="rn1",
    ...     subject="Call", body="", created_at=pendulum.datetime(2026, 1, 5, tz="UTC"))
    >>> OutboxItem(message=m).status
    'pending'
    """

    message: OutboundMessage
    status: str = "pending"
    attempts: int = 0
    delivered_at: pendulum.DateTime | None = None
    last_error: str | None = None
    next_attempt_at: pendulum.DateTime | None = None
    #: The number of the newest claim on the message (0 before any): a
    #: dispatcher passes the claim it was handed to ``extend_lease`` and
    #: ``record_delivery``, which refuse it once a newer claim has taken over.
    claim: int = 0


@frozen(kw_only=True)
class BulkResult:
    """What a bulk load did: rows added and rows skipped because their key was stored.

    >>> BulkResult(kind="TimeEntry", added=990, skipped=10).total
    1000
    """

    kind: str
    added: int
    skipped: int

    @property
    def total(self) -> int:
        """Rows offered."""
        return self.added + self.skipped


@frozen(kw_only=True)
class CheckReport:
    """The result of a store's consistency check (``carecore db check``).

    >>> r = CheckReport(url="memory://", schema_version=2, counts={"patients": 3})
    >>> r.ok
    True
    """

    url: str
    schema_version: int
    counts: dict[str, int] = field(factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


class StoredRows(Generic[T]):
    """Records of one kind as read: rows of column values (a SQL store) or built records.

    A partitioned month close reads each partition's rows in the store's
    process and builds the records where they are evaluated: rows of plain
    values travel between processes far more cheaply than records. A store
    that keeps built records may hand them over as *records* instead.
    Picklable; :meth:`build` gives the records, in the order read.

    >>> import pendulum
    >>> from carecore.model import Patient, AdministrativeSex
    >>> from carecore.storage import open_store
    >>> store = open_store("memory://")
    >>> store.initialize()
    >>> at = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
    >>> with store.transaction(actor="rn:ana", reason="enrollment", at=at) as tx:
    ...     tx.add(Patient(id="p1", given_name="Ada", family_name="Lopez",
    ...                    birth_date=pendulum.date(1950, 3, 1), sex=AdministrativeSex.FEMALE,
    ...                    time_zone="America/Chicago"))
    >>> with store.transaction(actor="close", reason="month close", at=at) as tx:
    ...     rows = tx.find_rows(Patient, patient_ids=["p1"])
    >>> len(rows), [p.given_name for p in rows.build()]
    (1, ['Ada'])
    """

    __slots__ = ("kind", "records", "rows")

    def __init__(
        self,
        kind: type[T],
        *,
        rows: Sequence[Sequence[object]] = (),
        records: Sequence[T] | None = None,
    ) -> None:
        self.kind = kind
        self.rows = list(rows)
        self.records = None if records is None else list(records)

    def __len__(self) -> int:
        return len(self.rows) if self.records is None else len(self.records)

    def build(self) -> list[T]:
        """The records (each row built and checked as a read builds it)."""
        if self.records is not None:
            return list(self.records)
        # The kinds are stored kinds, defined by the stores (a layer above this one).
        from carecore.storage._kinds import kind_for  # noqa: PLC0415

        build = kind_for(self.kind).build
        return [build(row) for row in self.rows]

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.kind, self.rows, self.records)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.kind, self.rows, self.records = state


# -- the protocols --------------------------------------------------------------


@runtime_checkable
class Transaction(Protocol):
    """The work of one ``store.transaction(...)`` block.

    Records are carecore model values of the kinds in
    :data:`carecore.storage.KINDS`. Every write, and every read of patient
    data, adds an audit entry in the same transaction. A store may also offer
    ``record_denial(*, action, kind, patient_id)``, which adds a ``denied``
    audit entry for a request the access policy refused (carecore's stores
    do; a program logs a warning for a store without it). Any error raised by a
    method marks the transaction failed: the block's changes are rolled back
    when it ends, even if the error was caught inside it.
    """

    def add(self, record: object) -> None:
        """Store a new record; a stored key raises :class:`~carecore.errors.ConflictError`."""
        ...

    def replace(self, record: object) -> None:
        """Replace a stored record; a versioned one must bring the stored version + 1.

        The value replaced stays in the record's :meth:`history`.
        """
        ...

    def delete(self, kind_cls: type[Any], key: object) -> None:
        """Delete a record of a kind without versions; the value deleted stays in its :meth:`history`."""
        ...

    def get(self, kind_cls: type[T], key: object) -> T:
        """The record with this key, or :class:`~carecore.errors.NotFound`."""
        ...

    def get_many(self, kind_cls: type[T], keys: Sequence[object]) -> list[T]:
        """The stored records with these keys, in the order given; keys not stored are left out.

        What :meth:`get` gives for each key (each read audited as ``get``
        audits it), without an error for the keys no record has. An intake
        that looks up many keys, most of them new, asks once.
        """
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

    def history(self, kind_cls: type[T], key: object) -> list[T]:
        """Every value a record has had, oldest first.

        A versioned kind's versions; for any other kind, each value a replace or
        a delete ended, then the current one if the record is still stored.
        """
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
    """A way to deliver messages: console, email, SMS, webhook.

    A channel may also offer ``destination``: where its messages go (an SMTP
    server's ``smtp://host:port``, a file's path), with no secret and no
    patient's name in it. A delivery's audit row names it, or the channel's
    ``url`` when it has no ``destination``, so a disclosure says where it went.
    """

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
        """Yield carecore model values read from *location*.

        A record it cannot read is yielded as a
        :class:`~carecore.service.ImportRefusal`; one it reads and deliberately
        does not keep (a FHIR Claim), optionally, as a
        :class:`~carecore.service.ImportSkip`.
        """
        ...


def offers(source: object, method: str) -> bool:
    """Whether *source* offers the optional method *method* (``configured``, ``as_of``, ``import_into``).

    What ``carecore import`` asks of a source before calling one of the
    methods of :class:`ConfigurableSource`, :class:`ClockedSource` and
    :class:`ImportingSource`: the attribute, looked up on the source, is
    callable. Unlike ``isinstance`` with those protocols (which on Python
    3.12 and later inspects the class, not the instance), a wrapper that
    forwards attributes with ``__getattr__`` offers what it wraps.

    >>> class Plain:
    ...     def read(self, location): return iter(())
    >>> offers(Plain(), "configured"), offers(Plain(), "read")
    (False, True)
    """
    return callable(getattr(source, method, None))


@runtime_checkable
class ConfigurableSource(EhrSource, Protocol):
    """An :class:`EhrSource` that takes options: ``carecore import --option KEY=VALUE``.

    ``carecore import`` gives it the options a user passes, and a
    ``time_zone`` (the practice's) when the user names none; a source that
    does not take ``time_zone`` refuses it with
    :class:`~carecore.errors.InvalidValue`, and the command then reads with
    the source as it was. A source without this method takes no options:
    ``--option`` is refused for it.
    """

    def configured(self, options: Mapping[str, str]) -> EhrSource:
        """A copy of this source with *options*; an unknown key or a bad value is an ``InvalidValue`` naming it."""
        ...


@runtime_checkable
class ClockedSource(EhrSource, Protocol):
    """An :class:`EhrSource` that checks records against the time of the import.

    ``carecore import`` gives it the importing program's clock time (a
    birth date after it is refused, say), so that an import under a set
    clock (tests, replays) checks as the program does.
    """

    def as_of(self, now: pendulum.DateTime) -> EhrSource:
        """A copy of this source checking against *now* (timezone-aware)."""
        ...


@runtime_checkable
class ImportingSource(EhrSource, Protocol):
    """An :class:`EhrSource` that matches records against the store and takes them in itself.

    ``carecore import`` calls :meth:`import_into` instead of storing what
    :meth:`~EhrSource.read` yields (the HL7 v2 files source does this: a
    message names its patient by an identifier that must be looked up).
    """

    def import_into(
        self, program: Any, location: str, *, refused: list[Any] | None = None
    ) -> BulkResult:
        """Take in what *location* holds through *program* (a :class:`~carecore.service.CareProgram`).

        Returns what was added and what was already stored (importing again
        adds nothing); each record refused is appended to *refused* as a
        :class:`~carecore.service.ImportRefusal`.
        """
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
