"""The simulation's TCM timing is the transitions module's (one TCM clock, one readmission window).

For generated discharge days, holiday calendars and day-counting
conventions, the deadlines the simulation schedules contacts and visits by
equal the ones an episode opened from a stored discharge gets, and the
readmission days it draws are exactly the days on which a stored admission
flags a readmission.
"""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carecore.billing import Switches, cms_rule_set
from carecore.billing.rules import HolidayCalendar, TcmDayCounting
from carecore.model import AdtEvent, AdtEventKind, CareSetting, PatientClass
from carecore.simulation._run import _episode, _readmission_day
from carecore.transitions import (
    READMISSION_DAYS,
    TransitionRules,
    apply_event,
    open_episode,
    readmission_window,
)

pytest.importorskip("numpy")

ZONE = "America/Chicago"
days = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 12, 31)).map(
    lambda d: pendulum.Date(d.year, d.month, d.day)
)


def _discharge(day: pendulum.Date, hour: int) -> AdtEvent:
    at = pendulum.datetime(day.year, day.month, day.day, hour, tz=ZONE)
    return AdtEvent(
        id="a1",
        source_key="M1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=at,
        discharged_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )


def _admit(day: pendulum.Date) -> AdtEvent:
    at = pendulum.datetime(day.year, day.month, day.day, 9, tz=ZONE)
    return AdtEvent(
        id="a2",
        source_key="M2",
        patient_id="p1",
        kind=AdtEventKind.ADMIT,
        occurred_at=at,
        admitted_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
    )


@settings(max_examples=80, deadline=None)
@example(day=pendulum.Date(2026, 11, 25), counting=TcmDayCounting.DISCHARGE_DAY_ZERO, subdiv=None)
@example(day=pendulum.Date(2024, 12, 20), counting=TcmDayCounting.DISCHARGE_DAY_ONE, subdiv="TX")
@given(
    day=days,
    counting=st.sampled_from(TcmDayCounting),
    subdiv=st.sampled_from([None, "TX", "CA"]),
)
def test_the_simulations_deadlines_are_the_stored_episodes(day, counting, subdiv):
    switches = Switches(business_days=HolidayCalendar(subdiv=subdiv), tcm_day_counting=counting)
    rules = TransitionRules.from_rule_set(cms_rule_set(2026, switches=switches))
    episode = open_episode(_discharge(day, 16), time_zone=ZONE, rules=rules)
    assert _episode(day, rules) == (
        episode.contact_due,
        episode.visit_due_7,
        episode.visit_due,
        episode.period_end,
    )
    # The medication-reconciliation deadline an episode opens with is the 14-day visit's.
    assert episode.med_rec_due == _episode(day, rules)[2]


@settings(max_examples=80, deadline=None)
@example(day=pendulum.Date(2026, 1, 31), u=0.0)
@example(day=pendulum.Date(2026, 1, 31), u=0.9999999)  # the window's last day (day 30)
@given(day=days, u=st.floats(min_value=0.0, max_value=1.0, exclude_max=True))
def test_a_simulated_readmission_is_one_a_stored_admission_flags(day, u):
    readmitted = _readmission_day(day, u)
    assert readmitted in readmission_window(day)
    episode = open_episode(_discharge(day, 16), time_zone=ZONE)
    (flagged,) = apply_event([episode], _admit(readmitted), time_zone=ZONE)
    assert flagged.readmitted


def test_the_draws_reach_every_day_of_the_window():
    day = pendulum.Date(2026, 3, 2)
    drawn = {_readmission_day(day, i / 3000) for i in range(3000)}
    assert drawn == {day.add(days=n) for n in range(1, READMISSION_DAYS + 1)}
    # The day after the window is not a readmission for the store either.
    episode = open_episode(_discharge(day, 16), time_zone=ZONE)
    assert apply_event([episode], _admit(day.add(days=READMISSION_DAYS + 1)), time_zone=ZONE) == []
