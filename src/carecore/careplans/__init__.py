"""Building, revising, reviewing and measuring care plans (pure functions over values).

>>> import pendulum
>>> from carecore.model import Coding, Condition
>>> dm = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.65"), chronic=True)
>>> plan = draft_plan("cp1", "p1", conditions=[dm], on=pendulum.Date(2026, 1, 5), responsible_id="dr-ruiz")
>>> [g.description for g in plan.goals][:1], plan.version
(['Bring my A1c under 8%'], 1)
>>> [e.value for e in completeness(plan).missing]
['expected-outcome', 'assessments', 'shared-with-patient']
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import evolve, fields, frozen

from carecore import errors
from carecore.careplans._html import render_html
from carecore.careplans._retry import RevisionRetry
from carecore.careplans._templates import (
    CONDITION_TEMPLATES,
    ConditionTemplate,
    GoalTemplate,
    TaskTemplate,
)
from carecore.model import (
    AssessmentDomain,
    AssessmentResult,
    CarePlan,
    CarePlanStatus,
    CareTeam,
    CareTeamRole,
    Condition,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    InterventionKind,
    Observation,
    Problem,
    ReadingLimit,
    Referral,
    ReviewSchedule,
    ServiceFamily,
    SocialNeed,
    SymptomActionPlan,
    Target,
    Task,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "CONDITION_TEMPLATES",
    "Change",
    "CmsElement",
    "CompletenessReport",
    "ConditionTemplate",
    "GoalProgress",
    "GoalTemplate",
    "PlanSpan",
    "PlanVersion",
    "RevisionRetry",
    "TaskTemplate",
    "billing_care_plans",
    "check_revision",
    "close",
    "completeness",
    "diff",
    "draft_plan",
    "established_span",
    "goal_progress",
    "reading_findings",
    "render_html",
    "review",
    "revise",
    "update_goals",
]

#: Community resources a social-need problem is referred to, by default.
NEED_REFERRALS: dict[SocialNeed, str] = {
    SocialNeed.HOUSING_INSTABILITY: "Housing assistance program",
    SocialNeed.HOUSING_QUALITY: "Home repair and healthy homes program",
    SocialNeed.FOOD_INSECURITY: "Food bank and SNAP enrollment help",
    SocialNeed.TRANSPORTATION: "Medical transportation benefit",
    SocialNeed.UTILITIES: "Utility assistance (LIHEAP)",
    SocialNeed.INTERPERSONAL_SAFETY: "Domestic violence advocate",
}


def draft_plan(
    plan_id: str,
    patient_id: str,
    *,
    conditions: Iterable[Condition] = (),
    assessments: Iterable[AssessmentResult] = (),
    on: pendulum.Date,
    responsible_id: str | None = None,
    care_team: CareTeam | None = None,
    families: Iterable[ServiceFamily] = (ServiceFamily.CCM,),
    templates: Sequence[ConditionTemplate] = CONDITION_TEMPLATES,
    review_every_days: int = 90,
) -> CarePlan:
    """A version-1 draft plan from conditions (matched to templates) and assessment results.

    Each condition that matches a template brings a problem, its goals (with
    targets due months ahead), its tasks and a symptom action plan. Each
    social need an assessment identified brings a problem and a draft
    referral. Conditions without a template become problems only.

    Each task goes to the member of the patient's *care_team* in the
    template's role (:attr:`TaskTemplate.owner_role`, the care manager for
    the shipped templates), else to the team's care manager: the people who
    do the work, not the billing practitioner. Without a care team, or with
    nobody in either role, a task goes to the person responsible for the
    plan (*responsible_id*) until it is reassigned.

    >>> import pendulum
    >>> from carecore.model import CareTeam, CareTeamMember, CareTeamRole, Coding, Condition
    >>> team = CareTeam(id="t1", patient_id="p1", members=[
    ...     CareTeamMember(practitioner_id="dr-ruiz", role=CareTeamRole.BILLING_PRACTITIONER),
    ...     CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)])
    >>> dm = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9"), chronic=True)
    >>> plan = draft_plan("cp1", "p1", conditions=[dm], on=pendulum.Date(2026, 1, 5),
    ...     responsible_id="dr-ruiz", care_team=team)
    >>> {t.owner for t in plan.tasks}
    {'rn-park'}
    """
    _must_be_date(on, "on")
    owner = _task_owners(patient_id, care_team, responsible_id)
    problems: list[Problem] = []
    goals: list[Goal] = []
    tasks: list[Task] = []
    zones: list[SymptomActionPlan] = []
    referrals: list[Referral] = []
    for condition in conditions:
        if condition.patient_id != patient_id:
            raise errors.InvalidValue(
                f"belongs to another patient than {patient_id}", field="conditions", value=condition
            )
        template = next((t for t in templates if t.matches(condition.coding.code)), None)
        problem_id = f"pr-{condition.id}"
        name = template.name if template else (condition.coding.display or condition.coding.code)
        problems.append(Problem(id=problem_id, description=name, condition_id=condition.id))
        if template is None:
            continue
        for n, g in enumerate(template.goals, start=1):
            goals.append(_goal(g, f"g-{condition.id}-{n}", problem_id, on))
        for n, t in enumerate(template.tasks, start=1):
            tasks.append(
                Task(
                    id=f"t-{condition.id}-{n}",
                    description=t.description,
                    owner=owner(t.owner_role),
                    kind=t.kind,
                    due=on.add(days=t.days),
                    goal_ids=tuple(g.id for g in goals if problem_id in g.problem_ids)[:1],
                )
            )
        zones.append(
            SymptomActionPlan(
                id=f"zones-{condition.id}",
                problem_id=problem_id,
                title=f"{template.name}: what to do",
                green=template.green,
                yellow=template.yellow,
                red=template.red,
            )
        )
    needs: list[SocialNeed] = []
    for result in assessments:
        if result.patient_id != patient_id:
            raise errors.InvalidValue(
                f"belongs to another patient than {patient_id}", field="assessments", value=result
            )
        needs += [n for n in sorted(result.needs, key=lambda n: n.value) if n not in needs]
    for need in needs:
        problem_id = f"pr-{need.value}"
        problems.append(Problem(id=problem_id, description=_NEED_WORDS[need], need=need))
        referrals.append(
            Referral(
                id=f"rf-{need.value}", to=NEED_REFERRALS[need], reason=_NEED_WORDS[need], need=need
            )
        )
    return CarePlan(
        id=plan_id,
        patient_id=patient_id,
        title=", ".join(p.description for p in problems[:3]) or "Care plan",
        families=frozenset(families),
        created_on=on,
        problems=tuple(problems),
        goals=tuple(goals),
        tasks=tuple(tasks),
        symptom_plans=tuple(zones),
        referrals=tuple(referrals),
        review=ReviewSchedule(
            every_days=review_every_days, next_review=on.add(days=review_every_days)
        ),
        responsible_id=responsible_id,
        contributors=(responsible_id,) if responsible_id else (),
    )


_NEED_WORDS = {
    SocialNeed.HOUSING_INSTABILITY: "Housing is not stable",
    SocialNeed.HOUSING_QUALITY: "Problems with the home (pests, mold, heat, leaks)",
    SocialNeed.FOOD_INSECURITY: "Not always enough food",
    SocialNeed.TRANSPORTATION: "No reliable transportation",
    SocialNeed.UTILITIES: "Utilities shut off or threatened",
    SocialNeed.INTERPERSONAL_SAFETY: "Not safe at home",
}


def _task_owners(
    patient_id: str, care_team: CareTeam | None, responsible_id: str | None
) -> Callable[[str], str]:
    """Who owns a task of a care-team role: that member, else the care manager, else the responsible."""
    if care_team is not None and (
        not isinstance(care_team, CareTeam) or care_team.patient_id != patient_id
    ):
        raise errors.InvalidValue(
            f"must be the care team of {patient_id}", field="care_team", value=care_team
        )
    fallback = responsible_id or "care-manager"
    roles: dict[str, str] = {}
    for member in care_team.members if care_team is not None else ():
        roles.setdefault(member.role.value, member.practitioner_id)

    def owner(role: str) -> str:
        return roles.get(role) or roles.get(CareTeamRole.CARE_MANAGER.value) or fallback

    return owner


def _must_be_date(value: object, field: str) -> None:
    if not isinstance(value, pendulum.Date):
        raise errors.InvalidValue("must be a pendulum.Date", field=field, value=value)


def _goal(template: GoalTemplate, goal_id: str, problem_id: str, on: pendulum.Date) -> Goal:
    target = None
    if (
        template.measure is not None
        and template.comparator is not None
        and template.unit is not None
    ):
        target = Target(
            measure=template.measure,
            loinc=template.loinc,
            comparator=template.comparator,
            value=template.value,
            unit=template.unit,
            due=on.add(months=template.months),
        )
    return Goal(
        id=goal_id,
        description=template.description,
        problem_ids=(problem_id,),
        target=target,
        lifecycle=GoalLifecycle.PROPOSED,
    )


# -- revisions -------------------------------------------------------------------------


def revise(plan: CarePlan, **changes: Any) -> CarePlan:
    """The next version of *plan* with *changes*; no goal may disappear silently.

    A goal that is no longer wanted is cancelled (``lifecycle=CANCELLED``),
    not removed; a referral is cancelled or declined, not removed. Removing
    either raises :class:`~carecore.errors.InvalidValue` naming the part.

    >>> import pendulum
    >>> plan = draft_plan("cp1", "p1", on=pendulum.Date(2026, 1, 5))
    >>> revise(plan, expected_outcome="Stable at home").version
    2
    """
    for name in ("version", "id", "patient_id", "created_on"):
        if name in changes:
            raise errors.InvalidValue(
                "is set by the plan itself and cannot be revised", field=name, value=changes[name]
            )
    known = {f.name for f in fields(CarePlan)}
    for name, value in changes.items():
        if name not in known:
            raise errors.InvalidValue("is not a part of a care plan", field=name, value=value)
    new = evolve(plan, version=plan.version + 1, **changes)
    check_revision(plan, new)
    return new


def check_revision(old: CarePlan, new: CarePlan) -> None:
    """Refuse a revision that is not the next version of the same plan or drops a goal or referral.

    >>> import pendulum
    >>> from carecore.model import Goal
    >>> a = draft_plan("cp1", "p1", on=pendulum.Date(2026, 1, 5))
    >>> a = revise(a, goals=[Goal(id="g1", description="Walk daily")])
    >>> check_revision(a, evolve(a, version=3, goals=()))
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: goals.id='g1': a revision cannot drop goals; cancel them instead
    """
    if new.id != old.id or new.patient_id != old.patient_id:
        raise errors.InvalidValue(
            "a revision is of the same plan and patient", field="id", value=new.id
        )
    if new.version != old.version + 1:
        raise errors.ConflictError(
            f"a revision of version {old.version} is version {old.version + 1}",
            field="version",
            value=new.version,
        )
    if not old.can_become(new.status):
        raise errors.InvalidTransition(field="status", value=old.status, to=new.status)
    for part in ("goals", "referrals"):
        kept = {p.id for p in getattr(new, part)}
        dropped = [p.id for p in getattr(old, part) if p.id not in kept]
        if dropped:
            raise errors.InvalidValue(
                f"a revision cannot drop {part}; cancel them instead",
                field=f"{part}.id",
                value=dropped[0],
            )


@frozen(kw_only=True)
class Change:
    """One difference between two versions of a plan.

    ``part`` is ``"plan"`` for a top-level field, else the part list
    (``"goals"``); ``what`` is ``added``, ``removed`` or ``changed``;
    ``fields`` names the changed fields.
    """

    part: str
    id: str
    what: str
    fields: tuple[str, ...] = ()


_PARTS = ("problems", "goals", "barriers", "tasks", "symptom_plans", "referrals")


def diff(old: CarePlan, new: CarePlan) -> tuple[Change, ...]:
    """What changed from *old* to *new* (two versions of one plan).

    >>> import pendulum
    >>> a = draft_plan("cp1", "p1", on=pendulum.Date(2026, 1, 5))
    >>> diff(a, revise(a, expected_outcome="Stable at home"))
    (Change(part='plan', id='cp1', what='changed', fields=('expected_outcome',)),)
    """
    if old.id != new.id:
        raise errors.InvalidValue(
            "diff compares two versions of one plan", field="id", value=new.id
        )
    changes: list[Change] = []
    top = tuple(
        f.name
        for f in fields(CarePlan)
        if f.name not in (*_PARTS, "version") and getattr(old, f.name) != getattr(new, f.name)
    )
    if top:
        changes.append(Change(part="plan", id=new.id, what="changed", fields=top))
    for part in _PARTS:
        before = {p.id: p for p in getattr(old, part)}
        after = {p.id: p for p in getattr(new, part)}
        for pid, value in after.items():
            if pid not in before:
                changes.append(Change(part=part, id=pid, what="added"))
            elif before[pid] != value:
                names = tuple(
                    f.name
                    for f in fields(type(value))
                    if getattr(before[pid], f.name) != getattr(value, f.name)
                )
                changes.append(Change(part=part, id=pid, what="changed", fields=names))
        changes += [Change(part=part, id=pid, what="removed") for pid in before if pid not in after]
    return tuple(changes)


def review(plan: CarePlan, *, on: pendulum.Date, by: str | None = None) -> CarePlan:
    """The plan reviewed on *on* (a new version): next review scheduled, reviewer added as contributor."""
    schedule = plan.review or ReviewSchedule(every_days=90, next_review=on)
    contributors = (
        plan.contributors if by is None or by in plan.contributors else (*plan.contributors, by)
    )
    return revise(
        plan,
        last_reviewed_on=on,
        review=evolve(schedule, next_review=on.add(days=schedule.every_days)),
        contributors=contributors,
    )


def close(plan: CarePlan, *, completed: bool = True) -> CarePlan:
    """Close the plan (a new version): completed, or revoked when ``completed=False``.

    Open goals are completed or cancelled with it, so no goal is left open on a closed plan.
    """
    closed = plan.complete() if completed else plan.revoke()
    ending = GoalLifecycle.COMPLETED if completed else GoalLifecycle.CANCELLED
    goals = tuple(evolve(g, lifecycle=ending) if g.open else g for g in plan.goals)
    return evolve(closed, goals=goals)


# -- goal progress ---------------------------------------------------------------------


@frozen(kw_only=True)
class GoalProgress:
    """How a measurable goal stands against a series of observations."""

    goal_id: str
    series: tuple[tuple[pendulum.Date, Any], ...]
    met: bool | None
    achievement: GoalAchievement


def goal_progress(
    goal: Goal, observations: Iterable[Observation], *, on: pendulum.Date
) -> GoalProgress:
    """Attainment of a goal from its observations (matched by LOINC code, else by measure name).

    Met now and before: ``sustaining``; met now: ``achieved``; not met and past
    due: ``not-achieved``; otherwise the last two values say ``improving``,
    ``worsening`` or ``no-change`` (toward or away from the target).

    >>> import pendulum
    >>> from carecore.model import Comparator
    >>> goal = Goal(id="g1", description="A1c under 8", target=Target(measure="Hemoglobin A1c",
    ...     loinc="4548-4", comparator=Comparator.LT, value="8.0", unit="%", due=pendulum.Date(2026, 7, 1)))
    >>> series = [Observation(id=f"o{i}", patient_id="p1", measure="Hemoglobin A1c", loinc="4548-4",
    ...     value=v, unit="%", on=pendulum.Date(2026, m, 1)) for i, (m, v) in enumerate([(1, "9.1"), (4, "8.4")])]
    >>> goal_progress(goal, series, on=pendulum.Date(2026, 4, 2)).achievement.value
    'improving'
    """
    _must_be_date(on, "on")
    target = goal.target
    if target is None:
        raise errors.InvalidValue("has no target to measure against", field="goal", value=goal.id)
    relevant = sorted(
        (
            o
            for o in observations
            if (o.loinc == target.loinc if target.loinc else o.measure == target.measure)
            and o.unit == target.unit
        ),
        key=lambda o: o.on,
    )
    series = tuple((o.on, o.value) for o in relevant)
    if not relevant:
        return GoalProgress(
            goal_id=goal.id, series=(), met=None, achievement=GoalAchievement.IN_PROGRESS
        )
    latest = relevant[-1]
    met = target.met_by(latest.value)
    if met:
        before = len(relevant) > 1 and target.met_by(relevant[-2].value)
        achievement = GoalAchievement.SUSTAINING if before else GoalAchievement.ACHIEVED
    elif on > target.due:
        achievement = GoalAchievement.NOT_ACHIEVED
    elif len(relevant) == 1:
        achievement = GoalAchievement.IN_PROGRESS
    else:
        gap_before = abs(relevant[-2].value - target.value)
        gap_now = abs(latest.value - target.value)
        if gap_now < gap_before:
            achievement = GoalAchievement.IMPROVING
        elif gap_now > gap_before:
            achievement = GoalAchievement.WORSENING
        else:
            achievement = GoalAchievement.NO_CHANGE
    return GoalProgress(goal_id=goal.id, series=series, met=met, achievement=achievement)


#: The plans whose symptom action plans and alert thresholds are in force.
_READING_PLANS = frozenset({CarePlanStatus.ACTIVE, CarePlanStatus.ON_HOLD})


def reading_findings(reading: Observation, plans: Iterable[CarePlan]) -> tuple[str, ...]:
    """The reasons to act now in a home reading, from the patient's care plans.

    A reading that reaches a limit of a symptom action plan's red zone gives
    ``red-zone``; one that reaches an alert threshold set on a symptom action
    plan gives ``alert-threshold``. Only the reading patient's active (or on
    hold) plans count: a draft has not been agreed, a closed plan is no
    longer followed. Each finding is named once, in that order.

    >>> import pendulum
    >>> from carecore.model import Comparator, ReadingLimit, SymptomActionPlan, ZoneAction
    >>> high = ReadingLimit(measure="Systolic blood pressure", loinc="8480-6",
    ...     comparator=Comparator.GE, value="180", unit="mm[Hg]")
    >>> zones = SymptomActionPlan(id="s1", problem_id="pr1", title="Blood pressure",
    ...     green=ZoneAction(signs=["under 140"], actions=["keep going"]),
    ...     yellow=ZoneAction(signs=["140 to 179"], actions=["call the nurse"]),
    ...     red=ZoneAction(signs=["180 or above"], actions=["call now"], limits=[high]))
    >>> plan = CarePlan(id="cp1", patient_id="p1", title="Plan", families={ServiceFamily.CCM},
    ...     created_on=pendulum.Date(2026, 3, 1), status=CarePlanStatus.ACTIVE, symptom_plans=[zones])
    >>> cuff = Observation(id="o1", patient_id="p1", measure="Systolic blood pressure",
    ...     loinc="8480-6", value="182", unit="mm[Hg]", on=pendulum.Date(2026, 3, 4))
    >>> reading_findings(cuff, [plan])
    ('red-zone',)
    """
    red = alert = False
    for plan in plans:
        if plan.patient_id != reading.patient_id or plan.status not in _READING_PLANS:
            continue
        for zones in plan.symptom_plans:
            red = red or any(_reaches(limit, reading) for limit in zones.red.limits)
            alert = alert or any(_reaches(limit, reading) for limit in zones.alerts)
    return (("red-zone",) if red else ()) + (("alert-threshold",) if alert else ())


def _reaches(limit: ReadingLimit, reading: Observation) -> bool:
    return limit.reached_by(reading.loinc, reading.measure, reading.value, reading.unit)


def update_goals(
    plan: CarePlan, observations: Iterable[Observation], *, on: pendulum.Date
) -> CarePlan:
    """A new version with each open measurable goal's achievement set from *observations*."""
    seen = [o for o in observations if o.patient_id == plan.patient_id]
    goals = tuple(
        evolve(g, achievement=goal_progress(g, seen, on=on).achievement)
        if g.open and g.target
        else g
        for g in plan.goals
    )
    return revise(plan, goals=goals)


