"""Stopping the listener: every message stored by then has had its outcome when serve() returns.

A batch the writer thread is committing when the listener stops is waited
for, then its sync; each of its outcomes goes to ``on_outcome`` (and its ACK
to its sender) before serve() returns, and none comes after. The same holds
when serve() is cancelled, and when it is cancelled again while it waits.
Real SQLite (which syncs a batch apart from its commit) and PostgreSQL
(which does not), real sockets on loopback.

The tests wait for conditions, never for a fixed time to be enough: they poll
(up to a minute, for a loaded machine) the listener's writer in its event loop,
or PostgreSQL's lock table, until the state each test needs has been reached.
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
from carecore.storage.sqlite import SqliteStore

#: Seconds a condition is polled for before the test fails.
PATIENCE = 60.0
#: Seconds serve() is given to return early (wrongly) before a test checks it has not.
TEMPTATION = 0.3


class _Stoppable:
    """serve() in a thread of its own; what on_outcome got before and after serve() returned."""

    def __init__(self, program, **settings):
        self.program = program
        self.settings = settings
        self.port = None
        self.before: list[object] = []  # outcomes given while serve() ran
        self.after: list[object] = []  # outcomes given once it had returned
        self.returned = False
        self.cancelled = False  # serve() raised the cancellation it was given
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self._task = None
        self._done = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _outcome(self, outcome):
        (self.after if self.returned else self.before).append(outcome)

    def _run(self):
        async def main():
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            self._stop = asyncio.Event()
            self._done = asyncio.Event()

            def ready(port):
                self.port = port
                self._ready.set()

            try:
                await serve(
                    self.program,
                    host="127.0.0.1",
                    port=0,
                    ready=ready,
                    stop=self._stop,
                    on_outcome=self._outcome,
                    **self.settings,
                )
            except asyncio.CancelledError:
                self.cancelled = True
            finally:
                self.returned = True  # in the event loop, as on_outcome runs: no race
            # The loop runs on until the test is done: an outcome handed to it after serve()
            # returned would be given in that time, and seen.
            await self._done.wait()
            for _ in range(5):
                await asyncio.sleep(0.02)

        asyncio.run(main())

    def start(self):
        self.thread.start()
        assert self._ready.wait(PATIENCE)
        return self

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)

    def cancel(self):
        self._loop.call_soon_threadsafe(self._task.cancel)

    def join(self):
        """Let the event loop end, once serve() has returned; wait for it."""
        if self.thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has closed already
                self._loop.call_soon_threadsafe(self._done.set)
            self.thread.join(PATIENCE)
        assert not self.thread.is_alive()

    def writer(self, look):
        """*look* applied, in the event loop, to serve()'s writer (None: serve() has returned)."""

        async def find():
            coro = self._task.get_coro().cr_await  # what main() awaits: serve(), while it runs
            if getattr(coro, "__qualname__", "") != "serve" or coro.cr_frame is None:
                return None
            return look(coro.cr_frame.f_locals["committer"])

        return asyncio.run_coroutine_threadsafe(find(), self._loop).result(PATIENCE)

    def committing(self):
        """A batch is in the writer thread (it is not answered yet)."""
        return self.writer(lambda w: w.committing is not None and not w.committing.done())

    def stopping(self):
        """serve() has told its writer to stop: it waits in the writer's close(), or is past it."""
        return self.writer(lambda w: w.stopping) is not False


def _until(condition, what):
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {PATIENCE} s: {what}")
        time.sleep(0.01)


def _send(port, messages, acks):
    """Send *messages* one by one on one connection, each after the last one's ACK; keep the ACKs."""
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.settimeout(PATIENCE)
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


class _WriteLock:
    """Another connection holds a lock every batch's transaction waits for, until the block ends."""

    def __init__(self, url, program):
        self.url = url
        if url.startswith("sqlite"):
            self.blocker = sqlite3.connect(program.store.path, isolation_level=None)
            self.blocker.execute("BEGIN IMMEDIATE")  # the writer's BEGIN IMMEDIATE waits
        else:
            import psycopg

            self.blocker = psycopg.connect(url)
            self.blocker.execute("LOCK TABLE adt_events IN ACCESS EXCLUSIVE MODE")
            self.watcher = psycopg.connect(url, autocommit=True)

    def waited_for(self, listener):
        """A batch is in the listener's writer thread, held by the lock.

        On PostgreSQL, also: the writer's connection waits for the lock.
        """
        if not listener.committing():
            return False
        if self.url.startswith("sqlite"):
            return True
        (waiting,) = self.watcher.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted"
            " AND relation = 'adt_events'::regclass AND pid <> %s",
            [self.blocker.info.backend_pid],
        ).fetchone()
        return waiting > 0

    def release(self):
        self.blocker.rollback()
        self.blocker.close()
        if not self.url.startswith("sqlite"):
            self.watcher.close()


@contextlib.contextmanager
def _write_lock(url, program):
    lock = _WriteLock(url, program)
    try:
        yield lock
    finally:
        lock.release()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hl7.db'}"
    pytest.importorskip("carecore_postgres.testing", reason="needs carecore-postgres")
    return request.getfixturevalue("postgres_url")


def _open(url):
    clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
    return CareProgram.open(url, actor="hl7-test", clock=clock)


@contextlib.contextmanager
def _listening(program, **settings):
    """The listener on *program*, its event loop ended on leaving (before *program* is closed).

    A test that fails early still waits for serve() to return, so the store is
    not closed under the listener's threads.
    """
    listener = _Stoppable(program, **settings).start()
    try:
        yield listener
    finally:
        listener.join()


