"""HCC scoring reports the diagnoses it could not use, and scores SNOMED CT through a map the caller gives."""

from __future__ import annotations

import attrs
import pendulum
import pytest

from carecore import errors
from carecore.model import CodeSystem, Coding, Condition
from carecore.risk import HccModel, HccVersion, hcc_score, hcc_scores, read_snomed_map
from carecore.testing._store_contract import make_patient

pytest.importorskip("hccinfhir")

DAY = pendulum.Date(2026, 3, 1)
V28 = HccModel(version=HccVersion.V28, year=2026)


def patient_72():
    return attrs.evolve(make_patient("p1"), birth_date=pendulum.Date(1953, 6, 1))


def snomed(cid, code):
    return Condition(id=cid, patient_id="p1", coding=Coding(system=CodeSystem.SNOMEDCT, code=code))


def icd10(cid, code):
    return Condition(id=cid, patient_id="p1", coding=Coding.icd10cm(code))


# The SNOMED CT problem list of a Synthea patient: diabetes, heart failure, COPD.
SYNTHEA = [snomed("s1", "44054006"), snomed("s2", "88805009"), snomed("s3", "185086009")]
MAP = "snomed,icd10cm\n44054006,E11.9\n88805009,I50.22\n185086009,J44.1\n"


def test_snomed_conditions_without_a_map_are_reported_not_dropped():
    score = hcc_score(patient_72(), SYNTHEA, model=V28, as_of=DAY)
    assert score.factors == ()  # demographics only, as before
    assert [(u.condition_id, u.system, u.reason) for u in score.unused] == [
        ("s3", "SNOMED CT", "SNOMED CT code: no SNOMED CT to ICD-10-CM map was given"),
        ("s1", "SNOMED CT", "SNOMED CT code: no SNOMED CT to ICD-10-CM map was given"),
        ("s2", "SNOMED CT", "SNOMED CT code: no SNOMED CT to ICD-10-CM map was given"),
    ]
    assert "not used: 44054006 (SNOMED CT, s1)" in score.explanation


def test_a_map_given_scores_them_as_their_icd10cm_codes():
    mapped = hcc_score(patient_72(), SYNTHEA, model=V28, as_of=DAY, snomed_map=read_snomed_map(MAP))
    direct = hcc_score(
        patient_72(),
        [icd10("c1", "E11.9"), icd10("c2", "I50.22"), icd10("c3", "J44.1")],
        model=V28,
        as_of=DAY,
    )
    assert mapped.score == direct.score
    assert [f.name for f in mapped.factors] == [f.name for f in direct.factors]
    assert mapped.unused == ()
    assert dict(mapped.mapped)["44054006"] == ("E11.9",)
    assert "44054006 (SNOMED CT) scored as E11.9 through the map given" in mapped.explanation


def test_a_concept_missing_from_the_map_and_codes_in_no_hcc_are_named():
    partial = read_snomed_map("snomed,icd10cm\n44054006,E11.9\n")
    score = hcc_score(
        patient_72(),
        [*SYNTHEA, icd10("c4", "I10")],  # essential hypertension is in no V28 payment HCC
        model=V28,
        as_of=DAY,
        snomed_map=partial,
    )
    reasons = {u.code: u.reason for u in score.unused}
    assert reasons["88805009"] == "SNOMED CT code not in the SNOMED CT to ICD-10-CM map given"
    assert reasons["I10"].startswith("in no payment HCC of CMS-HCC V28")
    assert "44054006" not in reasons
    by_patient = hcc_scores([patient_72()], SYNTHEA, model=V28, as_of=DAY, snomed_map=partial)
    assert [u.code for u in by_patient["p1"].unused] == ["185086009", "88805009"]


def test_the_nlm_release_layout_takes_each_groups_unconditional_target():
    nlm = (
        "id\teffectiveTime\tactive\tmoduleId\trefsetId\treferencedComponentId\t"
        "referencedComponentName\tmapGroup\tmapPriority\tmapRule\tmapAdvice\tmapTarget\n"
        "a\t20240301\t1\tm\tr\t127013003\tDiabetic renal disease\t1\t1\t"
        "IFA 46635009 | Type 1 diabetes mellitus |\tadvice\tE10.29\n"
        "b\t20240301\t1\tm\tr\t127013003\tDiabetic renal disease\t1\t2\tOTHERWISE TRUE\t"
        "advice\tE11.29\n"
        "c\t20240301\t1\tm\tr\t38341003\tHypertensive disorder\t1\t1\tTRUE\tadvice\tI10\n"
    )
    assert read_snomed_map(nlm) == {"127013003": ("E11.29",), "38341003": ("I10",)}


@pytest.mark.parametrize(
    "text",
    ["concept,code\n1,E11.9\n", "snomed,icd10cm\n44054006,NOTACODE\n", "snomed,icd10cm\nabc,I10\n"],
)
def test_a_bad_map_is_refused_by_name(text):
    with pytest.raises(errors.InvalidValue, match="snomed_map"):
        read_snomed_map(text)
