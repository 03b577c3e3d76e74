"""Gap rules checked against their sources: populations, closing codes and effective dates."""

from __future__ import annotations

import pendulum
import pytest

from carecore.gaps import (
    GapStatus,
    Record,
    builtin_rules,
    evaluate,
    evidence_codes,
    rules_in_effect,
)
from carecore.model import AdministrativeSex, CodeSystem, Coding, Condition, Patient

D = pendulum.Date
MALE, FEMALE = AdministrativeSex.MALE, AdministrativeSex.FEMALE


def patient(born, sex=FEMALE):
    return Patient(
        id="p1", given_name="Ada", family_name="Lopez", birth_date=born, sex=sex, time_zone="UTC"
    )


def gaps(p, on, records=(), conditions=()):
    return {g.rule_id: g for g in evaluate(p, on=on, records=records, conditions=conditions)}


def condition(system, code, cid="c1"):
    return Condition(
        id=cid, patient_id="p1", coding=Coding(system=system, code=code), onset=D(2010, 1, 1)
    )


def cvx(code, on, rid="i1"):
    return Record(id=rid, system="CVX", code=code, on=on)


def test_tdap_once_as_an_adult_besides_the_ten_year_booster():
    """ACIP: one dose of Tdap if never given, then Td or Tdap every 10 years."""
    p = patient(D(1950, 1, 1))
    only_td = gaps(p, D(2021, 4, 1), [cvx("113", D(2019, 2, 7))])
    assert only_td["td-tdap-vaccine"].status is GapStatus.CLOSED
    assert only_td["tdap-vaccine"].status is GapStatus.OVERDUE
    assert only_td["tdap-vaccine"].since == D(2012, 9, 27)  # from 2012-06-29, + 90 days
    with_tdap = gaps(p, D(2021, 4, 1), [cvx("115", D(2008, 5, 1))])
    assert with_tdap["tdap-vaccine"].status is GapStatus.CLOSED
    assert "tdap-vaccine" not in gaps(patient(D(2003, 4, 2)), D(2021, 4, 1))  # 18


@pytest.mark.parametrize(
    ("born", "inside"),
    [
        (D(2003, 4, 2), False),  # 17 on 2021-04-01... 18 tomorrow
        (D(2003, 4, 1), True),  # 18 today
        (D(1941, 4, 2), True),  # 79
        (D(1941, 4, 1), False),  # 80 today
    ],
)
def test_hepatitis_c_screening_once_from_18_to_79(born, inside):
    found = gaps(patient(born), D(2021, 4, 1))
    assert ("hepatitis-c-screening" in found) is inside


def test_hepatitis_c_screening_is_closed_by_an_antibody_test_ever_and_not_for_known_hcv():
    p = patient(D(1960, 1, 1))
    test = Record(id="l1", system="LOINC", code="13955-0", on=D(2020, 6, 1))
    assert gaps(p, D(2026, 1, 1), [test])["hepatitis-c-screening"].status is GapStatus.CLOSED
    assert gaps(p, D(2021, 4, 1))["hepatitis-c-screening"].since == D(2020, 5, 31)
    chronic = condition(CodeSystem.ICD10CM, "B18.2")
    assert "hepatitis-c-screening" not in gaps(p, D(2021, 4, 1), conditions=[chronic])


def test_falls_prevention_follows_the_2018_recommendation_before_2024():
    p = patient(D(1950, 1, 1), MALE)
    falls = gaps(p, D(2021, 4, 1))["falls-prevention"]
    assert falls.rule_version == "2018"
    assert falls.since == D(2018, 7, 16)  # 2018-04-17 + 90 days
    assert gaps(p, D(2024, 6, 4))["falls-prevention"].rule_version == "2024"
    screened = Record(id="s1", system="CPT", code="3288F", on=D(2021, 1, 5))
    assert gaps(p, D(2021, 4, 1), [screened])["falls-prevention"].status is GapStatus.CLOSED


def test_covid_19_vaccine_by_season_as_acip_recommended_it():
    """2023-24 and 2024-25: every adult; from October 2025, individual decision, 65 and over."""
    young = patient(D(1980, 1, 1))
    assert "covid-19-vaccine" in gaps(young, D(2024, 1, 15))
    assert "covid-19-vaccine" not in gaps(young, D(2026, 1, 15))
    old = gaps(patient(D(1950, 1, 1)), D(2026, 1, 15))["covid-19-vaccine"]
    assert old.rule_version == "2025"
    ids = [r.id for r in rules_in_effect(D(2025, 10, 5))] + [
        r.id for r in rules_in_effect(D(2025, 10, 6))
    ]
    assert ids.count("covid-19-vaccine") == 2


