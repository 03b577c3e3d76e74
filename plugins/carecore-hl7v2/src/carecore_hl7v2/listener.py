"""An MLLP listener (asyncio): each message is committed before its ACK is sent.

MLLP frames a message as ``<VT> message <FS><CR>`` (0x0B ... 0x1C 0x0D). The
listener reads frames from each connection in order, hands each to
:func:`carecore_hl7v2.ingest.handle` (which stores the event, or its dead
letter) and only then writes the ACK or NAK back. A store that cannot be
reached sends no ACK, so the sender retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, cast

import pendulum

from carecore import errors, limits, transitions
from carecore_hl7v2.ingest import (
    Prepared,
    UnknownPatients,
    _control_id,
    _rehearse,
    practice_time_zone,
    prepare,
    store_prepared,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from carecore.service import CareProgram
    from carecore_hl7v2.ingest import Outcome

__all__ = [
    "END",
    "GATHER",
    "MAX_BATCH",
    "START",
    "frame",
    "load_calendar",
    "read_frame",
    "serve",
]

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\r"


def frame(message: str | bytes) -> bytes:
    r"""One message in MLLP framing.

    >>> frame("MSH|x")
    b'\x0bMSH|x\x1c\r'
    """
    body = message.encode() if isinstance(message, str) else message
    return START + body + END


async def read_frame(reader: asyncio.StreamReader, *, max_frame: int | None = None) -> bytes | None:
    """The next framed message's bytes, or None when the peer closed the connection.

    A frame ends at FS: the CR after it is optional (some senders leave it
    out, and waiting for it would hang), and one that does come is skipped
    with whatever precedes the next frame's VT. A frame longer than the
    reader's limit raises :class:`~carecore.errors.InvalidValue` naming
    *max_frame* (default: the limit ``mllp_frame`` of :mod:`carecore.limits`).
    """
    try:
        data = await reader.readuntil(END[:1])
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        limit = max_frame if max_frame is not None else limits.current().mllp_frame
        raise errors.InvalidValue(
            f"an MLLP frame is longer than the limit mllp_frame={limit} bytes",
            field="frame",
            value=f"more than {limit} bytes",
        ) from None
    return _body(data)


def _body(data: bytes) -> bytes:
    r"""The message in *data*, bytes read up to and including a frame's FS.

    What precedes the VT (a CR the previous frame ended with) is skipped.

    >>> _body(b"\r\x0bMSH|x\x1c"), _body(b"\rMSH|x\x1c")
    (b'MSH|x', b'MSH|x')
    """
    start = data.find(START)
    body = data[start + 1 if start >= 0 else 0 : -1]
    return body.lstrip(b"\r\n") if start < 0 else body


#: Messages stored in one transaction at most (a group commit).
MAX_BATCH = 64
#: Syncs of committed batches under way at once at most (each batch's starts at its commit).
SYNCS = 4
#: Seconds the writer waits, before a commit, for the next message of a connection it has
#: just answered (a sender that waits for each ACK sends its next message at once).
GATHER = 0.01


class _Sender(Protocol):
    """What the committer answers: the connection a message came on."""

    def answer(self, outcome: Outcome) -> None:
        """The message was committed (and synced): send *outcome*'s ACK."""

    def fail(self, exc: Exception) -> None:
        """The message could not be committed: send nothing."""


