"""Exports against the US Core 6.1 and MCC eCare Plan profiles they declare.

Each profile's mandatory elements, the must-support elements carecore holds, the
bindings and the invariants are written below from the guides' published profile
tables (the URL of each is given), as FHIRPath evaluated with fhirpathpy:

- US Core 6.1.0: https://hl7.org/fhir/us/core/STU6.1/
- MCC eCare Plan 1.0.0: https://hl7.org/fhir/us/mcc/STU1/
- the R4 base invariants the profiles inherit: https://hl7.org/fhir/R4/
"""

from __future__ import annotations

import decimal

import fhirpathpy
import pendulum
import pytest
from carecore_fhir import profiles
from carecore_fhir.export import export_patient
from carecore_fhir.validate import problems, profile_problems
from fhirpathpy.models import models

from carecore.model import (
    ContactPreferences,
    MedicationSource,
    MedicationStatement,
    Observation,
    Patient,
    PatientAddress,
    PostalAddress,
)

UC = "http://hl7.org/fhir/us/core/StructureDefinition"
OBS_STATUS = "'registered' | 'preliminary' | 'final' | 'amended' | 'corrected' | 'cancelled' | 'entered-in-error' | 'unknown'"


def _in(path: str, codes: str, system: str | None = None) -> str:
    """FHIRPath: every coding (or code) at *path* is one of *codes* (a required binding)."""
    where = f"system = '{system}' and " if system else ""
    return f"{path}.all(coding.where({where}code in ({codes})).exists())"


def _code_in(path: str, codes: str) -> str:
    return f"{path}.all($this in ({codes}))"


def _coded_or_text(path: str) -> str:
    """An extensible binding: each concept has a coding with a system and code, or text."""
    return f"{path}.all(coding.where(system.exists() and code.exists()).exists() or text.exists())"


