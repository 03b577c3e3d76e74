"""carecore values to FHIR R4 resources (plain dicts), and a patient's record as a Bundle.

Care plans follow US Core CarePlan (narrative, status, intent, the
``assess-plan`` category) and the HL7 MCC eCare Plan guide (``addresses``,
``goal``, activities that reference Task or ServiceRequest, ``careTeam``,
``contributor``). The parts of a carecore plan FHIR has no element for
(barriers, symptom action plans, review schedule...) travel in one carecore
extension, so carecore reads its own export back without loss; other
readers see them in the narrative.

>>> import pendulum
>>> from carecore.model import CarePlan, ServiceFamily
>>> plan = CarePlan(id="cp1", patient_id="p1", title="Diabetes", families=[ServiceFamily.CCM],
...                 created_on=pendulum.Date(2026, 1, 5))
>>> doc = careplan_resources(plan)[0]
>>> doc["status"], doc["intent"], doc["category"][0]["coding"][0]["code"]
('draft', 'plan', 'assess-plan')
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore._redact import redact
from carecore.access import Action
from carecore.convert import to_primitive
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    AssessmentResult,
    CarePlan,
    CareSetting,
    CareTeam,
    Comparator,
    Condition,
    Consent,
    ContactPreferences,
    Coverage,
    Enrollment,
    EnrollmentStatus,
    Goal,
    MedicationStatement,
    Observation,
    Patient,
    PatientAddress,
    PatientClass,
    PostalAddress,
    Practitioner,
    ReferralStatus,
    Task,
)
from carecore_fhir import codes, profiles, validate
from carecore_fhir.addresses import address_resource

if TYPE_CHECKING:
    from decimal import Decimal

    from carecore.service import CareProgram

__all__ = [
    "careplan_resources",
    "export_patient",
    "fhir_id",
    "find_patient",
    "to_fhir",
]

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
EXT = f"{codes.CARECORE}/StructureDefinition"
GOAL_ID = f"{codes.CARECORE}/goal-id"
PATIENT_ID = codes.PATIENT_ID
TASK_ID = f"{codes.CARECORE}/task-id"
PROBLEM_ID = f"{codes.CARECORE}/problem-id"
CAREPLAN_EXTRAS = f"{EXT}/careplan-extras"
#: https://hl7.org/fhir/us/mcc/STU1/StructureDefinition-custodian.html
MCC_CUSTODIAN = "http://hl7.org/fhir/us/mcc/StructureDefinition/custodian"
#: What FHIR has no element for, as carecore JSON: a consent's billing practitioner, cost-sharing
#: note and revocation day; an enrollment's program and status history; a result's scoring.
CONSENT_EXTRAS = f"{EXT}/consent"
ENROLLMENT_EXTRAS = f"{EXT}/enrollment"
ASSESSMENT_EXTRAS = f"{EXT}/assessment"
CONTACT_EXTRAS = f"{EXT}/contact-preferences"


def _extras(url: str, values: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in values.items() if v not in (None, [], (), "")}
    return {"url": url, "valueString": json.dumps(kept, separators=(",", ":"), sort_keys=True)}


_EXTRA_FIELDS = (
    "barriers",
    "symptom_plans",
    "assessments",
    "expected_outcome",
    "medication_management",
    "review",
    "shared_with_patient_on",
    "last_reviewed_on",
)


def fhir_id(carecore_id: str) -> str:
    """*carecore_id* as a FHIR id (letters, digits, ``-`` and ``.``; 1 to 64): itself when it is one.

    Another id keeps its allowed characters (others become ``-``) and gains a
    hash of the whole id, so two carecore ids never share a FHIR id.

    >>> fhir_id("p-0076")
    'p-0076'
    >>> fhir_id("a1:total")
    'a1-total-308cc9efab77e55b'
    >>> len(fhir_id("x" * 100))
    64
    """
    if _ID.fullmatch(carecore_id):
        return carecore_id
    readable = re.sub(r"[^A-Za-z0-9\-.]", "-", carecore_id)[:47]
    return f"{readable}-{hashlib.sha256(carecore_id.encode()).hexdigest()[:16]}"


def part_id(owner: str, part: str) -> str:
    """A FHIR id for a part of *owner* (a goal of a plan): readable when it fits, hashed when not.

    A part whose own id is a UUID (unique anywhere) keeps it.

    >>> part_id("cp1", "g1")
    'cp1-g1'
    >>> len(part_id("x" * 40, "y" * 40))
    32
    >>> part_id("cp1", "2a7bec9e-c9c9-4008-b02c-f8de95553c6f")
    '2a7bec9e-c9c9-4008-b02c-f8de95553c6f'
    """
    if _UUID.fullmatch(part):
        return part
    candidate = f"{owner}-{part}"
    if _ID.fullmatch(candidate):
        return candidate
    return hashlib.sha256(f"{owner}/{part}".encode()).hexdigest()[:32]


def _ref(kind: str, rid: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": f"{kind}/{fhir_id(rid)}"}
    if display:
        ref["display"] = display
    return ref


def _practitioner(practitioner_id: str, known: set[str] | None) -> dict[str, Any]:
    """A reference to a practitioner the export carries, else the practitioner's id as display.

    *known* None: every practitioner is taken to be carried (one resource exported alone).
    """
    if known is None or practitioner_id in known:
        return _ref("Practitioner", practitioner_id)
    return {"display": practitioner_id}


def _number(value: Decimal) -> float | int:
    """*value* as a JSON number written as carecore holds it (``8`` stays 8, ``8.0`` stays 8.0)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0 and abs(value) < 2**53:
        return int(value)
    return float(value)


