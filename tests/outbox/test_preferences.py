"""Messages to patients obey their contact preferences: opt-outs, and quiet hours in their own time zone."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    ContactPreferences,
    DeliveryReceipt,
    OutboundMessage,
    Patient,
)
from carecore.outbox import Dispatcher
from carecore.service import CareProgram


class Keeper:
    def __init__(self, channel_id):
        self.id = channel_id
        self.sent = []

    def send(self, message):
        self.sent.append(message.id)
        return DeliveryReceipt(
            message_id=message.id, channel=self.id, accepted=True, at=pendulum.now("UTC")
        )


def patient_message(n, channel="sms", audience="patient"):
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel=channel,
        recipient="+15550199",
        subject="Check-in",
        body="Your monthly check-in is due.",
        created_at=pendulum.datetime(2026, 3, 1, tz="UTC"),
        patient_id="p1",
        audience=audience,
    )


@pytest.fixture
def program(tmp_path):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'prefs.db'}",
        clock=FixedClock(pendulum.datetime(2026, 3, 7, 12, 30, tz="UTC")),
        actor="test",
    )
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=pendulum.date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/New_York",
            )
        )
        tx.add(
            ContactPreferences(
                patient_id="p1",
                channels=("sms", "email"),
                opted_out={"email"},
                quiet_start=dt.time(21),
                quiet_end=dt.time(8),
            )
        )
    yield program
    program.close()


def test_an_opted_out_channel_is_never_used(program):
    with program.transaction("queue") as tx:
        tx.enqueue(patient_message(1, channel="email"))
    email = Keeper("email")
    report = Dispatcher(program, {"email": email}).run_until_idle()
    assert (report.dead, email.sent) == (1, [])
    with program.transaction("check") as tx:
        (item,) = tx.outbox(status="dead")
    assert item.last_error == "the patient opted out of email"


def test_care_team_messages_ignore_patient_preferences(program):
    with program.transaction("queue") as tx:
        tx.enqueue(patient_message(2, channel="email", audience="care-team"))
    email = Keeper("email")
    assert Dispatcher(program, {"email": email}).run_until_idle().delivered == 1


def test_quiet_hours_follow_the_patients_clock_across_daylight_saving(program):
    with program.transaction("queue") as tx:
        tx.enqueue(patient_message(3))
    sms = Keeper("sms")
    # 12:30 UTC on Saturday 7 March is 07:30 in New York (EST): quiet, so the message waits.
    report = Dispatcher(program, {"sms": sms}).run_until_idle()
    assert (report.deferred, report.delivered, sms.sent) == (1, 0, [])
    with program.transaction("check") as tx:
        (held,) = tx.outbox()
    assert (held.next_attempt_at, held.attempts) == (
        pendulum.datetime(2026, 3, 7, 8, tz="America/New_York"),
        0,
    )
    # 12:30 UTC on Sunday 8 March is 08:30 in New York (EDT since 02:00): no longer quiet.
    program.clock = FixedClock(pendulum.datetime(2026, 3, 8, 12, 30, tz="UTC"))
    assert Dispatcher(program, {"sms": sms}).run_until_idle().delivered == 1
    assert sms.sent == ["m3"]


@pytest.mark.parametrize(
    ("start", "end", "now", "quiet"),
    [
        (dt.time(21), dt.time(8), dt.time(20, 59), False),
        (dt.time(21), dt.time(8), dt.time(21), True),
        (dt.time(21), dt.time(8), dt.time(0, 30), True),
        (dt.time(12), dt.time(13), dt.time(12, 30), True),
        (dt.time(12), dt.time(13), dt.time(13), False),
        (None, None, dt.time(3), False),
    ],
)
def test_quiet_windows(start, end, now, quiet):
    prefs = ContactPreferences(patient_id="p1", quiet_start=start, quiet_end=end)
    assert prefs.quiet_at(now) is quiet


@pytest.mark.parametrize("value", ["21:00", 21, dt.date(2026, 1, 1)])
def test_quiet_hours_must_be_times_of_day(value):
    from carecore import errors

    with pytest.raises(errors.InvalidValue) as info:
        ContactPreferences(patient_id="p1", quiet_start=value)
    assert info.value.field == "quiet_start"
