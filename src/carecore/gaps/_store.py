"""Care gaps and adherence over a store's records, inside one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore.gaps import (
    Gap,
    GapRule,
    Record,
    builtin_rules,
    evaluate,
    records_of,
    rule_from_dict,
)
from carecore.medications import ClassAdherence, pdc_by_class
from carecore.model import (
    AssessmentResult,
    ClinicalService,
    Condition,
    MedicationFill,
    Observation,
    Patient,
)

if TYPE_CHECKING:
    import pendulum
    import pluggy

    from carecore.protocols import Transaction

__all__ = [
    "GapRecords",
    "adherence_in",
    "assessed",
    "evaluate_in",
    "gaps_in",
    "read_gap_records",
    "rule_set",
]


def rule_set(plugin_manager: pluggy.PluginManager | None) -> list[GapRule]:
    """The built-in rules with the plugins' (``carecore_gap_rules``).

    A plugin's rule replaces every built-in version with its id; new ids are added.
    """
    rules = list(builtin_rules())
    if plugin_manager is None or not hasattr(plugin_manager.hook, "carecore_gap_rules"):
        return rules
    given: list[GapRule] = []
    for impl in plugin_manager.hook.carecore_gap_rules.get_hookimpls():
        result = impl.function()
        if result is None:
            continue
        if isinstance(result, str | bytes | dict) or not isinstance(result, Iterable):
            raise errors.PluginError(
                "carecore_gap_rules must return a sequence of rules",
                field="plugin",
                value=impl.plugin_name,
            )
        for item in result:
            rule = rule_from_dict(item) if isinstance(item, dict) else item
            if not isinstance(rule, GapRule):
                raise errors.PluginError(
                    "carecore_gap_rules must give GapRule values or their JSON form",
                    field="plugin",
                    value=impl.plugin_name,
                )
            given.append(rule)
    replaced = {r.id for r in given}
    return [r for r in rules if r.id not in replaced] + given


def _by_patient(items: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        out[item.patient_id].append(item)
    return out


def assessed(results: Iterable[AssessmentResult]) -> list[Record]:
    """Evidence from instruments given through carecore: each result as its total score's LOINC.

    A built-in instrument with a LOINC total (PHQ-9 44261-6, PHQ-2 55758-7,
    AUDIT-C 75626-2) closes the screening rules that name that code; others
    are not evidence.
    """
    from carecore.instruments import BUILTIN_INSTRUMENTS  # noqa: PLC0415 - only when asked

    known = {i.id: i for i in BUILTIN_INSTRUMENTS if i.total_loinc}
    return [
        Record(
            id=r.id,
            system="LOINC",
            code=str(known[r.instrument_id].total_loinc),
            on=r.on,
            text=known[r.instrument_id].title,
        )
        for r in results
        if r.instrument_id in known
    ]


def gaps_in(
    tx: Transaction,
    *,
    on: pendulum.Date,
    rules: list[GapRule],
    patient_id: str | None = None,
    patient_ids: Sequence[str] | None = None,
) -> list[Gap]:
    """Every patient's gaps on *on* (or one patient's, or *patient_ids*'), in patient and rule order."""
    return evaluate_in(
        read_gap_records(tx, patient_id=patient_id, patient_ids=patient_ids), on, rules
    )


#: A group of patients and the records the gap rules read, by patient id.
GapRecords = tuple[
    list[Patient],
    dict[str, list[Condition]],
    dict[str, list[ClinicalService]],
    dict[str, list[Observation]],
    dict[str, list[AssessmentResult]],
]


def read_gap_records(
    tx: Transaction, *, patient_id: str | None = None, patient_ids: Sequence[str] | None = None
) -> GapRecords:
    """The patients and the records the gap rules read: one patient, a partition, or everyone.

    A partition (*patient_ids*) is read with one query per record kind.
    """
    if patient_id is not None:
        return (
            [tx.get(Patient, patient_id)],
            {patient_id: tx.find(Condition, patient_id=patient_id)},
            {patient_id: tx.find(ClinicalService, patient_id=patient_id)},
            {patient_id: tx.find(Observation, patient_id=patient_id)},
            {patient_id: tx.find(AssessmentResult, patient_id=patient_id)},
        )
    if patient_ids is not None:
        ids = list(patient_ids)
        return (
            sorted(tx.find_many(Patient, patient_ids=ids), key=lambda p: p.id),
            _by_patient(tx.find_many(Condition, patient_ids=ids)),
            _by_patient(tx.find_many(ClinicalService, patient_ids=ids)),
            _by_patient(tx.find_many(Observation, patient_ids=ids)),
            _by_patient(tx.find_many(AssessmentResult, patient_ids=ids)),
        )
    return (
        sorted(tx.all(Patient), key=lambda p: p.id),
        _by_patient(tx.all(Condition)),
        _by_patient(tx.all(ClinicalService)),
        _by_patient(tx.all(Observation)),
        _by_patient(tx.all(AssessmentResult)),
    )


def evaluate_in(records: GapRecords, on: pendulum.Date, rules: list[GapRule]) -> list[Gap]:
    """The gaps on *on* of the patients :func:`read_gap_records` read, in patient and rule order."""
    patients, conditions, services, observations, results = records
    out: list[Gap] = []
    for patient in patients:
        evidence = records_of(services.get(patient.id, ()), observations.get(patient.id, ()))
        evidence += assessed(results.get(patient.id, ()))
        out += evaluate(
            patient,
            on=on,
            conditions=conditions.get(patient.id, ()),
            records=evidence,
            rules=rules,
        )
    return out


def adherence_in(
    tx: Transaction,
    *,
    start: pendulum.Date,
    end: pendulum.Date,
    patient_id: str | None = None,
    patient_ids: Sequence[str] | None = None,
) -> list[ClassAdherence]:
    """PDC per patient and drug class over *start* to *end*, from the stored fills.

    Of everyone's fills, one patient's, or those of *patient_ids* (one query).
    """
    if patient_id is not None:
        tx.get(Patient, patient_id)
        fills = tx.find(MedicationFill, patient_id=patient_id)
    elif patient_ids is not None:
        fills = tx.find_many(MedicationFill, patient_ids=list(patient_ids))
    else:
        fills = tx.all(MedicationFill)
    return pdc_by_class(fills, start=start, end=end)