def _narrative(*lines: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


# -- one resource each ------------------------------------------------------------------------


def patient_resource(
    patient: Patient,
    address: PostalAddress | None = None,
    contact: ContactPreferences | None = None,
) -> dict[str, Any]:
    """A carecore Patient as a FHIR Patient (time zone in the core ``timezone`` extension).

    With *contact*, the phone and email are ``telecom``, the language ``communication``, and
    the preferences FHIR has no element for (channels, opt-outs, quiet hours) travel in
    carecore's ``contact-preferences`` extension.
    """
    doc: dict[str, Any] = {
        "resourceType": "Patient",
        "id": fhir_id(patient.id),
        "extension": [{"url": codes.TIMEZONE_EXTENSION, "valueCode": patient.time_zone}],
        "identifier": [{"system": i.system, "value": i.value} for i in patient.identifiers],
        "name": [
            {
                "use": "official",
                "family": patient.family_name,
                "given": patient.given_name.split(" "),
            }
        ],
        "gender": patient.sex.value,
        "birthDate": patient.birth_date.isoformat(),
    }
    if patient.date_of_death is not None:
        doc["deceasedDateTime"] = patient.date_of_death.isoformat()
    if address is not None:
        doc["address"] = [address_resource(address)]
    if contact is not None:
        _contact(doc, contact)
    # US Core needs an identifier: carecore's id is always one, under its own system and
    # last, after the stored identifiers as they are. Reading carecore's export back drops
    # this last one, so the patient keeps exactly its identifiers (map_patient).
    doc["identifier"].append({"system": PATIENT_ID, "value": patient.id})
    doc["text"] = _narrative(
        f"{patient.given_name} {patient.family_name}, born {patient.birth_date}"
    )
    return doc


def _contact(doc: dict[str, Any], contact: ContactPreferences) -> None:
    telecom = []
    if contact.phone:
        telecom.append({"system": "phone", "value": contact.phone, "use": "mobile"})
    if contact.email:
        telecom.append({"system": "email", "value": contact.email})
    if telecom:
        doc["telecom"] = telecom
    doc["communication"] = [
        {"language": {"coding": [{"system": codes.BCP47, "code": contact.language}]}}
    ]
    kept = to_primitive(contact)
    del kept["patient_id"]
    doc["extension"].append(_extras(CONTACT_EXTRAS, kept))


def practitioner_resource(practitioner: Practitioner) -> dict[str, Any]:
    """A carecore Practitioner as a FHIR Practitioner, credential as a qualification."""
    codings = [{"system": codes.CREDENTIAL_SYSTEM, "code": practitioner.credential.value}]
    doc: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": fhir_id(practitioner.id),
        "name": [{"text": practitioner.name}],
        "qualification": [{"code": {"coding": codings, "text": practitioner.credential.value}}],
    }
    if practitioner.npi:
        doc["identifier"] = [
            {"system": "http://hl7.org/fhir/sid/us-npi", "value": practitioner.npi}
        ]
    return doc


