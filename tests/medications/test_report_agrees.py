"""The report's adherence and gap-closure tables agree with the figures per patient.

The program report's tables are made from the same functions `carecore meds
adherence` and `carecore gaps` use; these properties hold the tables' totals
to an independent count over those per-patient figures.
"""

from __future__ import annotations

from decimal import Decimal

import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.gaps import Record, evaluate
from carecore.gaps._report import adherence_table, gap_closure_table
from carecore.medications import pdc, pdc_by_class
from carecore.model import AdministrativeSex, MedicationFill, Patient

START, END = pendulum.Date(2026, 1, 1), pendulum.Date(2026, 6, 30)
DRUGS = (
    ("statins", "Atorvastatin 20 MG"),
    ("statins", "Rosuvastatin 10 MG"),
    ("ras antagonists", "Lisinopril 10 MG"),
)

fills = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3"]),
        st.sampled_from(DRUGS),
        st.integers(min_value=-40, max_value=200),  # days after the period's start
        st.sampled_from([30, 60, 90]),
    ),
    max_size=14,
)


@settings(max_examples=60, deadline=None)
@given(fills)
def test_the_adherence_table_is_the_mean_of_each_patients_pdc(drawn):
    items = [
        MedicationFill(
            id=f"f{n}",
            patient_id=patient,
            text=text,
            drug_class=cls,
            filled_on=START.add(days=offset),
            days_supply=supply,
        )
        for n, (patient, (cls, text), offset, supply) in enumerate(drawn)
    ]
    table = {row[0]: row for row in adherence_table(pdc_by_class(items, start=START, end=END)).rows}
    expected: dict[str, list[Decimal]] = {}
    for patient in ("p1", "p2", "p3"):
        for cls in {c for c, _ in DRUGS}:
            mine = [f for f in items if f.patient_id == patient and f.drug_class == cls]
            if not any(START <= f.filled_on <= END for f in mine):
                continue
            one = pdc(mine, start=START, end=END)
            if one.pdc is not None:
                expected.setdefault(cls, []).append(one.pdc)
    assert set(table) == set(expected)
    for cls, values in expected.items():
        _, patients, mean, under = table[cls]
        assert int(patients) == len(values)
        assert Decimal(mean) == (sum(values) / len(values)).quantize(Decimal("0.0001"))
        assert int(under) == sum(v < Decimal("0.80") for v in values)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["140", "187", "113", "115"]),
            st.integers(min_value=-3000, max_value=180),
        ),
        max_size=8,
    ),
    st.dates(min_value=pendulum.Date(1940, 1, 1), max_value=pendulum.Date(1990, 12, 31)),
)
def test_the_closure_table_counts_the_gaps_open_at_the_start_and_closed_at_the_end(drawn, born):
    person = Patient(
        id="p1",
        given_name="Ada",
        family_name="Lopez",
        birth_date=pendulum.Date(born.year, born.month, born.day),
        sex=AdministrativeSex.FEMALE,
        time_zone="UTC",
    )
    records = [
        Record(id=f"r{n}", system="CVX", code=code, on=START.add(days=offset))
        for n, (code, offset) in enumerate(drawn)
    ]
    at_start = evaluate(person, on=START, records=records)
    at_end = evaluate(person, on=END, records=records)
    table = gap_closure_table(at_start, at_end)
    rows = {row[0]: row for row in table.rows}
    opened = {g.rule_id for g in at_start if g.open}
    closed = {g.rule_id for g in at_end if not g.open}
    assert int(rows["all"][2]) == len(opened)
    assert int(rows["all"][3]) == len(opened & closed)
    assert int(rows["all"][5]) == sum(g.open for g in at_end)