# -- CMS completeness ----------------------------------------------------------------------


class CmsElement(enum.Enum):
    """The elements CMS expects in a comprehensive care plan (CMS CCM booklet, MLN ICN 909188)."""

    PROBLEM_LIST = "problem-list"
    EXPECTED_OUTCOME = "expected-outcome"
    MEASURABLE_GOALS = "measurable-goals"
    ASSESSMENTS = "assessments"
    SYMPTOM_MANAGEMENT = "symptom-management"
    PLANNED_INTERVENTIONS = "planned-interventions"
    MEDICATION_MANAGEMENT = "medication-management"
    COMMUNITY_SERVICES = "community-services"
    PERIODIC_REVIEW = "periodic-review"
    SHARED_WITH_PATIENT = "shared-with-patient"
    RESPONSIBLE_PARTY = "responsible-party"


@frozen(kw_only=True)
class CompletenessReport:
    """Which CMS care-plan elements a plan has and which it lacks (each with what would supply it)."""

    plan_id: str
    version: int
    missing: tuple[CmsElement, ...]
    advice: tuple[tuple[CmsElement, str], ...] = ()

    @property
    def complete(self) -> bool:
        """True when no element is missing."""
        return not self.missing


_ASSESSED = (
    (
        {AssessmentDomain.COGNITIVE, AssessmentDomain.FUNCTIONAL},
        "a cognitive or functional assessment",
    ),
    (
        {AssessmentDomain.ENVIRONMENTAL, AssessmentDomain.SOCIAL_NEEDS},
        "an environmental (home, social needs) assessment",
    ),
    ({AssessmentDomain.CAREGIVER}, "a caregiver assessment"),
)


