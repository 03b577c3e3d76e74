"""A pull from a FHIR server records where the records came from, per patient."""

from __future__ import annotations

import json

from carecore_fhir.rest import FhirClient
from carecore_fhir.source import import_from_server


def test_a_pull_names_the_server_in_each_patients_audit_rows(fhir_server, program):
    with FhirClient(fhir_server.base, insecure=True) as client:
        client.update(
            {
                "resourceType": "Patient",
                "id": "pat-1",
                "identifier": [{"system": "urn:mrn", "value": "m1"}],
                "gender": "female",
                "birthDate": "1950-01-01",
                "name": [{"family": "F1", "given": ["A"]}],
            }
        )
        with program.transaction("seq") as tx:
            last = tx.audit_entries()[-1].seq if tx.audit_entries() else 0
        report = import_from_server(program, client, patient_id="pat-1")
    assert report.refused == ()
    with program.transaction("check") as tx:
        patients = tx.patient_ids()
        rows = [e for e in tx.audit_entries(after=last) if e.action.endswith("create")]
    assert len(patients) == 1
    named = [e for e in rows if e.patient_id == patients[0]]
    assert named, rows
    assert all(fhir_server.base in e.reason for e in named), [e.reason for e in named]


def test_a_source_with_a_token_is_named_with_the_token_masked(program):
    from carecore_fhir import import_bundle

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "pat-2",
                    "gender": "female",
                    "birthDate": "1950-01-01",
                    "name": [{"family": "F2", "given": ["B"]}],
                }
            }
        ],
    }
    source = "https://ehr.example.org/fhir?access_token=abc123secret"
    import_bundle(program, json.dumps(bundle).encode(), source=source)
    with program.transaction("check") as tx:
        reasons = {e.reason for e in tx.audit_entries() if e.reason.startswith("FHIR import")}
    assert reasons
    assert all("https://ehr.example.org/fhir" in r for r in reasons), reasons
    assert not any("abc123secret" in r for r in reasons), reasons
