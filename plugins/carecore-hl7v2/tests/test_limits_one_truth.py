"""The HL7 intake's limits are carecore.limits': one place, configurable like the others.

The dead-letter key had a limit of its own (200 characters) beside the
stores' key limit (1,000), and the listener's connection cap, idle timeout
and frame size were constants of the plugin that ``CARECORE_LIMITS`` and
:func:`carecore.limits.configure` did not reach.
"""

from __future__ import annotations

import socket
import time

import pytest
from carecore_hl7v2.ingest import Prepared, store_prepared
from carecore_hl7v2.listener import END, frame
from carecore_hl7v2.mapping import Refused
from test_intake import a03
from test_listener import Listener

from carecore import limits
from carecore.model import DeadLetter

#: A dead letter's id is "hl7-" and its key: the longest key that fits a store's key.
#: The longest control id that keys a dead letter: "hl7-", the id, "#" and 16 hex digits.
LONGEST = limits.MAX_KEY - len("hl7-") - 1 - 16


@pytest.fixture
def limited():
    """Sets carecore's limits for one test and puts the earlier ones back."""
    previous = limits.current()
    yield lambda **values: limits.configure(limits.Limits(**values))
    limits.configure(previous)


def _letter(program, control):
    """The dead letter of a message refused with *control* as its control id."""
    refusal = Refused("is refused", code="AE", field="PV1-3", value=None, control_id=control)
    prepared = Prepared(text=a03("X", "1234^^^GEN^MR"), refusal=refusal)
    (outcome,) = store_prepared(program, [prepared], time_zone=None)
    assert (outcome.code, outcome.dead_letter) == ("AE", True)
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
    return letter


def test_a_control_id_that_fits_a_store_key_keys_its_dead_letter(program):
    """500 characters were hashed: the plugin's own limit was 200."""
    control = "C" * 500
    assert _letter(program, control).key.startswith(f"{control}#")


def test_the_longest_control_id_that_fits_keys_its_dead_letter(program):
    control = "C" * LONGEST
    letter = _letter(program, control)
    assert letter.key.startswith(f"{control}#")
    assert letter.id == f"hl7-{letter.key}"
    assert len(letter.id) == limits.MAX_KEY


def test_one_character_more_is_keyed_by_its_hash(program):
    letter = _letter(program, "C" * (LONGEST + 1))
    assert len(letter.key) == 24  # a sha256 prefix
    assert len(letter.id) <= limits.MAX_KEY


def test_the_listener_limits_are_carecore_limits(monkeypatch):
    defaults = limits.Limits()
    assert (defaults.mllp_connections, defaults.mllp_idle_seconds, defaults.mllp_frame) == (
        256,
        60,
        1024 * 1024,
    )
    monkeypatch.setenv(limits.ENV_VAR, "mllp_connections=8,mllp_idle_seconds=5,mllp_frame=4096")
    monkeypatch.setattr(limits, "_active", None)
    current = limits.current()
    assert (current.mllp_connections, current.mllp_idle_seconds, current.mllp_frame) == (
        8,
        5,
        4096,
    )
    monkeypatch.setattr(limits, "_active", None)


def _closed_by_peer(sock, within):
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def _answer(port, control):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(frame(a03(control, "P1^^^GEN^MR")))
        s.settimeout(5)
        reply = b""
        while not reply.endswith(END):
            reply += s.recv(65536)
    return reply


def test_the_listener_keeps_to_the_limits_in_force(program, limited):
    """A frame past mllp_frame, silence past mllp_idle_seconds, connections past mllp_connections."""
    limited(mllp_frame=4096, mllp_idle_seconds=1, mllp_connections=3)
    with Listener(program) as listener:
        with socket.create_connection(("127.0.0.1", listener.port)) as big:
            big.sendall(b"\x0b" + b"X" * 10_000)
            assert _closed_by_peer(big, 3)
        held = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(3)]
        time.sleep(0.3)  # the listener has taken them
        with socket.create_connection(("127.0.0.1", listener.port)) as over:
            assert _closed_by_peer(over, 2)  # over the cap: closed at once
        assert all(_closed_by_peer(s, 3) for s in held)  # silent: closed after 1 s
        for s in held:
            s.close()
        assert b"MSA|AA|OK1" in _answer(listener.port, "OK1")


def test_an_option_given_to_serve_still_wins(program, limited):
    limited(mllp_frame=64)
    with Listener(program, max_frame=1024 * 1024) as listener:
        assert b"MSA|AA|OK2" in _answer(listener.port, "OK2")
