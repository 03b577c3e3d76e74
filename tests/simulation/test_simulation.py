"""carecore.simulation: parameters honoured, capacity binding, billing equal to the engine, configs."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal

import attrs
import pendulum
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import errors, metrics
from carecore.billing import evaluate
from carecore.billing.facts import ChronicCondition
from carecore.cli import make_app
from carecore.model import Credential, MdmLevel, ServiceFamily, ServicePeriod
from carecore.plugins import get_plugin_manager
from carecore.simulation import (
    DEFAULT_CONDITIONS,
    OutcomeModel,
    PopulationSpec,
    ProgramPolicy,
    StaffRole,
    Study,
    billing_facts,
    example_names,
    load_study,
    policy_rules,
    run_replication,
    run_study,
    simulated_bill,
    study_from_mapping,
)
from carecore.simulation._run import (
    _bill_lines,
    _eligible,
    _minute_floor,
    _month_bill,
    _registry_eligible,
    _tcm_bill,
    _thresholds,
)
from carecore.testing.simulation import patient_months, studies

pytest.importorskip("numpy")


def _sum(result, measure: str) -> float:
    return sum(v for _r, _m, name, v in result.rows if name == measure)


def _ample(**policy: object) -> ProgramPolicy:
    return ProgramPolicy(staff=(StaffRole(capacity_minutes_per_fte_month=20_000),), **policy)


def test_enrollment_probability_is_honoured():
    # Everyone eligible is approached in the first month, without a cap: the
    # share who enroll is Binomial(eligible, p).
    p = 0.3
    study = Study(
        months=1,
        population=PopulationSpec(size=3000, medicare_share=1.0),
        policy=_ample(outreach_per_month=100_000, enrollment_probability=p),
    )
    totals = run_study(study, replications=2, seed=7).totals()
    eligible = sum(t["eligible_patients"] for t in totals)
    enrolled = sum(t["ever_enrolled"] for t in totals)
    sd = math.sqrt(p * (1 - p) / eligible)
    assert abs(enrolled / eligible - p) < 4 * sd


def test_mortality_is_honoured():
    q = 0.02
    study = Study(
        months=6,
        population=PopulationSpec(size=2000),
        outcomes=OutcomeModel(death=(q, q, q)),
    )
    result = run_study(study, replications=2, seed=3)
    deaths, at_risk = _sum(result, "deaths"), _sum(result, "member_months")
    sd = math.sqrt(q * (1 - q) / at_risk)
    assert abs(deaths / at_risk - q) < 4 * sd


def test_billed_minutes_never_exceed_capacity():
    study = Study(
        months=4,
        population=PopulationSpec(size=1500, medicare_share=1.0),
        policy=ProgramPolicy(
            families=(ServiceFamily.CCM, ServiceFamily.TCM),
            outreach_per_month=1000,
            enrollment_probability=0.9,
            staff=(StaffRole(capacity_minutes_per_fte_month=900),),
        ),
    )
    result = run_study(study, replications=2, seed=11)
    months = {}
    for rep, month, name, value in result.rows:
        months.setdefault((rep, month), {})[name] = value
    for values in months.values():
        assert values["minutes_logged"] <= values["capacity_minutes"] == 900
        assert values["minutes_billed"] <= values["capacity_minutes"]
    # the capacity binds: patients wanted more than it gave, and months went unbilled
    assert any(v["minutes_wanted"] > v["capacity_minutes"] for v in months.values())
    assert any(v["billable_months"] < v["enrolled_patients"] for v in months.values())


def test_no_program_effect_gives_the_same_utilisation_before_and_after_enrollment():
    study = Study(
        months=12,
        population=PopulationSpec(size=3000, medicare_share=1.0, risk_tier_shares=(0, 1, 0)),
        policy=_ample(outreach_per_month=60, enrollment_probability=0.8),
        outcomes=OutcomeModel(ed_visit=(0.1, 0.1, 0.1), death=(0, 0, 0), disenrollment=0),
    )
    totals = run_study(study, replications=2, seed=5).totals()
    before = sum(t["ed_visits_before_enrollment"] for t in totals) / sum(
        t["months_before_enrollment"] for t in totals
    )
    after = sum(t["ed_visits_while_enrolled"] for t in totals) / sum(
        t["enrolled_months"] for t in totals
    )
    assert before == pytest.approx(0.1, abs=0.01)
    assert after == pytest.approx(before, abs=0.01)


def test_a_program_effect_lowers_utilisation_while_enrolled():
    study = Study(
        months=12,
        population=PopulationSpec(size=3000, medicare_share=1.0, risk_tier_shares=(0, 1, 0)),
        policy=_ample(outreach_per_month=60, enrollment_probability=0.8),
        outcomes=OutcomeModel(
            ed_visit=(0.1, 0.1, 0.1), death=(0, 0, 0), disenrollment=0, ed_visit_effect=0.5
        ),
    )
    (t,) = run_study(study, replications=1, seed=5).totals()
    assert t["ed_visits_while_enrolled"] / t["enrolled_months"] == pytest.approx(0.05, abs=0.01)


_CONDITIONS = [
    ChronicCondition(icd10=c.icd10, significant_risk=c.significant_risk, behavioral=c.behavioral)
    for c in DEFAULT_CONDITIONS
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=st.lists(st.sampled_from(_CONDITIONS), unique=True, max_size=5).map(tuple),
    family=st.sampled_from([ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.APCM]),
    month=st.integers(1, 12),
    started=st.integers(1, 12),
    minutes=st.integers(0, 120),
    contacts=st.integers(0, 4),
    year=st.sampled_from([2024, 2025, 2026]),
    codes=st.sampled_from([None, frozenset({"99490"}), frozenset({"99490", "99439", "G0556"})]),
)
def test_the_memoised_bill_equals_the_engine(  # noqa: PLR0917 - hypothesis gives them
    conditions, family, month, started, minutes, contacts, year, codes
):
    policy = ProgramPolicy(rule_year=year, families=(family,), codes=codes)
    rules = policy_rules(policy)
    period = ServicePeriod.month(year, month)
    start = ServicePeriod.month(year, min(started, month)).start
    facts = {
        "period": period,
        "conditions": conditions,
        "family": family,
        "start": start,
        "minutes": minutes,
        "contacts": contacts,
        "credential": Credential.RN,
    }
    key = ("test", period.start, conditions, family, start, minutes, contacts > 0)
    first = simulated_bill(rules, key, **facts)
    again = simulated_bill(rules, key, **facts)  # from the memo
    engine = _bill_lines(evaluate(billing_facts(**facts), rules))
    assert first == again == engine


_ODD_CONDITIONS = [
    ChronicCondition(icd10="E11"),  # not a billable code: the fast path declines it
    ChronicCondition(icd10="E11.65", significant_risk=True),  # a second diabetes code
    ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
    ChronicCondition(icd10="I10", significant_risk=True, expected_duration_months=6),
]


def _any_condition():
    """A condition of the default table's codes or odd ones, with any flags and duration."""
    codes = sorted({c.icd10 for c in _CONDITIONS} | {c.icd10 for c in _ODD_CONDITIONS})
    return st.builds(
        ChronicCondition,
        icd10=st.sampled_from(codes),
        significant_risk=st.booleans(),
        behavioral=st.booleans(),
        expected_duration_months=st.sampled_from([None, 1, 2, 3, 6, 11, 12, 24]),
    )


