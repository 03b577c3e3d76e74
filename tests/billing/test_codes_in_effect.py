"""A time code not in effect in the period is never billed: the engine refuses it and says why.

Every test here failed on the engine before the fix: a CCM or PCM base code
(99490, 99491, 99426, 99424) was billed whenever its minutes were reached,
even in a period its rule was not in effect (a payer's rule set with a code
that ends mid-year, or a simulated policy that leaves the code out), while the
add-on codes were checked.
"""

from __future__ import annotations

import attrs
import pendulum
import pytest

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
from carecore.model.codes import DenialReason

F = ServiceFamily
D = pendulum.Date
ENROLLED = D(2025, 6, 2)
TWO = (
    ChronicCondition(icd10="E11.65", significant_risk=True),
    ChronicCondition(icd10="I10", significant_risk=True),
)


def _ending(code: str, last_day: pendulum.Date):
    """The CMS 2026 rule set with *code* in effect up to *last_day* only."""
    base = cms_rule_set(2026)
    return attrs.evolve(
        base,
        codes=tuple(
            attrs.evolve(r, available_to=last_day) if r.code == code else r for r in base.codes
        ),
        id=f"cms-2026-{code}-ends",
    )


def _month(
    family: ServiceFamily,
    month: int,
    minutes: int,
    role: RoleClass,
    credential: Credential,
    *,
    interactive: bool = False,
) -> BillingFacts:
    period = ServicePeriod.month(2026, month)
    return BillingFacts(
        period=period,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
        patient=PatientFacts(
            id="p1",
            conditions=TWO,
            consent_on={family: ENROLLED},
            care_plan_on={family: ENROLLED},
            last_visit=ENROLLED,
        ),
        events=[
            TimeFact(
                date=period.start.add(days=4),
                minutes=minutes,
                family=family,
                role=role,
                credential=credential,
                practitioner="dr1",
                interactive=interactive,
            )
        ],
    )


STAFF = (RoleClass.CLINICAL_STAFF, Credential.RN)
PERSONAL = (RoleClass.PHYSICIAN, Credential.MD)


@pytest.mark.parametrize(
    ("family", "code", "minutes", "who"),
    [
        (F.CCM, "99490", 25, STAFF),
        (F.CCM, "99491", 35, PERSONAL),
        (F.PCM, "99426", 35, STAFF),
        (F.PCM, "99424", 35, PERSONAL),
    ],
)
def test_a_base_code_past_its_last_day_is_refused_not_billed(family, code, minutes, who):
    rules = _ending(code, D(2026, 6, 30))
    june = evaluate(_month(family, 6, minutes, *who), rules)
    assert code in {line.code for line in june.claim_lines}
    july = evaluate(_month(family, 7, minutes, *who), rules)
    assert code not in {line.code for line in july.claim_lines}
    assert july.claim_lines == () or all(line.family is family for line in july.claim_lines)
    refused = [d for d in july.denials if d.code == code]
    assert [d.reason for d in refused] == [DenialReason.NOT_IN_EFFECT], july.denials
    assert "not in effect" in refused[0].message


def test_the_other_track_still_bills_when_one_base_code_is_not_in_effect():
    # 99490 ended; the practitioner's own 35 minutes still reach 99491.
    rules = _ending("99490", D(2026, 6, 30))
    july = evaluate(_month(F.CCM, 7, 35, *PERSONAL), rules)
    assert [line.code for line in july.claim_lines] == ["99491"]


@pytest.mark.parametrize(
    ("family", "code", "short"), [(F.RPM, "99457", "99470"), (F.RTM, "98980", "98979")]
)
def test_a_management_code_not_in_effect_is_refused_for_that_and_the_short_code_reported(
    family, code, short
):
    rules = _ending(code, D(2026, 6, 30))
    july = evaluate(_month(family, 7, 25, *STAFF, interactive=True), rules)
    assert [line.code for line in july.claim_lines] == [short]
    (refused,) = [d for d in july.denials if d.code == code]
    assert refused.reason is DenialReason.NOT_IN_EFFECT
    assert "not in effect" in refused.message
    assert f"{short} is reported instead" in refused.message


def test_acp_on_a_day_its_code_is_not_in_effect_is_refused_for_that():
    rules = _ending("99497", D(2026, 6, 30))
    facts = _month(F.ACP, 7, 30, RoleClass.PHYSICIAN, Credential.MD)
    july = evaluate(facts, rules)
    assert july.claim_lines == ()
    assert [(d.code, d.reason) for d in july.denials] == [("99497", DenialReason.NOT_IN_EFFECT)]
