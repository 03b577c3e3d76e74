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


# -- every rule starts on the day its cited source was published --------------------------


def test_every_rule_starts_on_the_day_its_source_was_published():
    """No placeholder start dates: each version begins when the cited version came out."""
    for rule in builtin_rules():
        assert rule.source.published is not None, (rule.id, rule.version)
        assert rule.effective_from == rule.source.published, (rule.id, rule.version)
    starts = {(r.id, r.effective_from) for r in builtin_rules()}
    # The four that began on a made-up 2015-01-01 now begin with their recommendation.
    assert ("influenza-vaccine", D(2010, 8, 6)) in starts  # ACIP 2010: every adult
    assert ("td-tdap-vaccine", D(2006, 12, 15)) in starts  # ACIP 2006: Td every 10 years
    assert ("pneumococcal-vaccine", D(2014, 9, 19)) in starts  # ACIP 2014: PCV13 and PPSV23
    assert ("diabetes-bp-control", D(2022, 1, 1)) in starts  # NCQA BPD, measurement year 2022
    placeholder = [r for r in builtin_rules() if r.effective_from == D(2015, 1, 1)]
    assert {(r.id, r.source.url) for r in placeholder} == {
        ("diabetes-a1c", "https://diabetesjournals.org/care/issue/38/Supplement_1"),
        ("diabetes-eye-exam", "https://diabetesjournals.org/care/issue/38/Supplement_1"),
    }  # the ADA Standards of 2015: Diabetes Care's January 2015 supplement


def test_a_bad_published_date_is_refused_by_name():
    import json
    from importlib import resources

    from carecore import errors
    from carecore.gaps import rule_from_dict

    raw = json.loads(
        resources.files("carecore.gaps").joinpath("data/rules.json").read_text(encoding="utf-8")
    )["rules"][0]
    raw["source"]["published"] = "2016-02-30"
    with pytest.raises(errors.InvalidValue) as caught:
        rule_from_dict(raw)
    assert caught.value.field == "rule[colorectal-cancer-screening].source.published"


# -- the rules added for the recommendations the first set left out -------------------------


def test_covid_19_additional_dose_for_65_and_over_six_months_after_the_first():
    """ACIP, MMWR 2024-12-12: two 2024-2025 doses for 65 and over, the second 6 months on."""
    p = patient(D(1959, 12, 12))  # 65 on 2024-12-12
    first = cvx("309", D(2024, 10, 1), "c1")
    rid = "covid-19-vaccine-65-additional-dose"
    assert rid not in gaps(p, D(2024, 12, 11), [first])  # before the recommendation
    assert rid not in gaps(patient(D(1959, 12, 13)), D(2024, 12, 12), [first])  # 64
    held = gaps(p, D(2025, 3, 31), [first])[rid]
    assert (held.status, held.next_due) == (GapStatus.CLOSED, D(2025, 4, 1))
    due = gaps(p, D(2025, 4, 1), [first])[rid]
    assert (due.status, due.since) == (GapStatus.DUE, D(2025, 4, 1))
    overdue = gaps(p, D(2025, 6, 30), [first])[rid]
    assert (overdue.status, overdue.since) == (GapStatus.OVERDUE, D(2025, 6, 30))
    second = cvx("309", D(2025, 4, 10), "c2")
    done = gaps(p, D(2025, 6, 30), [first, second])[rid]
    assert done.status is GapStatus.CLOSED
    assert "c2" in done.closed_by
    none = gaps(p, D(2025, 1, 15))[rid]  # no dose at all: both doses are due
    assert (none.status, none.since) == (GapStatus.DUE, D(2024, 12, 12))
    spring = gaps(patient(D(1950, 1, 1)), D(2024, 5, 1), [cvx("309", D(2023, 11, 1), "c0")])
    assert spring[rid].rule_version == "2024-spring"  # 4 months after a 2023-2024 dose
    assert spring[rid].status is GapStatus.DUE
    assert rid not in gaps(p, D(2025, 10, 6), [first])  # the schedule changed on 2025-10-06


@pytest.mark.parametrize(
    ("born", "on", "inside"),
    [
        (D(2004, 6, 2), D(2023, 6, 1), False),  # 18
        (D(2004, 6, 1), D(2023, 6, 1), True),  # 19 today
        (D(1958, 6, 2), D(2023, 6, 1), True),  # 64
        (D(1958, 6, 1), D(2023, 6, 1), False),  # 65: the age-based rule
        (D(1975, 6, 2), D(2025, 6, 1), True),  # 49 after the 2025 change
        (D(1975, 6, 1), D(2025, 6, 1), False),  # 50: the age-based rule
    ],
)
def test_pneumococcal_for_younger_adults_with_a_risk_condition(born, on, inside):
    diabetes = condition(CodeSystem.ICD10CM, "E11.9")
    assert ("pneumococcal-vaccine-risk" in gaps(patient(born), on, conditions=[diabetes])) is inside
    assert "pneumococcal-vaccine-risk" not in gaps(patient(born), on)  # no risk condition


