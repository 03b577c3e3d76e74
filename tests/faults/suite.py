"""The fault and fuzz suite behind ``nox -s faults``: fixed seeds, one table, a verdict.

Faults kill real processes (SIGKILL) at points chosen by a seeded generator,
or break real peers (a webhook answering 500, an SMTP server that is down),
and then check that nothing was lost and nothing sent twice outside the one
documented window (a dispatcher killed between a send and its record). Fuzz
mutates real inputs (model values, JSON, scenario files, CSV files, HL7 v2
frames, FHIR bundles) and checks that every failure is a ``carecore.errors``
type.

Each row counts what was **tried**, what **survived** (ended as it should),
what was **lost** (a message never delivered, a store left unusable, an output
left half-written, a revision dropped), what was **doubled** (delivered more
than once; the ``allowed`` column is how many the crash window can explain)
and the **untyped** errors (anything raised that is not a carecore error).
The run fails on any loss, any untyped error, or more doubles than allowed.

Run: ``python tests/faults/suite.py [--seed N] [--only NAME]`` (``nox -s faults``).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pendulum

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

from carecore import errors
from carecore.model import OutboundMessage

ROOT = Path(__file__).resolve().parents[2]

CLI = [sys.executable, "-c", "from carecore.cli import main; main()"]
#: A small month: good rows, a bad credential, a bad minutes cell, an unknown patient.
PATIENTS = """patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit
p1,dr1,MD,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
p2,dr1,MD,E11.65,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
p3,dr1,MD,E11.65;I10,,CCM=2025-11-03,true,2025-11-03
p4,dr1,XX,E11.65;I10,,,true,
"""
EVENTS = """patient_id,date,type,minutes,role,family,credential
p1,2026-01-06,time_entry,25,clinical_staff,CCM,RN
p1,2026-01-20,time_entry,25,clinical_staff,CCM,RN
p2,2026-01-06,time_entry,45,clinical_staff,CCM,RN
p3,2026-01-06,time_entry,ten,clinical_staff,CCM,RN
p3,2026-01-07,time_entry,30,clinical_staff,CCM,RN
p9,2026-01-07,time_entry,30,clinical_staff,CCM,RN
"""

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")


@dataclass
class Row:
    """One scenario's counts."""

    name: str
    tried: int = 0
    survived: int = 0
    lost: int = 0
    doubled: int = 0
    allowed: int = 0
    untyped: int = 0
    seconds: float = 0.0
    note: str = ""
    ran: bool = True

    @property
    def ok(self) -> bool:
        return self.ran and self.lost == 0 and self.untyped == 0 and self.doubled <= self.allowed


# -- helpers -------------------------------------------------------------------------


class Receiver:
    """A webhook peer on 127.0.0.1 counting the Idempotency-Keys it accepted."""

    def __init__(self, delay: float = 0.0, failures: int = 0) -> None:
        self.accepted: Counter[str] = Counter()
        self.delay = delay
        self.failures = failures
        self.lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(peer.delay)
                with peer.lock:
                    fail = peer.failures > 0
                    peer.failures -= fail
                    if not fail:
                        peer.accepted[self.headers.get("Idempotency-Key", "?")] += 1
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def message(n: int, channel: str = "webhook") -> OutboundMessage:
    return OutboundMessage(
        id=f"m{n}",
        idempotency_key=f"k{n}",
        channel=channel,
        recipient="care-team@example.org",
        subject=f"Note {n}",
        body="Call the patient.",
        created_at=NOW,
    )


def queue(url: str, count: int, channel: str = "webhook") -> None:
    from carecore.service import CareProgram

    with CareProgram.open(url, actor="faults") as program, program.transaction("queue") as tx:
        for n in range(count):
            tx.enqueue(message(n, channel))


def outbox_counts(url: str) -> dict[str, int]:
    from carecore.service import CareProgram

    with (
        CareProgram.open(url, actor="faults", create=False) as program,
        program.transaction("count") as tx,
    ):
        return {
            s: len(tx.outbox(status=s, limit=100_000))
            for s in ("pending", "delivered", "failed", "dead")
        }


