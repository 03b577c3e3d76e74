"""Medication lists, reconciliation and adherence: pure functions over model values.

- :func:`active_on` gives a patient's medication list as of a day;
- :func:`compare` names the discrepancies between two or more source lists;
- :func:`reconcile` turns the lists and a decision per medication into a
  :class:`~carecore.model.MedicationReconciliation` and the reconciled list;
- :func:`pdc` computes adherence (proportion of days covered) from fills.

See the medications explanation page for what counts as a discrepancy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from carecore import errors
from carecore.medications._classes import ADHERENCE_CLASSES, drug_class_of, ingredients_of
from carecore.medications._pdc import (
    ClassAdherence,
    pdc,
    pdc_by_class,
    read_fills_csv,
    read_fills_file,
)
from carecore.model import validators as v
from carecore.model.medications import (
    Decision,
    DiscrepancyKind,
    MedicationReconciliation,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    ReconciliationItem,
)

if TYPE_CHECKING:
    import pendulum

__all__ = [
    "ADHERENCE_CLASSES",
    "Choice",
    "ClassAdherence",
    "Finding",
    "active_on",
    "compare",
    "drug_class_of",
    "ingredients_of",
    "pdc",
    "pdc_by_class",
    "read_fills_csv",
    "read_fills_file",
    "reconcile",
]

#: Which source's details (dose, text) a continued medication keeps, best first.
_PREFERENCE = (
    MedicationSource.DISCHARGE_SUMMARY,
    MedicationSource.RECONCILIATION,
    MedicationSource.EHR,
    MedicationSource.PATIENT_REPORTED,
    MedicationSource.PHARMACY_FILL,
)
#: Which statement stands for a medication on the list as of a day, best first.
_LIST_ORDER = (
    MedicationSource.RECONCILIATION,
    MedicationSource.EHR,
    MedicationSource.DISCHARGE_SUMMARY,
    MedicationSource.PATIENT_REPORTED,
    MedicationSource.PHARMACY_FILL,
)
_STOPPED = frozenset({MedicationStatus.STOPPED, MedicationStatus.COMPLETED})
#: Lists that say a drug is still being taken: the patient's, the practice's, the pharmacy's.
_STILL_TAKEN = frozenset(
    {MedicationSource.PATIENT_REPORTED, MedicationSource.EHR, MedicationSource.PHARMACY_FILL}
)
_SPACES = re.compile(r"\s+")


def active_on(
    statements: Iterable[MedicationStatement], day: pendulum.Date
) -> list[MedicationStatement]:
    """A patient's medication list as of *day*, from all their statements.

    After a reconciliation (on or before *day*), the list is the reconciled
    list of the latest one, plus what was recorded after it; before any, it is
    every statement taken on *day* (one per medication: the practice's list
    first, then the discharge summary, the patient's report, the pharmacy).
    Pharmacy fills are evidence of taking, not a list, and are left out.

    >>> import pendulum
    >>> m = MedicationStatement(id="m1", patient_id="p1", text="Metformin 500 MG",
    ...     source=MedicationSource.EHR, start=pendulum.Date(2025, 1, 1),
    ...     stop=pendulum.Date(2026, 1, 1))
    >>> [s.id for s in active_on([m], pendulum.Date(2025, 6, 1))], active_on([m], pendulum.Date(2026, 1, 1))
    (['m1'], [])
    """
    day = v.check_date(day, "day")
    items = list(statements)
    for index, item in enumerate(items):
        if not isinstance(item, MedicationStatement):
            raise errors.InvalidValue(
                "must be a MedicationStatement", field=f"statements[{index}]", value=item
            )
    reconciled = [
        s.recorded_on
        for s in items
        if s.source is MedicationSource.RECONCILIATION
        and s.recorded_on is not None
        and s.recorded_on <= day
    ]
    last = max(reconciled, default=None)
    taken = [
        s for s in items if s.active_on(day) and s.source is not MedicationSource.PHARMACY_FILL
    ]
    if last is not None:
        kept = [
            s
            for s in taken
            if (s.source is MedicationSource.RECONCILIATION and s.recorded_on == last)
            or (
                s.source is not MedicationSource.RECONCILIATION
                and _recorded(s) is not None
                and _recorded(s) > last  # type: ignore[operator]
            )
        ]
    else:
        kept = taken
    best: dict[str, MedicationStatement] = {}
    for s in sorted(kept, key=lambda s: (_LIST_ORDER.index(s.source), s.id)):
        best.setdefault(s.key, s)
    return sorted(best.values(), key=lambda s: (s.text.lower(), s.id))


def _recorded(s: MedicationStatement) -> pendulum.Date | None:
    return s.recorded_on or s.start


@attrs.frozen(kw_only=True)
class Finding:
    """One medication across the source lists, and the discrepancies found for it."""

    key: str
    text: str
    statements: tuple[MedicationStatement, ...]
    discrepancies: frozenset[DiscrepancyKind]

    @property
    def sources(self) -> frozenset[MedicationSource]:
        """The lists the medication is on."""
        return frozenset(s.source for s in self.statements)

    def explain(self) -> str:
        """The discrepancies in words (``"none"`` when the lists agree)."""
        if not self.discrepancies:
            return "none"
        return ", ".join(sorted(d.value for d in self.discrepancies))


@attrs.frozen(kw_only=True)
class Choice:
    """A decision about one medication, with the new dose or frequency for ``change``.

    >>> Choice(decision=Decision.CHANGE, dose="10 mg").dose
    '10 mg'
    """

    decision: Decision = attrs.field(validator=v.one_of(Decision))
    dose: str | None = None
    frequency: str | None = None
    note: str | None = None


def _norm(text: str | None) -> str | None:
    return None if text is None else _SPACES.sub(" ", text.strip().lower())


def _is_stopped(s: MedicationStatement) -> bool:
    return s.status in _STOPPED or s.stop is not None


def _target(sources: Iterable[MedicationSource]) -> MedicationSource:
    present = set(sources)
    if MedicationSource.DISCHARGE_SUMMARY in present:
        return MedicationSource.DISCHARGE_SUMMARY
    if MedicationSource.EHR in present:
        return MedicationSource.EHR
    return MedicationSource.RECONCILIATION


def _check_lists(
    lists: Mapping[MedicationSource, Iterable[MedicationStatement]],
) -> dict[MedicationSource, list[MedicationStatement]]:
    if not isinstance(lists, Mapping):
        raise errors.InvalidValue("must map each source to its list", field="lists", value=lists)
    out: dict[MedicationSource, list[MedicationStatement]] = {}
    for source, items in lists.items():
        if not isinstance(source, MedicationSource):
            raise errors.InvalidValue("must be a MedicationSource", field="lists", value=source)
        checked = list(items)
        for index, item in enumerate(checked):
            if not isinstance(item, MedicationStatement):
                raise errors.InvalidValue(
                    "must be a MedicationStatement",
                    field=f"lists[{source.value}][{index}]",
                    value=item,
                )
        out[source] = checked
    if len(out) < 2:  # noqa: PLR2004 - a reconciliation compares two lists or more
        raise errors.InvalidValue(
            "a reconciliation compares two or more source lists",
            field="lists",
            value=sorted(s.value for s in out),
        )
    return out


def compare(  # noqa: C901, PLR0912 - one check per discrepancy kind
    lists: Mapping[MedicationSource, Iterable[MedicationStatement]],
) -> list[Finding]:
    """Every medication on any of *lists*, with the discrepancies between the lists.

    The list checked against the others is the discharge summary when given,
    else the practice's list (EHR). See the medications explanation page for
    the five kinds of discrepancy.

    >>> import pendulum
    >>> ehr = MedicationStatement(id="e1", patient_id="p1", rxnorm="197361", text="Amlodipine 5 MG",
    ...     dose="5 mg", source=MedicationSource.EHR)
    >>> dc = MedicationStatement(id="d1", patient_id="p1", rxnorm="197361", text="Amlodipine 10 MG",
    ...     dose="10 mg", source=MedicationSource.DISCHARGE_SUMMARY)
    >>> [f.explain() for f in compare({MedicationSource.EHR: [ehr], MedicationSource.DISCHARGE_SUMMARY: [dc]})]
    ['dose_change']
    """
    checked = _check_lists(lists)
    target = _target(checked)
    by_key: dict[str, list[MedicationStatement]] = {}
    for source in sorted(checked, key=_PREFERENCE.index):
        for s in checked[source]:
            by_key.setdefault(s.key, []).append(s)
    others = set(checked) - {target}
    findings: dict[str, set[DiscrepancyKind]] = {key: set() for key in by_key}
    for key, found in by_key.items():
        kinds = findings[key]
        on_target = [s for s in found if s.source is target]
        target_active = [s for s in on_target if not _is_stopped(s)]
        active_elsewhere = [s for s in found if s.source in others and not _is_stopped(s)]
        if not on_target and active_elsewhere:
            kinds.add(DiscrepancyKind.OMISSION)
        if (
            target_active
            and others
            and not active_elsewhere
            and not any(s.source in others for s in found)
        ):
            kinds.add(DiscrepancyKind.COMMISSION)
        active = [s for s in found if not _is_stopped(s)]
        doses = {_norm(s.dose) for s in active if s.dose}
        freqs = {_norm(s.frequency) for s in active if s.frequency}
        if len(doses) > 1 or len(freqs) > 1:
            kinds.add(DiscrepancyKind.DOSE_CHANGE)
        stopped_at_discharge = any(
            s.source is MedicationSource.DISCHARGE_SUMMARY and _is_stopped(s) for s in found
        )
        still_taken = any(s.source in _STILL_TAKEN and not _is_stopped(s) for s in found)
        if stopped_at_discharge and still_taken:
            kinds.add(DiscrepancyKind.STOPPED_STILL_TAKEN)
    # Two different products sharing an active ingredient, both being taken.
    ingredient_keys: dict[str, set[str]] = {}
    for key, found in by_key.items():
        for s in found:
            if _is_stopped(s):
                continue
            for ingredient in s.ingredients:
                ingredient_keys.setdefault(_norm(ingredient) or "", set()).add(key)
    for keys in ingredient_keys.values():
        if len(keys) > 1:
            for key in keys:
                findings[key].add(DiscrepancyKind.INGREDIENT_DUPLICATION)
    return [
        Finding(
            key=key,
            text=found[0].text,
            statements=tuple(found),
            discrepancies=frozenset(findings[key]),
        )
        for key, found in sorted(by_key.items(), key=lambda kv: (kv[1][0].text.lower(), kv[0]))
    ]


def _resolve(
    choices: Mapping[str, Decision | Choice], findings: Sequence[Finding]
) -> dict[str, Choice]:
    """Decisions by medication key; a choice may name a key, an RxNorm code or a statement id."""
    if not isinstance(choices, Mapping):
        raise errors.InvalidValue(
            "must map medications to decisions", field="decisions", value=choices
        )
    aliases: dict[str, str] = {}
    for f in findings:
        aliases[f.key] = f.key
        for s in f.statements:
            aliases[s.id] = f.key
            if s.rxnorm:
                aliases[s.rxnorm] = f.key
    out: dict[str, Choice] = {}
    for name, given in choices.items():
        key = aliases.get(str(name))
        if key is None:
            raise errors.NotFound(
                "names no medication on the lists (give its key, RxNorm code or statement id)",
                field="decisions",
                value=name,
            )
        choice = Choice(decision=given) if isinstance(given, Decision) else given
        if not isinstance(choice, Choice):
            raise errors.InvalidValue(
                "must be a Decision or a Choice", field=f"decisions[{name}]", value=choice
            )
        if choice.decision is Decision.CHANGE and not (choice.dose or choice.frequency):
            raise errors.InvalidValue(
                "a change needs the new dose or frequency", field=f"decisions[{name}]", value=choice
            )
        out[key] = choice
    return out


def reconcile(
    *,
    reconciliation_id: str,
    patient_id: str,
    lists: Mapping[MedicationSource, Iterable[MedicationStatement]],
    decisions: Mapping[str, Decision | Choice],
    by: str,
    on: pendulum.Date,
    episode_id: str | None = None,
    default: Decision | None = None,
) -> tuple[MedicationReconciliation, list[MedicationStatement]]:
    """Reconcile *lists* with a decision per medication: the record and the reconciled list.

    Every medication on any list needs a decision, from *decisions* (keyed by
    medication key, RxNorm code or statement id) or *default*; otherwise
    :class:`~carecore.errors.InvalidValue` names the undecided ones and nothing
    is built. The reconciled list holds the medications continued, changed or
    waiting for the prescriber, as statements with the source
    ``reconciliation`` recorded on *on* (ids ``<reconciliation_id>.<n>``).
    """
    on = v.check_date(on, "on")
    checked = _check_lists(lists)
    for source, given in checked.items():
        for s in given:
            if s.patient_id != patient_id:
                raise errors.InvalidValue(
                    f"is another patient's medication (on the {source.value} list)",
                    field="lists",
                    value=s.id,
                )
    findings = compare(checked)
    chosen = _resolve(decisions, findings)
    if default is not None and not isinstance(default, Decision):
        raise errors.InvalidValue("must be a Decision", field="default", value=default)
    if default is Decision.CHANGE:
        raise errors.InvalidValue(
            "a change needs a dose per medication; it cannot be a default",
            field="default",
            value=default,
        )
    missing = [f for f in findings if f.key not in chosen and default is None]
    if missing:
        raise errors.InvalidValue(
            "needs a decision (continue, stop, change, ask_prescriber) for each medication; "
            "undecided: " + "; ".join(f"{f.key} ({f.text})" for f in missing),
            field="decisions",
            value=[f.key for f in missing],
        )
    items: list[ReconciliationItem] = []
    reconciled: list[MedicationStatement] = []
    for index, f in enumerate(findings, start=1):
        choice = chosen.get(f.key) or Choice(decision=default)  # type: ignore[arg-type]
        base = next((s for s in f.statements if not _is_stopped(s)), f.statements[0])
        dose = choice.dose if choice.decision is Decision.CHANGE and choice.dose else base.dose
        frequency = (
            choice.frequency
            if choice.decision is Decision.CHANGE and choice.frequency
            else base.frequency
        )
        items.append(
            ReconciliationItem(
                key=f.key,
                text=f.text,
                statement_ids=tuple(s.id for s in f.statements),
                sources=f.sources,
                discrepancies=f.discrepancies,
                decision=choice.decision,
                rxnorm=base.rxnorm,
                dose=dose,
                frequency=frequency,
                note=choice.note,
            )
        )
        if choice.decision is Decision.STOP:
            continue
        reconciled.append(
            attrs.evolve(
                base,
                id=f"{reconciliation_id}.{index}",
                source=MedicationSource.RECONCILIATION,
                status=MedicationStatus.ACTIVE,
                dose=dose,
                frequency=frequency,
                start=base.start if base.start is not None and base.start <= on else on,
                stop=None,
                recorded_on=on,
            )
        )
    record = MedicationReconciliation(
        id=reconciliation_id,
        patient_id=patient_id,
        on=on,
        reconciled_by=by,
        sources=frozenset(checked),
        items=tuple(items),
        episode_id=episode_id,
    )
    return record, reconciled
