"""Care plans: drafting from conditions and assessments, revisions, diffs, progress, completeness, HTML."""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve

from carecore import careplans, errors
from carecore.careplans import CmsElement, completeness, diff, draft_plan, goal_progress, revise
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    AssessmentResult,
    CarePlanStatus,
    Coding,
    Comparator,
    Condition,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    InterventionKind,
    Observation,
    ServiceFamily,
    SocialNeed,
    Target,
    Task,
)

DAY = pendulum.Date(2026, 1, 5)


def condition(cid, code):
    return Condition(id=cid, patient_id="p1", coding=Coding.icd10cm(code), chronic=True)


@pytest.mark.parametrize(
    ("code", "template", "measure"),
    [
        ("E11.65", "Diabetes", "Hemoglobin A1c"),
        ("I50.22", "Heart failure", "Heart failure hospital stays"),
        ("J44.1", "COPD", "COPD hospital stays"),
        ("I10", "High blood pressure", "Systolic blood pressure"),
        ("F33.1", "Depression", "PHQ-9 total score"),
    ],
)
def test_each_condition_template_brings_its_parts(code, template, measure):
    plan = draft_plan(
        "cp1", "p1", conditions=[condition("c1", code)], on=DAY, responsible_id="dr-ruiz"
    )
    assert [p.description for p in plan.problems] == [template]
    assert measure in [g.target.measure for g in plan.goals if g.target]
    assert all(g.lifecycle is GoalLifecycle.PROPOSED for g in plan.goals)
    assert [z.problem_id for z in plan.symptom_plans] == ["pr-c1"]
    assert all(t.owner == "dr-ruiz" and t.due > DAY for t in plan.tasks)
    assert {t.kind for t in plan.tasks} & {InterventionKind.MEDICATION}
    assert (plan.version, plan.status) == (1, CarePlanStatus.DRAFT)


def test_conditions_without_a_template_are_problems_only():
    plan = draft_plan("cp1", "p1", conditions=[condition("c9", "G30.9")], on=DAY)
    assert [p.condition_id for p in plan.problems] == ["c9"]
    assert (plan.goals, plan.tasks, plan.symptom_plans) == ((), (), ())


def test_social_needs_become_problems_and_referrals():
    result = AssessmentResult(
        id="a1",
        patient_id="p1",
        instrument_id="ahc-hrsn",
        on=DAY,
        answers=(),
        needs={SocialNeed.FOOD_INSECURITY, SocialNeed.TRANSPORTATION},
    )
    plan = draft_plan("cp1", "p1", assessments=[result, result], on=DAY)
    assert [p.need for p in plan.problems] == [
        SocialNeed.FOOD_INSECURITY,
        SocialNeed.TRANSPORTATION,
    ]
    assert [r.need for r in plan.referrals] == [
        SocialNeed.FOOD_INSECURITY,
        SocialNeed.TRANSPORTATION,
    ]
    assert all(r.status.value == "draft" for r in plan.referrals)


def test_another_patients_data_is_refused():
    other = Condition(id="c1", patient_id="p2", coding=Coding.icd10cm("E11.65"))
    with pytest.raises(errors.InvalidValue) as info:
        draft_plan("cp1", "p1", conditions=[other], on=DAY)
    assert info.value.field == "conditions"


def test_revise_keeps_goals_and_bumps_the_version():
    plan = draft_plan("cp1", "p1", conditions=[condition("c1", "E11.65")], on=DAY)
    goal = plan.goals[0]
    cancelled = revise(
        plan, goals=(evolve(goal, lifecycle=GoalLifecycle.CANCELLED), *plan.goals[1:])
    )
    assert cancelled.version == 2
    with pytest.raises(errors.InvalidValue) as info:
        revise(plan, goals=plan.goals[1:])
    assert (info.value.field, info.value.value) == ("goals.id", goal.id)
    with pytest.raises(errors.InvalidValue):
        revise(plan, version=9)
    with pytest.raises(errors.InvalidValue):
        revise(plan, colour="blue")


