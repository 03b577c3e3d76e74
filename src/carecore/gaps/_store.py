"""Care gaps and adherence over a store's records, inside one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
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

__all__ = ["adherence_in", "assessed", "gaps_in", "rule_set"]


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
) -> list[Gap]:
    """Every patient's gaps on *on* (or one patient's), in patient and rule order."""
    if patient_id is not None:
        patients = [tx.get(Patient, patient_id)]
        conditions = {patient_id: tx.find(Condition, patient_id=patient_id)}
        services = {patient_id: tx.find(ClinicalService, patient_id=patient_id)}
        observations = {patient_id: tx.find(Observation, patient_id=patient_id)}
        results = {patient_id: tx.find(AssessmentResult, patient_id=patient_id)}
    else:
        patients = sorted(tx.all(Patient), key=lambda p: p.id)
        conditions = _by_patient(tx.all(Condition))
        services = _by_patient(tx.all(ClinicalService))
        observations = _by_patient(tx.all(Observation))
        results = _by_patient(tx.all(AssessmentResult))
    out: list[Gap] = []
    for patient in patients:
        records = records_of(services.get(patient.id, ()), observations.get(patient.id, ()))
        records += assessed(results.get(patient.id, ()))
        out += evaluate(
            patient,
            on=on,
            conditions=conditions.get(patient.id, ()),
            records=records,
            rules=rules,
        )
    return out


def adherence_in(
    tx: Transaction,
    *,
    start: pendulum.Date,
    end: pendulum.Date,
    patient_id: str | None = None,
) -> list[ClassAdherence]:
    """PDC per patient and drug class over *start* to *end*, from the stored fills."""
    if patient_id is not None:
        tx.get(Patient, patient_id)
        fills = tx.find(MedicationFill, patient_id=patient_id)
    else:
        fills = tx.all(MedicationFill)
    return pdc_by_class(fills, start=start, end=end)
