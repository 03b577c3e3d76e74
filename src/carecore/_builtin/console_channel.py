"""The console channel: prints messages to a stream (standard output by default).

Useful in development, in the demo and for practices that read their outbox
in a terminal. It never refuses a message.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from carecore.clock import Clock, SystemClock
from carecore.model import DeliveryReceipt, OutboundMessage
from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.protocols import Channel

__all__ = ["ConsoleChannel", "carecore_channels"]


class ConsoleChannel:
    """Write each message as a short block of text.

    >>> import io, pendulum
    >>> from carecore.clock import FixedClock
    >>> out = io.StringIO()
    >>> channel = ConsoleChannel(stream=out, clock=FixedClock(pendulum.datetime(2026, 1, 5, tz="UTC")))
    >>> msg = OutboundMessage(id="m1", idempotency_key="k1", channel="console", recipient="rn1",
    ...     subject="TCM contact due", body="Call by Jan 7.", created_at=pendulum.datetime(2026, 1, 5, tz="UTC"))
    >>> channel.send(msg).accepted
    True
    >>> print(out.getvalue().strip())
    [console] to rn1: TCM contact due
    Call by Jan 7.
    """

    id = "console"

    def __init__(self, *, stream: TextIO | None = None, clock: Clock | None = None) -> None:
        self._stream = stream
        self._clock = clock or SystemClock()

    @property
    def destination(self) -> str:
        """Where messages go, as a delivery's audit row names it."""
        return "standard output" if self._stream is None else "a stream of the application"

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Print *message* and return an accepted receipt."""
        stream = self._stream or sys.stdout
        stream.write(f"[console] to {message.recipient}: {message.subject}\n{message.body}\n")
        stream.flush()
        return DeliveryReceipt(
            message_id=message.id, channel=self.id, accepted=True, at=self._clock.now()
        )


@hookimpl
def carecore_channels() -> Sequence[Channel]:
    """Give the console channel."""
    return [ConsoleChannel()]
