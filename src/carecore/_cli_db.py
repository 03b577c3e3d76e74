"""``carecore db``: create, check and migrate a store."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from carecore._cli_actor import current_actor, require_store_admin
from carecore._cli_common import echo_records, format_option, time_zone_option
from carecore.storage import SCHEMA_VERSION, open_store

if TYPE_CHECKING:
    import pluggy

    from carecore.protocols import Store


def _url(fn: Any) -> Any:
    """The store as a ``URL`` argument or ``--db URL``, as every other command takes it.

    The command gets ``url``: the one given (a store given both ways must be
    the same one), else the one ``$CARECORE_DB`` or ``carecore.toml`` gives a
    command whose only argument is the URL.
    """

    @functools.wraps(fn)
    def run(*args: Any, url: str | None, db_url: str | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        given = url if ctx.get_parameter_source("url") is ParameterSource.COMMANDLINE else None
        if "zone" in kwargs and kwargs["zone"] is None and db_url is not None:
            # "db set time-zone --db URL ZONE": the one argument given is the zone.
            url, given, kwargs["zone"] = None, None, url
        if given is not None and db_url is not None and given != db_url:
            raise click.UsageError(
                "the store is given twice, as URL and as --db, and they differ: give one", ctx
            )
        store = db_url or url
        if store is None:
            raise click.UsageError(
                "Missing URL: give URL or --db URL, set CARECORE_DB, or set db in carecore.toml.",
                ctx,
            )
        return fn(*args, url=store, **kwargs)

    run = click.option(
        "--db",
        "db_url",
        metavar="URL",
        default=None,
        help="The store, as every other command takes it (instead of URL, or the same).",
    )(run)
    return click.argument("url", metavar="[URL]", required=False)(run)


def _open(ctx: click.Context, url: str, *, create: bool = False) -> Store:
    """The store at *url*; a SQLite file that does not exist is refused and not created.

    Only ``db init`` (*create*) makes a new file: ``db check`` of a mistyped
    path must not leave an empty database behind.
    """
    require_store_admin()  # an AccessDenied before anything is opened or created
    if not create and url.startswith("sqlite:///"):
        from pathlib import Path  # noqa: PLC0415

        from carecore import errors  # noqa: PLC0415
        from carecore.storage.sqlite import sqlite_path  # noqa: PLC0415

        path = sqlite_path(url)
        if path != ":memory:" and not Path(path).exists():
            raise errors.NoSuchStore(url=url)
    pm: pluggy.PluginManager = ctx.obj["pm"]
    return open_store(url, plugin_manager=pm)


@click.group()
def db() -> None:
    """Create, check and migrate a carecore store (memory://, sqlite:///path, postgresql://...)."""


def stored_time_zone(ctx: click.Context, url: str) -> str | None:
    """The practice's time zone stored in the store at *url* (``db set time-zone``), or None.

    None too when the store is missing or empty: the command that reads it
    then refuses the store in its own words.
    """
    from carecore import errors  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415

    try:
        with CareProgram.open(
            url, actor=current_actor(), plugin_manager=ctx.obj["pm"], create=False
        ) as program:
            return program.practice_time_zone()
    except errors.CarecoreError:
        return None


def _set_time_zone(store: Store, zone: str) -> None:
    """Store the practice's time zone (one row; replaced when set again)."""
    import datetime as dt  # noqa: PLC0415

    from carecore import errors  # noqa: PLC0415
    from carecore.model import PracticeSetting  # noqa: PLC0415

    setting = PracticeSetting(name="time-zone", value=zone)
    now = dt.datetime.now(dt.UTC)
    with store.transaction(actor=current_actor(), reason="practice time zone", at=now) as tx:
        try:
            tx.get(PracticeSetting, "time-zone")
        except errors.NotFound:
            tx.add(setting)
        else:
            tx.replace(setting)


def _get_time_zone(store: Store) -> str | None:
    """The practice's time zone stored in *store*, or None when none is."""
    import datetime as dt  # noqa: PLC0415

    from carecore import errors  # noqa: PLC0415
    from carecore.model import PracticeSetting  # noqa: PLC0415

    now = dt.datetime.now(dt.UTC)
    with store.transaction(actor=current_actor(), reason="practice time zone", at=now) as tx:
        try:
            return tx.get(PracticeSetting, "time-zone").value
        except errors.NotFound:
            return None


def refuse_other_time_zone(*, stored: str, given: str, url: str) -> None:
    """Refuse ``db init --time-zone GIVEN`` on a store whose practice time zone is *stored*.

    ``db init`` leaves an initialised store as it is; changing the zone moves
    every local day the store's commands work out, so it is asked for by name.
    """
    from carecore import errors  # noqa: PLC0415

    raise errors.InvalidValue(
        f"the store is already initialised with practice time zone {stored}, and db init "
        f"does not change it (nothing was changed); to change it: "
        f"carecore db set time-zone {url} {given}",
        field="--time-zone",
        value=given,
    )


@db.command()
@_url
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help="The practice's IANA time zone (e.g. America/Chicago), stored for every command.",
)
@click.pass_context
def init(ctx: click.Context, url: str, time_zone: str | None) -> None:
    """Create the schema in an empty database (a current one is left as it is).

    '--time-zone' stores the practice's time zone once: HL7 intake,
    worklists and reports use it when no '--time-zone' option is given.
    On a store already initialised with another zone it is refused (exit
    status 2) and nothing changes: change the zone with 'db set time-zone'.

    The schema is created in one transaction: a run that fails or is killed
    leaves the database empty. Runs started at once on one database are safe:
    one creates the schema, the others report it already initialised.
    """
    store = _open(ctx, url, create=True)
    zone_set = False
    try:
        before = store.schema_version()
        store.initialize()
        # A store that says whether it created the schema (the SQL stores) may
        # have found it made by a run that started at the same time.
        created = getattr(store, "created_schema", before == 0)
        if time_zone is not None:
            stored = None if created else _get_time_zone(store)
            if stored is not None and stored != time_zone:
                refuse_other_time_zone(stored=stored, given=time_zone, url=store.url)
            if stored is None:
                _set_time_zone(store, time_zone)
                zone_set = True
    finally:
        store.close()
    if created:
        click.echo(f"{store.url}: created schema version {SCHEMA_VERSION}")
    elif zone_set:
        click.echo(
            f"{store.url}: already initialised at schema version {SCHEMA_VERSION}; "
            f"practice time zone set to {time_zone}"
        )
    else:
        click.echo(
            f"{store.url}: already initialised at schema version {SCHEMA_VERSION}; nothing to do"
        )


