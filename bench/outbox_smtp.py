"""Outbox delivery throughput to a local SMTP server (aiosmtpd), against smtplib sending the same mails alone.

Both sides open one SMTP connection per message (as the e-mail channel does).
Run alone: ``python bench/outbox_smtp.py --messages 1000`` (needs carecore-email and aiosmtpd).
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

import pendulum


class _Inbox:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001, ARG002, N802
        self.count += 1
        return "250 OK"


def bench_outbox(count: int, folder: Path) -> dict[str, float]:
    """Messages per second: the outbox dispatcher with the e-mail channel, and raw smtplib."""
    from aiosmtpd.controller import Controller
    from carecore_email import EmailChannel

    from carecore.model import OutboundMessage
    from carecore.outbox import Dispatcher
    from carecore.service import CareProgram

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        start = time.perf_counter()
        for n in range(count):
            mail = EmailMessage()
            mail["From"], mail["To"], mail["Subject"] = (
                "care@example.org",
                f"rn{n}@example.org",
                "Check-in",
            )
            mail.set_content("Due today.")
            with smtplib.SMTP("127.0.0.1", port) as smtp:
                smtp.send_message(mail)
        raw_rate = count / (time.perf_counter() - start)

        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "outbox-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        program = CareProgram.open(f"sqlite:///{db}", actor="bench")
        now = pendulum.now("UTC")
        with program.transaction("queue") as tx:
            for n in range(count):
                tx.enqueue(
                    OutboundMessage(
                        id=f"m{n}",
                        idempotency_key=f"k{n}",
                        channel="email",
                        recipient=f"rn{n}@example.org",
                        subject="Check-in",
                        body="Due today.",
                        created_at=now,
                    )
                )
        channel = EmailChannel(
            host="127.0.0.1", port=port, sender="care@example.org", insecure=True
        )
        start = time.perf_counter()
        report = Dispatcher(program, {"email": channel}).run_until_idle(limit=500)
        outbox_rate = count / (time.perf_counter() - start)
        assert report.delivered == count
        program.close()
    finally:
        controller.stop()
    return {
        "messages": count,
        "smtplib_per_s": raw_rate,
        "outbox_per_s": outbox_rate,
        "ratio": outbox_rate / raw_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    r = bench_outbox(args.messages, args.work)
    print(
        f"outbox to SMTP: {r['outbox_per_s']:.0f} msg/s; smtplib alone: {r['smtplib_per_s']:.0f} msg/s; "
        f"ratio {r['ratio']:.2f} ({r['messages']} messages)"
    )


if __name__ == "__main__":
    main()