@pytest.mark.parametrize(
    ("family", "first", "second"),
    [
        (ServiceFamily.CCM, ("N18.4", "I50.22"), ("D64.9", "E66.9")),
        (ServiceFamily.PCM, ("E11.65",), ("E78.5",)),
    ],
)
def test_the_eligibility_memo_tells_apart_codes_the_table_reads_differently(family, first, second):
    # Not attested, these codes count or not by their group in the table: one shape of
    # flags, two answers from the registry; the memo gives each its own.
    switches = policy_rules(ProgramPolicy(rule_year=2026)).switches
    as_of = pendulum.Date(2026, 1, 1)
    for codes in (first, second):
        conditions = tuple(ChronicCondition(icd10=code) for code in codes)
        direct = _registry_eligible(conditions, True, family, as_of, switches)
        assert _eligible(conditions, True, family, as_of, switches) is direct
    assert _registry_eligible(
        tuple(ChronicCondition(icd10=c) for c in first), True, family, as_of, switches
    ) != _registry_eligible(
        tuple(ChronicCondition(icd10=c) for c in second), True, family, as_of, switches
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sets=st.lists(st.lists(_any_condition(), max_size=5).map(tuple), min_size=1, max_size=8),
    medicare=st.booleans(),
    family=st.sampled_from(
        [ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.APCM, ServiceFamily.BHI]
    ),
    year=st.sampled_from([2024, 2025, 2026]),
)
def test_the_eligibility_memo_equals_the_registry(sets, medicare, family, year):
    # The memo answers every patient whose conditions have one shape with the registry's
    # answer for the first of them: each answer, from the memo or not, is the registry's.
    switches = policy_rules(ProgramPolicy(rule_year=year)).switches
    as_of = pendulum.Date(year, 1, 1)
    for conditions in sets:
        direct = _registry_eligible(conditions, medicare, family, as_of, switches)
        assert _eligible(conditions, medicare, family, as_of, switches) is direct


