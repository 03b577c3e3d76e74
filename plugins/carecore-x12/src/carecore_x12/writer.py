"""The 837P professional claim (ASC X12 005010X222A1) of a carecore claim batch.

One interchange (ISA/IEA) holds one functional group (GS/GE) with one
transaction set (ST/SE). Inside it, the loops of the implementation guide:

- 1000A submitter and 1000B receiver;
- 2000A billing provider (the practice: group NPI, address, EIN), and under it
- one 2000B subscriber per patient (for Medicare the patient is the
  subscriber, so there is no 2000C loop), with 2010BA (name, MBI, address,
  birth date, sex) and 2010BB (the payer), then
- one 2300 claim per billing practitioner, with its diagnoses (HI), the
  rendering provider (2310B) and one 2400 service line per claim line.

Separators: ``*`` between elements, ``:`` inside a composite, ``^`` for
repetitions, and ``~`` ending each segment (followed by a new line, which
receivers ignore). These characters are removed from the data.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from typing import IO, TYPE_CHECKING

from carecore import errors
from carecore.billing.claims import ClaimBatch, person_name
from carecore.model import AdministrativeSex

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pendulum

    from carecore.billing.claims import Claim
    from carecore.model import BillingIdentity, PostalAddress

__all__ = ["IMPLEMENTATION", "X12ClaimWriter", "render_837p"]

#: The implementation guide the file follows (GS08 and ST03).
IMPLEMENTATION = "005010X222A1"
_ELEMENT, _COMPONENT, _REPETITION, _TERMINATOR = "*", ":", "^", "~"
_UNSAFE = re.compile(r"[*:^~\r\n]")
_SEX = {AdministrativeSex.FEMALE: "F", AdministrativeSex.MALE: "M"}


def _text(value: str, limit: int) -> str:
    """Data as X12 allows it: ASCII, no separators, single spaces, at most *limit* characters.

    >>> _text("José  O*Neil~", 60)
    'Jose O Neil'
    """
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return " ".join(_UNSAFE.sub(" ", plain).split())[:limit].rstrip()


def _amount(value: Decimal) -> str:
    """A monetary amount as X12 writes it: 60.49, 120, 0.5 (no trailing zeros)."""
    text = f"{value.quantize(Decimal('0.01')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _segment(*elements: str) -> str:
    """One segment: its id and elements, trailing empty elements dropped."""
    parts = list(elements)
    while parts and parts[-1] == "":
        parts.pop()
    return _ELEMENT.join(parts) + _TERMINATOR


def _address(address: PostalAddress) -> Iterator[str]:
    """N3 and N4: street lines, then city, state and ZIP code."""
    if address.line2:
        yield _segment("N3", _text(address.line1, 55), _text(address.line2, 55))
    else:
        yield _segment("N3", _text(address.line1, 55))
    yield _segment("N4", _text(address.city, 30), address.state, address.postal_code)


def _envelope_id(value: str) -> str:
    """An ISA sender or receiver id: 15 characters, padded with spaces."""
    return _text(value, 15).ljust(15)


def _header(identity: BillingIdentity, created: pendulum.DateTime, control: int) -> list[str]:
    sender = identity.submitter_id or identity.npi
    receiver = identity.receiver_id or identity.payer_id
    return [
        _segment(
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            "ZZ",
            _envelope_id(sender),
            "ZZ",
            _envelope_id(receiver),
            f"{created:%y%m%d}",
            f"{created:%H%M}",
            _REPETITION,
            "00501",
            f"{control:09d}",
            "0",
            "P",
            _COMPONENT,
        ),
        _segment(
            "GS",
            "HC",
            _text(sender, 15),
            _text(receiver, 15),
            f"{created:%Y%m%d}",
            f"{created:%H%M}",
            str(control),
            "X",
            IMPLEMENTATION,
        ),
    ]


def _transaction(batch: ClaimBatch, created: pendulum.DateTime, control: int) -> list[str]:
    """ST to SE: the claims of the batch in their loops."""
    identity = batch.identity
    assert identity is not None  # noqa: S101 - render_837p checks it
    body = [
        _segment("ST", "837", "0001", IMPLEMENTATION),
        _segment(
            "BHT",
            "0019",
            "00",
            f"{batch.period.start:%Y%m}-{control}",
            f"{created:%Y%m%d}",
            f"{created:%H%M}",
            "CH",
        ),
        # 1000A submitter, 1000B receiver
        _segment(
            "NM1",
            "41",
            "2",
            _text(identity.name, 60),
            "",
            "",
            "",
            "",
            "46",
            identity.submitter_id or identity.npi,
        ),
        _segment(
            "PER", "IC", _text(identity.contact_name or identity.name, 60), "TE", identity.phone
        ),
        _segment(
            "NM1",
            "40",
            "2",
            _text(identity.receiver_name or identity.payer_name, 60),
            "",
            "",
            "",
            "",
            "46",
            identity.receiver_id or identity.payer_id,
        ),
        # 2000A billing provider
        _segment("HL", "1", "", "20", "1"),
    ]
    if identity.taxonomy:
        body.append(_segment("PRV", "BI", "PXC", identity.taxonomy))
    body += [
        _segment("NM1", "85", "2", _text(identity.name, 60), "", "", "", "", "XX", identity.npi),
        *_address(identity.address),
        _segment("REF", "EI", identity.tin),
    ]
    number = 1
    claims = list(batch.claims)
    index = 0
    while index < len(claims):
        patient_id = claims[index].patient.id
        same = [c for c in claims[index:] if c.patient.id == patient_id]
        index += len(same)
        number += 1
        body += _subscriber(identity, same, number)
    body.append(_segment("SE", str(len(body) + 1), "0001"))
    return body


def _subscriber(identity: BillingIdentity, claims: list[Claim], number: int) -> list[str]:
    """2000B with 2010BA and 2010BB, then each of the patient's claims (2300)."""
    first = claims[0]
    patient = first.patient
    out = [
        _segment("HL", str(number), "1", "22", "0"),
        # Primary payer; 18 = the subscriber is the patient; MB = Medicare Part B.
        _segment("SBR", "P", "18", "", "", "", "", "", "", "MB"),
        _segment(
            "NM1",
            "IL",
            "1",
            _text(patient.family_name, 60),
            _text(patient.given_name, 35),
            "",
            "",
            "",
            "MI",
            first.mbi.value,
        ),
        *_address(first.address),
        _segment("DMG", "D8", f"{patient.birth_date:%Y%m%d}", _SEX.get(patient.sex, "U")),
        _segment(
            "NM1",
            "PR",
            "2",
            _text(identity.payer_name, 60),
            "",
            "",
            "",
            "",
            "PI",
            identity.payer_id,
        ),
    ]
    for claim in claims:
        out += _claim(identity, claim)
    return out