@db.group("set")
def set_() -> None:
    """Store one of the practice's settings."""


@set_.command("time-zone")
@_url
@click.argument("zone", metavar="ZONE", required=False)
@click.pass_context
def set_time_zone(ctx: click.Context, url: str, zone: str | None) -> None:
    """Store the practice's time zone ZONE (an IANA name such as America/Chicago)."""
    from carecore.model.validators import check_time_zone  # noqa: PLC0415

    if zone is None:
        raise click.UsageError("Missing argument 'ZONE'.", ctx)
    zone = check_time_zone(zone, "ZONE")
    store = _open(ctx, url)
    try:
        if store.schema_version() == 0:
            from carecore import errors  # noqa: PLC0415

            raise errors.NoSuchStore(url=url)
        _set_time_zone(store, zone)
    finally:
        store.close()
    click.echo(f"{store.url}: practice time zone is {zone}")


@db.command()
@_url
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
@_url
@format_option(
    help="table, json, or csv (a header row, then one row per table with its count and one "
    "per problem).",
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

    def table() -> None:
        verdict = "consistent" if report.ok else f"{len(report.problems)} problem(s)"
        click.echo(f"{report.url}: schema version {report.schema_version}, {verdict}")
        for name, count in report.counts.items():
            if count:
                click.echo(f"  {name}: {count}")
        for problem in report.problems:
            click.echo(f"  problem: {problem}")

    rows = [{"kind": "count", "name": k, "value": v} for k, v in report.counts.items()]
    rows += [{"kind": "problem", "name": "", "value": p} for p in report.problems]
    echo_records(
        fmt,
        rows,
        columns=("kind", "name", "value"),
        table=table,
        data={
            "url": report.url,
            "schema_version": report.schema_version,
            "ok": report.ok,
            "counts": report.counts,
            "problems": list(report.problems),
        },
    )
    if not report.ok:
        ctx.exit(1)
