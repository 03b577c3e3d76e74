"""``carecore worklist``: each care manager's outreach work and caseload."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from carecore import errors
from carecore._cli_actor import current_actor
from carecore._cli_billing import rule_set_options, significant_risk_option, switched_rules
from carecore._cli_common import day_option, echo_records, format_option, time_zone_option
from carecore.model import CarePlan, CareTeam, Enrollment, Patient, Practitioner, ServiceFamily
from carecore.registry import PROGRAMS, WorklistRow, worklist_rows
from carecore.service import CareProgram

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pendulum
    import pluggy

    from carecore.outreach import Worklist


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
@day_option("--on", "day", help="The day to plan for (default: today).")
@click.option("--gaps", "with_gaps", is_flag=True, help="Add each patient's open care gaps.")
@click.option(
    "--adherence",
    "with_adherence",
    is_flag=True,
    help="Add drug classes under 80% PDC this calendar year (from pharmacy fills).",
)
@click.option(
    "--family",
    "families",
    multiple=True,
    type=click.Choice([f.value for f in PROGRAMS], case_sensitive=False),
    help=(
        "Offer enrollment in this program, and ask for the attestations it needs "
        "(repeatable; default: the programs the store has enrollments in, none in a "
        "new store)."
    ),
)
@click.option(
    "--acknowledge",
    "acknowledge",
    default=None,
    metavar="ID",
    help=(
        "First acknowledge the urgent findings of this assessment result or home reading "
        "as the acting user (audited); they leave the worklist."
    ),
)
@format_option()
@rule_set_options
@significant_risk_option
@click.pass_context
def worklist(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    owner: str | None,
    time_zone: str | None,
    day: pendulum.Date | None,
    with_gaps: bool,  # noqa: FBT001 - a click flag
    with_adherence: bool,  # noqa: FBT001 - a click flag
    families: tuple[str, ...],
    acknowledge: str | None,
    fmt: str,
    payer: str,
    rule_set_id: str | None,
    significant_risk_from: str | None,
) -> None:
    """List each care manager's work in priority order: urgent, overdue, due today, minutes, the rest.

    The same builder as the report and the API: TCM contacts and visits,
    monthly check-ins, outreach, eligible patients not enrolled,
    attestations, the billing engine's minutes to the next code, tasks and
    goals (and care gaps and adherence when asked), each with the patient's
    name and what to do. Eligibility and the minutes to the next code are
    decided under the rule set the month close of the day's year uses:
    --rule-set, else --payer's (CMS by default), with --significant-risk-from
    (or the settings' significant_risk_from).

    Enrollment is offered in the programs the store has enrollments in, or
    those given with --family: a new store, which has none, lists the
    patients eligible for CCM, and those needing an attestation, with
    '--family CCM'.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    on = day
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        zone = time_zone or program.practice_time_zone() or "UTC"
        today = on or program.clock.now().in_timezone(zone).date()
        rules = switched_rules(pm, today.year, significant_risk_from, payer, rule_set_id)
        if acknowledge is not None:
            done = program.acknowledge_finding(acknowledge)
            click.echo(f"acknowledged {done.id} as {done.acknowledged_by}", err=True)
        lists = program.worklists(
            time_zone=zone,
            on=today,
            gaps=with_gaps,
            adherence=with_adherence,
            families=[ServiceFamily(f.upper()) for f in families] if families else None,
            rules=rules,
        )
        if owner is not None:
            _check_owner(program, owner, lists)
        with program.transaction("worklist names") as tx:
            patients = tx.all(Patient)
            plans = tx.all(CarePlan)
            staff = {p.id: p.name for p in tx.all(Practitioner)}
            offered = bool(families) or any(e.family in PROGRAMS for e in tx.all(Enrollment))
    if owner is not None:
        lists = {k: v for k, v in lists.items() if k == owner}
    rows = worklist_rows(lists.values(), today=today, patients=patients, care_plans=plans)
    echo_records(
        fmt,
        [{"owner": r.owner, **_row_dict(r)} for r in rows],
        columns=("owner", *_CSV_FIELDS),
        table=lambda: _table(lists, rows, staff, hint=None if offered else _NO_PROGRAM_HINT),
        data=_json(lists, rows),
    )


def _row_dict(row: WorklistRow) -> dict[str, object]:
    return {
        "priority": row.band,
        "kind": row.kind,
        "patient_id": row.patient_id,
        "patient_name": row.patient_name,
        "due": row.due.isoformat(),
        "overdue": row.overdue,
        "overdue_since": None if row.overdue_since is None else row.overdue_since.isoformat(),
        "action": row.action,
        "detail": row.detail,
        "closed_reason": row.closed_reason,
    }


def _json(lists: Mapping[str, Worklist], rows: tuple[WorklistRow, ...]) -> dict[str, object]:
    return {
        name: {
            "caseload": wl.caseload,
            "items": [_row_dict(r) for r in rows if r.owner == name and r.band != "closed"],
            "closed": [_row_dict(r) for r in rows if r.owner == name and r.band == "closed"],
        }
        for name, wl in lists.items()
    }


_CSV_FIELDS = (
    "priority",
    "kind",
    "patient_id",
    "patient_name",
    "due",
    "overdue",
    "overdue_since",
    "action",
    "detail",
    "closed_reason",
)


#: The table's last line when no program is offered: a new store has no enrollments.
_NO_PROGRAM_HINT = (
    "note: enrollment is offered in the programs the store has enrollments in, and it has "
    "no enrollments: give --family CCM (or "
    + ", ".join(f.value for f in PROGRAMS if f is not ServiceFamily.CCM)
    + ") to list the patients eligible for a program and those needing an attestation"
)


def _owner(name: str, staff: Mapping[str, str]) -> str:
    """The owner as the care team reads it: the practitioner's name and id, else the id."""
    return f"{staff[name]} ({name})" if name in staff else name


def _table(
    lists: Mapping[str, Worklist],
    rows: tuple[WorklistRow, ...],
    staff: Mapping[str, str],
    *,
    hint: str | None,
) -> None:
    _lists(lists, rows, staff)
    if hint is not None:
        click.echo(hint)


def _lists(
    lists: Mapping[str, Worklist], rows: tuple[WorklistRow, ...], staff: Mapping[str, str]
) -> None:
    if not lists:
        click.echo("nothing to do")
        return
    for name, wl in lists.items():
        mine = [r for r in rows if r.owner == name and r.band != "closed"]
        done = [r for r in rows if r.owner == name and r.band == "closed"]
        # The patient's id beside the name: two patients may share a name. Both columns
        # are as wide as the list's longest entry, so that neither is cut.
        names = max([24, *(len(r.patient_name) for r in (*mine, *done))])
        ids = max([0, *(len(r.patient_id) for r in (*mine, *done))])
        click.echo(f"{_owner(name, staff)}: caseload {wl.caseload}, {len(mine)} item(s)")
        for r in mine:
            when = f"OVERDUE since {r.overdue_since}" if r.overdue else f"due {r.due}"
            if r.band == "urgent":
                when = f"URGENT since {r.due}"
            who = f"{r.patient_name:<{names}} {r.patient_id:<{ids}}"
            click.echo(f"  {when:<27} {who} {r.action}")
        for r in done:
            who = f"{r.patient_name:<{names}} {r.patient_id:<{ids}}"
            click.echo(f"  {'closed':<27} {who} {r.action}: {r.closed_reason}")
