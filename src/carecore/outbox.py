"""Delivering the outbox: retries with exponential backoff and jitter, then dead letters.

Messages are written to the outbox in the same transaction as the change
that caused them; the :class:`Dispatcher` delivers them later through the
channels plugins provide (``carecore_channels``). Sending happens outside any
store transaction; the outcome of each attempt is then recorded in its own
transaction:

- accepted: ``delivered``, with the receipt's time;
- the channel raised (a failure worth retrying: a server down, a timeout):
  ``pending`` again, due after an exponential backoff with jitter, until the
  last allowed attempt, then ``dead``;
- the channel refused (``accepted=False``, a failure that will never
  succeed) or no channel has the message's name: ``dead`` at once.

Dispatchers may run side by side. Each claim of a message holds it for a
lease and carries a claim number (a fencing token). Before each send the
dispatcher extends its lease, and only while its claim is still the newest;
a message whose lease ran out and that another dispatcher claimed since is
skipped (``taken_over`` in the report), and recording its outcome is refused
(:class:`~carecore.errors.LeaseLost`), so a stale dispatcher neither sends it
nor records it.

A message can still be sent twice in exactly two cases:

- the process dies (or loses the store) after the channel accepted the
  message and before the outcome is recorded: the message stays ``pending``
  and is sent again when the lease ends;
- one send takes longer than the whole lease (set the lease well above the
  channels' timeouts: the e-mail and webhook channels time out after 10 s).

For both, channels pass the message's ``idempotency_key`` to peers that can
drop a repeat: the same e-mail Message-ID, the same webhook
``Idempotency-Key`` header, on every attempt.

>>> RetryPolicy(base_seconds=30, jitter=0).delay(3, random.Random(1))
120.0
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
from attrs import Attribute, field, frozen

from carecore import errors, notify
from carecore._builtin.console_channel import ConsoleChannel
from carecore._redact import redact
from carecore.model import ContactPreferences, DeliveryReceipt, Patient

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum

    from carecore.model import OutboundMessage
    from carecore.protocols import Channel
    from carecore.service import CareProgram
    from carecore.storage import OutboxItem

__all__ = ["PATIENT_ADDRESS", "ConsoleChannel", "DispatchReport", "Dispatcher", "RetryPolicy"]

#: A recipient meaning "the patient's own address on the message's channel"
#: (their phone for ``sms``, their email for ``email``, from their
#: :class:`~carecore.model.ContactPreferences`). The dispatcher looks it up
#: when it delivers, so the newest address is used and none is copied into the
#: outbox; with none on file the message goes to the dead letters, saying so.
PATIENT_ADDRESS: Final = notify.PATIENT_ADDRESS


def _at_least(low: float) -> Callable[[Any, Attribute[Any], Any], None]:
    def check(_inst: Any, attribute: Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
            raise errors.InvalidValue(
                f"must be a number of at least {low}", field=attribute.name, value=value
            )

    return check


@frozen(kw_only=True)
class RetryPolicy:
    """How often and how long to retry: ``base * factor**(attempt-1)`` seconds, capped, +/- ``jitter``."""

    max_attempts: int = field(default=6, validator=_at_least(1))
    base_seconds: float = field(default=30.0, validator=_at_least(0))
    factor: float = field(default=2.0, validator=_at_least(1))
    max_seconds: float = field(default=3600.0, validator=_at_least(0))
    jitter: float = field(default=0.2, validator=_at_least(0))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number *attempt* (1 for the first)."""
        raw = min(self.max_seconds, self.base_seconds * self.factor ** (attempt - 1))
        spread = raw * self.jitter
        return max(0.0, raw + rng.uniform(-spread, spread))


