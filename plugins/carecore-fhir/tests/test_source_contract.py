"""The FHIR source passes the EHR-source contract: server pages, duplicates, bad resources, re-import."""

from __future__ import annotations

import json

import pytest
from carecore_fhir.source import FhirSource

from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples


def patient(n):
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "gender": "female",
        "birthDate": f"1950-01-0{n % 9 + 1}",
        "name": [{"family": f"Family{n}", "given": [f"Given{n}"]}],
    }


def condition(n, *, code="44054006"):
    return {
        "resourceType": "Condition",
        "id": f"c{n}",
        "subject": {"reference": f"Patient/p{n}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    }


def bundle(path, resources):
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources
                ],
            }
        )
    )
    return str(path)


class TestFhirSourceContract(EhrSourceContract):
    @pytest.fixture
    def source(self):
        # Five of each type: three pages a type; the test server is http:// on loopback.
        return FhirSource(page_size=2, insecure=True)

    @pytest.fixture
    def samples(self, tmp_path, fhir_server):
        for n in range(5):
            fhir_server.store.put(patient(n))
            fhir_server.store.put(condition(n))
        no_code = {**condition(2), "code": {"text": "something"}}
        return EhrSourceSamples(
            paged=fhir_server.base,
            paged_values=10,
            duplicated=bundle(tmp_path / "twice.json", [patient(1), condition(1), condition(1)]),
            bad=bundle(tmp_path / "bad.json", [patient(1), condition(1), patient(2), no_code]),
            bad_refusals=1,
        )


def test_the_server_was_read_page_by_page(fhir_server):
    for n in range(5):
        fhir_server.store.put(patient(n))
    fhir_server.store.requests.clear()
    values = list(FhirSource(page_size=2, insecure=True).read(fhir_server.base))
    assert len(values) == 5
    pages = [path for method, path, _ in fhir_server.store.requests if "/Patient" in path]
    assert len(pages) == 3


def test_an_unreadable_location_is_one_refusal(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    (refusal,) = FhirSource().read(str(broken))
    assert refusal.where == str(broken)
    assert refusal.reason
