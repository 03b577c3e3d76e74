"""Questions put to the audit log: who saw a patient, what an actor did, as FHIR AuditEvents.

>>> import pendulum
>>> from carecore.storage import AuditEntry
>>> e = AuditEntry(seq=7, at=pendulum.datetime(2026, 1, 5, 9, tz="UTC"), actor="rn:ana",
...     action="read", kind="CarePlan", key="cp1", patient_id="p1", reason="weekly review")
>>> event = audit_event(e)
>>> event["action"], event["agent"][0]["who"]["identifier"]["value"]
('R', 'rn:ana')
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pendulum

from carecore import errors

if TYPE_CHECKING:
    import datetime as dt

    from carecore.protocols import Transaction
    from carecore.storage import AuditEntry

__all__ = ["audit_event", "entries"]

#: FHIR AuditEvent.action codes (http://hl7.org/fhir/audit-event-action) by carecore action.
_ACTIONS = {
    "create": "C",
    "bulk-create": "C",
    "read": "R",
    "bulk-read": "R",
    "update": "U",
    "delete": "D",
}

#: The action code of a refused request, by the carecore access action refused.
_DENIED = {
    "read": "R",
    "export": "R",
    "deidentified-export": "R",
    "write": "U",
    "bill": "C",
}

#: The DICOM audit event type and the FHIR REST interaction of each action code.
_REST = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "operation"}

#: Identifier systems for the actor and the records (carecore's own ids, not URLs one resolves).
ACTOR_SYSTEM = "urn:carecore:actor"
RECORD_SYSTEM = "urn:carecore:record"


def entries(
    tx: Transaction,
    *,
    patient_id: str | None = None,
    actor: str | None = None,
    since: dt.date | None = None,
) -> list[AuditEntry]:
    """The audit entries of one patient or one actor (or both), from *since* (UTC) on, oldest first.

    At least one of *patient_id* and *actor* is required: the log of a whole
    store is read with ``tx.audit_entries()``.
    """
    if patient_id is None and actor is None:
        raise errors.InvalidValue(
            "name a patient or an actor to list", field="patient_id", value=None
        )
    for field, value in (("patient_id", patient_id), ("actor", actor)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise errors.InvalidValue("must be a non-blank id", field=field, value=value)
    start = None
    if since is not None:
        start = pendulum.datetime(since.year, since.month, since.day, tz="UTC")
    found = tx.audit_entries(patient_id=patient_id)
    return [
        e for e in found if (actor is None or e.actor == actor) and (start is None or e.at >= start)
    ]


def audit_event(entry: AuditEntry) -> dict[str, Any]:
    """One audit entry as a FHIR R4 AuditEvent resource (a JSON-ready dict).

    The action maps to C/R/U/D (E for the outbox's actions); the actor is the
    requesting agent; the record (kind and key) and the patient are entities.
    """
    denied = entry.action == "denied"  # the access policy refused it; detail: the action
    code = _DENIED.get(entry.detail, "E") if denied else _ACTIONS.get(entry.action, "E")
    entities: list[dict[str, Any]] = []
    if entry.patient_id is not None:
        entities.append(
            {
                "what": {"reference": f"Patient/{entry.patient_id}"},
                "type": {
                    "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                    "code": "1",
                    "display": "Person",
                },
                "role": {
                    "system": "http://terminology.hl7.org/CodeSystem/object-role",
                    "code": "1",
                    "display": "Patient",
                },
            }
        )
    record: dict[str, Any] = {
        "what": {
            "identifier": {
                "system": RECORD_SYSTEM,
                "value": entry.kind if entry.key is None else f"{entry.kind}/{entry.key}",
            },
            "display": entry.kind,
        },
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
            "code": "2",
            "display": "System Object",
        },
    }
    if entry.detail and not denied:
        record["description"] = entry.detail
    entities.append(record)
    return {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.seq}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": _REST[code],
            }
        ],
        "action": code,
        "recorded": entry.at.in_timezone("UTC").isoformat(),
        # 4: minor failure (the request was refused; nothing was read or written).
        "outcome": "4" if denied else "0",
        **({"outcomeDesc": f"access denied: {entry.detail}"} if denied else {}),
        "purposeOfEvent": [{"text": entry.reason}],
        "agent": [
            {
                "who": {"identifier": {"system": ACTOR_SYSTEM, "value": entry.actor}},
                "requestor": True,
            }
        ],
        "source": {"observer": {"display": "carecore"}},
        "entity": entities,
    }
