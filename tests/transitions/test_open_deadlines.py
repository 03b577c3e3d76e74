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
