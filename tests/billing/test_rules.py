"""Targeted rules, each checked against the billing rule it implements (its sources are in carecore.billing.sources)."""

from __future__ import annotations

import attrs
import pendulum
import pytest
from click.testing import CliRunner

from carecore.billing import cms_rule_set, evaluate
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    ContactFact,
    DischargeFact,
    MdmFact,
    PatientFacts,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.billing.rules import HolidayCalendar, Switches, TcmDayCounting, TimeRule
from carecore.model import (
    CareSetting,
    ContactMode,
    Credential,
    DenialReason,
    MdmLevel,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    VisitKind,
)
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.testing import registered

F = ServiceFamily
D = pendulum.Date


def patient(**changes):
    fields = {
        "id": "p1",
        "conditions": [
            ChronicCondition(icd10="E11.65", significant_risk=True),
            ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
        ],
        "consent_on": dict.fromkeys(F, D(2024, 1, 3)),
        "care_plan_on": dict.fromkeys(F, D(2024, 1, 3)),
        "established": True,
        "last_visit": D(2024, 1, 3),
    }
    fields.update(changes)
    return PatientFacts(**fields)


def facts(
    events, *, period=None, pat=None, setting=Setting.PHYSICIAN_OFFICE, credential=Credential.MD
):
    return BillingFacts(
        period=period or ServicePeriod.month(2025, 3),
        setting=setting,
        practitioners=[
            BillingPractitioner(id="dr1", credential=credential, primary_care_focal_point=True)
        ],
        patient=pat or patient(),
        events=events,
    )


def staff(day, minutes, family=F.CCM, role=RoleClass.CLINICAL_STAFF, **kw):
    return TimeFact(date=day, minutes=minutes, role=role, practitioner="dr1", family=family, **kw)


def test_99439_is_capped_at_two_units():
    result = evaluate(
        facts([staff(D(2025, 3, 3), 50), staff(D(2025, 3, 20), 50)]), cms_rule_set(2025)
    )
    assert result.billable == [("99439", 2), ("99490", 1)]
    cap = [d for d in result.denials if d.reason is DenialReason.UNIT_CAP]
    assert [d.code for d in cap] == ["99439"]
    assert "S26" in cap[0].sources


def test_non_clinical_minutes_never_count():
    events = [staff(D(2025, 3, 3), 15), staff(D(2025, 3, 4), 30, role=RoleClass.NON_CLINICAL)]
    result = evaluate(facts(events), cms_rule_set(2025))
    assert result.billable == []
    assert result.denials[0].reason is DenialReason.BELOW_THRESHOLD
    assert any("do not count" in h.message for h in result.hints)


def test_practitioner_time_counts_toward_the_staff_code():
    # Practitioner time counts toward the staff code: 25 physician + 10 staff = 35
    # -> 99490 x1; 99491 (30 practitioner minutes) not met.
    events = [staff(D(2025, 3, 3), 25, role=RoleClass.PHYSICIAN), staff(D(2025, 3, 9), 10)]
    assert evaluate(facts(events), cms_rule_set(2025)).billable == [("99490", 1)]


def test_complex_ccm_needs_moderate_mdm():
    events = [staff(D(2025, 3, 3), 70)]
    assert evaluate(facts(events), cms_rule_set(2025)).billable == [("99439", 2), ("99490", 1)]
    with_mdm = [
        *events,
        MdmFact(date=D(2025, 3, 2), family=F.CCM, level=MdmLevel.MODERATE, practitioner="dr1"),
    ]
    assert evaluate(facts(with_mdm), cms_rule_set(2025)).billable == [("99487", 1)]


def test_hint_names_the_minutes_to_the_next_code():
    result = evaluate(facts([staff(D(2025, 3, 3), 32)]), cms_rule_set(2025))
    assert [h.minutes_needed for h in result.hints if h.code == "99439"] == [8]


