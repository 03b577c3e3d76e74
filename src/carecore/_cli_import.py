"""``carecore import``: records from any installed EHR source (``carecore_ehr_sources``)."""

from __future__ import annotations

import os
import re
import typing
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_common import echo_records, format_option
from carecore.model import AdtEvent
from carecore.plugins import Hooks
from carecore.protocols import offers
from carecore.service import CareProgram, ImportRefusal, ImportSkip

if TYPE_CHECKING:
    import pluggy

    from carecore.protocols import ClockedSource, ConfigurableSource, EhrSource, ImportingSource

__all__ = ["import_command", "import_location"]


def _options(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise errors.InvalidValue("must be KEY=VALUE", field="--option", value=pair)
        out[key.strip()] = value.strip()
    return out


#: A location with a scheme (``https://``, ``mllp://``) is a URL, not a path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _does_not_exist(location: str, *, readable: bool) -> bool:
    """Whether *location* is a path (not a URL) that names nothing on disk.

    A missing location the source does not read is one. A source may read
    locations that are names, not paths (a server alias), so one it reads is
    taken as a path only when it looks like one: it has a folder separator or
    a suffix (``nodir/``, ``missing.json``).

    >>> _does_not_exist("no-such-folder/", readable=True)
    True
    >>> _does_not_exist("https://ehr.example/fhir", readable=False)
    False
    >>> _does_not_exist("all", readable=True)
    False
    """
    if _URL.match(location):
        return False
    path = Path(location)
    if path.exists():
        return False
    separators = {os.sep, os.altsep or os.sep}
    return not readable or bool(path.suffix) or any(sep in location for sep in separators)


def _in_zone(
    source: EhrSource, options: dict[str, str], settings: object, program: CareProgram
) -> EhrSource:
    """*source* given the practice's zone as its ``time_zone`` option, if it takes one.

    The zone is ``CARECORE_TIME_ZONE`` or the settings file's ``time_zone``
    (*settings*), else the one the store keeps; ``-o time_zone=...`` (in
    *options*) overrides them all. A source whose ``configured`` does not
    take ``time_zone`` is left as it is.
    """
    if "time_zone" in options or not offers(source, "configured"):
        return source
    zone = getattr(settings, "time_zone", None) or program.practice_time_zone()
    if zone is None:
        return source
    try:
        return typing.cast("ConfigurableSource", source).configured({"time_zone": zone})
    except errors.InvalidValue:
        return source  # the source takes no time zone


def _on_clock(source: EhrSource, program: CareProgram) -> EhrSource:
    """*source* given *program*'s clock time, if it takes one (a :class:`~carecore.protocols.ClockedSource`).

    A source that checks records against the time of the import (the FHIR
    source refuses a birth date after it) then checks against the program's
    clock, as the source's own command does; one without ``as_of`` is left
    as it is.
    """
    if not offers(source, "as_of"):
        return source
    return typing.cast("ClockedSource", source).as_of(program.clock.now())


def import_location(program: CareProgram, source: EhrSource, location: str) -> dict[str, Any]:
    """Import what *source* reads at *location* into *program*; what was added, skipped, refused.

    A source that offers ``import_into`` (one that matches records against the
    store, such as HL7 v2) takes them in itself and says what it added and
    skipped. Otherwise the model values
    it yields are stored with :meth:`~carecore.service.CareProgram.import_records`
    (one transaction per patient) and its ADT events are received as the
    listener receives them (:meth:`~carecore.service.CareProgram.receive`:
    episodes opened, each event once).
    """
    if offers(source, "import_into"):
        refused: list[ImportRefusal] = []
        done = typing.cast("ImportingSource", source).import_into(
            program, location, refused=refused
        )
        return {
            "location": location,
            "added": done.added,
            "skipped": done.skipped,
            "refused": refused,
            "not_used": [],
        }
    records: list[Any] = []
    events: list[AdtEvent] = []
    refused = []
    unused: Counter[tuple[str, str]] = Counter()
    for value in source.read(location):
        if isinstance(value, ImportRefusal):
            refused.append(value)
        elif isinstance(value, ImportSkip):
            # Counted by record type and reason (less any "(got ...)" value).
            unused[value.where.partition("/")[0], value.reason.partition(" (got ")[0]] += 1
        elif isinstance(value, AdtEvent):
            events.append(value)
        else:
            records.append(value)
    result = program.import_records(records, reason=f"import from {source.id}", refused=refused)
    added, skipped = result.added, result.skipped
    for event in events:
        try:
            received = program.receive(event, source=source.id)
        except errors.CarecoreError as exc:
            refused.append(ImportRefusal(where=f"AdtEvent/{event.id}", reason=str(exc)))
            continue
        added, skipped = (added, skipped + 1) if received.duplicate else (added + 1, skipped)
    return {
        "location": location,
        "added": added,
        "skipped": skipped,
        "refused": refused,
        "not_used": [
            {"resource": kind, "reason": why, "count": n}
            for (kind, why), n in sorted(unused.items())
        ],
    }


def _table(results: list[dict[str, Any]]) -> None:
    """Each location's counts, then its refusals and what was not used, by type and reason."""
    for r in results:
        counts = f"{r['added']} added, {r['skipped']} already stored, {len(r['refused'])} refused"
        unused = sum(x["count"] for x in r["not_used"])
        click.echo(f"{r['location']}: {counts}" + (f", {unused} not used" if unused else ""))
        for refusal in r["refused"]:
            click.echo(f"  refused {refusal.where}: {refusal.reason}")
        for x in r["not_used"]:
            click.echo(f"  not used {x['count']} {x['resource']}: {x['reason']}")


@click.command("import")
@click.option(
    "--source",
    "source_id",
    required=True,
    metavar="NAME",
    help="The EHR source to read with (an installed carecore_ehr_sources() source, e.g. fhir, hl7v2).",
)
@click.option("--db", "db_url", required=True, metavar="URL", help="The store the records go to.")
@click.option(
    "--option",
    "-o",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A source option (repeatable), e.g. time_zone=America/Chicago; each source names its own.",
)
@format_option(
    help="table, json, or csv (a header row, one row per location with its refusals).",
)
@click.argument("locations", nargs=-1, required=True)
@click.pass_context
def import_command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    source_id: str,
    db_url: str,
    pairs: tuple[str, ...],
    fmt: str,
    locations: tuple[str, ...],
) -> None:
    """Import records from LOCATIONS (files, folders, server URLs) with an installed EHR source.

    Prints what each location added, skipped (already stored) and refused,
    with the reason, and counts what the source read but carecore does not
    use (e.g. FHIR Claims), by type and reason. Exits 1 when anything was refused, 2 for bad input
    (an unknown source, an option it does not take, a location that does not
    exist or that it cannot read).
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    sources = Hooks(pm).ehr_sources()
    if source_id not in sources:
        raise errors.InvalidValue(
            f"no installed EHR source has this name (installed: {', '.join(sorted(sources)) or 'none'})",
            field="--source",
            value=source_id,
        )
    source: EhrSource = sources[source_id]
    options = _options(pairs)
    if options:
        if not offers(source, "configured"):
            raise errors.InvalidValue(
                f"the {source_id} source takes no options", field="--option", value=sorted(options)
            )
        source = typing.cast("ConfigurableSource", source).configured(options)
    for location in locations:
        readable = source.can_read(location)
        if _does_not_exist(location, readable=readable):
            raise errors.InvalidValue("does not exist", field="location", value=location)
        if not readable:
            raise errors.InvalidValue(
                f"the {source_id} source cannot read it", field="location", value=location
            )
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        source = _in_zone(source, options, (ctx.obj or {}).get("settings"), program)
        source = _on_clock(source, program)
        results = [import_location(program, source, location) for location in locations]
    rows = [
        {**r, "refused": [{"where": x.where, "reason": x.reason} for x in r["refused"]]}
        for r in results
    ]

    sheet = [
        {
            "location": r["location"],
            "added": r["added"],
            "skipped": r["skipped"],
            "refused": len(r["refused"]),
            "refusals": [f"{x['where']}: {x['reason']}" for x in r["refused"]],
            "not_used": sum(x["count"] for x in r["not_used"]),
        }
        for r in rows
    ]
    echo_records(
        fmt,
        sheet,
        columns=("location", "added", "skipped", "refused", "refusals", "not_used"),
        table=lambda: _table(results),
        data=rows,
    )
    if any(r["refused"] for r in results):
        ctx.exit(1)
