"""Risk: CMS-HCC scores through hccinfhir, utilization from ADT events, tiers."""

from __future__ import annotations

import sys
from decimal import Decimal

import attrs
import pendulum
import pytest

from carecore import errors, risk
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    Coding,
    Condition,
    PatientClass,
)
from carecore.risk import (
    HccModel,
    HccVersion,
    Tier,
    TierRules,
    Utilization,
    encounters,
    hcc_score,
    hcc_scores,
    stratify,
    stratify_all,
    utilization,
)
from carecore.testing._store_contract import make_patient

TZ = "America/Chicago"
DAY = pendulum.Date(2026, 3, 1)
V28 = HccModel(version=HccVersion.V28, year=2026)


def adt(n, kind, cls, day, *, pid="p1", visit=None, facility="General"):
    at = pendulum.datetime(day.year, day.month, day.day, 10, tz=TZ)
    return AdtEvent(
        id=f"a{n}",
        source_key=f"MSG{n}",
        patient_id=pid,
        kind=kind,
        occurred_at=at,
        patient_class=cls,
        admitted_at=at,
        discharged_at=at.add(hours=5) if kind is AdtEventKind.DISCHARGE else None,
        facility=facility,
        visit_number=visit,
    )


def patient_72():
    # born 1953-06-01: 72 on 2026-03-01
    return attrs.evolve(make_patient("p1"), birth_date=pendulum.Date(1953, 6, 1))


def conditions(*codes, pid="p1"):
    return [
        Condition(id=f"c{i}", patient_id=pid, coding=Coding.icd10cm(c)) for i, c in enumerate(codes)
    ]


def test_v28_score_matches_the_published_reference():
    # V28, female 72, community non-dual, E11.9 + I50.22 + J44.1 -> 1.430
    # (F70-74 0.395 + HCC 38 0.166 + HCC 226 0.360 + HCC 280 0.319
    #  + DIABETES_HF 0.112 + HF_CHR_LUNG 0.078 = 1.430)
    s = hcc_score(patient_72(), conditions("E11.9", "I50.22", "J44.1"), model=V28, as_of=DAY)
    assert s.score == Decimal("1.430")
    assert s.demographic == Decimal("0.395")
    by_name = {f.name: f for f in s.factors}
    assert by_name["38"].codes == ("E11.9",)
    assert by_name["226"].coefficient == Decimal("0.360")
    assert "DIABETES_HF_V28" in by_name
    assert s.payment_score == s.score  # no normalisation asked for
    assert "risk score 1.430" in s.explanation
    assert by_name["226"].label == "Heart Failure, Except End-Stage and Acute"
    assert "HCC 226 Heart Failure, Except End-Stage and Acute 0.360 from I50.22" in s.explanation


def test_normalisation_and_coding_adjustment_are_the_callers():
    model = HccModel(
        version=HccVersion.V28, year=2026, norm_factor=Decimal("1.045"), maci=Decimal("0.059")
    )
    s = hcc_score(patient_72(), conditions("E11.9"), model=model, as_of=DAY)
    # raw 0.395 + 0.166 = 0.561; payment = 0.561 / 1.045 * (1 - 0.059) = 0.50517 -> 0.505
    assert s.score == Decimal("0.561")
    assert s.payment_score == Decimal("0.505")


def test_inactive_and_other_patients_conditions_are_not_sent():
    resolved = Condition(
        id="old",
        patient_id="p1",
        coding=Coding.icd10cm("I50.22"),
        onset=pendulum.Date(2020, 1, 1),
        abatement=pendulum.Date(2021, 1, 1),
    )
    s = hcc_score(patient_72(), [resolved, *conditions("J44.1", pid="p2")], model=V28, as_of=DAY)
    assert s.codes == ()
    assert s.score == Decimal("0.395")


def test_model_year_is_checked_and_unknown_sex_is_refused():
    with pytest.raises(errors.InvalidValue) as info:
        HccModel(version=HccVersion.V24, year=2027)
    assert info.value.field == "year"
    with pytest.raises(errors.InvalidValue) as info:
        HccModel(version=HccVersion.V28, year=2026, norm_factor=Decimal(-1))
    assert info.value.field == "norm_factor"
    odd = attrs.evolve(patient_72(), sex=AdministrativeSex.UNKNOWN)
    with pytest.raises(errors.InvalidValue) as info:
        hcc_score(odd, [], model=V28, as_of=DAY)
    assert info.value.field == "sex"
    assert hcc_scores([odd], [], model=V28, as_of=DAY) == {}