class _Committer:
    """The one writer of a listener: a group commit of what every connection sent.

    It takes the messages waiting, stores them in one transaction, and only
    then gives each its outcome, so its connection can ACK it. With a store
    that can commit without waiting for the disk (SQLite's
    :meth:`~carecore.storage.sqlite.SqliteStore.unsynced`), the writer commits
    a batch that way and goes on to the next one while another thread syncs
    the store; the batch's outcomes are given only once that sync has
    returned, so an ACK still follows a write that survives a power cut.
    """

    def __init__(
        self,
        program: CareProgram,
        time_zone: str | None,
        max_batch: int,
        unknown_patients: UnknownPatients = "create",
        gather: float = GATHER,
    ) -> None:
        self.program = program
        self.unknown_patients: UnknownPatients = unknown_patients
        self.time_zone = time_zone
        self.max_batch = max_batch
        #: Messages prepared and waiting for the next batch, with the connection each came on.
        self.pending: list[tuple[Prepared, _Sender]] = []
        #: Resolved when a message arrives (or a wait for one ends), while the writer waits.
        self.wakeup: asyncio.Future[None] | None = None
        # The store is used from this one thread only, so the event loop keeps reading
        # frames from other connections while a batch commits.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hl7-commit")
        store = program.store
        unsynced = getattr(store, "unsynced", None)
        sync = getattr(store, "sync", None)
        self.unsynced: Callable[[], contextlib.AbstractContextManager[None]] = (
            unsynced if callable(unsynced) and callable(sync) else contextlib.nullcontext
        )
        self.sync: Callable[[], None] | None = sync if callable(sync) else None
        # Syncs run here, several at once: each batch's starts when it has committed, and
        # its thread hands the outcomes to the event loop once the sync has returned.
        self.syncs = ThreadPoolExecutor(max_workers=SYNCS, thread_name_prefix="hl7-sync")
        #: Batches committed and waiting for their sync (and their answers).
        self.syncing: set[Future[None]] = set()
        #: The batch in the writer thread (None: none yet); it answers its senders itself.
        self.committing: Future[None] | None = None
        #: Set by :meth:`close`: no batch is taken after the one being committed.
        self.stopping = False
        self.gather = gather
        # Connections answered in the last *gather* seconds and not heard from since
        # (when each was answered): their next message is likely on its way.
        self.answered: dict[object, float] = {}

    def take(self, raw: bytes, sender: _Sender) -> None:
        """Prepare *raw* for the next batch; *sender* gets its outcome once it is committed.

        Parsed and mapped here, in the event loop, while the writer thread
        waits on the disk for the previous commit (the wait releases the GIL).
        """
        prepared = prepare(raw, time_zone=self.time_zone)
        self.answered.pop(sender, None)
        self.pending.append((prepared, sender))
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def was_answered(self, sender: object) -> None:
        """*sender*'s message was answered: the next batch may wait for its next one."""
        self.answered[sender] = asyncio.get_running_loop().time()

    def gone(self, sender: object) -> None:
        """*sender* closed its connection: no batch waits for it."""
        self.answered.pop(sender, None)

    async def _wait(self, seconds: float | None) -> None:
        """Until a message arrives, or *seconds* have passed (None: no limit)."""
        loop = asyncio.get_running_loop()
        self.wakeup = waiter = loop.create_future()
        timer = None if seconds is None else loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            self.wakeup = None
            if timer is not None:
                timer.cancel()

    async def _gathered(self) -> list[tuple[Prepared, _Sender]]:
        """The next batch: what is waiting, and what just-answered connections send within *gather*.

        A sender that waits for each ACK sends its next message a moment
        after the ACK; without the wait, the first message to arrive would
        go alone and the others would make a second commit.
        """
        while not self.pending:
            if self.stopping:
                return []
            await self._wait(None)
        loop = asyncio.get_running_loop()
        while len(self.pending) < self.max_batch and not self.stopping:
            now = loop.time()
            for sender, at in list(self.answered.items()):
                if now - at >= self.gather:
                    del self.answered[sender]  # silent too long: not waited for again
            if not self.answered:
                break
            waiting = len(self.pending)
            await self._wait(min(self.answered.values()) + self.gather - now)
            if len(self.pending) == waiting:
                break  # none came in time
        batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
        return batch

    def _store(self, items: list[Prepared]) -> list[Outcome]:
        with self.unsynced():
            return store_prepared(
                self.program,
                items,
                time_zone=self.time_zone,
                unknown_patients=self.unknown_patients,
            )

    def _commit(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Prepared, _Sender]]
    ) -> None:
        """In the writer thread: store *batch*, and start its sync at once (or answer it: no sync).

        The sync starts from here, not from the event loop once it hears of
        the commit: the batch's ACKs wait for it, and the event loop may be
        busy with other connections. The answers (or failures) are handed to
        the event loop from here too, before this returns: none is lost when
        the writer task that waits for this is cancelled.
        """
        try:
            outcomes = self._store([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every waiting connection gets it
            loop.call_soon_threadsafe(_fail, batch, exc)
            return
        if self.sync is None:
            loop.call_soon_threadsafe(_answer, batch, outcomes)
            return
        synced = self.syncs.submit(self._synced, loop, batch, outcomes, self.sync)
        self.syncing.add(synced)
        synced.add_done_callback(self.syncing.discard)

    async def run(self) -> None:
        """Commit batch after batch, one at a time, until :meth:`close`."""
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gathered()
            if self.stopping:
                # Stopped while gathering (the wait for more ends with a batch in hand): what
                # was gathered is not stored, nor ACKed, and its senders send it again.
                return
            self.committing = self.thread.submit(self._commit, loop, batch)
            await asyncio.wrap_future(self.committing)

    @staticmethod
    def _synced(
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Prepared, _Sender]],
        outcomes: list[Outcome],
        sync: Callable[[], None],
    ) -> None:
        """In a sync thread: give *batch* its *outcomes* once the store has synced (its commit is durable)."""
        try:
            sync()
        except Exception as exc:  # noqa: BLE001 - every waiting connection gets it
            loop.call_soon_threadsafe(_fail, batch, exc)
            return
        loop.call_soon_threadsafe(_answer, batch, outcomes)

    async def close(self) -> None:
        """Take no more batches; let the one being committed, then those committed, be answered.

        The batch in the writer thread is waited for first (it may start a
        sync), then every sync under way; each hands its answers to the event
        loop before its future is done, so they have all been given (and the
        on_outcome callback called) when this returns, and none comes later.
        Messages waiting for a batch are not stored. The threads are stopped
        last, with nothing left in them.
        """
        self.stopping = True
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        committing = self.committing
        if committing is not None:
            # Not cancelled by the writer task's cancellation once it runs: waited for here.
            await asyncio.wait([asyncio.wrap_future(committing)])
        syncing = [asyncio.wrap_future(f) for f in set(self.syncing)]
        if syncing:
            await asyncio.wait(syncing)
        self.thread.shutdown(wait=True)
        self.syncs.shutdown(wait=True)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _answer(batch: list[tuple[Prepared, _Sender]], outcomes: list[Outcome]) -> None:
    for (prepared, sender), outcome in zip(batch, outcomes, strict=True):
        if outcome.warnings:  # names the message and the field, never a value
            control = _control_id(prepared.message) or "?"
            for warning in outcome.warnings:
                log.warning("message %s: %s", control, warning)
        # Answering a sender takes its next frame (and an on_outcome callback runs): what
        # fails there ends that one connection, never the rest of the batch or the writer.
        try:
            sender.answer(outcome)
        except Exception as exc:  # noqa: BLE001 - that sender's failure, told and contained
            sender.fail(exc)


