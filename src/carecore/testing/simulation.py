"""Hypothesis strategies for simulation studies: populations, policies and small studies.

Researchers write program rules as tests. These strategies draw small
studies (a few dozen patients, a few months) that run in a fraction of a
second, so a property over many of them stays quick:

.. code-block:: python

    from hypothesis import given, strategies as st
    import attrs
    from carecore.simulation import run_replication
    from carecore.testing.simulation import studies

    @given(studies(), st.integers(0, 50), st.integers(0, 2**32 - 1))
    def test_a_higher_cap_never_bills_fewer_months(study, extra, seed):
        cap = study.policy.caseload_cap_per_fte
        higher = attrs.evolve(study, policy=attrs.evolve(study.policy, caseload_cap_per_fte=cap + extra))
        assert billable_months(higher, seed) >= billable_months(study, seed)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from carecore.billing.facts import ChronicCondition
from carecore.model import Credential, ServiceFamily, ServicePeriod
from carecore.simulation import (
    DEFAULT_CONDITIONS,
    BhiPolicy,
    ContactModel,
    OutcomeModel,
    OutreachOrder,
    PopulationSpec,
    Priority,
    ProgramPolicy,
    RpmPolicy,
    StaffRole,
    Study,
)

__all__ = [
    "MONTH_CONDITIONS",
    "outcome_models",
    "patient_months",
    "policies",
    "populations",
    "studies",
]

_P = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def _tier_rates(high: float) -> st.SearchStrategy[tuple[float, float, float]]:
    rate = st.floats(min_value=0.0, max_value=high, allow_nan=False)
    return st.tuples(rate, rate, rate)


@st.composite
def populations(draw: st.DrawFn, *, max_size: int = 60) -> PopulationSpec:
    """A generated panel of 1 to *max_size* patients with the default condition table."""
    low = draw(st.floats(min_value=0.0, max_value=1.0))
    mid = draw(st.floats(min_value=0.0, max_value=1.0 - low))
    return PopulationSpec(
        size=draw(st.integers(1, max_size)),
        medicare_share=draw(_P),
        female_share=draw(_P),
        risk_tier_shares=(low, mid, 1.0 - low - mid),
    )


def _contact_models() -> st.SearchStrategy[ContactModel]:
    return st.builds(
        ContactModel,
        contacts_per_month=st.tuples(*[st.floats(0.0, 4.0)] * 3),
        minutes_mean=st.floats(2.0, 30.0),
        minutes_sd=st.floats(0.0, 10.0),
    )


@st.composite
def policies(draw: st.DrawFn, *, ample_staff: bool = False) -> ProgramPolicy:
    """A program policy for CMS 2026 (CCM, PCM or APCM first; BHI, RPM and TCM sometimes).

    BHI and RPM, when drawn, come after the first family with contact models
    (and RPM a daily transmission probability) of their own;
    ``concurrent_families`` is drawn too. With *ample_staff* the staff's
    capacity (4 FTEs of 20,000 minutes) exceeds what a drawn panel of up to 60
    patients can want (three families of at most 6 contacts of 60 minutes each,
    and a TCM contact), so capacity never binds.
    """
    monthly = draw(
        st.permutations([ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.APCM]).map(
            lambda fams: tuple(fams[: 1 + len(fams) % 2])
        )
    )
    more = draw(
        st.lists(st.sampled_from([ServiceFamily.BHI, ServiceFamily.RPM]), unique=True, max_size=2)
    )
    monthly = (*monthly, *more)
    families = (*monthly, ServiceFamily.TCM) if draw(st.booleans()) else monthly
    capacity = 20_000 if ample_staff else draw(st.integers(0, 3000))
    return ProgramPolicy(
        rule_year=2026,
        families=families,
        # the HCC order needs the hcc extra and scores every patient: left out here
        outreach_order=draw(
            st.sampled_from([o for o in OutreachOrder if o is not OutreachOrder.HCC_SCORE])
        ),
        outreach_per_month=draw(st.integers(0, 40)),
        enrollment_probability=draw(_P),
        caseload_cap_per_fte=draw(st.integers(0, 40)),
        staff=(
            StaffRole(
                fte=4.0 if ample_staff else 1.0,
                capacity_minutes_per_fte_month=capacity,
                loaded_cost_per_hour=Decimal(draw(st.integers(20, 90))),
            ),
        ),
        contacts=draw(_contact_models()),
        priority=draw(st.sampled_from(Priority)),
        bhi=BhiPolicy(contacts=draw(_contact_models())),
        rpm=RpmPolicy(
            transmit_probability=draw(_P),
            device_setup=draw(st.booleans()),
            contacts=draw(_contact_models()),
        ),
        concurrent_families=draw(st.booleans()),
    )


@st.composite
def outcome_models(draw: st.DrawFn) -> OutcomeModel:
    """Monthly event probabilities; the program effects stay at 1 (no effect)."""
    return OutcomeModel(
        ed_visit=draw(_tier_rates(0.3)),
        admission=draw(_tier_rates(0.2)),
        death=draw(_tier_rates(0.05)),
        readmission=draw(st.floats(0.0, 0.5)),
        disenrollment=draw(st.floats(0.0, 0.2)),
    )


@st.composite
def studies(
    draw: st.DrawFn, *, max_size: int = 60, max_months: int = 4, ample_staff: bool = False
) -> Study:
    """A small study starting in 2026: population, policy and outcomes drawn as above."""
    return Study(
        months=draw(st.integers(1, max_months)),
        start_month=draw(st.integers(1, 12)),
        population=draw(populations(max_size=max_size)),
        policy=draw(policies(ample_staff=ample_staff)),
        outcomes=draw(outcome_models()),
    )


#: The conditions :func:`patient_months` draws from: the default prevalence table's, and
#: some the month close reads apart (a category code that is not billable, a second
#: diabetes code, another behavioral condition, a condition expected to last 6 months).
MONTH_CONDITIONS: tuple[ChronicCondition, ...] = (
    *(
        ChronicCondition(
            icd10=c.icd10, significant_risk=c.significant_risk, behavioral=c.behavioral
        )
        for c in DEFAULT_CONDITIONS
    ),
    ChronicCondition(icd10="E11"),
    ChronicCondition(icd10="E11.65", significant_risk=True),
    ChronicCondition(icd10="F33.1", significant_risk=True, behavioral=True),
    ChronicCondition(icd10="F41.1", behavioral=True),
    ChronicCondition(icd10="I10", significant_risk=True, expected_duration_months=6),
)

_MONTHLY = (
    ServiceFamily.CCM,
    ServiceFamily.PCM,
    ServiceFamily.APCM,
    ServiceFamily.BHI,
    ServiceFamily.RPM,
)


@st.composite
def patient_months(draw: st.DrawFn, *, year: int = 2026) -> dict[str, Any]:
    """The arguments of :func:`carecore.simulation.billing_facts` for one simulated patient-month of *year*.

    A month of one of the monthly families (CCM, PCM, APCM, BHI, RPM), with
    up to two more families of the same patient in ``concurrent`` (any pair,
    including the ones the engine does not bill together: it decides), up
    to 5 conditions of :data:`MONTH_CONDITIONS`, an enrollment month on or
    before the month, 0 to 130 minutes and 0 to 3 contacts per family, the
    staff's credential, and for a month with RPM the device's days with data
    (0 to the month's days) and whether it was set up. Hold the simulation's
    memo equal to :func:`carecore.billing.evaluate` on them:

    .. code-block:: python

        @given(st.lists(patient_months(year=2026), min_size=1, max_size=10))
        def test_memo_equals_engine(months):
            rules = policy_rules(ProgramPolicy(rule_year=2026))
            for facts in months:
                engine = evaluate(billing_facts(**facts), rules)
                ...
    """
    month = draw(st.integers(1, 12))
    period = ServicePeriod.month(year, month)
    families = draw(st.lists(st.sampled_from(_MONTHLY), min_size=1, max_size=3, unique=True))
    time = [(f, draw(st.integers(0, 130)), draw(st.integers(0, 3))) for f in families]
    (family, minutes, contacts), *rest = time
    rpm = ServiceFamily.RPM in families
    return {
        "period": period,
        "conditions": tuple(
            draw(st.lists(st.sampled_from(MONTH_CONDITIONS), unique=True, max_size=5))
        ),
        "family": family,
        "start": ServicePeriod.month(year, draw(st.integers(1, month))).start,
        "minutes": minutes,
        "contacts": contacts,
        "credential": draw(st.sampled_from([Credential.RN, Credential.MA, Credential.MD])),
        "device_days": draw(st.integers(0, period.days)) if rpm else None,
        "device_setup": draw(st.booleans()) if rpm else False,
        "concurrent": tuple(rest),
    }