def _near_minutes(rules, family):
    """Any minutes up to 130, or a unit threshold of *family*'s codes, the minute before or after."""
    edges = sorted({t + d for t in _thresholds(rules, family) if t <= 130 for d in (-1, 0, 1)})
    return st.one_of(st.integers(0, 130), st.sampled_from(edges))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    year=st.sampled_from([2024, 2025, 2026]),
    codes=st.sampled_from(
        [
            None,
            frozenset({"99490"}),
            frozenset({"99490", "99439", "99491"}),
            frozenset({"99484", "99454", "99457"}),
        ]
    ),
)
def test_the_month_memo_equals_the_engine(data, year, codes):
    # Months of one rule set in a row, of every monthly family (CCM, PCM, APCM, BHI, RPM
    # with its device days), alone or several for one patient: later ones are answered by
    # the memo of earlier ones with the same canonical shape or the same facts.
    rules = policy_rules(ProgramPolicy(rule_year=year, codes=codes))
    for facts in data.draw(st.lists(patient_months(year=year), min_size=1, max_size=12)):
        engine = _bill_lines(evaluate(billing_facts(**facts), rules))
        assert _month_bill(rules, **facts) == engine
        assert _month_bill(rules, **facts) == engine  # from the memo
        # The same month with a fact the memo's key must hold changed: the engine's answer.
        near = dict(facts)
        if facts["device_days"] is not None:
            near["device_days"] = data.draw(st.integers(0, facts["period"].days))
            near["device_setup"] = data.draw(st.booleans())
        near["minutes"] = data.draw(_near_minutes(rules, facts["family"]))
        near["concurrent"] = tuple(
            (family, data.draw(_near_minutes(rules, family)), contacts)
            for family, _minutes, contacts in facts["concurrent"]
        )
        engine = _bill_lines(evaluate(billing_facts(**near), rules))
        assert _month_bill(rules, **near) == engine


@pytest.mark.parametrize("month", range(1, 13))
def test_the_month_memo_shares_answers_across_months_only_with_the_same_codes_in_effect(month):
    # The memo shares a fast-path answer between months of one rule set, not between
    # months in which the engine may bill other codes: with 99490 ending on June 30,
    # the same patient-month bills it in June and not in July.
    base = policy_rules(ProgramPolicy(rule_year=2026))
    ending = pendulum.Date(2026, 6, 30)
    rules = attrs.evolve(
        base,
        codes=tuple(
            attrs.evolve(r, available_to=ending) if r.code == "99490" else r for r in base.codes
        ),
        id="cms-2026-99490-ends-in-june",
    )
    conditions = tuple(c for c in _CONDITIONS if c.significant_risk)[:2]
    for each in (month, 13 - month, 6, 7):
        facts = {
            "period": ServicePeriod.month(2026, each),
            "conditions": conditions,
            "family": ServiceFamily.CCM,
            "start": ServicePeriod.month(2026, 1).start,
            "minutes": 25,
            "contacts": 1,
            "credential": Credential.RN,
        }
        engine = _bill_lines(evaluate(billing_facts(**facts), rules))
        assert _month_bill(rules, **facts) == engine
        assert any(code == "99490" for code, _units, _amount in engine) is (each <= 6)


