"""FHIR R4 resources (plain dicts) to carecore values.

Each ``map_*`` function takes one resource and a :class:`Resolver` for its
references, and returns a :class:`Mapped` (the carecore values and notes), or
raises :class:`Skip` (nothing carecore uses; not an error) or a
:mod:`carecore.errors` type whose ``field`` names the resource and the JSON
path (``Condition/c1.subject.reference``).

>>> resolver = Resolver({})
>>> doc = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-03-01",
...        "name": [{"family": "Okafor", "given": ["Ada"]}]}
>>> patient = to_carecore(doc, resolver).values[0]
>>> patient.id, patient.family_name, patient.identifiers[0].value
('p1', 'Okafor', 'p1')
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import TYPE_CHECKING, Any

import attrs
import pendulum

from carecore import errors, limits
from carecore.convert import from_primitive
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CarePlan,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    CodeSystem,
    Coding,
    Comparator,
    Condition,
    ContactPreferences,
    Coverage,
    CoveragePlan,
    Credential,
    Goal,
    GoalAchievement,
    Identifier,
    InterventionKind,
    Observation,
    Patient,
    PatientAddress,
    PatientClass,
    Practitioner,
    Problem,
    Referral,
    ServiceFamily,
    Target,
    Task,
    TaskStatus,
)
from carecore.model.validators import check_instant
from carecore_fhir import codes, validate
from carecore_fhir.addresses import read_address

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = [
    "ConditionGroup",
    "Mapped",
    "Options",
    "Resolver",
    "Skip",
    "condition_groups",
    "to_carecore",
]

#: Resource types carecore reads; every other R4 type is skipped with a reason.
CONSUMED = frozenset(
    {
        "Patient",
        "Practitioner",
        "Condition",
        "Encounter",
        "Observation",
        "Coverage",
        "CarePlan",
        "Goal",
        "CareTeam",
        "Task",
        "ServiceRequest",
    }
)

#: Types that exist in FHIR R4 but not in carecore's reading (skipped, not refused).
R4_TYPES = frozenset(
    [
        "Account",
        "ActivityDefinition",
        "AdverseEvent",
        "AllergyIntolerance",
        "Appointment",
        "AppointmentResponse",
        "AuditEvent",
        "Basic",
        "Binary",
        "BiologicallyDerivedProduct",
        "BodyStructure",
        "Bundle",
        "CapabilityStatement",
        "CarePlan",
        "CareTeam",
        "CatalogEntry",
        "ChargeItem",
        "ChargeItemDefinition",
        "Claim",
        "ClaimResponse",
        "ClinicalImpression",
        "CodeSystem",
        "Communication",
        "CommunicationRequest",
        "CompartmentDefinition",
        "Composition",
        "ConceptMap",
        "Condition",
        "Consent",
        "Contract",
        "Coverage",
        "CoverageEligibilityRequest",
        "CoverageEligibilityResponse",
        "DetectedIssue",
        "Device",
        "DeviceDefinition",
        "DeviceMetric",
        "DeviceRequest",
        "DeviceUseStatement",
        "DiagnosticReport",
        "DocumentManifest",
        "DocumentReference",
        "EffectEvidenceSynthesis",
        "Encounter",
        "Endpoint",
        "EnrollmentRequest",
        "EnrollmentResponse",
        "EpisodeOfCare",
        "EventDefinition",
        "Evidence",
        "EvidenceVariable",
        "ExampleScenario",
        "ExplanationOfBenefit",
        "FamilyMemberHistory",
        "Flag",
        "Goal",
        "GraphDefinition",
        "Group",
        "GuidanceResponse",
        "HealthcareService",
        "ImagingStudy",
        "Immunization",
        "ImmunizationEvaluation",
        "ImmunizationRecommendation",
        "ImplementationGuide",
        "InsurancePlan",
        "Invoice",
        "Library",
        "Linkage",
        "List",
        "Location",
        "Measure",
        "MeasureReport",
        "Media",
        "Medication",
        "MedicationAdministration",
        "MedicationDispense",
        "MedicationKnowledge",
        "MedicationRequest",
        "MedicationStatement",
        "MedicinalProduct",
        "MedicinalProductAuthorization",
        "MedicinalProductContraindication",
        "MedicinalProductIndication",
        "MedicinalProductIngredient",
        "MedicinalProductInteraction",
        "MedicinalProductManufactured",
        "MedicinalProductPackaged",
        "MedicinalProductPharmaceutical",
        "MedicinalProductUndesirableEffect",
        "MessageDefinition",
        "MessageHeader",
        "MolecularSequence",
        "NamingSystem",
        "NutritionOrder",
        "Observation",
        "ObservationDefinition",
        "OperationDefinition",
        "OperationOutcome",
        "Organization",
        "OrganizationAffiliation",
        "Parameters",
        "Patient",
        "PaymentNotice",
        "PaymentReconciliation",
        "Person",
        "PlanDefinition",
        "Practitioner",
        "PractitionerRole",
        "Procedure",
        "Provenance",
        "Questionnaire",
        "QuestionnaireResponse",
        "RelatedPerson",
        "RequestGroup",
        "ResearchDefinition",
        "ResearchElementDefinition",
        "ResearchStudy",
        "ResearchSubject",
        "RiskAssessment",
        "RiskEvidenceSynthesis",
        "Schedule",
        "SearchParameter",
        "ServiceRequest",
        "Slot",
        "Specimen",
        "SpecimenDefinition",
        "StructureDefinition",
        "StructureMap",
        "Subscription",
        "Substance",
        "SubstanceNucleicAcid",
        "SubstancePolymer",
        "SubstanceProtein",
        "SubstanceReferenceInformation",
        "SubstanceSourceMaterial",
        "SubstanceSpecification",
        "SupplyDelivery",
        "SupplyRequest",
        "Task",
        "TerminologyCapabilities",
        "TestReport",
        "TestScript",
        "ValueSet",
        "VerificationResult",
        "VisionPrescription",
    ]
)

#: Types of other FHIR versions (STU3, DSTU2, R5) that R4 does not have.
OTHER_VERSION_TYPES: dict[str, str] = {
    "ProcedureRequest": "STU3",
    "ReferralRequest": "STU3",
    "DeviceComponent": "STU3",
    "EligibilityRequest": "STU3",
    "DiagnosticOrder": "DSTU2",
    "Order": "DSTU2",
    "OrderResponse": "DSTU2",
    "ActorDefinition": "R5",
    "Requirements": "R5",
    "InventoryItem": "R5",
    "Transport": "R5",
    "SubscriptionTopic": "R4B/R5",
    "NutritionProduct": "R4B/R5",
    "Citation": "R4B/R5",
}


class Skip(Exception):
    """A resource carecore does not use, with the reason; the import goes on."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def _aware(value: object) -> pendulum.DateTime | None:
    """*value* (``Options.now``) as a pendulum DateTime: None, or a timezone-aware datetime."""
    return None if value is None else check_instant(value, "now")


