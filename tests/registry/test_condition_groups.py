"""Chronic status and significant risk from the condition itself: the condition-group table."""

from __future__ import annotations

import csv
from importlib import resources

import pendulum

from carecore import errors, icd
from carecore.billing import Switches
from carecore.conditions import SignificantRisk
from carecore.model import CodeSystem, Coding, Condition, ServiceFamily
from carecore.registry import classify, condition_groups, eligibility, registry_worklists
from carecore.testing._store_contract import make_patient

DAY = pendulum.Date(2026, 3, 10)
CCM, PCM = ServiceFamily.CCM, ServiceFamily.PCM
#: The other setting: only attested conditions count; the table proposes.
ATTESTED = Switches(significant_risk_from=SignificantRisk.ATTESTED)


def coded(cid, code, *, snomed=False, display=None, **kw):
    coding = (
        Coding(system=CodeSystem.SNOMEDCT, code=code, display=display)
        if snomed
        else Coding(system=CodeSystem.ICD10CM, code=code, display=display)
    )
    return Condition(id=cid, patient_id="p1", coding=coding, **kw)


def test_every_row_is_well_formed_and_its_counting_code_is_billable():
    rows = condition_groups()
    assert {g.basis for g in rows} == {"cms-example", "carecore"}
    keys = [(g.system, g.code) for g in rows]
    assert len(keys) == len(set(keys))
    for g in rows:
        if g.system is CodeSystem.SNOMEDCT:
            assert g.code.isdigit()
            assert g.icd10cm is not None
            assert icd.is_billable(g.icd10cm), g
            # the SNOMED row and the ICD-10-CM code it is counted by fall in one group
            assert classify(Coding.icd10cm(g.icd10cm)).group == g.group
    text = resources.files("carecore.conditions").joinpath("data", "condition_groups.csv")
    with text.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(rows)


def test_icd_codes_match_the_longest_prefix():
    assert classify(Coding.icd10cm("I11.0")).group == "heart-failure"
    assert classify(Coding.icd10cm("I11.9")).group == "hypertension"
    assert classify(Coding.icd10cm("E11.65")).group == "diabetes"
    assert classify(Coding.icd10cm("E78.5")).significant_risk is False
    assert classify(Coding.icd10cm("J02.9")) is None
    assert classify(Coding(system=CodeSystem.SNOMEDCT, code="15777000")) is None  # prediabetes


def test_by_default_table_conditions_alone_are_eligible():
    conditions = [coded("c1", "E11.9"), coded("c2", "38341003", snomed=True)]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions)
    assert verdict.status == "eligible"
    assert verdict.conditions == ("38341003", "E11.9")
    assert "[met] ccm.two_chronic_conditions: 2 chronic condition(s)" in verdict.explanation
    assert "by the condition-group table or attestation" in verdict.explanation


def test_attested_only_table_conditions_alone_need_attestation_not_ineligible():
    conditions = [coded("c1", "E11.9"), coded("c2", "38341003", snomed=True)]
    verdict = eligibility(
        make_patient("p1"), CCM, as_of=DAY, conditions=conditions, switches=ATTESTED
    )
    assert (verdict.eligible, verdict.needs_attestation, verdict.status) == (
        False,
        True,
        "needs attestation",
    )
    assert verdict.conditions == ("38341003", "E11.9")
    # The reason names each condition in words, its code in brackets (the table's words here).
    assert "Hypertensive disorder (38341003)" in verdict.explanation
    assert "Type 2 diabetes mellitus (E11.9)" in verdict.explanation
    assert "[needs attestation] ccm.two_chronic_conditions" in verdict.explanation


def test_attestation_makes_the_table_conditions_count():
    conditions = [
        coded("c1", "E11.9", significant_risk=True),
        coded("c2", "38341003", snomed=True, significant_risk=True),
    ]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions)
    assert verdict.eligible
    assert verdict.status == "eligible"


def test_an_attestation_counts_a_condition_the_table_does_not_know():
    conditions = [
        coded("c1", "E11.9", significant_risk=True),
        coded("c2", "K50.90", chronic=True, significant_risk=True),  # Crohn's: not in the table
    ]
    assert eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions).eligible


def test_one_disease_counts_once_and_chronic_groups_not_at_risk_need_attestation():
    # E11.9 and E11.21 are one disease: not two.
    diabetes = [coded("c1", "E11.9"), coded("c2", "E11.21")]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=diabetes)
    assert verdict.status == "not eligible"
    # Hyperlipidemia and obesity are chronic, not at risk by the table: attesting either
    # would make a second disease, so the patient needs attestation, naming them.
    conditions = [*diabetes, coded("c3", "E78.5"), coded("c4", "E66.9")]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions)
    assert verdict.status == "needs attestation"
    clinical = verdict.criteria[1]
    assert clinical.needs == "attestation"
    assert "2 more chronic condition(s)" in clinical.detail
    assert set(verdict.conditions) == {"E11.21", "E11.9", "E78.5", "E66.9"}
    assert eligibility(make_patient("p1"), PCM, as_of=DAY, conditions=conditions).status == (
        "eligible"
    )
    pcm = eligibility(make_patient("p1"), PCM, as_of=DAY, conditions=conditions, switches=ATTESTED)
    assert pcm.status == "needs attestation"


