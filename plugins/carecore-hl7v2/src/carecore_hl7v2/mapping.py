r"""HL7 v2 ADT messages to carecore ADT events, and the ACKs that answer them.

Parsing is python-hl7's (:func:`parse`); this module cleans the input (a
UTF-8 byte-order mark, ``\r\n`` or ``\n`` line ends), checks what carecore
needs and maps it. The intake reads the few fields it maps straight from
the text when the message uses the standard separators (``MSH|^~\\&|``),
field for field what python-hl7 gives (a property test holds the two
equal), and hands anything else to python-hl7.
A message carecore cannot use raises :class:`Refused` with the HL7
acknowledgment code to answer with (``AR`` for a message type or structure
carecore does not take, ``AE`` for a message it takes but cannot use) and a
sentence saying why.

| carecore | HL7 v2 |
| --- | --- |
| event id, inbound key | MSH-10 message control id (with MSH-4 sending facility in the key) |
| kind | MSH-9.2 trigger event (EVN-1 when MSH-9.2 is empty): A01 admit, A02 transfer, A03 discharge, A04 register, A08 update, A11 cancel admit, A13 cancel discharge |
| patient id | PID-3: the identifier whose CX-5 type is ``MR`` (configurable), else the first |
| patient identifiers | PID-3, each with its CX-4 assigning authority as the system (else the sender); CX-5 ``SS`` under the US SSN system whatever the authority; ``PPN`` and ``DL`` (passport, licence) not kept |
| occurred at | EVN-6 event occurred, else EVN-2 recorded, else MSH-7 |
| admitted at / discharged at | PV1-44 / PV1-45 (a discharge without PV1-45 uses the event time) |
| patient class | PV1-2: I inpatient, O outpatient (O with PV1-18 ``OBS`` is observation), E emergency, P preadmit, R recurring |
| from setting | PV1-2 as a setting: I inpatient acute, observation, E emergency department |
| to setting | PV1-36 discharge disposition, NUBC patient status codes (see :data:`DISPOSITIONS`) |
| facility | PV1-3.4 facility, else MSH-4 |
| visit number | PV1-19 |

Times without an offset are read in the *time_zone* given (the sender's);
none given and no offset means the message is refused.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import os
import re
import threading
import time

import attrs
import hl7
import pendulum

from carecore import errors
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Identifier,
    PatientClass,
    PostalAddress,
)
from carecore.model.validators import check_time_zone

__all__ = [
    "DISPOSITIONS",
    "MAX_FIELD",
    "MAX_ID",
    "Demographics",
    "Refused",
    "ack",
    "check_limits",
    "clean",
    "demographics",
    "identifiers",
    "nak_for_unreadable",
    "parse",
    "to_event",
]

TRIGGERS = {
    "A01": AdtEventKind.ADMIT,
    "A02": AdtEventKind.TRANSFER,
    "A03": AdtEventKind.DISCHARGE,
    "A04": AdtEventKind.REGISTER,
    "A08": AdtEventKind.UPDATE,
    "A11": AdtEventKind.CANCEL_ADMIT,
    "A13": AdtEventKind.CANCEL_DISCHARGE,
}

CLASSES = {
    "I": PatientClass.INPATIENT,
    "O": PatientClass.OUTPATIENT,
    "E": PatientClass.EMERGENCY,
    "P": PatientClass.PREADMIT,
    "R": PatientClass.RECURRING,
}

#: PV1-36 discharge disposition (NUBC UB-04 patient status codes, the values
#: most hospitals send in HL7 table 0112) -> where the patient went.
DISPOSITIONS: dict[str, CareSetting] = {
    "01": CareSetting.HOME,
    "02": CareSetting.INPATIENT_ACUTE,
    "03": CareSetting.SKILLED_NURSING_FACILITY,
    "04": CareSetting.NURSING_FACILITY,
    "06": CareSetting.HOME,  # home under a home health agency
    "07": CareSetting.HOME,  # left against medical advice
    "20": CareSetting.EXPIRED,
    "40": CareSetting.EXPIRED,
    "41": CareSetting.EXPIRED,
    "42": CareSetting.EXPIRED,
    "43": CareSetting.INPATIENT_ACUTE,  # a federal hospital
    "50": CareSetting.HOSPICE,
    "51": CareSetting.HOSPICE,
    "61": CareSetting.SKILLED_NURSING_FACILITY,  # swing bed
    "62": CareSetting.INPATIENT_REHABILITATION,
    "63": CareSetting.LONG_TERM_CARE_HOSPITAL,
    "64": CareSetting.NURSING_FACILITY,
    "65": CareSetting.INPATIENT_PSYCHIATRIC,
    "66": CareSetting.INPATIENT_ACUTE,  # critical access hospital
    "81": CareSetting.HOME,  # home, with a planned readmission
    "82": CareSetting.INPATIENT_ACUTE,
    "83": CareSetting.SKILLED_NURSING_FACILITY,
    "84": CareSetting.NURSING_FACILITY,
    "86": CareSetting.HOME,
    "89": CareSetting.SKILLED_NURSING_FACILITY,
    "90": CareSetting.INPATIENT_REHABILITATION,
    "91": CareSetting.LONG_TERM_CARE_HOSPITAL,
    "92": CareSetting.NURSING_FACILITY,
    "93": CareSetting.INPATIENT_PSYCHIATRIC,
    "94": CareSetting.INPATIENT_ACUTE,
}

_OFFSET = re.compile(r"[+-][0-9]{4}$")


@functools.lru_cache(maxsize=64)
def _check_zone(time_zone: str) -> None:
    # A zone is checked once: the answer for one name does not change.
    check_time_zone(time_zone)


class Refused(errors.InvalidValue):
    """A message carecore does not take (``code`` AR) or cannot use (``code`` AE)."""

    def __init__(
        self, reason: str, *, code: str, field: str, value: object, control_id: str | None = None
    ) -> None:
        super().__init__(reason, field=field, value=value)
        self.code = code
        self.control_id = control_id


def _length(text: str) -> str:
    """What a refusal shows of a field or message: its length, never its text (it may be PHI).

    >>> _length("19501345")
    '8 characters'
    """
    return f"{len(text)} character{'' if len(text) == 1 else 's'}"


def clean(raw: str | bytes) -> str:
    r"""Decode (UTF-8, else Latin-1), strip a byte-order mark and MLLP framing, end segments with ``\r``.

    >>> clean(b"\xef\xbb\xbfMSH|^~\\&|A\r\nPID|1\n")
    'MSH|^~\\&|A\rPID|1'
    """
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        text = raw
    text = text.lstrip("\ufeff\x0b").rstrip("\x1c\r\n ")
    return "\r".join(line for line in re.split(r"\r\n|\r|\n", text) if line.strip())


def parse(raw: str | bytes) -> hl7.Message:
    """The cleaned message parsed by python-hl7; anything unreadable is :class:`Refused` (AR)."""
    text = clean(raw)
    if not text.startswith("MSH"):
        raise Refused(
            "the message does not start with an MSH segment",
            code="AR",
            field="MSH",
            value=_length(text),
        )
    try:
        return hl7.parse(text)
    except Exception as exc:  # python-hl7 raises several types for broken input
        # python-hl7's text can quote a segment: only the kind of failure is given.
        raise Refused(
            f"not a readable HL7 v2 message ({type(exc).__name__})",
            code="AR",
            field="MSH",
            value=_length(text),
        ) from exc


class _Fields:
    """The first segment of each name, as the text of its fields (``fields[n]`` is field *n*).

    This is all the mapping reads of a message: a field's whole text,
    components and repetitions included, as python-hl7's ``str(segment[n])``
    gives it (``MSH[1]`` is the field separator, ``MSH[2]`` the encoding
    characters).
    """

    __slots__ = ("segments",)

    def __init__(self, segments: dict[str, list[str]]) -> None:
        self.segments = segments

    @classmethod
    def of(cls, message: hl7.Message) -> _Fields:
        """The fields of a message python-hl7 parsed."""
        found: dict[str, list[str]] = {}
        for seg in message:
            name = str(seg[0])
            if name not in found:
                found[name] = [str(f) for f in seg]
        return cls(found)

    @classmethod
    def split(cls, text: str) -> _Fields | None:
        r"""The fields of *text* split at its separators, or None to leave it to python-hl7.

        Only a message that declares the standard separators (``MSH|^~\&|``)
        and holds no second header segment is split here; what python-hl7
        would read differently (other separators, a header segment within)
        is not.
        """
        text = text.strip()
        if not text.startswith(_STANDARD):
            return None
        lines = text.split("\r")
        first = lines[0].split("|")
        first[0:1] = ["MSH", "|"]
        found: dict[str, list[str]] = {"MSH": first}
        for line in itertools.islice(lines, 1, None):
            if line[:3] in _HEADERS:  # python-hl7 numbers a header segment's fields its own way
                return None
            fields = line.split("|")
            found.setdefault(fields[0], fields)
        return cls(found)

    def raw(self, segment: str, field: int) -> str:
        """Field *field* of the first *segment* as sent, or ``""``."""
        fields = self.segments.get(segment)
        if fields is None or len(fields) <= field:
            return ""
        return fields[field]

    def has(self, segment: str, field: int = 0) -> bool:
        """Whether the message has a *segment* with field *field*."""
        fields = self.segments.get(segment)
        return fields is not None and len(fields) > field


_STANDARD = "MSH|^~\\&|"
_HEADERS = frozenset({"MSH", "BHS", "FHS"})

_LAST = threading.local()


def _fields(message: hl7.Message | _Fields) -> _Fields:
    # The fields of a python-hl7 message, found once per message (python-hl7's segment()
    # walks the whole message on every call, and a message is read ~25 times).
    if isinstance(message, _Fields):
        return message
    if getattr(_LAST, "message", None) is not message:
        _LAST.message, _LAST.fields = message, _Fields.of(message)
    fields: _Fields = _LAST.fields
    return fields


def _get(message: _Fields, segment: str, field: int) -> str:
    """The whole text of one field (components and repetitions included), or ``""``."""
    return message.raw(segment, field).strip()


def _read(text: str) -> _Fields:
    """The fields of a cleaned message (:func:`clean`), split here when it uses the standard separators.

    Any other message goes to :func:`parse`, and what python-hl7 cannot read
    is :class:`Refused` (AR).
    """
    if text.startswith("MSH"):
        fields = _Fields.split(text)
        if fields is not None:
            return fields
    return _Fields.of(parse(text))


def _component(text: str, index: int, separator: str = "^") -> str:
    parts = text.split(separator)
    return parts[index - 1].strip() if len(parts) >= index else ""


#: The HL7 v2 DTM form: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ], in its parts (year,
#: month, day, hour, minute, seconds with their fraction, offset hours with their sign, and
#: offset minutes).
_DTM = re.compile(
    r"([0-9]{4})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:([0-9]{2}(?:\.[0-9]{1,4})?))?)?)?)?)?(?:([+-][0-9]{2})([0-9]{2}))?"
)


#: Minutes in a day: a UTC offset is less.
_DAY = 24 * 60


@functools.lru_cache(maxsize=256)
def _zone(key: str | int) -> pendulum.Timezone | pendulum.FixedTimezone:
    """The zone of an IANA name or of a UTC offset in seconds, looked up once.

    pendulum reads a named zone's file on every lookup (~60 us): a feed in
    local time has two or three times to read in a message.
    """
    return pendulum.timezone(key)


@functools.lru_cache(maxsize=256)
def _offset(hours: str, minutes: str) -> pendulum.Timezone | pendulum.FixedTimezone:
    """The zone of a DTM's UTC offset (``-06`` and ``00``), worked out once; ValueError past a day.

    The sign is the whole offset's (HL7 v2 DTM: +/-ZZZZ, hours and minutes):
    ``-0030`` is 30 minutes west of UTC. python-hl7's parse_datetime gives the
    minutes the sign of the hours as a number, and ``-00`` has none, so it
    reads ``-0030`` as +00:30; every other offset is read as it reads it. One
    of a day or more (+2400) is no offset at all.
    """
    total = abs(int(hours)) * 60 + int(minutes)
    if hours.startswith("-"):
        total = -total
    if not -_DAY < total < _DAY:
        raise ValueError(hours + minutes)
    return _zone(total * 60)


def _instant(
    text: str, *, field: str, time_zone: str | None, control_id: str
) -> pendulum.DateTime | None:
    if not text:
        return None
    if "^" in text and "~" not in text:
        # A TS field (up to v2.5) is a DTM and a degree of precision (TS.2, kept for
        # backward compatibility and not read): the time is the first component, which
        # must be there (a precision with no time is refused below, as a repetition is).
        text = _component(text, 1) or text
    # python-hl7's parse_datetime read what it could: "2026-03-01" as 1 January 2026 (the
    # year alone) and "20260301 1000" as midnight. Only the HL7 DTM form is taken, read
    # part for part as parse_datetime reads it (a test holds the two equal), but for the
    # sign of an offset under an hour west of UTC (-0030: see _offset).
    found = _DTM.fullmatch(text)
    if found is None:
        raise _not_a_time(field, text, control_id)
    year, month, day, hour, minute, seconds, offset_hours, offset_minutes = found.groups()
    zone = None
    try:
        if offset_hours is not None:
            zone = _offset(offset_hours, offset_minutes)
        elif time_zone is not None:
            zone = _zone(time_zone)
        second = microsecond = 0
        if seconds:
            delta = dt.timedelta(seconds=float(seconds))
            second, microsecond = delta.seconds, delta.microseconds
        parts = (
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            second,
            microsecond,
        )
        at: pendulum.DateTime
        if type(zone) is pendulum.FixedTimezone:
            # What DateTime.create makes in a fixed zone (a wall time there has fold 0),
            # without its zone check and conversion.
            at = pendulum.DateTime(*parts, tzinfo=zone, fold=0)
        else:
            at = pendulum.DateTime.create(*parts, tz=zone, fold=0)
    except ValueError:  # a month 13, a 30 February, an offset of +2400
        raise _not_a_time(field, text, control_id) from None
    if zone is None:
        raise Refused(
            "has no UTC offset and no time zone was configured for this sender; store the "
            "practice's with 'carecore db set time-zone URL ZONE', or give --time-zone "
            "(carecore import: -o time_zone=ZONE)",
            code="AE",
            field=field,
            value="a time without a UTC offset",
            control_id=control_id,
        )
    return at


def _not_a_time(field: str, text: str, control_id: str) -> Refused:
    return Refused(
        "is not an HL7 date-time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])",
        code="AE",
        field=field,
        value=_length(text),
        control_id=control_id,
    )


def _patient_id(message: _Fields, identifier_type: str, control_id: str) -> str:
    if not message.has("PID", 3):
        raise Refused(
            "the message has no PID segment",
            code="AE",
            field="PID",
            value=None,
            control_id=control_id,
        )
    field = message.raw("PID", 3)
    repetitions = field.split("~") if field else []
    ids = [(_component(r, 1), _component(r, 5)) for r in repetitions]
    chosen = next((i for i, kind in ids if i and kind == identifier_type), None) or next(
        (i for i, _ in ids if i), None
    )
    if not chosen:
        raise Refused(
            "PID-3 has no patient identifier",
            code="AE",
            field="PID-3",
            value=_length(field),
            control_id=control_id,
        )
    return chosen


def _sub(text: str, index: int) -> str:
    return _component(text, index, "&")


def _authority(cx4: str, sender: str) -> str:
    """The identifier system for a CX-4 assigning authority (HD), else the sending facility."""
    namespace, universal, kind = _sub(cx4, 1), _sub(cx4, 2), _sub(cx4, 3)
    if namespace:
        return namespace
    if universal:
        return f"urn:oid:{universal}" if kind.upper() == "ISO" else universal
    return sender


def _sender(message: _Fields) -> str:
    return (
        _component(_get(message, "MSH", 4), 1).split("&")[0]
        or _component(_get(message, "MSH", 3), 1).split("&")[0]
    )


def identifiers(message: hl7.Message) -> tuple[Identifier, ...]:
    r"""Each PID-3 identifier with its assigning authority as the system (see the module table).

    A Social Security number (CX-5 ``SS``) is kept under :data:`SSN_SYSTEM`
    whatever its authority; a passport or driver's licence number
    (:data:`NOT_KEPT_TYPES`) is not kept.

    >>> msg = parse("MSH|^~\\&|ADT|GEN|CC|PRAC|20260304||ADT^A08|M1|P|2.5\r"
    ...             "PID|1||P1^^^GEN^MR~99^^^^PI~7^^^&1.2.3&ISO~555-66-7777^^^GEN^SS~X1^^^USA^PPN")
    >>> [(i.system, i.value) for i in identifiers(msg)]
    [('GEN', 'P1'), ('GEN', '99'), ('urn:oid:1.2.3', '7'), ('http://hl7.org/fhir/sid/us-ssn', '555-66-7777')]
    """
    return _identifiers(_fields(message))


#: The system an HL7 ``SS`` identifier (a US Social Security number) is kept under, whoever
#: assigned it: FHIR's, so that every reader knows it for a personal id, never a record number.
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"

#: CX-5 identifier types (HL7 table 0203) of personal documents, not record numbers: a
#: passport and a driver's licence. carecore follows patients by record numbers and does
#: not keep these.
NOT_KEPT_TYPES = frozenset({"PPN", "DL"})


def _identifiers(message: _Fields) -> tuple[Identifier, ...]:
    sender = _sender(message)
    text = _get(message, "PID", 3)
    out: list[Identifier] = []
    for repetition in text.split("~") if text else []:
        value = _component(repetition, 1)
        kind = _component(repetition, 5).upper()
        if kind in NOT_KEPT_TYPES:
            continue
        system = SSN_SYSTEM if kind == "SS" else _authority(_component(repetition, 4), sender)
        if value and system:
            found = Identifier(system=system, value=value)
            if found not in out:
                out.append(found)
    return tuple(out)


SEXES = {
    "F": AdministrativeSex.FEMALE,
    "M": AdministrativeSex.MALE,
    "O": AdministrativeSex.OTHER,
    "A": AdministrativeSex.OTHER,
    "N": AdministrativeSex.UNKNOWN,
    "U": AdministrativeSex.UNKNOWN,
}


@attrs.frozen(kw_only=True)
class Demographics:
    """What PID says about the patient; a field the message leaves empty is None (no change)."""

    identifiers: tuple[Identifier, ...]
    given_name: str | None = None
    family_name: str | None = None
    birth_date: pendulum.Date | None = None
    sex: AdministrativeSex | None = None
    date_of_death: pendulum.Date | None = None
    #: PID-30 ``N``: the sender says the patient is alive (a recorded death is taken back).
    alive: bool = False
    address: PostalAddress | None = None
    phone: str | None = None
    #: What was read other than as sent, naming the field, never the value (``PID-8: ...``).
    notes: tuple[str, ...] = ()


def _ymd(text: str) -> pendulum.Date | None:
    """The date of *text*'s first eight characters (YYYYMMDD), or None when they are not one."""
    try:
        return pendulum.Date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def _date(text: str, field: str, control_id: str) -> pendulum.Date | None:
    if not text:
        return None
    found = _ymd(text)
    if found is None:
        raise Refused(
            "is not a date in YYYYMMDD[HHMM] form",
            code="AE",
            field=field,
            value=_length(text),
            control_id=control_id,
        )
    return found


