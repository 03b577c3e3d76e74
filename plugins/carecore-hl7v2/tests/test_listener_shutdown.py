"""Stopping the listener: every message stored by then has had its outcome when serve() returns.

A batch the writer thread is committing when the listener stops is waited
for, then its sync; each of its outcomes goes to ``on_outcome`` (and its ACK
to its sender) before serve() returns, and none comes after. Real SQLite
(which syncs a batch apart from its commit) and PostgreSQL (which does not),
real sockets on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time

import pendulum
import pytest
from carecore_hl7v2.listener import END, frame, serve
from test_intake import a03

from carecore.clock import FixedClock
from carecore.service import CareProgram


class _Stoppable:
    """serve() in a thread of its own; what on_outcome got before and after serve() returned."""

    def __init__(self, program, **settings):
        self.program = program
        self.settings = settings
        self.port = None
        self.before: list[object] = []  # outcomes given while serve() ran
        self.after: list[object] = []  # outcomes given once it had returned
        self.returned = False
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _outcome(self, outcome):
        (self.after if self.returned else self.before).append(outcome)

    def _run(self):
        async def main():
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def ready(port):
                self.port = port
                self._ready.set()

            await serve(
                self.program,
                host="127.0.0.1",
                port=0,
                ready=ready,
                stop=self._stop,
                on_outcome=self._outcome,
                **self.settings,
            )
            self.returned = True  # in the event loop, as on_outcome runs: no race
            # A callback handed to the loop before serve() returned would run now.
            for _ in range(5):
                await asyncio.sleep(0.02)

        asyncio.run(main())

    def start(self):
        self.thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)


def _send(port, messages, acks):
    """Send *messages* one by one on one connection, each after the last one's ACK; keep the ACKs."""
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(30)
            stream = s.makefile("rb")
            for m in messages:
                s.sendall(frame(m))
                reply = b""
                while not reply.endswith(END):
                    chunk = stream.read1(65536)
                    if not chunk:
                        return  # closed by the listener's stop: this one has no ACK
                    reply += chunk
                acks.append(reply.decode())
    except OSError:
        return


def _stored(program):
    return program.store.check().counts["adt_events"]


def _acked(acks):
    return sum("MSA|AA|" in a for a in acks)


@contextlib.contextmanager
def _write_lock(url, program):
    """Another connection holds a lock every batch's transaction waits for, until the block ends."""
    if url.startswith("sqlite"):
        blocker = sqlite3.connect(program.store.path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the writer's BEGIN IMMEDIATE waits (busy timeout)
    else:
        import psycopg

        blocker = psycopg.connect(url)
        blocker.execute("LOCK TABLE adt_events IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        blocker.rollback()
        blocker.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hl7.db'}"
    return request.getfixturevalue("postgres_url")


def test_a_batch_committing_when_the_listener_stops_is_answered_before_serve_returns(url):
    clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
    with CareProgram.open(url, actor="hl7-test", clock=clock) as program:
        listener = _Stoppable(program, grace=0).start()
        acks: list[str] = []
        senders = [
            threading.Thread(
                target=_send,
                args=(listener.port, [a03(f"S{n}", f"P{n}^^^GEN^MR", visit=f"V{n}")], acks),
            )
            for n in range(6)
        ]
        with _write_lock(url, program):
            for sender in senders:
                sender.start()
            time.sleep(0.5)  # the first messages' batch is in the writer thread, held by the lock
            listener.stop()
            time.sleep(0.3)
            assert listener.thread.is_alive()  # serve() waits for the batch being committed
        listener.thread.join(30)
        for sender in senders:
            sender.join(30)
        assert not listener.thread.is_alive()
        stored = _stored(program)
    assert stored >= 1  # the batch committing when the stop came was stored
    assert len(listener.before) == stored
    assert all(o.stored for o in listener.before)
    assert listener.after == []
    assert _acked(acks) == stored  # and each was ACKed before its connection closed


def test_stopping_under_load_answers_every_stored_message_before_serve_returns(program):
    listener = _Stoppable(program, grace=0).start()
    acks: list[str] = []
    senders = [
        threading.Thread(
            target=_send,
            args=(
                listener.port,
                [a03(f"L{k}-{n}", f"P{k}-{n}^^^GEN^MR", visit=f"V{n}") for n in range(400)],
                acks,
            ),
        )
        for k in range(8)
    ]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 30
    while _acked(list(acks)) < 40 and time.monotonic() < deadline:
        time.sleep(0.01)  # commits are under way, one after the other
    listener.stop()
    listener.thread.join(30)
    for sender in senders:
        sender.join(30)
    assert not listener.thread.is_alive()
    stored = _stored(program)
    assert 40 <= stored < 8 * 400  # stopped part way
    assert len(listener.before) == stored
    assert listener.after == []
    assert _acked(acks) == stored


def test_a_message_waiting_for_its_batch_when_the_listener_stops_is_not_stored(program):
    # The writer waits up to *gather* for the next message of a connection it has just
    # answered (B) before it commits what another (A) sent: stopped during that wait, it
    # commits nothing more, and nothing is answered after serve() returns.
    listener = _Stoppable(program, grace=0, gather=30.0).start()

    def send(s, name):
        s.sendall(frame(a03(name, f"P{name}^^^GEN^MR", visit=name)))

    def acked(s, name):
        return f"MSA|AA|{name}".encode() in s.recv(65536)

    with (
        socket.create_connection(("127.0.0.1", listener.port)) as a,
        socket.create_connection(("127.0.0.1", listener.port)) as b,
    ):
        a.settimeout(10)
        b.settimeout(10)
        send(a, "A1")
        assert acked(a, "A1")  # alone: no connection was answered before
        send(b, "B1")  # waits for A's next message
        send(a, "A2")
        assert acked(b, "B1")
        assert acked(a, "A2")  # B1 and A2 in one commit: A and B were both just answered
        send(a, "A3")
        time.sleep(0.3)  # A3 is taken; the writer waits for B's next message
        listener.stop()
        listener.thread.join(30)
        assert not listener.thread.is_alive()
        assert a.recv(65536) == b""  # closed with no ACK for A3
    assert _stored(program) == 3
    assert sorted(o.ack.split("MSA|")[1][:5] for o in listener.before) == [
        "AA|A1",
        "AA|A2",
        "AA|B1",
    ]
    assert listener.after == []