def tcm_facts(
    discharge_day,
    contact_days,
    visit_day,
    mdm=MdmLevel.MODERATE,
    *,
    success=True,
    calendar=None,
    **pat,
):
    events = [
        DischargeFact(
            date=discharge_day,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
        ),
        *(
            ContactFact(
                date=d,
                mode=ContactMode.PHONE,
                successful=success,
                role=RoleClass.CLINICAL_STAFF,
                practitioner="dr1",
                family=F.TCM,
            )
            for d in contact_days
        ),
        VisitFact(
            date=visit_day, kind=VisitKind.TCM_F2F, mdm=mdm, practitioner="dr1", em_code="99214"
        ),
    ]
    return facts(events, period=ServicePeriod.days_from(discharge_day, 30), pat=patient(**pat))


def test_tcm_business_days_skip_thanksgiving_and_the_weekend():
    # Discharge Wed 2025-11-26: Thanksgiving (27th) and the weekend are skipped, so
    # the second business day is Mon 1 Dec.
    ok = tcm_facts(D(2025, 11, 26), [D(2025, 12, 1)], D(2025, 12, 3))
    late = tcm_facts(D(2025, 11, 26), [D(2025, 12, 2)], D(2025, 12, 3))
    rules = cms_rule_set(2025)
    assert evaluate(ok, rules).billable == [("99495", 1)]
    result = evaluate(late, rules)
    assert ("99495", 1) not in result.billable
    assert result.denials[0].reason is DenialReason.CONTACT_NOT_TIMELY
    assert "2025-12-01" in result.denials[0].message


def test_practice_calendar_is_a_switch():
    # A practice closed on Fri 28 Nov 2025 pushes the deadline to Tue 2 Dec.
    rules = cms_rule_set(
        2025, switches=Switches(business_days=HolidayCalendar(closed=[D(2025, 11, 28)]))
    )
    assert evaluate(
        tcm_facts(D(2025, 11, 25), [D(2025, 12, 1)], D(2025, 12, 3)), rules
    ).billable == [("99495", 1)]
    # Under the federal calendar alone the deadline is Fri 28 Nov: the contact is late and
    # the visit is reported as its own E/M.
    default = evaluate(
        tcm_facts(D(2025, 11, 25), [D(2025, 12, 1)], D(2025, 12, 3)), cms_rule_set(2025)
    )
    assert default.billable == [("99214", 1)]


def test_two_timely_attempts_count_when_contact_is_later_made():
    attempts = tcm_facts(
        D(2025, 3, 3), [D(2025, 3, 4), D(2025, 3, 5)], D(2025, 3, 10), success=False
    )
    result = evaluate(attempts, cms_rule_set(2025))
    assert result.billable == [("99495", 1)]  # the visit on day 7 is the later contact
    one_attempt = tcm_facts(D(2025, 3, 3), [D(2025, 3, 4)], D(2025, 3, 10), success=False)
    assert ("99495", 1) not in evaluate(one_attempt, cms_rule_set(2025)).billable


def test_tcm_high_mdm_after_day_7_is_99495_and_death_bills_the_visit():
    rules = cms_rule_set(2025)
    assert evaluate(
        tcm_facts(D(2025, 3, 3), [D(2025, 3, 4)], D(2025, 3, 12), MdmLevel.HIGH), rules
    ).billable == [("99495", 1)]
    assert evaluate(
        tcm_facts(D(2025, 3, 3), [D(2025, 3, 4)], D(2025, 3, 9), MdmLevel.HIGH), rules
    ).billable == [("99496", 1)]
    died = evaluate(
        tcm_facts(D(2025, 3, 3), [D(2025, 3, 4)], D(2025, 3, 9), date_of_death=D(2025, 3, 20)),
        rules,
    )
    assert died.billable == [("99214", 1)]
    assert died.denials[0].reason is DenialReason.PATIENT_DECEASED


def test_tcm_day_counting_switch_moves_the_boundary():
    # Visit on discharge + 7: day 7 when the discharge date is day 0 (99496), day 8 otherwise (99495).
    case = tcm_facts(D(2025, 3, 3), [D(2025, 3, 4)], D(2025, 3, 10), MdmLevel.HIGH)
    assert evaluate(case, cms_rule_set(2025)).billable == [("99496", 1)]
    day_one = cms_rule_set(
        2025, switches=Switches(tcm_day_counting=TcmDayCounting.DISCHARGE_DAY_ONE)
    )
    assert evaluate(case, day_one).billable == [("99495", 1)]


