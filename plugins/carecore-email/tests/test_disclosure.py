"""A delivery by e-mail records where it went: the SMTP server's host and port (issue 20)."""

from __future__ import annotations

import pendulum
from carecore_email import EmailChannel

from carecore.clock import FixedClock
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def test_the_deliver_row_names_the_smtp_server_and_the_patient(smtp_server):
    program = CareProgram.open("memory://", clock=FixedClock(NOW), actor="dispatcher")
    with program:
        with program.transaction("queue") as tx:
            tx.add(make_patient("p1"))
            tx.enqueue(
                OutboundMessage(
                    id="m1",
                    idempotency_key="k1",
                    channel="email",
                    recipient="rn@example.org",
                    subject="Check-in",
                    body="Due today.",
                    created_at=NOW,
                    patient_id="p1",
                )
            )
        channel = EmailChannel(
            host="127.0.0.1", port=smtp_server.port, sender="care@example.org", insecure=True
        )
        report = Dispatcher(
            program, {"email": channel}, policy=RetryPolicy(max_attempts=1, jitter=0)
        ).run_once()
        assert report.delivered == 1
        with program.transaction("check") as tx:
            (row,) = [e for e in tx.audit_entries() if e.action == "deliver"]
    assert (row.key, row.patient_id) == ("m1", "p1")
    assert row.reason == f"outbox: delivery by email to smtp://127.0.0.1:{smtp_server.port}"
    assert len(smtp_server.inbox.messages) == 1


def test_the_destination_says_which_tls_and_never_the_login():
    starttls = EmailChannel(
        host="mail.example.org",
        port=587,
        sender="care@example.org",
        username="care-login",
        password="s3cret-pass",
    )
    implicit = EmailChannel(
        host="mail.example.org", port=465, sender="care@example.org", tls="implicit"
    )
    assert starttls.destination == "smtp://mail.example.org:587"
    assert implicit.destination == "smtps://mail.example.org:465"
    assert "care-login" not in starttls.destination
    assert "s3cret-pass" not in starttls.destination
