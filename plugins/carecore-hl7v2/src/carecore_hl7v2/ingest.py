"""Taking in HL7 v2 messages: find the patient, store the event (or a dead letter), say what to answer.

:func:`handle_many` stores several messages in one transaction (the
listener's group commit); :func:`handle` is one message. Either way every
message ends in an :class:`Outcome`: ``AA`` once committed, or ``AE``/``AR``
with the reason and a :class:`~carecore.model.DeadLetter`.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import attrs

from carecore import errors, limits, transitions
from carecore.access import Action
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    ContactPreferences,
    DeadLetter,
    Identifier,
    Patient,
    PatientAddress,
    PatientLink,
    TransitionEpisode,
)
from carecore.storage import kind_for
from carecore_hl7v2.mapping import (
    Demographics,
    Refused,
    _ack,
    _demographics,
    _Fields,
    _identifiers,
    _read,
    _to_event,
    check_limits,
    clean,
    nak_for_unreadable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import pendulum

    from carecore.protocols import Transaction
    from carecore.service import CareProgram

__all__ = [
    "Outcome",
    "UnknownPatients",
    "handle",
    "handle_many",
    "practice_time_zone",
    "prepare",
    "split_messages",
    "store_prepared",
]

SOURCE = "hl7"

#: What a message for a patient no stored identifier names does: ``create`` registers
#: the patient from PID; ``review`` refuses it (AE) and keeps it for a person to match.
UnknownPatients = Literal["create", "review"]

T = TypeVar("T")

#: Errors that refuse one message (the others, a store that cannot be reached, propagate).
_REFUSALS = (errors.InvalidValue, errors.InvalidInput, errors.NotFound, errors.ConflictError)


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one message: the acknowledgment to send and how it was taken."""

    ack: str
    code: str  #: AA, AE or AR
    stored: bool  #: a new event was committed
    duplicate: bool = False
    dead_letter: bool = False
    reason: str = ""
    patient_id: str | None = None  #: the carecore patient the message was filed under
    created_patient: bool = False  #: the message registered a new patient
    #: What was taken other than as sent (an unknown PID-8 left as stored), naming fields only.
    warnings: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Prepared:
    """One message checked, parsed and mapped (or its refusal), ready to store."""

    text: str
    #: The message's fields (what the mapping reads), None when it could not be read.
    message: _Fields | None = None
    #: The event, filed under the id a patient registered from PID-3's first identifier
    #: gets (storing it files it under the patient its identifiers are linked to).
    event: AdtEvent | None = None
    people: Demographics | None = None
    refusal: Refused | None = None


def practice_time_zone(program: CareProgram) -> str | None:
    """The practice's time zone as stored (``carecore db set time-zone``), or None."""
    return program.practice_time_zone()


def _prepare(raw: str | bytes, time_zone: str | None, identifier_type: str) -> Prepared:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    message: _Fields | None = None
    try:
        check_limits(raw)
        text = clean(raw)
        message = _read(text)
        ids = _identifiers_if_valid(message)
        # Filed under the id a patient registered from the first identifier has (what storing
        # it finds, unless the identifiers are linked to another patient): the event is then
        # not built and checked a second time with another id.
        filed = _patient_id(ids[0]) if ids else None
        event = _to_event(
            message, time_zone=time_zone, identifier_type=identifier_type, patient_id=filed
        )
        people = _demographics(message, ids)
    except Refused as exc:
        return Prepared(text=text, message=message, refusal=exc)
    except errors.InvalidValue as exc:  # a value the model refuses (a date of death before birth)
        refusal = Refused(str(exc), code="AE", field=exc.field or "message", value=exc.value)
        return Prepared(text=text, message=message, refusal=refusal)
    return Prepared(text=text, message=message, event=event, people=people)


