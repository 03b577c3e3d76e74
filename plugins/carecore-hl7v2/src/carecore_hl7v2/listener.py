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
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pendulum

from carecore import errors, limits, transitions
from carecore_hl7v2.ingest import (
    Outcome,
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
        self.queue: asyncio.Queue[tuple[Prepared, asyncio.Future[Outcome]]] = asyncio.Queue()
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
        # Syncs run here, several at once: each batch's starts when it has committed.
        self.syncs = ThreadPoolExecutor(max_workers=SYNCS, thread_name_prefix="hl7-sync")
        #: Batches committed and waiting for their sync.
        self.syncing: set[asyncio.Task[None]] = set()
        self.gather = gather
        # Connections answered in the last *gather* seconds and not heard from since
        # (when each was answered): their next message is likely on its way.
        self.answered: dict[object, float] = {}

    async def submit(self, raw: bytes, sender: object = None) -> Outcome:
        # Parsed and mapped here, in the event loop, while the writer thread waits on
        # the disk for the previous commit (the wait releases the GIL).
        prepared = prepare(raw, time_zone=self.time_zone)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.answered.pop(sender, None)
        await self.queue.put((prepared, future))
        return await future

    def was_answered(self, sender: object) -> None:
        """*sender*'s message was answered: the next batch may wait for its next one."""
        self.answered[sender] = asyncio.get_running_loop().time()

    def gone(self, sender: object) -> None:
        """*sender* closed its connection: no batch waits for it."""
        self.answered.pop(sender, None)

    async def _gathered(self) -> list[tuple[Prepared, asyncio.Future[Outcome]]]:
        """The next batch: what is waiting, and what just-answered connections send within *gather*.

        A sender that waits for each ACK sends its next message a moment
        after the ACK; without the wait, the first message to arrive would
        go alone and the others would make a second commit.
        """
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        while len(batch) < self.max_batch:
            while len(batch) < self.max_batch and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            now = loop.time()
            for sender, at in list(self.answered.items()):
                if now - at >= self.gather:
                    del self.answered[sender]  # silent too long: not waited for again
            if len(batch) >= self.max_batch or not self.answered:
                break
            wait = min(self.answered.values()) + self.gather - now
            try:
                async with asyncio.timeout(wait):
                    batch.append(await self.queue.get())
            except TimeoutError:
                break
        return batch

    def _store(self, items: list[Prepared]) -> list[Outcome]:
        with self.unsynced():
            return store_prepared(
                self.program,
                items,
                time_zone=self.time_zone,
                unknown_patients=self.unknown_patients,
            )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gathered()
            items = [item for item, _ in batch]
            try:
                outcomes = await loop.run_in_executor(
                    self.thread, functools.partial(self._store, items)
                )
            except Exception as exc:  # noqa: BLE001 - every waiting connection gets it
                _fail(batch, exc)
                continue
            if self.sync is None:
                _answer(batch, outcomes)
                continue
            task = loop.create_task(self._synced(batch, outcomes, self.sync))
            self.syncing.add(task)
            task.add_done_callback(self.syncing.discard)

    async def _synced(
        self,
        batch: list[tuple[Prepared, asyncio.Future[Outcome]]],
        outcomes: list[Outcome],
        sync: Callable[[], None],
    ) -> None:
        """Give *batch* its *outcomes* once the store has synced (its commit is durable)."""
        try:
            await asyncio.get_running_loop().run_in_executor(self.syncs, sync)
        except Exception as exc:  # noqa: BLE001 - every waiting connection gets it
            _fail(batch, exc)
            return
        _answer(batch, outcomes)

    async def close(self) -> None:
        """Let the batches committed finish their sync, then stop the threads."""
        if self.syncing:
            await asyncio.wait(set(self.syncing))
        self.thread.shutdown(wait=True)
        self.syncs.shutdown(wait=True)


def _answer(batch: list[tuple[Prepared, asyncio.Future[Outcome]]], outcomes: list[Outcome]) -> None:
    for (prepared, future), outcome in zip(batch, outcomes, strict=True):
        if outcome.warnings:  # names the message and the field, never a value
            control = _control_id(prepared.message) or "?"
            for warning in outcome.warnings:
                log.warning("message %s: %s", control, warning)
        if not future.done():
            future.set_result(outcome)


def _fail(batch: list[tuple[Prepared, asyncio.Future[Outcome]]], exc: Exception) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


class _Connections:
    """The open connections: each reads frames, has them committed, and ACKs them in order."""

    def __init__(
        self,
        committer: _Committer,
        max_connections: int,
        idle_timeout: float,
        max_frame: int,
        on_outcome: Callable[[Outcome], None] | None,
    ) -> None:
        self.active: set[asyncio.Task[None]] = set()
        self.committer = committer
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.max_frame = max_frame
        self.on_outcome = on_outcome

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.active) >= self.max_connections:
            log.warning("refusing a connection: %d are open already", len(self.active))
            await _close(writer)
            return
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
            task.add_done_callback(self.active.discard)
        try:
            await self._exchange(reader, writer)
        except TimeoutError:
            log.info("closing a connection idle for %s s", self.idle_timeout)
        except errors.InvalidValue:
            log.warning("closing a connection that sent an oversized frame")
        except ConnectionError:
            pass  # the sender went away; nothing was ACKed that is not stored
        finally:
            await _close(writer)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                async with asyncio.timeout(self.idle_timeout):
                    raw = await read_frame(reader, max_frame=self.max_frame)
                if raw is None:
                    return
                try:
                    outcome = await self.committer.submit(raw, writer)
                except errors.StoreError:
                    log.exception("store unavailable: no ACK sent, the sender will retry")
                    return
                if self.on_outcome is not None:
                    self.on_outcome(outcome)
                writer.write(frame(outcome.ack))
                self.committer.was_answered(writer)
                await writer.drain()
        finally:
            self.committer.gone(writer)


def load_calendar() -> None:
    """Load the holiday calendar (and this year's holidays) a discharge's deadlines are counted by.

    The listener calls it once before it takes connections; otherwise the
    first discharge would wait for it, holding back every ACK of its commit.
    """
    transitions.TransitionRules().clock(pendulum.today().date())


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


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
    closed at once. A connection silent for *idle_timeout* seconds is closed,
    and a frame may hold at most *max_frame* bytes, which bounds a
    connection's memory. Each not given is the limit of :mod:`carecore.limits`
    in force (``mllp_connections``, ``mllp_idle_seconds``, ``mllp_frame``;
    ``CARECORE_LIMITS`` or :func:`carecore.limits.configure` set them).

    When *stop* is set, the listener takes no
    new connections and waits up to *grace* seconds for open ones to finish
    the message they are on (a message being stored is committed and ACKed,
    never cut off halfway). *unknown_patients* is
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
    server = await asyncio.start_server(conns.serve, host, port, limit=max_frame)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    writer_task = asyncio.create_task(committer.run())
    try:
        await _run(server, stop, conns.active, grace)
    finally:
        writer_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer_task
        await committer.close()


async def _run(
    server: asyncio.Server,
    stop: asyncio.Event | None,
    active: set[asyncio.Task[None]],
    grace: float,
) -> None:
    async with server:
        if stop is None:
            await server.serve_forever()
            return
        await stop.wait()
        server.close()
        if active:
            # Senders that are done have closed already; others get a moment.
            await asyncio.wait(set(active), timeout=grace)
