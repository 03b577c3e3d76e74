from __future__ import annotations

import pytest
from hypothesis import given

from carecore import errors
from carecore.convert import from_primitive, to_primitive
from carecore.model import (
    BillingIdentity,
    MedicareBeneficiaryId,
    PatientAddress,
    PostalAddress,
)
from carecore.testing.strategies import billing_identities, medicare_beneficiary_ids

ADDRESS = PostalAddress(line1="100 Main St", city="Chicago", state="IL", postal_code="606011234")


def identity(**changes: object) -> BillingIdentity:
    fields: dict[str, object] = {
        "id": "practice",
        "name": "Lakeside Primary Care",
        "npi": "1245319599",
        "tin": "361234567",
        "address": ADDRESS,
        "phone": "3125550100",
        "payer_id": "06102",
    }
    fields.update(changes)
    return BillingIdentity(**fields)  # type: ignore[arg-type]


# CMS's own example MBI, and variants of it breaking one rule each.
@pytest.mark.parametrize(
    "text", ["1EG4TE5MK73", "1EG4-TE5-MK73", "1eg4-te5-mk73", "9AA0A00AA00", "1A94C93AC77"]
)
def test_mbis_in_the_cms_format_are_accepted_and_kept_without_dashes(text):
    mbi = MedicareBeneficiaryId(value=text)
    assert mbi.value == text.replace("-", "").upper()
    assert len(str(mbi)) == 11


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0EG4TE5MK73", "format"),  # position 1 may not be 0
        ("1SG4TE5MK73", "format"),  # S is never used
        ("1EG4TE5MK7", "11 characters"),
        ("1EG4TE5MK733", "11 characters"),
        ("1E G4TE5MK7", "format"),
        ("1EGATE5MK73", "format"),  # position 4 is a digit
        ("1EG4TE5M173", "format"),  # position 9 is a letter
        ("1EG4TE5MKB3", "format"),  # position 10 is a digit
        ("1EG4TE5MK7O", "format"),  # O is never used
    ],
)
def test_a_bad_mbi_is_refused_naming_field_and_value(text, why):
    with pytest.raises(errors.InvalidValue, match=why) as info:
        MedicareBeneficiaryId(value=text)
    assert info.value.field == "value"
    assert info.value.value == text.replace("-", "").upper()


def test_parse_names_the_callers_field():
    with pytest.raises(errors.InvalidValue) as info:
        MedicareBeneficiaryId.parse("1EG4TE5MK7", field="coverage.member_id")
    assert info.value.field == "coverage.member_id"
    assert info.value.value == "1EG4TE5MK7"


@given(medicare_beneficiary_ids())
def test_generated_mbis_survive_a_round_trip(mbi):
    assert MedicareBeneficiaryId(value=str(mbi)) == mbi
    assert from_primitive(to_primitive(mbi), MedicareBeneficiaryId) == mbi


def test_identity_normalises_tin_phone_and_defaults():
    made = identity(tin="36-1234567", phone="+1 (312) 555-0100")
    assert (made.tin, made.phone) == ("361234567", "3125550100")
    assert (made.place_of_service, made.payer_name) == ("11", "MEDICARE")


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"npi": "1245319598"}, "npi", "1245319598"),  # check digit off by one
        ({"npi": "124531959"}, "npi", "124531959"),
        ({"npi": None}, "npi", None),
        ({"tin": "36-123456"}, "tin", "36123456"),
        ({"phone": "555-0100"}, "phone", "5550100"),
        ({"taxonomy": "207Q00000"}, "taxonomy", "207Q00000"),
        ({"place_of_service": "1"}, "place_of_service", "1"),
        (
            {
                "address": PostalAddress(
                    line1="100 Main St", city="Chicago", state="IL", postal_code="60601"
                )
            },
            "address.postal_code",
            "60601",
        ),
    ],
)
def test_a_bad_identity_is_refused_naming_field_and_value(changes, field, value):
    with pytest.raises(errors.InvalidValue) as info:
        identity(**changes)
    assert info.value.field == field
    assert info.value.value == value


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"state": "Ill"}, "state"),
        ({"postal_code": "6060"}, "postal_code"),
        ({"city": " "}, "city"),
    ],
)
def test_a_bad_address_names_its_field(changes, field):
    fields = {"line1": "1 Elm St", "city": "Evanston", "state": "IL", "postal_code": "60201"}
    fields.update(changes)
    with pytest.raises(errors.InvalidValue) as info:
        PostalAddress(**fields)
    assert info.value.field == field


def test_patient_address_holds_a_postal_address():
    with pytest.raises(errors.InvalidValue) as info:
        PatientAddress(patient_id="p1", address="1 Elm St")  # type: ignore[arg-type]
    assert info.value.field == "address"


@given(billing_identities())
def test_generated_identities_round_trip(made):
    assert from_primitive(to_primitive(made), BillingIdentity) == made