def test_diabetes_blood_pressure_control_is_ncqa_measure_18_to_75():
    rule = next(r for r in builtin_rules() if r.id == "diabetes-bp-control")
    assert rule.source.publisher == "NCQA"
    assert "blood-pressure-control-for-patients-with-diabetes" in rule.source.url
    diabetes = condition(CodeSystem.ICD10CM, "E11.9")
    assert "diabetes-bp-control" in gaps(patient(D(1950, 4, 2)), D(2026, 4, 1), [], [diabetes])
    assert "diabetes-bp-control" not in gaps(patient(D(1950, 4, 1)), D(2026, 4, 1), [], [diabetes])


def test_kidney_health_is_also_closed_by_billed_lab_codes():
    """NCQA KED: an eGFR (CPT 80047, 80048, 80053, 82565, ...) and urine albumin with creatinine."""
    diabetes = condition(CodeSystem.ICD10CM, "E11.9")
    billed = [
        Record(id="a", system="CPT", code="80053", on=D(2026, 2, 1)),
        Record(id="b", system="CPT", code="82043", on=D(2026, 2, 1)),
        Record(id="c", system="CPT", code="82570", on=D(2026, 2, 1)),
    ]
    found = gaps(patient(D(1960, 1, 1)), D(2026, 3, 1), billed, [diabetes])
    assert found["diabetes-kidney-health"].status is GapStatus.CLOSED
    partial = gaps(patient(D(1960, 1, 1)), D(2026, 3, 1), billed[:2], [diabetes])
    assert partial["diabetes-kidney-health"].open


def test_lung_cancer_screening_2013_then_2021_and_not_after_lung_cancer():
    smoker = condition(CodeSystem.SNOMEDCT, "449868002", cid="c2")
    p = patient(D(1967, 1, 1), MALE)  # 52 in 2019, 54 in 2021
    assert "lung-cancer-screening" not in gaps(p, D(2019, 6, 1), conditions=[smoker])  # 55 then
    old = gaps(patient(D(1960, 1, 1), MALE), D(2019, 6, 1), conditions=[smoker])
    assert old["lung-cancer-screening"].rule_version == "2013"
    assert "lung-cancer-screening" in gaps(p, D(2021, 4, 1), conditions=[smoker])
    cancer = condition(CodeSystem.ICD10CM, "C34.90", cid="c3")
    assert "lung-cancer-screening" not in gaps(p, D(2021, 4, 1), conditions=[smoker, cancer])


def test_the_loinc_codes_the_rules_name_are_listed_for_importers():
    loinc = evidence_codes("LOINC")
    assert {"57905-2", "13955-0", "33914-3", "14959-1", "4548-4"} <= loinc
    assert "140" in evidence_codes("CVX")


def test_a_way_of_several_steps_says_which_step_is_missing():
    diabetes = condition(CodeSystem.ICD10CM, "E11.9")
    egfr = Record(id="l1", system="LOINC", code="33914-3", on=D(2026, 2, 1))
    kidney = gaps(patient(D(1960, 1, 1)), D(2026, 3, 1), [egfr], [diabetes])[
        "diabetes-kidney-health"
    ]
    assert "urine albumin-creatinine ratio: none within 1 year" in kidney.explanation
    assert "eGFR: none" not in kidney.explanation
    pcv13 = cvx("133", D(2020, 1, 1))
    pneumo = gaps(patient(D(1950, 1, 1)), D(2026, 3, 1), [pcv13])["pneumococcal-vaccine"]
    assert "PCV13 and PPSV23: PPSV23: none ever" in pneumo.explanation


def test_a_procedure_record_can_exclude_a_patient():
    """HEDIS-style exclusions by procedure: a total colectomy ends colorectal screening."""
    p = patient(D(1960, 1, 1))
    colectomy = Record(id="s1", system="CPT", code="44150", on=D(2019, 5, 1))
    assert "colorectal-cancer-screening" not in gaps(p, D(2021, 4, 1), [colectomy])
    later = Record(id="s2", system="CPT", code="44150", on=D(2022, 5, 1))
    assert "colorectal-cancer-screening" in gaps(p, D(2021, 4, 1), [later])
    mastectomy = Record(id="s3", system="SNOMED", code="27865001", on=D(2015, 1, 1))
    assert "breast-cancer-screening" not in gaps(p, D(2021, 4, 1), [mastectomy])


def test_aaa_screening_is_for_men_who_smoked_without_a_known_aneurysm():
    smoker = condition(CodeSystem.SNOMEDCT, "8517006", cid="c2")
    man = patient(D(1955, 1, 1), MALE)
    assert "aaa-screening" in gaps(man, D(2026, 1, 1), conditions=[smoker])
    assert "aaa-screening" not in gaps(patient(D(1955, 1, 1)), D(2026, 1, 1), conditions=[smoker])
    known = condition(CodeSystem.ICD10CM, "I71.40", cid="c3")
    assert "aaa-screening" not in gaps(man, D(2026, 1, 1), conditions=[smoker, known])
