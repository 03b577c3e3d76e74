"""``carecore worklist``: each care manager's outreach work and caseload."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click
import pendulum

from carecore import errors
from carecore._cli_commands import time_zone_option
from carecore.model import CareTeam, Practitioner
from carecore.service import CareProgram

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pluggy


def _check_owner(program: CareProgram, owner: str, lists: Mapping[str, object]) -> None:
    """An owner with no worklist must at least be a practitioner on file, else it is a typo."""
    if owner in lists:
        return
    with program.transaction("worklist owner check") as tx:
        known = {p.id for p in tx.all(Practitioner)}
        known |= {m.practitioner_id for t in tx.all(CareTeam) for m in t.members}
    if owner not in known:
        raise errors.NotFound(
            "no worklist, caseload or practitioner record has this owner",
            field="owner",
            value=owner,
        )


@click.command()
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option("--owner", default=None, help="Only this care manager's list.")
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help=(
        "The practice's time zone (what 'today' is; default: the one stored with "
        "db set time-zone, else UTC)."
    ),
)
@click.option(
    "--on", "day", default=None, metavar="YYYY-MM-DD", help="The day to plan for (default: today)."
)
@click.option("--gaps", "with_gaps", is_flag=True, help="Add each patient's open care gaps.")
@click.option(
    "--adherence",
    "with_adherence",
    is_flag=True,
    help="Add drug classes under 80% PDC this calendar year (from pharmacy fills).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.pass_context
def worklist(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    owner: str | None,
    time_zone: str | None,
    day: str | None,
    with_gaps: bool,  # noqa: FBT001 - a click flag
    with_adherence: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """List each care manager's work (TCM contacts and visits, monthly check-ins, outreach, tasks, goals)."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    on = None
    if day is not None:
        try:
            on = pendulum.Date.fromisoformat(day)
        except ValueError:
            raise errors.InvalidValue(
                "must be a real day as YYYY-MM-DD", field="--on", value=day
            ) from None
    with CareProgram.open(db_url, actor="carecore-cli", plugin_manager=pm, create=False) as program:
        zone = time_zone or program.practice_time_zone() or "UTC"
        lists = program.worklists(time_zone=zone, on=on, gaps=with_gaps, adherence=with_adherence)
        if owner is not None:
            _check_owner(program, owner, lists)
    if owner is not None:
        lists = {k: v for k, v in lists.items() if k == owner}
    if fmt == "json":
        data = {
            name: {
                "caseload": wl.caseload,
                "items": [
                    {
                        "kind": i.kind,
                        "patient_id": i.patient_id,
                        "due": i.due.isoformat(),
                        "detail": i.detail,
                    }
                    for i in wl.items
                ],
            }
            for name, wl in lists.items()
        }
        click.echo(json.dumps(data, indent=2))
        return
    if not lists:
        click.echo("nothing to do")
        return
    for name, wl in lists.items():
        click.echo(f"{name}: caseload {wl.caseload}, {len(wl.items)} item(s)")
        for item in wl.items:
            click.echo(f"  {item.due}  {item.kind:<20} {item.patient_id:<10} {item.detail}")
