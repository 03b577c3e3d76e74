"""The ``email`` channel: one SMTP conversation per message."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

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
        starttls: bool = False,
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
        self.host = host
        self.port = port
        self.sender = sender
        self.starttls = starttls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.clock = clock or SystemClock()

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
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
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