def untyped(stderr: str) -> bool:
    """Whether a command's error output shows a traceback (an untyped failure)."""
    return "Traceback (most recent call last)" in stderr


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def start_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def _why(code: int, stderr: str) -> str:
    """A lost run's exit code and the last line it wrote, for the table's note."""
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    return f"exit {code}: {last.strip()}"[:150]


def kill(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGKILL)
    proc.communicate()


# -- faults ----------------------------------------------------------------------------


def fault_outbox_kill(rng: random.Random, work: Path) -> Row:
    """SIGKILL `outbox run` mid-delivery, again and again; then deliver the rest."""
    row = Row("SIGKILL outbox run")
    url = f"sqlite:///{work / 'outbox-kill.db'}"
    count = 30
    queue(url, count)
    peer = Receiver(delay=0.05)
    env = {
        "CARECORE_WEBHOOK_URL": peer.url,
        "CARECORE_WEBHOOK_SECRET": "s3cret",
        "CARECORE_WEBHOOK_INSECURE": "1",
    }
    kills = 0
    try:
        for _ in range(4):
            proc = start_cli("outbox", "run", "--db", url, "--lease", "1", env=env)
            time.sleep(rng.uniform(0.8, 2.0))
            if proc.poll() is None:
                kill(proc)
                kills += 1
            else:
                _, err = proc.communicate()
                row.untyped += untyped(err)
        for _ in range(10):
            time.sleep(1.1)  # a killed run's claims are held for its 1-second lease
            done = run_cli("outbox", "run", "--db", url, "--lease", "1", env=env)
            row.untyped += untyped(done.stderr)
            if outbox_counts(url)["pending"] == 0:
                break
    finally:
        peer.close()
    counts = outbox_counts(url)
    row.tried = count
    row.lost = (
        count - counts["delivered"] + sum(1 for n in range(count) if not peer.accepted[f"k{n}"])
    )
    row.lost = min(row.lost, count)
    row.doubled = sum(c - 1 for c in peer.accepted.values() if c > 1)
    row.allowed = kills  # one in-flight message per killed run: sent, then killed before its record
    row.survived = count - row.lost
    row.note = f"{kills} kills"
    return row


def fault_outbox_slow_receiver(_rng: random.Random, work: Path) -> Row:
    """A receiver slower than the lease and a second run started later: nothing sent twice."""
    row = Row("slow receiver past the lease")
    url = f"sqlite:///{work / 'outbox-slow.db'}"
    count = 8
    queue(url, count)
    peer = Receiver(delay=0.35)
    env = {
        "CARECORE_WEBHOOK_URL": peer.url,
        "CARECORE_WEBHOOK_SECRET": "s3cret",
        "CARECORE_WEBHOOK_INSECURE": "1",
    }
    try:
        first = start_cli("outbox", "run", "--db", url, "--lease", "1", env=env)
        time.sleep(2.2)  # past the first run's lease on the messages it has not reached
        second = start_cli("outbox", "run", "--db", url, "--lease", "1", env=env)
        for proc in (first, second):
            _, err = proc.communicate(timeout=120)
            row.untyped += untyped(err)
    finally:
        peer.close()
    counts = outbox_counts(url)
    row.tried = count
    row.lost = count - counts["delivered"]
    row.doubled = sum(c - 1 for c in peer.accepted.values() if c > 1)
    row.survived = count - row.lost
    return row


def _dispatch(url: str, channels: dict[str, Any], *, max_attempts: int = 10) -> Any:
    from carecore.outbox import Dispatcher, RetryPolicy
    from carecore.service import CareProgram

    with CareProgram.open(url, actor="faults") as program:
        policy = RetryPolicy(max_attempts=max_attempts, base_seconds=0, jitter=0)
        return Dispatcher(program, channels, policy=policy).run_until_idle()


