"""Secrets never reach an error, a log or a stored error (issue 20).

A token in a webhook URL's query string was stored in ``outbox.last_error``
and printed by ``outbox status``; a PostgreSQL password given as
``?password=`` was printed in errors. Random secrets are pushed here through
real error paths (a webhook receiver on 127.0.0.1 answering 500, a FHIR
server answering 404 and 500 and an unreachable one, an SMTP server, a store
URL, a failing observer) and looked for in the exception text, the log and
the outbox.
"""

from __future__ import annotations

import itertools
import json
import logging
import socket
import string
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pendulum
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore._redact import MASK, redact
from carecore.clock import FixedClock
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
SECRETS = st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=12, max_size=40)
NAMES = st.sampled_from(
    ["token", "access_token", "key", "api_key", "sig", "signature", "password", "secret"]
)
FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_ids = itertools.count()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Failing:
    """An HTTP server on 127.0.0.1 that answers every request with one status."""

    def __init__(self, status: int):
        answer = json.dumps({"resourceType": "OperationOutcome", "issue": []}).encode()

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815 - http.server's names

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def answers_500():
    server = Failing(500)
    yield server
    server.close()


@pytest.fixture(scope="module")
def answers_404():
    server = Failing(404)
    yield server
    server.close()


def message(channel: str, recipient: str = "rn@example.org") -> OutboundMessage:
    n = next(_ids)
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel=channel,
        recipient=recipient,
        subject="Check-in",
        body="Due today.",
        created_at=NOW,
    )


def stored_errors(channel_id: str, channel: object, msg: OutboundMessage) -> list[str]:
    """Deliver *msg* once through the outbox; the errors it stored."""
    program = CareProgram.open("memory://", clock=FixedClock(NOW), actor="test")
    try:
        with program.transaction("queue") as tx:
            tx.enqueue(msg)
        Dispatcher(
            program, {channel_id: channel}, policy=RetryPolicy(max_attempts=1, jitter=0)
        ).run_once()
        with program.transaction("check") as tx:
            items = [i for s in ("failed", "dead", "pending") for i in tx.outbox(status=s)]
        return [i.last_error or "" for i in items]
    finally:
        program.close()


