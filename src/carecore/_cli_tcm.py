"""``carecore tcm``: transition-of-care episodes and their deadlines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import pendulum

from carecore import errors, transitions
from carecore._cli_actor import current_actor
from carecore._cli_common import day_option, echo_records, format_option
from carecore.model import AdtEvent, EpisodeStatus, Patient, PatientLink, TransitionEpisode
from carecore.service import CareProgram

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pluggy

    from carecore.protocols import Transaction


def episode_row(
    ep: TransitionEpisode,
    patient: Patient | None = None,
    discharge: AdtEvent | None = None,
    links: Iterable[PatientLink] = (),
) -> dict[str, Any]:
    """One episode as the JSON of ``carecore tcm list``.

    ``discharge_date`` is the discharge's local date, the day the deadlines
    count from (kept with the episode: a store may give the instant back in
    UTC, where 23:30 in Chicago is the next day).

    ``patient_name`` is the registered patient's display name (None when the
    feed announced someone not registered); ``identifiers`` are those the
    hospitals sent (system, the assigning authority, and value): see
    :func:`_sent_identifiers`;
    ``facility`` and ``visit_number`` are those of the discharge message.
    """

    def day(value: pendulum.Date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "episode_id": ep.id,
        "patient_id": ep.patient_id,
        "patient_name": None if patient is None else patient.display_name,
        "identifiers": [
            {"system": system, "value": value}
            for system, value in _sent_identifiers(patient, discharge, links)
        ],
        "facility": None if discharge is None else discharge.facility,
        "visit_number": None if discharge is None else discharge.visit_number,
        "discharge_date": ep.discharge_date.isoformat(),
        "from_setting": ep.from_setting.value,
        "to_setting": None if ep.to_setting is None else ep.to_setting.value,
        "qualifies": ep.qualifies,
        "contact_due": day(ep.contact_due),
        "contact_made_on": day(ep.contact_made_on),
        "visit_due_7": day(ep.visit_due_7),
        "visit_due_14": day(ep.visit_due),
        "visit_on": day(ep.visit_on),
        "med_rec_due": day(ep.med_rec_due),
        "med_rec_on": day(ep.med_rec_on),
        "period_end": day(ep.period_end),
        "status": ep.status.value,
        "close_reason": ep.close_reason,
        "disposition_unknown": ep.disposition_unknown,
        "readmitted": ep.readmitted,
    }


#: Identifier systems of personal ids (a US SSN, a passport, a driver's licence), never
#: listed with an episode: the FHIR and HL7 v2 spellings of the SSN, the US national
#: id OIDs (2.16.840.1.113883.4.*: 4.1 the SSN, 4.3.* licences, 4.330.* passports).
_PERSONAL_SYSTEMS = frozenset({"http://hl7.org/fhir/sid/us-ssn", "SSA", "USSSA", "SSN"})
_PERSONAL_OID = "urn:oid:2.16.840.1.113883.4."
_PERSONAL_WORDS = ("passport", "driver", "us-ssn")


def _personal(system: str) -> bool:
    """Whether *system* names a personal id (SSN, passport, licence), not a record number."""
    lowered = system.lower()
    return (
        system.upper() in _PERSONAL_SYSTEMS
        or system in _PERSONAL_SYSTEMS
        or system.startswith(_PERSONAL_OID)
        or any(word in lowered for word in _PERSONAL_WORDS)
    )


def _sent_identifiers(
    patient: Patient | None, discharge: AdtEvent | None, links: Iterable[PatientLink]
) -> list[tuple[str, str]]:
    """The identifiers relevant to an episode, as (system, value), each once.

    Those the hospitals' messages carried (*links*, by assigning authority)
    and the patient's record numbers at the discharging facility; when there
    are none, the patient record's identifiers. Never a personal id
    (:func:`_personal`: an SSN, a passport, a licence), whoever sent it.
    """
    facility = None if discharge is None else discharge.facility
    record = patient.identifiers if patient is not None else ()
    sent = [
        *((link.system, link.value) for link in links),
        *((i.system, i.value) for i in record if facility is not None and i.system == facility),
    ]
    if not sent:
        sent = [(i.system, i.value) for i in record]
    return [(system, value) for system, value in dict.fromkeys(sent) if not _personal(system)]


def _today(
    program: CareProgram,
    ep: TransitionEpisode,
    as_of: pendulum.Date | None = None,
    time_zone: str | None = None,
) -> pendulum.Date:
    """Today where the episode's deadlines are counted.

    That is *time_zone*, the practice's, when it is stored; else the zone
    the discharge instant carries.
    """
    if as_of is not None:
        return as_of
    zone = time_zone or ep.discharged_at.timezone
    day: pendulum.Date = program.clock.now().in_timezone(zone if zone is not None else "UTC").date()
    return day


def _expired(
    program: CareProgram,
    tx: Transaction,
    as_of: pendulum.Date | None = None,
    time_zone: str | None = None,
) -> tuple[list[TransitionEpisode], int]:
    """Every stored episode as it stands today (expired ones closed), and how many expired."""
    out, ended = [], 0
    for ep in tx.all(TransitionEpisode):
        now = transitions.expire(ep, on=_today(program, ep, as_of, time_zone))
        ended += now is not ep
        out.append(now)
    return out, ended


def _discharges(tx: Transaction, episodes: list[TransitionEpisode]) -> dict[str, AdtEvent]:
    found: dict[str, AdtEvent] = {}
    for ep in episodes:
        try:
            found[ep.id] = tx.get(AdtEvent, ep.discharge_event_id)
        except errors.NotFound:
            continue
    return found


@click.group()
def tcm() -> None:
    """Transitional care management: discharges being followed and their deadlines."""


@tcm.command("list")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@day_option(
    "--due-before",
    help="Only open episodes with an unmet deadline (contact, visit or med rec) before this day.",
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Every episode: also completed, cancelled, closed and expired ones (with the reason).",
)
@day_option(
    "--as-of",
    "as_of",
    help="The day to list as of (default: today where each discharge was counted).",
)
@format_option()
@click.pass_context
def list_(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    due_before: pendulum.Date | None,
    show_all: bool,  # noqa: FBT001 - a click flag
    as_of: pendulum.Date | None,
    fmt: str,
) -> None:
    """List the actionable transition episodes (open, period not over), soonest deadline first.

    An open episode whose 30-day period has ended is shown as it stands:
    closed, with the reason ('carecore tcm expire' stores that). Each
    episode names the patient and the identifiers the hospital sent.
    """
    cutoff, day = due_before, as_of
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        zone = program.practice_time_zone()
        with program.transaction("tcm worklist") as tx:
            episodes, _ = _expired(program, tx, day, zone)
            patients = {p.id: p for p in tx.all(Patient)}
            links: dict[str, list[PatientLink]] = {}
            for link in tx.all(PatientLink):
                links.setdefault(link.patient_id, []).append(link)
            discharges = _discharges(tx, episodes)
        now = program.clock.now()
        today = day or (now.in_timezone(zone) if zone else now).date()
    if not show_all and cutoff is None:
        episodes = [e for e in episodes if e.status is EpisodeStatus.OPEN]
    if cutoff is not None:
        episodes = [
            e
            for e in episodes
            if e.status is EpisodeStatus.OPEN and (_next_due(e, today) or cutoff) < cutoff
        ]
    episodes.sort(key=lambda e: (_next_due(e, today) or pendulum.Date.max, e.id))
    rows = [
        episode_row(
            e, patients.get(e.patient_id), discharges.get(e.id), links.get(e.patient_id, ())
        )
        for e in episodes
    ]

    def table() -> None:
        if not rows:
            click.echo("no episodes")
            return
        shown = [_shown(r) for r in rows]
        # Names and identifiers are shown whole (a cut id names no one): each column is as
        # wide as its longest entry, one identifier a line under the first.
        names = max([24, *(len(name) for name, _ in shown)])
        ids = max([24, *(len(i) for _, lines in shown for i in lines)])
        settings = max([16, *(len(r["from_setting"]) for r in rows)])
        header = (
            f"{'patient':<{names}} {'identifiers':<{ids}} {'discharged':<10} "
            f"{'from':<{settings}} {'contact by':<10} {'visit by (7/14)':<21} {'med rec':<14} "
            f"{'status':<9} readm."
        )
        click.echo(header)
        click.echo("-" * len(header))
        for r, (name, id_lines) in zip(rows, shown, strict=True):
            visit = f"{r['visit_due_7'] or '-'}/{(r['visit_due_14'] or '-')[5:]}"
            med_rec = (
                f"met {r['med_rec_on']}"
                if r["med_rec_on"]
                else f"by {r['med_rec_due']}"
                if r["med_rec_due"]
                else "-"
            )
            click.echo(
                f"{name:<{names}} {id_lines[0]:<{ids}} {r['discharge_date']:<10} "
                f"{r['from_setting']:<{settings}} {r['contact_due'] or '-':<10} {visit:<21} "
                f"{med_rec:<14} {r['status']:<9} {'yes' if r['readmitted'] else 'no'}"
            )
            for more in id_lines[1:]:
                click.echo(f"{'':<{names}} {more}")
            if r["disposition_unknown"]:
                click.echo(
                    f"{'':<{names}} disposition unknown: the hospital did not say where the "
                    "patient went; confirm it"
                )
            if r["close_reason"] and show_all:
                click.echo(f"{'':<{names}} {r['close_reason']}")

    sheet = [
        {**r, "identifiers": [f"{i['system']}|{i['value']}" for i in r["identifiers"]]}
        for r in rows
    ]
    echo_records(fmt, sheet, columns=_COLUMNS, table=table, data=rows)


_COLUMNS = (
    "episode_id",
    "patient_id",
    "patient_name",
    "identifiers",
    "facility",
    "visit_number",
    "discharge_date",
    "from_setting",
    "to_setting",
    "qualifies",
    "contact_due",
    "contact_made_on",
    "visit_due_7",
    "visit_due_14",
    "visit_on",
    "med_rec_due",
    "med_rec_on",
    "period_end",
    "status",
    "close_reason",
    "disposition_unknown",
    "readmitted",
)


@tcm.command("expire")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to update.")
@click.pass_context
def expire(ctx: click.Context, db_url: str) -> None:
    """Close every open episode whose 30-day period has ended, with the reason, and store it.

    Run it daily (or let 'tcm list' show the same answer without storing it).
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        zone = program.practice_time_zone()
        with program.transaction("tcm episodes expire") as tx:
            stored = {e.id: e for e in tx.all(TransitionEpisode)}
            episodes, ended = _expired(program, tx, time_zone=zone)
            for ep in episodes:
                if ep.version != stored[ep.id].version:
                    tx.replace(ep)
    click.echo(f"{ended} episode(s) expired")


def _shown(row: dict[str, Any]) -> tuple[str, list[str]]:
    """A ``tcm list`` row's patient and identifiers as the table shows them.

    Each identifier is ``value (authority)``. A registered patient with none
    is shown by the carecore id, labelled so; a patient the feed announced
    but who is not registered is named by the hospital's id, and has no
    identifier on file.
    """
    ids = [f"{i['value']} ({_authority(i['system'])})" for i in row["identifiers"]]
    if row["patient_name"] is None:
        return f"{row['patient_id']} (not registered)", ids or ["-"]
    return row["patient_name"], ids or [f"{row['patient_id']} (carecore id)"]


def _authority(system: str) -> str:
    """An identifier's system as the table shows it: ``GENHOSP``, or a URL's last part."""
    return system.rstrip("/").rsplit("/", 1)[-1].removeprefix("urn:oid:") or system


def _next_due(ep: TransitionEpisode, today: pendulum.Date) -> pendulum.Date | None:
    pending = ep.open_deadlines(on=today).values()
    return min(pending) if pending else None
