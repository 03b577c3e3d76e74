"""MedicationRequest, MedicationStatement, MedicationDispense, Immunization, Procedure and labs in."""

from __future__ import annotations

import pendulum
import pytest
from carecore_fhir.importer import import_files
from carecore_fhir.mapping import Resolver, Skip, to_carecore

from carecore import errors
from carecore.model import (
    ClinicalService,
    MedicationFill,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    ServiceKind,
)

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT = {"reference": "Patient/p1"}


def one(resource):
    (value,) = to_carecore(resource, Resolver({}, lenient=True)).values
    return value


def test_a_medication_request_is_on_the_practice_list_with_its_dosage():
    value = one(
        {
            "resourceType": "MedicationRequest",
            "id": "mr1",
            "status": "active",
            "intent": "order",
            "subject": PATIENT,
            "authoredOn": "2026-01-05T10:00:00-06:00",
            "requester": {"reference": "Practitioner/dr1"},
            "medicationCodeableConcept": {
                "coding": [{"system": RX, "code": "314076", "display": "lisinopril 10 MG"}],
                "text": "Lisinopril 10 MG Oral Tablet",
            },
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                    "route": {"text": "oral"},
                    "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}],
                }
            ],
        }
    )
    assert value == MedicationStatement(
        id="mr1",
        patient_id="p1",
        source=MedicationSource.EHR,
        rxnorm="314076",
        text="Lisinopril 10 MG Oral Tablet",
        dose="10 mg",
        route="oral",
        frequency="1 per 1 d",
        start=pendulum.Date(2026, 1, 5),
        recorded_on=pendulum.Date(2026, 1, 5),
        prescriber_id="dr1",
        status=MedicationStatus.ACTIVE,
        ingredients=("lisinopril",),
        drug_class="ras antagonists",
    )


def test_a_statement_from_the_patient_is_patient_reported():
    value = one(
        {
            "resourceType": "MedicationStatement",
            "id": "ms1",
            "status": "active",
            "subject": PATIENT,
            "informationSource": PATIENT,
            "effectivePeriod": {"start": "2025-06-01"},
            "medicationCodeableConcept": {"text": "Ibuprofen 200 mg"},
        }
    )
    assert value.source is MedicationSource.PATIENT_REPORTED
    assert value.rxnorm is None
    assert value.start == pendulum.Date(2025, 6, 1)


def test_a_dispense_is_a_fill_and_needs_its_days_supply():
    dispense = {
        "resourceType": "MedicationDispense",
        "id": "md1",
        "status": "completed",
        "subject": PATIENT,
        "whenHandedOver": "2026-02-01T09:00:00Z",
        "daysSupply": {"value": 30, "unit": "day"},
        "medicationCodeableConcept": {
            "coding": [{"system": RX, "code": "617312"}],
            "text": "Atorvastatin 20 MG",
        },
    }
    value = one(dispense)
    assert isinstance(value, MedicationFill)
    assert value.drug_class == "statins"  # from the ingredient in the text
    assert (value.filled_on, value.days_supply, value.rxnorm) == (
        pendulum.Date(2026, 2, 1),
        30,
        "617312",
    )
    del dispense["daysSupply"]
    with pytest.raises(errors.InvalidValue) as caught:
        one(dispense)
    assert caught.value.field == "MedicationDispense/md1.daysSupply.value"


def test_immunizations_procedures_and_kidney_labs_are_clinical_services():
    flu = one(
        {
            "resourceType": "Immunization",
            "id": "i1",
            "status": "completed",
            "patient": PATIENT,
            "occurrenceDateTime": "2025-10-01",
            "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
        }
    )
    assert (flu.kind, flu.system, flu.code, flu.on) == (
        ServiceKind.IMMUNIZATION,
        "CVX",
        "140",
        pendulum.Date(2025, 10, 1),
    )
    colonoscopy = one(
        {
            "resourceType": "Procedure",
            "id": "pr1",
            "status": "completed",
            "subject": PATIENT,
            "performedPeriod": {"start": "2019-07-29T19:27:45+00:00"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "73761001"}]},
        }
    )
    assert (colonoscopy.kind, colonoscopy.system, colonoscopy.code) == (
        ServiceKind.PROCEDURE,
        "SNOMED",
        "73761001",
    )
    egfr = one(
        {
            "resourceType": "Observation",
            "id": "o1",
            "status": "final",
            "subject": PATIENT,
            "effectiveDateTime": "2026-01-02",
            "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
            "valueQuantity": {"value": 70, "unit": "mL/min"},
        }
    )
    assert (egfr.kind, egfr.system, egfr.code) == (ServiceKind.LAB, "LOINC", "33914-3")


def test_not_given_and_not_done_are_skipped_with_a_reason():
    with pytest.raises(Skip, match="not given"):
        one(
            {
                "resourceType": "Immunization",
                "id": "i2",
                "status": "not-done",
                "patient": PATIENT,
                "occurrenceDateTime": "2025-10-01",
                "vaccineCode": {
                    "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]
                },
            }
        )


