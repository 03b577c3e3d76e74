"""The clinical core through CareProgram on the memory store: every write audited."""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve

from carecore import careplans, errors
from carecore.clock import FixedClock
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    AssessmentResult,
    CarePlan,
    CarePlanStatus,
    Coding,
    Condition,
    Enrollment,
    EnrollmentStatus,
    GoalAchievement,
    GoalLifecycle,
    Observation,
    ServiceFamily,
    SocialNeed,
)
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 1, 5, 15, tz="UTC")


@pytest.fixture
def program(carecore_pm):
    program = CareProgram.open(
        "memory://", actor="rn:park", clock=FixedClock(NOW), plugin_manager=carecore_pm
    )
    with program.transaction("registration") as tx:
        tx.add(make_patient("p1"))
        tx.add(Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.65"), chronic=True))
        tx.add(
            Condition(
                id="c2",
                patient_id="p1",
                coding=Coding.icd10cm("F33.1"),
                chronic=True,
                behavioral=True,
            )
        )
    return program


def test_from_assessment_to_an_active_plan_and_its_revisions(program):
    phq9 = {
        "44250-9": 2,
        "44255-8": 2,
        "44259-0": 1,
        "44254-1": 2,
        "44251-7": 1,
        "44258-2": 1,
        "44252-5": 1,
        "44253-3": 0,
        "44260-8": 0,
    }
    depression = program.assess("p1", "phq-9", phq9, result_id="a-phq9")
    assert (depression.total, depression.band) == (10, "moderate")
    ahc = {
        "71802-3": "LA31993-1",
        "96778-6": ["LA9-3"],
        "88122-7": "LA6729-3",
        "88123-5": "LA28398-8",
        "93030-5": "LA33-6",
        "96779-4": "LA32-8",
        "95618-5": 1,
        "95617-7": 1,
        "95616-9": 1,
        "95615-1": 1,
    }
    needs = program.assess("p1", "ahc-hrsn", ahc, result_id="a-ahc")
    assert needs.needs == {SocialNeed.FOOD_INSECURITY, SocialNeed.TRANSPORTATION}
    assert needs.on == pendulum.Date(2026, 1, 5)  # today in Chicago

    plan = program.create_care_plan("cp1", "p1", responsible_id="dr-ruiz")
    assert [p.description for p in plan.problems][:2] == ["Diabetes", "Depression"]
    assert {r.need for r in plan.referrals} == {
        SocialNeed.FOOD_INSECURITY,
        SocialNeed.TRANSPORTATION,
    }
    report = careplans.completeness(plan)
    assert not report.complete

    def agree(p: CarePlan) -> CarePlan:
        return evolve(
            p.activate(),
            goals=tuple(evolve(g, lifecycle=GoalLifecycle.ACTIVE, confidence=7) for g in p.goals),
            expected_outcome="A1c and mood improve over 6 months",
            assessments=(
                AssessmentNote(domain=AssessmentDomain.FUNCTIONAL, summary="Independent"),
                AssessmentNote(
                    domain=AssessmentDomain.SOCIAL_NEEDS,
                    summary="Food and transport",
                    result_id="a-ahc",
                ),
                AssessmentNote(domain=AssessmentDomain.CAREGIVER, summary="Son visits weekly"),
            ),
        )

    active = program.revise_care_plan("cp1", agree, reason="plan agreed with patient")
    assert (active.version, active.status) == (2, CarePlanStatus.ACTIVE)
    page = program.share_care_plan("cp1", contacts={"care team": "555-0100"})
    assert "My care plan: Ada Lopez" in page
    with program.transaction("check") as tx:
        shared = tx.get(CarePlan, "cp1")
    assert shared.shared_with_patient_on == pendulum.Date(2026, 1, 5)
    assert careplans.completeness(shared).complete
    assert careplans.billing_care_plans([shared]) == {ServiceFamily.CCM: pendulum.Date(2026, 1, 5)}

    with program.transaction("labs") as tx:
        for n, (day, value) in enumerate(
            [(pendulum.Date(2025, 12, 1), "9.2"), (pendulum.Date(2026, 1, 4), "8.6")]
        ):
            tx.add(
                Observation(
                    id=f"o{n}",
                    patient_id="p1",
                    measure="Hemoglobin A1c",
                    loinc="4548-4",
                    value=value,
                    unit="%",
                    on=day,
                )
            )
    progressed = program.update_goal_progress("cp1")
    a1c_goal = next(g for g in progressed.goals if g.target and g.target.loinc == "4548-4")
    assert a1c_goal.achievement is GoalAchievement.IMPROVING

    reviewed = program.review_care_plan("cp1", by="dr-ruiz")
    assert reviewed.last_reviewed_on == pendulum.Date(2026, 1, 5)

    with pytest.raises(errors.InvalidValue):
        program.revise_care_plan("cp1", lambda p: evolve(p, goals=p.goals[1:]), reason="oops")

    closed = program.close_care_plan("cp1")
    with program.transaction("history") as tx:
        history = tx.history(CarePlan, "cp1")
        entries = tx.audit_entries(patient_id="p1")
        stored = tx.find(AssessmentResult, patient_id="p1")
    assert [p.version for p in history] == list(range(1, closed.version + 1))
    assert [a.id for a in stored] == ["a-ahc", "a-phq9"]
    phq_answers = {a.item for a in next(a for a in stored if a.id == "a-phq9").answers}
    assert "69722-7" not in phq_answers  # the unanswered difficulty item is not stored as "None"
    with program.transaction("check") as tx:
        totals = [o for o in tx.find(Observation, patient_id="p1") if o.loinc == "44261-6"]
    assert [(o.id, o.value) for o in totals] == [("a-phq9-total", 10)]
    writes = [(e.action, e.kind) for e in entries if e.action in {"create", "update"}]
    assert ("create", "AssessmentResult") in writes
    assert writes.count(("update", "CarePlan")) == closed.version - 1
    assert all(
        e.actor == "rn:park" for e in entries if e.kind == "CarePlan" and e.action == "update"
    )


def test_bad_answers_store_nothing(program):
    with pytest.raises(errors.InvalidInput):
        program.assess("p1", "gad-7", {"69725-0": 9}, result_id="bad")
    with program.transaction("check") as tx:
        assert tx.find(AssessmentResult, patient_id="p1") == []


def test_enrollment_pipeline_is_stored_with_its_history(program):
    day = pendulum.Date(2026, 1, 5)
    with program.transaction("registry found the patient") as tx:
        tx.add(
            Enrollment.identify(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr-ruiz",
                on=day,
            )
        )
    program.change_enrollment("e1", lambda e: e.reach_out(day.add(days=1)), reason="outreach call")
    program.change_enrollment("e1", lambda e: e.consent(day.add(days=3)), reason="verbal consent")
    enrolled = program.change_enrollment(
        "e1", lambda e: e.enroll(day.add(days=3)), reason="enrolled"
    )
    assert [c.status for c in enrolled.history] == [
        EnrollmentStatus.IDENTIFIED,
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.ENROLLED,
    ]
    with pytest.raises(errors.InvalidTransition):
        program.change_enrollment("e1", lambda e: e.consent(day.add(days=9)), reason="twice")
    with program.transaction("check") as tx:
        assert tx.get(Enrollment, "e1") == enrolled


def test_a_plan_created_in_the_program_gives_its_tasks_to_the_care_manager(program):
    # Review of issue 22: create_care_plan gave every task to the responsible physician (the
    # billing practitioner) although the patient's care team has a care manager to do them.
    from carecore.model import CareTeam, CareTeamMember, CareTeamRole

    with program.transaction("care team") as tx:
        tx.add(
            CareTeam(
                id="p1-team",
                patient_id="p1",
                members=[
                    CareTeamMember(
                        practitioner_id="dr-ruiz", role=CareTeamRole.BILLING_PRACTITIONER
                    ),
                    CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER),
                ],
            )
        )
    plan = program.create_care_plan("cp1", "p1", responsible_id="dr-ruiz")
    assert plan.tasks
    assert {t.owner for t in plan.tasks} == {"rn-park"}
