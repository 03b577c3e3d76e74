"""Care plans (the first cut: identity, version and status).

The clinical content of a plan (problems, goals, interventions, the symptom
action plan) arrives with the clinical core; this value already carries what
stores, exports and optimistic concurrency need.
"""

from __future__ import annotations

import pendulum
from attrs import evolve, field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import CarePlanStatus, ServiceFamily
from carecore.model.people import PatientId

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

    @families.validator
    def _families_are_families(self, _attribute: object, value: frozenset[object]) -> None:
        bad = [f for f in value if not isinstance(f, ServiceFamily)]
        if bad or not value:
            raise errors.InvalidCode(
                "must be one or more ServiceFamily values",
                field="families",
                value=bad or value,
            )

    def _to(self, status: CarePlanStatus) -> CarePlan:
        if status not in _NEXT[self.status]:
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
