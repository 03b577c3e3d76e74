"""The US Core 6.1 and MCC eCare Plan profiles carecore's exports declare, and what they require.

:func:`profiles_for` chooses a resource's profiles from its type and content;
:func:`declare` writes them into ``meta.profile``. :data:`REQUIRED` lists the
elements each profile makes mandatory (minimum cardinality 1), as the guides'
published profile tables give them, and :func:`missing` names the ones a
resource lacks; the export refuses such a resource rather than declare a
profile it does not meet.

Sources: US Core 6.1.0 (https://hl7.org/fhir/us/core/STU6.1/), MCC eCare Plan
1.0.0 (https://hl7.org/fhir/us/mcc/STU1/).

>>> profiles_for({"resourceType": "Observation", "code": {"coding": [
...     {"system": "http://loinc.org", "code": "29463-7"}]}})[0].rsplit("/", 1)[1]
'us-core-body-weight'
>>> profiles_for({"resourceType": "Coverage"})
()
"""

from __future__ import annotations

from typing import Any

from carecore_fhir import codes

__all__ = [
    "MCC",
    "MCC_CAREPLAN",
    "REQUIRED",
    "US_CORE",
    "declare",
    "missing",
    "profiles_for",
]

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition"
MCC = "http://hl7.org/fhir/us/mcc/StructureDefinition"

PATIENT = f"{US_CORE}/us-core-patient"
CONDITION = f"{US_CORE}/us-core-condition-problems-health-concerns"
LAB = f"{US_CORE}/us-core-observation-lab"
VITAL_SIGNS = f"{US_CORE}/us-core-vital-signs"
BODY_WEIGHT = f"{US_CORE}/us-core-body-weight"
BLOOD_PRESSURE = f"{US_CORE}/us-core-blood-pressure"
SCREENING = f"{US_CORE}/us-core-observation-screening-assessment"
ENCOUNTER = f"{US_CORE}/us-core-encounter"
GOAL = f"{US_CORE}/us-core-goal"
CAREPLAN = f"{US_CORE}/us-core-careplan"
CARETEAM = f"{US_CORE}/us-core-careteam"
MEDICATIONREQUEST = f"{US_CORE}/us-core-medicationrequest"
MCC_CAREPLAN = f"{MCC}/mccCarePlan"

