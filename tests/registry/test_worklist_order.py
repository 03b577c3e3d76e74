"""Worklist order (overdue, today, minutes late in the month, the rest) and items that close themselves."""

from __future__ import annotations

import pendulum
from attrs import evolve

from carecore.billing import cms_rule_set
from carecore.model import (
    CareSetting,
    DisenrollmentReason,
    Enrollment,
    ServiceFamily,
    TransitionEpisode,
)
from carecore.registry import BANDS, registry, registry_worklists, worklist_rows
from tests.registry.month_records import ccm_records, practitioner, time_entry

RULES = cms_rule_set(2026)
TZ = "America/Chicago"
LATE_MARCH = pendulum.Date(2026, 3, 25)


def episode(eid, pid, discharged, *, contact_made=None):
    day = pendulum.Date.fromisoformat(discharged)
    return TransitionEpisode(
        id=eid,
        patient_id=pid,
        discharge_event_id=f"adt-{eid}",
        discharged_at=pendulum.datetime(day.year, day.month, day.day, 11, tz=TZ),
        from_setting=CareSetting.INPATIENT_ACUTE,
        contact_due=day.add(days=2),
        visit_due=day.add(days=14),
        period_end=day.add(days=29),
        contact_made_on=contact_made,
    )


def world(today):
    """p1 enrolled (minutes to log), p2 just discharged and only identified for CCM."""
    p1 = ccm_records("p1")
    p2 = ccm_records("p2")
    return {
        "today": today,
        "enrollments": [
            *p1["enrollments"],
            Enrollment.identify(
                id="p2-ccm",
                patient_id="p2",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=pendulum.Date(2026, 3, 1),
            ),
        ],
        "patients": [*p1["patients"], *p2["patients"]],
        "practitioners": [practitioner()],
        "conditions": p1["conditions"],
        "consents": p1["consents"],
        "visits": p1["visits"],
        "care_plans": p1["care_plans"],
        "time_entries": [time_entry("t1", "p1", 12, pendulum.Date(2026, 3, 2))],
        "episodes": [episode("ep2", "p2", "2026-03-16")],
        "rules": RULES,
        "time_zone": TZ,
    }


def test_overdue_then_today_then_minutes_in_the_months_last_ten_days():
    lists = registry_worklists(**world(LATE_MARCH))
    (dr,) = lists.values()
    assert [(i.kind, i.patient_id, str(i.due)) for i in dr.items] == [
        ("task", "p1", "2026-01-12"),  # overdue, the oldest first
        ("task", "p1", "2026-01-19"),
        ("tcm-contact", "p2", "2026-03-18"),
        ("enrollment-outreach", "p2", "2026-03-25"),  # due today
        ("minutes-to-threshold", "p1", "2026-03-31"),  # the month's last ten days
        ("tcm-visit", "p2", "2026-03-30"),  # the rest, by due date
        ("ccm-check-in", "p1", "2026-03-31"),
    ]
    rows = worklist_rows(lists.values(), today=LATE_MARCH, patients=world(LATE_MARCH)["patients"])
    bands = [BANDS.index(r.band) for r in rows]
    assert bands == sorted(bands)
    first = rows[2]
    assert first.overdue
    assert first.overdue_since == pendulum.Date(2026, 3, 18)
    assert first.patient_name != "p2"  # a display name, not the id
    assert first.patient_name.endswith(", " + world(LATE_MARCH)["patients"][1].given_name)
    assert first.action.startswith("Call the patient")
    assert not rows[3].overdue
    assert rows[3].overdue_since is None
    assert rows[3].band == "today"


def test_minutes_wait_their_turn_earlier_in_the_month():
    day = pendulum.Date(2026, 3, 17)
    (dr,) = registry_worklists(**world(day)).values()
    kinds = [i.kind for i in dr.items]
    # On the 17th the minutes are ordinary work due on the 31st, after the check-in.
    assert kinds[2:] == [
        "enrollment-outreach",  # due today; the contact is due tomorrow
        "tcm-contact",
        "tcm-visit",
        "ccm-check-in",
        "minutes-to-threshold",
    ]


def test_an_expired_tcm_episode_closes_its_items_with_the_reason():
    w = world(LATE_MARCH)
    w["episodes"] = [episode("ep2", "p2", "2026-02-10")]  # its 30 days ended on 03-11
    (dr,) = registry_worklists(**w).values()
    assert not [i for i in dr.items if i.kind.startswith("tcm-")]
    closed = [(c.item.kind, c.item.detail) for c in dr.closed]
    assert ("tcm-contact", "ep2") in closed
    assert all("expired" in c.reason and "2026-03-11" in c.reason for c in dr.closed)
    rows = worklist_rows([dr], today=LATE_MARCH)
    assert [r.band for r in rows if r.closed_reason] == ["closed"] * len(dr.closed)
    # Two weeks on, the closed items are no longer shown.
    w["today"] = pendulum.Date(2026, 4, 10)
    (later,) = registry_worklists(**w).values()
    assert later.closed == ()