@pytest.mark.parametrize("family", [ServiceFamily.CCM, ServiceFamily.PCM])
def test_the_month_memo_shares_shapes_across_codes_and_keeps_what_the_rules_read(family):
    # The memo keys a month's shape by how the fast path reads its conditions, not by the
    # codes: other codes of the same classes share an entry, and conditions it reads
    # differently (one disease or two, a code that does not count, two codes of one
    # disease) do not. Each month in turn, answered from the memo of the earlier ones,
    # must be the engine's.
    rules = policy_rules(ProgramPolicy(rule_year=2026))
    hypertension = ChronicCondition(icd10="I10", significant_risk=True)
    diabetes = ChronicCondition(icd10="E11.65", significant_risk=True)
    asthma = ChronicCondition(icd10="J45.40", significant_risk=True)
    heart_failure = ChronicCondition(icd10="I50.9", significant_risk=True)
    unbilled = ChronicCondition(icd10="E11", significant_risk=True)
    second_code = ChronicCondition(icd10="E11.9", significant_risk=True)
    answers = set()
    for conditions in (
        (hypertension,),
        (diabetes,),
        (hypertension, diabetes),
        (asthma, heart_failure),
        (hypertension, unbilled),
        (hypertension, diabetes, second_code),
        (hypertension, ChronicCondition(icd10="E11.65")),
    ):
        facts = {
            "period": ServicePeriod.month(2026, 5),
            "conditions": conditions,
            "family": family,
            "start": ServicePeriod.month(2026, 1).start,
            "minutes": 35,
            "contacts": 1,
            "credential": Credential.RN,
        }
        engine = _bill_lines(evaluate(billing_facts(**facts), rules))
        assert _month_bill(rules, **facts) == engine, conditions
        answers.add(engine)
    if family is ServiceFamily.CCM:  # two diseases or one decide CCM: not answered alike
        assert len(answers) > 1


_MONTHLY_FAMILIES = [
    ServiceFamily.CCM,
    ServiceFamily.PCM,
    ServiceFamily.APCM,
    ServiceFamily.BHI,
    ServiceFamily.RPM,
]


def test_the_minute_bands_are_the_rule_sets_unit_thresholds():
    rules = policy_rules(ProgramPolicy(rule_year=2026))
    # 99490 and its add-on 99439 (capped at 2 units), 99491 and 99487 with uncapped add-ons.
    assert {1, 20, 30, 40, 60, 90, 120} <= set(_thresholds(rules, ServiceFamily.CCM))
    assert {19, 21, 25, 35, 45} & set(_thresholds(rules, ServiceFamily.CCM)) == set()
    assert [_minute_floor(rules, ServiceFamily.CCM, m) for m in (0, 1, 19, 20, 39, 40)] == [
        0, 1, 1, 20, 30, 40,
    ]  # fmt: skip
    assert _minute_floor(rules, ServiceFamily.CCM, 601) == 601  # beyond the listed ones: exact