def test_diff_names_what_changed():
    a = draft_plan("cp1", "p1", conditions=[condition("c1", "E11.65")], on=DAY)
    task = a.tasks[0]
    extra = Goal(id="g-walk", description="Walk 20 minutes a day")
    b = revise(
        a,
        tasks=(task.moved(task.status.__class__("in-progress")), *a.tasks[1:]),
        goals=(*a.goals, extra),
        expected_outcome="Stable at home",
    )
    changes = diff(a, b)
    assert ("plan", "cp1", "changed", ("expected_outcome",)) in [
        (c.part, c.id, c.what, c.fields) for c in changes
    ]
    assert ("goals", "g-walk", "added") in [(c.part, c.id, c.what) for c in changes]
    assert ("tasks", task.id, "changed", ("status",)) in [
        (c.part, c.id, c.what, c.fields) for c in changes
    ]
    assert diff(a, a) == ()


def a1c(values):
    return [
        Observation(
            id=f"o{i}",
            patient_id="p1",
            measure="Hemoglobin A1c",
            loinc="4548-4",
            value=v,
            unit="%",
            on=pendulum.Date(2026, 1 + 3 * i, 1),
        )
        for i, v in enumerate(values)
    ]


GOAL = Goal(
    id="g1",
    description="A1c under 8",
    target=Target(
        measure="Hemoglobin A1c",
        loinc="4548-4",
        comparator=Comparator.LT,
        value="8.0",
        unit="%",
        due=pendulum.Date(2026, 12, 31),
    ),
)


@pytest.mark.parametrize(
    ("values", "achievement", "met"),
    [
        ([], GoalAchievement.IN_PROGRESS, None),
        (["9.0"], GoalAchievement.IN_PROGRESS, False),
        (["9.0", "8.5"], GoalAchievement.IMPROVING, False),
        (["8.5", "9.0"], GoalAchievement.WORSENING, False),
        (["8.5", "8.5"], GoalAchievement.NO_CHANGE, False),
        (["8.5", "7.9"], GoalAchievement.ACHIEVED, True),
        (["7.5", "7.9"], GoalAchievement.SUSTAINING, True),
    ],
)
def test_goal_progress_over_an_a1c_series(values, achievement, met):
    progress = goal_progress(GOAL, a1c(values), on=pendulum.Date(2026, 11, 1))
    assert (progress.achievement, progress.met) == (achievement, met)
    assert [v for _, v in progress.series] == [__import__("decimal").Decimal(v) for v in values]


def test_goal_not_met_by_its_due_date_is_not_achieved():
    progress = goal_progress(GOAL, a1c(["9.0", "8.5"]), on=pendulum.Date(2027, 1, 1))
    assert progress.achievement is GoalAchievement.NOT_ACHIEVED


def test_goal_progress_ignores_other_measures_and_needs_a_target():
    other = [
        Observation(
            id="w",
            patient_id="p1",
            measure="Body weight",
            loinc="29463-7",
            value="80",
            unit="kg",
            on=DAY,
        )
    ]
    assert goal_progress(GOAL, other, on=DAY).series == ()
    with pytest.raises(errors.InvalidValue):
        goal_progress(Goal(id="g2", description="Feel better"), other, on=DAY)


def complete_plan():
    plan = draft_plan(
        "cp1", "p1", conditions=[condition("c1", "E11.65")], on=DAY, responsible_id="dr-ruiz"
    )
    return evolve(
        plan,
        expected_outcome="A1c at goal within 6 months; prognosis good with support",
        assessments=(
            AssessmentNote(domain=AssessmentDomain.FUNCTIONAL, summary="Independent in ADLs"),
            AssessmentNote(
                domain=AssessmentDomain.ENVIRONMENTAL, summary="Lives alone, stairs at home"
            ),
            AssessmentNote(domain=AssessmentDomain.CAREGIVER, summary="Daughter helps weekly"),
        ),
        shared_with_patient_on=DAY,
    )


def test_a_complete_plan_lacks_nothing():
    report = completeness(complete_plan())
    assert report.complete
    assert report.missing == ()


