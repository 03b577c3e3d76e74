"""Ready-made records for tests of home readings: a blood-pressure action plan with a red zone.

A plugin that imports readings (FHIR, a device feed) or delivers their
alerts (mail, a chat) needs a patient whose care plan says what reading is
urgent. These builders give one, the same wherever a test needs it, so a
change to the care-plan model is made in one place:

>>> from carecore.testing.records import blood_pressure_plan
>>> plan = blood_pressure_plan()
>>> (zones,) = plan.symptom_plans
>>> zones.red.limits[0].loinc, zones.red.limits[0].comparator.value, zones.red.limits[0].value
('8480-6', '>=', Decimal('180'))

The plan is active from 1 March 2026, for CCM, and names no care team;
add a :class:`~carecore.model.CareTeam` with a care manager for the alert
to have someone to reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pendulum

from carecore.model import (
    CarePlan,
    CarePlanStatus,
    Comparator,
    ReadingLimit,
    ServiceFamily,
    SymptomActionPlan,
    Task,
    ZoneAction,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["blood_pressure_plan", "blood_pressure_zones", "systolic_limit"]

SYSTOLIC = "8480-6"
"""LOINC code of systolic blood pressure."""


def systolic_limit(value: str = "180", comparator: Comparator = Comparator.GE) -> ReadingLimit:
    """A limit on systolic blood pressure in mm[Hg] (LOINC 8480-6), at or above *value* by default.

    >>> systolic_limit("160").value
    Decimal('160')
    """
    return ReadingLimit(
        measure="Systolic blood pressure",
        loinc=SYSTOLIC,
        comparator=comparator,
        value=value,
        unit="mm[Hg]",
    )


def blood_pressure_zones(
    red: ReadingLimit | None = None, *, alerts: Iterable[ReadingLimit] = ()
) -> SymptomActionPlan:
    """Green, yellow and red zones for blood pressure; the red zone holds *red*.

    *red* defaults to :func:`systolic_limit` (180 or above). *alerts* are
    limits outside the zones (a weight gain, say) that also make a reading
    urgent.

    >>> blood_pressure_zones().red.signs
    ('180 or above',)
    """
    return SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep going"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(
            signs=["180 or above"], actions=["call now"], limits=[red or systolic_limit()]
        ),
        alerts=list(alerts),
    )


def blood_pressure_plan(
    patient_id: str = "p1",
    *,
    plan_id: str = "cp1",
    zones: SymptomActionPlan | None = None,
    tasks: Iterable[Task] = (),
) -> CarePlan:
    """An active CCM care plan for *patient_id* holding *zones* (default :func:`blood_pressure_zones`).

    >>> blood_pressure_plan("p7").patient_id
    'p7'
    """
    return CarePlan(
        id=plan_id,
        patient_id=patient_id,
        title="Plan",
        families={ServiceFamily.CCM},
        created_on=pendulum.Date(2026, 3, 1),
        status=CarePlanStatus.ACTIVE,
        symptom_plans=[zones or blood_pressure_zones()],
        tasks=list(tasks),
    )