def fault_webhook_500(_rng: random.Random, work: Path) -> Row:
    """A webhook answering 500 to the first requests, then 200: each message delivered once."""
    from carecore_http.channels import WebhookChannel

    row = Row("webhook 500 then 200")
    url = f"sqlite:///{work / 'webhook.db'}"
    count = 10
    queue(url, count)
    peer = Receiver(failures=12)
    try:
        _dispatch(url, {"webhook": WebhookChannel(url=peer.url, insecure=True, secret="s3cret")})  # noqa: S106 - a test peer
    finally:
        peer.close()
    counts = outbox_counts(url)
    row.tried = count
    row.lost = count - counts["delivered"]
    row.doubled = sum(c - 1 for c in peer.accepted.values() if c > 1)
    row.survived = count - row.lost
    return row


def fault_smtp_down(_rng: random.Random, work: Path) -> Row:
    """SMTP down for the first round, then up: each message delivered once."""
    row = Row("SMTP down then up")
    try:
        from aiosmtpd.controller import Controller
        from carecore_email.channel import EmailChannel
    except ImportError:
        row.note = "skipped: needs aiosmtpd and carecore-email"
        return row
    from carecore.outbox import Dispatcher, RetryPolicy
    from carecore.service import CareProgram

    url = f"sqlite:///{work / 'smtp.db'}"
    count = 10
    queue(url, count, channel="email")
    with contextlib.closing(__import__("socket").socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ids: Counter[str] = Counter()

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
            text = envelope.content.decode("utf-8", "replace")
            for line in text.splitlines():
                if line.lower().startswith("message-id:"):
                    ids[line.split(":", 1)[1].strip()] += 1
            return "250 OK"

    channel = EmailChannel(
        host="127.0.0.1", port=port, sender="cc@example.org", insecure=True, timeout=2
    )
    policy = RetryPolicy(max_attempts=10, base_seconds=0, jitter=0)
    with CareProgram.open(url, actor="faults") as program:
        down = Dispatcher(program, {"email": channel}, policy=policy).run_once()
        controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        controller.start()
        try:
            Dispatcher(program, {"email": channel}, policy=policy).run_until_idle()
        finally:
            controller.stop()
    counts = outbox_counts(url)
    row.tried = count
    row.lost = count - counts["delivered"]
    row.doubled = sum(c - 1 for c in ids.values() if c > 1)
    row.survived = count - row.lost
    row.note = f"{down.retrying} retried while down"
    return row


def fault_schema_kill(rng: random.Random, work: Path) -> Row:
    """SIGKILL `db init` part way, then init again: a usable store every time; 4 at once too."""
    row = Row("SIGKILL db init; 4 at once")
    for n in range(3):
        url = f"sqlite:///{work / f'schema-{n}.db'}"
        proc = start_cli("db", "init", url)
        time.sleep(rng.uniform(0.6, 1.5))
        kill(proc)
        again = run_cli("db", "init", url)
        check = run_cli("db", "check", url)
        row.tried += 1
        row.untyped += untyped(again.stderr) + untyped(check.stderr)
        for done in (again, check):
            if done.returncode != 0:
                row.lost += 1
                row.note = _why(done.returncode, done.stderr)
                break
    url = f"sqlite:///{work / 'schema-race.db'}"
    racers = [start_cli("db", "init", url) for _ in range(4)]
    for proc in racers:
        _, err = proc.communicate(timeout=120)
        row.tried += 1
        row.untyped += untyped(err)
        if proc.returncode != 0:
            row.lost += 1
            row.note = _why(proc.returncode, err)
    row.survived = row.tried - row.lost
    return row


def _close_files(work: Path, patients: int) -> tuple[Path, Path]:
    p_head, *p_rows = PATIENTS.strip().splitlines()
    e_head, *e_rows = EVENTS.strip().splitlines()
    pfile, efile = work / "patients.csv", work / "events.csv"
    with pfile.open("w") as pf, efile.open("w") as ef:
        pf.write(p_head + "\n")
        ef.write(e_head + "\n")
        for i in range(patients):
            for r in p_rows:
                pid, rest = r.split(",", 1)
                pf.write(f"{pid}-{i},{rest}\n")
            for r in e_rows:
                pid, rest = r.split(",", 1)
                ef.write(f"{pid}-{i},{rest}\n")
    return pfile, efile


def fault_close_kill(rng: random.Random, work: Path) -> Row:
    """SIGKILL a month close part way: the previous output stays whole."""
    row = Row("SIGKILL billing close")
    pfile, efile = _close_files(work, 3000)
    out = work / "close-out"
    args = (
        "billing",
        "close",
        "--patients",
        str(pfile),
        "--events",
        str(efile),
        "--month",
        "2026-01",
        "--out",
        str(out),
        "--engine",
        "reference",
        "--no-progress",
    )
    first = run_cli(*args)
    row.untyped += untyped(first.stderr)

    def snapshot() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    before = snapshot()
    for _ in range(4):
        proc = start_cli(*args)
        time.sleep(rng.uniform(0.5, 2.5))
        killed = proc.poll() is None
        kill(proc)
        row.tried += 1
        after = snapshot()
        # Killed: the previous output, whole. Finished: the same close again, whole.
        if after != before:
            row.lost += 1
        if not killed:
            row.note = "a close finished before its kill"
    row.survived = row.tried - row.lost
    return row


def fault_import_kill(rng: random.Random, work: Path) -> Row:
    """SIGKILL a FHIR import part way, import again: every patient once, the store consistent."""
    row = Row("SIGKILL fhir import")
    try:
        import carecore_fhir  # noqa: F401
    except ImportError:
        row.note = "skipped: needs carecore-fhir"
        return row
    folder = work / "bundles"
    folder.mkdir()
    for item in sorted((ROOT / "src/carecore/_demo_data/synthea").glob("*.json.gz")):
        (folder / item.name.removesuffix(".gz")).write_bytes(gzip.decompress(item.read_bytes()))
    files = [str(p) for p in sorted(folder.iterdir())][:4]
    clean = f"sqlite:///{work / 'import-clean.db'}"
    run_cli("db", "init", clean)
    run_cli("fhir", "import", *files, "--db", clean, "--no-progress", timeout=300)
    expected = _patients(clean)
    for n in range(2):
        url = f"sqlite:///{work / f'import-{n}.db'}"
        run_cli("db", "init", url)
        proc = start_cli("fhir", "import", *files, "--db", url, "--no-progress")
        time.sleep(rng.uniform(1.0, 4.0))
        kill(proc)
        again = run_cli("fhir", "import", *files, "--db", url, "--no-progress", timeout=300)
        check = run_cli("db", "check", url)
        row.tried += 1
        row.untyped += untyped(again.stderr) + untyped(check.stderr)
        row.lost += check.returncode != 0 or _patients(url) != expected
    row.survived = row.tried - row.lost
    return row


def _patients(url: str) -> list[str]:
    from carecore.model import Patient
    from carecore.service import CareProgram

    with (
        CareProgram.open(url, actor="faults", create=False) as program,
        program.transaction("count") as tx,
    ):
        return sorted(p.id for p in tx.all(Patient))


def fault_two_writers(_rng: random.Random, work: Path) -> Row:
    """Two writers revising one care plan: every revision lands once."""
    from carecore.model import AdministrativeSex, CarePlan, Patient, ServiceFamily
    from carecore.service import CareProgram

    row = Row("two writers, one care plan")
    url = f"sqlite:///{work / 'plans.db'}"
    with CareProgram.open(url, actor="faults") as program, program.transaction("seed") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=pendulum.date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        )
        tx.add(
            CarePlan(
                id="cp1",
                patient_id="p1",
                title="Plan",
                families=frozenset({ServiceFamily.CCM}),
                created_on=pendulum.date(2026, 1, 5),
            )
        )
    per_writer = 40
    failures: list[BaseException] = []

    def write(name: str) -> None:
        with CareProgram.open(url, actor=name) as program:
            for n in range(per_writer):
                try:
                    program.revise_care_plan(
                        "cp1", lambda p, n=n: attrs.evolve(p, title=f"{name} {n}"), reason="r"
                    )
                except Exception as exc:  # noqa: BLE001 - counted
                    failures.append(exc)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with CareProgram.open(url, actor="faults") as program, program.transaction("c") as tx:
        version = tx.get(CarePlan, "cp1").version
    row.tried = 2 * per_writer
    row.untyped = sum(not isinstance(e, errors.CarecoreError) for e in failures)
    row.lost = row.tried - (version - 1)
    row.survived = row.tried - row.lost
    return row


