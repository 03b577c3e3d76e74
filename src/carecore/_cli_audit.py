"""``carecore audit``: who saw a patient's records, or what an actor did, from the audit log."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from carecore import errors
from carecore._cli_actor import env_actor
from carecore._cli_common import day_option, echo_records, format_option
from carecore.audit import audit_event, entries
from carecore.convert import to_primitive
from carecore.service import CareProgram
from carecore.storage import KINDS

if TYPE_CHECKING:
    import pendulum
    import pluggy


@click.command("audit")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option(
    "--patient", "patient_id", default=None, metavar="ID", help="Every access to this patient."
)
@click.option(
    "--actor",
    "of_actor",
    default=None,
    metavar="ID",
    help="Everything this actor did (who runs the report comes from $CARECORE_ACTOR).",
)
@click.option(
    "--history",
    "record",
    default=None,
    metavar="KIND:KEY",
    help="Instead of the log: every value this record has had, oldest first, replaced and "
    "deleted ones too (e.g. Patient:p-0003; parts of a composite key joined by |).",
)
@day_option("--since", help="Only entries from this day on (UTC).")
@format_option(
    "fhir",
    help="table, json, csv (a header row, one row per entry), or fhir: a FHIR R4 Bundle of "
    "AuditEvent resources.",
)
@click.pass_context
def audit_command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    patient_id: str | None,
    of_actor: str | None,
    record: str | None,
    since: pendulum.Date | None,
    fmt: str,
) -> None:
    """List the audit log's entries for one patient (--patient) or one actor (--actor): who saw what.

    With --history, list every value one record has had instead (its earlier
    versions, or the values replaces and deletes ended, then the current one).
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    if record is not None:
        _history(pm, db_url, record, fmt)
        return
    for option, given in (("--patient", patient_id), ("--actor", of_actor)):
        if given is not None and not given.strip():
            raise errors.InvalidValue("must name an id (not blank)", field=option, value=given)
    if patient_id is None and of_actor is None:
        raise click.UsageError(
            "--patient or --actor is needed: the patient or the actor whose log entries to list"
        )
    with (
        CareProgram.open(db_url, actor=env_actor(), plugin_manager=pm, create=False) as program,
        program.transaction("audit log report") as tx,
    ):
        found = entries(tx, patient_id=patient_id, actor=of_actor, since=since)
    if fmt == "fhir":
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": audit_event(e)} for e in found],
        }
        click.echo(json.dumps(bundle, indent=2, ensure_ascii=False))
        return
    rows = [
        {
            "seq": e.seq,
            "at": e.at.in_timezone("UTC").isoformat(),
            "actor": e.actor,
            "action": e.action,
            "kind": e.kind,
            "key": e.key,
            "patient_id": e.patient_id,
            "reason": e.reason,
            "detail": e.detail,
        }
        for e in found
    ]

    def table() -> None:
        for e in found:
            when = e.at.in_timezone("UTC").format("YYYY-MM-DD HH:mm:ss")
            what = e.kind if e.key is None else f"{e.kind} {e.key}"
            detail = f" ({e.detail})" if e.detail else ""
            click.echo(
                f"{e.seq:>7}  {when}Z  {e.actor:<16} {e.action:<8} {what}"
                f" patient={e.patient_id or '-'}  reason={e.reason}{detail}"
            )

    if fmt == "table" and not found:
        click.echo("no audit entries")
        return
    echo_records(fmt, rows, columns=_COLUMNS, table=table)


_COLUMNS = ("seq", "at", "actor", "action", "kind", "key", "patient_id", "reason", "detail")


def _history(pm: pluggy.PluginManager, db_url: str, record: str, fmt: str) -> None:
    """Print every value of the record named ``KIND:KEY``, oldest first."""
    name, sep, key = record.partition(":")
    kinds = {kind.name: kind for kind in KINDS}
    if not sep or not key or name not in kinds:
        raise errors.InvalidValue(
            f"must be KIND:KEY, KIND one of {', '.join(sorted(kinds))}",
            field="--history",
            value=record,
        )
    if fmt == "fhir":
        raise errors.InvalidValue(
            "a record's history is printed as table, json or csv", field="--format", value=fmt
        )
    kind = kinds[name]
    parts = tuple(key.split("|")) if len(kind.key) > 1 else key
    with (
        CareProgram.open(db_url, actor=env_actor(), plugin_manager=pm, create=False) as program,
        program.transaction(f"record history: {name}") as tx,
    ):
        values = tx.history(kind.cls, parts)
    rows = [
        {"n": n, "record": json.dumps(to_primitive(value), sort_keys=True, default=_text)}
        for n, value in enumerate(values, start=1)
    ]
    if fmt == "json":
        click.echo(json.dumps([json.loads(str(r["record"])) for r in rows], indent=2))
        return
    echo_records(fmt, rows, columns=("n", "record"))


def _text(value: object) -> object:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)
