"""Reconciliation against lists worked out by hand, one discrepancy kind at least once each."""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.medications import Choice, active_on, compare, reconcile
from carecore.model import (
    Decision,
    DiscrepancyKind,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
)

K = DiscrepancyKind
EHR = MedicationSource.EHR
DC = MedicationSource.DISCHARGE_SUMMARY
PT = MedicationSource.PATIENT_REPORTED
D = pendulum.Date


def med(sid, source, rx, text, dose=None, freq=None, *, stopped=False, ingredients=()):  # noqa: PLR0917
    return MedicationStatement(
        id=sid,
        patient_id="p1",
        source=source,
        rxnorm=rx,
        text=text,
        dose=dose,
        frequency=freq,
        status=MedicationStatus.STOPPED if stopped else MedicationStatus.ACTIVE,
        ingredients=ingredients,
    )


ATORVA = ("atorvastatin",)
LISTS = {
    EHR: [
        med("e1", EHR, "314076", "Lisinopril 10 MG", "10 mg", "daily"),
        med("e2", EHR, "861007", "Metformin 500 MG", "500 mg", "twice daily"),
        med("e3", EHR, "617312", "Atorvastatin 20 MG", "20 mg", "daily", ingredients=ATORVA),
        med("e4", EHR, "243670", "Aspirin 81 MG", "81 mg", "daily"),
    ],
    DC: [
        med("d1", DC, "314076", "Lisinopril 20 MG", "20 mg", "daily"),
        med("d2", DC, "861007", "Metformin 500 MG", "500 mg", "twice daily"),
        med("d3", DC, "310429", "Furosemide 20 MG", "20 mg", "daily"),
        med("d4", DC, "243670", "Aspirin 81 MG", "81 mg", "daily", stopped=True),
        med("d5", DC, "617314", "Lipitor 20 MG", "20 mg", "daily", ingredients=ATORVA),
    ],
    PT: [
        med("p1", PT, "314076", "Lisinopril 10 MG", "10 mg", "daily"),
        med("p2", PT, "861007", "Metformin 500 MG", "500 mg", "twice daily"),
        med("p3", PT, "617312", "Atorvastatin 20 MG", "20 mg", "daily", ingredients=ATORVA),
        med("p4", PT, "243670", "Aspirin 81 MG", "81 mg", "daily"),
        med("p5", PT, None, "Ibuprofen 200 mg as needed"),
    ],
}

# Worked out by hand against the discharge list (the list checked against the others):
EXPECTED = {
    "rxnorm:243670": {K.STOPPED_STILL_TAKEN},  # stopped at discharge, the patient still takes it
    "rxnorm:617312": {K.OMISSION, K.INGREDIENT_DUPLICATION},  # left off; Lipitor is atorvastatin
    "rxnorm:310429": {K.COMMISSION},  # new in hospital, on no other list
    "text:ibuprofen 200 mg as needed": {K.OMISSION},  # over the counter, only the patient says so
    "rxnorm:617314": {K.COMMISSION, K.INGREDIENT_DUPLICATION},  # brand of a drug already taken
    "rxnorm:314076": {K.DOSE_CHANGE},  # 10 mg at home, 20 mg at discharge
    "rxnorm:861007": set(),  # the same everywhere
}


def test_every_discrepancy_kind_against_the_hand_worked_list():
    found = {f.key: set(f.discrepancies) for f in compare(LISTS)}
    assert found == EXPECTED
    assert set().union(*EXPECTED.values()) == set(DiscrepancyKind)


def test_dose_and_frequency_each_count_as_a_change():
    a = med("a", EHR, "1", "X", "5 mg", "daily")
    b = med("b", DC, "1", "X", "5 mg", "twice daily")
    c = med("c", DC, "1", "X", "5  MG", "Daily")
    assert compare({EHR: [a], DC: [b]})[0].discrepancies == {K.DOSE_CHANGE}
    assert compare({EHR: [a], DC: [c]})[0].discrepancies == frozenset()  # case and spacing