def _identifiers_if_valid(message: _Fields) -> tuple[Identifier, ...] | None:
    """PID-3's identifiers, or None when one is refused (:func:`_demographics` refuses it in turn)."""
    try:
        return _identifiers(message)
    except errors.InvalidValue:
        return None


def handle(
    program: CareProgram,
    raw: str | bytes,
    *,
    time_zone: str | None = None,
    identifier_type: str = "MR",
    unknown_patients: UnknownPatients = "create",
) -> Outcome:
    """Parse, match, map and store one message; return the ACK or NAK to send once it is committed.

    A store that cannot be reached raises: the sender gets no ACK and retries.
    """
    (outcome,) = handle_many(
        program,
        [raw],
        time_zone=time_zone,
        identifier_type=identifier_type,
        unknown_patients=unknown_patients,
    )
    return outcome


def handle_many(
    program: CareProgram,
    raws: Sequence[str | bytes],
    *,
    time_zone: str | None = None,
    identifier_type: str = "MR",
    unknown_patients: UnknownPatients = "create",
) -> list[Outcome]:
    """Store *raws* in one transaction and return each one's outcome, in order, after the commit.

    When one message makes the shared transaction fail, the transaction is
    rolled back and each message is stored in a transaction of its own, so
    the others are not held back by it. *time_zone* defaults to the
    practice's stored one (``""``: none, and do not look it up again).
    """
    # "" says the caller looked the practice's zone up already and none is stored.
    zone = (time_zone if time_zone is not None else practice_time_zone(program)) or None
    prepared = [_prepare(raw, zone, identifier_type) for raw in raws]
    return store_prepared(program, prepared, time_zone=zone, unknown_patients=unknown_patients)


def prepare(raw: str | bytes, *, time_zone: str | None, identifier_type: str = "MR") -> Prepared:
    """Check, parse and map one message, touching no store (what :func:`store_prepared` takes).

    The listener prepares each message as it arrives, while the previous
    group commit waits on the disk.
    """
    return _prepare(raw, time_zone or None, identifier_type)


def store_prepared(
    program: CareProgram,
    prepared: Sequence[Prepared],
    *,
    time_zone: str | None,
    unknown_patients: UnknownPatients = "create",
) -> list[Outcome]:
    r""":func:`handle_many` for messages already :func:`prepare`\ d (in *time_zone*)."""
    zone = time_zone or None
    try:
        with program.transaction(f"inbound {SOURCE} ({len(prepared)} messages)") as guarded:
            links = _Links(guarded)
            # Every PID-3 identifier of the group is looked up at once.
            links.read(i for p in prepared if p.people is not None for i in p.people.identifiers)
            tx = _Batch(guarded)
            if len(prepared) > 1:
                tx.read_ahead(links, prepared)
            outcomes = [
                _store(
                    program,
                    tx.typed,
                    links,
                    p,
                    zone=zone,
                    unknown_patients=unknown_patients,
                    own_key=tx.own_key,
                )
                for p in prepared
            ]
            tx.flush()
            return outcomes
    except _REFUSALS as exc:
        if len(prepared) > 1:
            return [
                store_prepared(program, [p], time_zone=zone, unknown_patients=unknown_patients)[0]
                for p in prepared
            ]
        (one,) = prepared
        refusal = (
            exc
            if isinstance(exc, Refused)
            else Refused(str(exc), code="AE", field=getattr(exc, "field", ""), value=None)
        )
        with program.transaction(f"inbound {SOURCE} refused") as refused:
            return [_dead_letter(program, refused, attrs.evolve(one, refusal=refusal))]