def condition_resource(condition: Condition) -> dict[str, Any]:
    """A carecore Condition as a FHIR Condition (problem-list item), with carecore's attestation."""
    status = "resolved" if condition.abatement is not None else "active"
    coding: dict[str, Any] = {
        "system": condition.coding.system.value,
        "code": condition.coding.code,
    }
    if condition.coding.display:
        coding["display"] = condition.coding.display
    concept: dict[str, Any] = {"coding": [coding]}
    if condition.coding.display:
        concept["text"] = condition.coding.display
    attestation = [
        {"url": "chronic", "valueBoolean": condition.chronic},
        {"url": "significantRisk", "valueBoolean": condition.significant_risk},
        {"url": "behavioral", "valueBoolean": condition.behavioral},
    ]
    if condition.expected_duration_months is not None:
        attestation.append(
            {"url": "expectedDurationMonths", "valueInteger": condition.expected_duration_months}
        )
    doc: dict[str, Any] = {
        "resourceType": "Condition",
        "id": fhir_id(condition.id),
        "extension": [{"url": f"{EXT}/condition-attestation", "extension": attestation}],
        "clinicalStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", status
        ),
        "verificationStatus": _concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
        ),
        "category": [
            _concept(
                "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item"
            )
        ],
        "code": concept,
        "subject": _ref("Patient", condition.patient_id),
    }
    if condition.onset is not None:
        doc["onsetDateTime"] = condition.onset.isoformat()
    if condition.abatement is not None:
        doc["abatementDateTime"] = condition.abatement.isoformat()
    return doc


#: UCUM codes carecore's units are written in (https://ucum.org); a unit not here has no code.
_UCUM = frozenset({"%", "kg", "g", "[lb_av]", "mm[Hg]", "{score}", "/min", "Cel", "[degF]", "cm"})
_SCORE_LOINC = frozenset(code for code, _ in codes.SCORE_LOINC.values())


def _quantity(value: Decimal, unit: str) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": _number(value), "unit": unit}
    if unit in _UCUM:
        quantity["system"] = codes.UCUM
        quantity["code"] = unit
    return quantity


def _observation(obs: Observation, components: list[Observation] | None = None) -> dict[str, Any]:
    if obs.loinc in {"4548-4", "17856-6"}:
        category = "laboratory"
    elif obs.loinc in _SCORE_LOINC or obs.unit == "{score}":
        category = "survey"
    else:
        category = "vital-signs"
    doc: dict[str, Any] = {
        "resourceType": "Observation",
        "id": fhir_id(obs.id),
        "status": "final",
        "category": [
            _concept("http://terminology.hl7.org/CodeSystem/observation-category", category)
        ],
        "subject": _ref("Patient", obs.patient_id),
        "effectiveDateTime": obs.on.isoformat(),
    }
    if components:
        doc["code"] = {
            "coding": [
                {"system": codes.LOINC, "code": codes.BP_PANEL, "display": "Blood pressure panel"}
            ],
            "text": "Blood pressure",
        }
        doc["component"] = [
            {
                "code": {
                    "coding": [{"system": codes.LOINC, "code": c.loinc, "display": c.measure}],
                    "text": c.measure,
                },
                "valueQuantity": _quantity(c.value, c.unit),
            }
            for c in components
        ]
        return doc
    code: dict[str, Any] = {"text": obs.measure}
    if obs.loinc:
        code["coding"] = [{"system": codes.LOINC, "code": obs.loinc, "display": obs.measure}]
    doc["code"] = code
    doc["valueQuantity"] = _quantity(obs.value, obs.unit)
    return doc


def observation_resources(observations: list[Observation]) -> list[dict[str, Any]]:
    """Observations as FHIR Observations; a systolic/diastolic pair read from one panel is one panel again."""
    by_id = {o.id: o for o in observations}
    done: set[str] = set()
    out = []
    for obs in observations:
        if obs.id in done:
            continue
        if obs.loinc in codes.BP_COMPONENTS and obs.id.endswith(f"-{obs.loinc}"):
            base = obs.id.removesuffix(f"-{obs.loinc}")
            pair = [by_id.get(f"{base}-{c}") for c in codes.BP_COMPONENTS]
            parts = [p for p in pair if p is not None and p.on == obs.on]
            done.update(p.id for p in parts)
            panel = _observation(parts[0], parts)
            panel["id"] = fhir_id(base)
            out.append(panel)
            continue
        done.add(obs.id)
        out.append(_observation(obs))
    return out


