"""An urgent finding, end to end: a flagged PHQ-9 reaches the care manager's mailbox (aiosmtpd)."""

from __future__ import annotations

import email

import pendulum
from carecore_email import EmailChannel

from carecore.clock import FixedClock
from carecore.outbox import Dispatcher

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
PHQ9 = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3")


def test_a_flagged_phq9_mails_the_care_manager_once_and_tops_their_worklist(
    smtp_server, urgent_mail_program
):
    program = urgent_mail_program(
        "Assessment {source_id} on {date}: contact the patient today.", now=NOW
    )
    answers = dict.fromkeys(PHQ9, 1) | {"44260-8": 2}  # item 9: more than half the days
    program.assess("p1", "phq-9", answers, result_id="r1", on=NOW.date())
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
    assert (mail["To"], mail["Subject"]) == (
        "rn-park@care.example",
        "Urgent: suicidal-ideation for p1",
    )
    assert "r1" in mail.get_payload()
    top = program.worklists(time_zone="UTC")["rn-park"].items[0]
    assert (top.kind, top.detail) == ("urgent-finding", "suicidal-ideation (r1)")
    program.acknowledge_finding("r1")
    assert "urgent-finding" not in {
        i.kind for wl in program.worklists(time_zone="UTC").values() for i in wl.items
    }
    program.close()
