"""A patient's address and contact preferences in US Core Patient, and read back."""

from __future__ import annotations

import datetime as dt
import json

import pendulum
from carecore_fhir import import_bundle
from carecore_fhir.export import export_patient

from carecore.model import AdministrativeSex, ContactPreferences, Patient, PatientAddress


def _patient(**extra):
    return {
        "resourceType": "Patient",
        "id": "pa1",
        "gender": "female",
        "birthDate": "1950-03-01",
        "name": [{"family": "Okafor", "given": ["Ada"]}],
        **extra,
    }


def _addresses(program):
    with program.transaction("test") as tx:
        return tx.find(PatientAddress, patient_id="pa1")


def test_a_state_name_is_read_as_its_usps_code_and_exported_back(program):
    home = {
        "use": "home",
        "line": ["616 Daugherty Arcade", "Apt 2"],
        "city": "Worcester",
        "state": "Massachusetts",
        "postalCode": "01545-1234",
        "country": "US",
    }
    old = {**home, "line": ["1 Old Rd"], "period": {"end": "2020-01-01"}}
    report = import_bundle(program, json.dumps(_patient(address=[old, home])), source="p.json")
    assert [o.status for o in report.outcomes] == ["imported"]
    (kept,) = _addresses(program)
    assert (kept.address.line1, kept.address.line2, kept.address.state) == (
        "616 Daugherty Arcade",
        "Apt 2",
        "MA",
    )
    assert kept.address.postal_code == "015451234"
    exported = export_patient(program, "pa1")["entry"][0]["resource"]
    assert exported["address"] == [
        {
            "use": "home",
            "line": ["616 Daugherty Arcade", "Apt 2"],
            "city": "Worcester",
            "state": "MA",
            "postalCode": "01545-1234",
            "country": "US",
        }
    ]


def test_an_address_carecore_cannot_keep_leaves_the_patient_with_a_note(program):
    abroad = {"line": ["1 Rue de la Paix"], "city": "Paris", "postalCode": "75002", "country": "FR"}
    report = import_bundle(program, json.dumps(_patient(address=[abroad])), source="p.json")
    (outcome,) = report.outcomes
    assert outcome.status == "imported"
    assert outcome.notes == ("address not kept: not a United States address (country 'FR')",)
    assert _addresses(program) == []


def test_an_address_without_a_zip_code_is_noted_by_field_without_its_value(program):
    partial = {"line": ["9 Secret Ln"], "city": "Chicago", "state": "IL"}
    report = import_bundle(program, json.dumps(_patient(address=[partial])), source="p.json")
    (outcome,) = report.outcomes
    assert outcome.status == "imported"
    (note,) = outcome.notes
    assert note.startswith("address not kept: postal_code")
    assert "Secret" not in note
    assert _addresses(program) == []


def test_a_changed_address_is_updated_on_a_second_import(program):
    first = {"line": ["1 Elm St"], "city": "Evanston", "state": "IL", "postalCode": "60201"}
    moved = {**first, "line": ["2 Oak St"]}
    import_bundle(program, json.dumps(_patient(address=[first])), source="a.json")
    report = import_bundle(program, json.dumps(_patient(address=[moved])), source="b.json")
    assert [o.status for o in report.outcomes] == ["updated"]
    assert [a.address.line1 for a in _addresses(program)] == ["2 Oak St"]


def test_contact_preferences_are_telecom_and_language_and_read_back(program, make_program):
    program.import_records(
        [
            Patient(
                id="pa1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            ),
            ContactPreferences(
                patient_id="pa1",
                channels=("sms", "email"),
                opted_out=frozenset({"voice"}),
                language="es",
                quiet_start=dt.time(21),
                quiet_end=dt.time(8),
                phone="+13125550100",
                email="ada@example.org",
            ),
        ],
        reason="test",
    )
    bundle = export_patient(program, "pa1")
    patient = bundle["entry"][0]["resource"]
    assert patient["telecom"] == [
        {"system": "phone", "value": "+13125550100", "use": "mobile"},
        {"system": "email", "value": "ada@example.org"},
    ]
    assert patient["communication"] == [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}}
    ]
    again = make_program("again")
    assert import_bundle(again, json.dumps(bundle), source="b.json").refused == ()
    with program.transaction("t") as tx, again.transaction("t") as tx2:
        assert tx2.find(ContactPreferences, patient_id="pa1") == tx.find(
            ContactPreferences, patient_id="pa1"
        )


def test_another_ehrs_telecom_sets_no_contact_preferences(program):
    phone = [{"system": "phone", "value": "+13125550100"}]
    import_bundle(program, json.dumps(_patient(telecom=phone)), source="p.json")
    with program.transaction("t") as tx:
        assert tx.find(ContactPreferences, patient_id="pa1") == []