@frozen(kw_only=True)
class DispatchReport:
    """What one :meth:`Dispatcher.run_once` did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0  #: to patients in their quiet hours: still pending
    #: claimed by another dispatcher after this one's lease ran out: not sent here
    taken_over: int = 0

    @property
    def attempted(self) -> int:
        """Messages tried in this run."""
        return self.delivered + self.retrying + self.dead


class Dispatcher:
    """Delivers due outbox messages through channels, recording every attempt.

    :param program: the program whose store holds the outbox.
    :param channels: channels by id (``Hooks(pm).channels()`` gives the installed ones).
    :param policy: the retry policy.
    :param rng: the jitter's random source (seed it in tests).
    """

    def __init__(
        self,
        program: CareProgram,
        channels: Mapping[str, Channel],
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        lease_seconds: float = 300.0,
    ) -> None:
        if not isinstance(channels, Mapping):
            raise errors.InvalidValue(
                "must map channel ids to channels", field="channels", value=channels
            )
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise errors.InvalidValue("must be a RetryPolicy", field="policy", value=policy)
        if (
            isinstance(lease_seconds, bool)
            or not isinstance(lease_seconds, int | float)
            or not (0 < lease_seconds < math.inf)
        ):
            raise errors.InvalidValue(
                "must be a positive number of seconds", field="lease_seconds", value=lease_seconds
            )
        self.program = program
        self.channels = dict(channels)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.lease_seconds = float(lease_seconds)

    def run_once(self, *, limit: int = 100) -> DispatchReport:
        """Claim every message due now (up to *limit*), oldest first, and try each once.

        Claiming holds the messages for ``lease_seconds``, so dispatchers run
        side by side (two cron jobs, two hosts) never take the same message;
        one that dies mid-run leaves its messages due again when the lease ends.
        """
        now = self.program.clock.now()
        with self.program.transaction("outbox: due messages") as tx:
            due = tx.claim_outbox(
                due_at=now, lease_until=now.add(seconds=self.lease_seconds), limit=limit
            )
            # What patient messages need, read once for the whole batch.
            ids = {
                i.message.patient_id
                for i in due
                if i.message.audience == "patient" and i.message.patient_id is not None
            }
            prefs = {
                p.patient_id: p for pid in ids for p in tx.find(ContactPreferences, patient_id=pid)
            }
            zones = {p.id: p.time_zone for pid in ids for p in tx.find(Patient, patient_id=pid)}
        counts = {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0, "taken_over": 0}
        for item in due:
            patient = item.message.patient_id or ""
            counts[self._deliver(item, prefs.get(patient), zones.get(patient, "UTC"))] += 1
        return DispatchReport(**counts)

    def run_until_idle(self, *, limit: int = 100, max_rounds: int = 1000) -> DispatchReport:
        """Run until no message is due now (retries due later stay queued)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = self.run_once(limit=limit)
            total = DispatchReport(
                delivered=total.delivered + report.delivered,
                retrying=total.retrying + report.retrying,
                dead=total.dead + report.dead,
                deferred=total.deferred + report.deferred,
                taken_over=total.taken_over + report.taken_over,
            )
            if report.attempted + report.deferred + report.taken_over == 0:
                break
        return total

    @staticmethod
    def _quiet_until(
        prefs: ContactPreferences, zone: str, now: pendulum.DateTime
    ) -> pendulum.DateTime | None:
        """When the patient's quiet hours end, if *now* falls in them."""
        local = now.in_timezone(zone)
        end = prefs.quiet_end
        if end is None or not prefs.quiet_at(local.time()):
            return None
        until = local.set(hour=end.hour, minute=end.minute, second=end.second, microsecond=0)
        return until.add(days=1) if until <= local else until

    def _refuse(self, item: OutboxItem, now: pendulum.DateTime, detail: str) -> str:
        message = item.message
        receipt = DeliveryReceipt(
            message_id=message.id, channel=message.channel, accepted=False, at=now, detail=detail
        )
        return self._record(item, receipt, give_up=True)

    def _still_held(self, item: OutboxItem) -> bool:
        """Extend this dispatcher's lease on *item*; False when another claim took it."""
        now = self.program.clock.now()
        with self.program.transaction("outbox: extend lease") as tx:
            return tx.extend_lease(
                item.message.id, claim=item.claim, until=now.add(seconds=self.lease_seconds)
            )

    def _deliver(self, item: OutboxItem, prefs: ContactPreferences | None, zone: str) -> str:
        message = item.message
        now = self.program.clock.now()
        to_patient = message.audience == "patient" and message.patient_id is not None
        if to_patient and prefs is not None:
            if not prefs.allows(message.channel):
                return self._refuse(item, now, f"the patient opted out of {message.channel}")
            quiet_until = self._quiet_until(prefs, zone, now)
            if quiet_until is not None:
                with self.program.transaction("outbox: quiet hours") as tx:
                    # Due again when the quiet hours end; no attempt counted.
                    tx.defer(message.id, quiet_until)
                return "deferred"
        if message.recipient == PATIENT_ADDRESS:
            # Looked up now, not when queued: the newest address, and none copied early.
            address = prefs.address_for(message.channel) if to_patient and prefs else None
            if address is None:
                return self._refuse(
                    item, now, f"no {message.channel} address on file for the patient"
                )
            message = attrs.evolve(message, recipient=address)
        channel = self.channels.get(message.channel)
        if channel is None:
            return self._refuse(item, now, f"no channel named {message.channel!r} is installed")
        if not self._still_held(item):
            # The lease ran out and another dispatcher claimed the message: it sends.
            return "taken_over"
        return self._send(channel, item, message, now)

    def _send(
        self, channel: Channel, item: OutboxItem, message: OutboundMessage, now: pendulum.DateTime
    ) -> str:
        try:
            receipt = channel.send(message)
        except errors.CarecoreError as exc:
            # The channel refuses the message itself: retrying cannot help.
            return self._refuse(item, now, str(exc)[:500])
        except Exception as exc:  # noqa: BLE001 - any channel failure is worth a retry
            receipt = DeliveryReceipt(
                message_id=message.id,
                channel=message.channel,
                accepted=False,
                at=now,
                detail=f"{type(exc).__name__}: {exc}"[:500],
            )
            attempt = item.attempts + 1
            if attempt >= self.policy.max_attempts:
                return self._record(item, receipt, give_up=True)
            return self._record(
                item, receipt, retry_at=now.add(seconds=self.policy.delay(attempt, self.rng))
            )
        return self._record(item, receipt, give_up=not receipt.accepted)

    def _delivery_reason(self, name: str) -> str:
        """What the delivery's audit row says: the channel and where it sent, secrets masked.

        Where is the channel's ``destination`` (an SMTP server's host and port, a
        file), else its ``url`` (a webhook, an SMS gateway).
        """
        channel = self.channels.get(name)
        endpoint = getattr(channel, "destination", None)
        if not isinstance(endpoint, str):
            endpoint = getattr(channel, "url", None)
        where = f" to {redact(endpoint)}" if isinstance(endpoint, str) and endpoint else ""
        return f"outbox: delivery by {name}{where}"

    def _record(
        self,
        item: OutboxItem,
        receipt: DeliveryReceipt,
        *,
        retry_at: pendulum.DateTime | None = None,
        give_up: bool = False,
    ) -> str:
        if receipt.detail:
            # A channel's error may name its URL with a token, or echo a header: never stored.
            receipt = attrs.evolve(receipt, detail=redact(receipt.detail))
        try:
            with self.program.transaction(self._delivery_reason(receipt.channel)) as tx:
                tx.record_delivery(receipt, retry_at=retry_at, give_up=give_up, claim=item.claim)
        except errors.LeaseLost:
            # A send that outlasted the whole lease: the newer claim records the outcome.
            return "taken_over"
        if receipt.accepted:
            return "delivered"
        return "dead" if give_up else "retrying"
