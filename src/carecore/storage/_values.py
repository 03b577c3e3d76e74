"""Values the stores return: audit entries, outbox rows, check reports, bulk results."""

from __future__ import annotations

import pendulum
from attrs import field, frozen

from carecore.model import OutboundMessage

__all__ = ["AuditEntry", "BulkResult", "CheckReport", "OutboxItem"]


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