def test_pneumococcal_risk_rule_takes_ppsv23_alone_before_2022_and_a_conjugate_after():
    copd = condition(CodeSystem.SNOMEDCT, "185086009")
    p = patient(D(1970, 1, 1))
    ppsv = [cvx("33", D(2015, 3, 1))]
    assert gaps(p, D(2021, 1, 1), ppsv, [copd])["pneumococcal-vaccine-risk"].status is (
        GapStatus.CLOSED
    )
    after = gaps(p, D(2022, 6, 1), ppsv, [copd])["pneumococcal-vaccine-risk"]
    assert after.open
    assert after.rule_version == "2022"
    pcv20 = [*ppsv, cvx("216", D(2022, 5, 1), "i2")]
    assert not gaps(p, D(2022, 6, 1), pcv20, [copd])["pneumococcal-vaccine-risk"].open


def test_osteoporosis_screening_under_65_for_women_with_a_risk_factor():
    ra = condition(CodeSystem.ICD10CM, "M06.9")
    rid = "osteoporosis-screening-under-65"
    assert rid in gaps(patient(D(1972, 4, 1)), D(2022, 4, 1), conditions=[ra])  # 50 today
    assert rid not in gaps(patient(D(1972, 4, 2)), D(2022, 4, 1), conditions=[ra])  # 49
    assert rid not in gaps(patient(D(1972, 4, 1)), D(2022, 4, 1))  # no risk factor
    assert rid not in gaps(patient(D(1972, 4, 1), MALE), D(2022, 4, 1), conditions=[ra])
    sixty_five = gaps(patient(D(1957, 4, 1)), D(2022, 4, 1), conditions=[ra])
    assert rid not in sixty_five
    assert "osteoporosis-screening" in sixty_five
    known = condition(CodeSystem.ICD10CM, "M81.0", cid="c2")
    assert rid not in gaps(patient(D(1965, 1, 1)), D(2022, 4, 1), conditions=[ra, known])
    scan = Record(id="s1", system="CPT", code="77080", on=D(2019, 1, 1))
    found = gaps(patient(D(1965, 1, 1)), D(2022, 4, 1), [scan], [ra])[rid]
    assert found.status is GapStatus.CLOSED


@pytest.mark.parametrize(
    ("born", "inside"),
    [(D(2006, 4, 2), False), (D(2006, 4, 1), True), (D(1955, 4, 2), True), (D(1955, 4, 1), False)],
)
def test_hiv_screening_once_from_15_to_65(born, inside):
    assert ("hiv-screening" in gaps(patient(born), D(2021, 4, 1))) is inside


def test_hiv_screening_closed_by_a_test_ever_and_not_for_known_hiv():
    p = patient(D(1980, 1, 1))
    test = Record(id="l1", system="LOINC", code="75622-1", on=D(2001, 5, 1))
    assert gaps(p, D(2021, 4, 1), [test])["hiv-screening"].status is GapStatus.CLOSED
    assert gaps(p, D(2021, 4, 1))["hiv-screening"].since == D(2019, 9, 9)  # 2019-06-11 + 90
    hiv = condition(CodeSystem.ICD10CM, "B20")
    assert "hiv-screening" not in gaps(p, D(2021, 4, 1), conditions=[hiv])


def test_blood_pressure_screening_yearly_from_40_every_3_years_before():
    bp = Record(id="o1", system="LOINC", code="8480-6", on=D(2020, 4, 1), value=122)
    forty = patient(D(1980, 4, 1))
    last_day = gaps(forty, D(2021, 3, 31), [bp])["hypertension-screening"]
    assert (last_day.status, last_day.next_due) == (GapStatus.CLOSED, D(2021, 4, 1))
    assert gaps(forty, D(2021, 4, 1), [bp])["hypertension-screening"].status is GapStatus.DUE
    young = gaps(patient(D(1990, 1, 1)), D(2023, 3, 31), [bp])
    assert "hypertension-screening" not in young
    assert young["hypertension-screening-18-39"].next_due == D(2023, 4, 1)
    htn = condition(CodeSystem.SNOMEDCT, "38341003")
    known = gaps(forty, D(2021, 4, 1), conditions=[htn])
    assert "hypertension-screening" not in known
    assert gaps(forty, D(2021, 4, 26))["hypertension-screening"].rule_version == "2015"
    assert gaps(forty, D(2021, 4, 27))["hypertension-screening"].rule_version == "2021"


