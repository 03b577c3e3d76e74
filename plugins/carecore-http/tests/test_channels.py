"""Webhook and SMS channels against a real HTTP server on loopback."""

from __future__ import annotations

import json

import pendulum
import pytest
from carecore_http import HttpError, SmsChannel, WebhookChannel, plugin, verify

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.plugins import Hooks, get_plugin_manager
from carecore.service import CareProgram
from carecore.testing.contracts import ChannelContract, PluginContract

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


class TestWebhookChannel(ChannelContract):
    @pytest.fixture
    def channel(self, peer):
        return WebhookChannel(url=peer.url, insecure=True, secret="s3cret", clock=FixedClock(NOW))

    @pytest.fixture
    def inbox(self, peer):
        return lambda: [(json.loads(b)["subject"], json.loads(b)["body"]) for _, b in peer.requests]


class TestSmsChannel(ChannelContract):
    @pytest.fixture
    def channel(self, peer):
        return SmsChannel(
            url=peer.url,
            insecure=True,
            sender="+15550100",
            username="AC1",
            password="tok",
            clock=FixedClock(NOW),
        )

    @pytest.fixture
    def message(self, channel):
        return OutboundMessage(
            id="contract-1",
            idempotency_key="contract-key-1",
            channel="sms",
            recipient="+15550199",
            subject="Contract check",
            body="carecore channel contract: please ignore",
            created_at=NOW,
        )

    @pytest.fixture
    def inbox(self, peer):
        return lambda: [("Contract check", peer.form(i)["Body"]) for i in range(len(peer.requests))]


class TestHttpPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return plugin


def message(n=1, channel="webhook"):
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel=channel,
        recipient="+15550199",
        subject="TCM contact due",
        body="Call by Wednesday.",
        created_at=NOW,
    )


def test_webhooks_are_signed_and_carry_the_idempotency_key(peer):
    WebhookChannel(url=peer.url, insecure=True, secret="s3cret", clock=FixedClock(NOW)).send(
        message()
    )
    headers, body = peer.requests[0]
    assert headers["Idempotency-Key"] == "k1"
    assert headers["X-Carecore-Timestamp"] == str(int(NOW.timestamp()))
    stamp, signature = headers["X-Carecore-Timestamp"], headers["X-Carecore-Signature"]
    assert verify("s3cret", stamp, body, signature, now=NOW.timestamp())
    with pytest.raises(errors.WebhookRejected):
        verify("other", stamp, body, signature, now=NOW.timestamp())


def test_sms_gateway_request_shape(peer):
    receipt = SmsChannel(
        url=peer.url, insecure=True, sender="+15550100", username="AC1", password="tok"
    ).send(message(channel="sms"))
    headers, _ = peer.requests[0]
    assert peer.form(0) == {"To": "+15550199", "From": "+15550100", "Body": "Call by Wednesday."}
    assert headers["Authorization"] == "Basic QUMxOnRvaw=="
    assert receipt.provider_id == "SM1"


@pytest.mark.parametrize(
    ("status", "retried"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False)],
)
def test_server_errors_retry_client_errors_refuse(peer, status, retried):
    peer.statuses = [status]
    channel = WebhookChannel(url=peer.url, insecure=True, secret="s")
    if retried:
        with pytest.raises(HttpError):
            channel.send(message())
    else:
        receipt = channel.send(message())
        assert (receipt.accepted, receipt.detail) == (False, f"HTTP {status}")


def test_a_timeout_raises_for_a_retry(peer):
    peer.delay = 1.0
    with pytest.raises(OSError, match="timed out"):
        WebhookChannel(url=peer.url, insecure=True, secret="s", timeout=0.2).send(message())


