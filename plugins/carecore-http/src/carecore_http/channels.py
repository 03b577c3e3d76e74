"""The ``webhook`` and ``sms`` channels (one HTTP request per message)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from attrs import field, frozen

from carecore import errors
from carecore.clock import Clock, SystemClock
from carecore.model import DeliveryReceipt, OutboundMessage

__all__ = ["HttpError", "SmsChannel", "WebhookChannel", "sign", "verify"]

_RETRY = {408, 429}
_OK = range(200, 300)


class HttpError(ConnectionError):
    """An answer worth retrying (408, 429, 5xx)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The webhook signature header value for *body* sent at *timestamp*.

    >>> sign("s3cret", "1772614800", b'{"a":1}')
    'sha256=4002c304e20947e1371ed5b42280cb31570a6a50dd1c8dc3043427c78edd9e70'
    """
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether *signature* was made with *secret* (a receiver's check, in constant time)."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would be replayed as a bodiless GET: report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code in _RETRY or exc.code >= 500:  # noqa: PLR2004
            raise HttpError(f"HTTP {exc.code} from {request.full_url}") from exc
        return int(exc.code), body


def _check_url(url: str) -> str:
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise errors.InvalidValue("must be an http or https URL", field="url", value=url)
    return url


def _timeout(_inst: object, attribute: Any, value: object) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 600  # noqa: PLR2004
    if not ok:
        raise errors.InvalidValue(
            "must be a number of seconds above 0 and at most 600",
            field=getattr(attribute, "name", "timeout"),
            value=value,
        )


def _not_empty_secret(_inst: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise errors.InvalidValue("a webhook needs a signing secret", field="secret", value="")


@frozen(kw_only=True)
class WebhookChannel:
    """POST each message as signed JSON to *url* (see the module README for the headers)."""

    url: str = field(converter=_check_url)
    secret: str = field(repr=False, validator=_not_empty_secret)
    timeout: float = field(default=10.0, validator=_timeout)
    clock: Clock = field(factory=SystemClock)
    id: str = "webhook"

    def payload(self, message: OutboundMessage) -> bytes:
        """The JSON body sent for *message*."""
        data = {
            "id": message.id,
            "idempotency_key": message.idempotency_key,
            "recipient": message.recipient,
            "subject": message.subject,
            "body": message.body,
            "patient_id": message.patient_id,
            "created_at": message.created_at.isoformat(),
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver *message*; 408/429/5xx and connection failures raise so the outbox retries."""
        body = self.payload(message)
        now = self.clock.now()
        timestamp = str(int(now.timestamp()))
        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Carecore-Timestamp": timestamp,
                "X-Carecore-Signature": sign(self.secret, timestamp, body),
                "Idempotency-Key": message.idempotency_key,
            },
        )
        status, _ = _post(request, self.timeout)
        accepted = status in _OK
        return DeliveryReceipt(
            message_id=message.id,
            channel=self.id,
            accepted=accepted,
            at=now,
            detail=None if accepted else f"HTTP {status}",
        )


@frozen(kw_only=True)
class SmsChannel:
    """Send each message's body as a text through an HTTP SMS gateway.

    ``fields`` names the gateway's parameters for the recipient, the sender
    and the text (``To``/``From``/``Body`` by default, as several providers
    use); ``as_json`` sends JSON instead of a form. The text is the message's
    *body*: templates decide what health information it may carry.
    """

    url: str = field(converter=_check_url)
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fields: tuple[str, str, str] = ("To", "From", "Body")
    as_json: bool = False
    timeout: float = field(default=10.0, validator=_timeout)
    clock: Clock = field(factory=SystemClock)
    id: str = "sms"

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Deliver *message*; 408/429/5xx and connection failures raise so the outbox retries."""
        now = self.clock.now()
        to, sender, text = self.fields
        values = {to: message.recipient, sender: self.sender, text: message.body}
        if self.as_json:
            data, content_type = json.dumps(values).encode(), "application/json"
        else:
            data, content_type = (
                urllib.parse.urlencode(values).encode(),
                "application/x-www-form-urlencoded",
            )
        headers = {"Content-Type": content_type, "Idempotency-Key": message.idempotency_key}
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        status, answer = _post(
            urllib.request.Request(self.url, data=data, method="POST", headers=headers),  # noqa: S310
            self.timeout,
        )
        accepted = status in _OK
        provider = _provider_id(answer) if accepted else None
        return DeliveryReceipt(
            message_id=message.id,
            channel=self.id,
            accepted=accepted,
            at=now,
            provider_id=provider,
            detail=None if accepted else f"HTTP {status}: {answer[:200].decode(errors='replace')}",
        )


def _provider_id(answer: bytes) -> str | None:
    try:
        data: Any = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("sid", "id", "message_id"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return None