class _Batch:
    """A group commit's transaction: its messages' reads of their patients are made for all at once.

    :meth:`read_ahead` reads, for every patient the batch's messages name
    (or would register), the records storing a message reads of them (the
    patient, its episodes, contact preferences and address; events filed
    under an id of earlier versions) with one query a kind, and which of the
    batch's keys were claimed before. Reads of those are then answered from
    memory, and writes through this object keep the memory as the store would
    answer. New events and episodes, and the claims of the keys read ahead,
    are written together (:meth:`flush`) at the end, or before anything that
    could read them; anything else goes to the transaction as it comes.
    The reads are audited as the bulk reads they are (one entry a kind, and
    one a patient whose records were returned).
    """

    #: The kinds read ahead, by patient.
    KINDS: tuple[type[Any], ...] = (Patient, TransitionEpisode, ContactPreferences, PatientAddress)
    #: The kinds whose new records wait for :meth:`flush` (no other record refers to them).
    HELD: frozenset[type[Any]] = frozenset({AdtEvent, TransitionEpisode})
    #: What passes to the transaction without writing what is held first (none reads it).
    PASSING = frozenset({"enqueue", "every_patient"})

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        #: (kind, patient id) -> that patient's records of the kind, in key order.
        self.known: dict[tuple[type[Any], str], list[Any]] = {}
        #: New records not written yet, in the order added.
        self.held: list[object] = []
        #: (system, value) -> the patients carrying that identifier, read ahead.
        self.carrying: dict[tuple[str, str], list[str]] = {}
        #: Keys of SOURCE read ahead, those claimed (before, or in this batch), those to write.
        self.asked: set[str] = set()
        self.claimed: set[str] = set()
        self.to_claim: list[str] = []
        #: (key, text) -> :func:`_own_key`, worked out once for the batch (read ahead, then claimed).
        self.own_keys: dict[tuple[str, str], str] = {}

    def own_key(self, key: str, text: str) -> str:
        """:func:`_own_key` of a message of this batch, worked out once."""
        found = self.own_keys.get((key, text))
        if found is None:
            found = self.own_keys[key, text] = _own_key(key, text)
        return found

    @property
    def typed(self) -> Transaction:
        """This object where a :class:`~carecore.protocols.Transaction` is expected."""
        return cast("Transaction", self)

    def read_ahead(self, links: _Links, prepared: Sequence[Prepared]) -> None:
        """Read the records of every patient *prepared* names (by link, or the id it would get)."""
        ids: list[str] = []
        legacy: list[str] = []
        keys: list[str] = []
        unlinked: list[tuple[str, str]] = []
        for p in prepared:
            if p.people is None or not p.people.identifiers or p.event is None:
                continue
            named = links.patients(p.people.identifiers)
            if named:
                ids.extend(sorted(named))
            else:
                unlinked += [(i.system, i.value) for i in p.people.identifiers]
                first = p.people.identifiers[0]
                ids.append(_patient_id(first))
                legacy.append(_legacy_id(first))
            keys += [p.event.source_key, self.own_key(p.event.source_key, p.text)]
        self._carrying(unlinked)
        for cls in self.KINDS:
            if cls is not PatientAddress or any(
                p.people is not None and p.people.address is not None for p in prepared
            ):  # an address is read only to compare it with one a message brings
                self._read(cls, ids)
        self._read(AdtEvent, legacy)
        claimed = getattr(self.tx, "inbound_claimed", None)
        if claimed is not None and callable(getattr(self.tx, "claim_inbound_many", None)):
            try:
                self.claimed = set(claimed(SOURCE, keys))
            except errors.InvalidValue:
                return  # a key the store refuses: each is claimed alone, and refused alone
            self.asked = set(keys)

    def _carrying(self, identifiers: list[tuple[str, str]]) -> None:
        """Read which patients carry each of *identifiers* (those no link names yet), at once."""
        lookup = getattr(self.tx, "patients_with_identifiers", None)
        every = getattr(self.tx, "every_patient", None)
        if not identifiers or lookup is None:
            return
        if every is not None and not every(Action.READ, "Patient"):
            return
        try:
            self.carrying.update(lookup(identifiers))
        except errors.InvalidValue:
            return  # an identifier the store refuses: each is looked up alone, and refused alone

    def patients_with_identifier(self, system: str, value: str) -> list[str]:
        found = self.carrying.get((system, value))
        if found is None:
            return self.tx.patients_with_identifier(system, value)
        return list(found)

    def _read(self, cls: type[Any], patient_ids: list[str]) -> None:
        ids = [p for p in dict.fromkeys(patient_ids) if (cls, p) not in self.known]
        every = getattr(self.tx, "every_patient", None)
        # Only when the policy lets this actor read the kind of every patient: then a
        # read answered from memory is one the transaction would have allowed.
        if not ids or (every is not None and not every(Action.READ, cls.__name__)):
            return
        kind = kind_for(cls)
        for pid in ids:
            self.known[cls, pid] = []
        for record in self.tx.find_many(cls, patient_ids=ids):
            self.known[cls, str(kind.patient_of(record))].append(record)

    def flush(self) -> None:
        """Write the claims and the new records held back."""
        if self.to_claim:
            keys, self.to_claim = self.to_claim, []
            self.tx.claim_inbound_many(SOURCE, keys)  # type: ignore[attr-defined]
        if self.held:
            records, self.held = self.held, []
            self.tx.add_many(records)

    def claim_inbound(self, source: str, key: str) -> bool:
        if source != SOURCE or key not in self.asked:
            return self.tx.claim_inbound(source, key)
        if key in self.claimed:
            return False
        self.claimed.add(key)
        self.to_claim.append(key)
        return True

    def find(self, kind_cls: type[T], *, patient_id: str) -> list[T]:
        found = self.known.get((kind_cls, patient_id))
        if found is None:
            if kind_cls in self.HELD:
                self.flush()
            return self.tx.find(kind_cls, patient_id=patient_id)
        return list(found)

    def get(self, kind_cls: type[T], key: object) -> T:
        found = self.known.get((kind_cls, key)) if isinstance(key, str) else None
        kind = kind_for(kind_cls)
        if found is None or kind.key != (kind.patient_column,):
            if kind_cls in self.HELD:
                self.flush()
            return self.tx.get(kind_cls, key)
        if not found:
            raise errors.NotFound(f"no such {kind.name}", field="key", value=key)
        record: T = found[0]
        return record

    def get_many(self, kind_cls: type[T], keys: Sequence[object]) -> list[T]:
        if kind_cls in self.HELD:
            self.flush()
        return self.tx.get_many(kind_cls, keys)

    def add(self, record: object) -> None:
        if type(record) in self.HELD:
            self.held.append(record)
        else:
            self.tx.add(record)
        self._keep(record, replace=False)

    def replace(self, record: object) -> None:
        self.flush()
        self.tx.replace(record)
        self._keep(record, replace=True)

    def _keep(self, record: object, *, replace: bool) -> None:
        kind = kind_for(type(record))
        patient = kind.patient_of(record)
        found = self.known.get((type(record), patient)) if patient is not None else None
        if found is None:
            return
        key = kind.key_of(record)
        if replace:
            found[:] = [record if kind.key_of(r) == key else r for r in found]
        else:
            found.append(record)
            found.sort(key=kind.key_of)

    def __getattr__(self, name: str) -> Any:
        if name not in self.PASSING:
            self.flush()
        return getattr(self.tx, name)


