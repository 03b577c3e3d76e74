"""PDC against worked examples of the published method (index fill, overlap shifting, switches)."""

from __future__ import annotations

from decimal import Decimal

import pendulum
import pytest

from carecore import errors
from carecore.medications import pdc, pdc_by_class, read_fills_csv
from carecore.model import MedicationFill

D = pendulum.Date


_COUNT = iter(range(1_000_000))


def fill(day, supply, drug="Atorvastatin 20 MG", cls="statin", patient="p1"):
    return MedicationFill(
        id=f"f{next(_COUNT)}",
        patient_id=patient,
        text=drug,
        drug_class=cls,
        filled_on=day,
        days_supply=supply,
    )


def test_a_gap_between_fills_lowers_the_pdc():
    # Covered: Jan 1-30, Feb 15-Mar 16, Apr 1-30 = 90 of the 181 days Jan 1 - Jun 30.
    r = pdc(
        [fill(D(2026, 1, 1), 30), fill(D(2026, 2, 15), 30), fill(D(2026, 4, 1), 30)],
        start=D(2026, 1, 1),
        end=D(2026, 6, 30),
    )
    assert (r.index_date, r.days, r.covered) == (D(2026, 1, 1), 181, 90)
    assert r.pdc == Decimal("0.4972")
    assert r.percent() == "49.7%"
    assert r.adherent is False


def test_an_early_refill_of_the_same_drug_is_shifted():
    # Jan 1 (30) covers Jan 1-30; the Jan 20 refill starts Jan 31: 60 days, not 49.
    r = pdc(
        [fill(D(2026, 1, 1), 30), fill(D(2026, 1, 20), 30)], start=D(2026, 1, 1), end=D(2026, 3, 31)
    )
    assert (r.days, r.covered) == (90, 60)


def test_a_switch_within_the_class_is_not_shifted():
    # Atorvastatin Jan 1-30, rosuvastatin from Jan 20 to Feb 18: the overlap counts once (49 days).
    r = pdc(
        [fill(D(2026, 1, 1), 30), fill(D(2026, 1, 20), 30, drug="Rosuvastatin 10 MG")],
        start=D(2026, 1, 1),
        end=D(2026, 3, 31),
    )
    assert (r.days, r.covered) == (90, 49)
    assert r.pdc == Decimal("0.5444")


def test_the_treatment_period_starts_at_the_index_fill_and_supply_stops_at_the_end():
    r = pdc(
        [fill(D(2026, 7, 1), 90), fill(D(2026, 10, 1), 90)],
        start=D(2026, 1, 1),
        end=D(2026, 12, 31),
    )
    assert (r.index_date, r.days, r.covered) == (D(2026, 7, 1), 184, 180)
    assert r.pdc == Decimal("0.9783")
    assert r.adherent is True
    longer = pdc(
        [fill(D(2026, 7, 1), 90), fill(D(2026, 10, 1), 120)],
        start=D(2026, 1, 1),
        end=D(2026, 12, 31),
    )
    assert longer.covered == 182  # Oct 1 - Dec 31, not 120 days


def test_one_fill_is_not_measured():
    r = pdc([fill(D(2026, 3, 1), 30)], start=D(2026, 1, 1), end=D(2026, 12, 31))
    assert r.measured is False
    assert r.pdc is None
    assert r.percent() == "—"
    assert "two fills" in r.reason


def test_by_class_from_a_fills_csv():
    text = (
        "patient_id,filled_on,days_supply,drug_class,drug\n"
        "p1,2026-01-01,30,statin,Atorvastatin 20 MG\n"
        "p1,2026-02-15,30,statin,Atorvastatin 20 MG\n"
        "p1,2026-01-01,90,RASA,Lisinopril 10 MG\n"
        "p1,2026-04-01,90,RASA,Lisinopril 10 MG\n"
        "p2,2026-01-05,30,statin,Simvastatin 20 MG\n"
    )
    found = {
        (r.patient_id, r.drug_class): r
        for r in pdc_by_class(read_fills_csv(text), start=D(2026, 1, 1), end=D(2026, 6, 30))
    }
    assert found[("p1", "RASA")].covered == 180
    assert found[("p1", "statin")].covered == 60
    assert found[("p2", "statin")].measured is False
    with pytest.raises(errors.InvalidValue) as caught:
        read_fills_csv(
            "patient_id,filled_on,days_supply,drug_class,drug\np1,2026-13-01,30,statin,X\n"
        )
    assert caught.value.field == "line 2: filled_on"


def test_a_fill_without_a_class_gets_it_from_the_ingredient():
    text = (
        "patient_id,filled_on,days_supply,drug_class,drug\n"
        "p1,2026-01-01,30,,Atorvastatin 20 MG Oral Tablet\n"
        "p1,2026-02-01,30,,Lisinopril 10 MG Oral Tablet\n"
        "p1,2026-03-01,30,,Amlodipine 5 MG Oral Tablet\n"
    )
    assert [f.drug_class for f in read_fills_csv(text)] == ["statins", "ras antagonists", None]
