"""HL7 v2 throughput: messages per second through the MLLP listener into SQLite,
against python-hl7 parsing the same messages alone, in one run.

Run alone: ``python bench/hl7_listener.py --messages 5000`` (needs carecore-hl7v2).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CLIENT = r"""
import json, socket, sys, threading
host, port, path, senders = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
with open(path, encoding="utf-8") as handle:
    frames = [b"\x0b" + m.encode() + b"\x1c\r" for m in json.load(handle)]
def send(share):
    # Send and wait: each sender waits for a message's ACK before the next (MLLP's usual mode).
    with socket.create_connection((host, port)) as s:
        stream = s.makefile("rb")
        for framed in share:
            s.sendall(framed)
            reply = b""
            while not reply.endswith(b"\x1c\r"):
                reply += stream.read1(65536)
threads = [threading.Thread(target=send, args=(frames[n::senders],)) for n in range(senders)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def messages(count: int) -> list[str]:
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[36], pv1[44], pv1[45] = "01", "202603011000-0600", "202603041500-0600"
    out = []
    for n in range(count):
        pv1[19] = f"V{n}"
        out.append(
            f"MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|B{n:07d}|P|2.5\r"
            f"PID|1||P{n % 2000}^^^GEN^MR\r" + "|".join(pv1)
        )
    return out


def real_messages(count: int, samples: Path) -> list[str]:
    """*count* messages made from the real sample ADT messages in *samples*, in turn.

    Each copy gets its own control id (MSH-10) and patient ids (each PID-3
    repetition's), so every one is a new message about a new patient, as in
    a live feed.
    """
    texts = [
        p.read_bytes().decode("utf-8-sig").replace("\r\n", "\r").replace("\n", "\r").strip("\r")
        for p in sorted(samples.glob("*.hl7"))
    ]
    out = []
    for n in range(count):
        segments = texts[n % len(texts)].split("\r")
        for i, segment in enumerate(segments):
            fields = segment.split("|")
            if fields[0] == "MSH":
                fields[9] = f"R{n:07d}"
            elif fields[0] == "PID" and len(fields) > 3:
                # Every repetition's id (a sample's SSN or EHR id too), or all the copies
                # of a sample would be one patient, with every copy's episodes.
                fields[3] = "~".join(
                    (f"RP{n:07d}" + (f"-{j}" if j else ""))
                    + (rep[rep.find("^") :] if "^" in rep else "")
                    for j, rep in enumerate(fields[3].split("~"))
                )
            segments[i] = "|".join(fields)
        out.append("\r".join(segments))
    return out


def bench_hl7(
    count: int,
    folder: Path,
    samples: Path | None = None,
    senders: int = 1,
    gather: float | None = None,
) -> dict[str, float]:
    """Listener messages/second into SQLite from *senders* connections, and python-hl7 parse-only."""
    import json

    import hl7
    from carecore_hl7v2.listener import serve

    from carecore.service import CareProgram

    raw = messages(count) if samples is None else real_messages(count, samples)
    start, cpu = time.perf_counter(), time.process_time()
    for m in raw:
        hl7.parse(m)
    parse_rate = count / (time.perf_counter() - start)
    parse_cpu = time.process_time() - cpu

    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "hl7-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    program = CareProgram.open(f"sqlite:///{db}", actor="bench")
    ready = threading.Event()
    state: dict[str, object] = {}

    def run() -> None:
        async def main() -> None:
            state["loop"] = asyncio.get_running_loop()
            stop = asyncio.Event()
            state["stop"] = stop

            def bound(port: int) -> None:
                state["port"] = port
                ready.set()

            await serve(
                program,
                host="127.0.0.1",
                port=0,
                ready=bound,
                stop=stop,
                **({} if gather is None else {"gather": gather}),
            )

        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    feed = folder / "hl7-bench-messages.json"
    feed.write_text(json.dumps(raw), encoding="utf-8")
    start, cpu = time.perf_counter(), time.process_time()
    subprocess.run(
        [sys.executable, "-c", CLIENT, "127.0.0.1", str(state["port"]), str(feed), str(senders)],
        check=True,
    )
    listener_rate = count / (time.perf_counter() - start)
    # This process's CPU while the senders ran: the listener's (its event loop and writer
    # thread); the senders run in a process of their own.
    listener_cpu = time.process_time() - cpu
    # What else ran meanwhile: on a busy machine the rates (wall time) say more about the
    # others than about the listener; CPU time a message much less.
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    loop = state["loop"]
    loop.call_soon_threadsafe(state["stop"].set)  # type: ignore[attr-defined]
    thread.join(10)
    assert program.store.check().counts["adt_events"] == count
    program.close()
    return {
        "messages": count,
        "senders": senders,
        "parse_only_per_s": parse_rate,
        "listener_per_s": listener_rate,
        "listener_cpu_ms_per_message": listener_cpu * 1000 / count,
        "parse_only_cpu_ms_per_message": parse_cpu * 1000 / count,
        "ratio": listener_rate / parse_rate,
        "load_average": load,
        "cores": os.cpu_count() or 1,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        help="a folder of real .hl7 ADT messages to send in turn (default: a minimal generated A03)",
    )
    parser.add_argument(
        "--senders",
        type=int,
        default=8,
        help="connections sending at once, each waiting for its ACKs (group commit shares commits)",
    )
    parser.add_argument(
        "--gather",
        type=float,
        default=None,
        help="seconds the writer waits for answered senders before a commit (default: the listener's)",
    )
    args = parser.parse_args()
    r = bench_hl7(args.messages, args.work, args.samples, args.senders, args.gather)
    print(
        f"hl7 listener into SQLite: {r['listener_per_s']:.0f} msg/s from {r['senders']} senders; "
        f"python-hl7 parse only: {r['parse_only_per_s']:.0f} msg/s; ratio {r['ratio']:.3f} "
        f"({r['messages']} messages); listener CPU {r['listener_cpu_ms_per_message']:.2f} ms/message, "
        f"parse only {r['parse_only_cpu_ms_per_message']:.2f} ms/message; "
        f"load average {r['load_average']:.2f} on {r['cores']} cores"
    )


if __name__ == "__main__":
    main()