def _written_date(field: str) -> pendulum.Date | None:
    """The calendar date a TS field's time (its first component) is written on, else None.

    The date as written: the sender's own calendar date, whatever the offset
    or the practice's zone. A TS may carry a degree of precision after the
    time (``20260304120000^S``, HL7 2.3-2.5). None for a time without a
    whole date or not a date at all (:func:`_to_event` refuses those).

    >>> _written_date("20260304230000-1000").isoformat(), _written_date("2026"), _written_date("")
    ('2026-03-04', None, None)
    >>> _written_date("20260304120000^S").isoformat()
    '2026-03-04'
    """
    text = _component(field, 1)
    if _DTM.fullmatch(text) is None:
        return None
    return _ymd(text)


def _check_dates(
    message: _Fields, born: pendulum.Date | None, died: pendulum.Date | None, control_id: str
) -> None:
    """Refuse (AE) a birth date after the message was written, or a death before the birth.

    The message was written on the date as written in MSH-7 (the sender's
    own calendar date; else EVN-2's, else EVN-6's): no offset or time zone
    moves it. The refusal names the field, never the date (personal data).
    """
    if born is None:
        return
    sent = next(
        (
            day
            for segment, field in (("MSH", 7), ("EVN", 2), ("EVN", 6))
            if (day := _written_date(_get(message, segment, field))) is not None
        ),
        None,
    )
    if sent is not None and born > sent:
        raise Refused(
            "the birth date is after the message was sent (MSH-7)",
            code="AE",
            field="PID-7",
            value="later than MSH-7",
            control_id=control_id,
        )
    if died is not None and died < born:
        raise Refused(
            "the date of death is before the birth date (PID-7)",
            code="AE",
            field="PID-29",
            value="earlier than PID-7",
            control_id=control_id,
        )


