"""Hostile carecore extensions: JSON too deep or not JSON in an extension's valueString.

carecore writes some of what FHIR has no element for as JSON in an extension
(contact preferences, care-plan extras, referrals, assessments, consents,
enrollments). A bundle whose extension text is nested past the limit
``json_depth`` raised RecursionError and ended the import; text that is not
JSON raised an untyped JSONDecodeError or was refused without naming the
extension. Each is now refused by resource and extension, and the rest of the
bundle still imports.
"""

from __future__ import annotations

import copy
import json

import pytest
from carecore_fhir import import_bundle
from carecore_fhir.export import EXT, export_patient, referral_resource

from carecore.model import CarePlan, Patient, Referral
from carecore.service import CareProgram

PATIENT_ID = "p-0001"

#: (resource type, carecore extension) pairs a demo patient's export carries.
EXTENSIONS = [
    ("Patient", "contact-preferences"),
    ("CarePlan", "careplan-extras"),
    ("QuestionnaireResponse", "assessment"),
    ("Consent", "consent"),
    ("EpisodeOfCare", "enrollment"),
    ("ServiceRequest", "referral"),
]


@pytest.fixture(scope="module")
def bundle(demo_program):
    """p-0001's export, with a referral added to its first care plan (the demo makes none)."""
    exported = export_patient(demo_program, PATIENT_ID)
    with demo_program.transaction("test") as tx:
        plan = next(p for p in tx.all(CarePlan) if p.patient_id == PATIENT_ID)
    request = referral_resource(
        plan, Referral(id="r1", to="Community food bank", reason="food insecurity")
    )
    entry = next(
        e
        for e in exported["entry"]
        if e["resource"]["id"] == plan.id and e["resource"]["resourceType"] == "CarePlan"
    )
    entry["resource"].setdefault("activity", []).append(
        {"reference": {"reference": f"ServiceRequest/{request['id']}"}}
    )
    exported["entry"].append({"fullUrl": f"ServiceRequest/{request['id']}", "resource": request})
    return exported


def _spoiled(bundle, kind, name, text):
    """*bundle* with the first *kind* resource's extension *name* holding *text*."""
    spoiled = copy.deepcopy(bundle)
    for entry in spoiled["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] != kind:
            continue
        for ext in resource.get("extension", ()):
            if ext.get("url") == f"{EXT}/{name}":
                ext["valueString"] = text
                return spoiled, f"{kind}/{resource['id']}"
    pytest.fail(f"no {kind} with the extension {name} in the export")
    return None


def _import(bundle, carecore_pm):
    with CareProgram.open("memory://", actor="hostile", plugin_manager=carecore_pm) as program:
        report = import_bundle(program, json.dumps(bundle), source="spoiled.json")
        with program.transaction("check") as tx:
            patients = [p.id for p in tx.all(Patient)]
    return report, patients


def test_the_unspoiled_bundle_imports(bundle, carecore_pm):
    report, patients = _import(bundle, carecore_pm)
    assert report.refused == (), [o.reason for o in report.refused]
    assert patients == [PATIENT_ID]


@pytest.mark.parametrize("depth", [150, 100_000])
@pytest.mark.parametrize(("kind", "name"), EXTENSIONS)
def test_an_extension_nested_too_deep_is_refused_by_name(bundle, carecore_pm, kind, name, depth):
    """100 000 deep raised RecursionError, which ended the whole import; 150 passed the limit."""
    spoiled, _ = _spoiled(bundle, kind, name, "[" * depth + "]" * depth)
    report, _ = _import(spoiled, carecore_pm)
    reasons = [o.reason for o in report.refused]
    field = f"extension({name}).valueString"
    assert any(field in r and "json_depth=100" in r for r in reasons), reasons
    # The refusal names ids only, not the extension's text (it may hold a phone number).
    assert all("[[[" not in r for r in reasons)


@pytest.mark.parametrize(("kind", "name"), EXTENSIONS)
def test_an_extension_that_is_not_json_is_refused_by_name(bundle, carecore_pm, kind, name):
    """Text that was not JSON raised JSONDecodeError or was refused without naming the extension."""
    spoiled, _ = _spoiled(bundle, kind, name, '{"channels": ["sms", +15550001111')
    report, _ = _import(spoiled, carecore_pm)
    reasons = [o.reason for o in report.refused]
    field = f"extension({name}).valueString"
    assert any(field in r and "not valid JSON" in r for r in reasons), reasons
    assert all("15550001111" not in r for r in reasons)
