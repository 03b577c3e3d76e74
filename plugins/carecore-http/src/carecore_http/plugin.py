"""Hook implementations of carecore-http (registered as the ``http`` entry point)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import TYPE_CHECKING

from carecore import errors
from carecore._cli_config import cleartext_allowed
from carecore.plugins import hookimpl
from carecore_http.channels import SmsChannel, WebhookChannel

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from carecore.protocols import Channel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give ``webhook`` and ``sms`` when their URLs are configured (``CARECORE_WEBHOOK_*``, ``CARECORE_SMS_*``).

    An ``http://`` URL is refused with :class:`~carecore.errors.InsecureTransport`
    unless ``CARECORE_WEBHOOK_INSECURE=1`` (``CARECORE_SMS_INSECURE=1``), or the
    configuration file's ``webhook_insecure`` (``sms_insecure``), allows it.
    """
    env = os.environ
    out: list[Channel] = []
    if env.get("CARECORE_WEBHOOK_URL"):
        with _named("CARECORE_WEBHOOK_URL"):
            out.append(
                WebhookChannel(
                    url=env["CARECORE_WEBHOOK_URL"],
                    secret=env.get("CARECORE_WEBHOOK_SECRET", ""),
                    insecure=cleartext_allowed("webhook_insecure"),
                )
            )
    if env.get("CARECORE_SMS_URL"):
        with _named("CARECORE_SMS_URL"):
            out.append(
                SmsChannel(
                    url=env["CARECORE_SMS_URL"],
                    sender=env.get("CARECORE_SMS_FROM", ""),
                    username=env.get("CARECORE_SMS_USER") or None,
                    password=env.get("CARECORE_SMS_PASSWORD") or None,
                    insecure=cleartext_allowed("sms_insecure"),
                )
            )
    return out


@contextmanager
def _named(variable: str) -> Iterator[None]:
    """Name the variable a refused URL came from, instead of the channel's ``url`` field."""
    try:
        yield
    except errors.InsecureTransport as exc:
        raise errors.InsecureTransport(
            field=variable, value=exc.value, allow=exc.allow.removeprefix("insecure=True (")[:-1]
        ) from None