def _fail(batch: list[tuple[Prepared, _Sender]], exc: Exception) -> None:
    for _, sender in batch:
        try:
            sender.fail(exc)
        except Exception:  # closing one connection must not stop the others
            log.exception("a connection could not be closed after a failure")


class _Connections:
    """The open connections, and the settings each reads frames by."""

    def __init__(
        self,
        committer: _Committer,
        max_connections: int,
        idle_timeout: float,
        max_frame: int,
        on_outcome: Callable[[Outcome], None] | None,
    ) -> None:
        self.open: set[_Connection] = set()
        self.committer = committer
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.on_outcome = on_outcome
        #: Resolved when the last open connection closes, while :meth:`closed` waits.
        self._emptied: asyncio.Future[None] | None = None
        #: Set by :meth:`close_all`: a connection whose set-up ends after it is closed at once.
        self.closing = False

    def connection(self) -> _Connection:
        """A new connection's protocol (``create_server``'s factory)."""
        return _Connection(self)

    def lost(self, conn: _Connection) -> None:
        self.open.discard(conn)
        if not self.open and self._emptied is not None and not self._emptied.done():
            self._emptied.set_result(None)

    async def closed(self, within: float) -> None:
        """Until every open connection has closed, or *within* seconds have passed."""
        if not self.open:
            return
        self._emptied = asyncio.get_running_loop().create_future()
        await asyncio.wait([self._emptied], timeout=within)

    def close_all(self) -> None:
        self.closing = True
        for conn in list(self.open):
            conn.close()

    async def all_closed(self, within: float) -> None:
        """After :meth:`close_all`: until every socket has closed, those still flushing aborted.

        A transport closes its socket on the event loop's next turns (after
        its last ACK is written): waited for here, so that no connection
        outlives :func:`serve` (a loop that ends right after would leave its
        socket open, and its sender waiting).
        """
        await self.closed(within)
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()  # a sender that does not read its ACKs
        if self.open:
            await self.closed(within)