def encounter_resource(event: AdtEvent) -> dict[str, Any] | None:
    """An inpatient admission or discharge as a FHIR Encounter (None for other events)."""
    if event.patient_class is not PatientClass.INPATIENT or event.kind not in {
        AdtEventKind.ADMIT,
        AdtEventKind.DISCHARGE,
    }:
        return None
    period: dict[str, str] = {}
    if event.admitted_at is not None:
        period["start"] = event.admitted_at.isoformat()
    if event.discharged_at is not None:
        period["end"] = event.discharged_at.isoformat()
    stay = event.visit_number or event.id
    doc: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": stay if _ID.fullmatch(stay) else hashlib.sha256(stay.encode()).hexdigest()[:32],
        # US Core Encounter's must-support identifier: the visit number, as the hospital gave it.
        "identifier": [{"system": codes.VISIT_NUMBER, "value": stay}],
        "status": "finished" if event.kind is AdtEventKind.DISCHARGE else "in-progress",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP",
            "display": "inpatient encounter",
        },
        # US Core Encounter requires a type (extensible binding: CPT or SNOMED CT encounters).
        "type": [_concept(codes.SNOMED, "32485007", "Hospital admission")],
        "subject": _ref("Patient", event.patient_id),
        "period": period,
    }
    nubc = codes.DISPOSITION_OUT.get(event.to_setting or CareSetting.UNKNOWN)
    if nubc is not None:
        doc["hospitalization"] = {
            "dischargeDisposition": _concept(
                codes.NUBC_DISPOSITION, nubc, event.to_setting.value if event.to_setting else None
            )
        }
    if event.facility:
        doc["serviceProvider"] = {"display": event.facility}
    return doc


def _encounters(events: list[AdtEvent]) -> list[dict[str, Any]]:
    """One Encounter per stay: its discharge when there is one, else its admission."""
    latest: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.kind is AdtEventKind.DISCHARGE):
        doc = encounter_resource(event)
        if doc is not None:
            latest[doc["id"]] = doc
    return list(latest.values())


def coverage_resource(coverage: Coverage) -> dict[str, Any]:
    """A carecore Coverage as a FHIR Coverage."""
    doc: dict[str, Any] = {
        "resourceType": "Coverage",
        "id": fhir_id(coverage.id),
        "status": "active",
        "type": {
            "coding": [
                {
                    "system": f"{codes.CARECORE}/CodeSystem/coverage-plan",
                    "code": coverage.plan.value,
                }
            ]
        },
        "beneficiary": _ref("Patient", coverage.patient_id),
        "payor": [{"display": coverage.payer}],
    }
    if coverage.member_id:
        doc["subscriberId"] = coverage.member_id
    period = {}
    if coverage.start:
        period["start"] = coverage.start.isoformat()
    if coverage.end:
        period["end"] = coverage.end.isoformat()
    if period:
        doc["period"] = period
    return doc


def goal_resource(plan: CarePlan, goal: Goal) -> dict[str, Any]:
    """A goal of *plan* as a FHIR Goal (lifecycle and achievement kept apart, as in FHIR)."""
    problems = {p.id: p for p in plan.problems}
    doc: dict[str, Any] = {
        "resourceType": "Goal",
        "id": part_id(plan.id, goal.id),
        "identifier": [{"system": GOAL_ID, "value": goal.id}],
        "lifecycleStatus": goal.lifecycle.value,
        "achievementStatus": _concept(codes.GOAL_ACHIEVEMENT_SYSTEM, goal.achievement.value),
        "description": {"text": goal.description},
        "subject": _ref("Patient", plan.patient_id),
    }
    ext: list[dict[str, Any]] = [
        {"url": f"{EXT}/goal-problem", "valueString": pid} for pid in goal.problem_ids
    ]
    if goal.confidence is not None:
        ext.append({"url": f"{EXT}/goal-confidence", "valueInteger": goal.confidence})
    if ext:
        doc["extension"] = ext
    addresses = [
        _ref("Condition", cid)
        for pid in goal.problem_ids
        if pid in problems and (cid := problems[pid].condition_id)
    ]
    if addresses:
        doc["addresses"] = addresses
    if goal.target is not None:
        t = goal.target
        measure: dict[str, Any] = {"text": t.measure}
        if t.loinc:
            measure["coding"] = [{"system": codes.LOINC, "code": t.loinc}]
        quantity: dict[str, Any] = {"value": _number(t.value), "unit": t.unit}
        if t.comparator is not Comparator.EQ:
            quantity["comparator"] = t.comparator.value
        doc["target"] = [
            {"measure": measure, "detailQuantity": quantity, "dueDate": t.due.isoformat()}
        ]
    return doc


def task_resource(plan: CarePlan, task: Task, *, practitioners: set[str]) -> dict[str, Any]:
    """A task of *plan* as a FHIR Task (intent ``plan``; due in ``restriction.period.end``)."""
    owner = (
        _ref("Practitioner", task.owner) if task.owner in practitioners else {"display": task.owner}
    )
    doc: dict[str, Any] = {
        "resourceType": "Task",
        "id": part_id(plan.id, task.id),
        "identifier": [{"system": TASK_ID, "value": task.id}],
        "status": task.status.value,
        "intent": "plan",
        "code": {
            "coding": [{"system": codes.INTERVENTION_SYSTEM, "code": task.kind.value}],
            "text": task.kind.value,
        },
        "description": task.description,
        "for": _ref("Patient", plan.patient_id),
        "owner": owner,
        "basedOn": [_ref("CarePlan", plan.id)],
    }
    if task.goal_ids:
        doc["extension"] = [
            {"url": f"{EXT}/task-goal", "valueReference": _ref("Goal", part_id(plan.id, g))}
            for g in task.goal_ids
        ]
    if task.due is not None:
        doc["restriction"] = {"period": {"end": task.due.isoformat()}}
    if task.outcome is not None:
        doc["output"] = [{"type": {"text": "outcome"}, "valueString": task.outcome}]
    return doc


