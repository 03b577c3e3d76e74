"""Hook implementations of carecore-email (registered as the ``email`` entry point)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from carecore.plugins import hookimpl
from carecore_email.channel import EmailChannel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Channel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give the ``email`` channel, configured from ``CARECORE_SMTP_*`` variables."""
    env = os.environ
    return [
        EmailChannel(
            host=env.get("CARECORE_SMTP_HOST", "127.0.0.1"),
            port=int(env.get("CARECORE_SMTP_PORT", "25")),
            sender=env.get("CARECORE_SMTP_FROM", "carecore@localhost"),
            starttls=env.get("CARECORE_SMTP_STARTTLS", "").strip() not in {"", "0"},
            username=env.get("CARECORE_SMTP_USER") or None,
            password=env.get("CARECORE_SMTP_PASSWORD") or None,
        )
    ]
