"""``carecore db``: create, check and migrate a store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from carecore.storage import SCHEMA_VERSION, open_store

if TYPE_CHECKING:
    import pluggy

    from carecore.protocols import Store

_URL = click.argument("url", metavar="URL")


def _open(ctx: click.Context, url: str) -> Store:
    pm: pluggy.PluginManager = ctx.obj["pm"]
    return open_store(url, plugin_manager=pm)


@click.group()
def db() -> None:
    """Create, check and migrate a carecore store (memory://, sqlite:///path, postgresql://...)."""


@db.command()
@_URL
@click.pass_context
def init(ctx: click.Context, url: str) -> None:
    """Create the schema in an empty database (a current one is left as it is).

    The schema is created in one transaction: a run that fails or is killed
    leaves the database empty. Runs started at once on one database are safe:
    one creates the schema, the others report it already initialised.
    """
    store = _open(ctx, url)
    try:
        before = store.schema_version()
        store.initialize()
        # A store that says whether it created the schema (the SQL stores) may
        # have found it made by a run that started at the same time.
        created = getattr(store, "created_schema", before == 0)
    finally:
        store.close()
    if created:
        click.echo(f"{store.url}: created schema version {SCHEMA_VERSION}")
    else:
        click.echo(
            f"{store.url}: already initialised at schema version {SCHEMA_VERSION}; nothing to do"
        )


@db.command()
@_URL
@click.pass_context
def migrate(ctx: click.Context, url: str) -> None:
    """Bring an older schema up to this carecore's version, one step per transaction."""
    store = _open(ctx, url)
    try:
        steps = store.migrate()
    finally:
        store.close()
    if steps:
        click.echo(
            f"{store.url}: migrated to schema version {steps[-1]} (applied {', '.join(map(str, steps))})"
        )
    else:
        click.echo(f"{store.url}: already at schema version {SCHEMA_VERSION}; nothing to do")


@db.command()
@_URL
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_context
def check(ctx: click.Context, url: str, fmt: str) -> None:
    """Check a store for anything half-written or inconsistent; change nothing.

    Exits with status 1 when a problem is found.
    """
    store = _open(ctx, url)
    try:
        report = store.check()
    finally:
        store.close()
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "url": report.url,
                    "schema_version": report.schema_version,
                    "ok": report.ok,
                    "counts": report.counts,
                    "problems": list(report.problems),
                },
                indent=2,
            )
        )
    else:
        verdict = "consistent" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"{report.url}: schema version {report.schema_version}, {verdict}")
        for table, count in report.counts.items():
            if count:
                click.echo(f"  {table}: {count}")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")
    if not report.ok:
        ctx.exit(1)
