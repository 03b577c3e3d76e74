"""Hook implementations of carecore-email (registered as the ``email`` entry point)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from carecore import errors
from carecore._cli_config import cleartext_allowed
from carecore.plugins import hookimpl
from carecore_email.channel import EmailChannel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Channel


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give the ``email`` channel, configured from ``CARECORE_SMTP_*`` variables.

    The conversation is encrypted (``CARECORE_SMTP_TLS``: ``starttls``, the
    default, or ``implicit``); ``CARECORE_SMTP_INSECURE=1`` (or
    ``smtp_insecure`` in the settings file) allows a server that offers no
    STARTTLS.
    """
    env = os.environ
    return [
        EmailChannel(
            host=env.get("CARECORE_SMTP_HOST", "127.0.0.1"),
            port=_port(env.get("CARECORE_SMTP_PORT", "25")),
            sender=env.get("CARECORE_SMTP_FROM", "carecore@localhost"),
            tls=_tls(env.get("CARECORE_SMTP_TLS", "starttls")),
            insecure=cleartext_allowed("smtp_insecure"),
            username=env.get("CARECORE_SMTP_USER") or None,
            password=env.get("CARECORE_SMTP_PASSWORD") or None,
        )
    ]


def _port(text: str) -> int:
    """The SMTP port from the environment: a whole number from 1 to 65535, or a typed error.

    >>> _port("abc")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: CARECORE_SMTP_PORT='abc': must be a port number from 1 to 65535
    """
    stripped = text.strip()
    if not stripped.isdigit() or not 1 <= int(stripped) <= 65535:  # noqa: PLR2004 - port range
        raise errors.InvalidValue(
            "must be a port number from 1 to 65535", field="CARECORE_SMTP_PORT", value=text
        )
    return int(stripped)


def _tls(text: str) -> Literal["starttls", "implicit"]:
    """The TLS mode from the environment: ``starttls`` or ``implicit``, or a typed error.

    >>> _tls(" Implicit ")
    'implicit'
    """
    mode = text.strip().lower() or "starttls"
    if mode == "starttls":
        return "starttls"
    if mode == "implicit":
        return "implicit"
    raise errors.InvalidValue(
        "must be 'starttls' or 'implicit'", field="CARECORE_SMTP_TLS", value=text
    )