# -- fuzz ----------------------------------------------------------------------------------

HOSTILE: list[Any] = [
    None,
    "",
    " ",
    "\x00",
    "x" * 200_000,
    -1,
    0,
    10**40,
    1.5,
    float("nan"),
    float("inf"),
    True,
    [],
    [None],
    {},
    {"a": 1},
    b"bytes",
    object(),
    "2026-13-45",
    "9" * 5000,
    ("tuple",),
]


def _typed(row: Row, call: Callable[[], object]) -> None:
    row.tried += 1
    try:
        call()
    except errors.CarecoreError:
        row.survived += 1
    except Exception:  # noqa: BLE001 - what the suite counts
        row.untyped += 1
        if row.untyped <= 3:
            row.note += traceback.format_exc().strip().splitlines()[-1][:120] + "; "
    else:
        row.survived += 1


def _samples() -> list[Any]:
    from carecore.testing._store_contract import (
        make_care_plan,
        make_message,
        make_patient,
        make_time_entry,
    )

    return [make_patient(), make_time_entry(1), make_care_plan(), make_message(1)]


def fuzz_constructors(rng: random.Random, _work: Path) -> Row:
    """Model values built with a hostile value in one field."""
    row = Row("fuzz: model constructors")
    samples = _samples()
    for _ in range(1500):
        value = rng.choice(samples)
        names = [a.name for a in attrs.fields(type(value))]
        name = rng.choice(names)
        fields = {n: getattr(value, n) for n in names}
        fields[name] = rng.choice(HOSTILE)
        cls = type(value)
        _typed(row, lambda fields=fields, cls=cls: cls(**fields))
    return row