def _store(
    program: CareProgram,
    tx: Transaction,
    links: _Links,
    prepared: Prepared,
    *,
    zone: str | None,
    unknown_patients: UnknownPatients,
    own_key: Callable[[str, str], str],
) -> Outcome:
    """Store one prepared message in *tx*; *own_key* is :func:`_own_key` or a memo of it."""
    if prepared.refusal is not None:
        return _dead_letter(program, tx, prepared)
    event, people, message = prepared.event, prepared.people, prepared.message
    assert event is not None  # noqa: S101 - a prepared message is refused or has all three
    assert people is not None  # noqa: S101
    assert message is not None  # noqa: S101
    try:
        # Read only: a refused message writes nothing but its dead letter.
        patient, new, patient_id = _match(tx, links, people, zone, unknown_patients)
    except Refused as exc:
        return _dead_letter(program, tx, attrs.evolve(prepared, refusal=exc))
    if event.patient_id != patient_id:  # linked to a patient registered otherwise
        event = attrs.evolve(event, patient_id=patient_id)
    claimed = _claim(tx, event, prepared.text, own_key)
    if claimed is None:
        return Outcome(
            ack=_ack(message), code="AA", stored=False, duplicate=True, warnings=people.notes
        )
    event, store = claimed
    if patient is not None:
        if new:
            tx.add(patient)
        else:
            patient = _update(tx, patient, people)
    # Without a patient (too little in PID to register one yet) the event is filed
    # under the id the patient will get when a message with the name and birth date
    # arrives.
    if patient is not None:
        links.link(patient_id, people.identifiers)
        _contact(tx, patient_id, people)
    # The patient's zone when no practice zone is given: the one receive_in would read
    # back (the patient was just read, or added with it, in this transaction).
    local = zone or (patient.time_zone if patient is not None else None)
    if store:
        program.receive_in(tx, event, source=SOURCE, time_zone=local, claimed=True)
    if patient is not None and patient.date_of_death is not None:
        _close_on_death(tx, patient_id, patient.date_of_death)
    return Outcome(
        ack=_ack(message),
        code="AA",
        stored=store,
        duplicate=not store,
        patient_id=patient_id,
        created_patient=new,
        warnings=people.notes,
    )


