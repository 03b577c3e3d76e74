"""Taking in one HL7 v2 message: store it (or its dead letter), then say what to answer."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

import attrs

from carecore import errors
from carecore.model import DeadLetter
from carecore_hl7v2.mapping import Refused, ack, clean, nak_for_unreadable, parse, to_event

if TYPE_CHECKING:
    import hl7

    from carecore.service import CareProgram

__all__ = ["Outcome", "handle", "split_messages"]

SOURCE = "hl7"


@attrs.frozen(kw_only=True)
class Outcome:
    """What became of one message: the acknowledgment to send and how it was taken."""

    ack: str
    code: str  #: AA, AE or AR
    stored: bool  #: a new event was committed
    duplicate: bool = False
    dead_letter: bool = False
    reason: str = ""


def handle(
    program: CareProgram,
    raw: str | bytes,
    *,
    time_zone: str | None = None,
    identifier_type: str = "MR",
) -> Outcome:
    """Parse, map and store one message; return the ACK or NAK to send once it is committed.

    A message that cannot be used is kept as a :class:`~carecore.model.DeadLetter`
    (once per message control id) and answered with AE or AR and the reason. A
    store that cannot be reached raises: the sender gets no ACK and retries.
    """
    text = clean(raw)
    message: hl7.Message | None = None
    try:
        message = parse(text)
        event = to_event(message, time_zone=time_zone, identifier_type=identifier_type)
        received = program.receive(event, source=SOURCE, time_zone=time_zone)
    except Refused as exc:
        return _refuse(
            program, text, message, exc.code, f"{exc.field}: {exc.reason}", exc.control_id
        )
    except (errors.InvalidValue, errors.InvalidInput, errors.NotFound, errors.ConflictError) as exc:
        control = _control_id(message)
        return _refuse(program, text, message, "AE", str(exc), control)
    return Outcome(
        ack=ack(message), code="AA", stored=not received.duplicate, duplicate=received.duplicate
    )


def _control_id(message: hl7.Message | None) -> str | None:
    if message is None:
        return None
    try:
        return str(message.segment("MSH")[10]).strip() or None
    except (KeyError, IndexError):
        return None


def _refuse(  # noqa: PLR0917 - private helper with the message's parts
    program: CareProgram,
    text: str,
    message: hl7.Message | None,
    code: str,
    reason: str,
    control_id: str | None,
) -> Outcome:
    key = control_id or hashlib.sha256(text.encode()).hexdigest()[:24]
    letter = DeadLetter(
        id=f"hl7-{key}",
        source=SOURCE,
        raw=text,
        reason=reason,
        received_at=program.clock.now(),
        key=key,
    )
    program.record_dead_letter(letter, reason="HL7 message refused")
    answer = ack(message, code, reason) if message is not None else nak_for_unreadable(reason)
    return Outcome(ack=answer, code=code, stored=False, dead_letter=True, reason=reason)


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
