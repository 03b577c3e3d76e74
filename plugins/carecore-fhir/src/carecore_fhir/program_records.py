"""Reading back the program records carecore writes: assessments, consents, enrollments.

A QuestionnaireResponse of a carecore instrument becomes an
:class:`~carecore.model.AssessmentResult`, a program Consent a
:class:`~carecore.model.Consent`, and an EpisodeOfCare of a program family an
:class:`~carecore.model.Enrollment`. What FHIR has an element for is read from
it; what it has none for (a result's scoring, a consent's billing practitioner
and cost-sharing note, an enrollment's program and status history with
reasons) comes from the carecore extension the export wrote. A resource of
these types that carecore did not write is skipped with the reason: carecore
cannot tell a program consent from a privacy one, or score a questionnaire it
does not know.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore.convert import from_primitive
from carecore.model import AssessmentResult, Consent, Enrollment
from carecore_fhir import codes
from carecore_fhir.mapping import (
    Mapped,
    Options,
    Resolver,
    Skip,
    _date,
    _extension,
    _extension_json,
    _located,
    _name,
    _need,
    _patient_ref,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["map_consent", "map_episode_of_care", "map_questionnaire_response"]

_EXT = f"{codes.CARECORE}/StructureDefinition"
_QUESTIONNAIRE = f"{codes.CARECORE}/Questionnaire/"


def _carecore_json(resource: Mapping[str, Any], name: str, what: str) -> dict[str, Any]:
    """The carecore extension *name* of *resource* as JSON, or Skip saying carecore did not write it."""
    ext = _extension(resource, f"{_EXT}/{name}")
    if ext is None:
        raise Skip(f"not a {what} carecore wrote (no {_EXT}/{name} extension)")
    data = _extension_json(resource, ext, name)
    if not isinstance(data, dict):
        raise errors.InvalidValue(
            "is not a JSON object",
            field=f"{_name(resource)}.extension({name}).valueString",
            value=type(data).__name__,
        )
    return data


def _coding(resource: Mapping[str, Any], element: str, system: str) -> str:
    """The code under *system* in the CodeableConcept list *element* (required)."""
    for concept in resource.get(element, ()):
        for coding in concept.get("coding", ()) if isinstance(concept, dict) else ():
            if isinstance(coding, dict) and coding.get("system") == system and coding.get("code"):
                return str(coding["code"])
    raise errors.InvalidValue(
        f"needs a coding of {system}", field=f"{_name(resource)}.{element}", value=None
    )


def _practitioner(resource: dict[str, Any], resolver: Resolver, path: str, ref: object) -> str:
    """The practitioner a reference names; carecore writes one it does not carry as a display."""
    if isinstance(ref, dict) and "reference" not in ref and isinstance(ref.get("display"), str):
        return str(ref["display"])
    _, rid = resolver.target(resource, path, ref, ("Practitioner",))
    return rid


def _build(resource: dict[str, Any], data: dict[str, Any], cls: type[Any]) -> Any:
    try:
        return from_primitive(data, cls)
    except errors.CarecoreError as exc:
        raise _located(resource, exc) from None


def map_questionnaire_response(
    resource: dict[str, Any], resolver: Resolver, options: Options
) -> Mapped:
    """A completed QuestionnaireResponse of a carecore instrument as an AssessmentResult."""
    del options
    questionnaire = str(resource.get("questionnaire") or "")
    if not questionnaire.startswith(_QUESTIONNAIRE):
        raise Skip(
            f"not a carecore instrument (questionnaire {questionnaire or None!r}); "
            "carecore scores only its own instruments"
        )
    if resource.get("status") != "completed":
        raise Skip(f"status {resource.get('status')!r}: not a completed assessment")
    scoring = _carecore_json(resource, "assessment", "scored assessment")
    answers = []
    for index, item in enumerate(resource.get("item", ())):
        values = [
            next(iter(a.values())) for a in item.get("answer", ()) if isinstance(a, dict) and a
        ]
        if not item.get("linkId") or not values:
            raise errors.InvalidValue(
                "needs a linkId and an answer",
                field=f"{_name(resource)}.item[{index}]",
                value=item.get("linkId"),
            )
        answers.append({"item": item["linkId"], "values": [str(v) for v in values]})
    author = resource.get("author")
    data = {
        **scoring,
        "id": _need(resource, "id"),
        "patient_id": _patient_ref(resource, resolver),
        "instrument_id": questionnaire.removeprefix(_QUESTIONNAIRE),
        "on": _date(resource, "authored", _need(resource, "authored")).isoformat(),
        "answers": answers,
        "performer_id": _practitioner(resource, resolver, "author", author) if author else None,
    }
    return Mapped(values=(_build(resource, data, AssessmentResult),))


def map_consent(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A carecore program Consent as a :class:`~carecore.model.Consent`."""
    del options
    extras = _carecore_json(resource, "consent", "program consent")
    performers = resource.get("performer") or [None]
    data = {
        **extras,
        "id": _need(resource, "id"),
        "patient_id": _patient_ref(resource, resolver, "patient"),
        "family": _coding(resource, "category", codes.FAMILY_SYSTEM),
        "method": _coding(resource, "category", codes.CONSENT_METHOD_SYSTEM),
        "obtained_on": _date(resource, "dateTime", _need(resource, "dateTime")).isoformat(),
        "obtained_by": _practitioner(resource, resolver, "performer[0]", performers[0]),
    }
    return Mapped(values=(_build(resource, data, Consent),))


def map_episode_of_care(resource: dict[str, Any], resolver: Resolver, options: Options) -> Mapped:
    """A carecore program enrollment (EpisodeOfCare) as an :class:`~carecore.model.Enrollment`."""
    del options
    extras = _carecore_json(resource, "enrollment", "program enrollment")
    data = {
        **extras,
        "id": _need(resource, "id"),
        "patient_id": _patient_ref(resource, resolver, "patient"),
        "family": _coding(resource, "type", codes.FAMILY_SYSTEM),
        "billing_practitioner_id": _practitioner(
            resource, resolver, "careManager", _need(resource, "careManager")
        ),
    }
    return Mapped(values=(_build(resource, data, Enrollment),))
