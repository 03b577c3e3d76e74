"""Engine corrections of issue 15: consent and death bound countable time, personal codes
need a credential that may bill, conditions are billable ICD-10-CM codes counted per disease,
and claim lines carry their diagnoses. Every test here failed on the engine before the fix.
"""

from __future__ import annotations

import attrs
import pendulum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.billing import cms_rule_set, evaluate
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
)
from carecore.billing.primitives import CONSENT_FAMILIES
from carecore.billing.rules import ConditionGrouping, DateOfService, Switches
from carecore.convert import get_converter
from carecore.model import ClaimLine, Credential, Denial, RoleClass, ServiceFamily, ServicePeriod
from carecore.model.codes import DenialReason
from carecore.testing.strategies import billing_facts

F = ServiceFamily
D = pendulum.Date
MARCH = ServicePeriod.month(2026, 3)
ENROLLED = D(2025, 6, 2)
TWO = (
    ChronicCondition(icd10="E11.65", significant_risk=True),
    ChronicCondition(icd10="I10", significant_risk=True),
)


def ccm_facts(
    entries: list[tuple[int, int]],
    *,
    consent: pendulum.Date = ENROLLED,
    death: pendulum.Date | None = None,
    conditions: tuple[ChronicCondition, ...] = TWO,
    role: RoleClass = RoleClass.CLINICAL_STAFF,
    credential: Credential | None = Credential.RN,
    family: ServiceFamily = F.CCM,
) -> BillingFacts:
    """An enrolled CCM (or PCM) patient in March 2026 with time on (day, minutes)."""
    return BillingFacts(
        period=MARCH,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
        patient=PatientFacts(
            id="p1",
            conditions=conditions,
            consent_on={family: consent},
            care_plan_on={family: consent},
            last_visit=consent,
            date_of_death=death,
        ),
        events=[
            TimeFact(
                date=D(2026, 3, day),
                minutes=minutes,
                role=role,
                practitioner="dr1",
                family=family,
                credential=credential,
            )
            for day, minutes in entries
        ],
    )


# -- 1. consent and death --------------------------------------------------------------


def test_time_before_consent_is_refused_with_a_reason():
    result = evaluate(ccm_facts([(3, 25)], consent=D(2026, 3, 20)), cms_rule_set(2026))
    assert result.claim_lines == ()
    [denial] = [d for d in result.denials if d.family is F.CCM]
    assert denial.reason is DenialReason.TIME_BEFORE_CONSENT
    assert "2026-03-20" in denial.message
    assert denial.practitioner_id == "dr1"


def test_consent_after_the_month_refuses_the_month():
    result = evaluate(ccm_facts([(3, 25)], consent=D(2026, 4, 2)), cms_rule_set(2026))
    assert result.claim_lines == ()
    assert {d.reason for d in result.denials if d.family is F.CCM} == {
        DenialReason.TIME_BEFORE_CONSENT
    }


def test_time_after_death_does_not_count():
    # Death Mar 10, 10 min on Mar 3, 15 min on Mar 20: only 10 minutes count.
    result = evaluate(ccm_facts([(3, 10), (20, 15)], death=D(2026, 3, 10)), cms_rule_set(2026))
    assert result.claim_lines == ()
    assert any(d.code == "99490" for d in result.denials)
    assert any("after the patient's death" in h.message for h in result.hints)


def test_all_time_after_death_is_refused_with_a_reason():
    result = evaluate(ccm_facts([(12, 25)], death=D(2026, 3, 10)), cms_rule_set(2026))
    assert result.claim_lines == ()
    [denial] = [d for d in result.denials if d.family is F.CCM]
    assert denial.reason is DenialReason.PATIENT_DECEASED
    assert "2026-03-10" in denial.message


def test_date_of_service_never_after_death():
    rules = cms_rule_set(2026, switches=Switches(date_of_service=DateOfService.PERIOD_END))
    result = evaluate(ccm_facts([(3, 25)], death=D(2026, 3, 10)), rules)
    [line] = result.claim_lines
    assert line.code == "99490"
    assert line.date_of_service == D(2026, 3, 10)


