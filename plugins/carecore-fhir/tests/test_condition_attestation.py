"""Chronic status from carecore's condition-group table; significant risk attested by the extension."""

from __future__ import annotations

import json

import pendulum
from carecore_fhir import codes, import_bundle

from carecore.billing import Switches
from carecore.conditions import SignificantRisk
from carecore.model import Condition, Patient, ServiceFamily
from carecore.registry import eligibility
from carecore.service import CareProgram

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "gender": "female",
    "birthDate": "1948-03-02",
    "name": [{"family": "Okafor", "given": ["Ada"]}],
}


def condition(cid, system, code, *, attested=None, months=None):
    resource = {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": system, "code": code}]},
    }
    flags = []
    if attested is not None:
        flags.append({"url": "significantRisk", "valueBoolean": attested})
    if months is not None:
        flags.append({"url": "expectedDurationMonths", "valueInteger": months})
    if flags:
        resource["extension"] = [
            {
                "url": f"{codes.CARECORE}/StructureDefinition/condition-attestation",
                "extension": flags,
            }
        ]
    return resource


def answer(*conditions, switches=None):
    program = CareProgram.open("memory://")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (PATIENT, *conditions)],
    }
    import_bundle(program, json.dumps(bundle), source="test.json")
    with program.transaction("read") as tx:
        stored = tx.all(Condition)
        (patient,) = tx.all(Patient)
    day = pendulum.Date(2026, 3, 1)
    return stored, eligibility(
        patient, ServiceFamily.CCM, as_of=day, conditions=stored, switches=switches
    )


SNOMED = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"


ATTESTED = Switches(significant_risk_from=SignificantRisk.ATTESTED)


def test_icd10cm_conditions_are_chronic_and_at_risk_from_the_table():
    stored, verdict = answer(condition("c1", ICD, "E11.9"), condition("c2", ICD, "I50.9"))
    assert all(c.chronic for c in stored)
    assert verdict.status == "eligible"
    _, verdict = answer(
        condition("c1", ICD, "E11.9"), condition("c2", ICD, "I50.9"), switches=ATTESTED
    )
    assert verdict.status == "needs attestation"


def test_the_extension_attests_significant_risk():
    _, verdict = answer(
        condition("c1", SNOMED, "44054006", attested=True),
        condition("c2", ICD, "I50.9", attested=True),
        switches=ATTESTED,
    )
    assert verdict.status == "eligible"


def test_the_extensions_expected_duration_overrides_the_table():
    _, verdict = answer(
        condition("c1", SNOMED, "44054006"), condition("c2", ICD, "I50.9", months=6)
    )
    assert verdict.status == "not eligible"
