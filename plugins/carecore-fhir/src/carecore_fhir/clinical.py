"""FHIR R4 medications, immunizations, procedures and gap-closing labs as carecore values.

- MedicationRequest: a :class:`~carecore.model.MedicationStatement` from the EHR,
  or from the discharge summary when its category is ``discharge``
  (medicationrequest-category: a hospital's orders for after the stay);
- MedicationStatement: a statement from the patient (``informationSource`` a
  Patient or RelatedPerson) or the EHR;
- MedicationDispense: a :class:`~carecore.model.MedicationFill` (adherence);
- Immunization and Procedure: a :class:`~carecore.model.ClinicalService`
  (they close care gaps);
- the labs that close care gaps (eGFR, urine albumin-creatinine ratio, stool
  tests, hepatitis C tests: every LOINC code the built-in gap rules name): a
  :class:`~carecore.model.ClinicalService` of kind ``lab``.

The mappers register themselves in :data:`carecore_fhir.mapping.MAPPERS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore.gaps import evidence_codes
from carecore.medications import drug_class_of, ingredients_of
from carecore.model import (
    ClinicalService,
    MedicationFill,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    ServiceKind,
)
from carecore_fhir import codes, profiles
from carecore_fhir.mapping import (
    EXTRA_OBSERVATIONS,
    MAPPERS,
    Mapped,
    Skip,
    _code_in,
    _date,
    _loinc,
    _name,
    _need,
    _patient_ref,
    _text,
)

if TYPE_CHECKING:
    from carecore_fhir.mapping import Options, Resolver

__all__ = [
    "LAB_CODES",
    "US_CORE_MEDICATIONREQUEST",
    "map_immunization",
    "map_lab",
    "map_medication_dispense",
    "map_medication_request",
    "map_medication_statement",
    "map_procedure",
    "medication_request_resource",
]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "urn:oid:2.16.840.1.113883.6.285"
#: The category system of MedicationRequest; ``discharge`` marks the discharge list.
REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"

#: Names of the labs that close care gaps, read as clinical services (LOINC: what it is).
_LAB_NAMES: dict[str, str] = {
    "33914-3": "eGFR (MDRD, per 1.73 m2)",
    "62238-1": "eGFR (CKD-EPI)",
    "98979-8": "eGFR (CKD-EPI 2021)",
    "48642-3": "eGFR (non-Black, MDRD)",
    "14959-1": "Microalbumin/creatinine ratio in urine",
    "9318-7": "Albumin/creatinine ratio in urine",
    "13705-9": "Albumin/creatinine ratio in 24 hour urine",
    "57905-2": "Hemoglobin in stool by immunoassay (FIT)",
    "13955-0": "Hepatitis C virus antibody",
}
#: Labs read as clinical services: every LOINC code a built-in gap rule names, but those read
#: as observations (A1c, blood pressure). The rules are the one list (carecore.gaps).
LAB_CODES: dict[str, str | None] = {
    code: _LAB_NAMES.get(code)
    for code in sorted(evidence_codes("LOINC") | set(_LAB_NAMES))
    if code not in codes.OBSERVATION_MEASURES and code not in codes.BP_COMPONENTS
}

_REQUEST_STATUS = {
    "active": MedicationStatus.ACTIVE,
    "on-hold": MedicationStatus.ON_HOLD,
    "stopped": MedicationStatus.STOPPED,
    "completed": MedicationStatus.COMPLETED,
}
_STATEMENT_STATUS = {
    "active": MedicationStatus.ACTIVE,
    "on-hold": MedicationStatus.ON_HOLD,
    "stopped": MedicationStatus.STOPPED,
    "completed": MedicationStatus.COMPLETED,
}


def _medication(resource: dict[str, Any], resolver: Resolver) -> tuple[str | None, str]:
    """The RxNorm code and text of a resource's medication (a concept or a Medication)."""
    concept = resource.get("medicationCodeableConcept")
    if concept is None and isinstance(resource.get("medicationReference"), dict):
        reference = resource["medicationReference"].get("reference", "")
        found = resolver.resource(reference) if isinstance(reference, str) else None
        if found is None and isinstance(reference, str) and reference.startswith("#"):
            found = next(
                (c for c in resource.get("contained", ()) if c.get("id") == reference[1:]), None
            )
        concept = None if found is None else found.get("code")
    if concept is None:
        raise errors.InvalidValue(
            "needs medicationCodeableConcept or a resolvable medicationReference",
            field=f"{_name(resource)}.medication[x]",
            value=None,
        )
    code = _code_in(concept, RXNORM)
    text = _text(concept) or (f"RxNorm {code}" if code else None)
    if text is None:
        raise errors.InvalidValue(
            "the medication has neither a code nor a text",
            field=f"{_name(resource)}.medication[x]",
            value=concept,
        )
    return (str(code) if code else None), text


