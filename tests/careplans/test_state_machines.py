"""Hypothesis state machines for tasks, referrals, enrollments and care-plan revisions.

Each machine tries every move, allowed or not, and checks that an illegal
move is refused with InvalidTransition (changing nothing), that history only
grows, and that a revision never drops a goal.
"""

from __future__ import annotations

import itertools

import pendulum
from attrs import evolve
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from carecore import careplans, errors
from carecore.model import (
    DisenrollmentReason,
    Enrollment,
    EnrollmentStatus,
    Goal,
    GoalLifecycle,
    InterventionKind,
    Referral,
    ReferralStatus,
    ServiceFamily,
    Task,
    TaskStatus,
)

TASK_ALLOWED = {
    TaskStatus.REQUESTED: {TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED},
    TaskStatus.ACCEPTED: {TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD, TaskStatus.CANCELLED},
    TaskStatus.IN_PROGRESS: {
        TaskStatus.ON_HOLD,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    },
    TaskStatus.ON_HOLD: {TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED},
}


class TaskMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.task = Task(
            id="t1", description="Teach inhaler use", owner="rn-1", kind=InterventionKind.EDUCATION
        )

    @rule(to=st.sampled_from(TaskStatus), outcome=st.none() | st.just("Done as planned"))
    def move(self, to, outcome):
        before = self.task
        allowed = to in TASK_ALLOWED.get(before.status, set())
        needs_outcome = (
            to in {TaskStatus.COMPLETED, TaskStatus.FAILED}
            and outcome is None
            and before.outcome is None
        )
        try:
            self.task = before.moved(to, outcome=outcome)
        except errors.InvalidTransition:
            assert not allowed
            assert self.task is before
        except errors.InvalidValue:
            assert allowed
            assert needs_outcome
        else:
            assert allowed
            assert self.task.status is to

    @invariant()
    def done_tasks_have_outcomes(self):
        if self.task.status in {TaskStatus.COMPLETED, TaskStatus.FAILED}:
            assert self.task.outcome


REFERRAL_ALLOWED = {
    ReferralStatus.DRAFT: {ReferralStatus.SENT, ReferralStatus.CANCELLED},
    ReferralStatus.SENT: {
        ReferralStatus.ACCEPTED,
        ReferralStatus.DECLINED,
        ReferralStatus.CANCELLED,
    },
    ReferralStatus.ACCEPTED: {
        ReferralStatus.COMPLETED,
        ReferralStatus.DECLINED,
        ReferralStatus.CANCELLED,
    },
}


class ReferralMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.referral = Referral(id="rf1", to="Food bank", reason="Food insecurity")
        self.day = pendulum.Date(2026, 1, 5)

    @rule(
        to=st.sampled_from(ReferralStatus),
        reason=st.none() | st.just("No capacity"),
        days=st.integers(0, 5),
    )
    def move(self, to, reason, days):
        self.day = self.day.add(days=days)
        before = self.referral
        allowed = to in REFERRAL_ALLOWED.get(before.status, set())
        try:
            self.referral = before.moved(to, on=self.day, reason=reason)
        except errors.InvalidTransition:
            assert not allowed
        except errors.InvalidValue:
            assert allowed
            assert to in {ReferralStatus.DECLINED, ReferralStatus.CANCELLED}
            assert reason is None
        else:
            assert allowed
            if self.referral.loop_closed:
                assert self.referral.closed_on == self.day

    @invariant()
    def a_closed_loop_says_how_it_ended(self):
        r = self.referral
        if r.status in {ReferralStatus.DECLINED, ReferralStatus.CANCELLED}:
            assert r.status_reason
        if r.status is not ReferralStatus.DRAFT and r.status is not ReferralStatus.CANCELLED:
            assert r.sent_on is not None


