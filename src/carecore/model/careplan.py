"""Care plans: what the team and the patient agreed to work on, versioned.

A plan holds its problems, goals (with measurable targets), barriers,
interventions and tasks, symptom action plans, referrals, assessment
summaries and review schedule. Every change is a new ``version``; the store
keeps every version. The operations that build and revise plans live in
:mod:`carecore.careplans`.
"""

from __future__ import annotations

import pendulum
from attrs import evolve, field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import CarePlanStatus, ServiceFamily
from carecore.model.people import PatientId
from carecore.model.planning import (
    AssessmentNote,
    Barrier,
    Goal,
    Problem,
    Referral,
    ReviewSchedule,
    SymptomActionPlan,
    Task,
)

__all__ = ["CarePlan"]

_NEXT = {
    CarePlanStatus.DRAFT: {CarePlanStatus.ACTIVE, CarePlanStatus.REVOKED},
    CarePlanStatus.ACTIVE: {
        CarePlanStatus.ON_HOLD,
        CarePlanStatus.COMPLETED,
        CarePlanStatus.REVOKED,
    },
    CarePlanStatus.ON_HOLD: {
        CarePlanStatus.ACTIVE,
        CarePlanStatus.COMPLETED,
        CarePlanStatus.REVOKED,
    },
    CarePlanStatus.COMPLETED: set(),
    CarePlanStatus.REVOKED: set(),
}


@frozen(kw_only=True, field_transformer=v.name_errors)
class CarePlan:
    """A patient's care plan for one or more programs. Each change makes a new ``version``.

    >>> plan = CarePlan(id="cp1", patient_id="p1", title="Diabetes and heart failure",
    ...                 families=[ServiceFamily.CCM], created_on=pendulum.Date(2026, 1, 5))
    >>> plan.activate().version, plan.activate().status.value
    (2, 'active')
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    title: str = field(validator=v.not_blank)
    families: frozenset[ServiceFamily] = field(
        converter=v.to_frozenset,
        validator=v.instance_of(frozenset, "a set of ServiceFamily"),
    )
    created_on: pendulum.Date = field(converter=v.to_date)
    status: CarePlanStatus = field(default=CarePlanStatus.DRAFT, validator=v.one_of(CarePlanStatus))
    version: int = field(default=1, validator=v.int_between(1))
    problems: tuple[Problem, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.instance_of(Problem, "a Problem"))
    )
    goals: tuple[Goal, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.instance_of(Goal, "a Goal"))
    )
    barriers: tuple[Barrier, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.instance_of(Barrier, "a Barrier"))
    )
    tasks: tuple[Task, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.instance_of(Task, "a Task"))
    )
    symptom_plans: tuple[SymptomActionPlan, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(SymptomActionPlan, "a SymptomActionPlan")),
    )
    referrals: tuple[Referral, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(Referral, "a Referral")),
    )
    assessments: tuple[AssessmentNote, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(AssessmentNote, "an AssessmentNote")),
    )
    expected_outcome: str | None = field(default=None, validator=v.optional(v.not_blank))
    medication_management: str | None = field(default=None, validator=v.optional(v.not_blank))
    review: ReviewSchedule | None = field(
        default=None, validator=v.optional(v.instance_of(ReviewSchedule, "a ReviewSchedule"))
    )
    responsible_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    contributors: tuple[str, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.not_blank)
    )
    shared_with_patient_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    last_reviewed_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)

    @goals.validator
    def _unique_ids(self, _attribute: object, _value: object) -> None:
        for name in ("problems", "goals", "barriers", "tasks", "symptom_plans", "referrals"):
            # Parts of the wrong type (None, a dict) are refused by name by their own
            # field's validator, which runs after this one: skip them here.
            ids = [part.id for part in getattr(self, name) if hasattr(part, "id")]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise errors.InvalidValue(
                    "ids must be unique within a plan", field=f"{name}.id", value=dupes[0]
                )

    @families.validator
    def _families_are_families(self, _attribute: object, value: frozenset[object]) -> None:
        bad = [f for f in value if not isinstance(f, ServiceFamily)]
        if bad or not value:
            raise errors.InvalidCode(
                "must be one or more ServiceFamily values",
                field="families",
                value=bad or value,
            )

    def can_become(self, status: CarePlanStatus) -> bool:
        """Whether the plan's status may change to *status* (staying the same is always allowed).

        >>> CarePlan(id="cp1", patient_id="p1", title="t", families=[ServiceFamily.CCM],
        ...          created_on=pendulum.Date(2026, 1, 5)).can_become(CarePlanStatus.COMPLETED)
        False
        """
        return status is self.status or status in _NEXT[self.status]

    def _to(self, status: CarePlanStatus) -> CarePlan:
        if status is self.status or not self.can_become(status):
            raise errors.InvalidTransition(field="status", value=self.status, to=status)
        return evolve(self, status=status, version=self.version + 1)

    def activate(self) -> CarePlan:
        """The plan agreed with the patient and in effect (a new version)."""
        return self._to(CarePlanStatus.ACTIVE)

    def hold(self) -> CarePlan:
        """Put an active plan on hold (a new version)."""
        return self._to(CarePlanStatus.ON_HOLD)

    def complete(self) -> CarePlan:
        """Close the plan as completed (a new version)."""
        return self._to(CarePlanStatus.COMPLETED)

    def resume(self) -> CarePlan:
        """Take a plan off hold (a new version)."""
        if self.status is not CarePlanStatus.ON_HOLD:
            raise errors.InvalidTransition(
                field="status", value=self.status, to=CarePlanStatus.ACTIVE
            )
        return self._to(CarePlanStatus.ACTIVE)

    def revoke(self) -> CarePlan:
        """Withdraw the plan (a new version): the patient left, or it was made in error."""
        return self._to(CarePlanStatus.REVOKED)
