"""``carecore registry``: each patient's eligibility per program, with its reasons."""

from __future__ import annotations

import contextlib
import heapq
from typing import TYPE_CHECKING, Any

import attrs
import click

from carecore._cli_actor import current_actor
from carecore._cli_billing import rule_set_options, significant_risk_option, switched_rules
from carecore._cli_common import (
    day_option,
    echo_records,
    executor_options,
    format_option,
    open_executor,
    time_zone_option,
)
from carecore.clock import SystemClock
from carecore.registry import PROGRAMS, registry
from carecore.service import CareProgram

if TYPE_CHECKING:
    import pendulum
    import pluggy

    from carecore.billing import Switches
    from carecore.model import Patient
    from carecore.registry import Eligibility

__all__ = ["attest_command", "eligibility_row", "registry_command", "registry_rows"]

_COLUMNS = (
    "patient_id",
    "name",
    "program",
    "as_of",
    "status",
    "level",
    "conditions",
    "condition_names",
    "reasons",
)


def eligibility_row(verdict: Eligibility, patient: Patient) -> dict[str, Any]:
    """One patient's eligibility for one program as the JSON of ``carecore registry``."""
    return {
        "patient_id": verdict.patient_id,
        "name": patient.display_name,
        "program": verdict.family.value,
        "as_of": verdict.as_of.isoformat(),
        "status": verdict.status,
        "eligible": verdict.eligible,
        "verified": verdict.verified,
        "needs_attestation": verdict.needs_attestation,
        "level": verdict.level,
        "conditions": list(verdict.conditions),
        "condition_names": _named(verdict),
        "criteria": [
            {
                "rule": c.rule,
                "met": c.met,
                "needs": c.needs,
                "detail": c.detail,
                "records": list(c.records),
            }
            for c in verdict.criteria
        ],
    }


def _named(verdict: Eligibility) -> list[dict[str, str | None]]:
    """The qualifying conditions as records: code, code system, and the name in words.

    The name is the words of :attr:`~carecore.registry.Eligibility.condition_names`
    without the bracketed code (the record beside it says the code); null when
    nothing names the code. A verdict made without names or systems gives nulls.
    """
    names = verdict.condition_names or (None,) * len(verdict.conditions)
    systems = verdict.condition_systems or (None,) * len(verdict.conditions)
    return [
        {
            "code": code,
            "system": None if system is None else system.value,
            "name": None if name is None or name == code else name.removesuffix(f" ({code})"),
        }
        for code, name, system in zip(verdict.conditions, names, systems, strict=True)
    ]


def _csv_names(row: dict[str, Any]) -> list[str]:
    """The conditions in words with the code in brackets, as the table and worklist name them."""
    return [
        c["code"] if c["name"] is None else f"{c['name']} ({c['code']})"
        for c in row["condition_names"]
    ]


def _reasons(row: dict[str, Any]) -> str:
    marks = {True: "met", False: "not met", None: "unknown"}
    return "; ".join(
        f"[{'needs ' + c['needs'] if c['met'] is False and c['needs'] else marks[c['met']]}] "
        f"{c['rule']}: {c['detail']}"
        for c in row["criteria"]
    )


def _partition_rows(
    program: CareProgram,
    ids: list[str],
    as_of: pendulum.Date,
    families: tuple[Any, ...],
    switches: Switches | None = None,
) -> list[dict[str, Any]]:
    """The registry's rows of one partition's patients (one transaction, one query per kind)."""
    from carecore.model import Condition, Coverage, Patient  # noqa: PLC0415

    with program.transaction("carecore registry") as tx:
        patients = tx.find_many(Patient, patient_ids=ids)
        conditions = tx.find_many(Condition, patient_ids=ids)
        coverages = tx.find_many(Coverage, patient_ids=ids)
    verdicts = registry(
        patients,
        as_of=as_of,
        conditions=conditions,
        coverages=coverages,
        families=families,
        switches=switches,
    )
    people = {p.id: p for p in patients}
    return [eligibility_row(v, people[v.patient_id]) for v in verdicts]


