"""The audit log's hash chain (schema 15).

Each audit row stores the SHA-256 of its own content together with the hash of
the row before it (in sequence order); the first row follows :data:`GENESIS`.
A one-row table, ``audit_head``, holds the sequence number and hash of the last
row, so rows deleted from the end are noticed as well as rows changed or
deleted in the middle. Writers lock the head row while they append, which keeps
the chain a single line on databases with concurrent writers.

The chain has no secret: it catches edits made with a database shell, not an
attacker who recomputes every later hash. See the explanation page on privacy
and audit.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from json.encoder import encode_basestring

__all__ = ["GENESIS", "chain", "entry_hash", "verify"]

#: The hash the first audit row follows.
GENESIS = "0" * 64

#: An audit row's content in hashing order: at, actor, action, kind, key, patient_id, reason, detail.
AuditRow = Sequence[object]


def _instant(value: object) -> str:
    """An audit time as UTC ISO text, the same whether the driver gives text or a datetime."""
    if isinstance(value, str):
        return _instant_text(value)
    return _utc_text(value)


@functools.lru_cache(maxsize=256)
def _instant_text(value: str) -> str:
    # Cached: the rows of one transaction share its instant.
    return _utc_text(dt.datetime.fromisoformat(value))


def _utc_text(when: object) -> str:
    if not isinstance(when, dt.datetime):
        return str(when)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC)
    return when.isoformat()


#: ``json.dumps(..., ensure_ascii=False, separators=(",", ":"))``, the encoder made once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def entry_hash(previous: str, row: AuditRow) -> str:
    """The hash of an audit row's content (at, actor, action, kind, key, patient, reason, detail).

    >>> h = entry_hash(GENESIS, ("2026-01-05T10:00:00+00:00", "nurse-1", "read", "Patient",
    ...                          "p1", "p1", "visit", ""))
    >>> len(h), h == entry_hash(GENESIS, ("2026-01-05T11:00:00+01:00", "nurse-1", "read",
    ...                                   "Patient", "p1", "p1", "visit", ""))
    (64, True)
    """
    return _hash(previous, row, {})


def _hash(previous: str, row: AuditRow, spelled: dict[object, str]) -> str:
    """:func:`entry_hash`, with the JSON of values already spelled in *spelled* (added to it).

    The text hashed is ``json.dumps([previous, at, *rest], ensure_ascii=False,
    separators=(",", ":"))``: text and None are spelled here, as ``json``
    spells them (its own string encoder), and any other value by ``json``.
    """
    at, *rest = row
    parts = [encode_basestring(previous)]
    for value in (_instant(at), *rest):
        text = spelled.get(value) if value is None or type(value) is str else None
        if text is None:
            if value is None:
                text = "null"
            elif type(value) is str:
                text = encode_basestring(value)
            else:
                text = _ENCODER.encode(value)
            if value is None or type(value) is str:
                spelled[value] = text
        parts.append(text)
    return hashlib.sha256(f"[{','.join(parts)}]".encode()).hexdigest()


class _Spelled(dict[object, str]):
    """Text and None as JSON, each spelled on first sight (see :func:`_hash`)."""

    def __missing__(self, value: object) -> str:
        if value is None:
            text = "null"
        elif type(value) is str:
            text = encode_basestring(value)
        else:  # another type: not kept (the caller spells the row the long way)
            raise TypeError(type(value).__name__)
        self[value] = text
        return text


class _Instants(dict[object, str]):
    """Audit times as spelled JSON text, by the value given (see :func:`_instant`).

    Text only: two aware datetimes of one wall time in a fold (a DST change)
    compare equal and would share one spelling, though they are an hour apart.
    """

    def __missing__(self, value: object) -> str:
        if type(value) is not str:
            raise TypeError(type(value).__name__)  # spelled the long way
        text = self[value] = encode_basestring(_instant(value))
        return text


#: The number of values in an audit row (at, actor, action, kind, key, patient, reason, detail).
_WIDTH = 8


def chain(previous: str, rows: Iterable[AuditRow]) -> list[str]:
    """The hashes of *rows* appended after a row whose hash is *previous*.

    Each is :func:`entry_hash` of its row after the one before; a row of eight
    texts or Nones (the audit log's rows) is spelled here in one expression,
    any other as :func:`_hash` spells it.
    """
    # A transaction's rows share their time, actor and reason, and most their action
    # and kind: each text is spelled as JSON once.
    spelled: dict[object, str] = {}
    fast, instants = _Spelled(), _Instants()
    hashes = []
    sha256 = hashlib.sha256
    for row in rows:
        text = None
        if len(row) == _WIDTH:
            at, actor, action, kind, key, patient, reason, detail = row
            try:
                text = (
                    f"[{encode_basestring(previous)},{instants[at]},{fast[actor]},{fast[action]},"
                    f"{fast[kind]},{fast[key]},{fast[patient]},{fast[reason]},{fast[detail]}]"
                )
            except TypeError:  # a value neither text nor None (or one that cannot be a key)
                text = None
        if text is None:  # spelled the long way
            previous = _hash(previous, row, spelled)
        else:
            previous = sha256(text.encode()).hexdigest()
        hashes.append(previous)
    return hashes


def verify(
    rows: Iterable[tuple[int, str | None, AuditRow]], head: tuple[int, str] | None
) -> list[str]:
    """Problems with the chain of *rows* (seq, stored hash, content) in sequence order.

    Stops at the first broken row and names it; *head* is the stored
    (seq, hash) of the last row, None when the head row is missing.
    """
    previous, last_seq, before = GENESIS, 0, 0
    for seq, stored, content in rows:
        if stored is None:
            return [f"audit row {seq}: has no chain hash"]
        if entry_hash(previous, content) != stored:
            after = f"row {before}" if before else "the start of the log"
            return [
                (
                    f"audit row {seq}: chain broken (the row was changed, or a row between "
                    f"{after} and it was deleted)"
                )
            ]
        previous, last_seq, before = stored, seq, seq
    if head is None:
        return ["audit log: the chain's head row (audit_head) is missing"]
    head_seq, head_hash = head
    if (head_seq, head_hash) != (last_seq, previous):
        if head_seq > last_seq:
            return [
                (
                    f"audit row {head_seq}: missing (the log ends at row {last_seq}; "
                    "rows were deleted from its end)"
                )
            ]
        return [
            f"audit row {last_seq}: not recorded in the chain's head (it records row {head_seq})"
        ]
    return []
