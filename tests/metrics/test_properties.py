"""Properties: rates stay in [0, 1]; an eligible patient who is not enrolled never raises the enrollment rate."""

from __future__ import annotations

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.metrics import billable_rate, churn, enrollment_rate
from carecore.model import (
    DisenrollmentReason,
    Enrollment,
    ServiceFamily,
    ServicePeriod,
)
from carecore.registry import Criterion, Eligibility

CCM = ServiceFamily.CCM
DAY = pendulum.Date(2026, 3, 31)
Q1 = ServicePeriod(start=pendulum.Date(2026, 1, 1), end=DAY)

# one patient: (eligible, enrolled on, disenrolled on or None)
patients = st.lists(
    st.tuples(
        st.booleans(),
        st.one_of(st.none(), st.integers(min_value=-200, max_value=120)),
        st.one_of(st.none(), st.integers(min_value=0, max_value=200)),
    ),
    max_size=12,
)


def build(rows):
    elig, enrollments = [], []
    for i, (eligible, start, stop) in enumerate(rows):
        pid = f"p{i}"
        elig.append(
            Eligibility(
                patient_id=pid,
                family=CCM,
                as_of=DAY,
                criteria=(Criterion(rule="r", met=eligible, detail="d"),),
            )
        )
        if start is None:
            continue
        on = pendulum.Date(2026, 1, 1).add(days=start)
        e = Enrollment.start(
            id=f"e{i}",
            patient_id=pid,
            program_id="ccm",
            family=CCM,
            billing_practitioner_id="dr1",
            on=on,
        )
        if stop is not None:
            e = e.disenroll(on.add(days=stop), DisenrollmentReason.MOVED)
        enrollments.append(e)
    return elig, enrollments


@given(patients)
def test_rates_are_between_zero_and_one(rows):
    elig, enrollments = build(rows)
    for m in (
        enrollment_rate(elig, enrollments, family=CCM, on=DAY),
        churn(enrollments, period=Q1, family=CCM),
        billable_rate([], enrollments, period=Q1, family=CCM),
    ):
        assert m.value is None or 0 <= m.value <= 1
        assert m.denominator is not None
        assert 0 <= m.numerator <= m.denominator


@given(patients)
def test_an_eligible_patient_not_enrolled_never_raises_the_rate(rows):
    elig, enrollments = build(rows)
    before = enrollment_rate(elig, enrollments, family=CCM, on=DAY)
    newcomer = Eligibility(
        patient_id="new",
        family=CCM,
        as_of=DAY,
        criteria=(Criterion(rule="r", met=True, detail="d"),),
    )
    after = enrollment_rate([*elig, newcomer], enrollments, family=CCM, on=DAY)
    assert after.denominator == before.denominator + 1
    if before.value is not None:
        assert after.value is not None
        assert after.value <= before.value