def _claim(
    tx: Transaction, event: AdtEvent, text: str, own_key: Callable[[str, str], str]
) -> tuple[AdtEvent, bool] | None:
    """*event* and whether to store it (its id made its own when its control id was used before).

    None: this very text was taken before (a resend). Each message claims
    its key (MSH-4 and MSH-10) and the key with a digest of its text. When
    the key was claimed before but not the text, the message maps either to
    the same event as the first one under the key (a resend whose MSH-7 or
    PID changed, or one taken before digests were claimed: its demographics
    are applied, the event is not stored again) or to another event, stored
    under the key and the digest (*own_key* of the key and the text).
    """
    key = event.source_key
    own = own_key(key, text)
    first_time = tx.claim_inbound(SOURCE, key)
    if not tx.claim_inbound(SOURCE, own):
        return None
    if first_time:
        return event, True
    try:
        first = tx.get(AdtEvent, key)
    except errors.NotFound:
        first = None
    if first is not None and attrs.evolve(event, id=first.id, source_key=key) == first:
        return event, False
    return attrs.evolve(event, id=own, source_key=own), True


#: Hex digits of the text's SHA-256 in the key of a message whose control id was used before.
_DIGEST = 16


def _own_key(key: str, text: str) -> str:
    """*key* with a digest of the message's *text*: what a message claims beside its key.

    Not cached here: a cache of the process would keep whole messages (names,
    birth dates, addresses) after their batch. A group commit remembers the
    keys of its own messages for its lifetime (:meth:`_Batch.own_key`).
    """
    return f"{key}#{hashlib.sha256(text.encode()).hexdigest()[:_DIGEST]}"


def _close_on_death(tx: Transaction, patient_id: str, died: pendulum.Date) -> None:
    """Close the patient's open episodes whose period the death falls inside (``record_death``)."""
    for episode in tx.find(TransitionEpisode, patient_id=patient_id):
        closed = transitions.record_death(episode, on=died)
        if closed is not episode:
            tx.replace(closed)


class _Rehearsed(Exception):
    """Not an error: raised to roll a rehearsal back."""


#: A discharge of a patient no store holds, with offsets (no time zone needed).
_REHEARSAL = (
    "MSH|^~\\&|carecore|carecore|||20260101120000+0000||ADT^A03|carecore-rehearsal|P|2.5\r"
    "PID|1||carecore-rehearsal^^^carecore^MR\r"
    "PV1|1|I|||||||||||||||||V1|||||||||||||||||01||||||||20260101080000+0000|20260101110000+0000"
)


