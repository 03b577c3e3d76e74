"""A home reading in the red zone, end to end: it reaches the care manager's mailbox (aiosmtpd)."""

from __future__ import annotations

import email

import pendulum
from carecore_email import EmailChannel

from carecore.clock import FixedClock
from carecore.model import (
    CarePlan,
    CarePlanStatus,
    Comparator,
    Observation,
    ReadingLimit,
    ServiceFamily,
    SymptomActionPlan,
    ZoneAction,
)
from carecore.outbox import Dispatcher

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def test_a_red_zone_blood_pressure_mails_the_care_manager_once(smtp_server, urgent_mail_program):
    program = urgent_mail_program(
        "{instrument_id} record {source_id} on {date}: contact the patient today.", now=NOW
    )
    high = ReadingLimit(
        measure="Systolic blood pressure",
        loinc="8480-6",
        comparator=Comparator.GE,
        value="180",
        unit="mm[Hg]",
    )
    zones = SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep going"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(signs=["180 or above"], actions=["call now"], limits=[high]),
    )
    with program.transaction("setup") as tx:
        tx.add(
            CarePlan(
                id="cp1",
                patient_id="p1",
                title="Plan",
                families={ServiceFamily.CCM},
                created_on=pendulum.Date(2026, 3, 1),
                status=CarePlanStatus.ACTIVE,
                symptom_plans=[zones],
            )
        )
    reading = Observation(
        id="o1",
        patient_id="p1",
        measure="Systolic blood pressure",
        loinc="8480-6",
        value="184",
        unit="mm[Hg]",
        on=NOW.date(),
    )
    assert program.record_reading(reading) == ("red-zone",)
    channel = EmailChannel(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="care@example.org",
        insecure=True,
        clock=FixedClock(NOW),
    )
    dispatcher = Dispatcher(program, {"email": channel})
    assert dispatcher.run_until_idle().delivered == 1
    assert dispatcher.run_until_idle().delivered == 0  # once
    (mail,) = [email.message_from_bytes(e.original_content) for e in smtp_server.inbox.messages]
    assert (mail["To"], mail["Subject"]) == ("rn-park@care.example", "Urgent: red-zone for p1")
    assert "home-reading record o1" in mail.get_payload()
    program.close()