def _time_entries(facts: BillingFacts) -> set[tuple[ServiceFamily, str]]:
    listed = {p.id for p in facts.practitioners}
    return {
        (e.family, e.practitioner)
        for e in facts.events
        if isinstance(e, TimeFact) and e.practitioner in listed and e.date in facts.period
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(billing_facts())
def test_every_family_with_time_ends_in_lines_or_denials(facts):
    result = evaluate(facts, cms_rule_set(facts.period.start.year))
    answered = {(line.family, line.billing_practitioner_id) for line in result.claim_lines} | {
        (d.family, d.practitioner_id) for d in result.denials
    }
    missing = _time_entries(facts) - answered
    assert not missing, (missing, result.denials)


@st.composite
def with_uncountable_time(draw):
    facts = draw(billing_facts())
    patient = facts.patient
    extra = []
    for pr in facts.practitioners:
        for family, consent in patient.consent_on:
            # Only the families that need consent ignore time before it (ACP, TCM... do not).
            if family in CONSENT_FAMILIES and facts.period.start < consent <= facts.period.end:
                day = draw(st.dates(facts.period.start, consent.subtract(days=1)))
                extra.append((family, pr.id, day))
        death = patient.date_of_death
        if death is not None and death < facts.period.end:
            family = draw(st.sampled_from(list(ServiceFamily)))
            extra.append((family, pr.id, draw(st.dates(death.add(days=1), facts.period.end))))
    more = [
        TimeFact(
            date=D(day.year, day.month, day.day),
            minutes=draw(st.integers(1, 90)),
            role=draw(st.sampled_from(RoleClass)),
            practitioner=pr_id,
            family=family,
        )
        for family, pr_id, day in extra
    ]
    return facts, attrs.evolve(facts, events=[*facts.events, *more])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(with_uncountable_time())
def test_time_before_consent_or_after_death_never_raises_units(pair):
    before, after = pair
    rules = cms_rule_set(before.period.start.year)
    units = {}
    for line in evaluate(before, rules).claim_lines:
        units[line.code] = units.get(line.code, 0) + line.units
    for line in evaluate(after, rules).claim_lines:
        assert line.units <= units.get(line.code, 0), line
        death = after.patient.date_of_death
        if death is not None:
            assert line.date_of_service <= death


# -- 2. personally performed codes ------------------------------------------------------


def test_lcsw_logged_as_qhp_does_not_earn_99491_for_an_md():
    facts = ccm_facts([(3, 35)], role=RoleClass.QHP, credential=Credential.LCSW)
    result = evaluate(facts, cms_rule_set(2026))
    assert "99491" not in {line.code for line in result.claim_lines}
    # The time still counts as clinical-staff time.
    assert result.billable == [("99490", 1)]


def test_physical_therapist_does_not_earn_99424():
    facts = ccm_facts(
        [(3, 35)],
        role=RoleClass.QHP,
        credential=Credential.PT,
        family=F.PCM,
        conditions=(ChronicCondition(icd10="I50.22", significant_risk=True),),
    )
    result = evaluate(facts, cms_rule_set(2026))
    assert "99424" not in {line.code for line in result.claim_lines}


def test_physician_time_still_earns_99491():
    for credential in (Credential.MD, Credential.NP, None):
        facts = ccm_facts([(3, 35)], role=RoleClass.PHYSICIAN, credential=credential)
        assert evaluate(facts, cms_rule_set(2026)).billable == [("99491", 1)], credential


def test_the_personal_switch_restores_the_old_reading():
    facts = ccm_facts([(3, 35)], role=RoleClass.QHP, credential=Credential.LCSW)
    rules = cms_rule_set(2026, switches=Switches(personal_time_needs_billing_credential=False))
    assert evaluate(facts, rules).billable == [("99491", 1)]


# -- 3. and 4. conditions ---------------------------------------------------------------


def test_category_codes_do_not_count_and_are_named():
    conditions = (
        ChronicCondition(icd10="E11", significant_risk=True),
        ChronicCondition(icd10="I50", significant_risk=True),
    )
    result = evaluate(ccm_facts([(3, 25)], conditions=conditions), cms_rule_set(2026))
    assert result.claim_lines == ()
    [denial] = [d for d in result.denials if d.reason is DenialReason.TOO_FEW_CONDITIONS]
    assert "E11" in denial.message
    assert "I50" in denial.message


def test_codes_of_one_disease_count_once():
    conditions = (
        ChronicCondition(icd10="E11.65", significant_risk=True),
        ChronicCondition(icd10="E11.9", significant_risk=True),
    )
    result = evaluate(ccm_facts([(3, 25)], conditions=conditions), cms_rule_set(2026))
    assert result.claim_lines == ()
    [denial] = [d for d in result.denials if d.reason is DenialReason.TOO_FEW_CONDITIONS]
    assert "E11.65" in denial.message
    assert "E11.9" in denial.message
    by_code = cms_rule_set(2026, switches=Switches(condition_grouping=ConditionGrouping.CODE))
    assert evaluate(ccm_facts([(3, 25)], conditions=conditions), by_code).billable == [("99490", 1)]


def test_distinct_diseases_still_qualify():
    result = evaluate(ccm_facts([(3, 25)]), cms_rule_set(2026))
    assert result.billable == [("99490", 1)]


# -- 5. diagnoses -----------------------------------------------------------------------


def test_claim_lines_carry_their_diagnoses():
    conditions = (
        ChronicCondition(icd10="I50.22", significant_risk=True),
        ChronicCondition(icd10="E11", significant_risk=True),  # not billable: left out
        ChronicCondition(icd10="E11.65", significant_risk=True),
        ChronicCondition(icd10="Z59.00", significant_risk=False),  # does not qualify
    )
    result = evaluate(ccm_facts([(3, 45)], conditions=conditions), cms_rule_set(2026))
    assert result.billable == [("99439", 1), ("99490", 1)]
    for line in result.claim_lines:
        assert line.diagnoses == ("I50.22", "E11.65")
        assert result.diagnosis_pointers(line) == (1, 2)
    assert result.claim_diagnoses("dr1") == ("I50.22", "E11.65")


def test_at_most_four_diagnoses_a_line_one_per_disease_first():
    codes = ("E11.65", "E11.9", "I10", "I50.22", "J44.9", "N18.4", "F33.1")
    conditions = tuple(ChronicCondition(icd10=c, significant_risk=True) for c in codes)
    result = evaluate(ccm_facts([(3, 25)], conditions=conditions), cms_rule_set(2026))
    [line] = result.claim_lines
    # One code per disease first (in the order listed), then the rest.
    assert line.diagnoses == ("E11.65", "I10", "I50.22", "J44.9")
    assert len(result.claim_diagnoses("dr1")) <= 12


def test_claim_line_with_diagnoses_round_trips():
    line = ClaimLine(
        patient_id="p1",
        code="99490",
        units=1,
        family=F.CCM,
        billing_practitioner_id="dr1",
        date_of_service=D(2026, 3, 3),
        period=MARCH,
        diagnoses=("E11.65", "I10"),
    )
    converter = get_converter()
    assert converter.structure(converter.unstructure(line), ClaimLine) == line
    denial = Denial(
        patient_id="p1",
        code="99490",
        family=F.CCM,
        reason=DenialReason.TIME_BEFORE_CONSENT,
        message="All of it was before consent.",
        rule="ccm.time_before_consent",
        period=MARCH,
        practitioner_id="dr1",
    )
    assert converter.structure(converter.unstructure(denial), Denial) == denial


def test_a_code_already_claimed_is_refused_not_dropped():
    from carecore.billing.facts import OtherClaimFact

    facts = ccm_facts([(3, 25)])
    claimed = OtherClaimFact(date=D(2026, 3, 2), code="99490", practitioner="dr1")
    result = evaluate(attrs.evolve(facts, events=[*facts.events, claimed]), cms_rule_set(2026))
    assert result.claim_lines == ()
    # The old engine dropped the line without a word (only 99439's threshold was said).
    assert ("99490", DenialReason.ALREADY_BILLED_IN_PERIOD) in {
        (d.code, d.reason) for d in result.denials
    }


def test_shipped_billable_codes_are_the_installed_release():
    """The engine's list of billable codes is the installed ICD-10-CM release's leaves."""
    from carecore import icd
    from carecore.billing import _engine as engine

    shipped = engine._billable_codes()
    assert shipped is not None, f"regenerate the list for {icd.release()}"
    lib = icd._lib()
    leaves = {c for c in lib.get_all_codes(with_dots=True) if "-" not in c and lib.is_leaf(c)}
    assert shipped == leaves
    for code in ("E11", "I50", "Z59.0", "E11.65", "S82.201D", "XYZ", "E11.99"):
        assert engine.is_billable_icd10cm(code) is icd.is_billable(code), code


# -- hints never suggest time that cannot count -------------------------------------------------


def _minute_hints(result):
    return [h for h in result.hints if h.minutes_needed is not None]


def test_no_more_minutes_hint_after_death():
    # Failed before: death Mar 10 with 10 minutes on Mar 3 hinted "10 more clinical-staff
    # minutes reach 99490", as if time after the death could still count.
    result = evaluate(ccm_facts([(3, 10)], death=D(2026, 3, 10)), cms_rule_set(2026))
    assert result.claim_lines == ()
    assert not any("more" in h.message and "reach" in h.message for h in result.hints)
    assert any(d.code == "99490" for d in result.denials)  # still explained


def test_no_add_on_hint_after_death_and_the_base_code_is_still_billed():
    result = evaluate(ccm_facts([(3, 25)], death=D(2026, 3, 10)), cms_rule_set(2026))
    assert [line.code for line in result.claim_lines] == ["99490"]
    assert _minute_hints(result) == []


def test_a_death_after_the_period_keeps_the_hint():
    result = evaluate(ccm_facts([(3, 10)], death=D(2026, 4, 2)), cms_rule_set(2026))
    assert [h.message for h in _minute_hints(result)] == [
        "10 more clinical-staff minutes reach 99490"
    ]


def test_consent_after_the_period_gives_no_minutes_hint():
    result = evaluate(ccm_facts([(3, 10)], consent=D(2026, 4, 2)), cms_rule_set(2026))
    assert _minute_hints(result) == []


def test_consent_within_the_period_keeps_a_hint_counted_from_consent():
    result = evaluate(ccm_facts([(3, 10), (25, 5)], consent=D(2026, 3, 20)), cms_rule_set(2026))
    assert [h.message for h in _minute_hints(result)] == [
        "15 more clinical-staff minutes reach 99490"
    ]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(with_uncountable_time())
def test_no_minutes_hint_once_the_patient_has_died_or_before_consent(pair):
    _before, after = pair
    result = evaluate(after, cms_rule_set(after.period.start.year))
    death = after.patient.date_of_death
    if death is not None and death <= after.period.end:
        assert _minute_hints(result) == []
    for hint in _minute_hints(result):
        consent = after.patient.consent(hint.family)
        if hint.family in CONSENT_FAMILIES and consent is not None:
            # More minutes can count only from consent on, within the period.
            assert consent <= after.period.end
