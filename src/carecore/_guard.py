"""The transaction a :class:`~carecore.service.CareProgram` hands out: every operation asks the policy.

Single-record operations the policy refuses raise
:class:`~carecore.errors.AccessDenied` (and are remembered, so the program
rolls the transaction back and records the denial even when the caller
catches it); bulk reads return only the records of the patients it allows,
and raise when it allows none of them.
The policy is asked first without the patient's care teams; only when it
says no are the care teams read and the policy asked again (so a policy
must not refuse what it allows without them).
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Any, TypeVar

from carecore import errors
from carecore.access import AccessPolicy, AccessRequest, Action, Actor, check, teams_of
from carecore.model import CareTeam, ClaimLine, Denial, Patient
from carecore.storage import kind_for

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from carecore.model import DeliveryReceipt, OutboundMessage
    from carecore.protocols import Transaction
    from carecore.storage import AuditEntry, OutboxItem, StoredRows

__all__ = ["GuardedTransaction", "write_action"]

T = TypeVar("T")

#: Kinds whose writes are a month close's output (the ``bill`` action).
_BILLED = frozenset({ClaimLine, Denial})


def write_action(cls: type[Any]) -> Action:
    """The action a write of *cls* records is: ``bill`` for claim lines and denials, else ``write``."""
    return Action.BILL if cls in _BILLED else Action.WRITE


def _team_members(team: CareTeam) -> tuple[str, tuple[str, ...]]:
    return team.id, tuple(m.practitioner_id for m in team.members)


class GuardedTransaction:
    """A store transaction seen through an access policy (see the module docstring).

    *read* is the action reads in this transaction are (``read``, or
    ``export`` / ``deidentified-export`` for a transaction opened to export).
    """

    def __init__(
        self, tx: Transaction, *, actor: Actor, policy: AccessPolicy, read: Action = Action.READ
    ) -> None:
        self._tx = tx
        self._actor = actor
        self._policy = policy
        self._read = read
        #: The actor's care teams among each patient's, by patient id (read when needed).
        self._teams: dict[str, tuple[str, ...]] = {}
        self._all_teams = False
        #: Answers already given in this transaction, by (action, kind, patient).
        self._answers: dict[tuple[Action, str | None, str | None], bool] = {}
        #: Whether the policy allows an action on a kind for every patient, by (action, kind).
        self._every: dict[tuple[Action, str | None], bool] = {}
        #: Denials raised in this transaction (the program audits them after rollback).
        self.denied: list[errors.AccessDenied] = []

    @contextlib.contextmanager
    def reading_as(self, action: Action) -> Iterator[None]:
        """Check the reads in the block as *action*: the code that sends records out declares it.

        A de-identified export reads every record to de-identify it
        (``deidentified-export``); a disclosure of identified records reads
        them to send them (``export``).
        """
        if action not in {Action.READ, Action.EXPORT, Action.DEIDENTIFIED_EXPORT}:
            raise errors.InvalidValue(
                "must be read, export or deidentified-export", field="action", value=action
            )
        before, self._read = self._read, action
        try:
            yield
        finally:
            self._read = before

    # -- asking the policy -------------------------------------------------------

    def _request(
        self, action: Action, kind: str | None, patient_id: str | None, teams: tuple[str, ...]
    ) -> AccessRequest:
        return AccessRequest(
            actor=self._actor, action=action, kind=kind, patient_id=patient_id, care_teams=teams
        )

    def _answer(self, request: AccessRequest) -> bool:
        try:
            check(self._policy, request)
        except errors.AccessDenied:
            return False
        return True

    def _teams_of(self, patient_id: str) -> tuple[str, ...]:
        if patient_id not in self._teams:
            if self._all_teams:
                self._teams[patient_id] = ()
            else:
                found = self._tx.find(CareTeam, patient_id=patient_id)
                self._teams[patient_id] = teams_of(self._actor, map(_team_members, found))
        return self._teams[patient_id]

    def _load_teams(self) -> None:
        """Every patient's care teams, once (a bulk read by someone who may not read everyone)."""
        if self._all_teams:
            return
        grouped: dict[str, list[CareTeam]] = {}
        # A store that can answers with the actor's own teams only, so the audit log
        # does not show a care manager reading the care teams of every patient.
        mine = getattr(self._tx, "care_teams_with", None)
        teams = (
            mine(self._actor.id, self._actor.teams) if callable(mine) else self._tx.all(CareTeam)
        )
        for team in teams:
            grouped.setdefault(team.patient_id, []).append(team)
        self._teams = {
            pid: teams_of(self._actor, map(_team_members, teams)) for pid, teams in grouped.items()
        }
        self._all_teams = True

    def every_patient(self, action: Action, kind: str | None) -> bool:
        """Whether the policy says it allows *action* on *kind* for every patient (its own shortcut)."""
        key = (action, kind)
        if key not in self._every:
            ask = getattr(self._policy, "allows_every_patient", None)
            self._every[key] = ask is not None and ask(self._actor, action, kind) is True
        return self._every[key]

    def allowed(self, action: Action, kind: str | None, patient_id: str | None) -> bool:
        """Whether the policy allows *action* on *kind* records of *patient_id* (no raise)."""
        if patient_id is not None and self.every_patient(action, kind):
            return True
        key = (action, kind, patient_id)
        if key not in self._answers:
            answer = self._answer(self._request(action, kind, patient_id, ()))
            if not answer and patient_id is not None:
                teams = self._teams_of(patient_id)
                if teams:
                    answer = self._answer(self._request(action, kind, patient_id, teams))
            self._answers[key] = answer
        return self._answers[key]

    def require(self, action: Action, kind: str | None, patient_id: str | None) -> None:
        """Raise (and remember) :class:`~carecore.errors.AccessDenied` unless allowed."""
        if self.allowed(action, kind, patient_id):
            return
        teams = self._teams.get(patient_id, ()) if patient_id is not None else ()
        try:
            check(self._policy, self._request(action, kind, patient_id, teams))
        except errors.AccessDenied as refused:
            self.denied.append(refused)
            raise
        # The policy changed its mind between two questions: it is not deterministic.
        late = errors.AccessDenied(
            actor=self._actor.id, action=action.value, patient_id=patient_id, kind=kind
        )
        self.denied.append(late)
        raise late

    def _permitted(self, action: Action, kind: str, patient_ids: Iterable[str]) -> list[str]:
        """Those of *patient_ids* the actor may *action* (care teams read once if needed)."""
        ids = list(dict.fromkeys(patient_ids))
        if self.every_patient(action, kind):
            return ids
        first = [p for p in ids if self._answer(self._request(action, kind, p, ()))]
        if len(first) == len(ids):
            return ids
        if len(ids) - len(first) > 1:
            self._load_teams()
        permitted = [p for p in ids if self.allowed(action, kind, p)]
        if ids and not permitted:
            # Someone who may see none of them is refused, not handed an empty list.
            refused = errors.AccessDenied(
                actor=self._actor.id, action=action.value, patient_id=None, kind=kind
            )
            self.denied.append(refused)
            raise refused
        return permitted

    # -- writes ----------------------------------------------------------------------

    def _check_write(self, record: object) -> None:
        kind = kind_for(type(record))
        self.require(write_action(kind.cls), kind.name, kind.patient_of(record))
        if kind.cls is CareTeam:
            self._teams.clear()
            self._all_teams = False
            self._answers.clear()

    def add(self, record: object) -> None:
        self._check_write(record)
        self._tx.add(record)

    def replace(self, record: object) -> None:
        self._check_write(record)
        self._tx.replace(record)

    def delete(self, kind_cls: type[Any], key: object) -> None:
        kind = kind_for(kind_cls)
        action = write_action(kind.cls)
        if kind.patient_column is None:
            self.require(action, kind.name, None)
        elif not self.every_patient(action, kind.name):
            self._check_write(self._tx.get(kind_cls, key))  # whose record it is
        self._tx.delete(kind_cls, key)

    def add_many(self, records: Sequence[object]) -> None:
        for record in records:
            self._check_write(record)
        self._tx.add_many(records)

    # -- reads -----------------------------------------------------------------------

    def get(self, kind_cls: type[T], key: object) -> T:
        kind = kind_for(kind_cls)
        if kind.cls is Patient:
            self.require(self._read, kind.name, key[0] if isinstance(key, tuple) else str(key))
            return self._tx.get(kind_cls, key)
        found = self._tx.get(kind_cls, key)
        self.require(self._read, kind.name, kind.patient_of(found))
        return found

    def get_many(self, kind_cls: type[T], keys: Sequence[object]) -> list[T]:
        kind = kind_for(kind_cls)
        if isinstance(keys, str | bytes):  # the store refuses it by name
            return self._get_many(kind_cls, keys)
        if kind.cls is Patient:
            for key in keys:
                self.require(self._read, kind.name, key[0] if isinstance(key, tuple) else str(key))
            return self._get_many(kind_cls, keys)
        found = self._get_many(kind_cls, keys)
        for record in found:
            self.require(self._read, kind.name, kind.patient_of(record))
        return found

    def _get_many(self, kind_cls: type[T], keys: Sequence[object]) -> list[T]:
        many = getattr(self._tx, "get_many", None)
        if many is not None:
            found: list[T] = many(kind_cls, keys)
            return found
        # A store written before get_many: get each key, leaving out the ones not stored.
        found = []
        for key in keys:
            try:
                found.append(self._tx.get(kind_cls, key))
            except errors.NotFound:
                continue
        return found

    def find(self, kind_cls: type[T], *, patient_id: str) -> list[T]:
        self.require(self._read, kind_for(kind_cls).name, patient_id)
        return self._tx.find(kind_cls, patient_id=patient_id)

    def all(self, kind_cls: type[T]) -> list[T]:
        kind = kind_for(kind_cls)
        if kind.patient_column is None:
            self.require(self._read, kind.name, None)
            return self._tx.all(kind_cls)
        if self.every_patient(self._read, kind.name):
            return self._tx.all(kind_cls)
        ids = self._tx.patient_ids()
        permitted = self._permitted(self._read, kind.name, ids)
        if len(permitted) == len(ids):
            return self._tx.all(kind_cls)
        if not permitted:
            return []
        return self._tx.find_many(kind_cls, patient_ids=permitted)

    def patient_ids(self) -> list[str]:
        return self._permitted(self._read, "Patient", self._tx.patient_ids())

    def patients_with_identifier(self, system: str, value: str) -> list[str]:
        found = self._tx.patients_with_identifier(system, value)
        return self._permitted(self._read, "Patient", found)

    def find_many(self, kind_cls: type[T], *, patient_ids: Sequence[str]) -> list[T]:
        if isinstance(patient_ids, str):  # the store refuses it by name
            return self._tx.find_many(kind_cls, patient_ids=patient_ids)
        permitted = self._permitted(self._read, kind_for(kind_cls).name, patient_ids)
        return self._tx.find_many(kind_cls, patient_ids=permitted) if permitted else []

    def find_rows(
        self, kind_cls: type[T], *, patient_ids: Sequence[str], history: bool = False
    ) -> StoredRows[T]:
        if isinstance(patient_ids, str):  # the store refuses it by name
            return self._tx.find_rows(kind_cls, patient_ids=patient_ids, history=history)
        permitted = self._permitted(self._read, kind_for(kind_cls).name, patient_ids)
        return self._tx.find_rows(kind_cls, patient_ids=permitted, history=history)

    def history(self, kind_cls: type[T], key: object) -> list[T]:
        kind = kind_for(kind_cls)
        found = self._tx.history(kind_cls, key)
        for patient in dict.fromkeys(kind.patient_of(value) for value in found):
            self.require(self._read, kind.name, patient)
        return found

    def audit_entries(self, *, patient_id: str | None = None, after: int = 0) -> list[AuditEntry]:
        if patient_id is None:
            self.require(Action.ADMIN, "AuditEntry", None)
        else:
            self.require(self._read, "AuditEntry", patient_id)
        return self._tx.audit_entries(patient_id=patient_id, after=after)

    # -- the outbox and inbound keys ------------------------------------------------

    def enqueue(self, message: OutboundMessage) -> bool:
        self.require(Action.WRITE, "OutboundMessage", message.patient_id)
        return self._tx.enqueue(message)

    def outbox(
        self, *, status: str = "pending", limit: int = 100, due_at: dt.datetime | None = None
    ) -> list[OutboxItem]:
        self.require(Action.DELIVER, "OutboundMessage", None)
        return self._tx.outbox(status=status, limit=limit, due_at=due_at)

    def record_delivery(
        self,
        receipt: DeliveryReceipt,
        *,
        retry_at: dt.datetime | None = None,
        give_up: bool = False,
        claim: int | None = None,
    ) -> None:
        self.require(Action.DELIVER, "OutboundMessage", None)
        self._tx.record_delivery(receipt, retry_at=retry_at, give_up=give_up, claim=claim)

    def extend_lease(self, message_id: str, *, claim: int, until: dt.datetime) -> bool:
        self.require(Action.DELIVER, "OutboundMessage", None)
        return self._tx.extend_lease(message_id, claim=claim, until=until)

    def requeue(self, message_id: str) -> None:
        self.require(Action.DELIVER, "OutboundMessage", None)
        self._tx.requeue(message_id)

    def defer(self, message_id: str, until: dt.datetime) -> None:
        self.require(Action.DELIVER, "OutboundMessage", None)
        self._tx.defer(message_id, until)

    def claim_outbox(
        self, *, due_at: dt.datetime, lease_until: dt.datetime, limit: int = 100
    ) -> list[OutboxItem]:
        self.require(Action.DELIVER, "OutboundMessage", None)
        return self._tx.claim_outbox(due_at=due_at, lease_until=lease_until, limit=limit)

    def claim_inbound(self, source: str, key: str) -> bool:
        self.require(Action.WRITE, "InboundKey", None)
        return self._tx.claim_inbound(source, key)

    def _patients_with_identifiers(
        self,
        lookup: Callable[[Sequence[tuple[str, str]]], dict[tuple[str, str], list[str]]],
        identifiers: Sequence[tuple[str, str]],
    ) -> dict[tuple[str, str], list[str]]:
        """A store's lookup of many identifiers, each pair's patients as :meth:`patients_with_identifier` permits them."""
        found = lookup(identifiers)
        ids = [p for pids in found.values() for p in pids]
        permitted = set(self._permitted(self._read, "Patient", ids))
        return {pair: [p for p in pids if p in permitted] for pair, pids in found.items()}

    def __getattr__(self, name: str) -> Any:
        # Anything else a store's transaction offers (its own extras) passes through; the
        # SQL stores' claims of many inbound keys at once are checked as claim_inbound is.
        found = getattr(self._tx, name)
        if name == "patients_with_identifiers":
            return functools.partial(self._patients_with_identifiers, found)
        if name not in _INBOUND_EXTRAS:
            return found

        def checked(*args: Any, **kwargs: Any) -> Any:
            self.require(Action.WRITE, "InboundKey", None)
            return found(*args, **kwargs)

        return checked


#: Extras of a store's transaction that read or claim inbound keys (checked as ``claim_inbound``).
_INBOUND_EXTRAS = frozenset({"inbound_claimed", "claim_inbound_many"})