@pytest.mark.parametrize(
    ("change", "element"),
    [
        ({"problems": ()}, CmsElement.PROBLEM_LIST),
        ({"expected_outcome": None}, CmsElement.EXPECTED_OUTCOME),
        ({"symptom_plans": ()}, CmsElement.SYMPTOM_MANAGEMENT),
        ({"review": None}, CmsElement.PERIODIC_REVIEW),
        ({"shared_with_patient_on": None}, CmsElement.SHARED_WITH_PATIENT),
        ({"responsible_id": None}, CmsElement.RESPONSIBLE_PARTY),
        ({"assessments": ()}, CmsElement.ASSESSMENTS),
    ],
)
def test_each_missing_element_is_named(change, element):
    report = completeness(evolve(complete_plan(), **change))
    assert report.missing == (element,)
    assert dict(report.advice)[element]


def test_goals_tasks_and_medication_management():
    plan = complete_plan()
    no_targets = evolve(plan, goals=tuple(evolve(g, target=None) for g in plan.goals))
    assert completeness(no_targets).missing == (CmsElement.MEASURABLE_GOALS,)
    closed_goals = evolve(
        plan, goals=tuple(evolve(g, lifecycle=GoalLifecycle.COMPLETED) for g in plan.goals)
    )
    assert completeness(closed_goals).missing == (CmsElement.MEASURABLE_GOALS,)
    no_meds = evolve(
        plan, tasks=tuple(t for t in plan.tasks if t.kind is not InterventionKind.MEDICATION)
    )
    assert completeness(no_meds).missing == (CmsElement.MEDICATION_MANAGEMENT,)
    assert completeness(
        evolve(no_meds, medication_management="Pharmacist reviews monthly")
    ).complete
    assert completeness(evolve(plan, tasks=())).missing == (
        CmsElement.PLANNED_INTERVENTIONS,
        CmsElement.MEDICATION_MANAGEMENT,
    )


def test_social_needs_call_for_community_services():
    plan = complete_plan()
    needs = AssessmentResult(
        id="a1",
        patient_id="p1",
        instrument_id="ahc-hrsn",
        on=DAY,
        answers=(),
        needs={SocialNeed.UTILITIES},
    )
    with_need = evolve(
        plan,
        problems=(*plan.problems, *draft_plan("x", "p1", assessments=[needs], on=DAY).problems),
    )
    assert completeness(with_need).missing == (CmsElement.COMMUNITY_SERVICES,)
    coordinated = evolve(
        with_need,
        tasks=(
            *with_need.tasks,
            Task(
                id="t-cbo",
                description="Call the utility assistance office",
                owner="chw-1",
                kind=InterventionKind.COMMUNITY,
            ),
        ),
    )
    assert completeness(coordinated).complete


def test_billing_reads_only_active_complete_plans():
    plan = complete_plan()
    assert careplans.billing_care_plans([plan]) == {}  # a draft
    active = plan.activate()
    assert careplans.billing_care_plans([active]) == {ServiceFamily.CCM: DAY}
    incomplete = evolve(active, responsible_id=None)
    assert careplans.billing_care_plans([incomplete]) == {}
    assert careplans.billing_care_plans([incomplete], require_complete=False) == {
        ServiceFamily.CCM: DAY
    }


def test_review_and_close():
    plan = complete_plan().activate()
    reviewed = careplans.review(plan, on=pendulum.Date(2026, 4, 1), by="rn-park")
    assert reviewed.last_reviewed_on == pendulum.Date(2026, 4, 1)
    assert reviewed.review.next_review == pendulum.Date(2026, 4, 1).add(days=90)
    assert "rn-park" in reviewed.contributors
    closed = careplans.close(reviewed)
    assert closed.status is CarePlanStatus.COMPLETED
    assert not any(g.open for g in closed.goals)
    revoked = careplans.close(reviewed, completed=False)
    assert {g.lifecycle for g in revoked.goals} == {GoalLifecycle.CANCELLED}


def test_patient_facing_html_is_plain_and_escaped():
    plan = complete_plan()
    plan = evolve(
        plan, problems=(evolve(plan.problems[0], description="Diabetes <script>alert(1)</script>"),)
    )
    page = careplans.render_html(plan, contacts={"care team": "555-0100"})
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "Bring my A1c under 8% (goal: Hemoglobin A1c under 8.0 % by 2026-07-05)" in page
    assert "Red: emergency, act now" in page
    assert "Care team: 555-0100" in page
    assert page.startswith("<!DOCTYPE html>")