def _rehearse(program: CareProgram, *, time_zone: str | None) -> None:
    """Store two discharges in a transaction that is rolled back, so the first real ones are not slower.

    The first message a process stores builds what later ones reuse (the
    store's converters, its statements, the notice's template), and the
    first one of a patient with an episode stored reads that episode back
    (which builds what reading it needs); a listener does both before its
    port opens, so no sender's ACK waits for them. Nothing is stored and no
    audit row is written: the transaction is the store's own (no access
    check, so no denial to record) and it rolls back. A store that cannot
    be reached now is left for the first message to find.
    """
    first = prepare(_REHEARSAL, time_zone=time_zone)
    # The same patient discharged again, from another visit: its episode is read back.
    again = prepare(
        _REHEARSAL.replace("|carecore-rehearsal|P|", "|carecore-rehearsal-2|P|").replace(
            "|V1|", "|V2|"
        ),
        time_zone=time_zone,
    )
    try:
        with program.store.transaction(
            actor=program.actor, reason=f"inbound {SOURCE} rehearsal", at=program.clock.now()
        ) as tx:
            links = _Links(tx)
            for prepared in (first, again):
                _store(
                    program,
                    tx,
                    links,
                    prepared,
                    zone=time_zone,
                    unknown_patients="create",
                    own_key=_own_key,
                )
            raise _Rehearsed  # noqa: TRY301 - the rollback is the point
    except _Rehearsed:
        return
    except errors.CarecoreError:
        return


# -- the patient ----------------------------------------------------------------------------


def _match(
    tx: Transaction,
    links: _Links,
    people: Demographics,
    zone: str | None,
    unknown_patients: UnknownPatients,
) -> tuple[Patient | None, bool, str]:
    """The stored patient *people* names, or the one to register (True), with its id; or :class:`Refused`.

    The patient is None when no patient is stored under the id and PID lacks
    what registering needs.
    """
    if not people.identifiers:
        raise Refused("PID-3 has no patient identifier", code="AE", field="PID-3", value="")
    found = links.patients(people.identifiers) or _carrying(tx, people.identifiers)
    if len(found) > 1:
        raise Refused(
            f"PID-3 identifiers name {len(found)} different patients ({', '.join(sorted(found))})",
            code="AE",
            field="PID-3",
            value=len(found),
        )
    if found:
        (patient_id,) = found
        return tx.get(Patient, patient_id), False, patient_id
    if unknown_patients == "review":
        raise Refused(
            "no stored patient carries a PID-3 identifier; kept for match review",
            code="AE",
            field="PID-3",
            value=len(people.identifiers),
        )
    patient_id = _filed_before(tx, people.identifiers[0]) or _patient_id(people.identifiers[0])
    patient = _new_patient(people, zone, patient_id)
    return patient, patient is not None, patient_id


class _Links:
    """The patient links one transaction has read or written: each is read from the store once.

    A group commit's messages often name the same patient, and each message
    looked its identifiers up twice (to find the patient, then to link them).
    """

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.known: dict[tuple[str, str], str | None] = {}

    def read(self, identifiers: Iterable[Identifier]) -> None:
        """Read the links of *identifiers* not read yet, in one call (an identifier no link has is None)."""
        keys = list(
            dict.fromkeys(
                key for i in identifiers if (key := (i.system, i.value)) not in self.known
            )
        )
        if not keys:
            return
        self.known.update(dict.fromkeys(keys))
        for link in self.tx.get_many(PatientLink, keys):
            self.known[link.system, link.value] = link.patient_id

    def patient_of(self, identifier: Identifier) -> str | None:
        """The id of the patient *identifier* is linked to, or None."""
        key = (identifier.system, identifier.value)
        if key not in self.known:
            self.read((identifier,))
        return self.known[key]

    def patients(self, identifiers: tuple[Identifier, ...]) -> set[str]:
        """The patients *identifiers* are linked to."""
        return {p for p in map(self.patient_of, identifiers) if p is not None}

    def link(self, patient_id: str, identifiers: tuple[Identifier, ...]) -> None:
        """Link the identifiers not linked yet to *patient_id*."""
        for identifier in identifiers:
            if self.patient_of(identifier) is None:
                self.tx.add(
                    PatientLink(
                        system=identifier.system, value=identifier.value, patient_id=patient_id
                    )
                )
                self.known[identifier.system, identifier.value] = patient_id


