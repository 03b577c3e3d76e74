"""A recorded replication's Recording is the replication's own year, patient by patient."""

from __future__ import annotations

import collections

import pytest

from carecore.model import AdministrativeSex, ServiceFamily
from carecore.simulation import (
    OutcomeModel,
    PopulationSpec,
    ProgramPolicy,
    StaffRole,
    Study,
    TcmPolicy,
    run_replication,
)

pytest.importorskip("numpy")

STUDY = Study(
    months=6,
    population=PopulationSpec(size=400, medicare_share=0.8),
    policy=ProgramPolicy(
        families=("CCM", "TCM"),
        outreach_per_month=40,
        enrollment_probability=0.7,
        staff=(StaffRole(capacity_minutes_per_fte_month=2500),),
        tcm=TcmPolicy(contact_minutes=30),
    ),
    outcomes=OutcomeModel(admission=(0.05, 0.08, 0.1), death=(0.01, 0.02, 0.03)),
)


@pytest.fixture(scope="module")
def recorded():
    return run_replication(STUDY, 5, 0, record=True)


def test_recording_draws_nothing_more(recorded):
    plain = run_replication(STUDY, 5, 0)
    assert plain.recording is None
    assert recorded.months == plain.months
    assert recorded.totals == plain.totals


def test_the_recording_adds_up_to_the_table(recorded):
    rec = recorded.recording
    table = {month: dict(values) for month, values in recorded.months}
    assert len(rec.patients) == STUDY.population.size
    assert {p.sex for p in rec.patients} <= {AdministrativeSex.FEMALE, AdministrativeSex.MALE}
    minutes = collections.Counter()
    members = collections.Counter()
    for care in rec.care:
        minutes[care.month] += sum(care.minutes)
        members[care.month] += 1
    admissions = collections.Counter(
        f"{s.admitted.year:04d}-{s.admitted.month:02d}" for s in rec.stays
    )
    ed = collections.Counter(month for _p, month in rec.ed_visits)
    deaths = collections.Counter(month for _p, month in rec.deaths)
    tcm_minutes = STUDY.policy.tcm.contact_minutes
    for month, values in table.items():
        contacts = sum(
            1 for s in rec.stays if s.tcm_contact is not None and f"{s.admitted:%Y-%m}" == month
        )
        assert minutes[month] + contacts * tcm_minutes == values["minutes_logged"], month
        assert members[month] == values["enrolled_patients"], month
        assert admissions[month] == values["admissions"] - values["readmissions"], month
        assert ed[month] == values["ed_visits"], month
        assert deaths[month] == values["deaths"], month
    # Staff capacity binds in some month: some enrolled patient-months get no minutes.
    assert any(not care.minutes for care in rec.care)


def test_outreach_and_enrollment_agree(recorded):
    rec = recorded.recording
    agreed = {o.patient for o in rec.outreach if o.agreed}
    enrolled = {int(e.patient_id[1:]) for e in recorded.enrollments}
    assert enrolled <= agreed
    assert len({o.patient for o in rec.outreach}) == len(rec.outreach)  # each approached once
    for e in recorded.enrollments:
        assert e.family is ServiceFamily.CCM


def test_stays_follow_the_tcm_policy(recorded):
    stays = recorded.recording.stays
    assert stays
    for stay in stays:
        if stay.discharged is None:
            assert stay.tcm_contact is None
            continue
        assert stay.discharged == stay.admitted.add(days=STUDY.policy.tcm.length_of_stay_days)
        if stay.readmitted is not None:
            assert stay.readmitted > stay.discharged
        patient = recorded.recording.patients[stay.patient]
        if not patient.medicare:
            assert stay.tcm_contact is None
            assert stay.tcm_visit is None
        if stay.tcm_visit is not None:
            assert stay.tcm_mdm is not None
            assert stay.tcm_visit > stay.discharged