def _claim(identity: BillingIdentity, claim: Claim) -> list[str]:
    """2300 (CLM, REF*EA, HI), 2310B rendering provider, 2400 service lines."""
    codes = [code.replace(".", "") for code in claim.diagnoses]
    family, given = person_name(claim.rendering.name)
    out = [
        _segment(
            "CLM",
            claim.control_number,
            _amount(claim.total),
            "",
            "",
            _COMPONENT.join((identity.place_of_service, "B", "1")),
            "Y",  # provider signature on file
            "A",  # assignment accepted
            "Y",  # benefits assigned
            "Y",  # release of information
        ),
        _segment("REF", "EA", _text(claim.patient.id, 50)),
        _segment(
            "HI",
            *(f"{'ABK' if n == 0 else 'ABF'}{_COMPONENT}{code}" for n, code in enumerate(codes)),
        ),
        _segment(
            "NM1",
            "82",
            "1",
            _text(family, 60),
            _text(given, 35),
            "",
            "",
            "",
            "XX",
            claim.rendering.npi or "",
        ),
    ]
    for number, line in enumerate(claim.lines, start=1):
        procedure = _COMPONENT.join(("HC", line.code, *line.modifiers))
        pointers = _COMPONENT.join(str(p) for p in claim.pointers(line))
        out += [
            _segment("LX", str(number)),
            _segment(
                "SV1",
                procedure,
                _amount(line.amount or Decimal(0)),
                "UN",
                str(line.units),
                "",
                "",
                pointers,
            ),
            _segment("DTP", "472", "D8", f"{line.date_of_service:%Y%m%d}"),
        ]
    return out


def render_837p(batch: ClaimBatch, *, created: pendulum.DateTime) -> str:
    """The 837P text of *batch*'s claims, dated *created* (UTC is advised).

    The interchange control number is made from *created* (seconds modulo
    10⁹), so two files made at different times carry different numbers, and
    one made at a given time is the same every time (golden files).
    """
    if batch.identity is None:
        raise errors.InvalidValue(
            "an 837P needs the practice's billing identity", field="identity", value=None
        )
    control = int(created.timestamp()) % 1_000_000_000 or 1
    segments = [
        *_header(batch.identity, created, control),
        *_transaction(batch, created, control),
        _segment("GE", "1", str(control)),
        _segment("IEA", "1", f"{control:09d}"),
    ]
    return "\n".join(segments) + "\n"


class X12ClaimWriter:
    """The ``x12`` claim writer: an 837P file of the batch's claims (ASCII)."""

    @property
    def id(self) -> str:
        """``"x12"``."""
        return "x12"

    def write(self, batch: ClaimBatch, out: IO[bytes], *, created: pendulum.DateTime) -> None:
        """Write *batch*'s claims to *out* as one 837P interchange."""
        out.write(render_837p(batch, created=created).encode("ascii", "replace"))
