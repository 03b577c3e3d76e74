"""carecore's own commands (added by the built-in ``carecore_cli`` plugin)."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import click

from carecore import errors, icd
from carecore.clock import SystemClock
from carecore.model import ServicePeriod
from carecore.plugins import Hooks, Provided, plugin_table

if TYPE_CHECKING:
    import pluggy

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

#: Where ``carecore demo`` keeps its data unless ``--db`` says otherwise.
DEMO_DB = "sqlite:///carecore-demo.db"


def time_zone_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: a ``--time-zone`` value must be an IANA time zone name."""
    from carecore.model._validators import check_time_zone  # noqa: PLC0415

    return (
        None
        if value is None
        else check_time_zone(value, f"--{(param.name or 'time_zone').replace('_', '-')}")
    )


def _period(month: str | None) -> ServicePeriod:
    from carecore._demo import PRACTICE_TZ  # noqa: PLC0415

    if month is None:
        today = SystemClock().today(PRACTICE_TZ)
        return ServicePeriod.month(today.year, today.month)
    found = _MONTH.fullmatch(month)
    if not found:
        raise errors.InvalidValue("must be YYYY-MM", field="--month", value=month)
    try:
        return ServicePeriod.month(int(found[1]), int(found[2]))
    except errors.InvalidValue:
        raise errors.InvalidValue("is not a real month", field="--month", value=month) from None


@click.command()
@click.option(
    "--patients",
    default=12,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="How many patients.",
)
@click.option(
    "--seed",
    default=7,
    show_default=True,
    type=int,
    help="Seed for the generated practice.",
)
@click.option(
    "--month",
    default=None,
    metavar="YYYY-MM",
    help="Service month (default: this month).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--db",
    "db_url",
    default=DEMO_DB,
    show_default=True,
    metavar="URL",
    help="Store to use: memory://, sqlite:///path or postgresql://... (created if empty).",
)
@click.pass_context
def demo(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context, patients: int, seed: int, month: str | None, fmt: str, db_url: str
) -> None:
    """Build a small CCM program, store it, and summarise one service month.

    The practice, its patients (with real ICD-10-CM conditions), consents,
    enrollments, care teams, a month of logged minutes and a hospital
    discharge are carecore model values. They are written to the store
    (records already there are kept, so a re-run adds nothing twice), read
    back, summarised and billed; the claim lines and denials are stored too,
    replacing an earlier close of the same month.
    """
    from carecore._demo import bill, build_demo, load, save, summarize  # noqa: PLC0415
    from carecore.service import CareProgram  # noqa: PLC0415

    period = _period(month)
    generated = build_demo(patients=patients, seed=seed, period=period)
    with CareProgram.open(db_url, actor="carecore-demo", plugin_manager=ctx.obj["pm"]) as program:
        added, skipped = save(program, generated)
        practice = load(program, generated.program.id)
        rows = summarize(practice, period)
        results = bill(practice, period)
        for pid, result in results:
            program.record_billing(
                pid, period, result.claim_lines, result.denials, reason="carecore demo: month close"
            )
        if fmt == "json":
            click.echo(json.dumps([_row_json(r) for r in rows], indent=2))
            return
        _print_summary(practice, period, rows, results)
        where = f"store: {program.store.url}: {added} records added, {skipped} already there"
        if program.store.url.startswith("memory:"):
            click.echo(f"{where} (kept in memory until this command ends)")
        else:
            click.echo(
                f"{where}; claim lines and denials saved (check: carecore db check {program.store.url})"
            )