#: Elements each profile requires (dotted paths; every item of a list must have the rest).
#: From each profile's "Mandatory" elements (minimum cardinality 1) in US Core 6.1.0.
REQUIRED: dict[str, tuple[str, ...]] = {
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-patient.html
    PATIENT: ("identifier", "identifier.system", "identifier.value", "name", "gender"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-condition-problems-health-concerns.html
    CONDITION: ("category", "code", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-observation-lab.html
    LAB: ("status", "category", "code", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-vital-signs.html
    VITAL_SIGNS: ("status", "category", "code", "subject", "effectiveDateTime"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-body-weight.html
    BODY_WEIGHT: (
        "status",
        "category",
        "code",
        "subject",
        "effectiveDateTime",
        "valueQuantity.value",
        "valueQuantity.unit",
        "valueQuantity.system",
        "valueQuantity.code",
    ),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-blood-pressure.html
    BLOOD_PRESSURE: (
        "status",
        "category",
        "code",
        "subject",
        "effectiveDateTime",
        "component",
        "component.code",
        "component.valueQuantity.value",
        "component.valueQuantity.unit",
        "component.valueQuantity.system",
        "component.valueQuantity.code",
    ),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-observation-screening-assessment.html
    SCREENING: ("status", "category", "code", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-encounter.html
    ENCOUNTER: ("status", "class", "type", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-goal.html
    GOAL: ("lifecycleStatus", "description", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-careplan.html
    CAREPLAN: ("text", "text.status", "status", "intent", "category", "subject"),
    # https://hl7.org/fhir/us/mcc/STU1/StructureDefinition-mccCarePlan.html (adds no mandatory
    # element to US Core CarePlan; it makes addresses, goal, activity, contributor must-support)
    MCC_CAREPLAN: ("text", "text.status", "status", "intent", "category", "subject"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-careteam.html
    CARETEAM: ("subject", "participant", "participant.role", "participant.member"),
    # https://hl7.org/fhir/us/core/STU6.1/StructureDefinition-us-core-medicationrequest.html
    # (medication[x]: carecore writes the CodeableConcept choice; requester is 1..1 in 6.1)
    MEDICATIONREQUEST: ("status", "intent", "medicationCodeableConcept", "subject", "requester"),
}

_LAB_LOINC = frozenset({"4548-4", "17856-6"})
_BODY_WEIGHT_LOINC = "29463-7"
_BP_LOINC = "85354-9"  # the code the blood-pressure profile fixes


def _loinc_codes(concept: object) -> set[str]:
    if not isinstance(concept, dict):
        return set()
    return {
        str(c.get("code"))
        for c in concept.get("coding", ())
        if isinstance(c, dict) and c.get("system") == codes.LOINC
    }


def _categories(resource: dict[str, Any]) -> set[str]:
    return {
        str(c.get("code"))
        for concept in resource.get("category", ())
        if isinstance(concept, dict)
        for c in concept.get("coding", ())
        if isinstance(c, dict)
    }


def _observation_profiles(resource: dict[str, Any]) -> tuple[str, ...]:
    loinc = _loinc_codes(resource.get("code"))
    if _BP_LOINC in loinc:
        return (BLOOD_PRESSURE, VITAL_SIGNS)
    if _BODY_WEIGHT_LOINC in loinc:
        return (BODY_WEIGHT, VITAL_SIGNS)
    if loinc & _LAB_LOINC:
        return (LAB,)
    if "survey" in _categories(resource):
        return (SCREENING,)
    return ()


def profiles_for(resource: dict[str, Any]) -> tuple[str, ...]:
    """The profiles *resource* (as carecore exports it) declares; empty when none applies."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        return _observation_profiles(resource)
    if kind == "Condition":
        return (CONDITION,) if "problem-list-item" in _categories(resource) else ()
    return {
        "Patient": (PATIENT,),
        "Encounter": (ENCOUNTER,),
        "Goal": (GOAL,),
        "CarePlan": (CAREPLAN, MCC_CAREPLAN),
        "CareTeam": (CARETEAM,),
        "MedicationRequest": (MEDICATIONREQUEST,),
    }.get(str(kind), ())


def declare(resource: dict[str, Any]) -> dict[str, Any]:
    """*resource* with its profiles in ``meta.profile`` (others it declares are kept).

    >>> declare({"resourceType": "Goal", "id": "g1"})["meta"]["profile"]
    ['http://hl7.org/fhir/us/core/StructureDefinition/us-core-goal']
    """
    found = profiles_for(resource)
    if found:
        meta = dict(resource.get("meta") or {})
        have = list(meta.get("profile", ()))
        meta["profile"] = have + [p for p in found if p not in have]
        resource["meta"] = meta
    return resource


def _present(value: object, parts: list[str]) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_present(item, parts) for item in value)
    if not parts:
        return value not in (None, "", {}, [])
    if not isinstance(value, dict):
        return False
    return _present(value.get(parts[0]), parts[1:])


def missing(resource: dict[str, Any]) -> list[tuple[str, str]]:
    """``(profile, path)`` of each element a declared profile requires and *resource* lacks.

    >>> missing({"resourceType": "Goal", "meta": {"profile": [GOAL]}, "lifecycleStatus": "active",
    ...          "subject": {"reference": "Patient/p1"}})
    [('http://hl7.org/fhir/us/core/StructureDefinition/us-core-goal', 'description')]
    """
    declared = (resource.get("meta") or {}).get("profile", ())
    return [
        (profile, path)
        for profile in declared
        for path in REQUIRED.get(profile, ())
        if not _present(resource, path.split("."))
    ]