def _mutate_text(rng: random.Random, text: str) -> str:
    choice = rng.randrange(6)
    if choice == 0:
        return text[: rng.randrange(len(text) + 1)]
    if choice == 1:
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(1, 0x2FF)) + text[i + 1 :]
    if choice == 2:
        return "[" * rng.choice([50, 500, 5000]) + text
    if choice == 3:
        return text.replace(":", ": " + "9" * rng.choice([20, 400, 5000]) + ",", 1)
    if choice == 4:
        i = rng.randrange(len(text))
        return text[:i] + text[i:].replace('"', "", 1)
    return text.replace('"', '"' + "x" * rng.choice([10, 100_000]), 1)


def fuzz_from_json(rng: random.Random, _work: Path) -> Row:
    """from_json of mutated JSON of model values."""
    from carecore.convert import from_json, to_json

    row = Row("fuzz: from_json")
    docs = [(to_json(v), type(v)) for v in _samples()]
    for _ in range(1500):
        text, cls = rng.choice(docs)
        mutated = _mutate_text(rng, text)
        _typed(row, lambda t=mutated, c=cls: from_json(t, c))
    return row


def _mutate_json(rng: random.Random, data: Any) -> Any:
    """A copy of *data* with one hostile value or one key removed, somewhere inside."""
    data = json.loads(json.dumps(data))
    node = data
    for _ in range(rng.randrange(1, 6)):
        if isinstance(node, dict) and node:
            key = rng.choice(sorted(node))
            if rng.random() < 0.3 or not isinstance(node[key], dict | list):
                if rng.random() < 0.2:
                    del node[key]
                else:
                    node[key] = rng.choice([h for h in HOSTILE if _jsonable(h)])
                return data
            node = node[key]
        elif isinstance(node, list) and node:
            i = rng.randrange(len(node))
            if not isinstance(node[i], dict | list):
                node[i] = rng.choice([h for h in HOSTILE if _jsonable(h)])
                return data
            node = node[i]
    return data