_SERVICE_REQUEST_STATUS = {
    ReferralStatus.DRAFT: "draft",
    ReferralStatus.SENT: "active",
    ReferralStatus.ACCEPTED: "active",
    ReferralStatus.COMPLETED: "completed",
    ReferralStatus.DECLINED: "revoked",
    ReferralStatus.CANCELLED: "revoked",
}


def referral_resource(plan: CarePlan, referral: Any) -> dict[str, Any]:
    """A referral of *plan* as a FHIR ServiceRequest (intent ``order``)."""
    return {
        "resourceType": "ServiceRequest",
        "id": part_id(plan.id, referral.id),
        "extension": [
            {
                "url": f"{EXT}/referral",
                "valueString": json.dumps(to_primitive(referral), separators=(",", ":")),
            }
        ],
        "status": _SERVICE_REQUEST_STATUS[referral.status],
        "intent": "order",
        "code": {"text": f"Referral to {referral.to}"},
        "subject": _ref("Patient", plan.patient_id),
        "performer": [{"display": referral.to}],
        "reasonCode": [{"text": referral.reason}],
    }


def careplan_resources(
    plan: CarePlan, *, care_teams: tuple[str, ...] = (), practitioners: set[str] | None = None
) -> list[dict[str, Any]]:
    """A care plan as a FHIR CarePlan followed by its Goals, Tasks and ServiceRequests."""
    practitioners = practitioners or set()
    goals = [goal_resource(plan, g) for g in plan.goals]
    tasks = [task_resource(plan, t, practitioners=practitioners) for t in plan.tasks]
    referrals = [referral_resource(plan, r) for r in plan.referrals]
    primitive = to_primitive(plan)
    extras = {k: primitive[k] for k in _EXTRA_FIELDS if primitive.get(k) not in (None, [], ())}
    unlinked = [to_primitive(p) for p in plan.problems if p.condition_id is None]
    if unlinked:
        extras["unlinked_problems"] = unlinked
    lines = [
        f"{plan.title} ({plan.status.value}, version {plan.version})",
        *(f"Problem: {p.description}" for p in plan.problems),
        *(
            f"Goal: {g.description}" + (f" - target {g.target}" if g.target else "")
            for g in plan.goals
        ),
        *(f"Task: {t.description} ({t.owner}, {t.status.value})" for t in plan.tasks),
        *(f"Referral: {r.to} - {r.reason} ({r.status.value})" for r in plan.referrals),
        *(f"Barrier: {b.description}" for b in plan.barriers),
        f"Expected outcome: {plan.expected_outcome}" if plan.expected_outcome else "",
    ]
    doc: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": fhir_id(plan.id),
        "meta": {"versionId": str(plan.version)},
        "text": _narrative(*lines),
        "status": plan.status.value,
        "intent": "plan",
        "category": [
            _concept(
                codes.US_CORE_CAREPLAN_CATEGORY, "assess-plan", "Assessment and Plan of Treatment"
            ),
            *(
                _concept(codes.FAMILY_SYSTEM, f.value)
                for f in sorted(plan.families, key=lambda f: f.value)
            ),
        ],
        "title": plan.title,
        "subject": _ref("Patient", plan.patient_id),
        "created": plan.created_on.isoformat(),
        "period": {"start": plan.created_on.isoformat()},
    }
    if extras:
        doc["extension"] = [
            {"url": CAREPLAN_EXTRAS, "valueString": json.dumps(extras, separators=(",", ":"))}
        ]
    if plan.expected_outcome:
        doc["description"] = plan.expected_outcome
    if plan.responsible_id:
        # MCC eCare Plan names the responsible party with its custodian extension (R4's author
        # is gone in R5); author stays for R4 readers.
        doc["author"] = _ref("Practitioner", plan.responsible_id)
        doc.setdefault("extension", []).append(
            {"url": MCC_CUSTODIAN, "valueReference": _ref("Practitioner", plan.responsible_id)}
        )
    if plan.contributors:
        doc["contributor"] = [_ref("Practitioner", c) for c in plan.contributors]
    if care_teams:
        doc["careTeam"] = [_ref("CareTeam", t) for t in care_teams]
    addresses = [
        {
            **_ref("Condition", p.condition_id, p.description),
            **(
                {"identifier": {"system": PROBLEM_ID, "value": p.id}}
                if p.id != p.condition_id
                else {}
            ),
        }
        for p in plan.problems
        if p.condition_id
    ]
    if addresses:
        doc["addresses"] = addresses
    if goals:
        doc["goal"] = [_ref("Goal", g["id"]) for g in goals]
    activity = [{"reference": _ref("Task", t["id"])} for t in tasks]
    activity += [{"reference": _ref("ServiceRequest", r["id"])} for r in referrals]
    if activity:
        doc["activity"] = activity
    return [profiles.declare(r) for r in (doc, *goals, *tasks, *referrals)]


