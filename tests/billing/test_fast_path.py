"""The month-close fast path gives exactly the reference engine's result."""

from __future__ import annotations

import pendulum
from hypothesis import given, settings
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
from carecore.billing.fast import FAST_FAMILIES, FastClose
from carecore.billing.rules import DateOfService, Switches
from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod

FAMILIES = sorted(FAST_FAMILIES, key=lambda f: f.value)


@st.composite
def time_only_months(draw):
    year = draw(st.sampled_from((2024, 2025, 2026)))
    period = ServicePeriod.month(year, draw(st.integers(1, 12)))
    around = st.dates(
        min_value=(period.start.subtract(years=3)), max_value=period.end.add(days=40)
    ).map(lambda d: pendulum.Date(d.year, d.month, d.day))
    patient = PatientFacts(
        id=draw(st.sampled_from(("p1", "p-2", "x"))),
        conditions=draw(
            st.lists(
                st.builds(
                    ChronicCondition,
                    icd10=st.sampled_from(("E11.65", "I10", "F33.1")),
                    expected_duration_months=st.none() | st.integers(0, 30),
                    significant_risk=st.booleans(),
                    behavioral=st.booleans(),
                ),
                max_size=3,
            )
        ),
        consent_on=draw(st.dictionaries(st.sampled_from(FAMILIES), st.none() | around, max_size=3)),
        care_plan_on=draw(
            st.dictionaries(st.sampled_from(FAMILIES), st.none() | around, max_size=3)
        ),
        established=draw(st.booleans()),
        last_visit=draw(st.none() | around),
        qmb=draw(st.booleans()),
        date_of_death=draw(st.none() | around),
    )
    practitioner = BillingPractitioner(
        id=draw(st.sampled_from(("dr1", "dr_pcp"))),
        credential=draw(
            st.sampled_from((Credential.MD, Credential.NP, Credential.LCSW, Credential.CP))
        ),
        primary_care_focal_point=draw(st.booleans()),
    )
    entries = draw(
        st.lists(
            st.tuples(
                st.dates(
                    min_value=period.start.subtract(days=5), max_value=period.end.add(days=5)
                ).map(lambda d: pendulum.Date(d.year, d.month, d.day)),
                st.integers(1, 70),
                st.sampled_from(RoleClass),
                st.sampled_from(FAMILIES),
                st.none()
                | st.sampled_from(
                    (
                        Credential.RN,
                        Credential.MD,
                        Credential.MA,
                        Credential.CHW,
                        Credential.NP,
                        Credential.LCSW,
                    )
                ),
                st.booleans(),
            ),
            max_size=9,
        )
    )
    switches = draw(
        st.sampled_from(
            (
                Switches(),
                Switches(date_of_service=DateOfService.PERIOD_END),
                Switches(personal_time_needs_billing_credential=False),
            )
        )
    )
    return period, patient, practitioner, entries, cms_rule_set(year, switches=switches)


@settings(max_examples=400)
@given(time_only_months())
def test_fast_path_equals_reference(month):
    period, patient, practitioner, entries, rules = month
    reference = evaluate(
        BillingFacts(
            period=period,
            setting=Setting.PHYSICIAN_OFFICE,
            practitioners=[practitioner],
            patient=patient,
            events=[
                TimeFact(
                    date=d,
                    minutes=m,
                    role=r,
                    practitioner=practitioner.id,
                    family=f,
                    credential=c,
                    interactive=i,
                )
                for d, m, r, f, c, i in entries
            ],
        ),
        rules,
    )
    fast = FastClose(rules, period)
    # Twice: once filling the cache, once from it.
    for _ in range(2):
        got = fast.evaluate(patient, practitioner, entries)
        assert got.claim_lines == reference.claim_lines
        assert got.denials == reference.denials
        assert got.hints == reference.hints
    # Months the canonical form cannot decide (time before consent or after death, codes
    # a refusal must name) go to the reference engine, not the cache.
    inside = [e for e in entries if period.start <= e[0] <= period.end]
    assert fast.hits == (1 if fast.takes(patient, inside) else 0)


def test_cache_is_shared_across_patients():
    rules = cms_rule_set(2026)
    period = ServicePeriod.month(2026, 3)
    fast = FastClose(rules, period)
    pr = BillingPractitioner(id="dr1", credential=Credential.MD)
    for index in range(50):
        patient = PatientFacts(
            id=f"p{index}",
            conditions=[
                ChronicCondition(icd10="E11.65", significant_risk=True),
                ChronicCondition(icd10="I10", significant_risk=True),
            ],
            consent_on={ServiceFamily.CCM: pendulum.Date(2025, 1 + index % 12, 1)},
            care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 1, 1)},
            last_visit=pendulum.Date(2025, 1, 1),
        )
        day = pendulum.Date(2026, 3, 1 + index % 28)
        result = fast.evaluate(
            patient,
            pr,
            [(day, 22, RoleClass.CLINICAL_STAFF, ServiceFamily.CCM, Credential.RN, False)],
        )
        assert result.billable == [("99490", 1)]
        assert result.claim_lines[0].date_of_service == day
        assert result.claim_lines[0].patient_id == f"p{index}"
    assert fast.misses == 1