def completeness(plan: CarePlan) -> CompletenessReport:
    """List the CMS comprehensive care-plan elements *plan* lacks.

    The elements and where each lives in a plan are in
    :doc:`/explanation/clinical-core`. Community services count as present
    when the plan refers out or coordinates with outside agencies, or when
    none of its problems is a social need (nothing to refer).
    """
    checks: list[tuple[CmsElement, bool, str]] = []
    open_goals = [g for g in plan.goals if g.open]
    kinds = {t.kind for t in plan.tasks}
    domains = {a.domain for a in plan.assessments}
    social = any(p.need is not None for p in plan.problems)
    checks += [
        (
            CmsElement.PROBLEM_LIST,
            bool(plan.problems),
            "add the conditions and needs the plan addresses",
        ),
        (
            CmsElement.EXPECTED_OUTCOME,
            plan.expected_outcome is not None,
            "write the expected outcome and prognosis",
        ),
        (
            CmsElement.MEASURABLE_GOALS,
            any(g.measurable for g in open_goals),
            "give an open goal a measurable target",
        ),
    ]
    missing_domains = [words for group, words in _ASSESSED if not group & domains]
    checks.append(
        (CmsElement.ASSESSMENTS, not missing_domains, "record " + ", ".join(missing_domains))
    )
    checks += [
        (
            CmsElement.SYMPTOM_MANAGEMENT,
            bool(plan.symptom_plans),
            "add a symptom action plan (green/yellow/red)",
        ),
        (
            CmsElement.PLANNED_INTERVENTIONS,
            bool(plan.tasks),
            "plan interventions, each with an owner",
        ),
        (
            CmsElement.MEDICATION_MANAGEMENT,
            plan.medication_management is not None or InterventionKind.MEDICATION in kinds,
            "add medication management (a reconciliation task or a note)",
        ),
        (
            CmsElement.COMMUNITY_SERVICES,
            bool(plan.referrals)
            or bool({InterventionKind.COMMUNITY, InterventionKind.COORDINATION} & kinds)
            or not social,
            "refer the social needs to community services",
        ),
        (CmsElement.PERIODIC_REVIEW, plan.review is not None, "set a review schedule"),
        (
            CmsElement.SHARED_WITH_PATIENT,
            plan.shared_with_patient_on is not None,
            "give the patient a copy and record the date",
        ),
        (
            CmsElement.RESPONSIBLE_PARTY,
            plan.responsible_id is not None,
            "name the practitioner responsible for the plan",
        ),
    ]
    missing = tuple(element for element, ok, _ in checks if not ok)
    advice = tuple((element, words) for element, ok, words in checks if not ok)
    return CompletenessReport(plan_id=plan.id, version=plan.version, missing=missing, advice=advice)