@pytest.mark.parametrize("family", _MONTHLY_FAMILIES)
@pytest.mark.parametrize("year", [2025, 2026])
def test_the_month_memo_equals_the_engine_at_every_minute(family, year):
    # Every minute count from 0 to 200 (so each threshold, the minute before it and
    # the one after), each credential, alone and beside a CCM or BHI month: the memo
    # asks the engine once per band, and every minute of the band must get its answer.
    rules = policy_rules(ProgramPolicy(rule_year=year))
    period = ServicePeriod.month(year, 5)
    partner = ServiceFamily.BHI if family is ServiceFamily.CCM else ServiceFamily.CCM
    for credential in (Credential.RN, Credential.MA, Credential.MD):
        for concurrent in ((), ((partner, 45, 1),)):
            for minutes in range(201):
                facts = {
                    "period": period,
                    "conditions": (_CONDITIONS[0], _CONDITIONS[1], _CONDITIONS[7]),
                    "family": family,
                    "start": ServicePeriod.month(year, 1).start,
                    "minutes": minutes,
                    "contacts": 1,
                    "credential": credential,
                    "device_days": 20 if family is ServiceFamily.RPM else None,
                    "concurrent": concurrent,
                }
                engine = _bill_lines(evaluate(billing_facts(**facts), rules))
                assert _month_bill(rules, **facts) == engine, (credential, concurrent, minutes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=st.lists(
        st.lists(st.sampled_from(_CONDITIONS + _ODD_CONDITIONS), unique=True, max_size=5).map(
            tuple
        ),
        min_size=2,
        max_size=4,
    ),
    day=st.dates(date(2025, 1, 1), date(2026, 12, 31)),
    contact=st.sampled_from([None, 1, 2, 5]),
    successful=st.booleans(),
    visit=st.sampled_from([None, 0, 3, 7, 10, 14, 20]),
    mdm=st.sampled_from(list(MdmLevel)),
    readmitted=st.sampled_from([None, 1, 6, 25]),
    year=st.sampled_from([2025, 2026]),
)
def test_the_tcm_memo_equals_the_engine_whatever_the_conditions(  # noqa: PLR0917 - hypothesis gives them
    conditions, day, contact, successful, visit, mdm, readmitted, year
):
    rules = policy_rules(ProgramPolicy(rule_year=year, families=(ServiceFamily.TCM,)))
    discharge = pendulum.Date(day.year, day.month, day.day)
    tcm = (
        discharge,
        None if contact is None else discharge.add(days=contact),
        successful,
        None if visit is None else discharge.add(days=visit),
        None if visit is None else mdm,
        None if readmitted is None else discharge.add(days=readmitted),
    )
    period = ServicePeriod(start=discharge, end=discharge.add(days=29))
    for each in conditions:  # the first is the engine's; the others come from the memo
        engine = _bill_lines(
            evaluate(billing_facts(period=period, conditions=each, tcm=tcm), rules)
        )
        assert _tcm_bill(rules, period, each, tcm) == engine


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_tcm_memo_equals_the_engine_on_every_day_of_a_year(year):
    # The memo keys an episode by days from the discharge and the engine's clock: a
    # discharge on each day of the year (weekends, holidays, the year's turn), with the
    # contact around its business-day deadline and the visit around days 7 and 14.
    rules = policy_rules(ProgramPolicy(rule_year=year, families=(ServiceFamily.TCM,)))
    conditions = (_CONDITIONS[0],)
    first = pendulum.Date(year, 1, 1)
    for offset in range(366 if year % 4 == 0 else 365):
        discharge = first.add(days=offset)
        period = ServicePeriod(start=discharge, end=discharge.add(days=29))
        contact, visit, mdm = [
            (2, 7, MdmLevel.HIGH),
            (3, 8, MdmLevel.HIGH),
            (4, 14, MdmLevel.MODERATE),
            (5, 15, MdmLevel.MODERATE),
        ][offset % 4]
        tcm = (
            discharge,
            discharge.add(days=contact),
            True,
            discharge.add(days=visit),
            mdm,
            None,
        )
        engine = _bill_lines(
            evaluate(billing_facts(period=period, conditions=conditions, tcm=tcm), rules)
        )
        assert _tcm_bill(rules, period, conditions, tcm) == engine, discharge


