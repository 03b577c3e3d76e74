from __future__ import annotations

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.model import (
    Appointment,
    AppointmentStatus,
    ContactPreferences,
    Coverage,
    CoveragePlan,
)
from carecore.testing.strategies import coverages


def test_coverage_is_active_between_its_ends_inclusive():
    c = Coverage(
        id="c1",
        patient_id="p1",
        payer="Medicare",
        plan=CoveragePlan.MEDICARE_PART_B,
        start=pendulum.Date(2025, 1, 1),
        end=pendulum.Date(2025, 12, 31),
    )
    assert c.active_on(pendulum.Date(2025, 1, 1))
    assert c.active_on(pendulum.Date(2025, 12, 31))
    assert not c.active_on(pendulum.Date(2024, 12, 31))
    assert not c.active_on(pendulum.Date(2026, 1, 1))


def test_open_coverage_is_active_any_day():
    c = Coverage(id="c1", patient_id="p1", payer="Acme", plan=CoveragePlan.COMMERCIAL)
    assert c.plan is CoveragePlan.COMMERCIAL
    assert c.active_on(pendulum.Date(1990, 5, 5))


def test_coverage_ending_before_it_starts_is_refused():
    with pytest.raises(errors.InvalidValue) as info:
        Coverage(
            id="c1",
            patient_id="p1",
            payer="Medicare",
            plan=CoveragePlan.MEDICARE_PART_B,
            start=pendulum.Date(2025, 2, 1),
            end=pendulum.Date(2025, 1, 31),
        )
    assert info.value.field == "end"


def test_unknown_plan_names_the_field_and_value():
    with pytest.raises(errors.CarecoreError) as info:
        Coverage(id="c1", patient_id="p1", payer="Medicare", plan="part-z")
    assert info.value.field == "plan"
    assert info.value.value == "part-z"


@given(coverages(), st.integers(-4000, 4000))
def test_active_on_agrees_with_the_span(c: Coverage, offset: int) -> None:
    day = pendulum.Date(2024, 6, 1).add(days=offset)
    inside = (c.start is None or day >= c.start) and (c.end is None or day <= c.end)
    assert c.active_on(day) is inside


def test_appointment_defaults_to_booked_and_needs_an_aware_time():
    a = Appointment(id="a1", patient_id="p1", starts_at=pendulum.datetime(2026, 3, 2, 9, tz="UTC"))
    assert a.status is AppointmentStatus.BOOKED
    with pytest.raises(errors.CarecoreError) as info:
        Appointment(id="a1", patient_id="p1", starts_at="next tuesday")  # type: ignore[arg-type]
    assert info.value.field == "starts_at"


@pytest.mark.parametrize(
    ("field", "value"),
    [("phone", "555-1234"), ("phone", "+0123456789"), ("email", "ada at example.org")],
)
def test_contact_addresses_are_checked(field: str, value: str) -> None:
    with pytest.raises(errors.InvalidValue) as info:
        ContactPreferences(patient_id="p1", **{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert info.value.value == value


def test_address_for_a_channel():
    prefs = ContactPreferences(patient_id="p1", phone="+15551234567", email="ada@example.org")
    assert prefs.address_for("sms") == "+15551234567"
    assert prefs.address_for("email") == "ada@example.org"
    assert prefs.address_for("webhook") is None
