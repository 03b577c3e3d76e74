"""A month's claims as FHIR R4 ``Claim`` resources (the ``fhir`` claim writer).

The file is one ``Bundle`` of type ``collection`` holding, for the claims of a
:class:`~carecore.billing.claims.ClaimBatch`: the billing provider
(``Organization``, with its NPI and TIN), each rendering ``Practitioner``,
each ``Patient`` (name, birth date, sex, address, MBI), each patient's
Medicare Part B ``Coverage`` (subscriber id: the MBI), and one ``Claim`` per
claim (type ``professional``), whose items carry the CPT/HCPCS code,
modifiers, units, charge, date and place of service, and point at the claim's
diagnoses. It carries the same claims as the 837P, since both are made from
the same batch.

Systems: NPI ``http://hl7.org/fhir/sid/us-npi``; TIN
``urn:oid:2.16.840.1.113883.4.4``; MBI ``http://hl7.org/fhir/sid/us-mbi``;
ICD-10-CM ``http://hl7.org/fhir/sid/icd-10-cm``; CPT
``http://www.ama-assn.org/go/cpt``; HCPCS Level II
``https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets``; place of
service ``https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set``
(as the HL7 terminology and the CARIN Blue Button guide name them).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from carecore import errors
from carecore.billing.claims import person_name
from carecore.model import MBI_SYSTEM, AdministrativeSex
from carecore_fhir.export import fhir_id

if TYPE_CHECKING:
    import pendulum

    from carecore.billing.claims import Claim, ClaimBatch
    from carecore.model import BillingIdentity, Patient, PostalAddress, Practitioner

__all__ = ["FhirClaimWriter", "claim_bundle"]

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TIN_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CLAIM_NUMBER_SYSTEM = "urn:carecore:claim-number"
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"


def _money(value: Decimal) -> dict[str, Any]:
    return {"value": float(value.quantize(Decimal("0.01"))), "currency": "USD"}


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def _address(address: PostalAddress, use: str) -> dict[str, Any]:
    lines = [address.line1, *([address.line2] if address.line2 else [])]
    return {
        "use": use,
        "line": lines,
        "city": address.city,
        "state": address.state,
        "postalCode": address.postal_code,
        "country": "US",
    }


def _organization(identity: BillingIdentity) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": fhir_id(identity.id),
        "identifier": [
            {"system": NPI_SYSTEM, "value": identity.npi},
            {"system": TIN_SYSTEM, "value": identity.tin},
        ],
        "active": True,
        "name": identity.name,
        "telecom": [{"system": "phone", "value": identity.phone, "use": "work"}],
        "address": [_address(identity.address, "work")],
    }


def _practitioner(practitioner: Practitioner) -> dict[str, Any]:
    family, given = person_name(practitioner.name)
    name: dict[str, Any] = {"family": family, "text": practitioner.name}
    if given:
        name["given"] = given.split()
    return {
        "resourceType": "Practitioner",
        "id": fhir_id(practitioner.id),
        "identifier": [{"system": NPI_SYSTEM, "value": practitioner.npi}],
        "name": [name],
    }


def _patient(claim: Claim) -> dict[str, Any]:
    patient: Patient = claim.patient
    gender = {
        AdministrativeSex.FEMALE: "female",
        AdministrativeSex.MALE: "male",
        AdministrativeSex.OTHER: "other",
    }.get(patient.sex, "unknown")
    return {
        "resourceType": "Patient",
        "id": fhir_id(patient.id),
        "identifier": [{"system": MBI_SYSTEM, "value": claim.mbi.value}],
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        "gender": gender,
        "birthDate": patient.birth_date.isoformat(),
        "address": [_address(claim.address, "home")],
    }


def _coverage(claim: Claim, identity: BillingIdentity) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "id": fhir_id(f"{claim.patient.id}-medicare-part-b"),
        "status": "active",
        "subscriberId": claim.mbi.value,
        "beneficiary": {"reference": f"Patient/{fhir_id(claim.patient.id)}"},
        "relationship": _coding(f"{_TERMINOLOGY}/subscriber-relationship", "self"),
        "payor": [
            {"identifier": {"value": identity.payer_id}, "display": identity.payer_name},
        ],
    }


def _item(claim: Claim, line_number: int, identity: BillingIdentity) -> dict[str, Any]:
    line = claim.lines[line_number - 1]
    system = CPT_SYSTEM if line.code[0].isdigit() else HCPCS_SYSTEM
    charge = line.amount or Decimal(0)
    item: dict[str, Any] = {
        "sequence": line_number,
        "careTeamSequence": [1],
        "diagnosisSequence": list(claim.pointers(line)),
        "productOrService": _coding(system, line.code),
        "servicedDate": line.date_of_service.isoformat(),
        "locationCodeableConcept": _coding(POS_SYSTEM, identity.place_of_service),
        "quantity": {"value": line.units},
        "unitPrice": _money(charge / line.units),
        "net": _money(charge),
    }
    if line.modifiers:
        item["modifier"] = [_coding(system, m) for m in line.modifiers]
    return item


def _claim(claim: Claim, identity: BillingIdentity, created: pendulum.DateTime) -> dict[str, Any]:
    diagnoses = []
    for number, code in enumerate(claim.diagnoses, start=1):
        diagnosis: dict[str, Any] = {
            "sequence": number,
            "diagnosisCodeableConcept": _coding(ICD10CM_SYSTEM, code),
        }
        if number == 1:
            diagnosis["type"] = [_coding(f"{_TERMINOLOGY}/ex-diagnosistype", "principal")]
        diagnoses.append(diagnosis)
    return {
        "resourceType": "Claim",
        "id": fhir_id(claim.control_number),
        "identifier": [{"system": CLAIM_NUMBER_SYSTEM, "value": claim.control_number}],
        "status": "active",
        "type": _coding(f"{_TERMINOLOGY}/claim-type", "professional"),
        "use": "claim",
        "patient": {"reference": f"Patient/{fhir_id(claim.patient.id)}"},
        "billablePeriod": {
            "start": claim.period.start.isoformat(),
            "end": claim.period.end.isoformat(),
        },
        "created": created.in_timezone("UTC").to_iso8601_string(),
        "provider": {"reference": f"Organization/{fhir_id(identity.id)}"},
        "priority": _coding(f"{_TERMINOLOGY}/processpriority", "normal"),
        "careTeam": [
            {
                "sequence": 1,
                "provider": {"reference": f"Practitioner/{fhir_id(claim.rendering.id)}"},
                "responsible": True,
                "role": _coding(f"{_TERMINOLOGY}/claimcareteamrole", "primary"),
            }
        ],
        "diagnosis": diagnoses,
        "insurance": [
            {
                "sequence": 1,
                "focal": True,
                "coverage": {
                    "reference": f"Coverage/{fhir_id(f'{claim.patient.id}-medicare-part-b')}"
                },
            }
        ],
        "item": [_item(claim, n, identity) for n in range(1, len(claim.lines) + 1)],
        "total": _money(claim.total),
    }


def claim_bundle(batch: ClaimBatch, *, created: pendulum.DateTime) -> dict[str, Any]:
    """The batch's claims, and the resources they refer to, as one FHIR ``collection`` Bundle."""
    identity = batch.identity
    if identity is None:
        raise errors.InvalidValue(
            "FHIR claims need the practice's billing identity", field="identity", value=None
        )
    resources: dict[tuple[str, str], dict[str, Any]] = {}

    def keep(resource: dict[str, Any]) -> None:
        resources.setdefault((resource["resourceType"], resource["id"]), resource)

    keep(_organization(identity))
    for claim in batch.claims:
        keep(_practitioner(claim.rendering))
        keep(_patient(claim))
        keep(_coverage(claim, identity))
    claims = [_claim(claim, identity, created) for claim in batch.claims]
    entries = [{"resource": r} for r in [*resources.values(), *claims]]
    return {
        "resourceType": "Bundle",
        "id": fhir_id(f"claims-{batch.period.start:%Y-%m}"),
        "type": "collection",
        "timestamp": created.in_timezone("UTC").to_iso8601_string(),
        "entry": entries,
    }


class FhirClaimWriter:
    """The ``fhir`` claim writer: a JSON Bundle of FHIR R4 Claim resources."""

    @property
    def id(self) -> str:
        """``"fhir"``."""
        return "fhir"

    def write(self, batch: ClaimBatch, out: IO[bytes], *, created: pendulum.DateTime) -> None:
        """Write *batch*'s claims to *out* as one FHIR Bundle (UTF-8 JSON)."""
        text = json.dumps(claim_bundle(batch, created=created), indent=2, ensure_ascii=False)
        out.write((text + "\n").encode("utf-8"))