def test_without_a_discharge_list_the_practice_list_is_checked():
    a = med("a", EHR, "1", "X")
    b = med("b", PT, "2", "Y")
    found = {f.key: f.discrepancies for f in compare({EHR: [a], PT: [b]})}
    assert found == {"rxnorm:1": {K.COMMISSION}, "rxnorm:2": {K.OMISSION}}


def test_reconcile_records_each_decision_and_gives_the_reconciled_list():
    decisions = {
        "243670": Decision.STOP,
        "617312": Decision.CONTINUE,
        "617314": Decision.STOP,
        "310429": Decision.ASK_PRESCRIBER,
        "p5": Decision.CONTINUE,
        "314076": Choice(decision=Decision.CHANGE, dose="20 mg", note="per discharge"),
        "rxnorm:861007": Decision.CONTINUE,
    }
    record, reconciled = reconcile(
        reconciliation_id="r1",
        patient_id="p1",
        lists=LISTS,
        decisions=decisions,
        by="dr1",
        on=D(2026, 3, 9),
    )
    assert record.reconciled_by == "dr1"
    assert record.on == D(2026, 3, 9)
    assert record.sources == {EHR, DC, PT}
    assert {i.key: i.decision for i in record.items} == {
        "rxnorm:243670": Decision.STOP,
        "rxnorm:617312": Decision.CONTINUE,
        "rxnorm:617314": Decision.STOP,
        "rxnorm:310429": Decision.ASK_PRESCRIBER,
        "text:ibuprofen 200 mg as needed": Decision.CONTINUE,
        "rxnorm:314076": Decision.CHANGE,
        "rxnorm:861007": Decision.CONTINUE,
    }
    assert {i.key: set(i.discrepancies) for i in record.items} == EXPECTED
    assert record.item("rxnorm:243670").statement_ids == ("d4", "e4", "p4")
    on_list = {s.key: s for s in reconciled}
    assert set(on_list) == {
        "rxnorm:617312",
        "rxnorm:310429",
        "text:ibuprofen 200 mg as needed",
        "rxnorm:314076",
        "rxnorm:861007",
    }
    assert on_list["rxnorm:314076"].dose == "20 mg"
    assert all(s.source is MedicationSource.RECONCILIATION for s in reconciled)
    assert all(s.recorded_on == D(2026, 3, 9) for s in reconciled)
    # The reconciled list is the active list from that day on.
    everything = [s for found in LISTS.values() for s in found] + reconciled
    assert {s.key for s in active_on(everything, D(2026, 3, 9))} == set(on_list)


def test_an_undecided_medication_is_refused_by_name():
    with pytest.raises(errors.InvalidValue) as caught:
        reconcile(
            reconciliation_id="r1",
            patient_id="p1",
            lists=LISTS,
            decisions={"243670": Decision.STOP},
            by="dr1",
            on=D(2026, 3, 9),
        )
    assert caught.value.field == "decisions"
    assert "rxnorm:310429" in caught.value.value
    assert "rxnorm:243670" not in caught.value.value


def test_bad_decisions_are_refused_by_name():
    with pytest.raises(errors.NotFound):
        reconcile(
            reconciliation_id="r1",
            patient_id="p1",
            lists=LISTS,
            decisions={"999": Decision.STOP},
            default=Decision.CONTINUE,
            by="dr1",
            on=D(2026, 3, 9),
        )
    with pytest.raises(errors.InvalidValue, match="new dose"):
        reconcile(
            reconciliation_id="r1",
            patient_id="p1",
            lists=LISTS,
            decisions={"314076": Decision.CHANGE},
            default=Decision.CONTINUE,
            by="dr1",
            on=D(2026, 3, 9),
        )
    with pytest.raises(errors.InvalidValue, match="two or more"):
        reconcile(
            reconciliation_id="r1",
            patient_id="p1",
            lists={EHR: LISTS[EHR]},
            decisions={},
            default=Decision.CONTINUE,
            by="dr1",
            on=D(2026, 3, 9),
        )


