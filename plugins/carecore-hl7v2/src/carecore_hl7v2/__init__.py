r"""carecore for HL7 v2 ADT feeds: map messages to ADT events, listen on MLLP, import files.

>>> from carecore_hl7v2 import parse, to_event
>>> pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
>>> pv1[19], pv1[36], pv1[44], pv1[45] = "V9", "01", "202603011000-0600", "202603041500-0600"
>>> msg = parse("MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|MSG42|P|2.5\r"
...             "PID|1||P1^^^GEN^MR\r" + "|".join(pv1))
>>> event = to_event(msg)
>>> event.kind.value, event.patient_id, event.to_setting.value, event.visit_number
('discharge', 'P1', 'home', 'V9')
>>> event.discharged_at.isoformat(), event.id
('2026-03-04T15:00:00-06:00', 'GEN/MSG42')
"""

from __future__ import annotations

from carecore_hl7v2.mapping import (
    DISPOSITIONS,
    Demographics,
    Refused,
    ack,
    check_limits,
    clean,
    demographics,
    identifiers,
    nak_for_unreadable,
    parse,
    to_event,
)

__all__ = [
    "DISPOSITIONS",
    "Demographics",
    "Refused",
    "ack",
    "check_limits",
    "clean",
    "demographics",
    "identifiers",
    "nak_for_unreadable",
    "parse",
    "to_event",
]
