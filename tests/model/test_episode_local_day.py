"""A transition episode's discharge date is checked against the discharge's UTC day."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.model import CareSetting, TransitionEpisode
from carecore.model.transitions import _utc_day

ZONES = [
    "UTC",
    "America/Chicago",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Europe/Dublin",
    "Australia/Lord_Howe",
]


@settings(max_examples=500, deadline=None)
@given(
    at=st.datetimes(
        min_value=dt.datetime(1900, 1, 2),  # noqa: DTZ001 - wall times, put in a zone below
        max_value=dt.datetime(2200, 1, 1),  # noqa: DTZ001
    ),
    zone=st.sampled_from(ZONES),
    fold=st.sampled_from([0, 1]),
)
def test_the_utc_day_is_pendulums(at, zone, fold):
    instant = pendulum.instance(at.replace(fold=fold), tz=zone)
    assert _utc_day(instant) == instant.in_timezone("UTC").date().toordinal()


def _episode(at, day):
    return TransitionEpisode(
        id="ep1",
        patient_id="p1",
        discharge_event_id="a1",
        discharged_at=at,
        discharge_date=day,
        from_setting=CareSetting.INPATIENT_ACUTE,
    )


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_local_day_next_to_the_utc_day_is_taken(offset):
    at = pendulum.datetime(2026, 1, 5, 23, 30, tz="Pacific/Kiritimati")  # UTC: 5 Jan, 09:30
    assert _episode(at, pendulum.date(2026, 1, 5).add(days=offset)).discharge_date


@pytest.mark.parametrize("offset", [-2, 2])
def test_a_local_day_further_from_it_is_refused(offset):
    at = pendulum.datetime(2026, 1, 5, 0, 30, tz="America/Chicago")  # UTC: 5 Jan, 06:30
    with pytest.raises(errors.InvalidValue) as caught:
        _episode(at, pendulum.date(2026, 1, 5).add(days=offset))
    assert caught.value.field == "discharge_date"