def billing_care_plans(
    plans: Iterable[CarePlan], *, require_complete: bool = True
) -> Mapping[ServiceFamily, pendulum.Date]:
    """The care-plan dates billing reads from current plans: for each family, the earliest.

    Only active plans count and, with ``require_complete`` (the default),
    only plans that pass :func:`completeness`, so a month is not billed on a
    plan CMS would not accept. A plan cannot have been complete before the
    patient had a copy, so its date is the later of its creation and the day
    it was shared. The current version alone cannot say when a draft was
    agreed: a month close reads the plan's history instead
    (:func:`established_span`).
    """
    out: dict[ServiceFamily, pendulum.Date] = {}
    for plan in plans:
        if plan.status is not CarePlanStatus.ACTIVE:
            continue
        if require_complete and not completeness(plan).complete:
            continue
        day = _own_date(plan)
        for family in plan.families:
            if family not in out or day < out[family]:
                out[family] = day
    return out


def _own_date(plan: CarePlan | PlanVersion) -> pendulum.Date:
    shared = plan.shared_with_patient_on
    return plan.created_on if shared is None else max(plan.created_on, shared)


@frozen(kw_only=True)
class PlanVersion:
    """What billing reads of one stored care-plan version, without its content.

    A month close dates a plan from its versions: their status, their own
    dates and whether each was CMS-complete (:func:`completeness`). The
    complete flag is worked out once, when the version is written (a store
    keeps it beside the version), so a close need not build the plan's
    problems, goals, tasks and symptom plans again to read it. The audit
    packet's care-plan history reads the same fields.

    >>> import pendulum
    >>> from carecore.model import CarePlan, ServiceFamily
    >>> draft = CarePlan(id="cp1", patient_id="p1", title="t", families=[ServiceFamily.CCM],
    ...     created_on=pendulum.Date(2026, 1, 5))
    >>> PlanVersion.of(draft).complete
    False
    """

    id: str
    patient_id: str
    version: int
    status: CarePlanStatus
    families: frozenset[ServiceFamily]
    created_on: pendulum.Date
    shared_with_patient_on: pendulum.Date | None = None
    last_reviewed_on: pendulum.Date | None = None
    responsible_id: str | None = None
    #: Whether the version passes :func:`completeness`.
    complete: bool

    @classmethod
    def of(cls, plan: CarePlan) -> PlanVersion:
        """The version *plan*, with its completeness worked out."""
        return cls(
            id=plan.id,
            patient_id=plan.patient_id,
            version=plan.version,
            status=plan.status,
            families=plan.families,
            created_on=plan.created_on,
            shared_with_patient_on=plan.shared_with_patient_on,
            last_reviewed_on=plan.last_reviewed_on,
            responsible_id=plan.responsible_id,
            complete=completeness(plan).complete,
        )