def assert_hidden(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text, text


# -- the function itself ----------------------------------------------------------------------


@given(secret=SECRETS, name=NAMES)
def test_query_secrets_are_masked(secret, name):
    text = f"GET https://ehr.example/fhir/Patient?_count=5&{name}={secret}&x=1 failed"
    out = redact(text)
    assert_hidden(secret, out)
    assert f"{name}={MASK}&x=1" in out


@given(secret=SECRETS)
def test_url_passwords_and_authorization_headers_are_masked(secret):
    out = redact(
        f"postgresql://care:{secret}@db.example/care; "
        f"{{'Authorization': 'Bearer {secret}', 'Proxy-Authorization': 'Basic {secret}'}}; "
        f"host=db password={secret} dbname=care"
    )
    assert_hidden(secret, out)
    assert "postgresql://care:***@db.example/care" in out


def test_ordinary_messages_are_left_alone():
    for text in (
        "code='Z99.99': not an ICD-10-CM code",
        "idempotency_key='k1': already queued",
        "the FHIR server refused the bearer token (401)",
        "minutes=-5: must be positive",
    ):
        assert redact(text) == text


_PIECES = st.sampled_from(
    [
        "=",
        ":",
        "@",
        "://",
        "'",
        '"',
        " ",
        "Bearer ",
        "bEaReR",
        "token",
        "key",
        "Authorization",
        "https://u",
        "pass",
        "x",
        "9",
        "&",
        "\r",
        "-",
        ".",
    ]
)


@given(st.lists(_PIECES | st.text(max_size=6), max_size=14).map("".join))
@example("https://u:pass@db.example")
@example("Authorization: Basic abc")
@example("sent Bearer abcdefgh1 along")
@example("a-token=x")
def test_the_quick_pass_masks_what_the_patterns_would(text):
    # redact skips a text with no "=", ":" or "bearer"; the four patterns must agree.
    from carecore import _redact

    slow = _redact._HEADER.sub(_redact._header, text)
    slow = _redact._BEARER.sub(rf"\1 {MASK}", slow)
    slow = _redact._USERINFO.sub(rf"\1:{MASK}@", slow)
    slow = _redact._PAIR.sub(rf"\1\2{MASK}", slow)
    assert redact(text) == slow


@given(secret=SECRETS, name=NAMES)
def test_every_carecore_error_text_is_masked(secret, name):
    url = f"https://hooks.example/c?{name}={secret}"
    for err in (
        errors.InvalidValue("bad", field="url", value=url),
        errors.StoreUnavailable(f"connection to {url} refused", field="url", value=url),
        errors.NotFound("no such thing", field="url", value=f"GET {url}"),
    ):
        assert_hidden(secret, str(err), repr(err), *map(str, err.args))


# -- real error paths ------------------------------------------------------------------------


@FUZZ
@given(secret=SECRETS, name=NAMES)
def test_a_failing_webhook_keeps_its_token_out_of_errors_and_the_outbox(answers_500, secret, name):
    from carecore_http import WebhookChannel

    url = f"{answers_500.base}/hook?{name}={secret}"
    channel = WebhookChannel(url=url, secret="s", insecure=True)  # noqa: S106 - a test key
    with pytest.raises(Exception) as raised:
        channel.send(message("webhook"))
    stored = stored_errors("webhook", channel, message("webhook"))
    assert stored
    assert all("500" in e for e in stored)
    assert_hidden(secret, str(raised.value), repr(raised.value), *stored)
    with pytest.raises(errors.InsecureTransport) as refused:
        WebhookChannel(url=url, secret="s")  # noqa: S106 - a test key
    assert_hidden(secret, str(refused.value))


@FUZZ
@given(secret=SECRETS)
def test_a_failing_sms_gateway_keeps_its_password_out(answers_500, secret):
    from carecore_http import SmsChannel

    url = f"{answers_500.base}/sms?api_key={secret}"
    channel = SmsChannel(
        url=url, sender="+15550100", username="AC1", password=secret, insecure=True
    )
    stored = stored_errors("sms", channel, message("sms", "+15550199"))
    assert stored
    assert_hidden(secret, *stored)


@FUZZ
@given(secret=SECRETS, name=NAMES)
def test_fhir_client_errors_keep_tokens_out(answers_404, answers_500, secret, name):
    from carecore_fhir.rest import FhirClient

    texts = []
    for base, expected in (
        (answers_404.base, errors.NotFound),
        (answers_500.base, errors.StoreUnavailable),
        (f"http://127.0.0.1:{closed_port()}", errors.StoreUnavailable),
    ):
        with (
            FhirClient(
                f"{base}/fhir",
                token=lambda *, refresh: secret,
                insecure=True,
                retries=0,
            ) as client,
            pytest.raises(expected) as raised,
        ):
            client.request("GET", f"{base}/fhir/Binary/b1?{name}={secret}")
        texts += [str(raised.value), repr(raised.value)]
    assert_hidden(secret, *texts)


@FUZZ
@given(secret=SECRETS)
def test_smtp_failures_keep_the_password_out(secret):
    from carecore_email import EmailChannel

    channel = EmailChannel(
        host="127.0.0.1",
        port=closed_port(),
        sender="care@example.org",
        username=f"care-{secret}",
        password=secret,
        insecure=True,
        timeout=2,
    )
    stored = stored_errors("email", channel, message("email"))
    assert stored
    assert_hidden(secret, *stored)


@FUZZ
@given(secret=SECRETS)
def test_a_store_url_password_is_not_printed(secret):
    pytest.importorskip("carecore_postgres")
    port = closed_port()
    for url in (
        f"postgresql://carecore:{secret}@127.0.0.1:{port}/care",
        f"postgresql://carecore@127.0.0.1:{port}/care?password={secret}",
    ):
        with pytest.raises(errors.CarecoreError) as raised:
            CareProgram.open(url, actor="test")
        assert_hidden(secret, str(raised.value), repr(raised.value))


def test_a_logged_failure_is_masked(caplog):
    secret = "sEcReT0123456789"  # noqa: S105 - a test secret
    from carecore.plugins import get_plugin_manager, hookimpl

    class Leaky:
        @hookimpl
        def carecore_on_event(self, event):
            msg = f"POST https://hooks.example/c?token={secret} failed; Authorization: Bearer {secret}"
            raise ConnectionError(msg)

    pm = get_plugin_manager(entry_points=False)
    pm.register(Leaky(), name="leaky")
    from carecore.model import CarePlanRevised
    from carecore.testing._store_contract import make_patient

    with caplog.at_level(logging.ERROR):
        program = CareProgram.open(
            "memory://", clock=FixedClock(NOW), actor="test", plugin_manager=pm
        )
        with program.transaction("setup") as tx:
            tx.add(make_patient("p1"))
        with program.transaction("revise") as tx:
            program.emit(
                tx, CarePlanRevised(patient_id="p1", occurred_at=NOW, plan_id="cp1", version=2)
            )
        program.close()
    assert "leaky" in caplog.text
    assert "ConnectionError" in caplog.text
    assert_hidden(secret, caplog.text)


def test_a_carecore_log_message_with_a_token_is_masked(caplog):
    secret = "tok-9f8e7d6c5b4a"  # noqa: S105 - a test token
    with caplog.at_level(logging.INFO):
        logging.getLogger("carecore.anything").info(
            "fetching %s", f"https://x.example/?token={secret}"
        )
        logging.getLogger("other.library").info("untouched %s", "token=kept")
    assert_hidden(secret, caplog.text)
    assert "token=kept" in caplog.text


def test_outbox_status_masks_an_error_stored_before(tmp_path):
    """A token in a webhook URL was stored in last_error and printed by ``outbox status``."""
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.model import DeliveryReceipt

    secret = "tok-5e5e5e5e5e5e"  # noqa: S105 - a test token
    db = f"sqlite:///{tmp_path / 'o.db'}"
    msg = message("webhook")
    with CareProgram.open(db, clock=FixedClock(NOW), actor="test") as program:
        with program.transaction("queue") as tx:
            tx.enqueue(msg)
        with program.transaction("an older carecore stored the raw text") as tx:
            tx.record_delivery(
                DeliveryReceipt(
                    message_id=msg.id,
                    channel="webhook",
                    accepted=False,
                    at=NOW,
                    detail=f"HttpError: HTTP 500 from https://hooks.example/c?token={secret}",
                ),
                give_up=True,
            )
    for fmt in ("table", "json"):
        result = CliRunner().invoke(make_app(), ["outbox", "status", "--db", db, "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "HTTP 500" in result.output
        assert_hidden(secret, result.output)
