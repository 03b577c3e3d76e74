"""What goes wrong on one connection stays on it: the batch, the writer and memory are safe."""

from __future__ import annotations

import socket
import time

import carecore_hl7v2.listener as listener_module
import pytest
from carecore_hl7v2.listener import END, frame
from test_intake import a03
from test_listener import Listener


def _reply(sock, within):
    """The next reply on *sock*: an ACK's bytes, ``b"<closed>"`` or ``b"<timeout>"``."""
    sock.settimeout(within)
    got = b""
    try:
        while not got.endswith(END):
            chunk = sock.recv(65536)
            if not chunk:
                return got or b"<closed>"
            got += chunk
    except TimeoutError:
        return b"<timeout>"
    except ConnectionError:
        return b"<closed>"
    return got


@pytest.fixture
def opened(monkeypatch):
    """The listener's connections, in the order they opened."""
    made = []
    connection = listener_module._Connections.connection

    def kept(self):
        made.append(connection(self))
        return made[-1]

    monkeypatch.setattr(listener_module._Connections, "connection", kept)
    return made


def _not_reading(port, opened):
    """A socket that sends frames the listener NAKs and never reads the NAKs, until its writing pauses."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    deadline = time.monotonic() + 60
    while not (opened and opened[-1].writing_paused):
        assert time.monotonic() < deadline, "the listener's writing never paused"
        try:
            sock.sendall(frame("x") * 50)  # unreadable: a NAK each, never read here
        except OSError:
            break  # closed already
        time.sleep(0.02)
    return sock


@pytest.mark.parametrize("synced", [True, False], ids=["store-with-sync", "store-without-sync"])
def test_a_message_that_cannot_be_prepared_ends_its_own_connection_only(
    program, monkeypatch, synced
):
    # A sender pipelines a good message and one whose preparing raises (a bug, not a
    # refusal): the second is taken while the first is answered. That sender is closed
    # with no ACK for it; another sender's message is still stored and ACKed, on a store
    # that syncs apart (SQLite) and on one that does not (as PostgreSQL).
    prepare = listener_module.prepare

    def failing(raw, **settings):
        if b"BOOM" in raw:
            raise RuntimeError("a bug while preparing")
        return prepare(raw, **settings)

    monkeypatch.setattr(listener_module, "prepare", failing)
    if not synced:
        monkeypatch.setattr(type(program.store), "sync", None, raising=False)
    with Listener(program, idle_timeout=30.0) as listener:
        with socket.create_connection(("127.0.0.1", listener.port)) as first:
            first.sendall(frame(a03("A1", "P1^^^GEN^MR")) + frame(a03("BOOM", "P2^^^GEN^MR")))
            assert b"MSA|AA|A1" in _reply(first, 5)
            with socket.create_connection(("127.0.0.1", listener.port)) as other:
                other.sendall(frame(a03("B1", "P3^^^GEN^MR")))
                assert b"MSA|AA|B1" in _reply(other, 5)
            assert _reply(first, 5) == b"<closed>"
        # And the listener goes on taking messages.
        with socket.create_connection(("127.0.0.1", listener.port)) as later:
            later.sendall(frame(a03("C1", "P4^^^GEN^MR")))
            assert b"MSA|AA|C1" in _reply(later, 5)


def test_a_sender_that_trickles_a_frame_is_closed_after_the_idle_timeout(program):
    # The idle timeout is for a whole frame: a byte now and then does not hold the slot.
    with (
        Listener(program, idle_timeout=1.0) as listener,
        socket.create_connection(("127.0.0.1", listener.port)) as sock,
    ):
        started = time.monotonic()
        closed = False
        for byte in frame(a03("T1", "P1^^^GEN^MR"))[:40]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _reply(sock, 0.3) == b"<closed>":
                closed = True
                break
        assert closed
        assert time.monotonic() - started < 6


def test_a_sender_that_does_not_read_its_acks_cannot_fill_the_listeners_memory(program, opened):
    # Once its ACKs back up (writing paused), what it sends waits in the kernel's buffers,
    # not in the listener: its buffer stays near the frame limit.
    limit = 64 * 1024
    with Listener(program, max_frame=limit) as listener:
        sock = _not_reading(listener.port, opened)
        try:
            sock.settimeout(3)
            junk = b"y" * (1 << 20)
            try:
                for _ in range(64):
                    sock.sendall(junk)
            except TimeoutError:
                pass  # the listener stopped reading: the sender is held back
            time.sleep(0.5)
            assert len(opened[-1].buffer) <= 2 * limit + (1 << 20)
        finally:
            sock.close()


def test_a_frame_started_late_has_the_idle_timeout_from_its_first_byte(program):
    # Silent for most of the timeout, then a frame that takes a while to arrive: the
    # sender was never silent for the timeout, and its frame came whole within it.
    message = frame(a03("L1", "P1^^^GEN^MR"))
    with (
        Listener(program, idle_timeout=2.0) as listener,
        socket.create_connection(("127.0.0.1", listener.port)) as sock,
    ):
        time.sleep(1.5)
        sock.sendall(message[:20])
        time.sleep(1.0)
        sock.sendall(message[20:])
        assert b"MSA|AA|L1" in _reply(sock, 5)


def test_a_sender_that_stops_reading_its_acks_is_closed_after_the_idle_timeout(program, opened):
    # Not reading ACKs is idle too: the connection does not hold its slot for ever.
    with Listener(program, idle_timeout=1.0) as listener:
        sock = _not_reading(listener.port, opened)
        try:
            closed_by = time.monotonic() + 6
            while opened[-1].transport is not None and not opened[-1].transport.is_closing():
                assert time.monotonic() < closed_by, "a sender not reading its ACKs stayed open"
                time.sleep(0.1)
        finally:
            sock.close()


def test_an_on_outcome_that_raises_still_acks_the_stored_message(program, caplog):
    def broken(outcome):
        raise ValueError("a caller's bug, quoting " + repr(outcome))

    with (
        Listener(program, on_outcome=broken) as listener,
        socket.create_connection(("127.0.0.1", listener.port)) as sock,
    ):
        for control in ("O1", "O2"):
            sock.sendall(frame(a03(control, "P1^^^GEN^MR")))
            assert f"MSA|AA|{control}".encode() in _reply(sock, 5)
    assert "on_outcome callback raised ValueError" in caplog.text
    assert "quoting" not in caplog.text