# For each profile: the page of its published table, then FHIRPath that must be true of
# every resource declaring it, by kind of rule.
PROFILES = {
    f"{UC}/us-core-patient": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-patient.html",
        "required": [
            "identifier.exists()",
            "identifier.all(system.exists() and value.exists())",
            "name.exists()",
            "gender.exists()",
        ],
        "must_support": [
            "name.family.exists()",
            "name.given.exists()",
            "birthDate.exists()",
            "address.line.exists()",
            "address.city.exists()",
            "address.state.exists()",
            "address.postalCode.exists()",
            "telecom.all(system.exists() and value.exists())",
            "telecom.exists()",
            "communication.language.exists()",
        ],
        "bindings": [
            _code_in("gender", "'male' | 'female' | 'other' | 'unknown'"),
            # USPS two-letter codes (extensible): carecore keeps only United States addresses
            "address.all(state.matches('^[A-Z]{2}$'))",
            _code_in(
                "telecom.system", "'phone' | 'fax' | 'email' | 'pager' | 'url' | 'sms' | 'other'"
            ),
            _code_in("telecom.use", "'home' | 'work' | 'temp' | 'old' | 'mobile'"),
            "communication.language.all(coding.where(system = 'urn:ietf:bcp:47').exists())",
        ],
        "invariants": {
            "us-core-6": "name.all((family.exists() or given.exists()) xor "
            "extension.where(url='http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists())",
        },
    },
    f"{UC}/us-core-condition-problems-health-concerns": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-condition-problems-health-concerns.html",
        "required": ["category.exists()", "code.exists()", "subject.exists()"],
        "must_support": ["clinicalStatus.exists()", "verificationStatus.exists()"],
        "bindings": [
            "category.coding.where(code in ('problem-list-item' | 'health-concern')).exists()",
            _in(
                "clinicalStatus",
                "'active' | 'recurrence' | 'relapse' | 'inactive' | 'remission' | 'resolved'",
                "http://terminology.hl7.org/CodeSystem/condition-clinical",
            ),
            _in(
                "verificationStatus",
                "'unconfirmed' | 'provisional' | 'differential' | 'confirmed' | 'refuted' | 'entered-in-error'",
                "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            ),
            _coded_or_text("code"),
        ],
        "invariants": {
            "con-3": "clinicalStatus.exists() or verificationStatus.coding.where("
            "system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and "
            "code='entered-in-error').exists() or category.select($this='problem-list-item').empty()",
            "con-4": "abatement.empty() or clinicalStatus.coding.where("
            "system='http://terminology.hl7.org/CodeSystem/condition-clinical' and "
            "(code='resolved' or code='remission' or code='inactive')).exists()",
            "con-5": "verificationStatus.coding.where("
            "system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and "
            "code='entered-in-error').empty() or clinicalStatus.empty()",
        },
    },
    f"{UC}/us-core-observation-lab": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-observation-lab.html",
        "required": ["status.exists()", "category.exists()", "code.exists()", "subject.exists()"],
        "must_support": ["effective.exists()", "value.exists()"],
        "bindings": [
            _code_in("status", OBS_STATUS),
            (
                "category.coding.where(system='http://terminology.hl7.org/CodeSystem/observation-category' "
                "and code='laboratory').exists()"
            ),
            "code.coding.where(system='http://loinc.org').exists()",
        ],
        "invariants": {
            "us-core-2": "(component.empty() and hasMember.empty()) implies "
            "(dataAbsentReason.exists() or value.exists())",
            "obs-6": "dataAbsentReason.empty() or value.empty()",
        },
    },
    f"{UC}/us-core-vital-signs": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-vital-signs.html",
        "required": [
            "status.exists()",
            "category.exists()",
            "code.exists()",
            "subject.exists()",
            "effective.exists()",
        ],
        "must_support": ["value.exists() or component.exists()"],
        "bindings": [
            _code_in("status", OBS_STATUS),
            (
                "category.coding.where(system='http://terminology.hl7.org/CodeSystem/observation-category' "
                "and code='vital-signs').exists()"
            ),
            "(value as Quantity).all(system = 'http://unitsofmeasure.org' and code.exists())",
        ],
        "invariants": {
            "vs-2": "(component.empty() and hasMember.empty()) implies "
            "(dataAbsentReason.exists() or value.exists())",
            "vs-3": "component.all(value.exists() or dataAbsentReason.exists())",
            "obs-6": "dataAbsentReason.empty() or value.empty()",
        },
    },
    f"{UC}/us-core-body-weight": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-body-weight.html",
        "required": [
            "code.coding.where(system='http://loinc.org' and code='29463-7').exists()",
            "(value as Quantity).value.exists()",
            "(value as Quantity).unit.exists()",
        ],
        "must_support": [],
        "bindings": [
            (
                "(value as Quantity).all(system = 'http://unitsofmeasure.org' "
                "and code in ('kg' | 'g' | '[lb_av]'))"
            ),
        ],
        "invariants": {},
    },
    f"{UC}/us-core-blood-pressure": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-blood-pressure.html",
        "required": [
            "code.coding.where(system='http://loinc.org' and code='85354-9').exists()",
            (
                "component.where(code.coding.where(system='http://loinc.org' and "
                "code='8480-6').exists()).exists()"
            ),
            (
                "component.where(code.coding.where(system='http://loinc.org' and "
                "code='8462-4').exists()).exists()"
            ),
        ],
        "must_support": [],
        "bindings": [
            (
                "component.all((value as Quantity).all(system = 'http://unitsofmeasure.org' "
                "and code = 'mm[Hg]'))"
            ),
        ],
        "invariants": {
            "obs-7": "value.empty() or component.code.where("
            "coding.intersect(%resource.code.coding).exists()).empty()",
        },
    },
    f"{UC}/us-core-observation-screening-assessment": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-observation-screening-assessment.html",
        "required": ["status.exists()", "category.exists()", "code.exists()", "subject.exists()"],
        "must_support": ["effective.exists()", "value.exists()", "derivedFrom.exists()"],
        "bindings": [
            _code_in("status", OBS_STATUS),
            (
                "category.coding.where(system='http://terminology.hl7.org/CodeSystem/observation-category' "
                "and code='survey').exists()"
            ),
            _coded_or_text("code"),
        ],
        "invariants": {"obs-6": "dataAbsentReason.empty() or value.empty()"},
    },
    f"{UC}/us-core-encounter": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-encounter.html",
        "required": ["status.exists()", "class.exists()", "type.exists()", "subject.exists()"],
        "must_support": ["period.exists()", "serviceProvider.exists()"],
        "bindings": [
            _code_in(
                "status",
                "'planned' | 'arrived' | 'triaged' | 'in-progress' | 'onleave' | 'finished' "
                "| 'cancelled' | 'entered-in-error' | 'unknown'",
            ),
            "class.system = 'http://terminology.hl7.org/CodeSystem/v3-ActCode'",
            _coded_or_text("type"),
        ],
        "invariants": {},
    },
    f"{UC}/us-core-goal": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-goal.html",
        "required": ["lifecycleStatus.exists()", "description.exists()", "subject.exists()"],
        "must_support": [],
        "bindings": [
            _code_in(
                "lifecycleStatus",
                "'proposed' | 'planned' | 'accepted' | 'active' | 'on-hold' | 'completed' "
                "| 'cancelled' | 'entered-in-error' | 'rejected'",
            ),
            _coded_or_text("description"),
        ],
        "invariants": {
            "gol-1": "target.all((detail.exists() and measure.exists()) or detail.exists().not())",
        },
    },
    f"{UC}/us-core-careplan": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-careplan.html",
        "required": [
            "text.exists()",
            "text.status.exists()",
            "status.exists()",
            "intent.exists()",
            "category.exists()",
            "subject.exists()",
        ],
        "must_support": ["text.`div`.exists()"],
        "bindings": [
            _code_in("text.status", "'generated' | 'extensions' | 'additional' | 'empty'"),
            _code_in(
                "status",
                "'draft' | 'active' | 'on-hold' | 'revoked' | 'completed' | 'entered-in-error' "
                "| 'unknown'",
            ),
            _code_in("intent", "'proposal' | 'plan' | 'order' | 'option'"),
            (
                "category.coding.where(system='http://hl7.org/fhir/us/core/CodeSystem/careplan-category' "
                "and code='assess-plan').exists()"
            ),
        ],
        "invariants": {"cpl-3": "activity.all(detail.empty() or reference.empty())"},
    },
    "http://hl7.org/fhir/us/mcc/StructureDefinition/mccCarePlan": {
        "page": "https://hl7.org/fhir/us/mcc/STU1/StructureDefinition-mccCarePlan.html",
        "required": ["subject.reference.startsWith('Patient/')"],
        "must_support": [
            "addresses.exists()",
            "goal.exists()",
            "activity.exists()",
            "contributor.exists()",
            # https://hl7.org/fhir/us/mcc/STU1/StructureDefinition-custodian.html
            (
                "extension.where(url = 'http://hl7.org/fhir/us/mcc/StructureDefinition/custodian')"
                ".value.ofType(Reference).reference.startsWith('Practitioner/')"
            ),
        ],
        "bindings": [],
        # the base Extension invariant, which the custodian extension (a valueReference) keeps
        "invariants": {"ext-1": "extension.all(extension.exists() != value.exists())"},
    },
    # Declared by the medication export (carecore_fhir.clinical).
    f"{UC}/us-core-medicationrequest": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-medicationrequest.html",
        "required": [
            "status.exists()",
            "intent.exists()",
            "medication.exists()",
            "subject.exists()",
            "requester.exists()",  # 1..1 in 6.1 (7.0 relaxed it to the us-core-21 invariant)
        ],
        "must_support": [
            "authoredOn.exists()",
            "dosageInstruction.text.exists()",
            "subject.reference.startsWith('Patient/')",
            # the prescriber when carecore knows one, else US Core's data absent reason
            (
                "requester.reference.startsWith('Practitioner/') or requester.extension.where("
                "url = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason').exists()"
            ),
            "reported.exists() implies intent = 'plan'",
        ],
        "bindings": [
            _code_in(
                "status",
                "'active' | 'on-hold' | 'cancelled' | 'completed' | 'entered-in-error' "
                "| 'stopped' | 'draft' | 'unknown'",
            ),
            _code_in(
                "intent",
                "'proposal' | 'plan' | 'order' | 'original-order' | 'reflex-order' "
                "| 'filler-order' | 'instance-order' | 'option'",
            ),
            _coded_or_text("(medication as CodeableConcept)"),
        ],
        "invariants": {},
    },
    f"{UC}/us-core-careteam": {
        "page": "https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-careteam.html",
        "required": [
            "subject.exists()",
            "participant.exists()",
            "participant.all(role.count() = 1 and member.exists())",
        ],
        "must_support": ["status.exists()"],
        "bindings": [
            _code_in(
                "status", "'proposed' | 'active' | 'suspended' | 'inactive' | 'entered-in-error'"
            ),
            _coded_or_text("participant.role"),
        ],
        "invariants": {},
    },
}