def test_the_synthea_bundles_bring_their_medications_immunizations_and_procedures(
    synthea_paths, make_program
):
    program = make_program()
    report = import_files(program, [(p.name, p.read_bytes()) for p in synthea_paths])
    counts = report.counts()
    assert counts[("MedicationRequest", "imported")] == 65
    assert counts[("Immunization", "imported")] == 94
    assert counts[("Procedure", "imported")] == 89
    assert not report.refused
    with program.transaction("read") as tx:
        statements = tx.all(MedicationStatement)
        services = tx.all(ClinicalService)
    assert len(statements) == 65
    assert sum(s.status is MedicationStatus.STOPPED for s in statements) == 19
    # 94 immunizations, 89 procedures, 81 eGFR and urine albumin-creatinine results, and
    # Dino Barton's stool immunochemical test (LOINC 57905-2).
    assert len(services) == 94 + 89 + 81 + 1
    again = import_files(program, [(p.name, p.read_bytes()) for p in synthea_paths])
    assert again.counts()[("Immunization", "unchanged")] == 94


def test_statements_export_as_us_core_medication_requests_and_read_back(
    synthea_paths, make_program
):
    from carecore_fhir.export import export_patient
    from carecore_fhir.importer import import_bundle

    program = make_program()
    path = next(p for p in synthea_paths if p.name.startswith("Dirk_Kuhlman"))
    import_files(program, [(path.name, path.read_bytes())])
    with program.transaction("read") as tx:
        (patient,) = tx.all(MedicationStatement)[:1]
        before = sorted(
            tx.find(MedicationStatement, patient_id=patient.patient_id), key=lambda s: s.id
        )
    bundle = export_patient(program, before[0].patient_id)  # validated, profiles checked
    requests = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    ]
    assert len(requests) == len(before)
    assert all(r["requester"] and r["subject"] and r["intent"] for r in requests)
    again = make_program("again")
    import json

    report = import_bundle(again, json.dumps(bundle), source="export.json")
    assert not report.refused
    with again.transaction("read") as tx:
        after = sorted(tx.all(MedicationStatement), key=lambda s: s.id)
    key = lambda s: (s.id, s.rxnorm, s.text, s.status, s.start, s.source)  # noqa: E731
    assert [key(s) for s in after] == [key(s) for s in before]


DISCHARGE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
            "code": "discharge",
        }
    ]
}


def test_a_discharge_medication_request_is_on_the_discharge_summary_list():
    """A hospital's discharge orders (category discharge) are the discharge summary's list."""
    stopped = one(
        {
            "resourceType": "MedicationRequest",
            "id": "dc1",
            "status": "stopped",
            "intent": "order",
            "category": [DISCHARGE],
            "subject": PATIENT,
            "authoredOn": "2026-12-01",
            "medicationCodeableConcept": {
                "coding": [{"system": RX, "code": "316049"}],
                "text": "Hydrochlorothiazide 25 MG",
            },
        }
    )
    assert stopped.source is MedicationSource.DISCHARGE_SUMMARY
    assert stopped.status is MedicationStatus.STOPPED
    assert stopped.recorded_on == pendulum.Date(2026, 12, 1)
    plain = one(
        {
            "resourceType": "MedicationRequest",
            "id": "mr9",
            "status": "active",
            "intent": "order",
            "category": [{"coding": [{"code": "outpatient"}]}],
            "subject": PATIENT,
            "medicationCodeableConcept": {"text": "Amlodipine 5 MG"},
        }
    )
    assert plain.source is MedicationSource.EHR


def test_a_discharge_statement_exports_with_the_discharge_category_and_reads_back():
    from carecore_fhir.clinical import medication_request_resource
    from carecore_fhir.mapping import to_carecore as back

    statement = MedicationStatement(
        id="dc2",
        patient_id="p1",
        source=MedicationSource.DISCHARGE_SUMMARY,
        rxnorm="316049",
        text="Hydrochlorothiazide 25 MG",
        status=MedicationStatus.ACTIVE,
        recorded_on=pendulum.Date(2026, 12, 1),
    )
    doc = medication_request_resource(statement)
    assert {"system": DISCHARGE["coding"][0]["system"], "code": "discharge"} in doc["category"][0][
        "coding"
    ]
    (value,) = back(doc, Resolver({}, lenient=True)).values
    assert value.source is MedicationSource.DISCHARGE_SUMMARY


def test_every_lab_a_gap_rule_names_comes_in_and_closes_its_gap(make_program):
    """A stool test (FIT, LOINC 57905-2) and a hepatitis C antibody test close their gaps."""
    import json

    from carecore_fhir.importer import import_bundle

    from carecore.gaps import evidence_codes

    program = make_program()
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Lopez", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1958-05-01",
    }

    def lab(rid, code, day):
        return {
            "resourceType": "Observation",
            "id": rid,
            "status": "final",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": day,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueString": "negative",
        }

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": r}
            for r in (
                patient,
                lab("fit", "57905-2", "2026-02-01"),
                lab("hcv", "13955-0", "2020-06-01"),
            )
        ],
    }
    report = import_bundle(program, json.dumps(bundle), source="labs.json")
    assert not report.refused
    with program.transaction("read") as tx:
        services = {s.id: s for s in tx.all(ClinicalService)}
    assert {services["fit"].code, services["hcv"].code} == {"57905-2", "13955-0"}
    assert services["fit"].kind is ServiceKind.LAB
    found = {g.rule_id: g for g in program.care_gaps(on=pendulum.Date(2026, 3, 1))}
    assert found["colorectal-cancer-screening"].closed_by == ("fit",)
    assert found["hepatitis-c-screening"].closed_by == ("hcv",)
    # Every LOINC code a built-in rule names is read (A1c and blood pressure as observations).
    from carecore_fhir import codes
    from carecore_fhir.clinical import LAB_CODES

    read = set(LAB_CODES) | set(codes.OBSERVATION_MEASURES) | set(codes.BP_COMPONENTS)
    assert evidence_codes("LOINC") <= read