def careteam_resource(team: CareTeam) -> dict[str, Any]:
    """A carecore CareTeam as a FHIR CareTeam with carecore's role codes."""
    return {
        "resourceType": "CareTeam",
        "id": fhir_id(team.id),
        "status": "active",
        "subject": _ref("Patient", team.patient_id),
        "participant": [
            {
                "role": [
                    {
                        "coding": [{"system": codes.ROLE_SYSTEM, "code": m.role.value}],
                        "text": m.role.value,
                    }
                ],
                "member": _ref("Practitioner", m.practitioner_id),
            }
            for m in team.members
        ],
    }


def consent_resource(consent: Consent, *, known: set[str] | None = None) -> dict[str, Any]:
    """A program consent as a FHIR Consent (scope ``treatment``, an opt-in policy rule)."""
    active = consent.effective_until is None
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": consent.obtained_on.isoformat()},
    }
    if consent.effective_until is not None:
        provision["period"]["end"] = consent.effective_until.isoformat()
    primitive = to_primitive(consent)
    return {
        "resourceType": "Consent",
        "id": fhir_id(consent.id),
        "extension": [
            _extras(
                CONSENT_EXTRAS,
                {
                    k: primitive[k]
                    for k in ("billing_practitioner_id", "cost_sharing_explained", "revoked_on")
                },
            )
        ],
        "text": _narrative(
            f"{consent.family.value} program consent, {consent.method.value}, obtained "
            f"{consent.obtained_on} by {consent.obtained_by}"
            + (f"; revoked {consent.revoked_on}" if consent.revoked_on else "")
            + ("; cost sharing explained" if consent.cost_sharing_explained else "")
        ),
        "status": "active" if active else "inactive",
        "scope": _concept("http://terminology.hl7.org/CodeSystem/consentscope", "treatment"),
        "category": [
            _concept(codes.LOINC, "59284-0", "Consent Document"),
            _concept(codes.FAMILY_SYSTEM, consent.family.value),
            _concept(codes.CONSENT_METHOD_SYSTEM, consent.method.value),
        ],
        "patient": _ref("Patient", consent.patient_id),
        "dateTime": consent.obtained_on.isoformat(),
        "performer": [_practitioner(consent.obtained_by, known)],
        "policyRule": _concept("http://terminology.hl7.org/CodeSystem/v3-ActCode", "OPTIN"),
        "provision": provision,
    }


def enrollment_resource(enrollment: Enrollment, *, known: set[str] | None = None) -> dict[str, Any]:
    """A program enrollment as a FHIR EpisodeOfCare with its status history."""
    history = []
    changes = list(enrollment.history)
    for index, change in enumerate(changes):
        period = {"start": change.on.isoformat()}
        if index + 1 < len(changes):
            period["end"] = changes[index + 1].on.isoformat()
        history.append({"status": codes.EPISODE_STATUS[change.status], "period": period})
    status = codes.EPISODE_STATUS[enrollment.status]
    if enrollment.status is EnrollmentStatus.DISENROLLED and enrollment.enrolled_on is None:
        status = "cancelled"
    period = {"start": changes[0].on.isoformat()}
    if enrollment.status is EnrollmentStatus.DISENROLLED:
        period["end"] = changes[-1].on.isoformat()
    primitive = to_primitive(enrollment)
    return {
        "resourceType": "EpisodeOfCare",
        "id": fhir_id(enrollment.id),
        "extension": [
            _extras(
                ENROLLMENT_EXTRAS,
                {"program_id": primitive["program_id"], "history": primitive["history"]},
            )
        ],
        "status": status,
        "statusHistory": history,
        "type": [_concept(codes.FAMILY_SYSTEM, enrollment.family.value)],
        "patient": _ref("Patient", enrollment.patient_id),
        "period": period,
        "careManager": _practitioner(enrollment.billing_practitioner_id, known),
    }