def _jsonable(value: object) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, float) or value == value  # noqa: PLR0124 - NaN


def fuzz_scenarios(rng: random.Random, work: Path) -> Row:
    """Scenario files with one hostile value, evaluated."""
    from carecore.billing._engine import evaluate
    from carecore.billing.cms import cms_rule_set
    from carecore.billing.scenarios import load_scenarios

    row = Row("fuzz: scenario files")
    base = json.loads((ROOT / "docs/how-to/my-scenarios.json").read_text())
    file = work / "scenario.json"

    def one(data: Any) -> None:
        file.write_text(json.dumps(data))
        for scenario in load_scenarios(file):
            evaluate(scenario.facts, cms_rule_set(scenario.year))

    for _ in range(300):
        mutated = _mutate_json(rng, base)
        _typed(row, lambda d=mutated: one(d))
    return row


def fuzz_csv(rng: random.Random, work: Path) -> Row:
    """Month closes over patients.csv / events.csv with one hostile cell."""
    from carecore.billing._close import close_files
    from carecore.billing.cms import cms_rule_set
    from carecore.model import ServicePeriod

    row = Row("fuzz: CSV files")
    rules = cms_rule_set(2026)
    cells = ["", '"', '""', "x" * 140_000, "\x00", "9" * 5000, "2026-99-01", ";;;", "a,b", "\n"]
    for _ in range(120):
        which = rng.randrange(2)
        lines = (PATIENTS if which == 0 else EVENTS).strip().splitlines()
        i = rng.randrange(len(lines))
        parts = lines[i].split(",")
        parts[rng.randrange(len(parts))] = rng.choice(cells)
        lines[i] = ",".join(parts)
        text = "\n".join(lines) + "\n"
        (work / "p.csv").write_text(text if which == 0 else PATIENTS)
        (work / "e.csv").write_text(text if which == 1 else EVENTS)
        _typed(
            row,
            lambda: close_files(
                work / "p.csv",
                work / "e.csv",
                ServicePeriod.month(2026, 1),
                rules,
                None,
                engine="reference",
            ),
        )
    return row


def fuzz_hl7(rng: random.Random, _work: Path) -> Row:
    """HL7 v2 ADT frames mutated, ingested."""
    row = Row("fuzz: HL7 v2 frames")
    try:
        from carecore_hl7v2.ingest import handle
    except ImportError:
        row.note = "skipped: needs carecore-hl7v2"
        return row
    from carecore.service import CareProgram

    samples = [
        p.read_text() for p in sorted((ROOT / "plugins/carecore-hl7v2/tests/data").glob("*.hl7"))
    ]
    with CareProgram.open("memory://", actor="faults") as program:
        for _ in range(400):
            text = rng.choice(samples)
            segments = text.replace("\n", "\r").split("\r")
            choice = rng.randrange(4)
            i = rng.randrange(len(segments))
            if choice == 0:
                del segments[i]
            elif choice == 1:
                fields = segments[i].split("|")
                fields[rng.randrange(len(fields))] = rng.choice(
                    ["", "^^^^", "x" * 200_000, "\x00", "99999999", "~~~", "\\E\\"]
                )
                segments[i] = "|".join(fields)
            elif choice == 2:
                segments.insert(i, segments[i])
            raw = "\r".join(segments) if choice != 3 else _mutate_text(rng, text)
            _typed(row, lambda raw=raw: handle(program, raw))
    return row


