from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from carecore import errors
from carecore.clock import Clock, FixedClock, SystemClock


def test_fixed_clock_dates_follow_the_time_zone(carecore_clock):
    assert isinstance(carecore_clock, Clock)
    # 09:00 in Chicago is 15:00 UTC, still the 5th; 23:30 Chicago is the 6th in UTC.
    late = FixedClock(pendulum.datetime(2026, 1, 5, 23, 30, tz="America/Chicago"))
    assert late.today("America/Chicago") == pendulum.Date(2026, 1, 5)
    assert late.today("UTC") == pendulum.Date(2026, 1, 6)
    assert carecore_clock.advance(days=1).now() == carecore_clock.now().add(days=1)


def test_fixed_clock_refuses_naive_time():
    with pytest.raises(errors.NaiveDatetime) as caught:
        FixedClock(dt.datetime(2026, 1, 5))  # noqa: DTZ001
    assert caught.value.field == "at"


def test_system_clock_is_aware_and_current():
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert abs((now - pendulum.now("UTC")).total_seconds()) < 5