def test_chi_midpoint_switch():
    events = [staff(D(2025, 3, 3), 40, family=F.CHI, role=RoleClass.AUXILIARY)]
    visit = VisitFact(
        date=D(2025, 3, 1), kind=VisitKind.OFFICE_EM, mdm=MdmLevel.MODERATE, practitioner="dr1"
    )
    assert evaluate(facts([*events, visit]), cms_rule_set(2025)).billable == []
    midpoint = cms_rule_set(2025, switches=Switches(chi_pin_time_rule=TimeRule.MIDPOINT))
    assert evaluate(facts([*events, visit]), midpoint).billable == [("G0019", 1)]


def test_rtm_by_a_physical_therapist_carries_gp():
    from carecore.billing.facts import DeviceReadingsFact
    from carecore.model import RtmSystem

    readings = DeviceReadingsFact(
        date=D(2025, 3, 31),
        period_start=D(2025, 3, 1),
        period_end=D(2025, 3, 30),
        days_with_data=18,
        device="app",
        family=F.RTM,
        practitioner="dr1",
        rtm_system=RtmSystem.MUSCULOSKELETAL,
    )
    result = evaluate(facts([readings], credential=Credential.PT), cms_rule_set(2025))
    assert result.billable == [("98977", 1)]
    assert result.claim_lines[0].modifiers == ("GP",)


def test_acp_with_awv_carries_modifier_33():
    day = D(2025, 3, 12)
    events = [
        staff(day, 20, family=F.ACP, role=RoleClass.PHYSICIAN),
        VisitFact(date=day, kind=VisitKind.AWV, mdm=MdmLevel.LOW, practitioner="dr1"),
    ]
    result = evaluate(facts(events, period=ServicePeriod(start=day, end=day)), cms_rule_set(2025))
    assert result.billable == [("99497", 1)]
    assert result.claim_lines[0].modifiers == ("33",)


# -- a payer plugin -----------------------------------------------------------


class MedicaidPlugin:
    """A Medicaid-style payer: 99484 counts at the midpoint (11 of 20 minutes)."""

    @hookimpl
    def carecore_rule_sets(self):
        cms = cms_rule_set(2026)
        rule = attrs.evolve(cms.rule("99484"), time_rule=TimeRule.MIDPOINT)
        return [
            attrs.evolve(
                cms.with_rule(rule),
                id="medicaid-2026",
                payer="medicaid",
                title="Example state Medicaid care-management rules, 2026",
            )
        ]


BHI_CASE = {
    "id": "BHI-MCD",
    "year": 2026,
    "evaluation_period": {"start": "2026-03-01", "end": "2026-03-31"},
    "practitioners": [{"id": "dr1", "credential": "MD"}],
    "patient": {
        "id": "p1",
        "chronic_conditions": [
            {
                "icd10": "F33.1",
                "expected_duration_months": 12,
                "significant_risk": True,
                "behavioral": True,
            }
        ],
        "consent_on": {"BHI": "2026-01-05"},
        "established_patient": True,
        "last_visit_with_billing_practitioner": "2026-01-05",
    },
    "events": [
        {
            "type": "time_entry",
            "date": "2026-03-09",
            "minutes": 12,
            "role": "clinical_staff",
            "family": "BHI",
        }
    ],
}


@pytest.mark.parametrize(
    ("args", "billed"),
    [([], False), (["--payer", "medicaid"], True), (["--rule-set", "medicaid-2026"], True)],
)
def test_a_payer_plugin_adds_a_rule_set(tmp_path, args, billed):
    import json

    from carecore.cli import make_app

    pm = get_plugin_manager(entry_points=False)
    path = tmp_path / "bhi.json"
    path.write_text(json.dumps(BHI_CASE))
    with registered(pm, MedicaidPlugin(), name="medicaid"):
        result = CliRunner().invoke(
            make_app(pm), ["billing", "evaluate", str(path), "--format", "json", *args]
        )
    assert result.exit_code == 0, result.output
    codes = [b["code"] for b in json.loads(result.output)["results"][0]["billable"]]
    assert codes == (["99484"] if billed else [])