ENROLLMENT_ALLOWED = {
    EnrollmentStatus.IDENTIFIED: {
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.DISENROLLED,
    },
    EnrollmentStatus.OUTREACH: {EnrollmentStatus.CONSENTED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.CONSENTED: {EnrollmentStatus.ENROLLED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.ENROLLED: {EnrollmentStatus.PAUSED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.PAUSED: {EnrollmentStatus.ENROLLED, EnrollmentStatus.DISENROLLED},
}


class EnrollmentMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.day = pendulum.Date(2026, 1, 5)
        self.enrollment = Enrollment.identify(
            id="e1",
            patient_id="p1",
            program_id="ccm",
            family=ServiceFamily.CCM,
            billing_practitioner_id="dr1",
            on=self.day,
        )

    @rule(
        step=st.sampled_from(["reach_out", "consent", "enroll", "pause", "resume", "disenroll"]),
        days=st.integers(0, 40),
    )
    def move(self, step, days):
        self.day = self.day.add(days=days)
        before = self.enrollment
        to = {
            "reach_out": EnrollmentStatus.OUTREACH,
            "consent": EnrollmentStatus.CONSENTED,
            "enroll": EnrollmentStatus.ENROLLED,
            "pause": EnrollmentStatus.PAUSED,
            "resume": EnrollmentStatus.ENROLLED,
            "disenroll": EnrollmentStatus.DISENROLLED,
        }[step]
        allowed = to in ENROLLMENT_ALLOWED.get(before.status, set())
        args = (self.day, DisenrollmentReason.DECLINED) if step == "disenroll" else (self.day,)
        try:
            self.enrollment = getattr(before, step)(*args)
        except errors.InvalidTransition:
            assert not allowed
            assert self.enrollment is before
        else:
            assert allowed
            assert self.enrollment.history[: len(before.history)] == before.history  # append-only
            assert self.enrollment.status is to

    @invariant()
    def effective_dates_never_go_back(self):
        days = [c.on for c in self.enrollment.history]
        assert days == sorted(days)
        enrolled = self.enrollment.enrolled_on
        if enrolled is not None:
            assert self.enrollment.status_on(enrolled) in {
                EnrollmentStatus.ENROLLED,
                EnrollmentStatus.PAUSED,
                EnrollmentStatus.DISENROLLED,
            }


class CarePlanMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.versions = [careplans.draft_plan("cp1", "p1", on=pendulum.Date(2026, 1, 5))]

    @property
    def plan(self):
        return self.versions[-1]

    @rule(n=st.integers(0, 5))
    def add_goal(self, n):
        goal_id = f"g{n}"
        if any(g.id == goal_id for g in self.plan.goals):
            return
        self.versions.append(
            careplans.revise(
                self.plan, goals=(*self.plan.goals, Goal(id=goal_id, description=f"Goal {n}"))
            )
        )

    @rule(data=st.data())
    def drop_a_goal(self, data):
        if not self.plan.goals:
            return
        victim = data.draw(st.sampled_from(self.plan.goals))
        try:
            careplans.revise(self.plan, goals=tuple(g for g in self.plan.goals if g is not victim))
        except errors.InvalidValue as exc:
            assert exc.value == victim.id
        else:
            raise AssertionError("a goal was dropped silently")

    @rule(data=st.data())
    def cancel_a_goal(self, data):
        if not self.plan.goals:
            return
        victim = data.draw(st.sampled_from(self.plan.goals))
        goals = tuple(
            evolve(g, lifecycle=GoalLifecycle.CANCELLED) if g is victim else g
            for g in self.plan.goals
        )
        self.versions.append(careplans.revise(self.plan, goals=goals))

    @rule(text=st.text(alphabet="abc xyz", min_size=1, max_size=10).map(str.strip).filter(bool))
    def set_outcome(self, text):
        self.versions.append(careplans.revise(self.plan, expected_outcome=text))

    @rule(stale=st.integers(0, 3))
    def stale_revision_is_refused(self, stale):
        old = self.versions[max(0, len(self.versions) - 2 - stale)]
        if old is self.plan:
            return
        try:
            careplans.check_revision(self.plan, evolve(old, version=old.version + 1))
        except errors.CarecoreError:
            pass
        else:
            assert old.version + 1 == self.plan.version + 1

    @invariant()
    def versions_count_up_and_goals_are_never_lost(self):
        assert [p.version for p in self.versions] == list(range(1, len(self.versions) + 1))
        for before, after in itertools.pairwise(self.versions):
            assert {g.id for g in before.goals} <= {g.id for g in after.goals}
            assert all(
                c.what != "removed" or c.part not in {"goals", "referrals"}
                for c in careplans.diff(before, after)
            )


for machine in (TaskMachine, ReferralMachine, EnrollmentMachine, CarePlanMachine):
    machine.TestCase.settings = settings(max_examples=60, stateful_step_count=20, deadline=None)

TestTasks = TaskMachine.TestCase
TestReferrals = ReferralMachine.TestCase
TestEnrollments = EnrollmentMachine.TestCase
TestCarePlanRevisions = CarePlanMachine.TestCase
