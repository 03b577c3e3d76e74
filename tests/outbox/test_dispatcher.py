"""The outbox dispatcher: delivery, retries with backoff, dead letters, requeue, the CLI."""

from __future__ import annotations

import json
import random

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import DeliveryReceipt, OutboundMessage
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


class Flaky:
    """A real channel that keeps what it sends, after failing its first *failures* sends."""

    def __init__(self, channel_id="console", failures=0, refuse=False):
        self.id = channel_id
        self.failures = failures
        self.refuse = refuse
        self.sent = []

    def send(self, message):
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("server down")
        if self.refuse:
            return DeliveryReceipt(
                message_id=message.id,
                channel=self.id,
                accepted=False,
                at=NOW,
                detail="no such mailbox",
            )
        self.sent.append(message.idempotency_key)
        return DeliveryReceipt(message_id=message.id, channel=self.id, accepted=True, at=NOW)


def message(n, channel="console"):
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel=channel,
        recipient="rn1",
        subject=f"Note {n}",
        body="Call the patient.",
        created_at=NOW,
    )


@pytest.fixture
def clock():
    return FixedClock(NOW)


@pytest.fixture
def program(tmp_path, clock):
    program = CareProgram.open(f"sqlite:///{tmp_path / 'outbox.db'}", clock=clock, actor="test")
    with program.transaction("queue") as tx:
        for n in range(3):
            tx.enqueue(message(n))
    yield program
    program.close()


def statuses(program):
    with program.transaction("check") as tx:
        return {
            s: sorted(i.message.id for i in tx.outbox(status=s))
            for s in ("pending", "delivered", "failed", "dead")
        }


def test_delivers_everything_due_once(program):
    channel = Flaky()
    report = Dispatcher(program, {"console": channel}).run_until_idle()
    assert (report.delivered, report.retrying, report.dead) == (3, 0, 0)
    assert channel.sent == ["k0", "k1", "k2"]
    assert Dispatcher(program, {"console": channel}).run_until_idle().attempted == 0
    assert channel.sent == ["k0", "k1", "k2"]
    assert statuses(program)["delivered"] == ["m0", "m1", "m2"]


def test_a_server_down_is_retried_with_backoff_and_nothing_is_lost_or_doubled(program, clock):
    channel = Flaky(failures=4)
    policy = RetryPolicy(base_seconds=60, jitter=0)
    dispatcher = Dispatcher(program, {"console": channel}, policy=policy, rng=random.Random(7))
    first = dispatcher.run_once()
    assert (first.delivered, first.retrying) == (0, 3)
    with program.transaction("check") as tx:
        waiting = tx.outbox()
    assert {i.next_attempt_at for i in waiting} == {NOW.add(seconds=60)}
    assert dispatcher.run_once().attempted == 0  # nothing due yet
    program.clock = program.clock.advance(seconds=60)
    second = dispatcher.run_once()
    assert (second.delivered, second.retrying) == (2, 1)  # the 4th failure hit m0 again
    program.clock = program.clock.advance(seconds=120)
    assert dispatcher.run_once().delivered == 1
    assert sorted(channel.sent) == ["k0", "k1", "k2"]
    with program.transaction("check") as tx:
        done = {i.message.id: i.attempts for i in tx.outbox(status="delivered")}
    assert done == {"m0": 3, "m1": 2, "m2": 2}


def test_after_the_last_attempt_a_message_is_dead_and_can_be_requeued(
    program, clock, carecore_pm, tmp_path
):
    channel = Flaky(failures=100)
    dispatcher = Dispatcher(
        program, {"console": channel}, policy=RetryPolicy(max_attempts=2, base_seconds=1, jitter=0)
    )
    dispatcher.run_once()
    program.clock = program.clock.advance(seconds=5)
    assert dispatcher.run_once().dead == 3
    assert statuses(program)["dead"] == ["m0", "m1", "m2"]
    with program.transaction("requeue") as tx:
        tx.requeue("m1")
    assert statuses(program)["pending"] == ["m1"]
    with program.transaction("check") as tx:
        assert [i.attempts for i in tx.outbox()] == [0]  # a fresh budget of attempts


def test_refusals_and_unknown_channels_are_dead_at_once(program):
    with program.transaction("queue") as tx:
        tx.enqueue(message(9, channel="pager"))
    report = Dispatcher(program, {"console": Flaky(refuse=True)}).run_until_idle()
    assert report.dead == 4
    with program.transaction("check") as tx:
        dead = {i.message.id: i.last_error for i in tx.outbox(status="dead")}
    assert dead["m9"] == "no channel named 'pager' is installed"
    assert dead["m0"] == "no such mailbox"


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 20])
def test_backoff_grows_is_capped_and_jittered(attempt):
    policy = RetryPolicy(base_seconds=30, factor=2, max_seconds=3600, jitter=0.2)
    raw = min(3600, 30 * 2 ** (attempt - 1))
    delays = {policy.delay(attempt, random.Random(seed)) for seed in range(50)}
    assert all(raw * 0.8 <= d <= raw * 1.2 for d in delays)
    assert len(delays) > 1


def test_outbox_cli(program, tmp_path, carecore_pm):
    url = program.store.url
    program.close()
    app = make_app(carecore_pm)
    runner = CliRunner()
    ran = runner.invoke(app, ["outbox", "run", "--db", url])
    assert ran.exit_code == 0, ran.output
    assert "delivered 3" in ran.output
    status = json.loads(
        runner.invoke(app, ["outbox", "status", "--db", url, "--format", "json"]).output
    )
    assert status["counts"]["delivered"] == 3
    missing = runner.invoke(app, ["outbox", "retry", "--db", url, "m0"])
    assert missing.exit_code == 2
    assert "message_id='m0'" in missing.output


def test_a_channel_refusing_with_a_carecore_error_does_not_stop_the_run(program):
    from carecore import errors

    class Strict:
        id = "console"

        def send(self, message):
            raise errors.InvalidValue("cannot format this message", field="body", value=message.id)

    report = Dispatcher(program, {"console": Strict()}).run_until_idle()
    assert report.dead == 3
    with program.transaction("check") as tx:
        assert {i.last_error for i in tx.outbox(status="dead")} == {
            f"body='m{n}': cannot format this message" for n in range(3)
        }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("base_seconds", -1),
        ("factor", 0.5),
        ("jitter", "lots"),
        ("max_seconds", True),
    ],
)
def test_retry_policies_refuse_nonsense(field, value):
    from carecore import errors

    with pytest.raises(errors.InvalidValue) as info:
        RetryPolicy(**{field: value})
    assert (info.value.field, info.value.value) == (field, value)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"channels": None}, "channels"), ({"policy": "fast"}, "policy")]
)
def test_dispatcher_arguments_are_checked(program, kwargs, field):
    from carecore import errors

    args = {"channels": {"console": Flaky()}} | kwargs
    with pytest.raises(errors.InvalidValue) as info:
        Dispatcher(program, args.pop("channels"), **args)
    assert info.value.field == field