def test_a_payer_plugin_can_replace_the_cms_set():
    class Override:
        @hookimpl
        def carecore_rule_sets(self):
            cms = cms_rule_set(2026)
            return [cms.with_rule(attrs.evolve(cms.rule("99484"), time_rule=TimeRule.MIDPOINT))]

    from carecore.plugins import Hooks

    pm = get_plugin_manager(entry_points=False)
    with registered(pm, Override(), name="override"):
        provided = Hooks(pm).rule_sets()
        assert provided.provider("cms-2026") == "override"
        assert provided["cms-2026"].rule("99484").first_unit_minutes == 11
    assert Hooks(pm).rule_sets()["cms-2026"].rule("99484").first_unit_minutes == 20


def test_minutes_before_consent_do_not_count():
    consent = D(2025, 3, 10)
    events = [staff(D(2025, 3, 5), 25), staff(D(2025, 3, 12), 10)]
    result = evaluate(facts(events, pat=patient(consent_on={F.CCM: consent})), cms_rule_set(2025))
    assert result.billable == []
    assert "10 of the 20" in result.denials[0].message


def test_ccm_needs_a_billing_practitioner():
    result = evaluate(
        facts([staff(D(2025, 3, 3), 25)], credential=Credential.RN), cms_rule_set(2025)
    )
    assert result.billable == []
    assert result.denials[0].reason is DenialReason.NOT_A_BILLING_PRACTITIONER


def test_cocm_counts_care_manager_minutes_only():
    from carecore.billing.facts import ProgramMonthFact

    month = ProgramMonthFact(
        date=D(2025, 3, 1), family=F.COCM, month="2025-03", practitioner="dr1", episode_month=3
    )
    physician = [month, staff(D(2025, 3, 4), 40, family=F.COCM, role=RoleClass.PHYSICIAN)]
    manager = [month, staff(D(2025, 3, 4), 40, family=F.COCM, role=RoleClass.BH_CARE_MANAGER)]
    assert evaluate(facts(physician), cms_rule_set(2025)).billable == []
    assert evaluate(facts(manager), cms_rule_set(2025)).billable == [("99493", 1)]


def test_one_tcm_per_discharge_across_practitioners():
    discharge = DischargeFact(
        date=D(2025, 3, 3), from_setting=CareSetting.INPATIENT_ACUTE, to_setting=CareSetting.HOME
    )
    events = [discharge]
    for pr, day in (("dr1", D(2025, 3, 7)), ("dr2", D(2025, 3, 5))):
        events += [
            ContactFact(
                date=D(2025, 3, 4),
                mode=ContactMode.PHONE,
                successful=True,
                role=RoleClass.CLINICAL_STAFF,
                practitioner=pr,
                family=F.TCM,
            ),
            VisitFact(date=day, kind=VisitKind.TCM_F2F, mdm=MdmLevel.MODERATE, practitioner=pr),
        ]
    case = BillingFacts(
        period=ServicePeriod.days_from(D(2025, 3, 3), 30),
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[
            BillingPractitioner(id="dr1", credential=Credential.MD),
            BillingPractitioner(id="dr2", credential=Credential.MD),
        ],
        patient=patient(),
        events=events,
    )
    result = evaluate(case, cms_rule_set(2025))
    assert [(line.code, line.billing_practitioner_id) for line in result.claim_lines] == [
        ("99495", "dr2")
    ]
    assert any(d.reason is DenialReason.OTHER_PRACTITIONER_BILLED for d in result.denials)


def test_discharge_day_visit_does_not_hide_a_later_visit():
    events = [
        DischargeFact(
            date=D(2025, 3, 3),
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
            practitioner="dr1",
        ),
        VisitFact(
            date=D(2025, 3, 3), kind=VisitKind.TCM_F2F, mdm=MdmLevel.HIGH, practitioner="dr1"
        ),
        ContactFact(
            date=D(2025, 3, 4),
            mode=ContactMode.PHONE,
            successful=True,
            role=RoleClass.CLINICAL_STAFF,
            practitioner="dr1",
            family=F.TCM,
        ),
        VisitFact(
            date=D(2025, 3, 6), kind=VisitKind.TCM_F2F, mdm=MdmLevel.HIGH, practitioner="dr1"
        ),
    ]
    result = evaluate(
        facts(events, period=ServicePeriod.days_from(D(2025, 3, 3), 30)), cms_rule_set(2025)
    )
    assert result.billable == [("99496", 1)]
    assert result.claim_lines[0].date_of_service == D(2025, 3, 6)


