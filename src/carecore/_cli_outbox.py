"""``carecore outbox``: deliver, inspect and retry queued messages."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import click

from carecore._cli_actor import current_actor
from carecore._cli_common import echo_records, format_option
from carecore._redact import redact
from carecore.outbox import Dispatcher, RetryPolicy
from carecore.plugins import Hooks
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pluggy

_DB = click.option(
    "--db", "db_url", required=True, metavar="URL", help="The store whose outbox to use."
)
_STATUSES = ("pending", "delivered", "failed", "dead")


@click.group()
def outbox() -> None:
    """Deliver the outbox through the installed channels, show it, retry what failed."""


@outbox.command()
@_DB
@click.option("--max-attempts", default=6, show_default=True, type=click.IntRange(1, 100))
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Messages per round.",
)
@click.option(
    "--lease",
    default=300,
    show_default=True,
    type=click.IntRange(1, 86_400),
    help="Seconds a claimed message is held from other dispatchers.",
)
@click.pass_context
def run(ctx: click.Context, db_url: str, max_attempts: int, limit: int, lease: int) -> None:
    """Deliver every message due now; failed sends are retried later with backoff.

    Runs side by side are safe: each claims the messages it sends, and extends
    its lease before each send; a message whose lease ran out and that another
    run claimed is left to that run. A message is sent twice only when a run
    dies between the send and its record, or one send outlasts the whole
    lease; e-mail and webhooks then carry the same Message-ID or
    Idempotency-Key, so receivers can drop the repeat.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        dispatcher = Dispatcher(
            program,
            Hooks(pm).channels(),
            policy=RetryPolicy(max_attempts=max_attempts),
            lease_seconds=lease,
        )
        report = dispatcher.run_until_idle(limit=limit)
    taken = f", taken over by another run {report.taken_over}" if report.taken_over else ""
    click.echo(
        f"delivered {report.delivered}, retrying later {report.retrying}, dead {report.dead}{taken}"
    )


@outbox.command()
@_DB
@format_option(
    help="table, json (the counts too), or csv (a header row, one row per message retrying, "
    "failed or dead).",
)
@click.pass_context
def status(ctx: click.Context, db_url: str, fmt: str) -> None:
    """Count the outbox by status, and list what failed or died with the reason."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        program.transaction("outbox status") as tx,
    ):
        items = {s: tx.outbox(status=s, limit=1_000_000) for s in _STATUSES}
    counts = Counter({s: len(v) for s, v in items.items()})
    retrying = [
        {
            "id": i.message.id,
            "channel": i.message.channel,
            "attempts": i.attempts,
            "error": redact(i.last_error) if i.last_error else None,
            "next_attempt_at": i.next_attempt_at.isoformat() if i.next_attempt_at else None,
        }
        for i in items["pending"]
        if i.attempts
    ]
    problems = [
        {
            "id": i.message.id,
            "status": i.status,
            "channel": i.message.channel,
            "attempts": i.attempts,
            "error": redact(i.last_error) if i.last_error else None,
        }
        for s in ("failed", "dead")
        for i in items[s]
    ]

    def table() -> None:
        click.echo(", ".join(f"{s} {counts[s]}" for s in _STATUSES))
        for r in retrying:
            click.echo(
                f"  retrying: {r['id']} via {r['channel']} after {r['attempts']} attempt(s), "
                f"next at {r['next_attempt_at']}: {r['error']}"
            )
        for p in problems:
            click.echo(
                f"  {p['status']}: {p['id']} via {p['channel']} after {p['attempts']} "
                f"attempt(s): {p['error']}"
            )

    echo_records(
        fmt,
        [{**r, "status": "retrying"} for r in retrying] + problems,
        columns=("id", "status", "channel", "attempts", "error", "next_attempt_at"),
        table=table,
        data={"counts": dict(counts), "retrying": retrying, "problems": problems},
    )


@outbox.command()
@_DB
@click.argument("message_ids", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Requeue every failed and dead message.")
@click.pass_context
def retry(ctx: click.Context, db_url: str, message_ids: tuple[str, ...], every: bool) -> None:  # noqa: FBT001
    """Put failed or dead messages back in the queue (by id, or --all)."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        program.transaction("outbox retry") as tx,
    ):
        ids = list(message_ids)
        if every:
            ids += [
                i.message.id
                for s in ("failed", "dead")
                for i in tx.outbox(status=s, limit=1_000_000)
            ]
        for message_id in ids:
            tx.requeue(message_id)
    click.echo(f"requeued {len(ids)} message(s)")
