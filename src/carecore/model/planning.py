"""The parts of a care plan: problems, goals, barriers, tasks, zones, referrals, reviews.

Also the clinical facts plans are built from and measured against:
observations (an A1c, a weight, a blood pressure) and assessment results.
Tasks and referrals carry state machines; a move the machine does not allow
raises :class:`~carecore.errors.InvalidTransition`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs
import pendulum
from attrs import evolve, field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    AssessmentDomain,
    Comparator,
    GoalAchievement,
    GoalLifecycle,
    InterventionKind,
    ReferralStatus,
    SocialNeed,
    TaskStatus,
)
from carecore.model.people import PatientId

__all__ = [
    "CORRECTED_BY_SOURCE",
    "AssessmentNote",
    "AssessmentResult",
    "Barrier",
    "Goal",
    "ItemAnswer",
    "Observation",
    "Problem",
    "ReadingLimit",
    "Referral",
    "ReviewSchedule",
    "SymptomActionPlan",
    "Target",
    "Task",
    "ZoneAction",
]


def _ids(value: Any) -> tuple[str, ...]:
    return v.to_tuple(value)


_RATING_MAX = 10


def _rating(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _RATING_MAX
    ):
        raise errors.InvalidValue(
            "must be a whole number from 0 to 10", field=attribute.name, value=value
        )


def _compare(observed: Decimal, comparator: Comparator, value: Decimal) -> bool:
    """Whether *observed* *comparator* *value* holds (a goal's target, a reading's limit)."""
    if comparator is Comparator.LT:
        return observed < value
    if comparator is Comparator.LE:
        return observed <= value
    if comparator is Comparator.GT:
        return observed > value
    if comparator is Comparator.GE:
        return observed >= value
    return observed == value


@frozen(kw_only=True, field_transformer=v.name_errors)
class Problem:
    """Something the plan addresses: a condition or a social need.

    >>> Problem(id="pr1", description="Type 2 diabetes, not at goal", condition_id="c1").need is None
    True
    """

    id: str = field(validator=v.not_blank)
    description: str = field(validator=v.not_blank)
    condition_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    need: SocialNeed | None = field(default=None, validator=v.optional(v.one_of(SocialNeed)))


@frozen(kw_only=True, field_transformer=v.name_errors)
class Target:
    """A measurable target: *measure* *comparator* *value* *unit*, by *due*.

    >>> t = Target(measure="Hemoglobin A1c", loinc="4548-4", comparator=Comparator.LT, value="8.0",
    ...            unit="%", due=pendulum.Date(2026, 7, 1))
    >>> t.met_by(Decimal("7.4")), t.met_by(Decimal("8.0"))
    (True, False)
    """

    measure: str = field(validator=v.not_blank)
    comparator: Comparator = field(validator=v.one_of(Comparator))
    value: Decimal = field(converter=v.to_decimal)
    unit: str = field(validator=v.not_blank)
    due: pendulum.Date = field(converter=v.to_date)
    loinc: str | None = field(default=None, validator=v.optional(v.not_blank))

    def met_by(self, observed: Decimal) -> bool:
        """Whether an observed value meets the target."""
        return _compare(observed, self.comparator, self.value)

    def __str__(self) -> str:
        return f"{self.measure} {self.comparator.value} {self.value} {self.unit} by {self.due}"


@frozen(kw_only=True, field_transformer=v.name_errors)
class Goal:
    """A goal agreed with the patient. Lifecycle and achievement are kept apart, as in FHIR.

    ``confidence`` is the patient's 0-10 rating that they can reach it.
    """

    id: str = field(validator=v.not_blank)
    description: str = field(validator=v.not_blank)
    problem_ids: tuple[str, ...] = field(
        default=(), converter=_ids, validator=v.tuple_of(v.not_blank)
    )
    target: Target | None = field(
        default=None, validator=v.optional(v.instance_of(Target, "a Target"))
    )
    lifecycle: GoalLifecycle = field(
        default=GoalLifecycle.ACTIVE, validator=v.one_of(GoalLifecycle)
    )
    achievement: GoalAchievement = field(
        default=GoalAchievement.IN_PROGRESS, validator=v.one_of(GoalAchievement)
    )
    confidence: int | None = field(default=None, validator=_rating)

    @property
    def measurable(self) -> bool:
        """A goal is measurable when it has a target."""
        return self.target is not None

    @property
    def open(self) -> bool:
        """Still being worked on (not completed or cancelled)."""
        return self.lifecycle not in {GoalLifecycle.COMPLETED, GoalLifecycle.CANCELLED}


@frozen(kw_only=True, field_transformer=v.name_errors)
class Barrier:
    """Something in the way of a goal (cost, transport, health literacy...), and the plan for it."""

    id: str = field(validator=v.not_blank)
    description: str = field(validator=v.not_blank)
    goal_ids: tuple[str, ...] = field(default=(), converter=_ids, validator=v.tuple_of(v.not_blank))
    plan: str | None = field(default=None, validator=v.optional(v.not_blank))


_TASK_NEXT = {
    TaskStatus.REQUESTED: {TaskStatus.ACCEPTED, TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED},
    TaskStatus.ACCEPTED: {TaskStatus.IN_PROGRESS, TaskStatus.ON_HOLD, TaskStatus.CANCELLED},
    TaskStatus.IN_PROGRESS: {
        TaskStatus.ON_HOLD,
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.CANCELLED,
    },
    TaskStatus.ON_HOLD: {TaskStatus.IN_PROGRESS, TaskStatus.CANCELLED},
    TaskStatus.COMPLETED: set(),
    TaskStatus.CANCELLED: set(),
    TaskStatus.FAILED: set(),
}
_TASK_DONE = {TaskStatus.COMPLETED, TaskStatus.FAILED}


@frozen(kw_only=True, field_transformer=v.name_errors)
class Task:
    """A planned intervention or work item, with who owns it, when it is due and how it ended.

    >>> t = Task(id="t1", description="Teach insulin pen technique", owner="rn-park",
    ...          kind=InterventionKind.EDUCATION, due=pendulum.Date(2026, 1, 20))
    >>> t = t.moved(TaskStatus.IN_PROGRESS).moved(TaskStatus.COMPLETED, outcome="Demonstrated correctly")
    >>> t.status.value, t.outcome
    ('completed', 'Demonstrated correctly')
    >>> t.moved(TaskStatus.IN_PROGRESS)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidTransition: status=<TaskStatus.COMPLETED: 'completed'>: cannot change to <TaskStatus.IN_PROGRESS: 'in-progress'>
    """

    id: str = field(validator=v.not_blank)
    description: str = field(validator=v.not_blank)
    owner: str = field(validator=v.not_blank)
    kind: InterventionKind = field(validator=v.one_of(InterventionKind))
    due: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    status: TaskStatus = field(default=TaskStatus.REQUESTED, validator=v.one_of(TaskStatus))
    outcome: str | None = field(default=None, validator=v.optional(v.not_blank))
    goal_ids: tuple[str, ...] = field(default=(), converter=_ids, validator=v.tuple_of(v.not_blank))

    @outcome.validator
    def _outcome_when_done(self, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if self.status in _TASK_DONE and value is None:
            raise errors.InvalidValue(
                f"a {self.status.value} task records its outcome", field=attribute.name, value=value
            )

    def moved(self, to: TaskStatus, *, outcome: str | None = None) -> Task:
        """The task in status *to*; completing or failing it needs an *outcome*."""
        if to not in _TASK_NEXT[self.status]:
            raise errors.InvalidTransition(field="status", value=self.status, to=to)
        return evolve(self, status=to, outcome=outcome if outcome is not None else self.outcome)

    @property
    def open(self) -> bool:
        """Not yet completed, failed or cancelled."""
        return bool(_TASK_NEXT[self.status])


@frozen(kw_only=True, field_transformer=v.name_errors)
class ReadingLimit:
    """A limit on a home reading: a reading of *measure* *comparator* *value* *unit* reaches it.

    The reading is matched by LOINC code when the limit has one, else by
    measure name, and only in the same unit (no conversion).

    >>> limit = ReadingLimit(measure="Systolic blood pressure", loinc="8480-6",
    ...     comparator=Comparator.GE, value="180", unit="mm[Hg]")
    >>> limit.reached_by("8480-6", "Systolic blood pressure", Decimal("180"), "mm[Hg]")
    True
    >>> limit.reached_by("8480-6", "Systolic blood pressure", Decimal("179"), "mm[Hg]")
    False
    """

    measure: str = field(validator=v.not_blank)
    comparator: Comparator = field(validator=v.one_of(Comparator))
    value: Decimal = field(converter=v.to_decimal)
    unit: str = field(validator=v.not_blank)
    loinc: str | None = field(default=None, validator=v.optional(v.not_blank))

    def reached_by(self, loinc: str | None, measure: str, value: Decimal, unit: str) -> bool:
        """Whether a reading (its code, measure name, value and unit) reaches the limit."""
        same = loinc == self.loinc if self.loinc else measure == self.measure
        if not same or unit != self.unit:
            return False
        return _compare(value, self.comparator, self.value)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ZoneAction:
    """One zone of a symptom action plan: the signs that put you there and what to do.

    *limits* are the home readings that put the patient in the zone (a red
    zone's "systolic 180 or above"): any one reached is enough.
    """

    signs: tuple[str, ...] = field(converter=v.to_tuple, validator=v.tuple_of(v.not_blank))
    actions: tuple[str, ...] = field(converter=v.to_tuple, validator=v.tuple_of(v.not_blank))
    call: str | None = field(default=None, validator=v.optional(v.not_blank))
    limits: tuple[ReadingLimit, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(ReadingLimit, "a ReadingLimit")),
    )

    @signs.validator
    def _some(self, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        if not value:
            raise errors.InvalidValue("needs at least one sign", field=attribute.name, value=value)


@frozen(kw_only=True, field_transformer=v.name_errors)
class SymptomActionPlan:
    """What to do when symptoms of one condition change: green (doing well), yellow, red zones."""

    id: str = field(validator=v.not_blank)
    problem_id: str = field(validator=v.not_blank)
    title: str = field(validator=v.not_blank)
    green: ZoneAction = field(validator=v.instance_of(ZoneAction, "a ZoneAction"))
    yellow: ZoneAction = field(validator=v.instance_of(ZoneAction, "a ZoneAction"))
    red: ZoneAction = field(validator=v.instance_of(ZoneAction, "a ZoneAction"))
    #: Alert thresholds set on the plan for this patient: a home reading past
    #: any of them is a reason to act now, whatever zone it is in.
    alerts: tuple[ReadingLimit, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(ReadingLimit, "a ReadingLimit")),
    )


_REFERRAL_NEXT = {
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
    ReferralStatus.COMPLETED: set(),
    ReferralStatus.DECLINED: set(),
    ReferralStatus.CANCELLED: set(),
}
_CLOSED = {ReferralStatus.COMPLETED, ReferralStatus.DECLINED, ReferralStatus.CANCELLED}


@frozen(kw_only=True, field_transformer=v.name_errors)
class Referral:
    """A referral with a closed loop: sent, accepted, then completed or declined (with a reason).

    >>> r = Referral(id="rf1", to="Riverbend Food Bank", reason="Food insecurity",
    ...              need=SocialNeed.FOOD_INSECURITY)
    >>> r = r.moved(ReferralStatus.SENT, on=pendulum.Date(2026, 1, 6))
    >>> r.moved(ReferralStatus.DECLINED, on=pendulum.Date(2026, 1, 9))
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: status_reason=None: a declined or cancelled referral records why
    """

    id: str = field(validator=v.not_blank)
    to: str = field(validator=v.not_blank)
    reason: str = field(validator=v.not_blank)
    need: SocialNeed | None = field(default=None, validator=v.optional(v.one_of(SocialNeed)))
    status: ReferralStatus = field(default=ReferralStatus.DRAFT, validator=v.one_of(ReferralStatus))
    sent_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    closed_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    status_reason: str | None = field(default=None, validator=v.optional(v.not_blank))

    def moved(
        self, to: ReferralStatus, *, on: pendulum.Date, reason: str | None = None
    ) -> Referral:
        """The referral in status *to* on *on*; declining or cancelling needs a *reason*."""
        if to not in _REFERRAL_NEXT[self.status]:
            raise errors.InvalidTransition(field="status", value=self.status, to=to)
        if to in {ReferralStatus.DECLINED, ReferralStatus.CANCELLED} and reason is None:
            raise errors.InvalidValue(
                "a declined or cancelled referral records why", field="status_reason", value=None
            )
        return evolve(
            self,
            status=to,
            sent_on=on if to is ReferralStatus.SENT else self.sent_on,
            closed_on=on if to in _CLOSED else self.closed_on,
            status_reason=reason if reason is not None else self.status_reason,
        )

    @property
    def loop_closed(self) -> bool:
        """Completed, declined or cancelled: the team knows how it ended."""
        return self.status in _CLOSED


@frozen(kw_only=True, field_transformer=v.name_errors)
class ReviewSchedule:
    """How often the plan is reviewed, and when the next review and follow-up are due."""

    every_days: int = field(validator=v.int_between(1, 366))
    next_review: pendulum.Date = field(converter=v.to_date)
    follow_up: str | None = field(default=None, validator=v.optional(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class AssessmentNote:
    """A summary of one assessment domain in the plan (functional, caregiver, environment...)."""

    domain: AssessmentDomain = field(validator=v.one_of(AssessmentDomain))
    summary: str = field(validator=v.not_blank)
    result_id: str | None = field(default=None, validator=v.optional(v.not_blank))


#: The ``acknowledged_by`` of a home reading whose source corrected it before anyone
#: acknowledged it, taking back every urgent finding it had raised: the reading keeps
#: the findings it raised, and its worklist items close themselves ("corrected by the
#: source") instead of waiting for an acknowledgement (see
#: :meth:`carecore.service.CareProgram.correct_readings`).
CORRECTED_BY_SOURCE = "corrected-by-source"


@frozen(kw_only=True, field_transformer=v.name_errors)
class Observation:
    """A measured value for a patient on a day (a lab result, a home reading).

    >>> Observation(id="o1", patient_id="p1", measure="Hemoglobin A1c", loinc="4548-4",
    ...             value="7.9", unit="%", on=pendulum.Date(2026, 3, 1)).value
    Decimal('7.9')
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    measure: str = field(validator=v.not_blank)
    value: Decimal = field(converter=v.to_decimal)
    unit: str = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    loinc: str | None = field(default=None, validator=v.optional(v.not_blank))
    #: The reasons to act now the patient's care plans found in the reading when it
    #: was recorded (``red-zone``, ``alert-threshold``), as
    #: :meth:`~carecore.service.CareProgram.record_reading` stores it.
    findings: tuple[str, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.not_blank)
    )
    #: Who acknowledged the reading's findings, and when (both or neither):
    #: until then they top the owner's worklist. :data:`CORRECTED_BY_SOURCE` when a
    #: correction by the source took every finding back before anyone acknowledged it.
    acknowledged_by: str | None = field(default=None, validator=v.optional(v.not_blank))
    acknowledged_at: pendulum.DateTime | None = field(default=None, converter=v.to_optional_instant)

    @acknowledged_at.validator
    def _acknowledged_by_someone(self, attribute: attrs.Attribute[object], value: object) -> None:
        if (value is None) != (self.acknowledged_by is None):
            raise errors.InvalidValue(
                "an acknowledgement names who and when, both or neither",
                field=attribute.name,
                value=value,
            )