def test_a_deceased_patients_items_close_with_the_day_of_death():
    w = world(LATE_MARCH)
    w["patients"] = [
        w["patients"][0],
        evolve(w["patients"][1], date_of_death=pendulum.Date(2026, 3, 20)),
    ]
    (dr,) = registry_worklists(**w).values()
    assert not [i for i in dr.items if i.patient_id == "p2"]
    reasons = {c.item.kind: c.reason for c in dr.closed if c.item.patient_id == "p2"}
    assert reasons["tcm-contact"] == "the patient died on 2026-03-20"
    assert reasons["enrollment-outreach"] == "the patient died on 2026-03-20"


def test_a_patient_who_left_the_program_is_not_offered_it_again():
    w = world(LATE_MARCH)
    p1 = ccm_records("p1")
    left = p1["enrollments"][0].disenroll(
        pendulum.Date(2026, 3, 20), DisenrollmentReason.PATIENT_REQUEST
    )
    w["enrollments"] = [left, *w["enrollments"][1:]]
    w["eligibility"] = registry(
        w["patients"][:1],
        as_of=LATE_MARCH,
        conditions=p1["conditions"],
        families=[ServiceFamily.CCM],
    )
    assert w["eligibility"][0].eligible
    (dr,) = registry_worklists(**w).values()
    assert "eligible-not-enrolled" not in {i.kind for i in dr.items}
    (closed,) = [c for c in dr.closed if c.item.kind == "eligible-not-enrolled"]
    assert closed.reason == "the patient left the CCM program on 2026-03-20 (patient request)"


def test_a_patient_who_left_every_program_has_their_plan_work_closed():
    w = world(LATE_MARCH)
    p1 = ccm_records("p1")
    left = p1["enrollments"][0].disenroll(pendulum.Date(2026, 3, 20), DisenrollmentReason.MOVED)
    w["enrollments"] = [left, *w["enrollments"][1:]]
    (dr,) = registry_worklists(**w).values()
    assert "task" not in {i.kind for i in dr.items if i.patient_id == "p1"}
    reasons = {(c.item.kind, c.reason) for c in dr.closed if c.item.patient_id == "p1"}
    assert reasons == {("task", "the patient left the CCM program on 2026-03-20 (moved)")}
    # p2 is still in outreach: their work stays.
    assert {"tcm-contact", "enrollment-outreach"} <= {
        i.kind for i in dr.items if i.patient_id == "p2"
    }


def test_a_task_item_says_what_the_task_is():
    w = world(LATE_MARCH)
    lists = registry_worklists(**w)
    (row, *_) = worklist_rows(lists.values(), today=LATE_MARCH, care_plans=w["care_plans"])
    (plan,) = w["care_plans"]
    task = next(t for t in plan.tasks if f"{plan.id}/{t.id}" == row.detail)
    assert row.action == f"Do the care-plan task: {task.description}"
    (bare, *_) = worklist_rows(lists.values(), today=LATE_MARCH)
    assert bare.action == f"Do the care-plan task ({row.detail})"  # without the plans: the ids


def test_a_deceased_patients_closed_items_are_shown_two_weeks_then_dropped():
    # Issue 22: the demo's worklist listed the closed work of patients who died months ago.
    w = world(LATE_MARCH)
    w["patients"] = [
        w["patients"][0],
        evolve(w["patients"][1], date_of_death=pendulum.Date(2026, 3, 20)),
    ]
    w["today"] = pendulum.Date(2026, 4, 3)  # 14 days after: still shown
    (dr,) = registry_worklists(**w).values()
    assert {c.item.patient_id for c in dr.closed} >= {"p2"}
    w["today"] = pendulum.Date(2026, 4, 4)
    (later,) = registry_worklists(**w).values()
    assert not [i for i in later.items if i.patient_id == "p2"]
    assert not [c for c in later.closed if c.item.patient_id == "p2"]


def test_work_of_a_patient_who_left_long_ago_is_neither_open_nor_listed_as_closed():
    w = world(LATE_MARCH)
    p1 = ccm_records("p1")
    left = p1["enrollments"][0].disenroll(
        pendulum.Date(2026, 3, 20), DisenrollmentReason.PATIENT_REQUEST
    )
    w["enrollments"] = [left, *w["enrollments"][1:]]
    w["eligibility"] = registry(
        w["patients"][:1],
        as_of=LATE_MARCH,
        conditions=p1["conditions"],
        families=[ServiceFamily.CCM],
    )
    w["today"] = pendulum.Date(2026, 5, 1)
    (dr,) = registry_worklists(**w).values()
    assert not [i for i in dr.items if i.patient_id == "p1"]
    assert not [c for c in dr.closed if c.item.patient_id == "p1"]