@attrs.frozen(kw_only=True)
class Options:
    """How resources are read.

    :param source: the identifier system under which a Patient's FHIR id is kept (the
        server's base URL for a REST source).
    :param time_zone: the time zone of a patient whose resource does not give one.
    :param families: the program families an imported care plan belongs to, when the
        plan does not name carecore families itself.
    :param now: when the import runs, by its clock: a Patient born after this date (in
        the patient's time zone) is refused. None checks nothing; the importers give
        their program's clock (mapping reads no clock itself). A timezone-aware
        :class:`datetime.datetime` (pendulum's or the standard library's) is taken;
        a naive one, or anything else, is refused with
        :class:`~carecore.errors.InvalidValue` naming ``now``.

    >>> import datetime
    >>> Options(now=datetime.datetime(2026, 3, 5, 9, tzinfo=datetime.timezone.utc)).now
    DateTime(2026, 3, 5, 9, 0, 0, tzinfo=Timezone('UTC'))
    >>> Options(now=datetime.datetime(2026, 3, 5, 9))
    Traceback (most recent call last):
    ...
    carecore.errors.NaiveDatetime: now=datetime.datetime(2026, 3, 5, 9, 0): a time zone offset is required
    """

    source: str = "urn:carecore:fhir"
    time_zone: str = "UTC"
    families: frozenset[ServiceFamily] = frozenset({ServiceFamily.CCM})
    now: pendulum.DateTime | None = attrs.field(default=None, converter=_aware)


@attrs.frozen(kw_only=True)
class Mapped:
    """The carecore values made of one resource, and notes on what was not carried over."""

    values: tuple[Any, ...]
    notes: tuple[str, ...] = ()
    unmapped: tuple[str, ...] = ()  #: condition codes not in the chronic-condition table


@attrs.frozen(kw_only=True)
class ConditionGroup:
    """One row of the SNOMED CT to chronic-condition-group table."""

    snomed: str
    display: str
    group: str
    icd10cm: str


@functools.cache
def condition_groups() -> dict[str, ConditionGroup]:
    """The shipped SNOMED CT concept to CMS CCW condition-group table (see ``data/SOURCES.md``).

    >>> condition_groups()["44054006"].group
    'diabetes'
    """
    text = resources.files("carecore_fhir.data").joinpath("snomed_condition_groups.csv")
    with text.open(encoding="utf-8") as handle:
        return {row["snomed"]: ConditionGroup(**row) for row in csv.DictReader(handle)}


class Resolver:
    """Resolves references of the resources being read.

    *index* maps every way a resource can be referred to (``fullUrl``,
    ``Type/id``) to the resource. *known* answers whether a ``Type/id`` not in
    the index exists already (in the store). With *lenient*, a relative
    reference ``Type/id`` resolves to its id even when nothing is known of it
    (reading single resources such as the HL7 examples).
    """

    def __init__(
        self,
        index: Mapping[str, dict[str, Any]],
        *,
        known: Callable[[str, str], bool] | None = None,
        lenient: bool = False,
    ) -> None:
        self.index = index
        self.known = known
        self.lenient = lenient

    def resource(self, reference: str) -> dict[str, Any] | None:
        """The resource a reference names, when it is in hand."""
        return self.index.get(reference)

    def target(
        self, owner: dict[str, Any], path: str, ref: object, types: tuple[str, ...]
    ) -> tuple[str, str]:
        """``(type, id)`` of the reference at *path* of *owner*, or a typed error naming both."""
        where = f"{_name(owner)}.{path}"
        if not isinstance(ref, dict) or not isinstance(ref.get("reference"), str):
            # Never the value: a reference without a target often carries only a
            # display, a person's name.
            what = (
                "an object with no reference" if isinstance(ref, dict) else validate.described(ref)
            )
            raise errors.InvalidValue(f"is not a reference (got {what})", field=where)
        text: str = ref["reference"]
        found = self.index.get(text)
        if text.startswith("#"):
            found = next((c for c in owner.get("contained", ()) if c.get("id") == text[1:]), None)
        if found is not None:
            kind, rid = found.get("resourceType", ""), found.get("id", "")
        else:
            parts = text.rstrip("/").split("/")
            if len(parts) >= 2 and parts[-2] in R4_TYPES:  # noqa: PLR2004
                kind, rid = parts[-2], parts[-1]
                if not self.lenient and not (self.known is not None and self.known(kind, rid)):
                    raise errors.NotFound(
                        "does not resolve", field=f"{where}.reference", value=text
                    )
            elif len(parts) >= 4 and parts[-2] == "_history" and parts[-4] in R4_TYPES:  # noqa: PLR2004
                kind, rid = parts[-4], parts[-3]
                if not self.lenient and not (self.known is not None and self.known(kind, rid)):
                    raise errors.NotFound(
                        "does not resolve", field=f"{where}.reference", value=text
                    )
            else:
                raise errors.NotFound("does not resolve", field=f"{where}.reference", value=text)
        if kind not in types:
            raise errors.InvalidValue(
                f"refers to a {kind or 'resource'}, expected {' or '.join(types)}",
                field=f"{where}.reference",
                value=text,
            )
        return kind, rid


# -- helpers ---------------------------------------------------------------------------------


_name = validate.resource_name  # "Type/id", as problems and outcomes name a resource


