"""A patient's address: exported as US Core Patient.address, read back into PatientAddress."""

from __future__ import annotations

import json

from carecore_fhir import import_bundle
from carecore_fhir.export import export_patient

from carecore.model import PatientAddress


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