def _address(text: str) -> PostalAddress | None:
    first = text.split("~", maxsplit=1)[0]
    street = _sub(_component(first, 1), 1)
    if not street:
        return None  # no street: no address to keep (and no refusal to build and drop)
    try:
        return PostalAddress(
            line1=street,
            line2=_component(first, 2) or None,
            city=_component(first, 3),
            state=_component(first, 4),
            postal_code=_component(first, 5),
        )
    except errors.InvalidValue:
        return None  # not a United States postal address carecore can keep


def _phone(text: str) -> str | None:
    first = text.split("~", maxsplit=1)[0]
    if not first:
        return None
    # XTN-12 unformatted, else area code (XTN-6) and number (XTN-7), else XTN-1 as written.
    raw = (
        _component(first, 12)
        or (_component(first, 6) + _component(first, 7))
        or _component(first, 1)
    )
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 10:  # noqa: PLR2004 - a North American number
        return f"+1{digits}"
    if len(digits) == 11 and digits.startswith("1"):  # noqa: PLR2004
        return f"+{digits}"
    return None


def demographics(message: hl7.Message) -> Demographics:
    r"""The patient's identifiers, name, birth date, sex, death, address and phone from PID.

    >>> msg = parse("MSH|^~\\&|ADT|GEN|CC|PRAC|20260304||ADT^A08|M1|P|2.5\r"
    ...             "PID|1||P1^^^GEN^MR||Duck^Donald^D||19241010|M|||1 Elm St^^Evanston^IL^60201"
    ...             "||(847)555-0100")
    >>> d = demographics(msg)
    >>> d.family_name, d.given_name, d.birth_date.isoformat(), d.sex.value, d.phone
    ('Duck', 'Donald', '1924-10-10', 'male', '+18475550100')
    """
    return _demographics(_fields(message))