def test_depression_and_alcohol_screening_yearly_by_questionnaire():
    p = patient(D(1960, 1, 1))
    phq9 = Record(id="q1", system="LOINC", code="44261-6", on=D(2022, 5, 1), value=4)
    audit_c = Record(id="q2", system="LOINC", code="75626-2", on=D(2022, 5, 1), value=2)
    found = gaps(p, D(2023, 4, 30), [phq9, audit_c])
    assert found["depression-screening"].status is GapStatus.CLOSED
    assert found["unhealthy-alcohol-use-screening"].status is GapStatus.CLOSED
    later = gaps(p, D(2023, 5, 1), [phq9, audit_c])
    assert later["depression-screening"].status is GapStatus.DUE
    assert later["depression-screening"].rule_version == "2016"
    assert gaps(p, D(2023, 6, 20))["depression-screening"].rule_version == "2023"
    assert "unhealthy-alcohol-use-screening" not in gaps(p, D(2018, 11, 12))
    assert gaps(p, D(2019, 3, 1))["unhealthy-alcohol-use-screening"].since == D(2019, 2, 11)
    depressed = condition(CodeSystem.ICD10CM, "F33.1")
    alcohol = condition(CodeSystem.ICD10CM, "F10.20", cid="c2")
    treated = gaps(p, D(2023, 1, 1), conditions=[depressed, alcohol])
    assert "depression-screening" not in treated
    assert "unhealthy-alcohol-use-screening" not in treated


@pytest.mark.parametrize(
    ("born", "rule"),
    [
        (D(1963, 6, 2), "hepatitis-b-vaccine"),  # 59
        (D(1963, 6, 1), None),  # 60 today, no risk factor
        (D(2004, 6, 1), "hepatitis-b-vaccine"),  # 19 today
        (D(2004, 6, 2), None),  # 18
    ],
)
def test_hepatitis_b_vaccination_19_to_59_from_april_2022(born, rule):
    found = gaps(patient(born), D(2023, 6, 1))
    ids = {"hepatitis-b-vaccine", "hepatitis-b-vaccine-60-at-risk"} & set(found)
    assert ids == ({rule} if rule else set())


def test_hepatitis_b_series_and_the_60_and_over_at_risk():
    p = patient(D(1980, 1, 1))
    two_engerix = [cvx("43", D(2022, 6, 1), "h1"), cvx("43", D(2022, 7, 1), "h2")]
    assert gaps(p, D(2023, 6, 1), two_engerix)["hepatitis-b-vaccine"].open
    three = [*two_engerix, cvx("43", D(2022, 12, 1), "h3")]
    assert not gaps(p, D(2023, 6, 1), three)["hepatitis-b-vaccine"].open
    heplisav = [cvx("189", D(2022, 6, 1), "h1"), cvx("189", D(2022, 7, 1), "h2")]
    assert not gaps(p, D(2023, 6, 1), heplisav)["hepatitis-b-vaccine"].open
    esrd = condition(CodeSystem.ICD10CM, "N18.6")
    old = gaps(patient(D(1950, 1, 1)), D(2023, 6, 1), conditions=[esrd])
    assert "hepatitis-b-vaccine-60-at-risk" in old
    diabetes = condition(CodeSystem.ICD10CM, "E11.9")
    before = gaps(p, D(2021, 4, 1), conditions=[diabetes])["hepatitis-b-vaccine"]
    assert before.rule_version == "2011"  # adults 19 to 59 with diabetes
    assert "hepatitis-b-vaccine" not in gaps(p, D(2021, 4, 1))
    chronic = condition(CodeSystem.ICD10CM, "B18.1", cid="c2")
    assert "hepatitis-b-vaccine" not in gaps(p, D(2023, 6, 1), conditions=[chronic])


@pytest.mark.parametrize(
    ("born", "copd", "rule"),
    [
        (D(1950, 1, 2), False, None),  # 74 on 2025-01-01, no risk condition
        (D(1950, 1, 1), False, "rsv-vaccine"),  # 75 today
        (D(1950, 1, 2), True, "rsv-vaccine-60-74-at-risk"),
        (D(1965, 1, 1), True, "rsv-vaccine-60-74-at-risk"),  # 60 today
        (D(1965, 1, 2), True, None),  # 59
    ],
)
def test_rsv_vaccine_75_and_over_and_60_to_74_at_risk(born, copd, rule):
    conditions = [condition(CodeSystem.SNOMEDCT, "185086009")] if copd else []
    found = gaps(patient(born), D(2025, 1, 1), conditions=conditions)
    assert {"rsv-vaccine", "rsv-vaccine-60-74-at-risk"} & set(found) == ({rule} if rule else set())


