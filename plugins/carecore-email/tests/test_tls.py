"""The e-mail channel sends nothing in the clear unless told it may (issue 20).

A test server once saw ``AUTH PLAIN`` and forty e-mails without TLS: STARTTLS
was opt-in. Now it is required (or implicit TLS), and a server that does not
offer it gets a typed refusal unless the channel is configured ``insecure``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl

import pendulum
import pytest
from aiosmtpd.controller import Controller
from carecore_email import EmailChannel
from carecore_email.plugin import carecore_channels

from carecore import errors
from carecore.model import OutboundMessage

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


def message() -> OutboundMessage:
    return OutboundMessage(
        id="m1",
        idempotency_key="k1",
        channel="email",
        recipient="rn@example.org",
        subject="Check-in",
        body="Due today.",
        created_at=NOW,
    )


class SessionInbox:
    """Keeps each message and whether its session was under TLS."""

    def __init__(self):
        self.messages = []
        self.tls = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope)
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (server context, client context)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


def serve(inbox, **options):
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.port = port
    controller.start()
    return controller


def test_a_server_without_starttls_is_refused_by_default():
    inbox = SessionInbox()
    controller = serve(inbox)
    try:
        channel = EmailChannel(
            host="127.0.0.1",
            port=controller.port,
            sender="care@example.org",
            username="care",
            password="hunter2-secret",
        )
        with pytest.raises(errors.InsecureTransport) as info:
            channel.send(message())
    finally:
        controller.stop()
    assert inbox.messages == []
    assert info.value.field == "starttls"
    assert f"127.0.0.1:{controller.port}" in str(info.value)
    assert "CARECORE_SMTP_INSECURE" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_insecure_allows_a_server_without_starttls():
    inbox = SessionInbox()
    controller = serve(inbox)
    try:
        channel = EmailChannel(
            host="127.0.0.1", port=controller.port, sender="care@example.org", insecure=True
        )
        receipt = channel.send(message())
    finally:
        controller.stop()
    assert receipt.accepted
    assert inbox.tls == [False]


def test_starttls_is_used_when_the_server_offers_it(certificate):
    server_context, client_context = certificate
    inbox = SessionInbox()
    controller = serve(inbox, tls_context=server_context, require_starttls=True)
    try:
        channel = EmailChannel(
            host="127.0.0.1",
            port=controller.port,
            sender="care@example.org",
            ssl_context=client_context,
        )
        receipt = channel.send(message())
    finally:
        controller.stop()
    assert receipt.accepted
    assert inbox.tls == [True]


def test_implicit_tls(certificate):
    server_context, client_context = certificate
    inbox = SessionInbox()
    controller = serve(inbox, ssl_context=server_context)
    try:
        channel = EmailChannel(
            host="127.0.0.1",
            port=controller.port,
            sender="care@example.org",
            tls="implicit",
            ssl_context=client_context,
        )
        receipt = channel.send(message())
    finally:
        controller.stop()
    assert receipt.accepted
    assert inbox.tls == [True]


def test_an_unknown_tls_mode_is_refused_by_name():
    with pytest.raises(errors.InvalidValue) as info:
        EmailChannel(host="127.0.0.1", sender="care@example.org", tls="sometimes")
    assert info.value.field == "tls"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("starttls", False)),
        ({"CARECORE_SMTP_INSECURE": "1"}, ("starttls", True)),
        ({"CARECORE_SMTP_INSECURE": "0"}, ("starttls", False)),
        ({"CARECORE_SMTP_TLS": "implicit"}, ("implicit", False)),
    ],
)
def test_the_plugin_reads_tls_settings(monkeypatch, env, expected):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (channel,) = carecore_channels()
    assert (channel.tls, channel.insecure) == expected


def test_a_bad_tls_variable_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("CARECORE_SMTP_TLS", "maybe")
    with pytest.raises(errors.InvalidValue) as info:
        carecore_channels()
    assert info.value.field == "CARECORE_SMTP_TLS"
