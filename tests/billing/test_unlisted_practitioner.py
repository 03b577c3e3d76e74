"""Time attributed to a practitioner the facts do not list is refused, never dropped in silence."""

from __future__ import annotations

import pendulum

from carecore.billing import cms_rule_set, evaluate
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
)
from carecore.model import Credential, DenialReason, RoleClass, ServiceFamily, ServicePeriod


def _facts(practitioner: str) -> BillingFacts:
    return BillingFacts(
        period=ServicePeriod.month(2026, 3),
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
        patient=PatientFacts(
            id="p1",
            last_visit=pendulum.Date(2026, 1, 5),
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True),
                ChronicCondition(icd10="I10", significant_risk=True),
            ],
            consent_on={ServiceFamily.CCM: pendulum.Date(2026, 1, 5)},
            care_plan_on={ServiceFamily.CCM: pendulum.Date(2026, 1, 5)},
        ),
        events=[
            TimeFact(
                date=pendulum.Date(2026, 3, 4),
                minutes=25,
                role=RoleClass.CLINICAL_STAFF,
                practitioner=practitioner,
                family=ServiceFamily.CCM,
            )
        ],
    )


def test_time_for_an_unlisted_practitioner_is_refused_by_name():
    result = evaluate(_facts("dr-gone"), cms_rule_set(2026))
    assert result.claim_lines == ()
    [denial] = result.denials
    assert denial.reason is DenialReason.NOT_A_BILLING_PRACTITIONER
    assert denial.family is ServiceFamily.CCM
    assert denial.code == "99490"
    assert denial.practitioner_id == "dr-gone"
    assert "dr-gone" in denial.message
    assert "25" in denial.message


def test_listed_practitioner_is_billed_as_before():
    result = evaluate(_facts("dr1"), cms_rule_set(2026))
    assert result.billable == [("99490", 1)]