@attrs.define
class _RegistryWorker:
    """A registry worker: its connection to the store, opened on first use."""

    store: str
    actor: Any
    as_of: Any
    families: tuple[Any, ...]
    switches: Any = None
    program: CareProgram | None = None

    def rows(self, ids: list[str]) -> list[dict[str, Any]]:
        if self.program is None:
            self.program = CareProgram.open(self.store, actor=self.actor, create=False)
        return _partition_rows(self.program, ids, self.as_of, self.families, self.switches)

    def close(self) -> None:
        if self.program is not None:
            self.program.close()
            self.program = None


def _worker_rows(state: _RegistryWorker, ids: list[str]) -> list[dict[str, Any]]:
    return state.rows(ids)


def registry_rows(
    program: CareProgram,
    *,
    as_of: pendulum.Date,
    families: tuple[Any, ...],
    partitions: int | None = None,
    executor: Any = None,
    switches: Switches | None = None,
) -> list[dict[str, Any]]:
    """Every stored patient's eligibility rows, read and decided in hash partitions.

    The patients are split by :func:`carecore.executors.partition_of` into
    *partitions* (default: partitions of about
    :data:`carecore.service.PARTITION_SIZE` patients); each partition's
    patients, conditions and coverages are read in one transaction and
    decided by :func:`carecore.registry.registry`. On *executor* each worker
    reads its partitions from the store itself (a store other processes can
    open); the rows are merged in patient-id order, so the answer is the
    same for any partition count and executor. *switches* are the billing
    rule set's (default: ``Switches()``), as :func:`~carecore.registry.registry` takes them.
    """
    from carecore.billing._store_parts import hash_partitions  # noqa: PLC0415
    from carecore.executors import open_pool  # noqa: PLC0415
    from carecore.service import PARTITION_SIZE  # noqa: PLC0415

    with program.transaction("carecore registry") as tx:
        ids = tx.patient_ids()
    count = partitions if partitions is not None else max(1, -(-len(ids) // PARTITION_SIZE))
    parts = [p for p in hash_partitions(ids, count) if p]
    url = getattr(program.store, "url", "")
    if executor is None or not url or url.startswith("memory:"):
        done = [_partition_rows(program, part, as_of, families, switches) for part in parts]
    else:
        with open_pool(
            executor,
            _RegistryWorker,
            store=url,
            actor=program.identity,
            as_of=as_of,
            families=families,
            switches=switches,
        ) as pool:
            pending = [pool.submit(_worker_rows, part) for part in parts]
            done = [p.result() for p in pending]
    return list(heapq.merge(*done, key=lambda row: row["patient_id"]))


@click.command("registry")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to read.")
@click.option(
    "--program",
    "programs",
    multiple=True,
    type=click.Choice([f.value for f in PROGRAMS], case_sensitive=False),
    help="A program to check (repeatable; default: every program).",
)
@day_option(
    "--as-of", "as_of", help="The day eligibility is decided on (default: today in --time-zone)."
)
@click.option(
    "--time-zone",
    default=None,
    callback=time_zone_option,
    help=(
        "The practice's time zone (today is counted in it; default: the one stored with "
        "db set time-zone, else UTC)."
    ),
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["eligible", "needs-attestation", "not-eligible"]),
    help="Only patients with this answer (repeatable; default: every answer).",
)
@format_option()
@executor_options("the registry's partitions of patients are decided")
@rule_set_options
@significant_risk_option
@click.pass_context
def registry_command(  # noqa: PLR0917 - one parameter per click option
    ctx: click.Context,
    db_url: str,
    programs: tuple[str, ...],
    as_of: pendulum.Date | None,
    time_zone: str | None,
    statuses: tuple[str, ...],
    fmt: str,
    executor: str | None,
    scheduler: str | None,
    workers: int | None,
    partitions: int | None,
    payer: str,
    rule_set_id: str | None,
    significant_risk_from: str | None,
) -> None:
    """Each patient's eligibility per program, with the reasons.

    The answer is eligible, needs attestation (the conditions qualify once
    the billing practitioner attests that they place the patient at
    significant risk) or not eligible; every criterion checked is listed. It
    is the decision the program report and the worklists make, and the
    month close's, under the rule set the close of --as-of's year uses:
    --rule-set, else --payer's (CMS by default), with --significant-risk-from
    (or the settings' significant_risk_from).
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    day = as_of
    wanted = [f for f in PROGRAMS if f.value in {p.upper() for p in programs}] or list(PROGRAMS)
    with contextlib.ExitStack() as stack:
        program = stack.enter_context(
            CareProgram.open(db_url, actor=current_actor(), plugin_manager=pm, create=False)
        )
        if day is None:
            day = SystemClock().today(time_zone or program.practice_time_zone() or "UTC")
        rules = switched_rules(pm, day.year, significant_risk_from, payer, rule_set_id)
        runner = open_executor(stack, pm, executor, scheduler, workers)
        every = registry_rows(
            program,
            as_of=day,
            families=tuple(wanted),
            partitions=partitions,
            executor=runner,
            switches=None if rules is None else rules.switches,
        )
    shown = {s.replace("-", " ") for s in statuses}
    rows = [r for r in every if not shown or r["status"] in shown]

    def table() -> None:
        if not rows:
            click.echo(f"no patients on {day}")
            return
        counts = {s: sum(r["status"] == s for r in rows) for s in ("eligible", "needs attestation")}
        for r in rows:
            level = f" at level {r['level']}" if r["level"] is not None and r["eligible"] else ""
            click.echo(f"{r['name']} ({r['patient_id']}): {r['status']} for {r['program']}{level}")
            for c in r["criteria"]:
                mark = {True: "met", False: "not met", None: "unknown"}[c["met"]]
                if c["met"] is False and c["needs"]:
                    mark = f"needs {c['needs']}"
                click.echo(f"  [{mark}] {c['rule']}: {c['detail']}")
        click.echo(
            f"{len(rows)} answer(s) on {day}: {counts['eligible']} eligible, "
            f"{counts['needs attestation']} needing attestation"
        )

    echo_records(
        fmt,
        [{**r, "condition_names": _csv_names(r), "reasons": _reasons(r)} for r in rows],
        columns=_COLUMNS,
        table=table,
        data=rows,
    )


@click.command("attest")
@click.option("--db", "db_url", required=True, metavar="URL", help="The store to update.")
@click.option(
    "--by",
    "by",
    required=True,
    metavar="PRACTITIONER",
    help="The billing practitioner who attests (a stored practitioner's id).",
)
@click.option(
    "--withdraw",
    is_flag=True,
    help="Withdraw the attestation: the conditions no longer count as attested.",
)
@click.argument("condition_ids", nargs=-1, required=True, metavar="CONDITION_ID...")
@click.pass_context
def attest_command(
    ctx: click.Context,
    db_url: str,
    by: str,
    withdraw: bool,  # noqa: FBT001 - a click flag
    condition_ids: tuple[str, ...],
) -> None:
    """Attest that conditions place their patient at significant risk (or withdraw it).

    The clinician's attestation the registry asks for when a patient needs
    attestation: the conditions then count toward CCM and PCM, and the month
    close bills with them. The audit trail names the practitioner.
    """
    pm: pluggy.PluginManager = ctx.obj["pm"]
    with CareProgram.open(
        db_url, actor=current_actor(), plugin_manager=pm, create=False
    ) as program:
        changed = program.attest_conditions(condition_ids, by=by, significant_risk=not withdraw)
    verb = "withdrawn" if withdraw else "attested"
    for condition in changed:
        click.echo(f"{condition.id} ({condition.patient_id}, {condition.coding.code}): {verb}")