class _Connection(asyncio.Protocol):
    """One connection: it reads frames, has each committed, and ACKs them in order.

    One message at a time: the next frame is taken once the previous one is
    answered (frames sent before then wait in the buffer, and reading pauses
    when the buffer passes the frame limit). A connection waiting for a
    frame longer than the idle timeout is closed; a frame longer than the
    limit closes it; a store that fails closes it with no ACK sent.
    """

    def __init__(self, conns: _Connections) -> None:
        self.conns = conns
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        #: A message of this connection is being stored.
        self.busy = False
        #: The sender has finished sending (answered frames still get their ACK).
        self.eof = False
        self.reading_paused = False
        self.writing_paused = False
        #: Since when this connection has been silent, or its frame has been coming in (None:
        #: a message of it is being stored).
        self.waiting_since: float | None = None
        #: The buffer holds the first bytes of a frame not yet whole.
        self.partial = False
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        conns = self.conns
        self.transport = cast("asyncio.Transport", transport)
        if conns.closing:  # accepted as the listener stopped, set up after its connections closed
            self.transport.close()
            return
        if len(conns.open) >= conns.max_connections:
            log.warning("refusing a connection: %d are open already", len(conns.open))
            self.transport.close()
            return
        conns.open.add(self)
        self._wait_for_frame()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()
        # Frames not taken yet (a message is being stored, or the sender is not reading
        # its ACKs) wait in the buffer up to the frame limit: past it, reading pauses.
        transport = self.transport
        if (
            len(self.buffer) > self.conns.max_frame
            and not self.reading_paused
            and transport is not None
            and not transport.is_closing()
        ):
            self.reading_paused = True
            transport.pause_reading()

    def eof_received(self) -> bool:
        self.eof = True
        if not self.busy:
            self._next()
        return True  # open for writing still: a message taken is answered

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: ARG002 - the sender went away
        self.waiting_since = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.conns.committer.gone(self)
        self.conns.lost(self)

    def pause_writing(self) -> None:
        self.writing_paused = True  # the sender is not reading its ACKs: take no more frames

    def resume_writing(self) -> None:
        self.writing_paused = False
        self.waiting_since = None  # the sender read its ACKs: its idle time starts again
        if not self.busy:
            self._next()

    # -- what the committer answers

    def answer(self, outcome: Outcome) -> None:
        on_outcome = self.conns.on_outcome
        if on_outcome is not None:
            try:
                on_outcome(outcome)
            except Exception as exc:  # noqa: BLE001 - the message is stored: it is still ACKed
                # Its type only: the caller's exception may quote what it was given.
                log.error(  # noqa: TRY400 - no traceback, for the same reason
                    "the on_outcome callback raised %s; the message is stored and ACKed",
                    type(exc).__name__,
                )
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # the sender went away; nothing was ACKed that is not stored
        transport.write(frame(outcome.ack))
        self.conns.committer.was_answered(self)
        self.busy = False
        self._next()

    def fail(self, exc: Exception) -> None:
        if isinstance(exc, errors.StoreError):
            log.error("store unavailable: no ACK sent, the sender will retry", exc_info=exc)
        else:
            log.error("a message could not be stored: no ACK sent", exc_info=exc)
        self.close()

    # -- frames

    def _next(self) -> None:
        """Take the next whole frame in the buffer, or wait for one."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self.writing_paused:
            # The sender is not reading its ACKs: it too is idle, and is closed at the timeout.
            self._wait_for_frame()
            return
        buffer, limit = self.buffer, self.conns.max_frame
        end = buffer.find(END[:1])
        if end > limit or (end < 0 and len(buffer) > limit):
            log.warning("closing a connection that sent an oversized frame")
            self.close()
            return
        if end < 0:
            if self.eof:
                self.close()  # what is left is half a frame: the sender gave up on it
                return
            if self.reading_paused:
                self.reading_paused = False
                transport.resume_reading()
            if buffer and not self.partial:
                # A frame's first bytes: from now it has the idle timeout to be whole.
                self.partial = True
                self.waiting_since = asyncio.get_running_loop().time()
            self._wait_for_frame()
            return
        data = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        self.partial = False
        self.busy = True
        self.waiting_since = None
        try:
            self.conns.committer.take(_body(data), self)
        except Exception as exc:  # noqa: BLE001 - this message fails alone: no ACK, closed
            self.fail(exc)

    def _wait_for_frame(self) -> None:
        loop = asyncio.get_running_loop()
        if self.waiting_since is None:  # kept while a frame comes in: not moved by each byte
            self.waiting_since = loop.time()
        if self.timer is None:  # one timer a connection, moved on only when it goes off
            self.timer = loop.call_at(self.waiting_since + self.conns.idle_timeout, self._idle)

    def _idle(self) -> None:
        self.timer = None
        since = self.waiting_since
        if since is None:
            return  # a message is being stored; the next wait sets a timer again
        loop = asyncio.get_running_loop()
        due = since + self.conns.idle_timeout
        if loop.time() < due:
            self.timer = loop.call_at(due, self._idle)
            return
        log.info("closing a connection idle for %s s", self.conns.idle_timeout)
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def load_calendar() -> None:
    """Load the holiday calendar (and this year's holidays) a discharge's deadlines are counted by.

    The listener calls it once before it takes connections; otherwise the
    first discharge would wait for it, holding back every ACK of its commit.
    """
    transitions.TransitionRules().clock(pendulum.today().date())


async def serve(
    program: CareProgram,
    *,
    host: str = "127.0.0.1",
    port: int = 2575,
    time_zone: str | None = None,
    ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    grace: float = 5.0,
    max_connections: int | None = None,
    idle_timeout: float | None = None,
    max_frame: int | None = None,
    max_batch: int = MAX_BATCH,
    unknown_patients: UnknownPatients = "create",
    gather: float = GATHER,
) -> None:
    """Listen on *host*:*port* until *stop* is set (or forever); *ready* gets the bound port.

    Messages from all connections are stored in shared transactions of up
    to *max_batch* (a group commit); each is ACKed only once its transaction
    has committed. Before a commit the writer waits up to *gather* seconds
    for the next message of each connection it answered within that time
    (0: it never waits), so senders that wait for each ACK share commits.

    At most *max_connections* connections are held: one more is accepted and
    closed at once. A connection silent for *idle_timeout* seconds since its
    last ACK (or since it opened, or not reading its ACKs) is closed, and so
    is one whose frame is not whole *idle_timeout* seconds after its first
    byte; a frame may hold at most *max_frame* bytes, which bounds a
    connection's memory. Each not given is the limit of :mod:`carecore.limits`
    in force (``mllp_connections``, ``mllp_idle_seconds``, ``mllp_frame``;
    ``CARECORE_LIMITS`` or :func:`carecore.limits.configure` set them).

    When *stop* is set, the listener takes no
    new connections and waits up to *grace* seconds for open ones to finish
    the message they are on (a message being stored is committed and ACKed,
    never cut off halfway). Then it waits for the batch being committed and
    for the syncs under way: every message stored has been given to
    *on_outcome* (and ACKed, its sender still connected) when this returns,
    and no outcome is given after. Cancelled, it stops at once (no grace)
    and waits likewise; cancelled again while it waits, it still waits, and
    raises the cancellation once the batch and the syncs are answered (a
    commit waiting for a lock ends with the store's lock timeout, SQLite's
    busy timeout; PostgreSQL's, if one is set).
    Messages not yet in a commit are not stored (their senders get no ACK
    and send them again). *unknown_patients* is
    :data:`~carecore_hl7v2.ingest.UnknownPatients`.
    """
    time_zone = time_zone or practice_time_zone(program) or ""  # looked up once
    bounds = limits.current()
    max_connections = bounds.mllp_connections if max_connections is None else max_connections
    idle_timeout = bounds.mllp_idle_seconds if idle_timeout is None else idle_timeout
    max_frame = bounds.mllp_frame if max_frame is None else max_frame
    committer = _Committer(program, time_zone, max_batch, unknown_patients, gather)
    conns = _Connections(committer, max_connections, idle_timeout, max_frame, on_outcome)
    # In the writer thread, before the port opens: the first discharge's ACK does not wait
    # for the holiday calendar its deadlines are counted by (a second or so to load), nor
    # for what storing the first message builds (a rehearsal, rolled back).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(committer.thread, load_calendar)
    await loop.run_in_executor(
        committer.thread, functools.partial(_rehearse, program, time_zone=time_zone or None)
    )
    server = await loop.create_server(conns.connection, host, port)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    writer_task = asyncio.create_task(committer.run())
    try:
        await _run(server, stop, conns, grace)
    finally:
        # Every message stored has its outcome given (and its ACK sent) before this returns,
        # even when this is cancelled (again) while it waits.
        try:
            await _uncancelled(asyncio.create_task(committer.close()))
        finally:
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task
            conns.close_all()
            await conns.all_closed(_CLOSE_WAIT)


#: Seconds serve() waits for its connections' sockets to close as it ends (each step).
_CLOSE_WAIT = 5.0


async def _uncancelled(task: asyncio.Task[None]) -> None:
    """Wait for *task* to end; a cancellation meanwhile is raised only once it has ended.

    The task itself is not cancelled: what it waits for (a commit under way, a
    sync) cannot be called back, and its answers would come after the caller
    had gone on.
    """
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError as exc:
            if task.cancelled():
                raise  # the task itself was cancelled (the event loop is closing)
            cancelled = exc
    task.result()  # what it raised
    if cancelled is not None:
        raise cancelled


async def _stop_accepting(server: asyncio.Server) -> None:
    """Close *server*, once the connections it has accepted are set up.

    A connection the loop has accepted is set up in a task of its own on a
    later turn; set up after the server has closed, CPython (3.11) refuses
    it half-made, and its socket stays open with its sender waiting for an
    answer. So the server first stops accepting, the loop turns until those
    connections are set up (each then closed with the others at the end),
    and only then does the server close.
    """
    loop = asyncio.get_running_loop()
    for sock in server.sockets:
        with contextlib.suppress(NotImplementedError, ValueError, OSError, RuntimeError):
            loop.remove_reader(sock.fileno())  # a loop without readers closes as it did
    for _ in range(3):
        await asyncio.sleep(0)
    server.close()


async def _run(
    server: asyncio.Server,
    stop: asyncio.Event | None,
    conns: _Connections,
    grace: float,
) -> None:
    async with server:  # serving from create_server on
        try:
            # Until the stop; without one, until cancelled (Ctrl-C). Not serve_forever(): on
            # its cancellation it closes the server before accepted connections are set up.
            await (stop.wait() if stop is not None else asyncio.get_running_loop().create_future())
        except asyncio.CancelledError:
            await _stop_accepting(server)
            raise
        await _stop_accepting(server)
        # Senders that are done have closed already; others get a moment.
        await conns.closed(grace)
