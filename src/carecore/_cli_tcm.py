"""``carecore tcm``: transition-of-care episodes and their deadlines."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import click
import pendulum

from carecore import errors
from carecore.model import EpisodeStatus, TransitionEpisode
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pluggy

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def episode_row(ep: TransitionEpisode) -> dict[str, Any]:
    """One episode as the JSON of ``carecore tcm list``."""

    def day(value: pendulum.Date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "episode_id": ep.id,
        "patient_id": ep.patient_id,
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
        "period_end": day(ep.period_end),
        "status": ep.status.value,
        "readmitted": ep.readmitted,
    }


@click.group()
def tcm() -> None:
    """Transitional care management: discharges being followed and their deadlines."""


@tcm.command("list")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option(
    "--due-before",
    metavar="YYYY-MM-DD",
    default=None,
    help="Only open episodes with an unmet deadline (contact, visit or med rec) before this day.",
)
@click.option(
    "--all", "show_all", is_flag=True, help="Include closed, completed and cancelled episodes."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def list_(
    ctx: click.Context,
    db_url: str,
    due_before: str | None,
    show_all: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """List transition episodes, soonest deadline first."""
    cutoff = None
    if due_before is not None:
        if not _DAY.fullmatch(due_before):
            raise errors.InvalidValue("must be YYYY-MM-DD", field="--due-before", value=due_before)
        try:
            cutoff = pendulum.Date.fromisoformat(due_before)
        except ValueError:
            raise errors.InvalidValue(
                "is not a real day", field="--due-before", value=due_before
            ) from None
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with (
        CareProgram.open(db_url, actor="carecore-cli", plugin_manager=pm, create=False) as program,
        program.transaction("tcm worklist") as tx,
    ):
        episodes = tx.all(TransitionEpisode)
        today = program.clock.now().date()
    if not show_all and cutoff is None:
        episodes = [e for e in episodes if e.status is EpisodeStatus.OPEN]
    if cutoff is not None:
        episodes = [
            e
            for e in episodes
            if e.status is EpisodeStatus.OPEN and (_next_due(e, today) or cutoff) < cutoff
        ]
    episodes.sort(key=lambda e: (_next_due(e, today) or pendulum.Date.max, e.id))
    rows = [episode_row(e) for e in episodes]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no episodes")
        return
    header = f"{'patient':<10} {'discharged':<10} {'from':<16} {'contact by':<10} {'visit by (7/14)':<21} {'status':<9} readm."
    click.echo(header)
    click.echo("-" * len(header))
    for r in rows:
        visit = f"{r['visit_due_7'] or '-'}/{(r['visit_due_14'] or '-')[5:]}"
        click.echo(
            f"{r['patient_id']:<10} {r['discharge_date']:<10} {r['from_setting'][:16]:<16} "
            f"{r['contact_due'] or '-':<10} {visit:<21} {r['status']:<9} {'yes' if r['readmitted'] else 'no'}"
        )


def _next_due(ep: TransitionEpisode, today: pendulum.Date) -> pendulum.Date | None:
    pending = ep.open_deadlines(on=today).values()
    return min(pending) if pending else None
