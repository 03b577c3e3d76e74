"""A refused resource is named by its id, never by the patient's name, birth date or contacts (issue 20).

``fhir import`` printed rejected names and birth dates.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carecore.cli import make_app

PHI = ("Okafor", "Adaeze", "1950-02-30", "1950-02-03", "555-0101", "Main Street")


def patient(pid, **changes):
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": "1950-02-03",
        "name": [{"family": "Okafor", "given": ["Adaeze"]}],
    }
    return {**resource, **changes}


BAD = [
    patient("p1", birthDate="1950-02-30"),
    patient("p2", name=[{"family": {"x": "Okafor"}, "given": "Adaeze"}]),
    patient("p3", telecom=[{"system": "phone", "value": ["555-0101"]}]),
    patient("p4", name=[{"family": "Okafor"}]),
    patient("p5", address=[{"line": "1 Main Street", "city": ["Boston"]}]),
]


@pytest.fixture
def bundle(tmp_path):
    path = tmp_path / "bad.json"
    entries = [{"resource": r} for r in BAD]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


def test_fhir_import_names_refused_patients_by_id_only(bundle, tmp_path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", db]).exit_code == 0
    result = runner.invoke(make_app(), ["fhir", "import", str(bundle), "--db", db, "--no-progress"])
    assert result.exit_code == 1, result.output
    for pid in ("p1", "p2", "p3", "p4", "p5"):
        assert f"Patient/{pid}" in result.output
    assert [word for word in PHI if word in result.output] == []


def test_a_bad_code_is_still_shown():
    from carecore_fhir.validate import problems

    (problem,) = problems(
        {
            "resourceType": "CarePlan",
            "id": "cp1",
            "status": "bogus",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                            "code": "assess-plan",
                        }
                    ]
                }
            ],
        }
    )
    assert "'bogus'" in str(problem)


# -- issue 23: a file's text and the values of patient fields are never echoed --------------


def _import(tmp_path, path):
    db = f"sqlite:///{tmp_path / 'x.db'}"
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", db]).exit_code == 0
    return runner.invoke(make_app(), ["fhir", "import", str(path), "--db", db, "--no-progress"])


def test_a_file_that_is_not_json_is_named_with_the_position_not_its_text(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text("Okafor Adaeze 1950-02-03 555-0101\n")
    result = _import(tmp_path, path)
    assert result.exit_code == 1, result.output
    assert "notes.json" in result.output
    assert "not JSON" in result.output
    assert "line 1 column 1" in result.output
    assert [word for word in PHI if word in result.output] == []
    assert "(got" not in result.output


@pytest.mark.parametrize(
    "doc",
    [
        {"resourceType": {"family": "Okafor", "given": "Adaeze"}},
        ["Okafor", "Adaeze", "1950-02-03"],
        {"resourceType": "Bundle", "type": "collection", "entry": {"name": "Okafor Adaeze"}},
    ],
    ids=["resource-type-object", "a-list", "entry-object"],
)
def test_a_json_file_that_is_not_fhir_is_described_not_echoed(tmp_path, doc):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(doc))
    result = _import(tmp_path, path)
    assert result.exit_code == 1, result.output
    assert "doc.json" in result.output
    assert [word for word in PHI if word in result.output] == []


PRIVATE = [
    # a death date before the birth date: the date is not shown
    patient("p6", deceasedDateTime="1940-01-02T00:00:00Z"),
    # a blank identifier: named by its place, not shown
    patient(
        "p7",
        identifier=[{"system": "urn:mrn", "value": "   "}, {"system": "urn:x", "value": "Okafor"}],
    ),
    # a subject-less reference with only a name
    {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"display": "Okafor, Adaeze"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    },
]


def test_refused_patient_fields_are_named_and_described(tmp_path):
    path = tmp_path / "private.json"
    entries = [{"resource": r} for r in PRIVATE]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    result = _import(tmp_path, path)
    assert result.exit_code == 1, result.output
    assert "Patient/p6.deceasedDateTime" in result.output
    assert "before the birth date" in result.output
    assert "Patient/p7.identifier[0].value" in result.output
    assert "Condition/c1.subject" in result.output
    assert [w for w in (*PHI, "1940-01-02", "1940") if w in result.output] == []


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"name": [{"family": ["Okafor"], "given": ["Adaeze"]}]}, "name.family"),
        ({"name": [{"family": "Okafor", "given": [" "]}]}, "name.given"),
        ({"deceasedDateTime": "1940-01-02"}, "deceasedDateTime"),
        ({"birthDate": "1950-02-33"}, "birthDate"),
        ({"gender": "Okafor"}, "gender"),
    ],
    ids=["family-list", "given-blank", "death-before-birth", "not-a-date", "gender"],
)
def test_unvalidated_patient_refusals_never_show_the_value(changes, where):
    """Read without the R4 structure check (as the REST source may): the same rule."""
    from carecore_fhir.mapping import Resolver, to_carecore

    from carecore import errors

    with pytest.raises(errors.CarecoreError) as caught:
        to_carecore(patient("p8", **changes), Resolver({}), check=False)
    text = str(caught.value)
    assert f"Patient/p8.{where}" in text, text
    assert [w for w in (*PHI, "1940-01-02", "1950-02-33") if w in text] == [], text