def test_a_code_left_out_is_never_billed():
    policy = ProgramPolicy(rule_year=2024, codes=["99490"], fees={"99490": "42.60"})
    facts = billing_facts(
        period=ServicePeriod.month(2024, 5),
        conditions=tuple(_CONDITIONS[:3]),
        family=ServiceFamily.CCM,
        start=ServicePeriod.month(2024, 2).start,
        minutes=75,
    )
    result = evaluate(facts, policy_rules(policy))
    assert [(line.code, str(line.amount)) for line in result.claim_lines] == [("99490", "42.60")]


@pytest.mark.parametrize(
    ("family", "codes"), [(ServiceFamily.CCM, ["99491"]), (ServiceFamily.PCM, ["99424"])]
)
def test_a_base_code_left_out_is_never_billed(family, codes):
    # Clinical-staff minutes reach 99490 (CCM) and 99426 (PCM), which the policy leaves out.
    policy = ProgramPolicy(rule_year=2026, codes=codes)
    facts = {
        "period": ServicePeriod.month(2026, 5),
        "conditions": tuple(_CONDITIONS[:3]),
        "family": family,
        "start": ServicePeriod.month(2026, 2).start,
        "minutes": 45,
    }
    rules = policy_rules(policy)
    assert evaluate(billing_facts(**facts), rules).claim_lines == ()
    assert _month_bill(rules, **facts, contacts=1, credential=Credential.RN) == ()


def test_same_seed_same_table_and_different_seeds_differ():
    study = Study(months=2, population=PopulationSpec(size=200))
    a = run_study(study, replications=2, seed=1)
    assert a.rows == run_study(study, replications=2, seed=1).rows
    assert a.rows != run_study(study, replications=2, seed=2).rows
    # replication k is the same whether 2 or 3 are run
    assert run_study(study, replications=3, seed=1).replications[:2] == a.replications


@settings(max_examples=25, deadline=None)
@given(studies(ample_staff=True), st.integers(0, 30), st.integers(0, 2**32 - 1))
def test_raising_the_caseload_cap_never_lowers_billable_months(study, extra, seed):
    def billable_months(s: Study) -> float:
        return sum(dict(v)["billable_months"] for _m, v in run_replication(s, seed, 0).months)

    cap = study.policy.caseload_cap_per_fte
    higher = attrs.evolve(
        study, policy=attrs.evolve(study.policy, caseload_cap_per_fte=cap + extra)
    )
    assert billable_months(higher) >= billable_months(study)


def test_summary_intervals_hold_the_mean():
    result = run_study(Study(months=3, population=PopulationSpec(size=300)), replications=5, seed=2)
    for name in ("revenue", "staff_cost", "net_revenue", "billable_rate", "staff_utilisation"):
        i = result.summary[name]
        assert i.low <= i.mean <= i.high
    assert result.summary["staff_cost"].mean == pytest.approx(3 * 8666.5)


# -- configs -------------------------------------------------------------------------


def test_shipped_examples_load():
    assert example_names() == ("ccm-2015", "demo-practice", "primary-care-2026")
    assert load_study("primary-care-2026").population.size == 2000
    assert load_study("demo-practice").time_zone == "America/Chicago"
    ccm = load_study("ccm-2015")
    assert ccm.policy.codes == frozenset({"99490"})
    assert dict(ccm.policy.fees)["99490"] == Decimal("42.60")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"policy": {"enrollment_probability": 1.5}}, "policy.enrollment_probability"),
        ({"policy": {"enrolment_probability": 0.5}}, "policy.enrolment_probability"),
        ({"population": {"size": 0}}, "population.size"),
        ({"policy": {"families": ["RTM"]}}, "policy.families[0]"),
        ({"policy": {"families": ["CCM", "BHI", "CHI"]}}, "policy.families[2]"),
        ({"policy": {"rpm": {"transmit_probability": 1.2}}}, "policy.rpm.transmit_probability"),
        (
            {"policy": {"bhi": {"contacts": {"minutes_mean": -1}}}},
            "policy.bhi.contacts.minutes_mean",
        ),
        ({"policy": {"staff": [{"fte": -1}]}}, "policy.staff[0].fte"),
        ({"policy": {"rule_year": 2015}}, "policy.rule_year"),
        ({"start": "2026"}, "start"),
        ({"months": "twelve"}, "months"),
        ({"policy": {"outreach_order": "alphabetical"}}, "policy.outreach_order"),
        ({"policy": {"staff": [{"credential": "ZZ"}]}}, "policy.staff[0].credential"),
        ({"population": {"conditions": [{"icd10": "I10"}]}}, "population.conditions[0].label"),
        ({"policy": {"fees": {"99490": "abc"}}}, "policy.fees.99490"),
    ],
)
def test_a_bad_config_names_the_key(data, key):
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping(data)
    assert caught.value.field == key


