"""An urgent finding, end to end: a flagged PHQ-9 reaches the care manager's mailbox (aiosmtpd)."""

from __future__ import annotations

import email

import pendulum
from carecore_email import EmailChannel

from carecore.clock import FixedClock
from carecore.model import CareTeam, CareTeamMember, CareTeamRole
from carecore.notify import NotificationRule
from carecore.outbox import Dispatcher
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
PHQ9 = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3")


def test_a_flagged_phq9_mails_the_care_manager_once_and_tops_their_worklist(
    smtp_server, tmp_path, carecore_pm
):
    rule = NotificationRule(
        id="urgent-mail",
        event="UrgentFinding",
        channel="email",
        recipient="{owner}@care.example",
        subject="Urgent: {finding} for {patient_id}",
        body="Assessment {source_id} on {date}: contact the patient today.",
    )
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'urgent.db'}",
        clock=FixedClock(NOW),
        actor="rn-park",
        plugin_manager=carecore_pm,
        rules=[rule],
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)],
            )
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
