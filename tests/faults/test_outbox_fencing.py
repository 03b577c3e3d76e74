"""Outbox lease fencing: a dispatcher whose lease ran out neither sends nor records.

The reproduction: a run with a 3-second lease and a receiver that takes one
second per message, and a second run started 3.6 seconds later. Time is a
clock the first run's receiver moves, so the interleaving is exact and the
test is fast. The second run is started from inside the first run's send, as
it would start on another host; its own sends take no simulated time (in
life they run in parallel with the first run's, not inside one of them).
"""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import DeliveryReceipt, OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.service import CareProgram

START = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


class SteppingClock(FixedClock):
    """A clock shared by both runs, moved forward by the slow receiver."""

    def __init__(self, at):
        super().__init__(at)
        self.at = pendulum.instance(at)

    def now(self):
        return self.at

    def step(self, seconds):
        self.at = self.at.add(microseconds=int(seconds * 1_000_000))


class SlowReceiver:
    """A channel whose peer takes one second per message; it keeps every key it got.

    When the clock passes *second_run_at*, *second_run* is started (once), as a
    cron job on another host would start while this send is in flight.
    """

    id = "console"

    def __init__(self, clock, seconds=1.0, received=None):
        self.clock = clock
        self.seconds = seconds
        self.received = [] if received is None else received
        self.second_run = None
        self.second_run_at = None

    def send(self, message):
        self.received.append(message.idempotency_key)
        for _ in range(10 if self.seconds else 0):
            self.clock.step(self.seconds / 10)
            if self.second_run is not None and self.clock.now() >= self.second_run_at:
                run, self.second_run = self.second_run, None
                run()
        return DeliveryReceipt(
            message_id=message.id, channel=self.id, accepted=True, at=self.clock.now()
        )


def message(n):
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel="console",
        recipient="rn1",
        subject=f"Note {n}",
        body="Call the patient.",
        created_at=START,
    )


def queue(url, clock, count):
    with (
        CareProgram.open(url, clock=clock, actor="queue") as program,
        program.transaction("queue") as tx,
    ):
        for n in range(count):
            tx.enqueue(message(n))


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'outbox.db'}"


def test_a_second_run_past_the_lease_sends_nothing_twice(url):
    """8 messages, lease 3 s, 1 s per message, a second run at 3.6 s: 8 sends (was 13)."""
    clock = SteppingClock(START)
    queue(url, clock, 8)
    receiver = SlowReceiver(clock)
    first = CareProgram.open(url, clock=clock, actor="outbox-a")
    second = CareProgram.open(url, clock=clock, actor="outbox-b")
    reports = {}

    def run_second():
        fast = SlowReceiver(clock, seconds=0, received=receiver.received)
        reports["second"] = Dispatcher(second, {"console": fast}, lease_seconds=3).run_until_idle()

    receiver.second_run = run_second
    receiver.second_run_at = START.add(microseconds=3_600_000)
    try:
        reports["first"] = Dispatcher(
            first, {"console": receiver}, lease_seconds=3
        ).run_until_idle()
        with first.transaction("check") as tx:
            delivered = tx.outbox(status="delivered")
            pending = tx.outbox(status="pending")
    finally:
        first.close()
        second.close()
    assert "second" in reports  # the second run did start mid-send
    assert sorted(receiver.received) == sorted(f"k{n}" for n in range(8))
    assert len(delivered) == 8
    assert not pending
    assert all(i.attempts == 1 for i in delivered)
    assert reports["first"].delivered + reports["second"].delivered == 8


def test_a_stale_claim_cannot_record_a_delivery(url):
    """A claim taken over after its lease ended is refused by name; the new holder records."""
    clock = SteppingClock(START)
    with CareProgram.open(url, clock=clock, actor="test") as program:
        with program.transaction("queue") as tx:
            tx.enqueue(message(1))
        with program.transaction("claim a") as tx:
            (old,) = tx.claim_outbox(due_at=clock.now(), lease_until=clock.now().add(seconds=3))
        clock.step(4)
        with program.transaction("claim b") as tx:
            (new,) = tx.claim_outbox(due_at=clock.now(), lease_until=clock.now().add(seconds=3))
        assert new.claim != old.claim
        receipt = DeliveryReceipt(message_id="m1", channel="console", accepted=True, at=clock.now())
        with pytest.raises(errors.LeaseLost) as caught, program.transaction("record a") as tx:
            tx.record_delivery(receipt, claim=old.claim)
        assert caught.value.field == "claim"
        with program.transaction("extend a") as tx:
            assert not tx.extend_lease("m1", claim=old.claim, until=clock.now().add(seconds=9))
        with program.transaction("status") as tx:
            assert [i.status for i in tx.outbox(status="pending")] == ["pending"]
        with program.transaction("extend b") as tx:
            assert tx.extend_lease("m1", claim=new.claim, until=clock.now().add(seconds=9))
        with program.transaction("record b") as tx:
            tx.record_delivery(receipt, claim=new.claim)
        with program.transaction("status") as tx:
            (item,) = tx.outbox(status="delivered")
        assert item.attempts == 1


def test_a_run_that_loses_its_lease_reports_it(url):
    """The stale run's report counts the messages another run took over."""
    clock = SteppingClock(START)
    queue(url, clock, 4)
    receiver = SlowReceiver(clock, seconds=2)
    first = CareProgram.open(url, clock=clock, actor="outbox-a")
    second = CareProgram.open(url, clock=clock, actor="outbox-b")
    reports = {}
    receiver.second_run = lambda: reports.setdefault(
        "second",
        Dispatcher(
            second,
            {"console": SlowReceiver(clock, seconds=0, received=receiver.received)},
            lease_seconds=3,
        ).run_once(),
    )
    receiver.second_run_at = START.add(seconds=3, microseconds=500_000)
    try:
        reports["first"] = Dispatcher(
            first, {"console": receiver}, lease_seconds=3, policy=RetryPolicy(max_attempts=2)
        ).run_once()
    finally:
        first.close()
        second.close()
    assert len(receiver.received) == 4
    assert reports["first"].taken_over == 2
    assert reports["first"].delivered + reports["second"].delivered == 4
