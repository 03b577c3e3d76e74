"""Transition episodes: deadlines across weekends, holidays and year ends; readmissions, cancels, death."""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.billing.rules import HolidayCalendar, TcmDayCounting
from carecore.model import AdtEvent, AdtEventKind, CareSetting, EpisodeStatus, PatientClass
from carecore.transitions import (
    TransitionRules,
    apply_event,
    open_episode,
    record_contact,
    record_death,
    record_med_rec,
    record_visit,
    tasks_for,
)

TZ = "America/New_York"


def event(
    kind,
    day,
    *,
    visit="V1",
    trigger=None,
    hour=15,
    frm=CareSetting.INPATIENT_ACUTE,
    to=CareSetting.HOME,
):
    at = pendulum.datetime(day.year, day.month, day.day, hour, tz=TZ)
    return AdtEvent(
        id=f"MSG-{visit}-{trigger or kind.value}-{day}",
        visit_number=visit,
        source_key=f"MSG-{visit}-{kind.value}-{day}",
        patient_id="p1",
        kind=kind,
        occurred_at=at,
        discharged_at=at if kind is AdtEventKind.DISCHARGE else None,
        patient_class=PatientClass.INPATIENT,
        from_setting=frm,
        to_setting=to,
    )


def discharge(day, **kw):
    return event(AdtEventKind.DISCHARGE, day, **kw)


@pytest.mark.parametrize(
    ("day", "contact_due", "why"),
    [
        (pendulum.Date(2026, 3, 4), pendulum.Date(2026, 3, 6), "Wednesday: Thursday, Friday"),
        (pendulum.Date(2026, 3, 5), pendulum.Date(2026, 3, 9), "Thursday: Friday, then Monday"),
        (pendulum.Date(2026, 3, 7), pendulum.Date(2026, 3, 10), "Saturday: Monday, Tuesday"),
        (pendulum.Date(2026, 11, 25), pendulum.Date(2026, 11, 30), "Thanksgiving Thursday"),
        (
            pendulum.Date(2026, 12, 23),
            pendulum.Date(2026, 12, 28),
            "Christmas Friday, then a weekend",
        ),
        (
            pendulum.Date(2026, 12, 30),
            pendulum.Date(2027, 1, 4),
            "New Year's Day, into the next year",
        ),
        (pendulum.Date(2027, 1, 15), pendulum.Date(2027, 1, 20), "Friday before MLK Day"),
        (pendulum.Date(2026, 6, 18), pendulum.Date(2026, 6, 23), "Juneteenth Friday"),
    ],
)
def test_contact_window_skips_weekends_and_federal_holidays(day, contact_due, why):
    assert open_episode(discharge(day), time_zone=TZ).contact_due == contact_due, why


def test_visit_deadlines_period_and_year_end():
    ep = open_episode(discharge(pendulum.Date(2026, 12, 28)), time_zone=TZ)
    assert (ep.visit_due_7, ep.visit_due, ep.med_rec_due, ep.period_end) == (
        pendulum.Date(2027, 1, 4),
        pendulum.Date(2027, 1, 11),
        pendulum.Date(2027, 1, 11),
        pendulum.Date(2027, 1, 26),
    )
    day_one = open_episode(
        discharge(pendulum.Date(2026, 12, 28)),
        time_zone=TZ,
        rules=TransitionRules(day_counting=TcmDayCounting.DISCHARGE_DAY_ONE),
    )
    assert (day_one.visit_due_7, day_one.visit_due) == (
        pendulum.Date(2027, 1, 3),
        pendulum.Date(2027, 1, 10),
    )


def test_a_practice_calendar_adds_its_own_closures():
    rules = TransitionRules(calendar=HolidayCalendar(closed=frozenset({pendulum.Date(2026, 3, 5)})))
    assert open_episode(
        discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ, rules=rules
    ).contact_due == pendulum.Date(2026, 3, 9)


def test_the_local_date_decides_the_discharge_day():
    late = AdtEvent(
        id="V9:A03",
        source_key="M9",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=pendulum.datetime(2026, 3, 5, 3, tz="UTC"),  # still March 4 in New York
        discharged_at=pendulum.datetime(2026, 3, 5, 3, tz="UTC"),
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.OBSERVATION,
        to_setting=CareSetting.HOME,
    )
    assert open_episode(late, time_zone=TZ).discharge_date == pendulum.Date(2026, 3, 4)


@pytest.mark.parametrize(
    ("frm", "to"),
    [
        (CareSetting.INPATIENT_ACUTE, CareSetting.SKILLED_NURSING_FACILITY),
        (CareSetting.EMERGENCY_DEPARTMENT, CareSetting.HOME),
        (CareSetting.INPATIENT_ACUTE, CareSetting.INPATIENT_ACUTE),
    ],
)
def test_non_qualifying_discharges_are_listed_closed_without_deadlines(frm, to):
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4), frm=frm, to=to), time_zone=TZ)
    assert (ep.qualifies, ep.status, ep.contact_due, ep.visit_due) == (
        False,
        EpisodeStatus.CLOSED,
        None,
        None,
    )
    assert tasks_for(ep, owner="rn") == []


