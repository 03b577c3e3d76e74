"""Remote monitoring months in the columnar close: their device rows and canonical facts.

A month with RPM device readings or RPM time is decided by the engine from:

* the device readings row (its 30-day period, days with data, date, device),
  read by the reference close's own parser;
* the RPM minutes inside the month per minute class (counted toward
  treatment management or not, :func:`~carecore.billing.primitives.monitoring_time_counts`)
  and whether a counted minute was interactive
  (:func:`~carecore.billing.primitives.interactive_month`);
* RPM consent in force, beside the canonical shape of the time families.

:func:`evaluate_device` builds one representative month from those values
(the fast path's canonical patient, the time families' minutes, the RPM
minutes on the month's first day and the readings row) and asks the engine.
The columnar close fans the answer out to every patient with the same values,
and fills in their ids, dates of service and diagnoses. No rule lives here:
what the engine reads is the whole key, and ``tests/billing/test_columnar.py``
holds the close equal to the reference close on random months with device data.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Any

import attrs

from carecore.billing._close import _parse_event
from carecore.billing._engine import evaluate
from carecore.billing._fast import stand_in_pieces
from carecore.billing.facts import DeviceReadingsFact, TimeFact
from carecore.billing.primitives import (
    MONITORING_ROLES,
    MinuteClass,
    monitoring_track,
    threshold_minutes,
)
from carecore.model.codes import RoleClass, ServiceFamily

if TYPE_CHECKING:
    from pathlib import Path

    from carecore.billing._engine import EvaluationResult
    from carecore.billing._fast import FastClose
    from carecore.billing.facts import BillingPractitioner
    from carecore.billing.rules import RuleSet

__all__ = ["Device", "evaluate_device", "monitoring_need", "read_device_rows"]

#: What a remote-monitoring month adds to the canonical month: the readings row (or None),
#: RPM consent in force, a counted interactive minute, and the RPM minutes per minute class.
Device = tuple[DeviceReadingsFact | None, bool, bool, tuple[tuple[int, int], ...]]

#: Roles whose minutes stand for each RPM minute class in the representative month.
_STAND_IN = {
    int(MinuteClass.STAFF): RoleClass.CLINICAL_STAFF,
    int(MinuteClass.NONE): min(set(RoleClass) - MONITORING_ROLES, key=lambda r: r.value),
}


def read_device_rows(
    file: Path, header: list[str], lines: list[int], texts: list[str]
) -> tuple[list[int | None], list[DeviceReadingsFact]]:
    """Per device row (*texts*, plain lines of *file*): the index of its reading, or None.

    Each distinct text after the patient_id cell (the first) is read once by
    the reference close's parser; a row it refuses, or that is not an RPM
    readings row, gets None (its patient goes to the reference close).
    """
    ids: list[int | None] = []
    facts: list[DeviceReadingsFact] = []
    seen: dict[str, int | None] = {}
    for line, text in zip(lines, texts, strict=True):
        cut = text.find(",")
        key = text[cut + 1 :] if cut >= 0 else ""
        if key not in seen:
            seen[key] = None
            cells = next(csv.reader([text]))
            if len(cells) == len(header):
                event, problems = _parse_event(
                    file, line, dict(zip(header, cells, strict=True)), "~"
                )
                if (
                    not problems
                    and isinstance(event, DeviceReadingsFact)
                    and event.family is ServiceFamily.RPM
                ):
                    seen[key] = len(facts)
                    facts.append(attrs.evolve(event, practitioner="~"))
        ids.append(seen[key])
    return ids, facts


def evaluate_device(
    fast: FastClose,
    shape: tuple[object, ...],
    practitioner: BillingPractitioner,
    minutes: dict[tuple[ServiceFamily, int], int],
    device: Device,
) -> EvaluationResult:
    """The engine's answer for the representative month of a canonical month with RPM data."""
    reading, consented, interactive, rpm_minutes = device
    patient = fast.canonical_patient(shape)
    start = fast.period.start
    if consented:
        patient = attrs.evolve(
            patient, consent_on={**dict(patient.consent_on), ServiceFamily.RPM: start}
        )
    extra: list[Any] = [
        TimeFact(
            date=start,
            minutes=piece,
            role=_STAND_IN[kind],
            practitioner="~",
            family=ServiceFamily.RPM,
            interactive=interactive and kind == int(MinuteClass.STAFF),
        )
        for kind, total in rpm_minutes
        for piece in stand_in_pieces(total)
    ]
    if reading is not None:
        extra.append(reading)
    return evaluate(fast.canonical_facts(patient, practitioner, minutes, extra), fast.rules)


def monitoring_need(rules: RuleSet, code: str, units: int) -> int | None:
    """Minutes of treatment management a line of *code* x *units* needs (None: not a time code)."""
    track = monitoring_track(code)
    if track is None:
        return None
    base = rules.rule(track.base)
    add_on = None if code == track.base else rules.rule(code)
    return threshold_minutes(base, add_on, units)