def test_a_family_the_simulation_does_not_model_is_refused_with_the_list():
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping({"policy": {"families": ["CCM", "RTM"]}})
    assert caught.value.field == "policy.families[1]"
    assert "CCM, PCM, APCM, BHI, RPM, TCM" in str(caught.value)
    # BHI and RPM are accepted, with their settings read from the config.
    study = study_from_mapping(
        {
            "policy": {
                "families": ["CCM", "BHI", "RPM"],
                "rpm": {"transmit_probability": 0.5, "contacts": {"minutes_mean": 10}},
                "bhi": {"contacts": {"minutes_mean": 25}},
            }
        }
    )
    assert study.policy.families == (ServiceFamily.CCM, ServiceFamily.BHI, ServiceFamily.RPM)
    assert study.policy.rpm.transmit_probability == 0.5
    assert study.policy.contacts_for(ServiceFamily.RPM).minutes_mean == 10.0
    assert study.policy.contacts_for(ServiceFamily.BHI).minutes_mean == 25.0


def test_offering_bhi_and_rpm_leaves_the_other_draws_alone():
    # BHI and RPM draw from streams of their own: a CCM-only study and the same study
    # offering BHI and RPM after CCM enroll the same CCM patients with the same minutes.
    ccm = Study(
        months=3, population=PopulationSpec(size=150), policy=_ample(outreach_per_month=150)
    )
    more = attrs.evolve(
        ccm,
        policy=attrs.evolve(
            ccm.policy, families=(ServiceFamily.CCM, ServiceFamily.BHI, ServiceFamily.RPM)
        ),
    )
    alone = run_replication(ccm, 3, 0, record=True)
    both = run_replication(more, 3, 0, record=True)
    ccm_ids = {e.patient_id for e in alone.enrollments}
    assert ccm_ids == {e.patient_id for e in both.enrollments if e.family is ServiceFamily.CCM}
    kept = {(c.patient, c.month): c.minutes for c in alone.recording.care}
    assert kept == {
        (c.patient, c.month): c.minutes for c in both.recording.care if f"p{c.patient}" in ccm_ids
    }
    assert {e.family for e in both.enrollments} == {
        ServiceFamily.CCM,
        ServiceFamily.BHI,
        ServiceFamily.RPM,
    }


def test_rpm_device_days_follow_the_transmit_probability():
    # Every RPM patient's device days are a binomial draw over the month's days.
    policy = _ample(
        families=(ServiceFamily.RPM,), outreach_per_month=400, enrollment_probability=1.0
    )
    policy = attrs.evolve(policy, rpm=attrs.evolve(policy.rpm, transmit_probability=0.3))
    study = Study(months=2, population=PopulationSpec(size=400), policy=policy)
    rep = run_replication(study, 5, 0, record=True)
    readings = [line for line in rep.claim_lines if line.code in {"99454", "99445"}]
    assert readings  # 30% of 31 days gives about 9 days: the short code of 2026
    assert {line.code for line in readings} <= {"99445", "99454"}
    assert sum(line.code == "99445" for line in readings) > sum(
        line.code == "99454" for line in readings
    )


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1-1", "0-06"])
def test_a_bad_start_names_the_key_the_user_wrote(text):
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping({"start": text})
    assert (caught.value.field, caught.value.value) == ("start", text)
    assert "start_month" not in str(caught.value)