def _complete(plan: CarePlan | PlanVersion) -> bool:
    return plan.complete if isinstance(plan, PlanVersion) else completeness(plan).complete


_ENDED = frozenset({CarePlanStatus.COMPLETED, CarePlanStatus.REVOKED})


@frozen(kw_only=True)
class PlanSpan:
    """When a care plan was in force for billing, read from its versions.

    ``established`` is the day it first became active and CMS-complete
    (None: never); ``ended`` the day it was completed or revoked after that
    (None: still in force). While in force, ``reviewed`` holds the days it
    was reviewed (monitored) and ``revised`` the days a version changed its
    problems or goals (a substantial revision). ``responsible_id`` is the
    practitioner responsible for it, in its latest version.
    """

    plan_id: str
    patient_id: str
    families: frozenset[ServiceFamily]
    established: pendulum.Date | None
    ended: pendulum.Date | None
    responsible_id: str | None = None
    reviewed: tuple[pendulum.Date, ...] = ()
    revised: tuple[pendulum.Date, ...] = ()

    def in_force(self, start: pendulum.Date, end: pendulum.Date) -> bool:
        """Whether the plan was established by *end* and had not ended before *start*."""
        return (
            self.established is not None
            and self.established <= end
            and (self.ended is None or self.ended >= start)
        )