def _demographics(
    message: _Fields, identifiers: tuple[Identifier, ...] | None = None
) -> Demographics:
    """:func:`demographics` of *message*, whose PID-3 :func:`_identifiers` may be given (read once)."""
    control_id = _get(message, "MSH", 10)
    name = _get(message, "PID", 5).split("~")[0]
    family = _sub(_component(name, 1), 1)
    given = _component(name, 2)
    death_at = _get(message, "PID", 29)
    indicator = _component(_get(message, "PID", 30), 1).upper()
    died = _date(death_at, "PID-29", control_id)
    born = _date(_get(message, "PID", 7), "PID-7", control_id)
    _check_dates(message, born, died if indicator != "N" else None, control_id)
    code = _component(_get(message, "PID", 8), 1).upper()
    sex = SEXES.get(code)
    notes: tuple[str, ...] = ()
    if code and sex is None:
        # Not refused: the event matters more than the code. Not silent either. The sex stays
        # None: a stored patient keeps the sex on file, a new one is registered as unknown.
        codes = ", ".join(SEXES)
        notes = (
            f"PID-8: not an HL7 table 0001 code ({codes}); sex left as stored (unknown for a new patient)",
        )
    return Demographics(
        identifiers=_identifiers(message) if identifiers is None else identifiers,
        given_name=given or None,
        family_name=family or None,
        birth_date=born,
        sex=sex,
        date_of_death=died if indicator != "N" else None,
        alive=indicator == "N",
        address=_address(_get(message, "PID", 11)),
        phone=_phone(_get(message, "PID", 13)),
        notes=notes,
    )


