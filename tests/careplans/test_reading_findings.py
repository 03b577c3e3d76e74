"""A home reading's reasons to act now: the red zone's limits and the plan's alert thresholds."""

from __future__ import annotations

from decimal import Decimal

import pendulum
import pytest

from carecore import errors
from carecore.careplans import reading_findings
from carecore.model import (
    CarePlan,
    CarePlanStatus,
    Comparator,
    Observation,
    ReadingLimit,
    ServiceFamily,
    SymptomActionPlan,
    ZoneAction,
)

SYSTOLIC = "8480-6"
WEIGHT = "29463-7"


def limit(comparator, value, *, loinc=SYSTOLIC, unit="mm[Hg]", measure="Systolic blood pressure"):
    return ReadingLimit(measure=measure, loinc=loinc, comparator=comparator, value=value, unit=unit)


def plan(*, red=(), alerts=(), status=CarePlanStatus.ACTIVE, patient_id="p1"):
    zones = SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep taking your medicines"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(signs=["180 or above"], actions=["call now"], limits=red),
        alerts=alerts,
    )
    return CarePlan(
        id="cp1",
        patient_id=patient_id,
        title="Plan",
        families={ServiceFamily.CCM},
        created_on=pendulum.Date(2026, 3, 1),
        status=status,
        symptom_plans=[zones],
    )


def reading(value, *, loinc=SYSTOLIC, unit="mm[Hg]", measure="Systolic blood pressure"):
    return Observation(
        id="o1",
        patient_id="p1",
        measure=measure,
        loinc=loinc,
        value=value,
        unit=unit,
        on=pendulum.Date(2026, 3, 4),
    )


RED = plan(red=[limit(Comparator.GE, "180")])


@pytest.mark.parametrize(
    ("value", "expected"),
    [("179.9", ()), ("180", ("red-zone",)), ("180.1", ("red-zone",)), ("250", ("red-zone",))],
)
def test_the_red_zone_starts_at_its_limit(value, expected):
    assert reading_findings(reading(value), [RED]) == expected


@pytest.mark.parametrize(
    ("comparator", "at", "past", "short"),
    [
        (Comparator.GT, "200", "200.1", "200"),
        (Comparator.GE, "200", "200", "199.9"),
        (Comparator.LT, "70", "69.9", "70"),
        (Comparator.LE, "70", "70", "70.1"),
        (Comparator.EQ, "0", "0", "0.1"),
    ],
)
def test_an_alert_threshold_is_reached_on_its_side_of_the_boundary(comparator, at, past, short):
    glucose = plan(alerts=[limit(comparator, at, loinc="2339-0", unit="mg/dL", measure="Glucose")])

    def glucometer(value):
        return reading(value, loinc="2339-0", unit="mg/dL", measure="Glucose")

    assert reading_findings(glucometer(past), [glucose]) == ("alert-threshold",)
    assert reading_findings(glucometer(short), [glucose]) == ()


def test_both_reasons_are_named_once_each_in_order():
    both = plan(
        red=[limit(Comparator.GE, "180"), limit(Comparator.GE, "170")],
        alerts=[limit(Comparator.GE, "160")],
    )
    assert reading_findings(reading("185"), [both, both]) == ("red-zone", "alert-threshold")


def test_another_measure_or_unit_or_patient_or_a_plan_not_in_force_gives_nothing():
    assert reading_findings(reading("185", loinc=WEIGHT, unit="kg", measure="Weight"), [RED]) == ()
    assert reading_findings(reading("185", unit="kPa"), [RED]) == ()  # no unit conversion
    assert (
        reading_findings(
            reading("185"), [plan(red=RED.symptom_plans[0].red.limits, patient_id="p2")]
        )
        == ()
    )
    for status in (CarePlanStatus.DRAFT, CarePlanStatus.COMPLETED, CarePlanStatus.REVOKED):
        stale = plan(red=[limit(Comparator.GE, "180")], status=status)
        assert reading_findings(reading("185"), [stale]) == ()
    held = plan(red=[limit(Comparator.GE, "180")], status=CarePlanStatus.ON_HOLD)
    assert reading_findings(reading("185"), [held]) == ("red-zone",)
    assert reading_findings(reading("185"), []) == ()


def test_a_limit_without_a_code_matches_the_measure_name():
    by_name = plan(alerts=[limit(Comparator.GE, "110", loinc=None, unit="kg", measure="Weight")])
    assert reading_findings(reading("110", loinc=None, unit="kg", measure="Weight"), [by_name]) == (
        "alert-threshold",
    )
    assert (
        reading_findings(reading("110", loinc=WEIGHT, unit="kg", measure="Body weight"), [by_name])
        == ()
    )


def test_a_bad_limit_is_refused_by_field():
    with pytest.raises(errors.InvalidValue, match="comparator"):
        ReadingLimit(measure="Weight", comparator="about", value="1", unit="kg")
    with pytest.raises(errors.InvalidValue, match="limits"):
        ZoneAction(signs=["x"], actions=["y"], limits=[Decimal(180)])