def test_apcm_across_practitioners_switch():
    from carecore.billing.facts import ProgramMonthFact

    events = [
        ProgramMonthFact(date=D(2025, 3, 3), family=F.APCM, month="2025-03", practitioner="dr1"),
        TimeFact(
            date=D(2025, 3, 5),
            minutes=25,
            role=RoleClass.CLINICAL_STAFF,
            practitioner="dr2",
            family=F.CCM,
        ),
    ]
    case = BillingFacts(
        period=ServicePeriod.month(2025, 3),
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[
            BillingPractitioner(id="dr1", credential=Credential.MD, primary_care_focal_point=True),
            BillingPractitioner(id="dr2", credential=Credential.MD),
        ],
        patient=patient(),
        events=events,
    )
    default = evaluate(case, cms_rule_set(2025))
    assert sorted(default.billable) == [("99490", 1), ("G0557", 1)]
    strict = evaluate(
        case, cms_rule_set(2025, switches=Switches(apcm_conflicts_across_practitioners=True))
    )
    assert strict.billable == [("G0557", 1)]
    assert any(
        d.code == "99490" and d.reason is DenialReason.CROSS_FAMILY_EXCLUSION
        for d in strict.denials
    )


def test_staff_acp_minutes_are_explained_not_counted():
    day = D(2025, 3, 12)
    events = [staff(day, 20, family=F.ACP, role=RoleClass.CLINICAL_STAFF)]
    result = evaluate(facts(events, period=ServicePeriod(start=day, end=day)), cms_rule_set(2025))
    assert result.billable == []
    assert any("not counted" in h.message for h in result.hints)


def test_cocm_needs_a_behavioral_condition():
    from carecore.billing.facts import ProgramMonthFact

    month = ProgramMonthFact(
        date=D(2025, 3, 1), family=F.COCM, month="2025-03", practitioner="dr1", episode_month=3
    )
    events = [month, staff(D(2025, 3, 4), 40, family=F.COCM, role=RoleClass.BH_CARE_MANAGER)]
    somatic = patient(conditions=[ChronicCondition(icd10="E11.65", significant_risk=True)])
    result = evaluate(facts(events, pat=somatic), cms_rule_set(2025))
    assert result.billable == []
    assert result.denials[0].reason is DenialReason.TOO_FEW_CONDITIONS


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_rule_tables_are_consistent(year):
    rules = cms_rule_set(year)
    codes = {rule.code for rule in rules.codes}
    for rule in rules.codes:
        assert rule.add_on_to is None or rule.add_on_to in codes, rule.code
        assert rule.sources, rule.code
        assert all(tag.startswith("S") for tag in rule.sources)
        if rule.min_days and rule.max_days:
            assert rule.min_days <= rule.max_days
    assert rules.rule("99439").max_units == 2
    assert rules.rule("99458").max_units == 3  # three add-on units a month


def test_g0506_is_a_hint_once_per_patient():
    from carecore.billing.facts import CarePlanAction, CarePlanFact, OtherClaimFact

    visit = VisitFact(
        date=D(2025, 3, 3),
        kind=VisitKind.OFFICE_EM,
        mdm=MdmLevel.MODERATE,
        practitioner="dr1",
        em_code="99214",
    )
    plan = CarePlanFact(
        date=D(2025, 3, 3), family=F.CCM, action=CarePlanAction.ESTABLISHED, practitioner="dr1"
    )
    events = [visit, plan, staff(D(2025, 3, 10), 25)]
    result = evaluate(facts(events), cms_rule_set(2025))
    assert result.billable == [("99490", 1)]
    assert [h.code for h in result.hints if h.code == "G0506"] == ["G0506"]
    earlier = OtherClaimFact(date=D(2024, 1, 3), code="G0506", practitioner="dr1")
    again = evaluate(facts([*events, earlier]), cms_rule_set(2025))
    assert not [h for h in again.hints if h.code == "G0506"]