def fuzz_fhir(rng: random.Random, _work: Path) -> Row:
    """FHIR bundles with one hostile value or deep nesting, imported (never raises)."""
    row = Row("fuzz: FHIR bundles")
    try:
        from carecore_fhir.importer import import_bundle
    except ImportError:
        row.note = "skipped: needs carecore-fhir"
        return row
    from carecore.service import CareProgram

    item = min(
        (ROOT / "src/carecore/_demo_data/synthea").glob("*.json.gz"), key=lambda p: p.stat().st_size
    )
    bundle = json.loads(gzip.decompress(item.read_bytes()))
    small = dict(bundle, entry=bundle["entry"][:40])
    with CareProgram.open("memory://", actor="faults") as program:
        for n in range(60):
            data = _mutate_json(rng, small)
            text = json.dumps(data)
            if n % 10 == 0:
                text = _mutate_text(rng, text)
            _typed(row, lambda text=text, n=n: import_bundle(program, text, source=f"b{n}.json"))
    return row


SCENARIOS: list[Callable[[random.Random, Path], Row]] = [
    fault_outbox_kill,
    fault_outbox_slow_receiver,
    fault_webhook_500,
    fault_smtp_down,
    fault_schema_kill,
    fault_close_kill,
    fault_import_kill,
    fault_two_writers,
    fuzz_constructors,
    fuzz_from_json,
    fuzz_scenarios,
    fuzz_csv,
    fuzz_hl7,
    fuzz_fhir,
]


@contextlib.contextmanager
def _folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="carecore-faults-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


#: The whole run's budget: a scenario not started within it fails the run.
BUDGET_SECONDS = 300


def run(seed: int, only: str | None = None) -> list[Row]:
    rows = []
    began = time.perf_counter()
    for scenario in SCENARIOS:
        if only and only not in scenario.__name__:
            continue
        if time.perf_counter() - began > BUDGET_SECONDS:
            rows.append(Row(scenario.__name__, ran=False, note="not run: past the 5-minute budget"))
            continue
        rng = random.Random(f"{seed}:{scenario.__name__}")
        started = time.perf_counter()
        with _folder() as work:
            try:
                row = scenario(rng, work)
            except Exception as exc:  # noqa: BLE001 - a scenario that breaks is a failure
                row = Row(scenario.__name__, untyped=1, note=f"{type(exc).__name__}: {exc}"[:150])
        row.seconds = time.perf_counter() - started
        rows.append(row)
        print(f"  {row.name}: {row.seconds:.1f} s", file=sys.stderr, flush=True)  # noqa: T201
    return rows


def table(rows: list[Row]) -> str:
    head = f"{'scenario':<30} {'tried':>6} {'survived':>8} {'lost':>5} {'doubled':>7} {'allowed':>7} {'untyped':>7} {'s':>5}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        mark = "" if r.ok else "  <-- FAIL"
        lines.append(
            f"{r.name:<30} {r.tried:>6} {r.survived:>8} {r.lost:>5} {r.doubled:>7} {r.allowed:>7}"
            f" {r.untyped:>7} {r.seconds:>5.1f}  {r.note}{mark}"
        )
    total = Row(
        "total",
        *(
            sum(getattr(r, f) for r in rows)
            for f in ("tried", "survived", "lost", "doubled", "allowed", "untyped")
        ),
    )  # type: ignore[arg-type]
    lines.append("-" * len(head))
    lines.append(
        f"{total.name:<30} {total.tried:>6} {total.survived:>8} {total.lost:>5} {total.doubled:>7}"
        f" {total.allowed:>7} {total.untyped:>7}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--only", help="run the scenarios whose function name contains this")
    args = parser.parse_args()
    rows = run(args.seed, args.only)
    print(table(rows))  # noqa: T201 - the report
    failed = [r.name for r in rows if not r.ok]
    print("FAILED: " + ", ".join(failed) if failed else "every scenario passed")  # noqa: T201
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
