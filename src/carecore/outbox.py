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

A crash between a send and its record leaves the message ``pending``, so it
is sent again; channels pass the message's ``idempotency_key`` to peers that
can drop a repeat (an e-mail Message-ID, a webhook header).

>>> RetryPolicy(base_seconds=30, jitter=0).delay(3, random.Random(1))
120.0
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from attrs import Attribute, field, frozen

from carecore import errors
from carecore.model import ContactPreferences, DeliveryReceipt, OutboundMessage, Patient

if TYPE_CHECKING:
    from collections.abc import Callable

    import pendulum

    from carecore.protocols import Channel
    from carecore.service import CareProgram
    from carecore.storage import OutboxItem

__all__ = ["DispatchReport", "Dispatcher", "RetryPolicy"]


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
    ) -> None:
        if not isinstance(channels, Mapping):
            raise errors.InvalidValue(
                "must map channel ids to channels", field="channels", value=channels
            )
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise errors.InvalidValue("must be a RetryPolicy", field="policy", value=policy)
        self.program = program
        self.channels = dict(channels)
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security

    def run_once(self, *, limit: int = 100) -> DispatchReport:
        """Try every message due now (up to *limit*), oldest first."""
        now = self.program.clock.now()
        with self.program.transaction("outbox: due messages") as tx:
            due = tx.outbox(status="pending", limit=limit, due_at=now)
        counts = {"delivered": 0, "retrying": 0, "dead": 0, "deferred": 0}
        for item in due:
            counts[self._deliver(item)] += 1
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
                deferred=report.deferred,
            )
            if report.delivered + report.dead == 0:
                break
        return total

    def _patient_rule(
        self, message: OutboundMessage, now: pendulum.DateTime
    ) -> tuple[str | None, pendulum.DateTime | None]:
        """(``"opted-out"`` or ``"quiet"`` or None, when the quiet hours end) for a message to a patient."""
        if message.audience != "patient" or message.patient_id is None:
            return None, None
        with self.program.transaction("outbox: contact preferences") as tx:
            prefs = tx.find(ContactPreferences, patient_id=message.patient_id)
            patients = tx.find(Patient, patient_id=message.patient_id)
        if not prefs:
            return None, None
        if not prefs[0].allows(message.channel):
            return "opted-out", None
        zone = patients[0].time_zone if patients else "UTC"
        local = now.in_timezone(zone)
        if not prefs[0].quiet_at(local.time()) or prefs[0].quiet_end is None:
            return None, None
        end = prefs[0].quiet_end
        until = local.set(hour=end.hour, minute=end.minute, second=end.second, microsecond=0)
        if until <= local:
            until = until.add(days=1)
        return "quiet", until

    def _deliver(self, item: OutboxItem) -> str:  # noqa: PLR0911 - one outcome per case
        message = item.message
        attempts = item.attempts
        channel = self.channels.get(message.channel)
        now = self.program.clock.now()
        rule, quiet_until = self._patient_rule(message, now)
        if rule == "quiet" and quiet_until is not None:
            with self.program.transaction("outbox: quiet hours") as tx:
                tx.defer(
                    message.id, quiet_until
                )  # due again when the quiet hours end; no attempt counted
            return "deferred"
        if rule == "opted-out":
            receipt = DeliveryReceipt(
                message_id=message.id,
                channel=message.channel,
                accepted=False,
                at=now,
                detail=f"the patient opted out of {message.channel}",
            )
            return self._record(receipt, give_up=True)
        if channel is None:
            receipt = DeliveryReceipt(
                message_id=message.id,
                channel=message.channel,
                accepted=False,
                at=now,
                detail=f"no channel named {message.channel!r} is installed",
            )
            return self._record(receipt, give_up=True)
        try:
            receipt = channel.send(message)
        except (
            errors.CarecoreError
        ) as exc:  # the channel refuses the message itself: retrying cannot help
            receipt = DeliveryReceipt(
                message_id=message.id,
                channel=message.channel,
                accepted=False,
                at=now,
                detail=str(exc)[:500],
            )
            return self._record(receipt, give_up=True)
        except Exception as exc:  # noqa: BLE001 - any channel failure is worth a retry
            receipt = DeliveryReceipt(
                message_id=message.id,
                channel=message.channel,
                accepted=False,
                at=now,
                detail=f"{type(exc).__name__}: {exc}"[:500],
            )
            attempt = attempts + 1
            if attempt >= self.policy.max_attempts:
                return self._record(receipt, give_up=True)
            retry_at = now.add(seconds=self.policy.delay(attempt, self.rng))
            return self._record(receipt, retry_at=retry_at)
        return self._record(receipt, give_up=not receipt.accepted)

    def _record(
        self,
        receipt: DeliveryReceipt,
        *,
        retry_at: pendulum.DateTime | None = None,
        give_up: bool = False,
    ) -> str:
        with self.program.transaction(f"outbox: delivery by {receipt.channel}") as tx:
            tx.record_delivery(receipt, retry_at=retry_at, give_up=give_up)
        if receipt.accepted:
            return "delivered"
        return "dead" if give_up else "retrying"
