"""carecore channels over HTTP: signed webhooks and an SMS gateway.

>>> from carecore_http import WebhookChannel, verify, sign
>>> WebhookChannel(url="https://hooks.example.org/carecore", secret="s").id
'webhook'
>>> verify("s", "1000", b"{}", sign("s", "1000", b"{}"), now=1000)
True
"""

from __future__ import annotations

from carecore_http.channels import (
    WINDOW,
    HttpError,
    ReplayCache,
    SeenSet,
    SmsChannel,
    WebhookChannel,
    sign,
    verify,
)

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