def to_event(
    message: hl7.Message, *, time_zone: str | None = None, identifier_type: str = "MR"
) -> AdtEvent:
    """The carecore ADT event for a parsed message (see the module's mapping table)."""
    if not isinstance(message, hl7.Message):
        raise errors.InvalidValue(
            "must be a parsed HL7 message (use parse())",
            field="message",
            value=type(message).__name__,  # not the value: it may be a message's text
        )
    return _to_event(_fields(message), time_zone=time_zone, identifier_type=identifier_type)


def _to_event(
    message: _Fields, *, time_zone: str | None, identifier_type: str, patient_id: str | None = None
) -> AdtEvent:
    """:func:`to_event` of *message*, filed under *patient_id* when given (else PID-3's id).

    PID-3 is checked either way: a message without a patient identifier is refused.
    """
    if time_zone is not None:
        _check_zone(time_zone)
    control_id = _get(message, "MSH", 10)
    if not control_id:
        raise Refused("MSH-10 (message control id) is empty", code="AR", field="MSH-10", value="")
    msh9 = _get(message, "MSH", 9)
    if _component(msh9, 1) != "ADT":
        raise Refused(
            f"only ADT messages are taken, not {msh9!r}",
            code="AR",
            field="MSH-9",
            value=msh9,
            control_id=control_id,
        )
    trigger = _component(msh9, 2) or _get(message, "EVN", 1)
    kind = TRIGGERS.get(trigger)
    if kind is None:
        raise Refused(
            f"ADT^{trigger} is not one of the events carecore takes ({', '.join(TRIGGERS)})",
            code="AR",
            field="MSH-9",
            value=msh9,
            control_id=control_id,
        )
    sent_id = _patient_id(message, identifier_type, control_id)
    sent = _instant(
        _get(message, "MSH", 7), field="MSH-7", time_zone=time_zone, control_id=control_id
    )
    recorded = _instant(
        _get(message, "EVN", 2), field="EVN-2", time_zone=time_zone, control_id=control_id
    )
    occurred = _instant(
        _get(message, "EVN", 6), field="EVN-6", time_zone=time_zone, control_id=control_id
    )
    admitted = _instant(
        _get(message, "PV1", 44), field="PV1-44", time_zone=time_zone, control_id=control_id
    )
    discharged = _instant(
        _get(message, "PV1", 45), field="PV1-45", time_zone=time_zone, control_id=control_id
    )
    when = occurred or recorded or sent
    if when is None:
        raise Refused(
            "no event time: EVN-6, EVN-2 and MSH-7 are all empty",
            code="AE",
            field="EVN-2",
            value="",
            control_id=control_id,
        )
    if kind is AdtEventKind.DISCHARGE and discharged is None:
        discharged = when
    if discharged is not None and admitted is not None and discharged < admitted:
        raise Refused(
            "the discharge (PV1-45) is before the admission (PV1-44)",
            code="AE",
            field="PV1-45",
            value="earlier than PV1-44",
            control_id=control_id,
        )
    class_code = _component(_get(message, "PV1", 2), 1)
    patient_class = CLASSES.get(class_code, PatientClass.UNKNOWN)
    patient_type = _component(_get(message, "PV1", 18), 1).upper()
    if patient_class is PatientClass.OUTPATIENT and patient_type in {"OBS", "OBSERVATION"}:
        patient_class = PatientClass.OBSERVATION
    from_setting = {
        PatientClass.INPATIENT: CareSetting.INPATIENT_ACUTE,
        PatientClass.OBSERVATION: CareSetting.OBSERVATION,
        PatientClass.EMERGENCY: CareSetting.EMERGENCY_DEPARTMENT,
    }.get(patient_class)
    disposition = _component(_get(message, "PV1", 36), 1)
    facility = (
        _component(_get(message, "PV1", 3), 4).split("&")[0]
        or _component(_get(message, "MSH", 4), 1).split("&")[0]
    )
    visit = _component(_get(message, "PV1", 19), 1)
    sender = _component(_get(message, "MSH", 4), 1).split("&")[0] or _component(
        _get(message, "MSH", 3), 1
    )
    key = f"{sender}/{control_id}" if sender else control_id
    return AdtEvent(
        id=key,
        source_key=key,
        patient_id=sent_id if patient_id is None else patient_id,
        kind=kind,
        occurred_at=when,
        patient_class=patient_class,
        admitted_at=admitted,
        discharged_at=discharged
        if kind in {AdtEventKind.DISCHARGE, AdtEventKind.UPDATE, AdtEventKind.CANCEL_DISCHARGE}
        else None,
        from_setting=from_setting,
        to_setting=DISPOSITIONS.get(disposition),
        facility=facility or None,
        visit_number=visit or None,
    )


