"""Hook implementations of carecore-http (registered as the ``http`` entry point)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from carecore.plugins import hookimpl
from carecore_http.channels import SmsChannel, WebhookChannel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Channel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give ``webhook`` and ``sms`` when their URLs are configured (``CARECORE_WEBHOOK_*``, ``CARECORE_SMS_*``)."""
    env = os.environ
    out: list[Channel] = []
    if env.get("CARECORE_WEBHOOK_URL"):
        out.append(
            WebhookChannel(
                url=env["CARECORE_WEBHOOK_URL"], secret=env.get("CARECORE_WEBHOOK_SECRET", "")
            )
        )
    if env.get("CARECORE_SMS_URL"):
        out.append(
            SmsChannel(
                url=env["CARECORE_SMS_URL"],
                sender=env.get("CARECORE_SMS_FROM", ""),
                username=env.get("CARECORE_SMS_USER") or None,
                password=env.get("CARECORE_SMS_PASSWORD") or None,
            )
        )
    return out
