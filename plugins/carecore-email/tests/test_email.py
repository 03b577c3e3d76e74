"""The e-mail channel against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
from email.utils import parsedate_to_datetime

import pendulum
import pytest
from carecore_email import EmailChannel, message_id_for, plugin

from carecore.clock import FixedClock
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.plugins import Hooks, get_plugin_manager
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient
from carecore.testing.contracts import ChannelContract, PluginContract

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def parsed(envelope):
    return email.message_from_bytes(envelope.original_content)


class TestEmailChannel(ChannelContract):
    @pytest.fixture
    def channel(self, smtp_server):
        return EmailChannel(
            host="127.0.0.1", port=smtp_server.port, sender="care@example.org", insecure=True
        )

    @pytest.fixture
    def message(self, channel):
        return OutboundMessage(
            id="contract-1",
            idempotency_key="contract-key-1",
            channel="email",
            recipient="rn@example.org",
            subject="Contract check",
            body="carecore channel contract: please ignore",
            created_at=NOW,
        )

    @pytest.fixture
    def inbox(self, smtp_server):
        def read():
            return [
                (parsed(e)["Subject"], parsed(e).get_payload().strip())
                for e in smtp_server.inbox.messages
            ]

        return read


class TestEmailPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return plugin


def test_the_plugin_reads_its_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("CARECORE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("CARECORE_SMTP_PORT", "2526")
    monkeypatch.setenv("CARECORE_SMTP_FROM", "care@example.org")
    monkeypatch.setenv("CARECORE_SMTP_TLS", "implicit")
    channel = Hooks(get_plugin_manager()).channels()["email"]
    assert (channel.port, channel.sender, channel.tls) == (2526, "care@example.org", "implicit")


def test_a_non_address_is_refused_not_retried(smtp_server):
    channel = EmailChannel(
        host="127.0.0.1", port=smtp_server.port, sender="care@example.org", insecure=True
    )
    receipt = channel.send(
        OutboundMessage(
            id="m1",
            idempotency_key="k1",
            channel="email",
            recipient="rn1",
            subject="x",
            body="y",
            created_at=NOW,
        )
    )
    assert (receipt.accepted, receipt.detail) == (False, "'rn1' is not an e-mail address")
    assert smtp_server.inbox.messages == []


def test_server_down_then_back_nothing_lost_nothing_doubled(smtp_server, tmp_path):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'mail.db'}", clock=FixedClock(NOW), actor="test"
    )
    with program.transaction("queue") as tx:
        for n in range(5):
            tx.enqueue(
                OutboundMessage(
                    id=f"m{n}",
                    idempotency_key=f"k{n}",
                    channel="email",
                    recipient=f"rn{n}@example.org",
                    subject=f"Check-in {n}",
                    body="Due today.",
                    created_at=NOW,
                )
            )
    channel = EmailChannel(
        host="127.0.0.1", port=smtp_server.port, sender="care@example.org", insecure=True, timeout=2
    )
    dispatcher = Dispatcher(
        program, {"email": channel}, policy=RetryPolicy(base_seconds=10, jitter=0)
    )
    smtp_server.stop()
    down = dispatcher.run_once()
    assert (down.delivered, down.retrying, down.dead) == (0, 5, 0)
    smtp_server.start()
    assert dispatcher.run_once().attempted == 0  # not due yet
    program.clock = program.clock.advance(seconds=10)
    back = dispatcher.run_until_idle()
    assert back.delivered == 5
    received = [parsed(e) for e in smtp_server.inbox.messages]
    assert sorted(m["Message-ID"] for m in received) == sorted(
        message_id_for(f"k{n}") for n in range(5)
    )
    with program.transaction("check") as tx:
        delivered = tx.outbox(status="delivered")
    assert {(i.message.id, i.attempts) for i in delivered} == {(f"m{n}", 2) for n in range(5)}
    assert dispatcher.run_until_idle().attempted == 0
    assert len(smtp_server.inbox.messages) == 5
    program.close()


def test_from_a_domain_event_to_the_smtp_server(smtp_server, tmp_path, carecore_pm):
    from carecore.model import CarePlanRevised
    from carecore.notify import NotificationRule

    rule = NotificationRule(
        id="plan-mail",
        event="CarePlanRevised",
        channel="email",
        recipient="{patient_id}@patients.example",
        subject="Your care plan changed",
        body="Version {version} is ready in the portal.",
        audience="patient",
    )
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'flow.db'}",
        clock=FixedClock(NOW),
        actor="rn",
        plugin_manager=carecore_pm,
        rules=[rule],
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
    with program.transaction("revision") as tx:
        program.emit(
            tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=2)
        )
    channel = EmailChannel(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="care@example.org",
        insecure=True,
        clock=FixedClock(NOW),
    )
    assert Dispatcher(program, {"email": channel}).run_until_idle().delivered == 1
    (mail,) = [parsed(e) for e in smtp_server.inbox.messages]
    assert (mail["To"], mail["Subject"]) == ("p1@patients.example", "Your care plan changed")
    # The Date header comes from the channel's clock, as the delivery receipt's time does.
    assert parsedate_to_datetime(mail["Date"]).timestamp() == NOW.timestamp()
    assert mail.get_payload().strip() == "Version 2 is ready in the portal."
    program.close()


DISPATCHER = """
import sys
import pendulum
from carecore.clock import FixedClock
from carecore.outbox import Dispatcher
from carecore.service import CareProgram
from carecore_email import EmailChannel
url, port = sys.argv[1], int(sys.argv[2])
program = CareProgram.open(url, clock=FixedClock(pendulum.parse(sys.argv[3])), actor="dispatcher")
channel = EmailChannel(host="127.0.0.1", port=port, sender="care@example.org", insecure=True, timeout=10)
report = Dispatcher(program, {"email": channel}, lease_seconds=600).run_until_idle(limit=5)
program.close()
print(report.delivered)
"""


def test_dispatchers_run_side_by_side_send_each_message_once(smtp_server, tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    program = CareProgram.open(url, clock=FixedClock(NOW), actor="test")
    with program.transaction("queue") as tx:
        for n in range(60):
            tx.enqueue(
                OutboundMessage(
                    id=f"m{n}",
                    idempotency_key=f"k{n}",
                    channel="email",
                    recipient=f"rn{n % 7}@example.org",
                    subject=f"Check-in {n}",
                    body="Due today.",
                    created_at=NOW.add(seconds=n),
                )
            )
    program.close()
    # Three dispatcher processes at once, each with its own connection to the store.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DISPATCHER, url, str(smtp_server.port), NOW.isoformat()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    delivered = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        delivered.append(int(out.strip()))
    assert sum(delivered) == 60
    ids = [parsed(e)["Message-ID"] for e in smtp_server.inbox.messages]
    assert len(ids) == 60
    assert sorted(ids) == sorted(message_id_for(f"k{n}") for n in range(60))


def test_appointment_reminder_reaches_the_patient_in_their_language(smtp_server, tmp_path):
    from carecore.model import Appointment, ContactPreferences
    from carecore.notify import PATIENT_ADDRESS, NotificationRule

    english = NotificationRule(
        id="reminder",
        event="AppointmentDue",
        channel="email",
        recipient=PATIENT_ADDRESS,
        audience="patient",
        subject="Reminder: your visit on {appointment_date} at {appointment_time}",
    )
    spanish = NotificationRule(
        id="reminder",
        event="AppointmentDue",
        channel="email",
        recipient=PATIENT_ADDRESS,
        audience="patient",
        subject="Recordatorio: su cita el {appointment_date} a las {appointment_time}",
        language="es",
    )
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'remind.db'}",
        clock=FixedClock(NOW),
        actor="rn",
        rules=[english, spanish],
    )
    patient = make_patient("p1")  # lives in America/Chicago
    with program.transaction("setup") as tx:
        tx.add(patient)
        tx.add(make_patient("p2"))
        tx.add(ContactPreferences(patient_id="p1", language="es", email="ana@example.org"))
        tx.add(ContactPreferences(patient_id="p2", email="ben@example.org"))
        tx.add(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=30)))
        tx.add(Appointment(id="a2", patient_id="p2", starts_at=NOW.add(hours=50)))  # too far off
    assert program.run_campaigns(kinds=["appointment-reminder"]) == 1
    channel = EmailChannel(
        host="127.0.0.1", port=smtp_server.port, sender="care@example.org", insecure=True
    )
    assert Dispatcher(program, {"email": channel}).run_until_idle().delivered == 1
    (mail,) = [parsed(e) for e in smtp_server.inbox.messages]
    local = NOW.add(hours=30).in_timezone(patient.time_zone)
    assert mail["To"] == "ana@example.org"
    assert mail["Subject"] == (
        f"Recordatorio: su cita el {local.date().isoformat()} a las {local.hour:02d}:{local.minute:02d}"
    )
    program.close()


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"host": " "}, "host"),
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"port": "25"}, "port"),
        ({"sender": "care team"}, "sender"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"timeout": True}, "timeout"),
    ],
)
def test_bad_settings_are_refused_by_name(changes, name):
    from carecore import errors

    settings = {"host": "127.0.0.1", "port": 2525, "sender": "care@example.org"} | changes
    with pytest.raises(errors.InvalidValue) as info:
        EmailChannel(**settings)
    assert info.value.field == name
