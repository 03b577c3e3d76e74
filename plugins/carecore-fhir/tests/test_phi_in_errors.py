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
