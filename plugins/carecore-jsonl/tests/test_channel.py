from __future__ import annotations

import json

import pendulum
import pytest
from carecore_jsonl import JsonlChannel
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.clock import FixedClock
from carecore.convert import from_primitive
from carecore.model import OutboundMessage
from carecore.outbox import Dispatcher
from carecore.service import CareProgram
from carecore.testing.strategies import outbound_messages


def message(key: str, body: str = "Call Ada by Wednesday.") -> OutboundMessage:
    return OutboundMessage(
        id=f"m-{key}",
        idempotency_key=key,
        channel="jsonl",
        recipient="rn1",
        subject="TCM contact due",
        body=body,
        created_at=pendulum.datetime(2026, 1, 5, 9, tz="America/Chicago"),
    )


def test_each_key_is_written_once(tmp_path, carecore_clock):
    channel = JsonlChannel(tmp_path / "out.jsonl", clock=carecore_clock)
    first = channel.send(message("a"))
    again = channel.send(message("a"))
    other = channel.send(message("b"))
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert first.provider_id == again.provider_id == "line-1"
    assert again.detail == "already delivered"
    assert other.provider_id == "line-2"


def test_a_new_channel_on_the_same_file_remembers_deliveries(tmp_path):
    JsonlChannel(tmp_path / "out.jsonl").send(message("a"))
    receipt = JsonlChannel(tmp_path / "out.jsonl").send(message("a"))
    assert receipt.detail == "already delivered"
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 1


@settings(max_examples=50)
@given(st.lists(outbound_messages(), min_size=1, max_size=8))
def test_lines_are_canonical_carecore_json(tmp_path_factory, messages):
    path = tmp_path_factory.mktemp("jsonl") / "out.jsonl"
    channel = JsonlChannel(path)
    for m in messages:
        channel.send(m)
    read = [
        from_primitive(json.loads(line), OutboundMessage) for line in path.read_text().splitlines()
    ]
    expected_keys = list(dict.fromkeys(m.idempotency_key for m in messages))
    assert [m.idempotency_key for m in read] == expected_keys
    firsts = {}
    for m in messages:
        firsts.setdefault(m.idempotency_key, m)
    assert read == [firsts[k] for k in expected_keys]


def test_a_foreign_file_is_reported_not_overwritten(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text("this is not json\n")
    with pytest.raises(errors.InvalidInput) as caught:
        JsonlChannel(path).send(message("a"))
    assert caught.value.problems[0].path == "$[1]"
    assert path.read_text() == "this is not json\n"


def test_a_delivery_records_the_file_it_went_to(tmp_path):
    now = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
    path = tmp_path / "out.jsonl"
    program = CareProgram.open("memory://", clock=FixedClock(now), actor="dispatcher")
    with program:
        with program.transaction("queue") as tx:
            tx.enqueue(message("a"))
        assert Dispatcher(program, {"jsonl": JsonlChannel(path)}).run_once().delivered == 1
        with program.transaction("check") as tx:
            (row,) = [e for e in tx.audit_entries() if e.action == "deliver"]
    assert row.reason == f"outbox: delivery by jsonl to {path.resolve()}"