def test_active_on_keeps_history():
    old = MedicationStatement(
        id="m1", patient_id="p1", text="X", source=EHR, start=D(2025, 1, 1), stop=D(2025, 6, 1)
    )
    new = MedicationStatement(id="m2", patient_id="p1", text="Y", source=EHR, start=D(2025, 6, 1))
    assert [s.id for s in active_on([old, new], D(2025, 5, 31))] == ["m1"]
    assert [s.id for s in active_on([old, new], D(2025, 6, 1))] == ["m2"]


# -- properties ---------------------------------------------------------------------

_codes = st.sampled_from(["1", "2", "3", "4", None])
_statement = st.builds(
    lambda sid, source, rx, text, dose, stopped: med(
        sid, source, rx, text, dose, stopped=stopped, ingredients=("x",) if rx == "4" else ()
    ),
    sid=st.just("x"),
    source=st.sampled_from([EHR, DC, PT, MedicationSource.PHARMACY_FILL]),
    rx=_codes,
    text=st.sampled_from(["A", "B", "c"]),
    dose=st.none() | st.sampled_from(["1 mg", "2 mg"]),
    stopped=st.booleans(),
)


def _lists(items):
    lists: dict[MedicationSource, list[MedicationStatement]] = {}
    for index, s in enumerate(items):
        from attrs import evolve

        lists.setdefault(s.source, []).append(evolve(s, id=f"s{index}"))
    return lists


@settings(max_examples=80, deadline=None)
@given(
    items=st.lists(_statement, min_size=2, max_size=10),
    choices=st.lists(st.sampled_from([Decision.CONTINUE, Decision.STOP, Decision.ASK_PRESCRIBER])),
    drop=st.booleans(),
)
def test_no_medication_from_any_source_is_lost_without_a_decision_naming_it(items, choices, drop):
    lists = _lists(items)
    if len(lists) < 2:
        return
    keys = [f.key for f in compare(lists)]
    decisions = {
        key: (choices[i] if i < len(choices) else Decision.CONTINUE) for i, key in enumerate(keys)
    }
    if drop:
        decisions.pop(keys[0])
        with pytest.raises(errors.InvalidValue) as caught:
            reconcile(
                reconciliation_id="r",
                patient_id="p1",
                lists=lists,
                decisions=decisions,
                by="rn1",
                on=D(2026, 1, 2),
            )
        assert keys[0] in caught.value.value
        return
    record, reconciled = reconcile(
        reconciliation_id="r",
        patient_id="p1",
        lists=lists,
        decisions=decisions,
        by="rn1",
        on=D(2026, 1, 2),
    )
    named = [sid for item in record.items for sid in item.statement_ids]
    every = [s.id for found in lists.values() for s in found]
    assert sorted(named) == sorted(every)  # each statement in exactly one decided item
    kept = {s.key for s in reconciled}
    assert kept == {i.key for i in record.items if i.decision is not Decision.STOP}


def test_a_drug_stopped_at_discharge_but_still_on_the_practice_list_is_named():
    """The hospital stopped it; the practice's list (or the pharmacy) still has it running."""
    home = med("e", EHR, "316049", "Hydrochlorothiazide 25 MG")
    stopped = med("d", DC, "316049", "Hydrochlorothiazide 25 MG", stopped=True)
    (found,) = compare({EHR: [home], DC: [stopped]})
    assert found.discrepancies == {K.STOPPED_STILL_TAKEN}
    filled = med("f", MedicationSource.PHARMACY_FILL, "316049", "Hydrochlorothiazide 25 MG")
    (found,) = compare({DC: [stopped], MedicationSource.PHARMACY_FILL: [filled]})
    assert found.discrepancies == {K.STOPPED_STILL_TAKEN}
    ended = med("e2", EHR, "316049", "Hydrochlorothiazide 25 MG", stopped=True)
    (found,) = compare({EHR: [ended], DC: [stopped]})
    assert found.discrepancies == frozenset()
