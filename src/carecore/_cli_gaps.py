"""``carecore gaps``: each patient's due, overdue and closed preventive and chronic care."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from carecore._cli_actor import current_actor
from carecore._cli_common import day_option, echo_records, format_option
from carecore.model import Patient
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pendulum
    import pluggy

    from carecore.gaps import Gap

_COLUMNS = (
    "patient_id",
    "patient",
    "rule_id",
    "title",
    "status",
    "since",
    "closed_on",
    "next_due",
    "closed_by",
    "explanation",
    "source",
)


def gap_row(gap: Gap, name: str) -> dict[str, Any]:
    """One gap as a row of ``carecore gaps`` (JSON and CSV)."""

    def day(value: pendulum.Date | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "patient_id": gap.patient_id,
        "patient": name,
        "rule_id": gap.rule_id,
        "title": gap.title,
        "status": gap.status.value,
        "since": day(gap.since),
        "closed_on": day(gap.closed_on),
        "next_due": day(gap.next_due),
        "closed_by": " ".join(gap.closed_by),
        "explanation": gap.explanation,
        "source": gap.source,
    }


@click.command("gaps")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option("--patient", "patient_id", default=None, metavar="ID", help="Only this patient.")
@day_option("--on", "day", help="The day (default: today).")
@click.option(
    "--all", "show_all", is_flag=True, help="Include closed gaps (with what closed them)."
)
@format_option()
@click.pass_context
def gaps(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    patient_id: str | None,
    day: pendulum.Date | None,
    show_all: bool,  # noqa: FBT001 - a click flag
    fmt: str,
) -> None:
    """List each patient's due and overdue care (screenings, vaccines, diabetes care), with reasons."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        found = program.care_gaps(patient_id=patient_id, on=day)
        with program.transaction("care gaps: names") as tx:
            people = [tx.get(Patient, patient_id)] if patient_id is not None else tx.all(Patient)
    names = {p.id: p.display_name for p in people}
    # Patients by name (family name first), each patient's gaps in rule order.
    shown = sorted(
        (g for g in found if show_all or g.open),
        key=lambda g: (names.get(g.patient_id, ""), g.patient_id),
    )
    rows = [gap_row(g, names.get(g.patient_id, "")) for g in shown]

    def table() -> None:
        current = None
        for r in rows:
            if r["patient_id"] != current:
                current = r["patient_id"]
                click.echo(f"{r['patient']} ({current})")
            when = r["since"] or r["closed_on"] or ""
            click.echo(f"  {r['status']:<8} {when:<10} {r['title']}")
            click.echo(f"           {r['explanation']}")

    if fmt == "table" and not rows:
        click.echo("no open gaps" if not show_all else "no gaps")
        return
    echo_records(fmt, rows, columns=_COLUMNS, table=table)
