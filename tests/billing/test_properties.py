"""Properties of the billing engine (hypothesis)."""

from __future__ import annotations

import random
from collections import Counter

import attrs
import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import cms_rule_set, evaluate
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
)
from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod
from carecore.testing.strategies import billing_facts

F = ServiceFamily
MONTHLY = (F.CCM, F.PCM, F.BHI, F.COCM, F.RPM, F.RTM, F.CHI, F.PIN)

#: Codes by the track they belong to, and the time role that feeds the track.
TRACKS = {
    F.CCM: ({"99490", "99439"}, RoleClass.CLINICAL_STAFF),
    F.PCM: ({"99426", "99427"}, RoleClass.CLINICAL_STAFF),
    F.COCM: ({"99493", "99494", "G2214"}, RoleClass.BH_CARE_MANAGER),
    F.CHI: ({"G0019", "G0022"}, RoleClass.AUXILIARY),
    F.PIN: ({"G0023", "G0024"}, RoleClass.AUXILIARY),
    F.ACP: ({"99497", "99498"}, RoleClass.PHYSICIAN),
    F.BHI: ({"99484"}, RoleClass.CLINICAL_STAFF),
}


def enrolled_facts(
    year: int, family: ServiceFamily, minutes: list[int], *, consent: bool = True
) -> BillingFacts:
    """A patient who meets every prerequisite of *family* except, maybe, the time."""
    period = (
        ServicePeriod.month(year, 5)
        if family is not F.ACP
        else ServicePeriod(start=pendulum.Date(year, 5, 14), end=pendulum.Date(year, 5, 14))
    )
    start = pendulum.Date(year - 1, 11, 2)
    role = TRACKS[family][1]
    credential = Credential.MD if role is RoleClass.PHYSICIAN else Credential.RN
    events = [
        TimeFact(
            date=period.start.add(days=i % period.days),
            minutes=m,
            role=role,
            practitioner="dr1",
            family=family,
            credential=credential,
            interactive=True,
        )
        for i, m in enumerate(minutes)
    ]
    return BillingFacts(
        period=period,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[
            BillingPractitioner(id="dr1", credential=Credential.MD, primary_care_focal_point=True)
        ],
        patient=PatientFacts(
            id="p1",
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True, behavioral=True),
                ChronicCondition(icd10="I10", significant_risk=True),
            ],
            consent_on={family: start} if consent else {},
            care_plan_on={family: start},
            established=True,
            last_visit=start,
        ),
        events=events,
    )


def units(result, codes: set[str]) -> int:
    return sum(line.units for line in result.claim_lines if line.code in codes)


years = st.sampled_from((2024, 2025, 2026))
minute_lists = st.lists(st.integers(1, 45), max_size=8)


@given(
    years, st.sampled_from(sorted(TRACKS, key=lambda f: f.value)), minute_lists, st.integers(1, 45)
)
def test_more_minutes_never_reduce_units_within_a_track(year, family, minutes, extra):
    codes = TRACKS[family][0]
    rules = cms_rule_set(year)
    before = evaluate(enrolled_facts(year, family, minutes), rules)
    after = evaluate(enrolled_facts(year, family, [*minutes, extra]), rules)
    assert units(after, codes) >= units(before, codes)


@given(years, st.sampled_from(sorted(TRACKS, key=lambda f: f.value)), minute_lists)
def test_billed_units_never_need_more_minutes_than_were_logged(year, family, minutes):
    """No minute supports two codes: the billed units' minute requirements fit in the time logged."""
    from carecore.billing._engine import first_unit, minutes_for_units

    rules = cms_rule_set(year)
    result = evaluate(enrolled_facts(year, family, minutes), rules)
    logged = sum(minutes)
    by_code = {line.code: line.units for line in result.claim_lines}
    needed = 0
    for code, count in by_code.items():
        rule = rules.rule(code)
        if rule.add_on_to is None:
            needed = max(needed, first_unit(rule))
        else:
            # 99494 follows whichever CoCM base was billed (70 or 60 minutes).
            base = "99493" if code == "99494" and "99493" in by_code else rule.add_on_to
            base_minutes = rules.rule(base).minutes or 0
            needed = max(needed, minutes_for_units(base_minutes, rule, count))
    assert needed <= logged


@given(billing_facts(max_events=10), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_event_order(facts, rnd: random.Random):
    rules = cms_rule_set(facts.period.start.year)
    shuffled = list(facts.events)
    rnd.shuffle(shuffled)
    again = attrs.evolve(facts, events=shuffled)
    first, second = evaluate(facts, rules), evaluate(again, rules)
    assert first.claim_lines == second.claim_lines
    assert first.denials == second.denials
    assert first.hints == second.hints


@given(billing_facts(max_events=10))
def test_removing_consent_never_increases_billing(facts):
    rules = cms_rule_set(facts.period.start.year)
    with_consent = evaluate(facts, rules)
    without = evaluate(
        attrs.evolve(facts, patient=attrs.evolve(facts.patient, consent_on={})), rules
    )
    have = Counter({line.code: line.units for line in with_consent.claim_lines})
    for line in without.claim_lines:
        # Codes that need no consent (TCM, ACP, E/M re-reporting) stay; nothing grows.
        assert line.units <= have[line.code], line


@given(years, st.sampled_from(MONTHLY), minute_lists)
def test_consent_gates_every_consent_family(year, family, minutes):
    rules = cms_rule_set(year)
    if family in TRACKS:
        result = evaluate(enrolled_facts(year, family, minutes, consent=False), rules)
        assert not result.claim_lines


@given(billing_facts(max_events=14))
def test_engine_raises_only_carecore_errors(facts):
    try:
        result = evaluate(facts, cms_rule_set(facts.period.start.year))
    except errors.CarecoreError:
        return
    for line in result.claim_lines:
        assert line.units >= 1
        assert line.billing_practitioner_id in {p.id for p in facts.practitioners}
    for denial in result.denials:
        assert denial.message


def test_bad_arguments_are_typed_errors():
    import pytest

    with pytest.raises(errors.InvalidValue):
        evaluate("facts", cms_rule_set(2026))  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidValue):
        evaluate(enrolled_facts(2026, F.CCM, [20]), "cms-2026")  # type: ignore[arg-type]
    with pytest.raises(errors.NotFound):
        cms_rule_set(2023)
