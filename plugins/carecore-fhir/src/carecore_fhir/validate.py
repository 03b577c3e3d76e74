"""Validation of FHIR R4 resources: structure, codes, and what declared profiles require.

``fhir.resources`` checks structure and data types but not code values
(``CarePlan.status = "bogus"`` passes), so :func:`code_problems` checks the
required codes carecore depends on (:data:`carecore_fhir.codes.REQUIRED`), and
:func:`profile_problems` the mandatory elements of each profile in ``meta.profile``
(:data:`carecore_fhir.profiles.REQUIRED`).

>>> doc = {"resourceType": "CarePlan", "id": "cp1", "status": "bogus", "intent": "plan",
...        "subject": {"reference": "Patient/p1"}}
>>> [str(p) for p in problems(doc)]
["CarePlan/cp1.status: not in the R4 value set (got 'bogus')", 'CarePlan/cp1.category: US Core needs a category coded assess-plan (http://hl7.org/fhir/us/core/CodeSystem/careplan-category)']
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore_fhir import codes, profiles

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "code_problems",
    "problems",
    "profile_problems",
    "structure_problems",
    "validate_resource",
]


@functools.cache
def _model(kind: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class  # noqa: PLC0415 - 0.3 s import

    return get_fhir_model_class(kind)


def resource_name(resource: Mapping[str, Any]) -> str:
    """``Type/id`` of *resource* (``?`` for what it lacks), as problems name it.

    >>> resource_name({"resourceType": "Patient", "id": "p1"}), resource_name({})
    ('Patient/p1', '?/?')
    """
    return f"{resource.get('resourceType', '?')}/{resource.get('id', '?')}"


def described(value: object) -> str:
    """What *value* is, never what it says: shown in place of a value that may be PHI.

    >>> described("Okafor"), described("  "), described(["Okafor"]), described({"x": 1})
    ('text of 6 characters', 'blank text', 'a list', 'a JSON object')
    >>> described(None), described(3), described(True)
    ('null', 'a number', 'true or false')
    """
    if isinstance(value, str):
        return f"text of {len(value)} characters" if value.strip() else "blank text"
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (type(None), "null"),
        (bool, "true or false"),
        ((int, float), "a number"),
        ((list, tuple), "a list"),
        (dict, "a JSON object"),
        (dt.date, "a date"),
    )
    return next((word for cls, word in kinds if isinstance(value, cls)), type(value).__name__)


def structure_problems(resource: dict[str, Any]) -> list[errors.Problem]:
    """What ``fhir.resources.R4B`` finds wrong with *resource*'s structure, one problem per path.

    >>> structure_problems({"resourceType": "Goal", "id": "g1", "lifecycleStatus": "active",
    ...     "description": {"text": "walk"}, "subject": {"reference": "Patient/p1"}})
    []
    """
    import pydantic  # noqa: PLC0415

    kind = resource.get("resourceType")
    try:
        model = _model(str(kind))
    except (KeyError, ValueError, AttributeError, ImportError):
        return [
            errors.Problem(
                path=f"{resource_name(resource)}.resourceType",
                message="not a FHIR R4 type",
                value=kind,
            )
        ]
    try:
        model.model_validate(resource)
    except pydantic.ValidationError as exc:
        found = []
        for err in exc.errors():
            path = ".".join(
                f"[{part}]" if isinstance(part, int) else str(part) for part in err["loc"]
            ).replace(".[", "[")
            shown = {"value": err.get("input")} if _shown(err["loc"]) else {}
            found.append(
                errors.Problem(
                    path=f"{resource_name(resource)}.{path}" if path else resource_name(resource),
                    message=str(err["msg"]),
                    **shown,
                )
            )
        return found
    return []


#: Elements whose wrong value a problem shows: codes and ids. Any other (a name, a birth
#: date, a phone number, free text, a patient's gender) is named by its path only: no PHI
#: in messages.
_SHOWN = frozenset(
    {
        "resourceType", "id", "status", "intent", "code", "system", "version", "use",
        "unit", "comparator", "priority", "mode", "relation", "type", "lifecycleStatus",
        "fhirVersion", "reference", "kind",
    }
)  # fmt: skip


def _shown(loc: tuple[int | str, ...]) -> bool:
    """Whether the value at pydantic location *loc* may be shown (its last named element is a code).

    >>> _shown(("status",)), _shown(("name", 0, "given")), _shown(("birthDate",))
    (True, False, False)
    """
    names = [part for part in loc if isinstance(part, str)]
    return bool(names) and names[-1] in _SHOWN


def code_problems(resource: dict[str, Any]) -> list[errors.Problem]:
    """Required codes carecore checks itself (status, intent, category) that are missing or wrong.

    >>> [str(p) for p in code_problems({"resourceType": "Task", "id": "t1", "status": "done",
    ...                                  "intent": "plan"})]
    ["Task/t1.status: not in the R4 value set (got 'done')"]
    """
    kind = str(resource.get("resourceType"))
    found = []
    for (rtype, element), allowed in codes.REQUIRED.items():
        if rtype != kind or element not in resource:
            continue
        value = resource[element]
        if isinstance(value, dict):  # a CodeableConcept bound to a required value set
            value = next((c.get("code") for c in value.get("coding", ())), None)
        if value not in allowed:
            found.append(
                errors.Problem(
                    path=f"{resource_name(resource)}.{element}",
                    message="not in the R4 value set",
                    value=value,
                )
            )
    if kind in codes.REQUIRED_CATEGORY:
        system, allowed = codes.REQUIRED_CATEGORY[kind]
        have = {
            c.get("code")
            for concept in resource.get("category", ())
            for c in concept.get("coding", ())
            if c.get("system") == system
        }
        if not have & allowed:
            found.append(
                errors.Problem(
                    path=f"{resource_name(resource)}.category",
                    message=f"US Core needs a category coded {', '.join(sorted(allowed))} ({system})",
                )
            )
    return found


def profile_problems(resource: dict[str, Any]) -> list[errors.Problem]:
    """The elements a profile *resource* declares makes mandatory and *resource* lacks.

    >>> [str(p) for p in profile_problems({"resourceType": "Goal", "id": "g1",
    ...     "meta": {"profile": [profiles.GOAL]}, "lifecycleStatus": "active",
    ...     "description": {"text": "walk"}})]
    ['Goal/g1.subject: is required by http://hl7.org/fhir/us/core/StructureDefinition/us-core-goal']
    """
    return [
        errors.Problem(path=f"{resource_name(resource)}.{path}", message=f"is required by {url}")
        for url, path in profiles.missing(resource)
    ]


def problems(resource: dict[str, Any]) -> list[errors.Problem]:
    """Every structural, code and profile problem of *resource* (empty when it is valid)."""
    return structure_problems(resource) + code_problems(resource) + profile_problems(resource)


def validate_resource(resource: dict[str, Any]) -> None:
    """Raise :class:`~carecore.errors.InvalidInput` listing every problem of *resource*.

    >>> validate_resource({"resourceType": "Task", "id": "t1", "status": "requested",
    ...                    "intent": "plan"})
    """
    found = problems(resource)
    if found:
        raise errors.InvalidInput(f"FHIR {resource_name(resource)}", problems=found)