def test_rsv_vaccine_once_ever_from_august_2024():
    p = patient(D(1940, 1, 1))
    assert "rsv-vaccine" not in gaps(p, D(2024, 8, 14))
    dose = cvx("305", D(2023, 10, 1))
    assert gaps(p, D(2026, 1, 1), [dose])["rsv-vaccine"].status is GapStatus.CLOSED
    nirsevimab = cvx("306", D(2023, 10, 1))  # the infants' antibody is not a vaccine dose
    assert gaps(p, D(2026, 1, 1), [nirsevimab])["rsv-vaccine"].open


@pytest.mark.parametrize(
    ("born", "rule"),
    [
        (D(2001, 4, 2), None),  # 20
        (D(2001, 4, 1), "cervical-cancer-screening-21-29"),  # 21 today
        (D(1992, 4, 1), "cervical-cancer-screening"),  # 30 today
        (D(1956, 4, 2), "cervical-cancer-screening"),  # 65
        (D(1956, 4, 1), None),  # 66
    ],
)
def test_cervical_cancer_screening_ages(born, rule):
    found = gaps(patient(born), D(2022, 4, 1))
    ids = {"cervical-cancer-screening", "cervical-cancer-screening-21-29"} & set(found)
    assert ids == ({rule} if rule else set())
    assert not {"cervical-cancer-screening"} & set(gaps(patient(born, MALE), D(2022, 4, 1)))


def test_cervical_screening_look_backs_and_hysterectomy():
    p = patient(D(1980, 1, 1))
    pap = Record(id="c1", system="CPT", code="88175", on=D(2019, 4, 1))
    hpv = Record(id="c2", system="CPT", code="87624", on=D(2017, 4, 2))
    assert gaps(p, D(2022, 3, 31), [pap])["cervical-cancer-screening"].next_due == D(2022, 4, 1)
    assert gaps(p, D(2022, 4, 1), [pap])["cervical-cancer-screening"].open
    assert not gaps(p, D(2022, 4, 1), [pap, hpv])["cervical-cancer-screening"].open
    assert gaps(p, D(2022, 4, 2), [pap, hpv])["cervical-cancer-screening"].open
    young = patient(D(1998, 1, 1))
    assert gaps(young, D(2022, 4, 1), [hpv])["cervical-cancer-screening-21-29"].open
    surgery = Record(id="s1", system="CPT", code="58150", on=D(2015, 1, 1))
    assert "cervical-cancer-screening" not in gaps(p, D(2022, 4, 1), [surgery])


@pytest.mark.parametrize(
    ("born", "on", "inside"),
    [
        (D(1986, 9, 2), D(2021, 9, 1), False),  # 34
        (D(1986, 9, 1), D(2021, 9, 1), True),  # 35 under the 2021 version
        (D(1981, 4, 2), D(2021, 4, 1), False),  # 39 under the 2015 version (40 to 70)
        (D(1981, 4, 1), D(2021, 4, 1), True),  # 40
        (D(1950, 9, 2), D(2021, 9, 1), True),  # 70
        (D(1950, 9, 1), D(2021, 9, 1), False),  # 71
    ],
)
def test_prediabetes_screening_ages_with_overweight_or_obesity(born, on, inside):
    obesity = condition(CodeSystem.SNOMEDCT, "162864005")
    found = gaps(patient(born), on, conditions=[obesity])
    assert ("prediabetes-diabetes-screening" in found) is inside
    assert "prediabetes-diabetes-screening" not in gaps(patient(born), on)  # no weight condition


def test_prediabetes_screening_every_3_years_and_not_with_diabetes():
    obesity = condition(CodeSystem.ICD10CM, "E66.9")
    p = patient(D(1970, 1, 1))
    a1c = Record(id="l1", system="LOINC", code="4548-4", on=D(2020, 3, 2), value=5.4)
    last = gaps(p, D(2023, 3, 1), [a1c], [obesity])["prediabetes-diabetes-screening"]
    assert (last.status, last.next_due) == (GapStatus.CLOSED, D(2023, 3, 2))
    assert gaps(p, D(2023, 3, 2), [a1c], [obesity])["prediabetes-diabetes-screening"].open
    diabetes = condition(CodeSystem.ICD10CM, "E11.9", cid="c2")
    assert "prediabetes-diabetes-screening" not in gaps(p, D(2023, 3, 2), [], [obesity, diabetes])