def assessment_resources(
    result: AssessmentResult, *, known: set[str] | None = None
) -> list[dict[str, Any]]:
    """An assessment as a FHIR QuestionnaireResponse and, when scored, a score Observation."""
    qr: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": fhir_id(result.id),
        "questionnaire": f"{codes.CARECORE}/Questionnaire/{result.instrument_id}",
        "status": "completed",
        "subject": _ref("Patient", result.patient_id),
        "authored": result.on.isoformat(),
        "item": [
            {"linkId": a.item, "answer": [{"valueString": value} for value in a.values]}
            for a in result.answers
        ],
    }
    if result.performer_id:
        qr["author"] = _practitioner(result.performer_id, known)
    scoring = to_primitive(result)
    extras = {k: scoring[k] for k in ("total", "band", "positive", "flags", "needs")}
    if any(v not in (None, [], ()) for v in extras.values()):
        qr["extension"] = [_extras(ASSESSMENT_EXTRAS, extras)]
    out = [qr]
    if result.total is not None:
        loinc = codes.SCORE_LOINC.get(result.instrument_id)
        code: dict[str, Any] = {"text": f"{result.instrument_id} total score"}
        if loinc:
            code["coding"] = [{"system": codes.LOINC, "code": loinc[0], "display": loinc[1]}]
        score: dict[str, Any] = {
            "resourceType": "Observation",
            "id": part_id(result.id, "score"),
            "status": "final",
            "category": [
                _concept("http://terminology.hl7.org/CodeSystem/observation-category", "survey")
            ],
            "code": code,
            "subject": _ref("Patient", result.patient_id),
            "effectiveDateTime": result.on.isoformat(),
            "valueInteger": result.total,
            "derivedFrom": [_ref("QuestionnaireResponse", result.id)],
        }
        if result.band:
            score["interpretation"] = [{"text": result.band}]
        out.append(score)
    return out


def _medication_request(statement: MedicationStatement) -> dict[str, Any]:
    from carecore_fhir.clinical import medication_request_resource  # noqa: PLC0415

    return medication_request_resource(statement)


def to_fhir(value: object) -> list[dict[str, Any]]:
    """Any exportable carecore value as the FHIR resources that carry it.

    >>> import pendulum
    >>> from carecore.model import Consent, ConsentMethod, ServiceFamily
    >>> doc = to_fhir(Consent(id="k1", patient_id="p1", family=ServiceFamily.CCM,
    ...     method=ConsentMethod.VERBAL, obtained_on=pendulum.Date(2026, 1, 5), obtained_by="rn1",
    ...     billing_practitioner_id="dr1", cost_sharing_explained=True))[0]
    >>> doc["resourceType"], doc["status"], doc["scope"]["coding"][0]["code"]
    ('Consent', 'active', 'treatment')
    """
    single = {
        Patient: patient_resource,
        Practitioner: practitioner_resource,
        Condition: condition_resource,
        Coverage: coverage_resource,
        CareTeam: careteam_resource,
        Consent: consent_resource,
        Enrollment: enrollment_resource,
        MedicationStatement: _medication_request,
    }
    for cls, fn in single.items():
        if isinstance(value, cls):
            return [profiles.declare(fn(value))]  # type: ignore[operator]
    if isinstance(value, CarePlan):
        return careplan_resources(value)
    if isinstance(value, AssessmentResult):
        return [profiles.declare(r) for r in assessment_resources(value)]
    if isinstance(value, Observation):
        return [profiles.declare(r) for r in observation_resources([value])]
    if isinstance(value, AdtEvent):
        doc = encounter_resource(value)
        return [profiles.declare(doc)] if doc is not None else []
    raise errors.InvalidValue(
        "carecore has no FHIR form for this value", field="value", value=type(value).__name__
    )


# -- a patient's record -----------------------------------------------------------------------


def find_patient(program: CareProgram, patient_id: str) -> Patient:
    """The patient with carecore id *patient_id*, or the one patient carrying it as an identifier.

    Raises :class:`~carecore.errors.NotFound` when none does, and
    :class:`~carecore.errors.InvalidValue` when several patients carry it.
    """
    # Reads for a disclosure: the access policy is asked about an export, not a read.
    with program.transaction("FHIR export: find the patient", action=Action.EXPORT) as tx:
        try:
            return tx.get(Patient, patient_id)
        except errors.NotFound:
            pass
        found = [p for p in tx.all(Patient) if any(i.value == patient_id for i in p.identifiers)]
    if not found:
        raise errors.NotFound(
            "no patient has this carecore id or identifier", field="patient_id", value=patient_id
        )
    if len(found) > 1:
        raise errors.InvalidValue(
            f"{len(found)} patients carry this identifier ({', '.join(p.id for p in found)}); "
            "give the carecore id",
            field="patient_id",
            value=patient_id,
        )
    return found[0]