def _dosage(dosages: object) -> tuple[str | None, str | None, str | None]:
    """Dose, route and frequency as text from the first dosage (FHIR Dosage)."""
    first = dosages[0] if isinstance(dosages, list) and dosages else {}
    if not isinstance(first, dict):
        return None, None, None
    dose = None
    for rate in first.get("doseAndRate", ()):
        quantity = rate.get("doseQuantity") if isinstance(rate, dict) else None
        if isinstance(quantity, dict) and quantity.get("value") is not None:
            dose = (
                f"{quantity['value']} {quantity.get('unit') or quantity.get('code') or ''}".strip()
            )
            break
    repeat = (first.get("timing") or {}).get("repeat") or {}
    frequency = None
    if repeat.get("frequency") is not None and repeat.get("periodUnit"):
        frequency = f"{repeat['frequency']} per {repeat.get('period', 1)} {repeat['periodUnit']}"
    frequency = frequency or (first.get("timing") or {}).get("code", {}).get("text")
    if frequency is None and first.get("text"):
        frequency = str(first["text"])
    return dose, _text(first.get("route")), frequency


def _practitioner(resource: dict[str, Any], resolver: Resolver, element: str) -> str | None:
    ref = resource.get(element)
    if not isinstance(ref, dict):
        return None
    try:
        kind, rid = resolver.target(
            resource,
            element,
            ref,
            (
                "Practitioner",
                "PractitionerRole",
                "Organization",
                "Patient",
                "RelatedPerson",
                "Device",
            ),
        )
    except errors.CarecoreError:
        return None
    return rid if kind == "Practitioner" else None


def _discharge_order(resource: dict[str, Any]) -> bool:
    """Whether a MedicationRequest's category is ``discharge`` (the stay's discharge orders)."""
    categories = resource.get("category")
    if not isinstance(categories, list):
        return False
    return any(
        isinstance(c, dict) and _code_in(c, REQUEST_CATEGORY) == "discharge" for c in categories
    )