def test_missing_hccinfhir_names_the_extra(monkeypatch):
    risk._engine.cache_clear()
    monkeypatch.setitem(sys.modules, "hccinfhir", None)
    try:
        with pytest.raises(errors.MissingDependency) as info:
            hcc_score(patient_72(), [], model=V28, as_of=DAY)
        assert 'pip install ".[hcc]"' in str(info.value)
        assert isinstance(info.value, ImportError)
    finally:
        risk._engine.cache_clear()


def test_encounters_count_each_visit_once_and_ed_to_admission_as_admission():
    events = [
        # visit V1: ED registration, then admitted: one admission
        adt(
            1, AdtEventKind.REGISTER, PatientClass.EMERGENCY, pendulum.Date(2025, 6, 1), visit="V1"
        ),
        adt(2, AdtEventKind.ADMIT, PatientClass.INPATIENT, pendulum.Date(2025, 6, 1), visit="V1"),
        adt(
            3, AdtEventKind.DISCHARGE, PatientClass.INPATIENT, pendulum.Date(2025, 6, 4), visit="V1"
        ),
        # V2: ED treat and release: one ED visit
        adt(
            4, AdtEventKind.REGISTER, PatientClass.EMERGENCY, pendulum.Date(2025, 9, 2), visit="V2"
        ),
        adt(
            5, AdtEventKind.DISCHARGE, PatientClass.EMERGENCY, pendulum.Date(2025, 9, 2), visit="V2"
        ),
        # V3: admitted, then the admission was cancelled (A11): nothing
        adt(6, AdtEventKind.ADMIT, PatientClass.INPATIENT, pendulum.Date(2025, 10, 1), visit="V3"),
        adt(
            7,
            AdtEventKind.CANCEL_ADMIT,
            PatientClass.INPATIENT,
            pendulum.Date(2025, 10, 1),
            visit="V3",
        ),
        # no visit number: an ED visit; an observation stay does not count
        adt(8, AdtEventKind.REGISTER, PatientClass.EMERGENCY, pendulum.Date(2026, 1, 5)),
        adt(9, AdtEventKind.REGISTER, PatientClass.OBSERVATION, pendulum.Date(2026, 1, 9)),
        # more than 12 months before the day: not counted by utilization
        adt(10, AdtEventKind.ADMIT, PatientClass.INPATIENT, pendulum.Date(2025, 3, 1), visit="V9"),
    ]
    found = encounters(events, time_zone=TZ)
    assert [(e.kind.value, e.on.isoformat()) for e in found] == [
        ("admission", "2025-03-01"),
        ("admission", "2025-06-01"),
        ("ed_visit", "2025-09-02"),
        ("ed_visit", "2026-01-05"),
    ]
    use = utilization("p1", events, as_of=DAY, time_zone=TZ)
    # the window is 2025-03-01 (exclusive) .. 2026-03-01: V9 on 2025-03-01 is out
    assert (use.ed_visits, use.admissions) == (2, 1)


def test_tiers_and_combined_tier():
    def use(ed, adm):
        return Utilization(patient_id="p1", as_of=DAY, months=12, ed_visits=ed, admissions=adm)

    assert stratify(use(0, 0)).tier is Tier.LOW
    assert stratify(use(1, 0)).tier is Tier.LOW
    assert stratify(use(2, 0)).tier is Tier.MODERATE
    assert stratify(use(0, 1)).tier is Tier.MODERATE
    assert stratify(use(4, 0)).tier is Tier.HIGH
    assert stratify(use(0, 2)).tier is Tier.HIGH
    assert stratify(use(3, 1), rules=TierRules(high_ed_visits=3)).tier is Tier.HIGH
    score = hcc_score(patient_72(), conditions("E11.9", "I50.22", "J44.1"), model=V28, as_of=DAY)
    s = stratify(use(0, 0), score)
    assert (s.utilization_tier, s.hcc_tier, s.tier) == (Tier.LOW, Tier.MODERATE, Tier.MODERATE)
    assert "the HCC tier" in s.explanation
    with pytest.raises(errors.InvalidValue) as info:
        stratify(attrs.evolve(use(0, 0), patient_id="p2"), score)
    assert info.value.field == "hcc"


def test_stratify_all_uses_each_patients_events():
    events = [
        adt(1, AdtEventKind.ADMIT, PatientClass.INPATIENT, pendulum.Date(2026, 2, 1), pid="p2")
    ]
    out = stratify_all([make_patient("p1"), make_patient("p2")], events, as_of=DAY, time_zone=TZ)
    assert [(s.patient_id, s.tier) for s in out] == [("p1", Tier.LOW), ("p2", Tier.MODERATE)]