#: Limits on what a message may hold, checked before anything is parsed or stored.
MAX_FIELD = 65_536  #: characters in one field (a PID-5 name, an OBX value...)
MAX_ID = 199  #: characters in MSH-10 and in each PID-3 identifier (HL7 v2.5+ give 199)


def check_limits(raw: str | bytes, *, max_field: int = MAX_FIELD, max_id: int = MAX_ID) -> None:
    r"""Refuse a NUL byte (``AR``) and any field longer than its limit (``AE``), naming where.

    >>> check_limits("MSH|^~\\&|A\x00")
    Traceback (most recent call last):
    ...
    carecore_hl7v2.mapping.Refused: message='NUL at character 10': holds a NUL byte, which HL7 v2 text may not contain
    """
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    at = text.find("\x00")
    if at >= 0:
        raise Refused(
            "holds a NUL byte, which HL7 v2 text may not contain",
            code="AR",
            field="message",
            value=f"NUL at character {at}",
        )
    if len(text) <= min(max_field, max_id):
        return
    for segment in re.split(r"\r\n|\r|\n", text):
        name = segment[:3]
        fields = segment.split("|")
        for index, value in enumerate(fields):
            # MSH-1 is the field separator itself, so MSH's fields are numbered one on.
            number = index + 1 if name == "MSH" else index
            limit = max_id if (name, number) in {("MSH", 10), ("PID", 3)} else max_field
            longest = max((len(r) for r in value.split("~")), default=0)
            if longest > limit:
                raise Refused(
                    f"is longer than allowed ({limit} characters)",
                    code="AE",
                    field=f"{name}-{number}",
                    value=f"{longest} characters",
                )