def test_a_shorter_expected_duration_or_an_abatement_overrides_the_table():
    conditions = [
        coded("c1", "E11.9"),
        coded("c2", "I10", expected_duration_months=6),
        coded("c3", "I50.9", onset=pendulum.Date(2025, 1, 1), abatement=pendulum.Date(2025, 6, 1)),
    ]
    for switches in (None, ATTESTED):
        verdict = eligibility(
            make_patient("p1"), CCM, as_of=DAY, conditions=conditions, switches=switches
        )
        assert verdict.status == "not eligible"


def test_the_worklist_asks_for_the_attestation():
    conditions = [coded("c1", "E11.9"), coded("c2", "I10")]
    verdict = eligibility(
        make_patient("p1"), CCM, as_of=DAY, conditions=conditions, switches=ATTESTED
    )
    lists = registry_worklists(today=DAY, eligibility=[verdict])
    (item,) = [i for w in lists.values() for i in w.items]
    assert item.kind == "needs-attestation"
    # Named in words (the condition-group table's, when the record has none), code in brackets.
    assert item.detail == (
        "CCM: attest chronic conditions at significant risk: "
        "Type 2 diabetes mellitus (E11.9), Essential (primary) hypertension (I10)"
    )


def test_the_worklist_names_the_conditions_as_the_record_does():
    # A SNOMED CT record (as Synthea's) says what it is; the semantic tag is left off.
    conditions = [
        coded("c1", "26929004", snomed=True, display="Alzheimer's disease (disorder)"),
        coded("c2", "88805009", snomed=True, display="Chronic congestive heart failure (disorder)"),
    ]
    verdict = eligibility(
        make_patient("p1"), CCM, as_of=DAY, conditions=conditions, switches=ATTESTED
    )
    assert verdict.condition_names == (
        "Alzheimer's disease (26929004)",
        "Chronic congestive heart failure (88805009)",
    )
    lists = registry_worklists(today=DAY, eligibility=[verdict])
    (item,) = [i for w in lists.values() for i in w.items]
    assert item.detail == (
        "CCM: attest chronic conditions at significant risk: "
        "Alzheimer's disease (26929004), Chronic congestive heart failure (88805009)"
    )
    attested = [
        coded(c.id, c.coding.code, snomed=True, display=c.coding.display, significant_risk=True)
        for c in conditions
    ]
    offer = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=attested)
    (item,) = [
        i for w in registry_worklists(today=DAY, eligibility=[offer]).values() for i in w.items
    ]
    assert item.kind == "eligible-not-enrolled"
    assert "Alzheimer's disease (26929004)" in item.detail


def test_an_attested_snomed_concept_the_table_does_not_map_counts_for_nothing_and_is_named():
    # The month close bills by ICD-10-CM code: a SNOMED CT concept with no row in the
    # table cannot go on a claim, so it counts for nothing there, and here too.
    crohns = "34000006"  # Crohn's disease: in no group of the table
    conditions = [
        coded("c1", "E11.9", significant_risk=True),
        coded("c2", crohns, snomed=True, chronic=True, significant_risk=True),
        coded("c3", crohns, snomed=True, chronic=True, significant_risk=True),
    ]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions)
    assert verdict.status == "not eligible"
    assert "1 chronic condition(s)" in verdict.explanation
    assert f"{crohns} counts for nothing" in verdict.explanation
    # Recorded by its ICD-10-CM code, the same attestation counts.
    conditions[1] = coded("c2", "K50.90", chronic=True, significant_risk=True)
    assert eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions).eligible


def test_the_reason_groups_the_names_as_it_counts_the_diseases():
    # Three records, two diseases: the diabetes codes are one, and the names say so.
    conditions = [
        coded("c1", "E11.9", display="Diabetes"),
        coded("c2", "E11.21", display="Diabetic nephropathy"),
        coded("c3", "I10", display="Hypertension"),
    ]
    verdict = eligibility(make_patient("p1"), CCM, as_of=DAY, conditions=conditions)
    detail = verdict.criteria[1].detail
    assert detail.startswith("2 chronic condition(s)")
    assert "(Diabetes (E11.9) + Diabetic nephropathy (E11.21), Hypertension (I10))" in detail, (
        detail
    )


def _longest_row_prefix(code):
    """The row the table's own rule picks: the longest ICD-10-CM row code *code* starts with."""
    rows = [g for g in condition_groups() if g.system is CodeSystem.ICD10CM]
    matching = [g for g in rows if code.startswith(g.code)]
    return max(matching, key=lambda g: len(g.code)) if matching else None


def _codes_near_rows():
    """Valid ICD-10-CM codes of the table's rows, their categories and children, and others."""
    near = {"J02.9", "S72.001A", "Z00.00", "E11", "I10"}
    for g in condition_groups():
        if g.system is CodeSystem.ICD10CM:
            code = g.code
            near.update({code, code[:3], code + ".9", code + ".0", code + "9", code + "0"})
    valid = []
    for code in sorted(near):
        try:
            Coding(system=CodeSystem.ICD10CM, code=code)
        except errors.InvalidValue:
            continue
        valid.append(code)
    return valid


def test_an_icd_code_is_classified_by_the_longest_row_code_it_starts_with():
    # Codes of the table's rows, of their categories and children, and codes no row starts.
    codes = _codes_near_rows()
    assert len(codes) > 100
    for code in codes:
        found = classify(Coding(system=CodeSystem.ICD10CM, code=code))
        assert found == _longest_row_prefix(code), code