def established_span(
    versions: Sequence[tuple[CarePlan | PlanVersion, pendulum.Date | None]],
    *,
    require_complete: bool = True,
) -> PlanSpan:
    """When the plan of *versions* (oldest first, each with the day it was written) was in force.

    The plan is established by the first version that is active and (with
    ``require_complete``) passes :func:`completeness`, on the day that
    version was written; never before the plan's own creation and sharing
    dates. A version whose writing day is unknown (None: a bulk import) is
    dated by those own dates. It ends with the first later version that is
    completed or revoked. Later drafts, holds and revisions do not undo an
    establishment: what was agreed stays agreed. A version may be given as
    its :class:`PlanVersion` (a store's close reads them so), except where a
    revision must be read from the content: each version after the one that
    established the plan, until it ends, is then a :class:`CarePlan`.

    >>> import pendulum
    >>> from carecore.model import CarePlan, ServiceFamily
    >>> draft = CarePlan(id="cp1", patient_id="p1", title="t", families=[ServiceFamily.CCM],
    ...     created_on=pendulum.Date(2026, 1, 5))
    >>> span = established_span([(draft, pendulum.Date(2026, 1, 5))], require_complete=False)
    >>> span.established is None
    True
    >>> agreed = draft.activate()
    >>> established_span([(draft, pendulum.Date(2026, 1, 5)), (agreed, pendulum.Date(2026, 3, 20))],
    ...     require_complete=False).established
    Date(2026, 3, 20)
    """
    if not versions:
        raise errors.InvalidValue("needs at least one version", field="versions", value=versions)
    first = versions[0][0]
    established: pendulum.Date | None = None
    ended: pendulum.Date | None = None
    reviewed: list[pendulum.Date] = []
    revised: list[pendulum.Date] = []
    before: CarePlan | PlanVersion | None = None
    for plan, written in versions:
        if not isinstance(plan, (CarePlan, PlanVersion)) or plan.id != first.id:
            raise errors.InvalidValue(
                f"must be versions of care plan {first.id}", field="versions", value=plan
            )
        own = _own_date(plan)
        day = own if written is None else max(own, written)
        if established is None:
            if plan.status is CarePlanStatus.ACTIVE and (not require_complete or _complete(plan)):
                established = day
        elif plan.status in _ENDED:
            ended = day
            break
        elif before is not None:
            review = plan.last_reviewed_on
            if review is not None and review != before.last_reviewed_on:
                reviewed.append(review)
            if _revises(before, plan):
                revised.append(day)
        before = plan
    return PlanSpan(
        plan_id=first.id,
        patient_id=first.patient_id,
        families=versions[-1][0].families,
        established=established,
        ended=ended,
        responsible_id=versions[-1][0].responsible_id,
        reviewed=tuple(reviewed),
        revised=tuple(revised),
    )


def _revises(before: CarePlan | PlanVersion, plan: CarePlan | PlanVersion) -> bool:
    """Whether *plan* substantially revises *before*, read from their content (CarePlan only)."""
    if not isinstance(before, CarePlan) or not isinstance(plan, CarePlan):
        raise errors.InvalidValue(
            "a revision is read from the plan's content: give its versions as CarePlan",
            field="versions",
            value=plan.id,
        )
    return _substantial(before, plan)


#: Goal fields whose change revises what the plan aims at (progress and status do not).
_GOAL_AIMS = frozenset({"description", "target", "problem_ids"})


def _substantial(old: CarePlan, new: CarePlan) -> bool:
    """Whether *new* adds, removes or redefines a problem or a goal of *old*."""
    for change in diff(old, new):
        if change.part not in {"problems", "goals"}:
            continue
        if change.what != "changed" or change.part == "problems":
            return True
        if _GOAL_AIMS & set(change.fields):
            return True
    return False