def _print_summary(
    practice: Any, period: ServicePeriod, rows: list[Any], results: list[Any]
) -> None:
    program = practice.program
    click.echo(
        f"carecore demo: {program.name} ({program.family.value}), "
        f"service month {period} ({program.time_zone})"
    )
    click.echo(
        f"{len(practice.patients)} patients, {len(practice.conditions)} conditions "
        f"coded in ICD-10-CM ({icd.release()}), {len(practice.time_entries)} time entries, "
        f"{len(practice.adt_events)} discharge"
    )
    header = f"{'patient':<8} {'name':<16} {'chronic':>7} {'eligible':>8} {'enrolled':>8} {'staff':>6} {'pract.':>6} {'non-cl.':>7}"
    click.echo("")
    click.echo(header)
    click.echo("-" * len(header))
    for r in rows:
        click.echo(
            f"{r.patient_id:<8} {r.name[:16]:<16} {r.chronic_conditions:>7} "
            f"{'yes' if r.eligible else 'no':>8} {'yes' if r.enrolled else 'no':>8} "
            f"{r.staff_minutes:>6} {r.practitioner_minutes:>6} {r.non_clinical_minutes:>7}"
        )
    eligible = sum(r.eligible for r in rows)
    enrolled = sum(r.enrolled for r in rows)
    reached = sum(r.enrolled and r.countable_minutes >= 20 for r in rows)  # noqa: PLR2004
    click.echo("")
    click.echo(f"eligible (2+ chronic conditions): {eligible}; enrolled with consent: {enrolled}")
    click.echo(f"enrolled patients with 20+ countable minutes this month: {reached} of {enrolled}")
    click.echo(
        "minutes: "
        f"clinical staff {sum(r.staff_minutes for r in rows)}, "
        f"practitioner {sum(r.practitioner_minutes for r in rows)}, "
        f"non-clinical (never counted) {sum(r.non_clinical_minutes for r in rows)}"
    )
    _print_billing(results, period)
    for event in practice.adt_events:
        click.echo(
            f"discharge: {event.patient_id} from {event.facility} on "
            f"{event.discharge_date(program.time_zone)} "
            f"({event.from_setting.value if event.from_setting else '?'} -> "
            f"{event.to_setting.value if event.to_setting else '?'})"
        )


def _print_billing(results: list[Any], period: ServicePeriod) -> None:
    from collections import Counter  # noqa: PLC0415
    from decimal import Decimal  # noqa: PLC0415

    if not results:
        click.echo(f"billing: no CMS rule set for {period.start.year} (carecore knows 2024-2026)")
        return
    units: Counter[str] = Counter()
    revenue = Decimal(0)
    for _pid, result in results:
        for line in result.claim_lines:
            units[line.code] += line.units
            revenue += line.amount or Decimal(0)
    billed = sum(1 for _pid, result in results if result.claim_lines)
    codes = ", ".join(f"{code} x{count}" for code, count in sorted(units.items())) or "nothing"
    click.echo(
        f"billing ({results[0][1].rule_set}): {codes} for {billed} of {len(results)} enrolled patients; "
        f"about ${revenue} (approximate national amounts)"
    )
    for pid, result in results:
        # The most useful hint first: how many minutes reach the next code.
        ranked = sorted(result.hints, key=lambda h: h.minutes_needed is None)
        for hint in ranked[:1]:
            click.echo(f"  {pid}: {hint.message}")


def _row_json(row: Any) -> dict[str, Any]:
    return {
        "patient_id": row.patient_id,
        "chronic_conditions": row.chronic_conditions,
        "eligible": row.eligible,
        "enrolled": row.enrolled,
        "staff_minutes": row.staff_minutes,
        "practitioner_minutes": row.practitioner_minutes,
        "non_clinical_minutes": row.non_clinical_minutes,
    }


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
@click.pass_context
def plugins(ctx: click.Context, fmt: str) -> None:
    """List the registered plugins, their distributions and the hooks they implement."""
    pm: pluggy.PluginManager = ctx.obj["pm"]
    rows = plugin_table(pm)
    hooks = Hooks(pm)
    registries: dict[str, Provided[Any]] = {
        "channels": hooks.channels(),
        "rule_sets": hooks.rule_sets(),
        "instruments": hooks.instruments(),
        "ehr_sources": hooks.ehr_sources(),
    }
    provided = {kind: {k: items.provider(k) for k in items} for kind, items in registries.items()}
    if fmt == "json":
        click.echo(json.dumps({"plugins": rows, "provided": provided}, indent=2))
        return
    for row in rows:
        origin = "built-in" if row["builtin"] else f"{row['distribution']} {row['version']}"
        click.echo(f"{row['name']}  ({origin})")
        for hook in row["hooks"]:
            click.echo(f"    {hook}")
    for kind, items in provided.items():
        listing = ", ".join(f"{k} [{v}]" for k, v in sorted(items.items())) or "none"
        click.echo(f"{kind}: {listing}")
