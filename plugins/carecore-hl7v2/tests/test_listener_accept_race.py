"""The listener's stop: connections the loop has accepted are set up before the server closes.

A connection the event loop has accepted is set up in a task of its own on a
later turn. CPython 3.11 refuses one set up after its server has closed
(``Server._attach`` asserts the server still has its sockets): the transport
is left half-made, its socket open, and the sender waits for an answer until
its own timeout. The shutdown tests met this now and then, as an unclosed
transport; here it is made to happen every time.
"""

from __future__ import annotations

import asyncio
import socket

from carecore_hl7v2.listener import _stop_accepting


async def _accepted_then(close) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    made: list[asyncio.BaseTransport] = []

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            made.append(transport)

    server = await loop.create_server(Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    try:
        # One turn: the listening socket is read, the three connections accepted; their
        # set-up tasks run on the turn after, when this coroutine has gone on.
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        await close(server)
        await asyncio.sleep(0.05)
        return made
    finally:
        for transport in made:
            transport.close()
        await asyncio.sleep(0.05)
        for client in clients:
            client.close()


def test_connections_accepted_before_the_stop_are_set_up_before_the_server_closes():
    made = asyncio.run(_accepted_then(_stop_accepting))
    assert len(made) == 3  # each set up (then closed with the others), none left half-made