def test_a_webhook_failing_then_recovering_delivers_once_through_the_outbox(peer, tmp_path):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'hook.db'}", clock=FixedClock(NOW), actor="test"
    )
    with program.transaction("queue") as tx:
        tx.enqueue(message(1))
    peer.statuses = [500, 503]
    dispatcher = Dispatcher(
        program,
        {"webhook": WebhookChannel(url=peer.url, insecure=True, secret="s")},
        policy=RetryPolicy(base_seconds=5, jitter=0),
    )
    assert dispatcher.run_once().retrying == 1
    program.clock = program.clock.advance(seconds=5)
    assert dispatcher.run_once().retrying == 1
    program.clock = program.clock.advance(seconds=10)
    assert dispatcher.run_once().delivered == 1
    assert [h["Idempotency-Key"] for h, _ in peer.requests] == ["k1", "k1", "k1"]
    with program.transaction("check") as tx:
        (item,) = tx.outbox(status="delivered")
    assert item.attempts == 3
    program.close()


def test_urls_must_be_http():
    with pytest.raises(errors.InvalidValue) as info:
        WebhookChannel(url="ftp://example.org/x", secret="s")
    assert info.value.field == "url"


def test_channels_appear_when_configured(monkeypatch, peer):
    monkeypatch.setenv("CARECORE_WEBHOOK_URL", peer.url)
    monkeypatch.setenv("CARECORE_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("CARECORE_SMS_URL", peer.url)
    # The peer listens on loopback without TLS: cleartext is allowed on purpose.
    monkeypatch.setenv("CARECORE_WEBHOOK_INSECURE", "1")
    monkeypatch.setenv("CARECORE_SMS_INSECURE", "1")
    assert {"webhook", "sms"} <= set(Hooks(get_plugin_manager()).channels())
    monkeypatch.delenv("CARECORE_WEBHOOK_URL")
    monkeypatch.delenv("CARECORE_SMS_URL")
    assert not {"webhook", "sms"} & set(Hooks(get_plugin_manager()).channels())


def test_a_redirect_is_not_followed_and_is_refused(peer):
    peer.statuses = [302]
    receipt = WebhookChannel(url=peer.url, insecure=True, secret="s").send(message())
    assert (receipt.accepted, receipt.detail) == (False, "HTTP 302")
    assert len(peer.requests) == 1


def test_an_empty_secret_is_refused():
    with pytest.raises(errors.InvalidValue) as info:
        WebhookChannel(url="http://127.0.0.1:9/hook", insecure=True, secret="")
    assert info.value.field == "secret"


def test_an_sms_to_the_patient_goes_to_the_phone_on_file_at_delivery(peer, tmp_path):
    from carecore.model import Appointment, ContactPreferences
    from carecore.notify import PATIENT_ADDRESS, NotificationRule
    from carecore.testing._store_contract import make_patient

    rule = NotificationRule(
        id="reminder",
        event="AppointmentDue",
        channel="sms",
        recipient=PATIENT_ADDRESS,
        audience="patient",
        subject="Visit on {appointment_date} at {appointment_time}",
    )
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'sms.db'}", clock=FixedClock(NOW), actor="rn", rules=[rule]
    )
    with program.transaction("setup") as tx:
        tx.add(make_patient("p1"))
        tx.add(ContactPreferences(patient_id="p1", phone="+15550111"))
        tx.add(Appointment(id="a1", patient_id="p1", starts_at=NOW.add(hours=6)))
    program.run_campaigns(kinds=["appointment-reminder"])
    with program.transaction("the patient got a new phone") as tx:
        tx.replace(ContactPreferences(patient_id="p1", phone="+15550122"))
    sms = SmsChannel(url=peer.url, insecure=True, sender="+15550100")
    assert Dispatcher(program, {"sms": sms}).run_until_idle().delivered == 1
    form = peer.form(0)
    # Without consent to health details by SMS, the text is the generic line.
    assert (form["To"], form["Body"]) == ("+15550122", rule.generic_subject)
    program.close()


@pytest.mark.parametrize("timeout", [0, -1, 601, float("nan"), "10", True])
def test_bad_timeouts_are_refused_by_name(timeout):
    with pytest.raises(errors.InvalidValue) as info:
        WebhookChannel(url="http://127.0.0.1:9/", insecure=True, secret="s", timeout=timeout)
    assert info.value.field == "timeout"
    with pytest.raises(errors.InvalidValue) as info:
        SmsChannel(url="http://127.0.0.1:9/", insecure=True, sender="+15550100", timeout=timeout)
    assert info.value.field == "timeout"
