"""The JSON Lines channel."""

from __future__ import annotations

import json
import os
from pathlib import Path

from carecore import errors
from carecore._files import private_folder, private_open
from carecore.clock import Clock, SystemClock
from carecore.convert import to_primitive
from carecore.model import DeliveryReceipt, OutboundMessage

__all__ = ["JsonlChannel"]


class JsonlChannel:
    """Append each message to *path* as one JSON line, once per idempotency key.

    >>> import pendulum, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> channel = JsonlChannel(path)
    >>> msg = OutboundMessage(id="m1", idempotency_key="k1", channel="jsonl", recipient="rn1",
    ...     subject="Call due", body="Call Ada.", created_at=pendulum.datetime(2026, 1, 5, tz="UTC"))
    >>> channel.send(msg).provider_id, channel.send(msg).detail
    ('line-1', 'already delivered')
    >>> len(path.read_text().splitlines())
    1
    """

    id = "jsonl"

    def __init__(self, path: Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()

    @property
    def destination(self) -> str:
        """The file messages are appended to, as a delivery's audit row names it."""
        return str(self.path.resolve())

    def _delivered(self) -> dict[str, int]:
        """Idempotency keys already in the file, with their line numbers."""
        if not self.path.exists():
            return {}
        seen: dict[str, int] = {}
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    seen[json.loads(line)["idempotency_key"]] = number
                except (ValueError, KeyError, TypeError) as exc:
                    raise errors.InvalidInput(
                        str(self.path),
                        problems=[
                            errors.Problem(
                                path=f"$[{number}]",
                                message=f"not a carecore message line: {exc}",
                            )
                        ],
                    ) from exc
        return seen

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        """Append *message* unless its idempotency key was delivered before."""
        now = self._clock.now()
        seen = self._delivered()
        if message.idempotency_key in seen:
            return DeliveryReceipt(
                message_id=message.id,
                channel=self.id,
                accepted=True,
                at=now,
                provider_id=f"line-{seen[message.idempotency_key]}",
                detail="already delivered",
            )
        # ASCII-only JSON: no raw U+2028 or U+0085 that a line splitter might break on.
        line = json.dumps(to_primitive(message), ensure_ascii=True, sort_keys=True) + "\n"
        # The file holds message texts: its owner's only (0600, a folder made for it 0700).
        private_folder(self.path.parent)
        # One write of one line, then fsync: a crash leaves either the whole line or none.
        with private_open(self.path, "a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        return DeliveryReceipt(
            message_id=message.id,
            channel=self.id,
            accepted=True,
            at=now,
            provider_id=f"line-{len(seen) + 1}",
        )
