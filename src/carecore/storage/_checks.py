"""Argument checks every store makes the same way, so their errors read the same."""

from __future__ import annotations

import datetime as dt
from typing import Any

from carecore import errors
from carecore.limits import MAX_KEY
from carecore.model import DeliveryReceipt, OutboundMessage
from carecore.storage._kinds import Kind, kind_for

__all__ = [
    "claim",
    "deletable",
    "inbound_key",
    "instant",
    "message",
    "outbox_query",
    "parse_key",
    "patient_id",
    "per_patient",
    "receipt",
    "row_text",
    "text",
    "versioned",
]

OUTBOX_STATUSES = ("pending", "delivered", "failed", "dead")


def parse_key(kind: Kind, key: object) -> tuple[Any, ...]:
    """A key as the tuple of column values (dates as ISO text, codes as their values)."""
    parts = key if isinstance(key, tuple) else (key,)
    if any(
        not isinstance(p, str | int) and not hasattr(p, "isoformat") and not hasattr(p, "value")
        for p in parts
    ):
        raise errors.InvalidValue(
            "must be a key value (text, number, date or code)", field="key", value=key
        )
    if len(parts) != len(kind.key):
        raise errors.InvalidValue(
            f"{kind.name} is keyed by {', '.join(kind.key)}", field="key", value=key
        )
    return tuple(
        p.isoformat() if hasattr(p, "isoformat") else getattr(p, "value", p) for p in parts
    )


def deletable(kind_cls: type[Any]) -> Kind:
    """The kind, refusing those that keep their history."""
    kind = kind_for(kind_cls)
    if kind.versioned:
        raise errors.InvalidValue(
            "keeps its history; set its status instead of deleting it",
            field="kind",
            value=kind.name,
        )
    return kind


def per_patient(kind_cls: type[Any]) -> Kind:
    """The kind, refusing those not kept per patient."""
    kind = kind_for(kind_cls)
    if kind.patient_column is None:
        raise errors.InvalidValue("is not kept per patient", field="kind", value=kind.name)
    return kind


def versioned(kind_cls: type[Any]) -> Kind:
    """The kind, refusing those without versions."""
    kind = kind_for(kind_cls)
    if not kind.versioned:
        raise errors.InvalidValue("keeps no versions", field="kind", value=kind.name)
    return kind


def message(value: object) -> OutboundMessage:
    """The outbound message, or a typed error."""
    if not isinstance(value, OutboundMessage):
        raise errors.InvalidValue("must be an OutboundMessage", field="message", value=value)
    for name in ("id", "idempotency_key", "channel", "recipient", "subject", "body"):
        found = getattr(value, name)
        # Most text passes: the field's name is made only for text the rule refuses.
        if not isinstance(found, str) or "\x00" in found:
            text(f"message.{name}", found)
    return value


def inbound_key(source: object, key: object) -> None:
    """Both parts of an inbound key must be non-blank strings, within the key rule of :func:`text`."""
    for name, value in (("source", source), ("key", key)):
        if not isinstance(value, str) or not value.strip():
            raise errors.InvalidValue("must be a non-blank string", field=name, value=value)
        text(name, value, key=True)


def text(field: str, value: str, *, key: bool = False) -> None:
    """The rule every store applies to text: no NUL character, and keys of at most :data:`~carecore.limits.MAX_KEY`.

    PostgreSQL cannot keep a NUL in text and SQLite can; refusing it before
    the write makes both stores answer the same typed error. The error
    names the field and where the NUL is, never the text itself.

    >>> text("reason", "fine")
    >>> text("key", "x" * 1001, key=True)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: key='1001 characters': is longer than a key may be (1000 characters)
    """
    at = value.find("\x00")
    if at >= 0:
        raise errors.InvalidValue(
            "holds a NUL character, which no store keeps",
            field=field,
            value=f"NUL at character {at}",
        )
    if key and len(value) > MAX_KEY:
        raise errors.InvalidValue(
            f"is longer than a key may be ({MAX_KEY} characters)",
            field=field,
            value=f"{len(value)} characters",
        )


def row_text(kind: Kind, row: tuple[Any, ...]) -> None:
    """:func:`text` over a record's row (its columns as stored), keys included."""
    for column, value in zip(kind.columns, row, strict=True):
        # Most text passes: the field's name is made only for text the rule refuses.
        if isinstance(value, str) and (
            "\x00" in value or (len(value) > MAX_KEY and column.name in kind.key)
        ):
            text(f"{kind.name}.{column.name}", value, key=column.name in kind.key)


def receipt(value: object) -> DeliveryReceipt:
    """The delivery receipt, or a typed error."""
    if not isinstance(value, DeliveryReceipt):
        raise errors.InvalidValue("must be a DeliveryReceipt", field="receipt", value=value)
    return value


def patient_id(value: object) -> str:
    """A patient id to look records up by."""
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidValue("must be a non-blank patient id", field="patient_id", value=value)
    return value


def patient_ids(value: object) -> list[str]:
    """Patient ids to look records up by (a list of them; one string is refused, not read letter by letter)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise errors.InvalidValue("must be a list of patient ids", field="patient_ids", value=value)
    return list(dict.fromkeys(patient_id(v) for v in value))


def outbox_query(status: object, limit: object) -> None:
    """An outbox status to list, and a positive limit."""
    if status not in OUTBOX_STATUSES:
        raise errors.InvalidValue(
            f"must be one of {', '.join(OUTBOX_STATUSES)}", field="status", value=status
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="limit", value=limit
        )


def lease(due_at: object, lease_until: object) -> None:
    """Two aware instants, the lease ending after the moment messages are due by."""
    for name, value in (("due_at", due_at), ("lease_until", lease_until)):
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise errors.InvalidValue("must be a time-zone-aware datetime", field=name, value=value)
    assert isinstance(due_at, dt.datetime)  # noqa: S101 - checked above
    assert isinstance(lease_until, dt.datetime)  # noqa: S101
    if lease_until <= due_at:
        raise errors.InvalidValue("must be after due_at", field="lease_until", value=lease_until)


def claim(value: object) -> None:
    """An outbox claim number (from :meth:`claim_outbox`), or None for no fence."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise errors.InvalidValue(
            "must be a claim number of at least 0", field="claim", value=value
        )


def instant(name: str, value: object) -> None:
    """A time-zone-aware datetime."""
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise errors.InvalidValue("must be a time-zone-aware datetime", field=name, value=value)


def migration_target(target: object, current: int, newest: int) -> int:
    """A schema version to migrate to: a whole number from the current version to the newest."""
    if isinstance(target, bool) or not isinstance(target, int) or not current <= target <= newest:
        raise errors.InvalidValue(
            f"must be a schema version from {current} (the database's) to {newest}",
            field="target",
            value=target,
        )
    return target
