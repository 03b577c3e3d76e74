"""A home reading in the red zone, end to end: it reaches the care manager's mailbox (aiosmtpd)
and tops their worklist, above overdue work, until someone acknowledges it."""

from __future__ import annotations

import email

import pendulum
from carecore_email import EmailChannel

from carecore import audit
from carecore.clock import FixedClock
from carecore.model import (
    InterventionKind,
    Observation,
    Task,
)
from carecore.outbox import Dispatcher
from carecore.registry import priority
from carecore.testing.records import blood_pressure_plan

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def _worklist(program):
    lists = program.worklists(time_zone="UTC", on=NOW.date())
    return list(lists["rn-park"].items)


def test_a_red_zone_blood_pressure_mails_the_care_manager_once(smtp_server, urgent_mail_program):
    program = urgent_mail_program(
        "{instrument_id} record {source_id} on {date}: contact the patient today.", now=NOW
    )
    with program.transaction("setup") as tx:
        tx.add(
            blood_pressure_plan(
                tasks=[
                    Task(
                        id="k1",
                        description="Review the home blood-pressure log",
                        owner="rn-park",
                        kind=InterventionKind.MONITORING,
                        due=pendulum.Date(2026, 2, 20),
                    )
                ],
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
    # The reading tops rn-park's worklist, above the overdue task, until acknowledged.
    first, *rest = _worklist(program)
    assert (first.kind, priority(first, NOW.date())) == ("urgent-reading", "urgent")
    assert "(o1)" in first.detail
    assert [(i.kind, priority(i, NOW.date())) for i in rest] == [("task", "overdue")]
    assert _worklist(program)[0].kind == "urgent-reading"  # still there: not acknowledged
    program.acknowledge_finding("o1")
    assert [i.kind for i in _worklist(program)] == ["task"]
    with program.transaction("check") as tx:
        trail = audit.entries(tx, patient_id="p1", actor="rn-park")
    assert ("update", "Observation", "o1", "urgent finding acknowledged") in {
        (e.action, e.kind, e.key, e.reason) for e in trail
    }
    assert dispatcher.run_until_idle().delivered == 0  # acknowledging sends nothing more
    assert len(smtp_server.inbox.messages) == 1
    program.close()
