"""``carecore meds``: a patient's active medications and their reconciliation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_common import day_option, echo_records, format_option
from carecore.medications import Choice
from carecore.model import Decision, MedicationStatement, Patient
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pendulum
    import pluggy


def statement_row(s: MedicationStatement, patient: str = "") -> dict[str, Any]:
    """One medication as the JSON of ``carecore meds list`` (*patient*: the display name)."""
    return {
        "patient_id": s.patient_id,
        "patient": patient,
        "id": s.id,
        "rxnorm": s.rxnorm,
        "text": s.text,
        "dose": s.dose,
        "route": s.route,
        "frequency": s.frequency,
        "start": None if s.start is None else s.start.isoformat(),
        "source": s.source.value,
        "prescriber": s.prescriber_id,
    }


@click.group()
def meds() -> None:
    """Medications: a patient's active list, and reconciling lists after a discharge."""


_DB = click.option("--db", "db_url", required=True, metavar="URL", help="The store.")
_ON = day_option("--on", "day", help="The day (default: today).")
_FORMAT = format_option()


@meds.command("list")
@click.argument("patient", required=False)
@_DB
@_ON
@_FORMAT
@click.pass_context
def list_(
    ctx: click.Context, patient: str | None, db_url: str, day: pendulum.Date | None, fmt: str
) -> None:
    """List PATIENT's active medications as of a day (the latest reconciled list, and what came after).

    Without PATIENT, every living patient's, one patient after another
    (family name first). The day defaults to today where each patient lives.
    """
    from carecore.medications import _store  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    lists: list[tuple[Patient, list[MedicationStatement]]] = []
    with (
        CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False) as program,
        program.transaction("medication list") as tx,
    ):
        people = [tx.get(Patient, patient)] if patient is not None else tx.all(Patient)
        for person in sorted(people, key=lambda p: (p.display_name, p.id)):
            on = day or program.clock.now().in_timezone(person.time_zone).date()
            dead = person.date_of_death is not None and person.date_of_death <= on
            if patient is None and dead:
                continue
            lists.append((person, _store.current_list(tx, person.id, on)))
    rows = [statement_row(s, person.display_name) for person, listed in lists for s in listed]

    def table() -> None:
        if not lists:
            click.echo("no patients")
        for person, listed in lists:
            who = person.id if patient is not None else f"{person.display_name} ({person.id})"
            if not listed:
                click.echo(f"{who}: no active medications")
                continue
            click.echo(f"{who}: {len(listed)} active medication(s)")
            for r in (statement_row(s) for s in listed):
                detail = ", ".join(x for x in (r["dose"], r["route"], r["frequency"]) if x)
                code = f"RxNorm {r['rxnorm']}" if r["rxnorm"] else "no RxNorm"
                click.echo(
                    f"  {r['text']}{' (' + detail + ')' if detail else ''}  [{code}; {r['source']}"
                    f"{'; since ' + r['start'] if r['start'] else ''}]"
                )

    echo_records(fmt, rows, columns=_STATEMENT_COLUMNS, table=table)


_STATEMENT_COLUMNS = (
    "patient_id",
    "patient",
    "id",
    "rxnorm",
    "text",
    "dose",
    "route",
    "frequency",
    "start",
    "source",
    "prescriber",
)


def _decisions(decide: tuple[str, ...]) -> dict[str, Decision | Choice]:
    out: dict[str, Decision | Choice] = {}
    for item in decide:
        name, sep, what = item.partition("=")
        if not sep or not name or not what:
            raise errors.InvalidValue("must be MEDICATION=DECISION", field="--decide", value=item)
        decision, _, dose = what.partition(":")
        try:
            chosen = Decision(decision)
        except ValueError:
            allowed = ", ".join(d.value for d in Decision)
            raise errors.InvalidValue(
                f"the decision must be one of {allowed} (change:NEW DOSE)",
                field="--decide",
                value=item,
            ) from None
        if chosen is Decision.CHANGE:
            if not dose:
                raise errors.InvalidValue(
                    "a change needs the new dose: change:DOSE", field="--decide", value=item
                )
            out[name] = Choice(decision=chosen, dose=dose)
        else:
            out[name] = chosen
    return out


