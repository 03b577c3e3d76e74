"""ThresholdReached fires when the billing engine says an entry reached a code, not on a count of its own."""

from __future__ import annotations

import pendulum
from attrs import evolve

from carecore.clock import FixedClock
from carecore.model import RoleClass
from carecore.notify import NotificationRule
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient
from tests.registry.month_records import agreed_plan, ccm_records, practitioner, time_entry

NOW = pendulum.datetime(2026, 3, 25, 15, tz="UTC")


def _program(carecore_pm, records):
    rule = NotificationRule(
        id="threshold",
        event="ThresholdReached",
        channel="console",
        recipient="billing",
        subject="{code} {month} {minutes}",
    )
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=[rule]
    )
    with program.transaction("setup") as tx:
        tx.add(practitioner())
        for items in records.values():
            for item in items:
                tx.add(item)
    return program


def _reached(program):
    with program.transaction("check") as tx:
        return sorted(tuple(i.message.subject.split()) for i in tx.outbox())


def test_physician_minutes_count_toward_99490_as_the_engine_counts_them(carecore_pm):
    program = _program(carecore_pm, ccm_records("p1"))
    program.record_time(
        time_entry("t1", "p1", 12, pendulum.Date(2026, 3, 2), role=RoleClass.PHYSICIAN)
    )
    assert _reached(program) == []
    program.record_time(time_entry("t2", "p1", 10, pendulum.Date(2026, 3, 3)))  # 22 countable
    assert _reached(program) == [("99490", "2026-03", "22")]


def test_minutes_before_consent_or_by_a_chw_do_not_reach_99490(carecore_pm):
    records = ccm_records("p1")
    records["consents"] = [evolve(records["consents"][0], obtained_on=pendulum.Date(2026, 3, 10))]
    program = _program(carecore_pm, records)
    program.record_time(time_entry("t1", "p1", 15, pendulum.Date(2026, 3, 2)))  # before consent
    program.record_time(
        time_entry("t2", "p1", 8, pendulum.Date(2026, 3, 11), role=RoleClass.AUXILIARY)
    )
    program.record_time(time_entry("t3", "p1", 10, pendulum.Date(2026, 3, 12)))
    assert _reached(program) == []  # 10 countable minutes
    program.record_time(time_entry("t4", "p1", 10, pendulum.Date(2026, 3, 13)))
    assert _reached(program) == [("99490", "2026-03", "20")]
    program.record_time(time_entry("t5", "p1", 5, pendulum.Date(2026, 3, 14)))
    assert len(_reached(program)) == 1  # 25: still short of 99439


def test_each_code_of_the_ladder_once_and_time_reached_even_when_the_month_is_refused(
    carecore_pm,
):
    records = ccm_records("p1")
    records["care_plans"] = []  # the month will be refused, but the minutes are there
    program = _program(carecore_pm, records)
    program.record_time(time_entry("t1", "p1", 25, pendulum.Date(2026, 3, 2)))
    assert _reached(program) == [("99490", "2026-03", "25")]
    complete = _program(carecore_pm, ccm_records("p2"))
    for n, minutes in enumerate((15, 10, 16, 25)):
        complete.record_time(time_entry(f"t{n}", "p2", minutes, pendulum.Date(2026, 3, 2 + n)))
    # 25 -> 99490, 41 -> 99439; 66 reaches its second unit, and the event's key
    # (patient, code, month) keeps one notice per code and month
    assert _reached(complete) == [("99439", "2026-03", "41"), ("99490", "2026-03", "25")]


def test_no_threshold_event_in_a_year_without_a_rule_set(carecore_pm):
    program = _program(carecore_pm, ccm_records("p1"))
    program.record_time(time_entry("t1", "p1", 30, pendulum.Date(2031, 3, 2)))
    assert _reached(program) == []


def test_one_patients_reading_is_the_close_reading_of_that_patient(carecore_pm):
    # Plans agreed in a later version are dated from the audit log; reading one
    # patient's records (for threshold events) must date them as the whole-store close does.
    from carecore.service import _month_records

    program = _program(carecore_pm, {})
    for pid, day in (("p1", 12), ("p2", 20)):
        draft = agreed_plan(pid)
        draft = evolve(draft, status=draft.status.__class__.DRAFT, version=1)
        with program.transaction("draft") as tx:
            tx.add(make_patient(pid))
            tx.add(draft)
        program.clock = FixedClock(pendulum.datetime(2026, 3, day, 15, tz="UTC"))
        with program.transaction("agree") as tx:
            tx.replace(draft.activate())
    with program.transaction("read") as tx:
        everyone = _month_records(tx).care_plans
        for pid in ("p1", "p2"):
            mine = _month_records(tx, pid)
            assert [p.id for p in mine.patients] == [pid]
            assert list(mine.care_plans) == [s for s in everyone if s.patient_id == pid]
    assert sorted(s.established for s in everyone) == [
        pendulum.Date(2026, 3, 12),
        pendulum.Date(2026, 3, 20),
    ]


def test_a_first_entry_that_reaches_the_threshold_alone_is_reported(carecore_pm):
    # Nothing but the entry names the billing practitioner: the engine still evaluates them.
    program = _program(carecore_pm, {"patients": [make_patient("p1")]})
    program.record_time(time_entry("t1", "p1", 25, pendulum.Date(2026, 3, 2)))
    assert _reached(program) == [("99490", "2026-03", "25")]
