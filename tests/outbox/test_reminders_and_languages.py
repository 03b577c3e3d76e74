"""Appointment reminders, per-language rule texts and patient addresses resolved at delivery."""

from __future__ import annotations

import io

import pendulum
import pytest

from carecore import errors
from carecore._builtin.console_channel import ConsoleChannel
from carecore.clock import FixedClock
from carecore.model import (
    Appointment,
    AppointmentDue,
    AppointmentStatus,
    ContactPreferences,
)
from carecore.notify import PATIENT_ADDRESS, NotificationRule, check_rules, messages_for
from carecore.outbox import Dispatcher
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 3, 6, 15, tz="UTC")  # a Friday


def reminder(language: str = "en", subject: str = "Visit {appointment_date} {appointment_time}"):
    return NotificationRule(
        id="reminder",
        event="AppointmentDue",
        channel="console",
        recipient="{patient_id}",
        subject=subject,
        language=language,
    )


@pytest.fixture
def program():
    prog = CareProgram.open("memory://", clock=FixedClock(NOW), actor="rn", rules=[reminder()])
    with prog.transaction("setup") as tx:
        tx.add(make_patient("p1"))
    return prog


def subjects(program: CareProgram) -> list[str]:
    with program.transaction("read") as tx:
        return [i.message.subject for i in tx.outbox(limit=50)]


def test_booked_appointments_inside_the_window_get_one_reminder(program):
    with program.transaction("schedule") as tx:
        tx.add(Appointment(id="soon", patient_id="p1", starts_at=NOW.add(hours=40)))
        tx.add(Appointment(id="later", patient_id="p1", starts_at=NOW.add(hours=49)))
        tx.add(Appointment(id="past", patient_id="p1", starts_at=NOW.subtract(hours=1)))
        tx.add(
            Appointment(
                id="off",
                patient_id="p1",
                starts_at=NOW.add(hours=5),
                status=AppointmentStatus.CANCELLED,
            )
        )
    assert program.run_campaigns(kinds=["appointment-reminder"]) == 1
    assert program.run_campaigns(kinds=["appointment-reminder"]) == 0  # not twice
    # 40 hours after Friday 15:00 UTC is Sunday 07:00 UTC: 01:00 in Chicago, still CST (UTC-6).
    assert subjects(program) == ["Visit 2026-03-08 01:00"]


def test_a_rescheduled_appointment_is_reminded_again(program):
    with program.transaction("schedule") as tx:
        tx.add(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=20)))
    assert program.run_campaigns(kinds=["appointment-reminder"]) == 1
    with program.transaction("reschedule") as tx:
        tx.replace(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=26)))
    assert program.run_campaigns(kinds=["appointment-reminder"]) == 1


def test_reminder_times_follow_the_patients_clock_across_daylight_saving(program):
    # US clocks go forward on Sunday 2026-03-08 at 02:00 local time.
    with program.transaction("schedule") as tx:
        tx.add(
            Appointment(
                id="a1", patient_id="p1", starts_at=pendulum.datetime(2026, 3, 8, 15, tz="UTC")
            )
        )
    program.run_campaigns(kinds=["appointment-reminder"])
    assert subjects(program) == ["Visit 2026-03-08 10:00"]  # CDT, UTC-5


@pytest.mark.parametrize("hours", [-1, 800, True, "48"])
def test_reminder_window_is_checked(program, hours):
    with pytest.raises(errors.InvalidValue) as info:
        program.run_campaigns(reminder_hours=hours)
    assert info.value.field == "reminder_hours"


def test_the_patients_language_picks_the_rule_text():
    event = AppointmentDue(
        patient_id="p1", occurred_at=NOW, appointment_id="a1", starts_at=NOW.add(hours=3)
    )
    rules = [reminder("en", "Your visit"), reminder("es", "Su cita"), reminder("vi", "Cuộc hẹn")]
    assert [m.subject for m in messages_for(event, rules, now=NOW, language="es")] == ["Su cita"]
    assert [m.subject for m in messages_for(event, rules, now=NOW, language="vi")] == ["Cuộc hẹn"]
    assert [m.subject for m in messages_for(event, rules, now=NOW, language="de")] == ["Your visit"]
    assert [m.subject for m in messages_for(event, rules, now=NOW)] == ["Your visit"]