@given(st.dates(min_value=pendulum.Date(2024, 1, 1), max_value=pendulum.Date(2030, 12, 31)))
def test_contact_due_is_the_second_business_day_after(day):
    day = pendulum.Date(day.year, day.month, day.day)
    cal = HolidayCalendar()
    due = open_episode(discharge(day), time_zone=TZ).contact_due
    between = [day.add(days=n) for n in range(1, (due - day).days + 1)]
    assert cal.is_business_day(due)
    assert sum(cal.is_business_day(d) for d in between) == 2


def test_contacts_visits_and_med_rec_complete_the_episode():
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ)
    ids = [t.id for t in tasks_for(ep, owner="rn-1")]
    assert ids == [f"{ep.id}:contact", f"{ep.id}:visit", f"{ep.id}:medrec"]
    assert [t.id for t in tasks_for(ep, owner="rn-1")] == ids  # stable across retries
    ep = record_contact(ep, on=pendulum.Date(2026, 3, 5), successful=False)
    ep = record_contact(ep, on=pendulum.Date(2026, 3, 5), successful=False)
    assert ep.contact_attempts == (pendulum.Date(2026, 3, 5),)
    ep = record_contact(ep, on=pendulum.Date(2026, 3, 6), successful=True)
    assert [t.id for t in tasks_for(ep, owner="rn-1")] == ids[1:]
    ep = record_visit(ep, on=pendulum.Date(2026, 3, 10))
    assert ep.med_rec_due == pendulum.Date(2026, 3, 10)
    ep = record_med_rec(ep, on=pendulum.Date(2026, 3, 10))
    assert ep.status is EpisodeStatus.COMPLETED
    assert ep.version == 6
    with pytest.raises(errors.InvalidTransition):
        record_contact(ep, on=pendulum.Date(2026, 3, 11), successful=True)


def test_a_visit_inside_the_window_is_the_contact():
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ)
    ep = record_visit(ep, on=pendulum.Date(2026, 3, 5))
    assert ep.contact_made_on == pendulum.Date(2026, 3, 5)


def test_contacts_before_discharge_are_refused():
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ)
    with pytest.raises(errors.InvalidValue) as info:
        record_contact(ep, on=pendulum.Date(2026, 3, 3), successful=True)
    assert info.value.field == "on"


def test_readmission_is_flagged_and_a_cancelled_admission_takes_it_back():
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ)
    a01 = event(AdtEventKind.ADMIT, pendulum.Date(2026, 3, 20), visit="V2")
    (readmitted,) = apply_event([ep], a01, time_zone=TZ)
    assert (readmitted.readmitted, readmitted.readmission_event_id) == (True, a01.id)
    later = event(AdtEventKind.ADMIT, pendulum.Date(2026, 4, 20), visit="V3")
    assert apply_event([ep], later, time_zone=TZ) == []  # outside the 30 days
    a11 = event(AdtEventKind.CANCEL_ADMIT, pendulum.Date(2026, 3, 20), visit="V2", trigger="A11")
    assert apply_event([readmitted], a11, time_zone=TZ) == []  # without the history it cannot tell
    (undone,) = apply_event([readmitted], a11, time_zone=TZ, history=[a01])
    assert (undone.readmitted, undone.readmission_event_id) == (False, None)


def test_an_admission_of_the_same_stay_arriving_late_is_not_a_readmission():
    a03 = discharge(pendulum.Date(2026, 3, 4))
    (ep,) = apply_event([], a03, time_zone=TZ)
    a01 = event(AdtEventKind.ADMIT, pendulum.Date(2026, 3, 1))  # the same visit's A01, out of order
    assert apply_event([ep], a01, time_zone=TZ, history=[a03]) == []


def test_a_cancelled_discharge_cancels_its_episode_and_a_repeat_opens_nothing():
    a03 = discharge(pendulum.Date(2026, 3, 4))
    (ep,) = apply_event([], a03, time_zone=TZ)
    assert apply_event([ep], a03, time_zone=TZ) == []
    a13 = event(AdtEventKind.CANCEL_DISCHARGE, pendulum.Date(2026, 3, 4), trigger="A13")
    (cancelled,) = apply_event([ep], a13, time_zone=TZ, history=[a03])
    assert cancelled.status is EpisodeStatus.CANCELLED
    assert tasks_for(cancelled, owner="rn") == []


def test_death_closes_an_open_episode_in_its_period():
    ep = open_episode(discharge(pendulum.Date(2026, 3, 4)), time_zone=TZ)
    closed = record_death(ep, on=pendulum.Date(2026, 3, 15))
    assert (closed.status, closed.close_reason) == (
        EpisodeStatus.CLOSED,
        "patient died on 2026-03-15",
    )
    assert record_death(ep, on=pendulum.Date(2026, 5, 1)) is ep