@frozen(kw_only=True, field_transformer=v.name_errors)
class ItemAnswer:
    """One answered item: the item id and the answer as given (codes, or a number as text).

    >>> ItemAnswer(item="96778-6", values=("LA28580-1", "LA32001-2")).values
    ('LA28580-1', 'LA32001-2')
    """

    item: str = field(validator=v.not_blank)
    values: tuple[str, ...] = field(converter=v.to_tuple, validator=v.tuple_of(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class AssessmentResult:
    """A scored instrument for a patient: the answers given and what they scored.

    Built by :meth:`carecore.service.CareProgram.assess` from
    :func:`carecore.instruments.score`; answers are kept as given (codes or numbers).
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    instrument_id: str = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    answers: tuple[ItemAnswer, ...] = field(
        converter=v.to_tuple, validator=v.tuple_of(v.instance_of(ItemAnswer, "an ItemAnswer"))
    )
    total: int | None = None
    band: str | None = field(default=None, validator=v.optional(v.not_blank))
    positive: bool | None = None
    flags: tuple[str, ...] = field(default=(), converter=v.to_tuple)
    needs: frozenset[SocialNeed] = field(default=frozenset(), converter=v.to_frozenset)
    performer_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    #: Who acknowledged the result's urgent findings, and when (both or neither):
    #: until then they top the owner's worklist.
    acknowledged_by: str | None = field(default=None, validator=v.optional(v.not_blank))
    acknowledged_at: pendulum.DateTime | None = field(default=None, converter=v.to_optional_instant)

    @acknowledged_at.validator
    def _acknowledged_by_someone(self, attribute: attrs.Attribute[object], value: object) -> None:
        if (value is None) != (self.acknowledged_by is None):
            raise errors.InvalidValue(
                "an acknowledgement names who and when, both or neither",
                field=attribute.name,
                value=value,
            )