def test_revisions_follow_the_status_rules():
    plan = complete_plan()
    with pytest.raises(errors.InvalidTransition):
        careplans.revise(plan, status=CarePlanStatus.COMPLETED)  # a draft cannot jump to completed
    with pytest.raises(errors.InvalidTransition):
        plan.resume()  # only a plan on hold resumes
    assert careplans.revise(plan, status=CarePlanStatus.ACTIVE).status is CarePlanStatus.ACTIVE


def test_goal_progress_ignores_other_units_and_patients():
    wrong_unit = [evolve(o, unit="mmol/mol") for o in a1c(["60", "50"])]
    assert goal_progress(GOAL, wrong_unit, on=DAY).series == ()
    plan = evolve(complete_plan(), goals=(GOAL,))
    someone_else = [evolve(o, patient_id="p2") for o in a1c(["7.0"])]
    updated = careplans.update_goals(plan, someone_else, on=pendulum.Date(2026, 2, 1))
    assert updated.goals[0].achievement is GoalAchievement.IN_PROGRESS


@pytest.mark.parametrize("on", ["2026-01-05", None, 20260105])
def test_dates_must_be_dates(on):
    with pytest.raises(errors.InvalidValue) as info:
        draft_plan("cp1", "p1", on=on)
    assert (info.value.field, info.value.value) == ("on", on)
    with pytest.raises(errors.InvalidValue):
        goal_progress(GOAL, [], on=on)


def _team(patient_id="p1", *, pharmacist=False):
    from carecore.model import CareTeam, CareTeamMember, CareTeamRole

    members = [
        CareTeamMember(practitioner_id="dr-ruiz", role=CareTeamRole.BILLING_PRACTITIONER),
        CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER),
    ]
    if pharmacist:
        members.append(CareTeamMember(practitioner_id="rph-lee", role=CareTeamRole.PHARMACIST))
    return CareTeam(id=f"{patient_id}-team", patient_id=patient_id, members=members)


def test_a_drafted_plans_tasks_go_to_the_care_manager_not_the_billing_practitioner():
    # Review of issue 22: every task of a drafted plan went to the responsible physician
    # (the billing practitioner), though the templates say a care manager does the work.
    plan = draft_plan(
        "cp1",
        "p1",
        conditions=[condition("c1", "E11.65"), condition("c2", "I50.22")],
        on=DAY,
        responsible_id="dr-ruiz",
        care_team=_team(),
    )
    assert plan.tasks
    assert {t.owner for t in plan.tasks} == {"rn-park"}


def test_a_task_goes_to_the_team_member_in_its_templates_role():
    from carecore.careplans import CONDITION_TEMPLATES, TaskTemplate

    diabetes = CONDITION_TEMPLATES[0]
    review = TaskTemplate(
        description="Review the medicines",
        kind=InterventionKind.MEDICATION,
        owner_role="pharmacist",
    )
    templates = [evolve(diabetes, tasks=(*diabetes.tasks, review))]
    args = {"conditions": [condition("c1", "E11.65")], "on": DAY, "templates": templates}
    owners = {
        t.description: t.owner
        for t in draft_plan("cp1", "p1", care_team=_team(pharmacist=True), **args).tasks
    }
    assert owners["Review the medicines"] == "rph-lee"
    assert set(owners.values()) == {"rph-lee", "rn-park"}
    # Nobody in the role: the care manager does it.
    plan = draft_plan("cp1", "p1", care_team=_team(), **args)
    assert {t.owner for t in plan.tasks} == {"rn-park"}
    # No care team: the person responsible for the plan, until reassigned.
    plan = draft_plan("cp1", "p1", responsible_id="dr-ruiz", **args)
    assert {t.owner for t in plan.tasks} == {"dr-ruiz"}


def test_another_patients_care_team_is_refused():
    with pytest.raises(errors.InvalidValue) as caught:
        draft_plan("cp1", "p1", on=DAY, care_team=_team("p2"))
    assert caught.value.field == "care_team"
