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
import logging
from typing import TYPE_CHECKING

from carecore import errors
from carecore_hl7v2.ingest import Outcome, handle, practice_time_zone

if TYPE_CHECKING:
    from collections.abc import Callable

    from carecore.service import CareProgram

__all__ = ["END", "START", "frame", "read_frame", "serve"]

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\r"
MAX_FRAME = 8 * 1024 * 1024


def frame(message: str | bytes) -> bytes:
    r"""One message in MLLP framing.

    >>> frame("MSH|x")
    b'\x0bMSH|x\x1c\r'
    """
    body = message.encode() if isinstance(message, str) else message
    return START + body + END


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next framed message's bytes, or None when the peer closed the connection.

    A frame ends at FS: the CR after it is optional (some senders leave it
    out, and waiting for it would hang), and one that does come is skipped
    with whatever precedes the next frame's VT.
    """
    try:
        data = await reader.readuntil(END[:1])
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise errors.InvalidValue(
            "an MLLP frame is larger than allowed", field="frame", value=MAX_FRAME
        ) from None
    start = data.find(START)
    body = data[start + 1 if start >= 0 else 0 : -1]
    return body.lstrip(b"\r\n") if start < 0 else body


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
) -> None:
    """Listen on *host*:*port* until *stop* is set (or forever); *ready* gets the bound port.

    When *stop* is set, the listener takes no new connections and waits up
    to *grace* seconds for open ones to finish the message they are on (a
    message being stored is committed and ACKed, never cut off halfway).
    """
    active: set[asyncio.Task[None]] = set()
    time_zone = time_zone or practice_time_zone(program)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            active.add(task)
            task.add_done_callback(active.discard)
        try:
            while True:
                raw = await read_frame(reader)
                if raw is None:
                    break
                try:
                    outcome = handle(program, raw, time_zone=time_zone)
                except errors.StoreError:
                    log.exception("store unavailable: no ACK sent, the sender will retry")
                    break
                if on_outcome is not None:
                    on_outcome(outcome)
                writer.write(frame(outcome.ack))
                await writer.drain()
        except errors.InvalidValue:
            log.warning("closing a connection that sent an oversized frame")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(connection, host, port, limit=MAX_FRAME)
    bound = server.sockets[0].getsockname()[1]
    if ready is not None:
        ready(bound)
    await _run(server, stop, active, grace)


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