def _unique(resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[errors.Problem]]:
    """Drop repeats of the same resource (a goal two plans share); report different ones."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    clashes = []
    for resource in resources:
        key = (resource["resourceType"], resource["id"])
        if key not in seen:
            seen[key] = resource
        elif seen[key] != resource:
            clashes.append(
                errors.Problem(
                    path=f"{key[0]}/{key[1]}",
                    message="two different resources would share this id",
                )
            )
    return list(seen.values()), clashes


def _export_reason(destination: str | None) -> str:
    """The export's audit reason: where the Bundle goes, any secret in it masked."""
    return "FHIR export" if destination is None else f"FHIR export to {redact(destination)}"


def export_patient(
    program: CareProgram, patient_id: str, *, check: bool = True, destination: str | None = None
) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle of one patient's record and care-management resources.

    Every resource is validated with ``fhir.resources.R4B`` and carecore's
    code checks when *check* is true; a problem raises
    :class:`~carecore.errors.InvalidInput` naming the resource and path.
    *destination* (a file, an endpoint) is where the Bundle goes: the audit
    rows of the export's reads name it, with any secret in it masked.
    """
    patient = find_patient(program, patient_id)
    pid = patient.id
    with program.transaction(_export_reason(destination), action=Action.EXPORT) as tx:
        conditions = tx.find(Condition, patient_id=pid)
        observations = tx.find(Observation, patient_id=pid)
        events = tx.find(AdtEvent, patient_id=pid)
        coverages = tx.find(Coverage, patient_id=pid)
        teams = tx.find(CareTeam, patient_id=pid)
        plans = tx.find(CarePlan, patient_id=pid)
        consents = tx.find(Consent, patient_id=pid)
        enrollments = tx.find(Enrollment, patient_id=pid)
        results = tx.find(AssessmentResult, patient_id=pid)
        addresses = tx.find(PatientAddress, patient_id=pid)
        medications = tx.find(MedicationStatement, patient_id=pid)
        contacts = tx.find(ContactPreferences, patient_id=pid)
        wanted = {m.practitioner_id for t in teams for m in t.members}
        wanted |= {p.responsible_id for p in plans if p.responsible_id}
        wanted |= {c for p in plans for c in p.contributors}
        wanted |= {t.owner for p in plans for t in p.tasks}
        wanted |= {r.performer_id for r in results if r.performer_id}
        wanted |= {m.prescriber_id for m in medications if m.prescriber_id}
        wanted |= {c.obtained_by for c in consents} | {
            e.billing_practitioner_id for e in enrollments
        }
        practitioners = []
        for practitioner_id in sorted(wanted):
            try:
                practitioners.append(tx.get(Practitioner, practitioner_id))
            except errors.NotFound:
                continue
    known = {p.id for p in practitioners}
    # An assessment's total is stored as an Observation too; its FHIR form is the score
    # Observation made with the QuestionnaireResponse, so it is written once.
    totals = {f"{r.id}{sep}total" for r in results if r.total is not None for sep in ":-"}
    observations = [o for o in observations if o.id not in totals]
    resources: list[dict[str, Any]] = [
        patient_resource(
            patient,
            addresses[0].address if addresses else None,
            contacts[0] if contacts else None,
        )
    ]
    resources += [practitioner_resource(p) for p in practitioners]
    resources += [condition_resource(c) for c in conditions]
    resources += observation_resources(observations)
    resources += _encounters(events)
    resources += [coverage_resource(c) for c in coverages]
    resources += [careteam_resource(t) for t in teams]
    team_ids = tuple(t.id for t in teams)
    for plan in plans:
        resources += careplan_resources(plan, care_teams=team_ids, practitioners=known)
    resources += [consent_resource(c, known=known) for c in consents]
    resources += [enrollment_resource(e, known=known) for e in enrollments]
    resources += [_medication_request(m) for m in medications]
    for result in results:
        resources += assessment_resources(result, known=known)
    resources, clashes = _unique([profiles.declare(r) for r in resources])
    if check or clashes:
        problems = clashes + [p for r in resources for p in validate.problems(r)]
        if problems:
            raise errors.InvalidInput(f"FHIR export of patient {pid}", problems=problems)
    base = codes.CARECORE
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": program.clock.now().isoformat(),
        "entry": [
            {"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }
