"""The store close in partitions: read in the store's process, built and evaluated in workers.

:func:`carecore.billing.close_store` closes a month over a store this
way:

1. The patients' ids are read and cut into partitions of
   :data:`carecore.service.PARTITION_SIZE` consecutive ids.
2. Each partition is read in its own transaction, one query per kind of
   record (:meth:`~carecore.protocols.Transaction.find_rows`), as rows not
   yet built into records. Care plans with later versions are dated here,
   from their history and the audit log, as the whole-store read dates them.
3. A worker (a forked process, this process with one worker, or any
   :class:`~carecore.executors.Executor`'s worker, Dask's say) builds the
   partition's records, evaluates every patient with
   :func:`carecore.billing.evaluate_records`, and writes the part's
   claims, denials and audit packets through the close's one writer: to a
   part folder on this machine (local and process executors), or as text
   sent back with the part's result (other executors, whose workers may be
   on other machines).
4. The parts are merged in partition order, so the files are those of a
   one-process close, and the month's claim lines and denials are stored in
   one transaction (:meth:`carecore.service.CareProgram.close_month`'s
   replacement rule: an unchanged line or denial is left as it is).

At most two partitions per worker wait to be evaluated, so memory follows
the partition size, not the store. Each partition is read in one
transaction: a patient's records are read together, and a write made
during the close lands wholly before or after a patient's read.
"""

from __future__ import annotations

import collections
import multiprocessing
import shutil
from typing import TYPE_CHECKING, Any

import attrs
import pendulum

from carecore import errors
from carecore.billing._close import (
    CloseWriter,
    PatientMonth,
    PatientRow,
    _plan_versions_as_of,
)
from carecore.billing._encode import AuditEvidence
from carecore.billing._engine import evaluate
from carecore.billing._fast import FastClose
from carecore.billing._month import MonthRecords, evaluate_records
from carecore.billing.facts import Setting, TimeFact
from carecore.billing.rules import RuleSet
from carecore.careplans import PlanVersion
from carecore.executors import Executor, Pending, open_pool
from carecore.model import (
    ApcmAddon,
    CarePlan,
    CareTeam,
    ClaimLine,
    Condition,
    Consent,
    Coverage,
    DeviceReadingDay,
    DeviceSetup,
    Enrollment,
    ExternalClaim,
    FaceToFaceVisit,
    InteractiveContact,
    MdmAssessment,
    Patient,
    Practitioner,
    ProgramElection,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)
from carecore.storage import StoredRows, kind_for

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from carecore.billing._close import CloseSummary
    from carecore.billing._engine import EvaluationResult
    from carecore.billing.facts import BillingFacts
    from carecore.model import Denial
    from carecore.protocols import Transaction
    from carecore.service import CareProgram
    from carecore.storage import Kind

__all__ = ["close_store_parts"]

#: The kinds a month close reads per patient, by their :class:`MonthRecords` field.
READ_KINDS: dict[str, type[Any]] = {
    "patients": Patient,
    "conditions": Condition,
    "consents": Consent,
    "enrollments": Enrollment,
    "coverages": Coverage,
    "care_teams": CareTeam,
    "care_plans": CarePlan,
    "time_entries": TimeEntry,
    "contacts": InteractiveContact,
    "visits": FaceToFaceVisit,
    "device_readings": DeviceReadingDay,
    "episodes": TransitionEpisode,
    "claim_lines": ClaimLine,
    "mdm_assessments": MdmAssessment,
    "device_setups": DeviceSetup,
    "apcm_addons": ApcmAddon,
    "external_claims": ExternalClaim,
    "elections": ProgramElection,
}

#: A store close runs workers from this many partitions.
_PARALLEL_PARTS = 2

Dated = list[tuple["CarePlan | PlanVersion", "pendulum.Date | None"]]


@attrs.frozen
class _Partition:
    """One partition as read: rows per kind, the care plans' versions, and when plans were written."""

    rows: dict[str, StoredRows[Any]]
    plan_versions: StoredRows[CarePlan]
    written: dict[str, list[pendulum.DateTime]]


def read_partition(tx: Transaction, patient_ids: list[str]) -> _Partition:
    """Read one partition's rows (one query per kind) and the audit entries that date revised plans."""
    from carecore.service import _plan_writes  # noqa: PLC0415 - the close's own dating of plans

    rows = {name: tx.find_rows(cls, patient_ids=patient_ids) for name, cls in READ_KINDS.items()}
    versions = tx.find_rows(CarePlan, patient_ids=patient_ids, history=True)
    counts: collections.Counter[str] = collections.Counter()
    owner: dict[str, str] = {}
    for plan_id, patient_id in _ids(versions):
        counts[plan_id] += 1
        owner[plan_id] = patient_id
    wanted = {plan_id: owner[plan_id] for plan_id, n in counts.items() if n > 1}
    written = _plan_writes(tx, wanted, patient_id=None, partition=True)
    return _Partition(rows=rows, plan_versions=versions, written=written)


def _ids(stored: StoredRows[CarePlan]) -> list[tuple[str, str]]:
    """(plan id, patient id) of each stored version, unbuilt."""
    if stored.records is not None:
        return [(p.id, p.patient_id) for p in stored.records]
    names = kind_for(CarePlan).column_names
    at, patient = names.index("id"), names.index("patient_id")
    return [(str(row[at]), str(row[patient])) for row in stored.rows]


Plan = CarePlan | PlanVersion


def _plan_history(
    current: StoredRows[CarePlan], versions: StoredRows[CarePlan]
) -> tuple[list[Plan], dict[str, list[Plan]]]:
    """The partition's plans and each one's stored versions, oldest first, as :func:`carecore.service._plan_spans` reads them.

    A plan at version 1 is its own history; a later one has its history
    table's versions, the row of the current version built once. A plan
    with one stored version needs only its dates, status and whether it was
    CMS-complete, which the store keeps with each version (schema 20): it
    is read as a :class:`~carecore.careplans.PlanVersion`, its content
    never built. A plan with later versions is built whole, as its
    revisions are read from the content; so is a version whose completeness
    the store does not know.
    """
    out: dict[str, list[Plan]] = {}
    if current.records is not None or versions.records is not None:
        plans: list[Plan] = list(current.build())
        revised = {p.id for p in plans if p.version > 1}
        for version in versions.build():
            if version.id in revised:
                out.setdefault(version.id, []).append(version)
    else:
        kind = kind_for(CarePlan)
        at = kind.column_names.index("id")
        stored = collections.Counter(str(row[at]) for row in versions.rows)
        read = _PlanReader(kind)

        def record(row: Sequence[object]) -> Plan:
            light = stored[str(row[at])] <= 1 and row[read.complete] is not None
            return read.version(row) if light else kind.build(row)

        built = {str(row[at]): (row, record(row)) for row in current.rows}
        plans = [p for _row, p in built.values()]
        revised = {p.id for p in plans if p.version > 1}
        for row in versions.rows:
            plan_id = str(row[at])
            if plan_id not in revised:
                continue
            same = built.get(plan_id)
            out.setdefault(plan_id, []).append(
                same[1] if same is not None and tuple(same[0]) == tuple(row) else record(row)
            )
    for plan in plans:
        if plan.version == 1:
            out[plan.id] = [plan]
        elif plan.id not in out:
            raise errors.NotFound("no such CarePlan", field="key", value=plan.id)
    return plans, out


class _PlanReader:
    """Reads a :class:`~carecore.careplans.PlanVersion` from a stored care-plan row."""

    FIELDS = (
        "id",
        "patient_id",
        "version",
        "status",
        "families",
        "created_on",
        "shared_with_patient_on",
        "last_reviewed_on",
        "responsible_id",
    )

    def __init__(self, kind: Kind) -> None:
        names = kind.column_names
        self.complete = names.index("cms_complete")
        self.loads = [
            (name, names.index(name), kind.columns[names.index(name)].load) for name in self.FIELDS
        ]

    def version(self, row: Sequence[object]) -> PlanVersion:
        """The row's version, its content left unread."""
        values: dict[str, Any] = {name: load(row[at]) for name, at, load in self.loads}
        return PlanVersion(complete=bool(row[self.complete]), **values)


@attrs.frozen
class _State:
    """What every worker of a store close knows (its pool initializer's arguments).

    ``fast`` is the worker's fast path, whose cache of reference results
    serves all its partitions.
    """

    month: ServicePeriod
    rules: RuleSet
    staff: tuple[Practitioner, ...]
    setting: Setting
    require_coverage: bool
    fast: FastClose = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: FastClose(self.rules, self.month), takes_self=True),
    )


def _close_part(
    state: _State,
    index: int,
    part: _Partition,
    out: Path | None,
    ship_text: bool = False,  # noqa: FBT001, FBT002
) -> dict[str, Any]:
    """Build one partition's records, evaluate them and write its part of the files.

    With *ship_text*, the part's text comes back in the result (``texts``:
    one :meth:`CloseWriter.render` per patient) instead of a folder.
    """
    from carecore.service import _billing_items, _dated_spans  # noqa: PLC0415

    month = state.month
    # The rows were checked by every validator when they were written, so they are
    # built without running the validators again (a third of the build's time, which
    # is the close's largest share); converters and the records' own checks still run.
    with attrs.validators.disabled():
        built = {name: rows.build() for name, rows in part.rows.items() if name != "care_plans"}
        # The plans dated as the whole-store read dates them (carecore.service._plan_spans).
        plans, stored = _plan_history(part.rows["care_plans"], part.plan_versions)
    zones = {p.id: p.time_zone for p in built["patients"]}
    dated: dict[str, Dated] = {}
    spans = _dated_spans(plans, stored, part.written, zones, dated)
    records = MonthRecords(practitioners=state.staff, care_plans=spans, **built)
    consents: dict[str, list[Consent]] = collections.defaultdict(list)
    evidence_plans: dict[str, list[tuple[tuple[Plan, pendulum.Date | None], ...]]] = (
        collections.defaultdict(list)
    )
    if out is not None or ship_text:
        for consent in records.consents:
            if consent.obtained_on <= month.end:
                consents[consent.patient_id].append(consent)
        for versions in _plan_versions_as_of(dated, month):
            evidence_plans[versions[0][0].patient_id].append(versions)
    items: list[ClaimLine | Denial] = []
    texts: list[tuple[str, list[str], str, str]] = []
    # Time-only months take the fast path (a cached reference result, see
    # carecore.billing._fast); the packet says which path decided each patient.
    decided_fast: set[str] = set()

    def engine(facts: BillingFacts, rules: RuleSet) -> EvaluationResult:
        result = state.fast.evaluate_facts(facts)
        if result is None:
            return evaluate(facts, rules)
        decided_fast.add(facts.patient.id)
        return result

    with CloseWriter(out, month, state.rules, part=True) as writer:
        for facts, result in evaluate_records(
            records,
            month,
            state.rules,
            setting=state.setting,
            require_coverage=state.require_coverage,
            engine=engine,
        ):
            pid = facts.patient.id
            evidence = AuditEvidence(
                consents=consents.get(pid, ()), care_plans=evidence_plans.get(pid, ())
            )
            closed = patient_month(facts, result, month, evidence, fast=pid in decided_fast)
            writer.add(closed)
            if ship_text:
                texts.append(writer.render(closed))
            items += _billing_items(result.patient_id, month, result.claim_lines, result.denials)
        writer.finish()
    return {
        "index": index,
        "state": writer.state(),
        "items": items,
        "patients": len(records.patients),
        "texts": texts,
    }


def patient_month(
    facts: BillingFacts,
    result: EvaluationResult,
    month: ServicePeriod,
    evidence: AuditEvidence,
    *,
    fast: bool = False,
) -> PatientMonth:
    """One patient's close as the writer takes it (the practitioner billed, else the first).

    *fast* says the fast path decided it (the packet's ``evaluated_by``).
    """
    billing = {line.billing_practitioner_id for line in result.claim_lines}
    practitioner = next((p for p in facts.practitioners if p.id in billing), facts.practitioners[0])
    log = [
        (e.date, e.minutes, e.role, e.family, e.credential, e.interactive, e.practitioner)
        for e in facts.events
        if isinstance(e, TimeFact)
    ]
    row = PatientRow(
        line=0, patient=facts.patient, practitioner=practitioner, setting=facts.setting
    )
    return PatientMonth(
        row=row, period=month, result=result, time_log=log, evidence=evidence, fast=fast
    )


def _runs_on(executor: Executor | None, parts: int, workers: int) -> Executor | int:
    """The executor given, else *workers* processes (one, this process, for a single partition)."""
    if executor is not None:
        return executor
    if parts < _PARALLEL_PARTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return workers


def close_store_parts(  # noqa: C901, PLR0917 - close_store's settings; read, submit, collect
    program: CareProgram,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    reason: str,
    on_progress: Callable[[int, int], None] | None,
    setting: Setting,
    require_coverage: bool,  # noqa: FBT001
    workers: int,
    partition_size: int,
    executor: Executor | None = None,
) -> CloseSummary:
    """Close *month* over *program*'s store in partitions (see the module's text).

    The partitions run on *executor* when given (the caller closes it), else
    in *workers* forked processes (this process for one worker, or for fewer
    than two partitions).
    """
    from carecore.service import _partitions  # noqa: PLC0415

    with program.transaction(f"{reason}: read {month}") as tx:
        ids = tx.patient_ids()
        staff = tuple(tx.all(Practitioner))
    parts = _partitions(ids, partition_size)
    # Part folders on this machine's disk; another executor's workers send the text back.
    ship_text = executor is not None and executor.name not in {"local", "process"}
    parts_dir = None if out is None or ship_text else out / ".parts"
    runs_on = _runs_on(executor, len(parts), workers)
    in_flight = 2 * (runs_on if isinstance(runs_on, int) else runs_on.workers)
    items: list[ClaimLine | Denial] = []
    done = 0
    with (
        CloseWriter(out, month, rules) as writer,
        open_pool(
            runs_on,
            _State,
            month=month,
            rules=rules,
            staff=staff,
            setting=setting,
            require_coverage=require_coverage,
        ) as runner,
    ):

        def collect(result: dict[str, Any]) -> None:
            nonlocal done
            folder = None if parts_dir is None else parts_dir / str(result["index"])
            writer.merge(result["state"], folder)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
            if writer.out is not None:
                for text in result["texts"]:
                    writer.write(*text)
            items.extend(result["items"])
            done += result["patients"]
            if on_progress is not None:
                on_progress(done, len(ids))

        pending: collections.deque[Pending[dict[str, Any]]] = collections.deque()
        for index, (_start, part) in enumerate(parts):
            with program.transaction(f"{reason}: read {month}") as tx:
                rows = read_partition(tx, part)
            folder = None if parts_dir is None else parts_dir / str(index)
            pending.append(runner.submit(_close_part, index, rows, folder, ship_text))
            while len(pending) > in_flight:
                collect(pending.popleft().result())
        while pending:
            collect(pending.popleft().result())
        if parts_dir is not None:
            shutil.rmtree(parts_dir, ignore_errors=True)
        program._store_items(month, items, reason)  # noqa: SLF001 - close_month's write
        if on_progress is not None:
            on_progress(done, len(ids))
        return writer.finish()
