"""Who bills and who is insured: the practice's billing identity, addresses, the MBI.

A claim names the practice that bills (its NPI, its tax id, its address), the
patient's Medicare Beneficiary Identifier and where the patient lives. These
values carry those facts, each checked when built:

- an NPI's last digit is its Luhn check digit (CMS NPI standard);
- a TIN is nine digits (an EIN may be written ``12-3456789``);
- an MBI has the 11-character format CMS publishes for the new Medicare card.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.people import PatientId, _npi

__all__ = [
    "MBI_SYSTEM",
    "BillingIdentity",
    "MedicareBeneficiaryId",
    "PatientAddress",
    "PostalAddress",
]

#: The identifier system of an MBI (as US Core and the CMS Blue Button API spell it).
MBI_SYSTEM = "http://hl7.org/fhir/sid/us-mbi"

# CMS, "Understanding the Medicare Beneficiary Identifier (MBI) Format": eleven characters;
# letters exclude S, L, O, I, B and Z. C = 1-9, A = letter, N = 0-9, AN = letter or digit.
_MBI_LETTER = "[AC-HJKMNP-RT-Y]"
_MBI_ALNUM = "[0-9AC-HJKMNP-RT-Y]"
_MBI = re.compile(
    f"[1-9]{_MBI_LETTER}{_MBI_ALNUM}[0-9]{_MBI_LETTER}{_MBI_ALNUM}[0-9]"
    f"{_MBI_LETTER}{_MBI_LETTER}[0-9][0-9]"
)
_MBI_LENGTH = 11


def _mbi_text(value: object) -> object:
    """Drop the dashes shown for reading (``1EG4-TE5-MK73``) and raise lower case."""
    return value.replace("-", "").upper() if isinstance(value, str) else value


def _mbi(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise errors.InvalidValue("must be a string", field=attribute.name, value=value)
    if len(value) != _MBI_LENGTH:
        raise errors.InvalidValue(
            "an MBI has 11 characters (dashes aside)", field=attribute.name, value=value
        )
    if not _MBI.fullmatch(value):
        raise errors.InvalidValue(
            "does not follow the CMS MBI format (digit 1-9, letter, letter or digit, digit, "
            "letter, letter or digit, digit, letter, letter, digit, digit; "
            "no S, L, O, I, B or Z)",
            field=attribute.name,
            value=value,
        )


@frozen(kw_only=True, field_transformer=v.name_errors)
class MedicareBeneficiaryId:
    """A Medicare Beneficiary Identifier, in the CMS format (stored without dashes).

    >>> MedicareBeneficiaryId(value="1eg4-te5-mk73").value
    '1EG4TE5MK73'
    >>> MedicareBeneficiaryId(value="1EG4-TE5-MKS3")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: value='1EG4TE5MKS3': does not follow the CMS MBI format ...
    """

    value: str = field(converter=_mbi_text, validator=_mbi)

    @classmethod
    def parse(cls, text: object, *, field: str = "mbi") -> MedicareBeneficiaryId:
        """An MBI from *text*; a bad one raises InvalidValue naming *field*.

        >>> MedicareBeneficiaryId.parse("1EG4TE5MK73", field="coverage.member_id").value
        '1EG4TE5MK73'
        """
        try:
            return cls(value=text)
        except errors.InvalidValue as exc:
            raise errors.InvalidValue(exc.reason, field=field, value=exc.value) from None

    def __str__(self) -> str:
        """The MBI as eleven characters."""
        return self.value


_STATE = r"[A-Z]{2}"
_ZIP = r"[0-9]{5}([0-9]{4})?"
_ZIP9 = re.compile(r"[0-9]{9}")


def _zip_text(value: object) -> object:
    """``60601-1234`` is kept as ``606011234`` (the X12 form)."""
    return value.replace("-", "") if isinstance(value, str) else value


@frozen(kw_only=True, field_transformer=v.name_errors)
class PostalAddress:
    """A United States postal address (street, city, state, ZIP code of five or nine digits).

    >>> PostalAddress(line1="100 Main St", city="Chicago", state="IL",
    ...               postal_code="60601-1234").postal_code
    '606011234'
    """

    line1: str = field(validator=v.not_blank)
    city: str = field(validator=v.not_blank)
    state: str = field(validator=v.matches(_STATE, "a two-letter state code such as 'IL'"))
    postal_code: str = field(
        converter=_zip_text, validator=v.matches(_ZIP, "a ZIP code of 5 or 9 digits")
    )
    line2: str | None = field(default=None, validator=v.optional(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class PatientAddress:
    """Where a patient lives, as a claim gives it (one per patient).

    >>> PatientAddress(patient_id="p1", address=PostalAddress(
    ...     line1="1 Elm St", city="Evanston", state="IL", postal_code="60201")).address.city
    'Evanston'
    """

    patient_id: PatientId = field(validator=v.not_blank)
    address: PostalAddress = field(validator=v.instance_of(PostalAddress, "a PostalAddress"))


def _tin_text(value: object) -> object:
    return value.replace("-", "") if isinstance(value, str) else value


def _phone_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    digits = re.sub(r"[\s().-]", "", value)
    return digits.removeprefix("+1")


def _nine_digit_zip(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, PostalAddress) and not _ZIP9.fullmatch(value.postal_code):
        raise errors.InvalidValue(
            "the billing provider's ZIP code must have 9 digits (ZIP+4)",
            field=f"{attribute.name}.postal_code",
            value=value.postal_code,
        )


@frozen(kw_only=True, field_transformer=v.name_errors)
class BillingIdentity:
    """The practice as it bills: name, NPI, tax id, address, EDI contact and payer.

    ``npi`` is the group (organization) NPI, checked with its check digit;
    ``tin`` the employer identification number (nine digits); ``address`` a
    street address with a nine-digit ZIP code. ``payer_id`` and
    ``payer_name`` name the Medicare administrative contractor the practice
    bills; ``receiver_*`` the clearinghouse that receives the file (the payer
    when not given); ``submitter_id`` what the receiver calls the practice
    (the NPI when not given). ``place_of_service`` is the CMS place-of-service
    code of the claims (11, office).

    >>> identity = BillingIdentity(id="practice", name="Lakeside Primary Care",
    ...     npi="1245319599", tin="36-1234567", phone="(312) 555-0100",
    ...     address=PostalAddress(line1="100 Main St", city="Chicago", state="IL",
    ...                           postal_code="606011234"),
    ...     payer_id="06102")
    >>> identity.tin, identity.phone, identity.place_of_service
    ('361234567', '3125550100', '11')
    """

    id: str = field(validator=v.not_blank)
    name: str = field(validator=v.not_blank)
    npi: str = field(validator=_npi)
    tin: str = field(converter=_tin_text, validator=v.matches(r"[0-9]{9}", "nine digits (an EIN)"))
    address: PostalAddress = field(
        validator=[v.instance_of(PostalAddress, "a PostalAddress"), _nine_digit_zip]
    )
    phone: str = field(
        converter=_phone_text, validator=v.matches(r"[0-9]{10}", "a 10-digit phone number")
    )
    payer_id: str = field(validator=v.matches(r"[0-9A-Z]{2,80}", "a payer id such as '06102'"))
    payer_name: str = field(default="MEDICARE", validator=v.not_blank)
    contact_name: str | None = field(default=None, validator=v.optional(v.not_blank))
    taxonomy: str | None = field(
        default=None,
        validator=v.optional(
            v.matches(r"[0-9A-Z]{9}X", "a 10-character provider taxonomy code such as '207Q00000X'")
        ),
    )
    submitter_id: str | None = field(
        default=None, validator=v.optional(v.matches(r"[0-9A-Z]{2,80}", "an EDI submitter id"))
    )
    receiver_name: str | None = field(default=None, validator=v.optional(v.not_blank))
    receiver_id: str | None = field(
        default=None, validator=v.optional(v.matches(r"[0-9A-Z]{2,80}", "an EDI receiver id"))
    )
    place_of_service: str = field(
        default="11", validator=v.matches(r"[0-9]{2}", "a 2-digit CMS place-of-service code")
    )

    @npi.validator
    def _npi_given(self, attribute: attrs.Attribute[object], value: object) -> None:
        if value is None:
            raise errors.InvalidValue(
                "the billing identity needs the group's NPI", field=attribute.name, value=value
            )
