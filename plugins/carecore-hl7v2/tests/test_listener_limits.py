"""The listener under load and abuse: group commit under SIGKILL, a connection cap, idle
and half-sent connections, and a bound on a frame's size (all on loopback)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from carecore_hl7v2.listener import END, frame
from test_intake import a03
from test_listener import Listener

from carecore.model import AdtEvent
from carecore.service import CareProgram

SERVER = r"""
import asyncio, sys
from carecore.service import CareProgram
from carecore_hl7v2.listener import serve
program = CareProgram.open(sys.argv[1], actor="hl7-listener")
def ready(port):
    print(port, flush=True)
asyncio.run(serve(program, host="127.0.0.1", port=0, ready=ready, max_batch=16))
"""


def _send_all(port, messages, acked, lock):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            for control, message in messages:
                s.sendall(frame(message))
                reply = b""
                while not reply.endswith(END):
                    chunk = s.recv(65536)
                    if not chunk:
                        return
                    reply += chunk
                if f"MSA|AA|{control}".encode() in reply:
                    with lock:
                        acked.add(control)
    except OSError:
        return  # the listener was killed


def _feed(port, senders, per_sender, acked):
    lock = threading.Lock()
    threads = []
    for n in range(senders):
        batch = [
            (f"K{n}-{i}", a03(f"K{n}-{i}", f"P{n}^^^GEN^MR", visit=f"V{n}-{i}"))
            for i in range(per_sender)
        ]
        threads.append(threading.Thread(target=_send_all, args=(port, batch, acked, lock)))
    for t in threads:
        t.start()
    return threads


def test_every_acked_message_is_stored_once_after_a_sigkill(tmp_path):
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    CareProgram.open(url, actor="setup").close()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        acked: set[str] = set()
        threads = _feed(port, senders=6, per_sender=60, acked=acked)
        deadline = time.monotonic() + 60
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        for t in threads:
            t.join(20)
    finally:
        server.kill()
        server.wait(10)
        server.stdout.close()
    assert len(acked) >= 100
    with CareProgram.open(url, actor="check") as program, program.transaction("check") as tx:
        stored = [e.source_key for e in tx.all(AdtEvent)]
    assert len(stored) == len(set(stored))
    assert {f"GEN/{c}" for c in acked} <= set(stored)
    # The senders resend everything: what was stored is not stored again, the rest is.
    with CareProgram.open(url, actor="again") as program, Listener(program) as listener:
        again: set[str] = set()
        for t in _feed(listener.port, senders=6, per_sender=60, acked=again):
            t.join(60)
    assert len(again) == 360
    with CareProgram.open(url, actor="check") as program:
        report = program.store.check()
    assert report.ok
    assert report.counts["adt_events"] == 360
    assert report.counts["inbound"] == 2 * 360  # each message: its key and its text's digest


def _closed_by_peer(sock, within):
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_connection_cap_idle_and_half_sent_connections(program):
    with Listener(program, max_connections=100, idle_timeout=1.0, max_frame=4096) as listener:
        held = []
        for n in range(100):
            s = socket.create_connection(("127.0.0.1", listener.port))
            if n % 2:
                s.sendall(b"\x0bMSH|^~\\&|ADT|GEN|CC|PRAC|2026")  # half a frame, never finished
            held.append(s)
        time.sleep(0.3)  # the listener has taken them all
        over = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(200)]
        # Over the cap: accepted and closed at once, not left hanging.
        assert all(_closed_by_peer(s, 2) for s in over)
        # Idle and half-sent connections are closed after the idle timeout.
        assert all(_closed_by_peer(s, 3) for s in held)
        for s in (*held, *over):
            s.close()
        # A frame over the size limit closes its connection, whatever it holds.
        with socket.create_connection(("127.0.0.1", listener.port)) as big:
            big.sendall(b"\x0b" + b"X" * 10_000)
            assert _closed_by_peer(big, 3)
        # And the listener still takes a message.
        with socket.create_connection(("127.0.0.1", listener.port)) as s:
            s.sendall(frame(a03("OK1", "P1^^^GEN^MR")))
            s.settimeout(5)
            reply = b""
            while not reply.endswith(END):
                reply += s.recv(65536)
        assert b"MSA|AA|OK1" in reply