def test_language_comes_from_contact_preferences():
    prog = CareProgram.open(
        "memory://",
        clock=FixedClock(NOW),
        actor="rn",
        rules=[reminder("en", "Your visit"), reminder("es", "Su cita")],
    )
    with prog.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(ContactPreferences(patient_id="p1", language="es"))
        tx.add(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=3)))
    prog.run_campaigns(kinds=["appointment-reminder"])
    assert subjects(prog) == ["Su cita"]


def test_two_rules_with_one_id_and_language_are_refused():
    with pytest.raises(errors.InvalidValue) as info:
        check_rules([reminder("es"), reminder("en"), reminder("es")])
    assert info.value.field == "rules[2]"
    with pytest.raises(errors.InvalidValue) as info:
        CareProgram.open("memory://", rules=[reminder(), "not a rule"])  # type: ignore[list-item]
    assert info.value.field == "rules[1]"


def test_a_rule_language_must_be_a_language_tag():
    with pytest.raises(errors.InvalidValue) as info:
        reminder(language="Spanish!")
    assert info.value.field == "language"


def test_a_patient_address_unknown_at_delivery_is_dead_with_the_reason():
    rule = NotificationRule(
        id="to-patient",
        event="AppointmentDue",
        channel="console",
        recipient=PATIENT_ADDRESS,
        audience="patient",
        subject="Visit soon",
    )
    prog = CareProgram.open("memory://", clock=FixedClock(NOW), actor="rn", rules=[rule])
    with prog.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(ContactPreferences(patient_id="p1", phone="+15551234567"))
        tx.add(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=3)))
    prog.run_campaigns(kinds=["appointment-reminder"])
    out = io.StringIO()
    report = Dispatcher(prog, {"console": ConsoleChannel(stream=out)}).run_until_idle()
    assert (report.delivered, report.dead) == (0, 1)
    assert out.getvalue() == ""
    with prog.transaction("read") as tx:
        (dead,) = tx.outbox(status="dead")
    assert dead.last_error == "no console address on file for the patient"
    assert dead.message.recipient == PATIENT_ADDRESS  # the stored message holds no address


@pytest.mark.parametrize("lease", [0, -5, float("inf"), "300", True])
def test_the_dispatch_lease_must_be_positive_seconds(program, lease):
    with pytest.raises(errors.InvalidValue) as info:
        Dispatcher(program, {}, lease_seconds=lease)
    assert info.value.field == "lease_seconds"


@pytest.mark.parametrize(
    ("wanted", "subject"),
    [("es-MX", "Su cita"), ("ES", "Su cita"), ("es-mx", "Su cita"), ("pt-BR", "Your visit")],
)
def test_a_regional_language_gets_its_language_when_no_regional_text_exists(wanted, subject):
    event = AppointmentDue(
        patient_id="p1", occurred_at=NOW, appointment_id="a1", starts_at=NOW.add(hours=3)
    )
    rules = [reminder("en", "Your visit"), reminder("es", "Su cita")]
    assert [m.subject for m in messages_for(event, rules, now=NOW, language=wanted)] == [subject]


def test_the_exact_regional_text_wins_over_the_language():
    event = AppointmentDue(
        patient_id="p1", occurred_at=NOW, appointment_id="a1", starts_at=NOW.add(hours=3)
    )
    rules = [reminder("en", "Your visit"), reminder("es", "Su cita"), reminder("es-MX", "Tu cita")]
    assert [m.subject for m in messages_for(event, rules, now=NOW, language="es-mx")] == ["Tu cita"]