def _carrying(tx: Transaction, identifiers: tuple[Identifier, ...]) -> set[str]:
    # Patients registered elsewhere (a FHIR import) carry identifiers without a link yet.
    found: set[str] = set()
    for i in identifiers:
        found |= set(tx.patients_with_identifier(i.system, i.value))
    return found


def _new_patient(people: Demographics, zone: str | None, patient_id: str) -> Patient | None:
    given, family, born = people.given_name, people.family_name, people.birth_date
    if given is None or family is None or born is None:
        return None
    return Patient(
        id=patient_id,
        given_name=given,
        family_name=family,
        birth_date=born,
        sex=people.sex or AdministrativeSex.UNKNOWN,
        time_zone=zone or "UTC",
        identifiers=people.identifiers,
        date_of_death=people.date_of_death,
    )


@functools.lru_cache(maxsize=4096)
def _patient_id(first: Identifier) -> str:
    """The id a patient registered from an HL7 identifier gets: a digest, no identifier text in it.

    The same every time (a resend, a file read again, a group commit or one
    message at a time), and a resend finds the patient through the
    identifiers' links anyway. Cached: a feed names the same patients again
    and again.
    """
    digest = hashlib.sha256(f"carecore hl7 patient|{first.system}|{first.value}".encode())
    return f"hl7-{digest.hexdigest()[:_ID_DIGEST]}"


#: Hex digits of the digest in a patient id (96 bits).
_ID_DIGEST = 24


def _filed_before(tx: Transaction, first: Identifier) -> str | None:
    """The old form of id (:func:`_legacy_id`) when events were filed under it before registration."""
    old = _legacy_id(first)
    return old if tx.find(AdtEvent, patient_id=old) else None


@functools.lru_cache(maxsize=4096)
def _legacy_id(first: Identifier) -> str:
    """The id earlier versions gave a patient registered from *first*; it held the identifier's text.

    Patients stored under it keep it (they are found through their links). Cached, as
    :func:`_patient_id` is: a group commit asks for it when it reads ahead and again when
    it matches.
    """
    key = hashlib.sha256(f"{first.system}|{first.value}".encode()).hexdigest()[:12]
    return f"hl7-{_slug(first.system)}-{_slug(first.value)}-{key}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:24] or "id"


def _update(tx: Transaction, patient: Patient, people: Demographics) -> Patient:
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("given_name", people.given_name),
            ("family_name", people.family_name),
            ("birth_date", people.birth_date),
            ("sex", people.sex),
            ("date_of_death", people.date_of_death),
        )
        if value is not None and getattr(patient, name) != value
    }
    if people.alive and patient.date_of_death is not None:
        changes["date_of_death"] = None
    extra = tuple(i for i in people.identifiers if i not in patient.identifiers)
    if extra:
        changes["identifiers"] = (*patient.identifiers, *extra)
    if not changes:
        return patient
    try:
        updated = attrs.evolve(patient, **changes)
    except errors.InvalidValue as exc:  # a death before the stored birth date, or the reverse
        field = _PID_FIELDS.get(exc.field or "", "PID")
        raise Refused(
            "the date of death is before the birth date (PID-7)"
            if field == "PID-29"
            else f"{field} is not a value the stored patient can take",
            code="AE",
            field=field,
            value="against the stored patient",
        ) from None
    tx.replace(updated)
    return updated


