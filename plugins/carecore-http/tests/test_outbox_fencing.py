"""Two `carecore outbox run` side by side with a webhook slower than the lease: no repeat.

The reproduction of the report in real time, with a shorter lease: 12
messages, a 2-second lease, a receiver taking 0.5 s per message, and a second
run started when the first one's fifth POST arrives (it claims once its
interpreter has started, a second or more later, when the first run's lease
on the messages it has not reached has run out). The report's run (a
3-second lease, a second run 3.6 s later) gave 13 POSTs for 8 messages.

Each send must take well under the lease: a send that outlasts it may be
repeated, as the outbox's documentation says (the first version of this test
had the receiver take exactly the lease, 1 s, and on a loaded machine a send
of 1 s plus its overhead was now and then sent again by the second run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter

import pendulum

from carecore.model import OutboundMessage
from carecore.service import CareProgram

CLI = [sys.executable, "-c", "from carecore.cli import main; main()"]


def test_two_runs_past_the_lease_post_each_message_once(tmp_path, peer):
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    with CareProgram.open(url, actor="queue") as program, program.transaction("queue") as tx:
        for n in range(12):
            tx.enqueue(
                OutboundMessage(
                    id=f"m{n}",
                    idempotency_key=f"k{n}",
                    channel="webhook",
                    recipient="care-team",
                    subject=f"Note {n}",
                    body="Call the patient.",
                    created_at=pendulum.datetime(2026, 3, 4, 9, tz="UTC"),
                )
            )
    peer.delay = 0.5
    env = {
        **os.environ,
        "CARECORE_WEBHOOK_URL": peer.url,
        "CARECORE_WEBHOOK_SECRET": "s3cret",
        "CARECORE_WEBHOOK_INSECURE": "1",
    }
    args = [*CLI, "outbox", "run", "--db", url, "--lease", "2"]
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(peer.requests) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)  # the first run has claimed every message and sends the fifth
    second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    keys = Counter(headers.get("Idempotency-Key") for headers, _ in peer.requests)
    assert keys == Counter({f"k{n}": 1 for n in range(12)}), keys
    with CareProgram.open(url, actor="check") as program, program.transaction("c") as tx:
        assert len(tx.outbox(status="delivered")) == 12