def _need(resource: Mapping[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            raise errors.InvalidValue("is required", field=f"{_name(resource)}.{path}", value=None)
    return value


def _date(resource: Mapping[str, Any], path: str, text: object) -> pendulum.Date:
    """A FHIR date or dateTime as its calendar date (as written, in its own offset).

    An error names the element, never the date: a date in a patient's record
    (a birth, a death, a visit) is PHI.
    """
    field = f"{_name(resource)}.{path}"
    if not isinstance(text, str) or len(text) < 10:  # noqa: PLR2004 - YYYY-MM-DD
        raise errors.InvalidValue(
            f"must be a full date (YYYY-MM-DD), not {validate.described(text)}", field=field
        )
    try:
        day = dt.date.fromisoformat(text[:10])
    except ValueError:
        raise errors.InvalidValue("is not a FHIR date", field=field) from None
    return pendulum.Date(day.year, day.month, day.day)


def _instant(
    resource: Mapping[str, Any], path: str, text: object, zone: str = "UTC"
) -> pendulum.DateTime:
    """A FHIR dateTime as an instant; a bare date is midnight in *zone* (the import's time zone).

    As :func:`_date`, an error names the element, never the time.
    """
    where = f"{_name(resource)}.{path}"
    if not isinstance(text, str):
        raise errors.InvalidValue(
            f"must be a dateTime, not {validate.described(text)}", field=where
        )
    if len(text) == 10:  # noqa: PLR2004 - YYYY-MM-DD: FHIR allows a date where a dateTime goes
        day = _date(resource, path, text)
        return pendulum.datetime(day.year, day.month, day.day, tz=zone)
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise errors.InvalidValue("is not a FHIR dateTime", field=where) from None
    if value.tzinfo is None:
        raise errors.InvalidValue("a time zone offset is required", field=where)
    return pendulum.instance(value)


def _codings(concept: object) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding", ()) if isinstance(c, dict)]


def _code_in(concept: object, system: str) -> str | None:
    return next((c.get("code") for c in _codings(concept) if c.get("system") == system), None)


def _text(concept: object) -> str | None:
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    return next((str(c["display"]) for c in _codings(concept) if c.get("display")), None)


def _status(
    resource: Mapping[str, Any],
    element: str,
    allowed: Mapping[str, Any],
    *,
    shown: bool = True,
) -> Any:
    """The carecore value of the code at *element*; a code not in *allowed* is refused.

    Without *shown* (a patient's own element, such as gender) the refusal
    lists the codes carecore reads but not the one it got.
    """
    code = _need(resource, element)
    if code == "entered-in-error":
        raise Skip(f"{element} is entered-in-error")
    try:
        return allowed[code]
    except (KeyError, TypeError):
        raise errors.InvalidCode(
            f"not a {resource.get('resourceType')}.{element} code carecore reads "
            f"({', '.join(sorted(allowed))})",
            field=f"{_name(resource)}.{element}",
            **({"value": code} if shown else {}),
        ) from None


def _decimal(resource: Mapping[str, Any], path: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise errors.InvalidValue(
            "must be a number", field=f"{_name(resource)}.{path}", value=value
        )
    try:
        # repr() of a float is the shortest text that reads back as the same float.
        return Decimal(repr(value) if isinstance(value, float) else str(value))
    except InvalidOperation:
        raise errors.InvalidValue(
            "must be a number", field=f"{_name(resource)}.{path}", value=value
        ) from None


def _extension(resource: Mapping[str, Any], url: str) -> dict[str, Any] | None:
    return next(
        (e for e in resource.get("extension", ()) if isinstance(e, dict) and e.get("url") == url),
        None,
    )


def _extension_json(resource: Mapping[str, Any], ext: Mapping[str, Any], name: str) -> Any:
    """The JSON text of carecore's extension *name* of *resource*, parsed within :mod:`carecore.limits`.

    Text nested past ``json_depth``, longer than ``json_bytes``, with a number past
    ``json_number_digits``, or not JSON at all raises
    :class:`~carecore.errors.InvalidValue` naming the resource and the extension.
    The text itself is not shown: carecore's extensions carry phone numbers,
    email addresses and notes.
    """
    field = f"{_name(resource)}.extension({name}).valueString"
    text = ext.get("valueString")
    if not isinstance(text, str):
        raise errors.InvalidValue(
            "must be the JSON text carecore writes", field=field, value=type(text).__name__
        )
    try:
        return limits.load_json(text, what=field)
    except errors.InvalidInput as exc:
        problem = exc.problems[0]
        raise errors.InvalidValue(
            f"is not carecore JSON: {problem.path}: {problem.message}", field=field
        ) from None


def _patient_ref(resource: dict[str, Any], resolver: Resolver, element: str = "subject") -> str:
    _, rid = resolver.target(resource, element, _need(resource, element), ("Patient",))
    return rid


def _check_version(resource: dict[str, Any]) -> None:
    """Refuse shapes of other FHIR versions that R4 models would misread."""
    kind = resource.get("resourceType")
    name = _name(resource)
    if kind == "Encounter" and "class" in resource and not isinstance(resource["class"], dict):
        shape = "a list (R5)" if isinstance(resource["class"], list) else "a code (DSTU2)"
        raise errors.InvalidValue(
            f"wrong FHIR version: Encounter.class is {shape}; carecore reads R4 (4.0.1)",
            field=f"{name}.class",
            value=resource["class"],
        )
    if kind == "Condition" and isinstance(resource.get("clinicalStatus"), str):
        raise errors.InvalidValue(
            "wrong FHIR version: clinicalStatus is a code (STU3); R4 has a CodeableConcept",
            field=f"{name}.clinicalStatus",
            value=resource["clinicalStatus"],
        )
    if kind == "CarePlan" and any(
        isinstance(a, dict) and "performedActivity" in a for a in resource.get("activity", ())
    ):
        raise errors.InvalidValue(
            "wrong FHIR version: CarePlan.activity.performedActivity is R5",
            field=f"{name}.activity",
            value="performedActivity",
        )


# -- the mappers -----------------------------------------------------------------------------


def map_patient(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A FHIR Patient as a carecore :class:`~carecore.model.Patient`."""
    del resolver
    rid = _need(resource, "id")
    names = [n for n in resource.get("name", ()) if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if name is None or not name.get("family") or not name.get("given"):
        # The name itself is not shown: a refusal names the record, not the person.
        raise errors.InvalidValue(
            "needs a family and a given name", field=f"{_name(resource)}.name"
        )
    notes: list[str] = []
    if "gender" in resource:
        gender = _status(resource, "gender", codes.GENDER, shown=False)
    else:
        gender = AdministrativeSex.UNKNOWN
        notes.append("no gender: administrative sex 'unknown'")
    zone_ext = _extension(resource, codes.TIMEZONE_EXTENSION)
    zone = zone_ext.get("valueCode") if zone_ext else None
    idents = _identifiers(resource)
    # carecore's export always ends the identifiers with its own id under codes.PATIENT_ID:
    # dropping that last one reads the patient back with exactly the identifiers it had (a
    # stored one under the same system and value stays). Another source's FHIR id is kept
    # under options.source.
    carecore_id = Identifier(system=codes.PATIENT_ID, value=rid)
    if carecore_id in idents:
        del idents[len(idents) - 1 - idents[::-1].index(carecore_id)]
    else:
        own = Identifier(system=options.source, value=rid)
        if own not in idents:
            idents.insert(0, own)
    death = resource.get("deceasedDateTime")
    try:
        patient = Patient(
            id=rid,
            given_name=" ".join(name["given"]),
            family_name=name["family"],
            birth_date=_date(resource, "birthDate", _need(resource, "birthDate")),
            sex=gender,
            time_zone=zone or options.time_zone,
            identifiers=idents,
            date_of_death=_date(resource, "deceasedDateTime", death) if death else None,
        )
    except errors.InvalidValue as exc:
        if (exc.field or "").startswith(_name(resource)):
            raise  # it names the element already, without its value
        raise _private(resource, exc, _PATIENT_PATHS.get(exc.field or "", exc.field)) from None
    _check_born(resource, patient, options.now)
    values: list[Any] = [patient]
    address, why_not = read_address(resource)
    if why_not:
        notes.append(why_not)
    if address is not None:
        values.append(PatientAddress(patient_id=rid, address=address))
    contact = _contact_preferences(resource, rid)
    if contact is not None:
        values.append(contact)
    return Mapped(values=tuple(values), notes=tuple(notes))


def _check_born(
    resource: Mapping[str, Any], patient: Patient, now: pendulum.DateTime | None
) -> None:
    """Refuse a birth date after *now*'s date in the patient's time zone, naming the element only."""
    if now is not None and patient.birth_date > now.in_timezone(patient.time_zone).date():
        raise errors.InvalidValue(
            "is after today (the import's date in the patient's time zone)",
            field=f"{_name(resource)}.birthDate",
        )


def _identifiers(resource: Mapping[str, Any]) -> list[Identifier]:
    """The identifiers of a Patient *resource* with a system and a value; a bad one is named."""
    found: list[Identifier] = []
    for index, i in enumerate(resource.get("identifier", ())):
        if isinstance(i, dict) and i.get("system") and i.get("value"):
            try:
                found.append(Identifier(system=str(i["system"]), value=str(i["value"])))
            except errors.InvalidValue as exc:
                raise _private(resource, exc, f"identifier[{index}].{exc.field}") from None
    return found


def _contact_preferences(resource: dict[str, Any], rid: str) -> ContactPreferences | None:
    """The contact preferences carecore's export carries in its extension, else None.

    Only from carecore's own extension: a phone number in another EHR's record says nothing
    of the channels the patient agreed to.
    """
    contact = _extension(resource, f"{codes.CARECORE}/StructureDefinition/contact-preferences")
    if contact is None:
        return None
    data = _extension_json(resource, contact, "contact-preferences")
    if not isinstance(data, dict):
        raise errors.InvalidValue(
            "is not a JSON object",
            field=f"{_name(resource)}.extension(contact-preferences).valueString",
            value=type(data).__name__,
        )
    try:
        return from_primitive({**data, "patient_id": rid}, ContactPreferences)
    except errors.CarecoreError as exc:
        raise _located(resource, exc) from None


def _located(resource: Mapping[str, Any], exc: errors.CarecoreError) -> errors.CarecoreError:
    """A carecore validation error re-raised naming the resource it came from.

    A date or time is not shown (a date in a patient's record is PHI).
    """
    if (exc.field or "").startswith(_name(resource)):
        return exc  # it names the resource and path already
    if isinstance(exc.value, dt.date):
        return errors.InvalidValue(exc.reason, field=f"{_name(resource)}: {exc.field}")
    return errors.InvalidValue(exc.reason, field=f"{_name(resource)}: {exc.field}", value=exc.value)


#: The FHIR Patient element each carecore Patient field is read from.
_PATIENT_PATHS = {
    "given_name": "name.given",
    "family_name": "name.family",
    "birth_date": "birthDate",
    "date_of_death": "deceasedDateTime",
    "sex": "gender",
    "time_zone": f"extension({codes.TIMEZONE_EXTENSION}).valueCode",
    "identifiers": "identifier",
}


def _private(
    resource: Mapping[str, Any], exc: errors.CarecoreError, path: str | None
) -> errors.InvalidValue:
    """*exc* about a patient's element *path* of *resource*, its value described, never shown.

    Names, dates and identifiers are PHI: the error names the element and
    says what kind of value it got (``a list``), not the value.
    """
    value = exc.value
    kind = (
        ""
        if value is None or isinstance(value, str | dt.date)
        else f" (got {validate.described(value)})"
    )
    return errors.InvalidValue(f"{exc.reason}{kind}", field=f"{_name(resource)}.{path}")


def map_practitioner(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A FHIR Practitioner as a carecore :class:`~carecore.model.Practitioner`."""
    del resolver, options
    rid = _need(resource, "id")
    names = [n for n in resource.get("name", ()) if isinstance(n, dict)]
    if not names:
        raise errors.InvalidValue("needs a name", field=f"{_name(resource)}.name", value=None)
    first = names[0]
    text = (
        first.get("text")
        or " ".join(
            [*first.get("prefix", ()), *first.get("given", ()), first.get("family", "")]
        ).strip()
    )
    notes: list[str] = []
    credential = None
    for index, qual in enumerate(resource.get("qualification", ())):
        for coding in _codings(qual.get("code") if isinstance(qual, dict) else None):
            code = coding.get("code")
            if (
                coding.get("system") == codes.CREDENTIAL_SYSTEM
                and isinstance(code, str)
                and code in Credential.__members__
            ):
                credential = Credential[code]
            elif isinstance(code, str) and code in codes.QUALIFICATION_IN:
                credential = credential or codes.QUALIFICATION_IN[code]
        if credential is not None:
            break
        notes.append(f"qualification[{index}]: no credential carecore knows")
    if credential is None:
        prefixes = [p for n in names for p in n.get("prefix", ())]
        if "Dr." in prefixes or "Dr" in prefixes:
            credential = Credential.MD
            notes.append("no qualification: credential MD assumed from the name prefix 'Dr.'")
        else:
            raise Skip("no qualification gives a credential carecore knows")
    npi = next(
        (
            i.get("value")
            for i in resource.get("identifier", ())
            if isinstance(i, dict) and i.get("system") == "http://hl7.org/fhir/sid/us-npi"
        ),
        None,
    )
    try:
        practitioner = Practitioner(id=rid, name=text, credential=credential, npi=npi)
    except errors.InvalidValue:
        notes.append(f"identifier us-npi is not a valid NPI; not kept (got {npi!r})")
        practitioner = Practitioner(id=rid, name=text, credential=credential)
    return Mapped(values=(practitioner,), notes=tuple(notes))


def map_condition(  # noqa: C901 - one check per Condition element
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A FHIR Condition as a carecore :class:`~carecore.model.Condition`, chronic from the table."""
    del options
    rid = _need(resource, "id")
    verification = _codings(resource.get("verificationStatus"))
    if any(c.get("code") in {"entered-in-error", "refuted"} for c in verification):
        raise Skip("verificationStatus is entered-in-error or refuted")
    patient_id = _patient_ref(resource, resolver)
    codings = _codings(_need(resource, "code"))
    coding = None
    for system in (CodeSystem.ICD10CM, CodeSystem.SNOMEDCT):
        found = next(
            (c for c in codings if c.get("system") == system.value and c.get("code")), None
        )
        if found is not None:
            code = str(found["code"])
            try:
                coding = (
                    Coding.icd10cm(code, found.get("display"))
                    if system is CodeSystem.ICD10CM
                    else Coding(system=system, code=code, display=found.get("display") or None)
                )
            except errors.InvalidValue as exc:
                raise errors.InvalidCode(
                    exc.reason, field=f"{_name(resource)}.code.coding", value=code
                ) from None
            break
    if coding is None:
        raise errors.InvalidCode(
            "no SNOMED CT or ICD-10-CM coding",
            field=f"{_name(resource)}.code.coding",
            value=[c.get("system") for c in codings],
        )
    from carecore.conditions import classify  # noqa: PLC0415 - read the table on first use

    unmapped: tuple[str, ...] = ()
    # Chronic from carecore's condition-group table, in either code system; significant
    # risk is what the extension (or a clinician) attests, and the registry and the month
    # close add the table's significant-risk groups (carecore.conditions.at_significant_risk).
    chronic = classify(coding) is not None
    if coding.system is CodeSystem.SNOMEDCT and not chronic:
        unmapped = (f"{coding.code} {coding.display or ''}".strip(),)
    significant_risk = behavioral = False
    duration = None
    attested = _extension(resource, f"{codes.CARECORE}/StructureDefinition/condition-attestation")
    if attested is not None:
        flags = {e.get("url"): e for e in attested.get("extension", ()) if isinstance(e, dict)}
        chronic = bool(flags.get("chronic", {}).get("valueBoolean", chronic))
        significant_risk = bool(flags.get("significantRisk", {}).get("valueBoolean", False))
        behavioral = bool(flags.get("behavioral", {}).get("valueBoolean", False))
        duration = flags.get("expectedDurationMonths", {}).get("valueInteger")
    clinical = _codings(resource.get("clinicalStatus"))
    status = clinical[0].get("code") if clinical else None
    if status is not None and status not in codes.REQUIRED[("Condition", "clinicalStatus")]:
        raise errors.InvalidCode(
            "not a Condition.clinicalStatus code",
            field=f"{_name(resource)}.clinicalStatus",
            value=status,
        )
    onset = resource.get("onsetDateTime")
    abatement = resource.get("abatementDateTime")
    if abatement is None and status in {"resolved", "inactive", "remission"}:
        abatement_day = None
    else:
        abatement_day = _date(resource, "abatementDateTime", abatement) if abatement else None
    try:
        condition = Condition(
            id=rid,
            patient_id=patient_id,
            coding=coding,
            onset=_date(resource, "onsetDateTime", onset) if onset else None,
            abatement=abatement_day,
            chronic=chronic,
            significant_risk=significant_risk,
            behavioral=behavioral,
            expected_duration_months=duration,
        )
    except errors.InvalidValue as exc:
        raise _located(resource, exc) from None
    return Mapped(values=(condition,), unmapped=unmapped)


#: Encounter.class codes (v3 ActCode) of an inpatient stay.
_INPATIENT = frozenset({"IMP", "ACUTE", "NONAC"})


def map_encounter(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """An inpatient FHIR Encounter as a carecore :class:`~carecore.model.AdtEvent`."""
    zone = options.time_zone
    rid = _need(resource, "id")
    klass = _need(resource, "class")
    code = klass.get("code") if isinstance(klass, dict) else None
    if code not in _INPATIENT:
        raise Skip(
            f"not an inpatient stay; only inpatient stays become ADT events (got class {code!r})"
        )
    status = _need(resource, "status")
    if status not in codes.REQUIRED[("Encounter", "status")]:
        raise errors.InvalidCode(
            "not an Encounter.status code", field=f"{_name(resource)}.status", value=status
        )
    patient_id = _patient_ref(resource, resolver)
    period = resource.get("period") or {}
    admitted = (
        _instant(resource, "period.start", period["start"], zone) if period.get("start") else None
    )
    if status == "finished" and period.get("end"):
        kind = AdtEventKind.DISCHARGE
        discharged: pendulum.DateTime | None = _instant(resource, "period.end", period["end"], zone)
        occurred = discharged
    elif status in {"in-progress", "arrived", "onleave"} and admitted is not None:
        kind, discharged, occurred = AdtEventKind.ADMIT, None, admitted
    else:
        raise Skip(f"status {status!r} without the times of an admission or discharge")
    hosp = resource.get("hospitalization") or {}
    to_setting = None
    for coding in _codings(hosp.get("dischargeDisposition")):
        if coding.get("code") in codes.DISPOSITIONS:
            to_setting = codes.DISPOSITIONS[coding["code"]]
            break
    if kind is AdtEventKind.DISCHARGE and to_setting is None:
        to_setting = CareSetting.UNKNOWN
    facility = None
    provider = resource.get("serviceProvider")
    if isinstance(provider, dict):
        org = resolver.resource(provider.get("reference", ""))
        facility = (org or {}).get("name") or provider.get("display")
    # One event per stay and kind: the admission and the discharge of a stay are two events,
    # and a stay sent again (a new version, a re-sync) is recognised as received.
    assert occurred is not None  # noqa: S101 - set on both branches above
    try:
        event = AdtEvent(
            id=f"{rid}-{kind.value}",
            source_key=f"Encounter/{rid}/{kind.value}",
            patient_id=patient_id,
            kind=kind,
            occurred_at=occurred,
            patient_class=PatientClass.INPATIENT,
            admitted_at=admitted,
            discharged_at=discharged,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=to_setting,
            facility=facility or None,
            # carecore's export keeps a visit number FHIR's id rule changed as an identifier
            visit_number=_identifier(resource, codes.VISIT_NUMBER) or rid,
        )
    except errors.InvalidValue as exc:
        raise _located(resource, exc) from None
    return Mapped(values=(event,))


def _loinc(concept: object) -> str | None:
    code = _code_in(concept, codes.LOINC)
    return code if isinstance(code, str) else None


def map_observation(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """An A1c, body-weight or blood-pressure FHIR Observation as carecore Observations."""
    del options
    rid = _need(resource, "id")
    code = _loinc(_need(resource, "code"))
    if code not in codes.OBSERVATION_MEASURES and code not in codes.BP_PANELS:
        raise Skip(
            f"not an observation carecore reads: A1c, body weight, blood pressure (got LOINC {code!r})"
        )
    status = _need(resource, "status")
    if status not in codes.REQUIRED[("Observation", "status")]:
        raise errors.InvalidCode(
            "not an Observation.status code", field=f"{_name(resource)}.status", value=status
        )
    if status in {"cancelled", "entered-in-error", "registered"}:
        raise Skip(f"status {status!r}: no result")
    patient_id = _patient_ref(resource, resolver)
    when = resource.get("effectiveDateTime") or (resource.get("effectivePeriod") or {}).get("start")
    day = _date(resource, "effectiveDateTime", when)
    parts: list[tuple[str, str, dict[str, Any], str]] = []
    if code in codes.BP_PANELS:
        for index, component in enumerate(resource.get("component", ())):
            ccode = _loinc(component.get("code"))
            if ccode in codes.BP_COMPONENTS and isinstance(component.get("valueQuantity"), dict):
                parts.append(
                    (f"{rid}-{ccode}", ccode, component["valueQuantity"], f"component[{index}]")
                )
        if not parts:
            raise errors.InvalidValue(
                "a blood-pressure panel needs systolic or diastolic components",
                field=f"{_name(resource)}.component",
                value=None,
            )
    else:
        assert code is not None  # noqa: S101
        parts.append((rid, code, _need(resource, "valueQuantity"), ""))
    values = []
    for oid, loinc, quantity, where in parts:
        prefix = f"{where}." if where else ""
        unit = quantity.get("unit") or quantity.get("code")
        if not unit:
            raise errors.InvalidValue(
                "needs a unit", field=f"{_name(resource)}.{prefix}valueQuantity.unit", value=None
            )
        values.append(
            Observation(
                id=oid,
                patient_id=patient_id,
                measure=codes.OBSERVATION_MEASURES[loinc],
                value=_decimal(resource, f"{prefix}valueQuantity.value", quantity.get("value")),
                unit=str(unit),
                on=day,
                loinc=loinc,
            )
        )
    return Mapped(values=tuple(values))


def map_careteam(  # noqa: C901 - one check per participant element
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A FHIR CareTeam as a carecore :class:`~carecore.model.CareTeam` (practitioner members)."""
    del options
    rid = _need(resource, "id")
    status = resource.get("status")
    if status == "entered-in-error":
        raise Skip("status is entered-in-error")
    patient_id = _patient_ref(resource, resolver)
    members: list[CareTeamMember] = []
    notes: list[str] = []
    seen: set[tuple[str, CareTeamRole]] = set()
    for index, participant in enumerate(resource.get("participant", ())):
        member = participant.get("member") if isinstance(participant, dict) else None
        if member is None:
            notes.append(f"participant[{index}]: no member")
            continue
        kind, pid = resolver.target(
            resource,
            f"participant[{index}].member",
            member,
            (
                "Practitioner",
                "PractitionerRole",
                "Patient",
                "RelatedPerson",
                "Organization",
                "CareTeam",
            ),
        )
        if kind != "Practitioner":
            notes.append(f"participant[{index}]: a {kind} member is not a care-team practitioner")
            continue
        role = None
        for concept in participant.get("role", ()):
            code = _code_in(concept, codes.ROLE_SYSTEM)
            if code in codes.ROLE_IN:
                role = codes.ROLE_IN[code]
                break
        if role is None:
            role = CareTeamRole.CLINICAL_STAFF
            notes.append(f"participant[{index}].role: not a carecore role; clinical staff assumed")
        if (pid, role) not in seen:
            seen.add((pid, role))
            members.append(CareTeamMember(practitioner_id=pid, role=role))
    if not members:
        raise Skip("no practitioner members")
    try:
        team = CareTeam(id=rid, patient_id=patient_id, members=members)
    except errors.InvalidValue as exc:
        raise _located(resource, exc) from None
    return Mapped(values=(team,), notes=tuple(notes))


def _identifier(resource: Mapping[str, Any], system: str) -> str | None:
    return next(
        (
            str(i["value"])
            for i in resource.get("identifier", ())
            if isinstance(i, dict) and i.get("system") == system and i.get("value")
        ),
        None,
    )


def _goal(goal: dict[str, Any], problem_of_condition: dict[str, str]) -> Goal:
    gid = _identifier(goal, f"{codes.CARECORE}/goal-id") or _need(goal, "id")
    lifecycle = _status(goal, "lifecycleStatus", codes.GOAL_LIFECYCLE_IN)
    achievement = GoalAchievement.IN_PROGRESS
    code = _code_in(goal.get("achievementStatus"), codes.GOAL_ACHIEVEMENT_SYSTEM)
    if code in codes.GOAL_ACHIEVEMENT_IN:
        achievement = codes.GOAL_ACHIEVEMENT_IN[code]
    description = _text(_need(goal, "description"))
    if not description:
        raise errors.InvalidValue(
            "needs a description text", field=f"{_name(goal)}.description", value=None
        )
    target = None
    for index, tgt in enumerate(goal.get("target", ())):
        quantity = tgt.get("detailQuantity") if isinstance(tgt, dict) else None
        if not isinstance(quantity, dict) or "value" not in quantity or not tgt.get("dueDate"):
            continue
        where = f"target[{index}]"
        target = Target(
            measure=_text(tgt.get("measure")) or description,
            loinc=_loinc(tgt.get("measure")),
            comparator=Comparator(quantity.get("comparator", "=")),
            value=_decimal(goal, f"{where}.detailQuantity.value", quantity["value"]),
            unit=str(quantity.get("unit") or quantity.get("code") or "1"),
            due=_date(goal, f"{where}.dueDate", tgt["dueDate"]),
        )
        break
    problem_ids = [
        str(e["valueString"])
        for e in goal.get("extension", ())
        if isinstance(e, dict)
        and e.get("url") == f"{codes.CARECORE}/StructureDefinition/goal-problem"
    ]
    if not problem_ids:
        for a in goal.get("addresses", ()):
            cid = str(a.get("reference", "")).rsplit("/", 1)[-1] if isinstance(a, dict) else ""
            if cid in problem_of_condition and problem_of_condition[cid] not in problem_ids:
                problem_ids.append(problem_of_condition[cid])
    ext = _extension(goal, f"{codes.CARECORE}/StructureDefinition/goal-confidence")
    return Goal(
        id=gid,
        description=description,
        problem_ids=problem_ids,
        target=target,
        lifecycle=lifecycle,
        achievement=achievement,
        confidence=ext.get("valueInteger") if ext else None,
    )


def _task_from_detail(
    plan_id: str, index: int, detail: dict[str, Any], owner: str, goal_of: dict[str, str]
) -> Task:
    where = f"CarePlan/{plan_id}.activity[{index}].detail"
    description = _text(detail.get("code")) or detail.get("description")
    if not description:
        raise errors.InvalidValue("needs a code or a description", field=where, value=None)
    status_code = detail.get("status")
    if status_code not in codes.ACTIVITY_STATUS_IN:
        raise errors.InvalidCode(
            "not a CarePlan activity status", field=f"{where}.status", value=status_code
        )
    status = codes.ACTIVITY_STATUS_IN[status_code]
    outcome = None
    if status in {TaskStatus.COMPLETED, TaskStatus.FAILED}:
        outcome = _text(detail.get("statusReason")) or f"reported {status_code} by the source EHR"
    kind = codes.ACTIVITY_KIND_IN.get(detail.get("kind", ""), InterventionKind.SELF_MANAGEMENT)
    performer = next(iter(detail.get("performer", ())), None)
    if isinstance(performer, dict):
        owner = str(performer.get("reference", "")).rsplit("/", 1)[-1].lstrip("#") or str(
            performer.get("display") or owner
        )
    goals = [
        goal_of.get(gid, gid)
        for g in detail.get("goal", ())
        if isinstance(g, dict)
        and (gid := str(g.get("reference", "")).rsplit("/", 1)[-1].lstrip("#"))
    ]
    due = (detail.get("scheduledPeriod") or {}).get("end")
    return Task(
        id=f"{plan_id}-activity-{index}",
        description=str(description),
        owner=owner,
        kind=kind,
        due=_date(
            {"resourceType": "CarePlan", "id": plan_id},
            f"activity[{index}].detail.scheduledPeriod.end",
            due,
        )
        if due
        else None,
        status=status,
        outcome=outcome,
        goal_ids=goals,
    )


def _task(task: dict[str, Any], owner_default: str, goal_of: dict[str, str]) -> Task:
    tid = _identifier(task, f"{codes.CARECORE}/task-id") or _need(task, "id")
    status = _status(task, "status", codes.TASK_STATUS_IN)
    kind_code = _code_in(task.get("code"), codes.INTERVENTION_SYSTEM)
    kind = InterventionKind(kind_code) if kind_code else InterventionKind.COORDINATION
    owner_ref = task.get("owner") or {}
    owner = (
        str(owner_ref.get("reference", "")).rsplit("/", 1)[-1] or owner_ref.get("display")
        if isinstance(owner_ref, dict)
        else None
    ) or owner_default
    due_text = ((task.get("restriction") or {}).get("period") or {}).get("end")
    outcome = None
    for out in task.get("output", ()):
        if isinstance(out, dict) and out.get("valueString"):
            outcome = out["valueString"]
    if outcome is None and status in {TaskStatus.COMPLETED, TaskStatus.FAILED}:
        outcome = _text(task.get("statusReason")) or f"reported {status.value} by the source EHR"
    goal_ext = [
        goal_of.get(fid, fid)
        for e in task.get("extension", ())
        if isinstance(e, dict)
        and e.get("url") == f"{codes.CARECORE}/StructureDefinition/task-goal"
        and isinstance(e.get("valueReference"), dict)
        and (fid := str(e["valueReference"].get("reference", "")).rsplit("/", 1)[-1])
    ]
    return Task(
        id=tid,
        description=str(task.get("description") or _text(task.get("code")) or "task"),
        owner=str(owner),
        kind=kind,
        due=_date(task, "restriction.period.end", due_text) if due_text else None,
        status=status,
        outcome=outcome,
        goal_ids=goal_ext,
    )


_REFERRAL_STATUS = {
    "draft": "draft",
    "active": "sent",
    "on-hold": "accepted",
    "completed": "completed",
    "revoked": "cancelled",
}


def _referral(request: dict[str, Any]) -> Referral:
    rid = _need(request, "id")
    ext = _extension(request, f"{codes.CARECORE}/StructureDefinition/referral")
    if ext is not None:
        data = _extension_json(request, ext, "referral")
        value: Referral = from_primitive(data, Referral)
        return value
    performer: dict[str, Any] = next(iter(request.get("performer", ())), {})
    status = _status(request, "status", _REFERRAL_STATUS)
    from carecore.model import ReferralStatus  # noqa: PLC0415

    return Referral(
        id=rid,
        to=str(performer.get("display") or "unknown"),
        reason=_text(next(iter(request.get("reasonCode", ())), None))
        or _text(request.get("code"))
        or "referral",
        status=ReferralStatus(status),
        status_reason="reported by the source EHR" if status in {"cancelled", "declined"} else None,
    )


_EXTRAS = f"{codes.CARECORE}/StructureDefinition/careplan-extras"


_ACTIVITY_TARGETS = (
    "Task",
    "ServiceRequest",
    "Appointment",
    "CommunicationRequest",
    "DeviceRequest",
    "MedicationRequest",
    "NutritionOrder",
    "RequestGroup",
    "VisionPrescription",
)


def _in_hand(resource: dict[str, Any], resolver: Resolver, text: str) -> dict[str, Any] | None:
    """The resource a reference names: contained (``#id``) or in the bundle."""
    if text.startswith("#"):
        return next((c for c in resource.get("contained", ()) if c.get("id") == text[1:]), None)
    return resolver.resource(text)


def _title(resource: dict[str, Any]) -> str:
    title = resource.get("title") or next(
        (
            t
            for concept in resource.get("category", ())
            if not _code_in(concept, codes.FAMILY_SYSTEM)
            and not _code_in(concept, codes.US_CORE_CAREPLAN_CATEGORY)
            and (t := _text(concept))
        ),
        None,
    )
    return str(title or resource.get("description") or "Care plan")


def _problems(resource: dict[str, Any], resolver: Resolver) -> list[Problem]:
    problems = []
    for index, ref in enumerate(resource.get("addresses", ())):
        _, cid = resolver.target(resource, f"addresses[{index}]", ref, ("Condition",))
        condition = resolver.resource(str(ref.get("reference"))) or {}
        description = _text(condition.get("code")) or ref.get("display") or f"Condition {cid}"
        ident = ref.get("identifier")
        pid = cid
        if isinstance(ident, dict) and ident.get("system") == f"{codes.CARECORE}/problem-id":
            pid = str(ident.get("value") or cid)
        problems.append(Problem(id=pid, description=description, condition_id=cid))
    return problems


def _goals(
    resource: dict[str, Any], resolver: Resolver, problems: list[Problem], notes: list[str]
) -> tuple[list[Goal], dict[str, str]]:
    problem_of_condition = {p.condition_id: p.id for p in problems if p.condition_id}
    goal_of: dict[str, str] = {}
    goals: list[Goal] = []
    for index, ref in enumerate(resource.get("goal", ())):
        _, gid = resolver.target(resource, f"goal[{index}]", ref, ("Goal",))
        goal = _in_hand(resource, resolver, str(ref.get("reference", "")))
        if goal is None:
            notes.append(f"goal[{index}]: Goal/{gid} is not in hand; not carried over")
            continue
        try:
            goals.append(_goal(goal, problem_of_condition))
        except Skip as skip:
            notes.append(f"goal[{index}]: {skip.reason}")
            continue
        goal_of[gid.lstrip("#")] = goals[-1].id
    return goals, goal_of


def _activities(
    resource: dict[str, Any],
    resolver: Resolver,
    owner: str,
    goal_of: dict[str, str],
    notes: list[str],
) -> tuple[list[Task], list[Referral]]:
    rid = str(resource["id"])
    tasks: list[Task] = []
    referrals: list[Referral] = []
    for index, activity in enumerate(resource.get("activity", ())):
        detail = activity.get("detail") if isinstance(activity, dict) else None
        ref = activity.get("reference") if isinstance(activity, dict) else None
        if isinstance(detail, dict):
            if detail.get("status") == "entered-in-error":
                notes.append(f"activity[{index}]: entered-in-error")
            else:
                tasks.append(_task_from_detail(rid, index, detail, owner, goal_of))
            continue
        if not isinstance(ref, dict):
            continue
        if "reference" not in ref:
            notes.append(f"activity[{index}].reference: no target, only a display text")
            continue
        where = f"activity[{index}].reference"
        kind, aid = resolver.target(resource, where, ref, _ACTIVITY_TARGETS)
        target = _in_hand(resource, resolver, str(ref["reference"]))
        if target is None:
            notes.append(f"activity[{index}]: {kind}/{aid} is not in hand; not carried over")
        elif kind == "Task":
            tasks.append(_task(target, owner, goal_of))
        elif kind == "ServiceRequest":
            referrals.append(_referral(target))
        else:
            notes.append(f"activity[{index}]: a {kind} is not a carecore task")
    return tasks, referrals


def map_careplan(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A FHIR CarePlan, with its goals and activities, as a carecore :class:`~carecore.model.CarePlan`."""
    rid = _need(resource, "id")
    name = _name(resource)
    status = _status(resource, "status", codes.CARE_PLAN_STATUS_IN)
    intent = _need(resource, "intent")
    if intent not in codes.REQUIRED["CarePlan", "intent"]:
        raise errors.InvalidCode("not a CarePlan.intent code", field=f"{name}.intent", value=intent)
    patient_id = _patient_ref(resource, resolver)
    families = {
        ServiceFamily(c["code"])
        for concept in resource.get("category", ())
        for c in _codings(concept)
        if c.get("system") == codes.FAMILY_SYSTEM and c.get("code") in ServiceFamily.__members__
    } or set(options.families)
    created = resource.get("created") or (resource.get("period") or {}).get("start")
    if created is None:
        raise errors.InvalidValue(
            "needs created or period.start", field=f"{name}.created", value=None
        )
    notes: list[str] = []
    problems = _problems(resource, resolver)
    goals, goal_of = _goals(resource, resolver, problems, notes)
    author = resource.get("author")
    responsible = None
    if isinstance(author, dict) and author.get("reference"):
        responsible = str(author["reference"]).rsplit("/", 1)[-1]
    tasks, referrals = _activities(resource, resolver, responsible or "unassigned", goal_of, notes)
    contributors = [
        str(c.get("reference", "")).rsplit("/", 1)[-1]
        for c in resource.get("contributor", ())
        if isinstance(c, dict) and c.get("reference")
    ]
    version = (resource.get("meta") or {}).get("versionId")
    ext = _extension(resource, _EXTRAS)
    extras: Any = _extension_json(resource, ext, "careplan-extras") if ext is not None else {}
    if not isinstance(extras, dict):
        raise errors.InvalidValue(
            "is not a JSON object",
            field=f"{name}.extension(careplan-extras).valueString",
            value=type(extras).__name__,
        )
    problems += [from_primitive(data, Problem) for data in extras.pop("unlinked_problems", ())]
    try:
        plan = CarePlan(
            id=rid,
            patient_id=patient_id,
            title=_title(resource),
            families=frozenset(families),
            created_on=_date(resource, "created", created),
            status=status,
            version=int(version) if isinstance(version, str) and version.isdigit() else 1,
            problems=problems,
            goals=goals,
            tasks=tasks,
            referrals=referrals,
            responsible_id=responsible,
            contributors=contributors,
            expected_outcome=extras.pop("expected_outcome", None),
            **_extras(extras),
        )
    except errors.InvalidValue as exc:
        raise _located(resource, exc) from None
    return Mapped(values=(plan,), notes=tuple(notes))


def _extras(extras: dict[str, Any]) -> dict[str, Any]:
    """The plan parts FHIR has no element for, from carecore's extension (see export)."""
    if not extras:
        return {}
    fields = attrs.fields_dict(CarePlan)
    data = {
        "id": "x",
        "patient_id": "x",
        "title": "x",
        "families": ["CCM"],
        "created_on": "2000-01-01",
    }
    data.update(extras)
    plan = from_primitive(data, CarePlan)
    return {name: getattr(plan, name) for name in extras if name in fields}


def map_goal(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A Goal on its own: carecore keeps goals inside care plans, so it is skipped here."""
    del resolver, options
    _status(resource, "lifecycleStatus", codes.GOAL_LIFECYCLE_IN)
    raise Skip("carecore keeps goals in care plans; this goal is read with the plan that lists it")


def map_part_of_plan(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A Task or ServiceRequest on its own: read with the care plan whose activity names it."""
    del resolver, options
    raise Skip(
        f"a {resource.get('resourceType')} is read with the care plan whose activity names it"
    )


#: PHDSC Source of Payment Typology (US Core Coverage.type) to carecore's plan kinds.
#: The PHDSC/NAHDO Source of Payment Typology, by its OID and by the URL US Core 6+ uses.
PAYMENT_TYPOLOGY = ("urn:oid:2.16.840.1.113883.3.221.5", "https://nahdo.org/sopt")
PLAN_CODES = f"{codes.CARECORE}/CodeSystem/coverage-plan"


def _plan_kind(code: str) -> CoveragePlan:
    """A Source of Payment Typology code as carecore's plan kind (nahdo.org/sopt)."""
    if code.startswith("12"):
        return CoveragePlan.MEDICARE_PART_B  # 12: Medicare (non-managed care), 121: FFS
    if code.startswith("11"):
        return CoveragePlan.MEDICARE_ADVANTAGE  # 11: Medicare managed care (Part C)
    if code.startswith("2"):
        return CoveragePlan.MEDICAID
    if code.startswith(("5", "6")):
        return CoveragePlan.COMMERCIAL  # private insurance; Blue Cross/Blue Shield
    return CoveragePlan.OTHER


def map_coverage(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A FHIR Coverage as a carecore :class:`~carecore.model.Coverage`."""
    del options
    rid = _need(resource, "id")
    status = _need(resource, "status")
    if status in {"entered-in-error", "draft"}:
        raise Skip(f"status is {status}")
    if status not in {"active", "cancelled"}:
        raise errors.InvalidCode(
            "not a Coverage.status code", field=f"{_name(resource)}.status", value=status
        )
    patient_id = _patient_ref(resource, resolver, "beneficiary")
    payors = [p for p in resource.get("payor", ()) if isinstance(p, dict)]
    if not payors:
        raise errors.InvalidValue("is required", field=f"{_name(resource)}.payor", value=None)
    org = resolver.resource(str(payors[0].get("reference", ""))) or {}
    payer = org.get("name") or payors[0].get("display")
    if not payer:
        raise errors.InvalidValue(
            "needs a payer name (display, or a resolvable Organization)",
            field=f"{_name(resource)}.payor[0]",
            value=payors[0],
        )
    notes: list[str] = []
    own = _code_in(resource.get("type"), PLAN_CODES)
    sopt = next(
        (c for system in PAYMENT_TYPOLOGY if (c := _code_in(resource.get("type"), system))), None
    )
    if own in {p.value for p in CoveragePlan}:
        plan = CoveragePlan(own)
    elif sopt:
        plan = _plan_kind(str(sopt))
    else:
        plan = CoveragePlan.OTHER
        notes.append("type: no Source of Payment Typology code; plan kind OTHER")
    period = resource.get("period") or {}
    try:
        coverage = Coverage(
            id=rid,
            patient_id=patient_id,
            payer=str(payer),
            plan=plan,
            member_id=resource.get("subscriberId") or None,
            start=_date(resource, "period.start", period["start"]) if period.get("start") else None,
            end=_date(resource, "period.end", period["end"]) if period.get("end") else None,
        )
    except errors.InvalidValue as exc:
        raise _located(resource, exc) from None
    return Mapped(values=(coverage,), notes=tuple(notes))


MAPPERS: dict[str, Callable[[dict[str, Any], Resolver, Options], Mapped]] = {
    "Patient": map_patient,
    "Practitioner": map_practitioner,
    "Condition": map_condition,
    "Encounter": map_encounter,
    "Observation": map_observation,
    "CarePlan": map_careplan,
    "Goal": map_goal,
    "CareTeam": map_careteam,
    "Coverage": map_coverage,
    "Task": map_part_of_plan,
    "ServiceRequest": map_part_of_plan,
}


def _program_record(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """An assessment, consent or enrollment (:mod:`carecore_fhir.program_records`)."""
    from carecore_fhir import program_records  # noqa: PLC0415 - it imports this module

    mapper = {
        "QuestionnaireResponse": program_records.map_questionnaire_response,
        "Consent": program_records.map_consent,
        "EpisodeOfCare": program_records.map_episode_of_care,
    }[resource["resourceType"]]
    return mapper(resource, resolver, options)


MAPPERS.update(
    dict.fromkeys(("QuestionnaireResponse", "Consent", "EpisodeOfCare"), _program_record)
)

#: Observation codes other mappers read (carecore_fhir.clinical: the labs that close care gaps).
EXTRA_OBSERVATIONS: set[str] = set()


def _quick_skip(resource: dict[str, Any]) -> None:
    """Skip, before any validation, what carecore plainly does not read (most Observations)."""
    kind = resource["resourceType"]
    if kind == "Observation":
        code = _loinc(resource.get("code"))
        if (
            code not in codes.OBSERVATION_MEASURES
            and code not in codes.BP_PANELS
            and code not in EXTRA_OBSERVATIONS
        ):
            raise Skip(
                "not an observation carecore reads: A1c, body weight, blood pressure "
                f"(got LOINC {code!r})"
            )
    elif kind == "Encounter":
        klass = resource.get("class")
        code = klass.get("code") if isinstance(klass, dict) else None
        if code not in _INPATIENT:
            raise Skip(
                f"not an inpatient stay; only inpatient stays become ADT events (got class {code!r})"
            )


def to_carecore(
    resource: dict[str, Any],
    resolver: Resolver,
    options: Options | None = None,
    *,
    check: bool = True,
) -> Mapped:
    """One FHIR R4 resource (a dict) as carecore values.

    Raises :class:`Skip` for a resource carecore does not use, and a
    :mod:`carecore.errors` type naming the resource and path for one it
    cannot read (an unknown type, another FHIR version, a structure R4 does
    not allow, a reference that does not resolve, a missing or invalid
    element). With *check*, a resource carecore reads is first validated with
    ``fhir.resources.R4B``.

    >>> to_carecore({"resourceType": "Claim", "id": "c1"}, Resolver({}))
    Traceback (most recent call last):
    ...
    carecore_fhir.mapping.Skip: carecore does not use Claim resources
    """
    kind = resource.get("resourceType")
    if not isinstance(kind, str):
        raise errors.InvalidValue(
            "is missing: not a FHIR resource", field=f"{_name(resource)}.resourceType", value=kind
        )
    if kind in OTHER_VERSION_TYPES:
        raise errors.InvalidValue(
            f"wrong FHIR version: {kind} is a FHIR {OTHER_VERSION_TYPES[kind]} resource type; "
            "carecore reads R4 (4.0.1)",
            field=f"{_name(resource)}.resourceType",
            value=kind,
        )
    if kind not in R4_TYPES:
        raise errors.InvalidValue(
            "unknown resource type (not in FHIR R4)",
            field=f"{_name(resource)}.resourceType",
            value=kind,
        )
    mapper = MAPPERS.get(kind)
    if mapper is None:
        raise Skip(f"carecore does not use {kind} resources")
    try:
        _check_version(resource)
        _quick_skip(resource)
        if check:
            found = validate.structure_problems(resource)
            if found:
                raise errors.InvalidInput(f"FHIR R4 {_name(resource)}", problems=found)
        return mapper(resource, resolver, options or Options())
    except (Skip, errors.CarecoreError):
        raise
    except ValueError as exc:
        # Only reachable with check=False. A ValueError's text may quote the value read
        # (Python's "Invalid isoformat string: '...'"): only its kind is shown.
        raise errors.InvalidValue(
            f"cannot be read ({type(exc).__name__})", field=_name(resource)
        ) from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:
        # Only reachable with check=False: validated resources have the shapes read here.
        # These name types, keys and positions, not values.
        raise errors.InvalidValue(
            f"cannot be read ({type(exc).__name__}: {exc})", field=_name(resource), value=None
        ) from None


# The mappers of medications, immunizations, procedures and labs register themselves.
from carecore_fhir import clinical as _clinical  # noqa: E402, F401
