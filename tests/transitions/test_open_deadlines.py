"""One rule for which TCM deadlines are open: tasks, worklists and `tcm list` agree."""

from __future__ import annotations

import pendulum
from attrs import evolve

from carecore.model import CareSetting, EpisodeStatus, TransitionEpisode
from carecore.outreach import build_worklists
from carecore.transitions import tasks_for

EP = TransitionEpisode(
    id="ep1",
    patient_id="p1",
    discharge_event_id="a1",
    discharged_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
    from_setting=CareSetting.INPATIENT_ACUTE,
    contact_due=pendulum.Date(2026, 1, 7),
    visit_due_7=pendulum.Date(2026, 1, 12),
    visit_due=pendulum.Date(2026, 1, 19),
    med_rec_due=pendulum.Date(2026, 1, 19),
    period_end=pendulum.Date(2026, 2, 3),
)


def test_the_visit_is_chased_by_the_seven_day_deadline_everywhere():
    tasks = {t.id: t.due for t in tasks_for(EP, owner="rn1")}
    lists = build_worklists(today=pendulum.Date(2026, 1, 6), episodes=[EP])
    items = {i.kind: i.due for wl in lists.values() for i in wl.items}
    assert tasks == {
        "ep1:contact": pendulum.Date(2026, 1, 7),
        "ep1:visit": pendulum.Date(2026, 1, 12),
        "ep1:medrec": pendulum.Date(2026, 1, 19),
    }
    assert items == {
        "tcm-contact": pendulum.Date(2026, 1, 7),
        "tcm-visit": pendulum.Date(2026, 1, 12),
        "tcm-med-rec": pendulum.Date(2026, 1, 19),  # open until reconciled (issue 18)
    }


def test_without_a_seven_day_deadline_the_fourteen_day_one_is_chased():
    ep = evolve(EP, visit_due_7=None)
    assert ep.open_deadlines()["visit"] == pendulum.Date(2026, 1, 19)
    assert {t.id: t.due for t in tasks_for(ep, owner="rn1")}["ep1:visit"] == pendulum.Date(
        2026, 1, 19
    )


def test_done_work_and_closed_or_non_qualifying_episodes_have_no_deadlines():
    done = evolve(
        EP,
        contact_made_on=pendulum.Date(2026, 1, 6),
        visit_on=pendulum.Date(2026, 1, 10),
        med_rec_on=pendulum.Date(2026, 1, 10),
    )
    assert done.open_deadlines() == {}
    assert tasks_for(done, owner="rn1") == []
    assert evolve(EP, status=EpisodeStatus.CLOSED).open_deadlines() == {}
    assert evolve(EP, qualifies=False).open_deadlines() == {}


def test_deadlines_follow_the_rule_sets_calendar_and_day_counting():
    from carecore.billing import Switches, cms_rule_set
    from carecore.billing.rules import HolidayCalendar, TcmDayCounting
    from carecore.model import AdtEvent, AdtEventKind, PatientClass
    from carecore.transitions import TransitionRules, open_episode

    # Discharged Friday 2026-02-27. Monday 2026-03-02 is Texas Independence Day, a
    # Texas state holiday but not a federal one.
    event = AdtEvent(
        id="a1",
        source_key="k1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=pendulum.datetime(2026, 2, 27, 15, tz="America/Chicago"),
        patient_class=PatientClass.INPATIENT,
        admitted_at=pendulum.datetime(2026, 2, 24, 9, tz="America/Chicago"),
        discharged_at=pendulum.datetime(2026, 2, 27, 15, tz="America/Chicago"),
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )
    texas = cms_rule_set(
        2026,
        switches=Switches(
            business_days=HolidayCalendar(subdiv="TX"),
            tcm_day_counting=TcmDayCounting.DISCHARGE_DAY_ONE,
        ),
    )
    federal = open_episode(event, time_zone="America/Chicago")
    local = open_episode(
        event, time_zone="America/Chicago", rules=TransitionRules.from_rule_set(texas)
    )
    assert federal.contact_due == pendulum.Date(2026, 3, 3)  # Mon, Tue
    assert local.contact_due == pendulum.Date(2026, 3, 4)  # Tue, Wed
    assert federal.visit_due_7 == pendulum.Date(2026, 3, 6)  # discharge day is day 0
    assert local.visit_due_7 == pendulum.Date(2026, 3, 5)  # discharge day is day 1


def test_after_the_seven_days_the_visit_is_chased_by_the_fourteen_day_deadline():
    assert EP.open_deadlines(on=pendulum.Date(2026, 1, 12))["visit"] == pendulum.Date(2026, 1, 12)
    assert EP.open_deadlines(on=pendulum.Date(2026, 1, 13))["visit"] == pendulum.Date(2026, 1, 19)
    lists = build_worklists(today=pendulum.Date(2026, 1, 14), episodes=[EP])
    items = {i.kind: i.due for wl in lists.values() for i in wl.items}
    assert items["tcm-visit"] == pendulum.Date(2026, 1, 19)
