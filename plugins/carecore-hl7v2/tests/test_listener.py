"""The MLLP listener on loopback: ACK after commit, NAKs, and a 10,000-message load from another process (4 connections)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading

import pytest
from carecore_hl7v2.ingest import _patient_id
from carecore_hl7v2.listener import END, frame, serve

from carecore.model import AdtEvent, DeadLetter, Identifier

#: The carecore id of the patient PID-3 ``P1^^^GEN^MR`` names (filed before registration).
P1 = _patient_id(Identifier(system="GEN", value="P1"))

CLIENT = r"""
import socket, sys
host, port, count, dupes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
pv1[36], pv1[44], pv1[45] = "01", "202603011000-0600", "202603041500-0600"
def message(n):
    fields = list(pv1)
    fields[19] = f"V{n}"
    return (f"MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|LOAD{n:06d}|P|2.5\r"
            f"PID|1||P{n % 500}^^^GEN^MR\r" + "|".join(fields))
import threading
codes = {}
lock = threading.Lock()
order = list(range(count)) + list(range(0, count, max(1, count // dupes))) if dupes else list(range(count))
def send(share):
    # Send and wait on each of 4 connections: the listener commits what they send together.
    with socket.create_connection((host, port)) as s:
        stream = s.makefile("rb")
        for n in share:
            s.sendall(b"\x0b" + message(n).encode() + b"\x1c\r")
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                reply += stream.read1(65536)
            msa = [seg for seg in reply.decode().strip("\x0b\x1c\r").split("\r") if seg.startswith("MSA")][0]
            code = msa.split("|")[1]
            with lock:
                codes[code] = codes.get(code, 0) + 1
threads = [threading.Thread(target=send, args=(order[k::4],)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(order), codes.get("AA", 0), sum(v for k, v in codes.items() if k != "AA"))
"""


class Listener:
    """The listener in a thread of its own, with its own event loop."""

    def __init__(self, program, **settings):
        self.program = program
        self.port = None
        self.outcomes = []
        self.on_outcome = settings.pop("on_outcome", self.outcomes.append)
        self.settings = settings
        self._ready = threading.Event()
        self._loop = None
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True)

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
                on_outcome=self.on_outcome,
                **self.settings,
            )

        asyncio.run(main())

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


def exchange(port, *messages):
    replies = []
    with socket.create_connection(("127.0.0.1", port)) as s:
        stream = s.makefile("rb")
        for m in messages:
            s.sendall(frame(m))
            reply = b""
            while not reply.endswith(END):
                chunk = stream.read1(65536)
                if not chunk:
                    break
                reply += chunk
            replies.append(reply.decode().strip("\x0b\x1c\r"))
    return replies


A03 = (
    "MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|MSG42|P|2.5\rPID|1||P1^^^GEN^MR\r"
    "PV1|1|I|W3^301^A^GEN|||||||||||||||V9||||||||||||||||01||||||||202603011000-0600|202603041500-0600"
)


def test_acks_after_commit_and_naks_bad_messages(program):
    with Listener(program) as listener:
        good, again, bad = exchange(
            listener.port, A03, A03, "MSH|^~\\&|X|Y|Z|W|20260304||ORU^R01|Q1|P|2.5"
        )
    assert "MSA|AA|MSG42" in good
    assert "MSA|AA|MSG42" in again
    assert "MSA|AR|Q1|" in bad
    assert "only ADT messages" in bad
    with program.transaction("check") as tx:
        assert len(tx.find(AdtEvent, patient_id=P1)) == 1
        assert [d.key.split("#")[0] for d in tx.all(DeadLetter)] == ["Q1"]
    assert [o.code for o in listener.outcomes] == ["AA", "AA", "AR"]
    assert [o.stored for o in listener.outcomes] == [True, False, False]


def test_unframed_garbage_gets_a_nak_and_is_kept(program):
    with Listener(program) as listener:
        (reply,) = exchange(listener.port, "this is not HL7")
    assert "MSA|AR||" in reply
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
    assert letter.raw == "this is not HL7"


@pytest.mark.load
def test_ten_thousand_messages_from_another_process_are_stored_exactly_once(program):
    count, dupes = 10_000, 500
    with Listener(program) as listener:
        done = subprocess.run(
            [sys.executable, "-c", CLIENT, "127.0.0.1", str(listener.port), str(count), str(dupes)],
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
    sent, acked, naked = map(int, done.stdout.split())
    assert (sent, acked, naked) == (count + dupes, count + dupes, 0)
    report = program.store.check()
    assert report.ok
    assert report.counts["adt_events"] == count
    assert report.counts["inbound"] == 2 * count  # each message: its key and its text's digest
    assert report.counts["transition_episodes"] == count


def test_stopping_waits_only_for_connections_still_open(program, caplog):
    import time

    listener = Listener(program).__enter__()  # stopped by hand below
    exchange(listener.port, A03)  # done and closed before the stop
    idle = socket.create_connection(("127.0.0.1", listener.port))
    time.sleep(0.2)  # the listener has taken the idle connection
    started = time.monotonic()
    listener._loop.call_soon_threadsafe(listener._stop.set)
    # The sender hangs up a moment later: the listener waits for it, not for the grace.
    time.sleep(0.3)
    idle.close()
    listener._thread.join(10)
    waited = time.monotonic() - started
    assert not listener._thread.is_alive()
    assert 0.25 < waited < 4  # well under the 5 s grace
    assert "Exception in callback" not in caplog.text
    with program.transaction("check") as tx:
        assert len(tx.find(AdtEvent, patient_id=P1)) == 1


def test_the_holiday_calendar_is_loaded_before_the_port_opens(program):
    # Loading it takes about a second; a first discharge that waited for it would hold back
    # every ACK of its commit.
    import pendulum

    from carecore.billing import _engine, rules
    from carecore.transitions import _clock

    rules._HOLIDAY_CACHE.clear()
    _clock.cache_clear()
    _engine._tcm_clock.cache_clear()  # a clock kept from an earlier test needs no calendar
    with Listener(program):
        assert ("US", None, pendulum.today().year) in rules._HOLIDAY_CACHE


def test_a_rehearsal_before_the_port_opens_builds_what_storing_needs_and_stores_nothing(program):
    # The first message a process stores builds the store's converters and statements
    # (about 50 ms of CPU), and the first that reads an episode back builds what reading
    # it needs; the listener rehearses both in a rolled-back transaction first.
    from carecore import convert
    from carecore.storage import sql

    before = program.store.check().counts
    sql._insert_sql.cache_clear()
    convert.get_converter.cache_clear()
    with Listener(program):
        # The statements storing an event and its episode were spelled (no message was sent).
        assert sql._insert_sql.cache_info().currsize >= 2
        assert program.store.check().counts == before  # no event, episode, notice or audit row
    convert.get_converter.cache_clear()
    with Listener(program) as listener:
        built = convert.get_converter.cache_info().misses  # by the rehearsal, if needed
        # A second discharge of the patient reads the first one's episode back.
        again = A03.replace("|MSG42|", "|MSG43|").replace("|V9|", "|V10|")
        acks = exchange(listener.port, A03, again)
        assert convert.get_converter.cache_info().misses == built  # nothing built meanwhile
    assert all("MSA|AA|" in ack for ack in acks)
    with program.transaction("check") as tx:
        assert len(tx.find(AdtEvent, patient_id=P1)) == 2


def test_frames_sent_together_are_answered_in_order_and_after_the_sender_stops_sending(program):
    from test_intake import a03

    frames = b"".join(frame(a03(f"P{n}", "P1^^^GEN^MR", visit=f"V{n}")) for n in range(3))
    with Listener(program) as listener, socket.create_connection(("127.0.0.1", listener.port)) as s:
        s.settimeout(10)
        s.sendall(frames)
        s.shutdown(socket.SHUT_WR)  # nothing more to send: the ACKs still come
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    acks = [a for a in reply.split(END) if a]
    assert [a.decode().split("MSA|")[1][:5] for a in acks] == ["AA|P0", "AA|P1", "AA|P2"]
    assert [o.code for o in listener.outcomes] == ["AA", "AA", "AA"]