def test_a_batch_committing_when_the_listener_stops_is_answered_before_serve_returns(url):
    with _open(url) as program, _listening(program, grace=0) as listener:
        acks: list[str] = []
        senders = [
            threading.Thread(
                target=_send,
                args=(listener.port, [a03(f"S{n}", f"P{n}^^^GEN^MR", visit=f"V{n}")], acks),
            )
            for n in range(6)
        ]
        with _write_lock(url, program) as lock:
            for sender in senders:
                sender.start()
            _until(lambda: lock.waited_for(listener), "a batch waits for the lock in the writer")
            listener.stop()
            _until(listener.stopping, "serve() has taken the stop in")
            time.sleep(TEMPTATION)
            early = listener.returned  # serve() must wait for the batch being committed
        _until(lambda: _stored(program) >= 1, "the batch is stored")
        listener.join()
        for sender in senders:
            sender.join(PATIENCE)
        stored = _stored(program)
    assert listener.after == []
    assert not early
    assert not listener.cancelled
    assert len(listener.before) == stored  # the batch committing when the stop came
    assert all(o.stored for o in listener.before)
    assert _acked(acks) == stored  # and each was ACKed before its connection closed


@pytest.mark.parametrize("first", ["cancel", "stop"])
def test_serve_cancelled_while_it_waits_for_the_batch_still_waits_then_is_cancelled(url, first):
    # serve() cancelled (after a first cancellation, or after its stop) while it waits for
    # the batch in the writer thread: a timeout around serve(), a second Ctrl-C. It waits
    # for the batch all the same, gives its outcomes, and only then raises the cancellation.
    with _open(url) as program, _listening(program, grace=0) as listener:
        acks: list[str] = []
        sender = threading.Thread(
            target=_send, args=(listener.port, [a03("C1", "PC^^^GEN^MR", visit="VC")], acks)
        )
        with _write_lock(url, program) as lock:
            sender.start()
            _until(lambda: lock.waited_for(listener), "the batch waits for the lock in the writer")
            listener.cancel() if first == "cancel" else listener.stop()
            _until(listener.stopping, "serve() waits for the batch")
            listener.cancel()
            time.sleep(TEMPTATION)
            early = listener.returned  # serve() must wait for the batch, cancelled or not
        _until(lambda: _stored(program) == 1, "the batch is stored")
        listener.join()
        sender.join(PATIENCE)
    assert listener.after == []
    assert not early
    assert listener.cancelled  # the cancellation is raised once the batch is answered
    assert [o.stored for o in listener.before] == [True]
    assert _acked(acks) == 1


def test_a_sync_under_way_when_the_listener_stops_is_answered_before_serve_returns(program):
    # The batch is committed and out of the writer thread; its sync (held here, then done
    # for real) is under way when the stop comes: serve() waits for it and its answers.
    store = program.store
    syncing, release = threading.Event(), threading.Event()

    def sync():
        syncing.set()
        assert release.wait(PATIENCE)
        SqliteStore.sync(store)

    store.sync = sync
    with _listening(program, grace=0) as listener:
        acks: list[str] = []
        sender = threading.Thread(
            target=_send, args=(listener.port, [a03("Y1", "PY^^^GEN^MR", visit="VY")], acks)
        )
        sender.start()
        assert syncing.wait(PATIENCE)
        _until(lambda: not listener.committing(), "the batch has left the writer thread")
        listener.stop()
        _until(listener.stopping, "serve() has taken the stop in")
        time.sleep(TEMPTATION)
        early = listener.returned  # serve() must wait for the sync under way
        answered_early = list(listener.before)  # no answer before the sync
        release.set()
        listener.join()
        sender.join(PATIENCE)
    assert listener.after == []
    assert not early
    assert answered_early == []
    assert _stored(program) == 1
    assert [o.stored for o in listener.before] == [True]
    assert _acked(acks) == 1


def test_a_message_waiting_for_its_batch_when_the_listener_stops_is_not_stored(program):
    # The writer waits up to *gather* for the next message of a connection it has just
    # answered (B) before it commits what another (A) sent: stopped during that wait, it
    # commits nothing more, and nothing is answered after serve() returns.
    def send(s, name):
        s.sendall(frame(a03(name, f"P{name}^^^GEN^MR", visit=name)))

    def acked(s, name):
        return f"MSA|AA|{name}".encode() in s.recv(65536)

    def gathering(writer):  # A3 is taken; the writer waits for B's next message
        wakeup = writer.wakeup
        return len(writer.pending) == 1 and wakeup is not None and not wakeup.done()

    with (
        _listening(program, grace=0, gather=30.0) as listener,
        socket.create_connection(("127.0.0.1", listener.port)) as a,
        socket.create_connection(("127.0.0.1", listener.port)) as b,
    ):
        a.settimeout(PATIENCE)
        b.settimeout(PATIENCE)
        send(a, "A1")
        assert acked(a, "A1")  # alone: no connection was answered before
        send(b, "B1")  # waits for A's next message
        send(a, "A2")
        assert acked(b, "B1")
        assert acked(a, "A2")  # B1 and A2 in one commit: A and B were both just answered
        send(a, "A3")
        _until(lambda: listener.writer(gathering), "A3 waits for its batch")
        listener.stop()
        listener.join()
        assert a.recv(65536) == b""  # closed with no ACK for A3
    assert _stored(program) == 3
    assert sorted(o.ack.split("MSA|")[1][:5] for o in listener.before) == [
        "AA|A1",
        "AA|A2",
        "AA|B1",
    ]
    assert listener.after == []