def ack(message: hl7.Message, code: str = "AA", text: str | None = None) -> str:
    """The ACK for *message* (``AA``, or a NAK ``AE``/``AR`` with *text* in MSA-3)."""
    return _ack(_fields(message), code, text)


def _ack(message: _Fields, code: str = "AA", text: str | None = None) -> str:
    msh: list[str] = message.segments.get("MSH", [])
    # MSH-3, 4, 9, 10, 11 and 12 as sent ("" past the end of the segment).
    if len(msh) > 12:  # noqa: PLR2004 - MSH-12 is there
        sender, facility, kind, control, processing, version = (
            msh[3],
            msh[4],
            msh[9],
            msh[10],
            msh[11],
            msh[12],
        )
    else:
        sender, facility, kind, control, processing, version = (
            msh[n] if len(msh) > n else "" for n in (3, 4, 9, 10, 11, 12)
        )
    head, middle, tail = _ack_template(sender, facility, kind, processing, version)
    msa = f"{code}|{control}|{_escape(text)}" if text else f"{code}|{control}"
    return f"{head}{_now_text()}{middle}{_control_id()}{tail}{msa}"


@functools.lru_cache(maxsize=256)
def _ack_template(
    sender: str, facility: str, kind: str, processing: str, version: str
) -> tuple[str, str, str]:
    r"""An ACK's text around its time stamp (MSH-7) and control id (MSH-10), up to ``MSA|``.

    Made once per sender: ``MSH|^~\&|carecore|carecore|``, MSH-3 and MSH-4
    sent back; ``ACK^`` the trigger; MSH-11 and MSH-12 as sent (else ``P``
    and ``2.5``).
    """
    trigger = _component(kind, 2)
    kind_back = f"ACK^{trigger}^ACK" if trigger else "ACK"
    return (
        f"MSH|^~\\&|carecore|carecore|{sender}|{facility}|",
        f"||{kind_back}|",
        f"|{processing or 'P'}|{version or '2.5'}\rMSA|",
    )


def _now_text() -> str:
    """The time now in UTC as an ACK's MSH-7 gives it (YYYYMMDDHHMMSS)."""
    return _second_text(int(time.time()))


@functools.lru_cache(maxsize=2)
def _second_text(second: int) -> str:
    # Spelled once a second: every ACK of a commit shares it.
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(second))


_ACK_IDS = itertools.count()
_ACK_PREFIX = f"CC{os.getpid() % 100000:05d}{int(time.time()) % 100000:05d}"


def _control_id() -> str:
    """A control id for an ACK: unique per process run, 20 characters (HL7 v2.3's limit)."""
    return f"{_ACK_PREFIX}{next(_ACK_IDS) % 10**8:08d}"


def nak_for_unreadable(text: str, code: str = "AR") -> str:
    """A NAK (``AR``, or *code*) for input whose MSH cannot be echoed (no control id to return)."""
    now = _now_text()
    return f"MSH|^~\\&|carecore|carecore|||{now}||ACK|{_control_id()}|P|2.5\rMSA|{code}||{_escape(text)}"


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
        .replace("\r", " ")
        .replace("\n", " ")
    )