def _true(resource, expression):
    return fhirpathpy.evaluate(resource, expression, {"resource": resource}, models["r4"]) == [True]


@pytest.fixture(scope="module")
def rich_resources(tmp_path_factory):
    """A patient with every kind of record carecore exports, plus the demo's patients."""
    import importlib.util
    from pathlib import Path

    from carecore.clock import FixedClock
    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    spec = importlib.util.spec_from_file_location(
        "fhir_test_export", Path(__file__).with_name("test_export.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _rich_record = module._rich_record

    url = f"sqlite:///{tmp_path_factory.mktemp('profiles') / 'p.db'}"
    with CareProgram.open(
        url,
        actor="t",
        clock=FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC")),
        plugin_manager=get_plugin_manager(entry_points=False),
    ) as program:
        _rich_record(program)
        with program.transaction("weight") as tx:
            tx.add(
                ContactPreferences(patient_id="p1", phone="+13125550100", email="ada@example.org")
            )
            tx.add(
                PatientAddress(
                    patient_id="p1",
                    address=PostalAddress(
                        line1="1 Elm St", city="Evanston", state="IL", postal_code="602011234"
                    ),
                )
            )
            tx.add(
                Observation(
                    id="w1",
                    patient_id="p1",
                    measure="Body weight",
                    loinc="29463-7",
                    value=decimal.Decimal("81.5"),
                    unit="kg",
                    on=pendulum.Date(2026, 1, 5),
                )
            )
            tx.add(
                MedicationStatement(
                    id="m1",
                    patient_id="p1",
                    source=MedicationSource.EHR,
                    rxnorm="314076",
                    text="Lisinopril 10 MG Oral Tablet",
                    dose="10 mg",
                    frequency="daily",
                    start=pendulum.Date(2026, 1, 5),
                    prescriber_id="dr1",
                )
            )
            tx.add(
                MedicationStatement(
                    id="m2",
                    patient_id="p1",
                    source=MedicationSource.PATIENT_REPORTED,
                    text="Fish oil 1000 MG",
                    dose="1000 mg",
                    start=pendulum.Date(2026, 2, 1),
                )
            )
        bundle = export_patient(program, "p1")
    return [e["resource"] for e in bundle["entry"]]


@pytest.fixture(scope="module")
def demo_resources(demo_program):
    with demo_program.transaction("test") as tx:
        ids = sorted(p.id for p in tx.all(Patient))
    return [e["resource"] for pid in ids[::4] for e in export_patient(demo_program, pid)["entry"]]


def test_each_profile_the_export_declares_has_its_table():
    assert set(profiles.REQUIRED) <= set(PROFILES)


def test_every_profile_is_declared_by_some_export_and_has_its_table(rich_resources, demo_resources):
    declared = {
        p for r in rich_resources + demo_resources for p in (r.get("meta") or {}).get("profile", ())
    }
    assert set(profiles.REQUIRED) <= declared
    assert declared <= set(PROFILES), "a declared profile has no table here"


@pytest.mark.parametrize("rule", ["required", "bindings", "invariants"])
def test_declared_profiles_hold(rule, rich_resources, demo_resources):
    broken = []
    for resource in rich_resources + demo_resources:
        for url in (resource.get("meta") or {}).get("profile", ()):
            table = PROFILES[url]
            checks = table[rule].items() if rule == "invariants" else enumerate(table[rule])
            for key, expression in checks:
                if not _true(resource, expression):
                    broken.append((f"{resource['resourceType']}/{resource['id']}", url, key))
    assert broken == []


def test_the_must_supports_carecore_holds_are_written(rich_resources):
    missing = [
        (r["resourceType"], url, expression)
        for r in rich_resources
        for url in (r.get("meta") or {}).get("profile", ())
        for expression in PROFILES[url]["must_support"]
        if not _true(r, expression)
    ]
    assert missing == []


def test_resources_without_a_profile_are_the_expected_kinds(rich_resources):
    bare = {r["resourceType"] for r in rich_resources if not (r.get("meta") or {}).get("profile")}
    assert bare == {
        "Practitioner",
        "Coverage",
        "Task",
        "ServiceRequest",
        "Consent",
        "EpisodeOfCare",
        "QuestionnaireResponse",
    }


def test_the_rules_catch_what_breaks_a_profile(rich_resources):
    """Each kind of rule fails on a resource broken the way it forbids (the rules can fail)."""
    patient = next(r for r in rich_resources if r["resourceType"] == "Patient")
    table = PROFILES[f"{UC}/us-core-patient"]
    assert not _true({**patient, "identifier": []}, table["required"][0])
    assert not _true({**patient, "gender": "bogus"}, table["bindings"][0])
    condition = next(r for r in rich_resources if r["resourceType"] == "Condition")
    con4 = PROFILES[f"{UC}/us-core-condition-problems-health-concerns"]["invariants"]["con-4"]
    assert not _true({**condition, "abatementDateTime": "2026-02-01"}, con4)
    request = next(r for r in rich_resources if r["resourceType"] == "MedicationRequest")
    needed = PROFILES[f"{UC}/us-core-medicationrequest"]["required"]
    assert all(_true(request, rule) for rule in needed)
    assert not _true({k: v for k, v in request.items() if k != "requester"}, needed[-1])
    weight = next(r for r in rich_resources if r["id"] == "w1")
    unit = PROFILES[f"{UC}/us-core-body-weight"]["bindings"][0]
    assert not _true(
        {**weight, "valueQuantity": {**weight["valueQuantity"], "code": "kg/m2"}}, unit
    )


def test_medication_requests_declare_us_core_and_name_an_absent_prescriber(rich_resources):
    requests = {r["id"]: r for r in rich_resources if r["resourceType"] == "MedicationRequest"}
    assert set(requests) == {"m1", "m2"}
    for request in requests.values():
        assert request["meta"]["profile"] == [f"{UC}/us-core-medicationrequest"]
        assert problems(request) == []
    assert requests["m1"]["requester"]["reference"].startswith("Practitioner/")
    assert requests["m2"]["intent"] == "plan"
    assert requests["m2"]["requester"]["extension"] == [
        {
            "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
            "valueCode": "unknown",
        }
    ]
    broken = {k: v for k, v in requests["m1"].items() if k != "requester"}
    assert [str(p) for p in profile_problems(broken)] == [
        f"MedicationRequest/m1.requester: is required by {UC}/us-core-medicationrequest"
    ]


def test_the_export_refuses_what_misses_a_declared_profiles_required_element(rich_resources):
    goal = next(r for r in rich_resources if r["resourceType"] == "Goal")
    assert problems(goal) == []
    broken = {k: v for k, v in goal.items() if k != "description"}
    assert [str(p) for p in profile_problems(broken)] == [
        f"Goal/{goal['id']}.description: is required by {UC}/us-core-goal"
    ]