def map_medication_request(
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A MedicationRequest (an order) as a statement on the practice's (EHR) list.

    A request of category ``discharge`` is on the discharge summary's list instead
    (stopped ones included: a drug stopped at discharge).
    """
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status not in _REQUEST_STATUS:
        raise Skip(f"status {status!r}: not a medication being or once taken")
    if resource.get("intent") in {"proposal", "plan"}:
        raise Skip(f"intent {resource.get('intent')!r}: proposed, not ordered")
    patient_id = _patient_ref(resource, resolver)
    rxnorm, text = _medication(resource, resolver)
    dose, route, frequency = _dosage(resource.get("dosageInstruction"))
    start = (
        _date(resource, "authoredOn", resource["authoredOn"])
        if resource.get("authoredOn")
        else None
    )
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod") or {}
    stop = (
        _date(resource, "dispenseRequest.validityPeriod.end", validity["end"])
        if validity.get("end")
        else None
    )
    if stop is not None and start is not None and stop < start:
        stop = None
    return Mapped(
        values=(
            MedicationStatement(
                id=rid,
                patient_id=patient_id,
                source=(
                    MedicationSource.DISCHARGE_SUMMARY
                    if _discharge_order(resource)
                    else MedicationSource.EHR
                ),
                rxnorm=rxnorm,
                text=text,
                status=_REQUEST_STATUS[status],
                start=start,
                stop=stop if _REQUEST_STATUS[status] is not MedicationStatus.ACTIVE else None,
                prescriber_id=_practitioner(resource, resolver, "requester"),
                recorded_on=start,
                dose=dose,
                route=route,
                frequency=frequency,
                ingredients=ingredients_of(text),
                drug_class=drug_class_of(text),
            ),
        )
    )


def map_medication_statement(
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A MedicationStatement: what the patient (or a caregiver) or the record says is taken."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status not in _STATEMENT_STATUS:
        raise Skip(f"status {status!r}: not a medication being or once taken")
    patient_id = _patient_ref(resource, resolver)
    rxnorm, text = _medication(resource, resolver)
    informant = resource.get("informationSource") or {}
    reference = informant.get("reference", "") if isinstance(informant, dict) else ""
    found = resolver.resource(reference) if isinstance(reference, str) else None
    kind = (found or {}).get("resourceType") or (
        reference.rsplit("/", 2)[-2] if reference.count("/") else ""
    )
    source = (
        MedicationSource.PATIENT_REPORTED
        if kind in {"Patient", "RelatedPerson"}
        else MedicationSource.EHR
    )
    period = resource.get("effectivePeriod") or {}
    when = resource.get("effectiveDateTime") or period.get("start")
    start = _date(resource, "effective[x]", when) if when else None
    stop = _date(resource, "effectivePeriod.end", period["end"]) if period.get("end") else None
    if stop is not None and start is not None and stop < start:
        stop = None
    asserted = resource.get("dateAsserted")
    dose, route, frequency = _dosage(resource.get("dosage"))
    return Mapped(
        values=(
            MedicationStatement(
                id=rid,
                patient_id=patient_id,
                source=source,
                rxnorm=rxnorm,
                text=text,
                status=_STATEMENT_STATUS[status],
                start=start,
                stop=stop,
                recorded_on=_date(resource, "dateAsserted", asserted) if asserted else start,
                dose=dose,
                route=route,
                frequency=frequency,
                ingredients=ingredients_of(text),
                drug_class=drug_class_of(text),
            ),
        )
    )


def map_medication_dispense(
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A completed MedicationDispense as a pharmacy fill (for adherence)."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status != "completed":
        raise Skip(f"status {status!r}: not a completed dispense")
    patient_id = _patient_ref(resource, resolver)
    rxnorm, text = _medication(resource, resolver)
    when = resource.get("whenHandedOver") or resource.get("whenPrepared")
    if not when:
        raise errors.InvalidValue(
            "is required (the day of the fill)",
            field=f"{_name(resource)}.whenHandedOver",
            value=None,
        )
    supply = (resource.get("daysSupply") or {}).get("value")
    if not isinstance(supply, (int, float)) or isinstance(supply, bool) or supply < 1:
        raise errors.InvalidValue(
            "is required: a whole number of days",
            field=f"{_name(resource)}.daysSupply.value",
            value=supply,
        )
    quantity = resource.get("quantity") or {}
    return Mapped(
        values=(
            MedicationFill(
                id=rid,
                patient_id=patient_id,
                rxnorm=rxnorm,
                text=text,
                filled_on=_date(resource, "whenHandedOver", when),
                days_supply=int(supply),
                drug_class=drug_class_of(text),
                quantity=(
                    f"{quantity['value']} {quantity.get('unit') or ''}".strip()
                    if quantity.get("value") is not None
                    else None
                ),
            ),
        )
    )


def map_immunization(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A completed Immunization as a clinical service coded in CVX."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status != "completed":
        raise Skip(f"status {status!r}: not given")
    patient_id = _patient_ref(resource, resolver, "patient")
    concept = _need(resource, "vaccineCode")
    code = _code_in(concept, CVX)
    if not code:
        raise Skip("no CVX code: the vaccine cannot close an immunization gap")
    when = resource.get("occurrenceDateTime")
    if not when:
        raise Skip("no occurrenceDateTime: the day it was given is not known")
    return Mapped(
        values=(
            ClinicalService(
                id=rid,
                patient_id=patient_id,
                kind=ServiceKind.IMMUNIZATION,
                system="CVX",
                code=str(code),
                on=_date(resource, "occurrenceDateTime", when),
                text=_text(concept),
            ),
        )
    )


def map_procedure(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A completed Procedure as a clinical service (SNOMED CT, CPT or HCPCS)."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status != "completed":
        raise Skip(f"status {status!r}: not done")
    patient_id = _patient_ref(resource, resolver)
    concept = _need(resource, "code")
    coded = [
        (name, _code_in(concept, system))
        for system, name in ((codes.SNOMED, "SNOMED"), (CPT, "CPT"), (HCPCS, "HCPCS"))
    ]
    name, code = next(((n, c) for n, c in coded if c), ("", None))
    if not code:
        raise Skip("no SNOMED CT, CPT or HCPCS code")
    period = resource.get("performedPeriod") or {}
    when = resource.get("performedDateTime") or period.get("start")
    if not when:
        raise Skip("no performed date")
    return Mapped(
        values=(
            ClinicalService(
                id=rid,
                patient_id=patient_id,
                kind=ServiceKind.PROCEDURE,
                system=name,
                code=str(code),
                on=_date(resource, "performed[x]", when),
                text=_text(concept),
            ),
        )
    )


def map_lab(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A gap-closing lab Observation (eGFR, uACR, a stool test...) as a lab clinical service."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status not in {"final", "amended", "corrected", "preliminary"}:
        raise Skip(f"status {status!r}: no result")
    code = _loinc(_need(resource, "code"))
    patient_id = _patient_ref(resource, resolver)
    when = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    return Mapped(
        values=(
            ClinicalService(
                id=rid,
                patient_id=patient_id,
                kind=ServiceKind.LAB,
                system="LOINC",
                code=str(code),
                on=_date(resource, "effectiveDateTime", when),
                text=LAB_CODES.get(str(code)) or _text(resource.get("code")),
            ),
        )
    )


MAPPERS.update(
    {
        "MedicationRequest": map_medication_request,
        "MedicationStatement": map_medication_statement,
        "MedicationDispense": map_medication_dispense,
        "Immunization": map_immunization,
        "Procedure": map_procedure,
    }
)
EXTRA_OBSERVATIONS.update(LAB_CODES)
_read_observation = MAPPERS["Observation"]


def _observation(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    if _loinc(resource.get("code")) in LAB_CODES:
        return map_lab(resource, resolver, options)
    return _read_observation(resource, resolver, options)


MAPPERS["Observation"] = _observation


# -- export ------------------------------------------------------------------------------------

#: The US Core profile a medication statement is exported as (declared in ``meta.profile``).
US_CORE_MEDICATIONREQUEST = profiles.MEDICATIONREQUEST
#: What a requester carecore does not know carries (US Core's guidance on missing data).
_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

_EXPORT_STATUS = {
    MedicationStatus.ACTIVE: "active",
    MedicationStatus.ON_HOLD: "on-hold",
    MedicationStatus.STOPPED: "stopped",
    MedicationStatus.COMPLETED: "completed",
}


def _category(source: MedicationSource) -> dict[str, Any]:
    """The source list as a category: its text, coded ``discharge`` for the discharge summary."""
    concept: dict[str, Any] = {"text": source.value.replace("_", " ")}
    if source is MedicationSource.DISCHARGE_SUMMARY:
        concept["coding"] = [{"system": REQUEST_CATEGORY, "code": "discharge"}]
    return concept


def medication_request_resource(statement: MedicationStatement) -> dict[str, Any]:
    """A medication statement as a US Core 6.1 MedicationRequest (declared in ``meta.profile``).

    It carries what US Core MedicationRequest requires (status, intent,
    medication, subject, requester) and the must-support elements carecore
    holds: ``authoredOn`` (the start, else the day it was recorded), the
    dosage text, ``reported[x]`` and a ``category`` text.

    The patient's own report is ``reported`` (``reportedReference`` to the
    patient, intent ``plan``); the prescriber is the requester when known,
    else the requester names no one: a display and the data-absent-reason
    extension (``unknown``), as US Core asks of a mandatory element the sender
    does not have. The source list (discharge summary, reconciliation) is kept
    in ``category`` text; the discharge summary's is also coded ``discharge``,
    which the import reads back.

    >>> import pendulum
    >>> doc = medication_request_resource(MedicationStatement(id="m1", patient_id="p1",
    ...     source=MedicationSource.EHR, rxnorm="314076", text="Lisinopril 10 MG",
    ...     dose="10 mg", frequency="daily", start=pendulum.Date(2026, 1, 5), prescriber_id="dr1"))
    >>> doc["status"], doc["intent"], doc["medicationCodeableConcept"]["coding"][0]["code"]
    ('active', 'order', '314076')
    >>> doc["meta"]["profile"] == [US_CORE_MEDICATIONREQUEST], doc["authoredOn"]
    (True, '2026-01-05')
    """
    from carecore_fhir.export import fhir_id  # noqa: PLC0415 - export imports the mappers

    patient = {"reference": f"Patient/{fhir_id(statement.patient_id)}"}
    reported = statement.source is MedicationSource.PATIENT_REPORTED
    concept: dict[str, Any] = {"text": statement.text}
    if statement.rxnorm:
        concept["coding"] = [
            {"system": RXNORM, "code": statement.rxnorm, "display": statement.text}
        ]
    doc: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": fhir_id(statement.id),
        "status": _EXPORT_STATUS[statement.status],
        "intent": "plan" if reported else "order",
        "category": [_category(statement.source)],
        "medicationCodeableConcept": concept,
        "subject": patient,
        "requester": (
            {"reference": f"Practitioner/{fhir_id(statement.prescriber_id)}"}
            if statement.prescriber_id
            else {
                "extension": [{"url": _ABSENT, "valueCode": "unknown"}],
                "display": "prescriber not recorded",
            }
        ),
    }
    if reported:
        doc["reportedReference"] = patient
    when = statement.start or statement.recorded_on
    if when is not None:
        doc["authoredOn"] = when.isoformat()
    text = ", ".join(x for x in (statement.dose, statement.route, statement.frequency) if x)
    if text:
        doc["dosageInstruction"] = [{"text": text}]
    if statement.stop is not None and statement.start is not None:
        doc["dispenseRequest"] = {
            "validityPeriod": {
                "start": statement.start.isoformat(),
                "end": statement.stop.isoformat(),
            }
        }
    return profiles.declare(doc)