def test_the_cli_lists_runs_and_refuses(tmp_path):
    runner = CliRunner()
    app = make_app(get_plugin_manager(entry_points=False))
    listed = runner.invoke(app, ["simulate", "--list-examples"])
    assert listed.exit_code == 0
    assert listed.output.split() == ["ccm-2015", "demo-practice", "primary-care-2026"]

    config = tmp_path / "small.json"
    config.write_text(json.dumps({"months": 2, "population": {"size": 80}}))
    out = tmp_path / "out"
    ran = runner.invoke(
        app, ["simulate", str(config), "--replications", "2", "--format", "json", "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 2
    assert set(summary["measures"]["revenue"]) == {"mean", "low", "high"}
    assert (out / "results.csv").read_text().splitlines()[0] == "replication,month,measure,value"
    assert (out / "index.html").stat().st_mode & 0o777 == 0o600
    assert out.stat().st_mode & 0o777 == 0o700

    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nenrollment_probability = 2\n")
    refused = runner.invoke(app, ["simulate", str(bad)])
    assert refused.exit_code == 2
    assert "policy.enrollment_probability" in refused.output
    missing = runner.invoke(app, ["simulate", "no-such-study"])
    assert missing.exit_code == 2


@pytest.mark.parametrize("name", example_names())
def test_each_shipped_example_runs_by_name_from_the_cli(name, tmp_path):
    """What a new user runs first: ``carecore simulate NAME`` on each shipped example."""
    runner = CliRunner()
    app = make_app(get_plugin_manager(entry_points=False))
    out = tmp_path / name
    args = ["simulate", name, "--replications", "1", "--seed", "1", "--no-progress"]
    ran = runner.invoke(app, [*args, "--format", "json", "--out", str(out)])
    assert ran.exit_code == 0, ran.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == name
    assert summary["measures"]["revenue"]["mean"] > 0


def test_the_table_agrees_with_carecore_metrics_on_the_recorded_replication():
    study = Study(
        months=4,
        population=PopulationSpec(size=600, medicare_share=1.0),
        policy=ProgramPolicy(
            outreach_per_month=80, staff=(StaffRole(capacity_minutes_per_fte_month=1500),)
        ),
        outcomes=OutcomeModel(death=(0.02, 0.02, 0.02), disenrollment=0.1),
    )
    recorded = run_replication(study, 3, 0, record=True)
    assert recorded.months == run_replication(study, 3, 0).months  # memo or not, the same
    assert recorded.enrollments
    assert any(e.status_on(e.history[-1].on).value == "disenrolled" for e in recorded.enrollments)
    for month, values in recorded.months:
        table = dict(values)
        year, mon = (int(x) for x in month.split("-"))
        period = ServicePeriod.month(year, mon)
        rate = metrics.billable_rate(
            recorded.claim_lines, recorded.enrollments, period=period, family=ServiceFamily.CCM
        )
        assert table["enrolled_patients"] == float(rate.denominator)
        assert table["billable_months"] == float(rate.numerator)
        expected = math.nan if rate.value is None else float(rate.value)
        assert table["billable_rate"] == expected or (
            math.isnan(expected) and math.isnan(table["billable_rate"])
        )
        revenue = metrics.expected_revenue(recorded.claim_lines, period=period)
        assert table["revenue"] == pytest.approx(float(revenue.value))


def test_simulate_makes_files_it_replaces_private(tmp_path):
    """An earlier results.csv left readable by others is 0600 once the study rewrites it."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("results.csv", "summary.json", "index.html"):
        (out / name).write_text("old")
        (out / name).chmod(0o644)
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"months": 2, "population": {"size": 40}}))
    app = make_app(get_plugin_manager(entry_points=False))
    ran = CliRunner().invoke(
        app, ["simulate", str(config), "--replications", "1", "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    for name in ("results.csv", "summary.json", "index.html"):
        assert (out / name).stat().st_mode & 0o777 == 0o600, name
