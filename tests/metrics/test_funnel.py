"""The enrollment funnel follows one cohort down: no stage counts more patients than the one before."""

from __future__ import annotations

import itertools

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.metrics import FUNNEL_STAGES, enrollment_funnel, enrollment_rate
from carecore.model import (
    ClaimLine,
    Consent,
    ConsentMethod,
    DisenrollmentReason,
    Enrollment,
    ServiceFamily,
    ServicePeriod,
)
from carecore.registry import Criterion, Eligibility

CCM = ServiceFamily.CCM
MARCH = ServicePeriod.month(2026, 3)
START = pendulum.Date(2026, 1, 1)

# One patient: (registry row: None, eligible or not; how far the enrollment went, on which day;
# consent day or None; the month of a claim line or None; the claim line's family).
patients = st.lists(
    st.tuples(
        st.one_of(st.none(), st.booleans()),
        st.sampled_from(["none", "identified", "outreach", "consented", "enrolled", "left"]),
        st.integers(min_value=0, max_value=150),
        st.one_of(st.none(), st.integers(min_value=0, max_value=150)),
        st.one_of(st.none(), st.integers(min_value=1, max_value=4)),
        st.sampled_from([CCM, ServiceFamily.PCM]),
    ),
    max_size=15,
)


def build(rows):
    elig, enrollments, consents, lines = [], [], [], []
    for i, (row, stage, day, consent_day, billed, family) in enumerate(rows):
        pid = f"p{i}"
        on = START.add(days=day)
        if row is not None:
            elig.append(
                Eligibility(
                    patient_id=pid,
                    family=CCM,
                    as_of=MARCH.end,
                    criteria=(Criterion(rule="r", met=row, detail="d"),),
                )
            )
        if stage != "none":
            e = Enrollment.identify(
                id=f"e{i}",
                patient_id=pid,
                program_id="ccm",
                family=CCM,
                billing_practitioner_id="dr1",
                on=on,
            )
            if stage != "identified":
                e = e.reach_out(on)
            if stage in {"consented", "enrolled", "left"}:
                e = e.consent(on)
            if stage in {"enrolled", "left"}:
                e = e.enroll(on)
            if stage == "left":
                e = e.disenroll(on.add(days=10), DisenrollmentReason.MOVED)
            enrollments.append(e)
        if consent_day is not None:
            consents.append(
                Consent(
                    id=f"c{i}",
                    patient_id=pid,
                    family=CCM,
                    method=ConsentMethod.VERBAL,
                    obtained_on=START.add(days=consent_day),
                    obtained_by="rn1",
                    billing_practitioner_id="dr1",
                    cost_sharing_explained=True,
                )
            )
        if billed is not None:
            period = ServicePeriod.month(2026, billed)
            lines.append(
                ClaimLine(
                    patient_id=pid,
                    code="99490",
                    units=1,
                    family=family,
                    billing_practitioner_id="dr1",
                    date_of_service=period.end,
                    period=period,
                )
            )
    return elig, enrollments, consents, lines


@given(patients)
def test_the_funnel_never_grows_along_its_stages(rows):
    elig, enrollments, consents, lines = build(rows)
    stages = enrollment_funnel(elig, enrollments, consents, lines, family=CCM, month=MARCH)
    assert tuple(s.name for s in stages) == FUNNEL_STAGES
    for before, after in itertools.pairwise(stages):
        assert after.patients <= before.patients
        assert after.count <= before.count
    # The enrolled stage is the enrollment rate's numerator (eligible and enrolled that day).
    rate = enrollment_rate(elig, enrollments, family=CCM, on=MARCH.end)
    assert stages[4].count == rate.numerator


def test_outreach_of_a_patient_no_longer_eligible_is_not_counted():
    # The demo's funnel showed 75 outreached of 70 eligible: patients offered the program
    # who were no longer eligible (had died, lost coverage) counted as outreached.
    elig, enrollments, consents, lines = build(
        [(True, "enrolled", 10, 10, 3, CCM), (False, "outreach", 5, None, None, CCM)]
    )
    counts = [
        s.count
        for s in enrollment_funnel(elig, enrollments, consents, lines, family=CCM, month=MARCH)
    ]
    assert counts == [2, 1, 1, 1, 1, 1]
