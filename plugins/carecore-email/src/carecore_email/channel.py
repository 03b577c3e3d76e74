"""The ``email`` channel: one SMTP conversation per message, encrypted unless told otherwise.

The conversation is under TLS: STARTTLS by default (``tls="starttls"``), or
TLS from the first byte (``tls="implicit"``, usually port 465). A server that
does not offer STARTTLS gets :class:`~carecore.errors.InsecureTransport` and
no login and no message, unless the channel is ``insecure`` (a relay on the
same host, a test server on loopback); an insecure channel still uses
STARTTLS when the server offers it.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal

from carecore import errors
from carecore.clock import Clock, SystemClock
from carecore.model import DeliveryReceipt, OutboundMessage

__all__ = ["EmailChannel", "message_id_for"]

_PERMANENT = 500


def message_id_for(idempotency_key: str) -> str:
    """The RFC 5322 Message-ID carecore gives a message: the same key, the same id.

    >>> message_id_for("tcm-a1:notice")
    '<dd97fa300ed3a40420dfab4fc3126e55@carecore>'
    """
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@carecore>"


#: The longest SMTP timeout a channel accepts (seconds).
_MAX_TIMEOUT = 600

#: How a channel encrypts its SMTP conversation.
TlsMode = Literal["starttls", "implicit"]
_TLS_MODES = ("starttls", "implicit")


class EmailChannel:
    """Send each message as a plain-text e-mail to ``message.recipient``.

    Connection failures and temporary (4xx) answers raise, so the outbox
    retries; permanent (5xx) answers and recipients that are not e-mail
    addresses are refused receipts.
    """

    id = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        sender: str,
        tls: TlsMode = "starttls",
        insecure: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(host, str) or not host.strip():
            raise errors.InvalidValue("must name the SMTP server", field="host", value=host)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:  # noqa: PLR2004
            raise errors.InvalidValue(
                "must be a TCP port from 1 to 65535", field="port", value=port
            )
        if not isinstance(sender, str) or "@" not in sender:
            raise errors.InvalidValue("must be an e-mail address", field="sender", value=sender)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= _MAX_TIMEOUT
        ):
            raise errors.InvalidValue(
                f"must be a number of seconds above 0 and at most {_MAX_TIMEOUT}",
                field="timeout",
                value=timeout,
            )
        if tls not in _TLS_MODES:
            raise errors.InvalidValue("must be 'starttls' or 'implicit'", field="tls", value=tls)
        self.host = host
        self.port = port
        self.sender = sender
        self.tls: TlsMode = tls
        self.insecure = bool(insecure)
        #: Which certificates are trusted (None: the system's, host names checked).
        self.ssl_context = ssl_context
        self.username = username
        self.password = password
        self.timeout = timeout
        self.clock = clock or SystemClock()

    @property
    def destination(self) -> str:
        """The SMTP server messages go to, as a delivery's audit row names it.

        ``smtp://host:port`` (STARTTLS, or cleartext when insecure) or
        ``smtps://host:port`` (implicit TLS); never the login.
        """
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://{self.host}:{self.port}"

    def _receipt(
        self, message: OutboundMessage, *, accepted: bool, detail: str | None = None
    ) -> DeliveryReceipt:
        return DeliveryReceipt(
            message_id=message.id,
            channel=self.id,
            accepted=accepted,
            at=self.clock.now(),
            provider_id=message_id_for(message.idempotency_key) if accepted else None,
            detail=detail,
        )

    def _connect(self) -> smtplib.SMTP:
        """An SMTP connection under TLS, or in the clear only when the channel is insecure."""
        context = self.ssl_context or ssl.create_default_context()
        if self.tls == "implicit":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            offered = smtp.has_extn("starttls")
            if offered:
                smtp.starttls(context=context)
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        if not offered and not self.insecure:
            smtp.close()
            raise errors.InsecureTransport(
                field="starttls",
                value=f"{self.host}:{self.port}",
                reason="the SMTP server offers no STARTTLS; use a server that does, or "
                "implicit TLS (CARECORE_SMTP_TLS=implicit)",
                allow="CARECORE_SMTP_INSECURE=1",
            )
        return smtp

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver *message* over SMTP (see the class for what raises and what is refused)."""
        if "@" not in message.recipient or any(c in message.recipient for c in "\r\n ,;"):
            return self._receipt(
                message, accepted=False, detail=f"{message.recipient!r} is not an e-mail address"
            )
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(self.clock.now().timestamp(), localtime=False)
        mail["Message-ID"] = message_id_for(message.idempotency_key)
        mail["X-Carecore-Idempotency-Key"] = message.idempotency_key
        mail.set_content(message.body or "")
        try:
            with self._connect() as smtp:
                if self.username is not None:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(code < _PERMANENT for code in codes):
                raise  # a temporary refusal (greylisting): try again later
            return self._receipt(
                message, accepted=False, detail=f"recipient refused: {exc.recipients}"
            )
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code >= _PERMANENT:
                return self._receipt(
                    message, accepted=False, detail=f"{exc.smtp_code} {exc.smtp_error!r}"
                )
            raise
        return self._receipt(message, accepted=True)
