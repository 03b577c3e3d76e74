"""The ``webhook`` and ``sms`` channels (one HTTP request per message)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, Protocol

from attrs import field, frozen

from carecore import errors
from carecore._redact import redact
from carecore.clock import Clock, SystemClock
from carecore.model import DeliveryReceipt, OutboundMessage

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "WINDOW",
    "HttpError",
    "ReplayCache",
    "SeenSet",
    "SmsChannel",
    "WebhookChannel",
    "sign",
    "verify",
]

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


#: How far a webhook's timestamp may be from the receiver's clock, by default (seconds).
WINDOW = 300

_SIGNATURE = re.compile(r"sha256=[0-9a-f]{64}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)


class SeenSet(Protocol):
    """Where a receiver keeps the signatures it accepted (a ``set`` will do)."""

    def __contains__(self, signature: object, /) -> bool:
        """Whether *signature* was accepted before."""
        ...

    def add(self, signature: str, /) -> None:
        """Remember an accepted *signature*."""
        ...


class ReplayCache:
    """A :class:`SeenSet` that forgets signatures once the time window would refuse them anyway.

    Each signature is kept with the time it was added; every ``add`` drops
    those older than *window* seconds, so the cache holds at most one window's
    worth of requests.

    >>> cache = ReplayCache(window=300, clock=lambda: 1000.0)
    >>> cache.add("sha256=" + "0" * 64)
    >>> ("sha256=" + "0" * 64) in cache, len(cache)
    (True, 1)
    """

    def __init__(self, window: float = WINDOW, *, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._seen: dict[str, float] = {}

    def __contains__(self, signature: object) -> bool:
        return signature in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, signature: str, at: float | None = None) -> None:
        """Remember *signature* (accepted at *at*, now by default) and forget expired ones."""
        now = self.clock() if at is None else at
        self._seen = {s: t for s, t in self._seen.items() if now - t <= 2 * self.window}
        self._seen[signature] = now


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    window: float = WINDOW,
    seen: SeenSet | None = None,
) -> bool:
    """Check a webhook request as its receiver: True, or :class:`~carecore.errors.WebhookRejected`.

    *timestamp* and *signature* are the ``X-Carecore-Timestamp`` and
    ``X-Carecore-Signature`` headers as received, *body* the raw body. The
    request is rejected when a header is missing or malformed (the signature
    must be ``sha256=`` and 64 lowercase hexadecimal digits, the timestamp
    whole seconds since the Unix epoch), when the signature is not the one
    *secret* makes (compared in constant time), when the timestamp is more
    than *window* seconds (5 minutes by default) from *now* (the receiver's
    clock, seconds since the epoch), or when *seen* holds the signature
    already: a replay within the window. An accepted signature is added to
    *seen*.

    >>> verify("s", "1000", b"{}", sign("s", "1000", b"{}"), now=1010)
    True
    >>> verify("s", "1000", b"{}", "sha256=abc", now=1010)
    Traceback (most recent call last):
    ...
    carecore.errors.WebhookRejected: signature='sha256=abc': must be 'sha256=' and 64 lowercase hexadecimal digits
    """
    if isinstance(window, bool) or not isinstance(window, int | float) or not window > 0:
        raise errors.InvalidValue(
            "must be a number of seconds above 0", field="window", value=window
        )
    if not isinstance(signature, str) or not _SIGNATURE.fullmatch(signature):
        raise errors.WebhookRejected(
            "must be 'sha256=' and 64 lowercase hexadecimal digits",
            field="signature",
            value=signature,
        )
    if not isinstance(timestamp, str) or not _TIMESTAMP.fullmatch(timestamp):
        raise errors.WebhookRejected(
            "must be whole seconds since the Unix epoch", field="timestamp", value=timestamp
        )
    if not isinstance(body, bytes | bytearray):
        raise errors.WebhookRejected("must be the raw request body (bytes)", field="body")
    if not hmac.compare_digest(sign(secret, timestamp, bytes(body)), signature):
        raise errors.WebhookRejected(
            "does not match the body and timestamp under this secret", field="signature"
        )
    clock = time.time() if now is None else now
    if abs(clock - int(timestamp)) > window:
        raise errors.WebhookRejected(
            f"more than {window:g} s from the receiver's clock (a late or replayed request)",
            field="timestamp",
            value=timestamp,
        )
    if seen is not None:
        if signature in seen:
            raise errors.WebhookRejected(
                "was accepted before: a replay within the time window", field="signature"
            )
        seen.add(signature)
    return True


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
            raise HttpError(redact(f"HTTP {exc.code} from {request.full_url}")) from exc
        return int(exc.code), body


def _check_url(url: str) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise errors.InvalidValue("must be an http or https URL", field="url", value=url)
    return url


def _encrypted_unless_insecure(allow: str) -> Callable[[Any, Any, str], None]:
    """An attrs validator: an ``http://`` URL only when the channel's ``insecure`` is set."""

    def check(inst: Any, _attribute: Any, url: str) -> None:
        if urllib.parse.urlsplit(url).scheme != "https" and not inst.insecure:
            raise errors.InsecureTransport(field="url", value=url, allow=f"insecure=True ({allow})")

    return check


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
    """POST each message as signed JSON to *url* (see the module README for the headers).

    *url* must be ``https://`` unless *insecure* is set: an ``http://`` URL raises
    :class:`~carecore.errors.InsecureTransport`, since the body carries patient ids and text.
    """

    url: str = field(
        converter=_check_url,
        validator=_encrypted_unless_insecure(
            "CARECORE_WEBHOOK_INSECURE=1, or webhook_insecure = true in carecore.toml"
        ),
    )
    secret: str = field(repr=False, validator=_not_empty_secret)
    timeout: float = field(default=10.0, validator=_timeout)
    clock: Clock = field(factory=SystemClock)
    #: Allow an ``http://`` URL (a receiver on loopback); otherwise only ``https://``.
    insecure: bool = False
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
    *body*: templates decide what health information it may carry. *url* must
    be ``https://`` unless *insecure* is set.
    """

    url: str = field(
        converter=_check_url,
        validator=_encrypted_unless_insecure(
            "CARECORE_SMS_INSECURE=1, or sms_insecure = true in carecore.toml"
        ),
    )
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fields: tuple[str, str, str] = ("To", "From", "Body")
    as_json: bool = False
    timeout: float = field(default=10.0, validator=_timeout)
    clock: Clock = field(factory=SystemClock)
    #: Allow an ``http://`` gateway; otherwise only ``https://``.
    insecure: bool = False
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
            detail=None
            if accepted
            else redact(f"HTTP {status}: {answer[:200].decode(errors='replace')}"),
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