def _named(person: Patient) -> str:
    """The patient as a reconciliation's heading: the display name, the id in brackets."""
    return f"{person.display_name} [{person.id}]"


@meds.command("reconcile")
@click.argument("patient")
@_DB
@click.option(
    "--by", default=None, metavar="ID", help="Who reconciles (a practitioner id); required to save."
)
@_ON
@click.option(
    "--episode", default=None, metavar="ID", help="The transition episode (default: the open one)."
)
@click.option(
    "--decide",
    multiple=True,
    metavar="MEDICATION=DECISION",
    help=(
        "A decision for one medication (its RxNorm code, key or statement id): continue, stop, "
        "ask_prescriber or change:NEW DOSE. Repeat for each."
    ),
)
@click.option(
    "--rest",
    type=click.Choice(["continue", "stop", "ask_prescriber"]),
    default=None,
    help="The decision for every medication not named by --decide (recorded for each).",
)
@_FORMAT
@click.pass_context
def reconcile_(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    patient: str,
    db_url: str,
    by: str | None,
    day: pendulum.Date | None,
    episode: str | None,
    decide: tuple[str, ...],
    rest: str | None,
    fmt: str,
) -> None:
    """Reconcile PATIENT's medication lists (practice, discharge summary, patient, pharmacy).

    Without --by, shows each medication with its discrepancies and saves
    nothing. With --by, every medication needs a decision (--decide, --rest);
    the record is saved and meets the open episode's reconciliation deadline.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    on = day
    decisions = _decisions(decide)
    try:
        with CareProgram.open(
            db_url, actor=by or current_actor(), plugin_manager=pm, create=False
        ) as program:
            if by is None:
                from carecore.medications import _store  # noqa: PLC0415

                with program.transaction("medication reconciliation preview") as tx:
                    today = on or program.clock.now().date()
                    findings = _store.preview(tx, patient, today, episode)
                    who = _named(tx.get(Patient, patient))
                rows = [
                    {
                        "key": f.key,
                        "text": f.text,
                        "sources": sorted(s.value for s in f.sources),
                        "discrepancies": sorted(d.value for d in f.discrepancies),
                    }
                    for f in findings
                ]

                def preview_table() -> None:
                    click.echo(
                        f"{who}: {len(rows)} medication(s) to reconcile "
                        "(nothing saved; give --by to save)"
                    )
                    # Drug names whole, however long: the column is as wide as the longest.
                    wide = max((len(r["text"]) for r in rows), default=0)
                    for r in rows:
                        click.echo(
                            f"  {r['key']:<24} {r['text']:<{wide}} on {','.join(r['sources'])}: "
                            f"{', '.join(r['discrepancies']) or 'no discrepancy'}"
                        )

                echo_records(
                    fmt,
                    rows,
                    columns=("key", "text", "sources", "discrepancies"),
                    table=preview_table,
                )
                return
            record = program.reconcile_medications(
                patient,
                by=by,
                decisions=decisions,
                default=None if rest is None else Decision(rest),
                on=on,
                episode_id=episode,
            )
            with program.transaction("medication reconciliation patient") as tx:
                who = _named(tx.get(Patient, record.patient_id))
    except errors.AccessDenied as exc:
        if by is not None and exc.actor == by:
            # Who reconciles acts on the patient's records: a named actor needs the care team.
            click.echo(
                f"{by} reconciles, so access control asks that they be on the patient's care "
                "team (a FHIR CareTeam listing them imports as one)",
                err=True,
            )
        raise
    items = [
        {
            "key": i.key,
            "text": i.text,
            "decision": i.decision.value,
            "discrepancies": sorted(d.value for d in i.discrepancies),
            "statements": list(i.statement_ids),
        }
        for i in record.items
    ]
    data: dict[str, Any] = {
        "reconciliation_id": record.id,
        "patient_id": record.patient_id,
        "on": record.on.isoformat(),
        "by": record.reconciled_by,
        "episode_id": record.episode_id,
        "sources": sorted(s.value for s in record.sources),
        "items": items,
    }

    def table() -> None:
        met = f"; met episode {record.episode_id}'s deadline" if record.episode_id else ""
        click.echo(
            f"{who}: reconciled {len(record.items)} medication(s) on {data['on']} by {by}{met}"
        )
        wide = max((len(item["text"]) for item in items), default=0)
        for item in items:
            found = ", ".join(item["discrepancies"]) or "-"
            click.echo(f"  {item['decision']:<15} {item['text']:<{wide}} {found}")

    # CSV: one row per medication, each carrying the reconciliation it belongs to.
    head = {k: data[k] for k in ("reconciliation_id", "patient_id", "on", "by", "episode_id")}
    echo_records(
        fmt,
        [{**head, **item} for item in items],
        columns=(*head, "key", "text", "decision", "discrepancies", "statements"),
        table=table,
        data=data,
    )


@meds.command("import-fills")
@click.argument("fills", type=click.Path(exists=True, dir_okay=False))
@_DB
@click.pass_context
def import_fills(ctx: click.Context, fills: str, db_url: str) -> None:
    """Load pharmacy fills from a CSV file (for adherence, PDC by drug class).

    The columns are patient_id, filled_on, days_supply, drug_class and drug
    (optionally fill_id and rxnorm). A bad row is refused by line and column,
    and nothing is stored; fills already stored (by id) are skipped.
    """
    from carecore.medications import read_fills_file  # noqa: PLC0415

    pm: pluggy.PluginManager = ctx.obj["pm"]
    rows = read_fills_file(fills)
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        result = program.import_records(rows, reason="pharmacy fills")
    click.echo(f"{result.added} fill(s) added, {result.skipped} already stored")


_ADHERENCE_COLUMNS = (
    "patient_id",
    "patient",
    "drug_class",
    "index_date",
    "days",
    "covered",
    "fills",
    "pdc",
    "adherent",
    "reason",
)


@meds.command("adherence")
@click.argument("patient", required=False)
@_DB
@day_option("--from", "start", help="First day of the measurement period (default: 1 January).")
@day_option("--to", "end", help="Last day of the measurement period (default: today, UTC).")
@_FORMAT
@click.pass_context
def adherence(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    patient: str | None,
    db_url: str,
    start: pendulum.Date | None,
    end: pendulum.Date | None,
    fmt: str,
) -> None:
    """Proportion of days covered (PDC) per patient and drug class, from the stored fills.

    The fills are those imported (FHIR MedicationDispense, meds import-fills).
    A patient is measured for a class with two fills or more on different days
    in the period; under 80% is not adherent. The program report's adherence
    table is made from these same figures.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        last = end or program.clock.now().date()
        first = start or last.start_of("year")
        if last < first:
            raise errors.InvalidValue("is before --from", field="--to", value=last.isoformat())
        found = program.medication_adherence(start=first, end=last, patient_id=patient)
        with program.transaction("medication adherence: names") as tx:
            people = [tx.get(Patient, patient)] if patient is not None else tx.all(Patient)
    names = {p.id: p.display_name for p in people}
    found.sort(key=lambda a: (names.get(a.patient_id, ""), a.patient_id, a.drug_class))
    rows = [
        {
            "patient_id": a.patient_id,
            "patient": names.get(a.patient_id, ""),
            "drug_class": a.drug_class,
            "index_date": None if a.index_date is None else a.index_date.isoformat(),
            "days": a.days,
            "covered": a.covered,
            "fills": a.fills,
            "pdc": None if a.pdc is None else str(a.pdc),
            "adherent": a.adherent,
            "reason": a.reason,
        }
        for a in found
    ]

    def table() -> None:
        click.echo(f"Proportion of days covered, {first} to {last}")
        if not rows:
            click.echo("  no stored fills in the period")
        for a, r in zip(found, rows, strict=True):
            if a.pdc is None:
                verdict = f"not measured: {a.reason}"
            else:
                verdict = (
                    f"{a.percent()} ({a.covered} of {a.days} days from {r['index_date']}), "
                    + ("adherent" if a.adherent else "under 80%")
                )
            click.echo(f"  {r['patient'] or r['patient_id']:<28} {r['drug_class']:<24} {verdict}")

    echo_records(fmt, rows, columns=_ADHERENCE_COLUMNS, table=table)