#: The PID field each Patient field is read from (a refusal names the field sent).
_PID_FIELDS = {
    "given_name": "PID-5",
    "family_name": "PID-5",
    "birth_date": "PID-7",
    "sex": "PID-8",
    "date_of_death": "PID-29",
}


def _contact(tx: Transaction, patient_id: str, people: Demographics) -> None:
    if people.address is not None:
        address = PatientAddress(patient_id=patient_id, address=people.address)
        try:
            stored = tx.get(PatientAddress, patient_id)
        except errors.NotFound:
            tx.add(address)
        else:
            if stored != address:
                tx.replace(address)
    if people.phone is not None:
        try:
            prefs = tx.get(ContactPreferences, patient_id)
        except errors.NotFound:
            tx.add(ContactPreferences(patient_id=patient_id, phone=people.phone))
        else:
            if prefs.phone is None:  # a number the patient gave the care team is kept
                tx.replace(attrs.evolve(prefs, phone=people.phone))


# -- refusals -------------------------------------------------------------------------------


def _control_id(message: _Fields | None) -> str | None:
    if message is None:
        return None
    return message.raw("MSH", 10).strip() or None


#: A dead letter's id is this and its key. A control id too long for that id to be a
#: store key (:data:`carecore.limits.MAX_KEY`) is kept as its hash.
_LETTER = "hl7-"


def _dead_letter(program: CareProgram, tx: Transaction, prepared: Prepared) -> Outcome:
    refusal = prepared.refusal
    assert refusal is not None  # noqa: S101
    text = prepared.text.replace("\x00", "\\x00")  # stores keep no NUL; the letter shows where
    control = refusal.control_id or _control_id(prepared.message)
    digest = hashlib.sha256(text.encode()).hexdigest()
    # Keyed by the control id and the text: a resend is kept once, and another message
    # that reuses the control id (senders do) is kept too, not dropped as a resend.
    keyed = len(_LETTER) + len(control or "") + 1 + _DIGEST <= limits.MAX_KEY
    if control is None or not keyed or "\x00" in control:
        control = None
    key = f"{control}#{digest[:_DIGEST]}" if control else digest[:24]
    reason = f"{refusal.field}: {refusal}" if refusal.field else str(refusal)
    reason = reason if len(reason) < 1000 else reason[:997] + "..."  # noqa: PLR2004
    if tx.claim_inbound(f"{SOURCE}:dead", key):
        tx.add(
            DeadLetter(
                id=f"{_LETTER}{key}",
                source=SOURCE,
                raw=text,
                reason=reason,
                received_at=program.clock.now(),
                key=key,
            )
        )
    message = prepared.message
    if message is not None and control is not None:
        answer = _ack(message, refusal.code, reason)
    else:
        answer = nak_for_unreadable(reason, refusal.code)
    return Outcome(ack=answer, code=refusal.code, stored=False, dead_letter=True, reason=reason)


_MSH = re.compile(r"(?=^MSH\|)", re.MULTILINE)


def split_messages(raw: str | bytes) -> list[str]:
    r"""The messages in a batch file: each starts at an ``MSH`` segment (FHS/BHS/BTS/FTS lines dropped).

    >>> split_messages("FHS|^~\\&\rMSH|^~\\&|A|1\rPID|1\rMSH|^~\\&|A|2\rFTS|1")
    ['MSH|^~\\&|A|1\rPID|1', 'MSH|^~\\&|A|2']
    """
    text = clean(raw).replace("\r", "\n")
    parts = []
    for chunk in _MSH.split(text):
        lines = [
            line
            for line in chunk.split("\n")
            if line and not line.startswith(("FHS", "BHS", "BTS", "FTS"))
        ]
        if lines:
            parts.append("\r".join(lines))
    return parts
