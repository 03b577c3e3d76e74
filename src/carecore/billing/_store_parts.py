"""The store close in partitions: read and evaluated in workers, stored back a partition at a time.

:func:`carecore.billing.close_store` closes a month over a store this
way:

1. The patients' ids are read and split into partitions by a stable hash
   of the id (:func:`hash_partitions`, :func:`carecore.executors.partition_of`):
   as many partitions as asked, or as make partitions of about
   :data:`carecore.service.PARTITION_SIZE` patients.
2. A worker (a forked process, this process with one worker, or any
   :class:`~carecore.executors.Executor`'s worker, Dask's say) is sent a
   partition's patient ids and, for a store other processes can open (a
   SQLite file, PostgreSQL), the store's URL: it reads the partition in
   one transaction, one query per kind of record
   (:meth:`~carecore.protocols.Transaction.find_rows`), as rows not yet
   built into records. Care plans with later versions are dated from their
   history and the audit log, as the whole-store read dates them. (For a
   store only this process holds, ``memory://``, this process reads the
   rows and sends them.)
3. The worker builds the partition's records, evaluates every patient with
   :func:`carecore.billing.evaluate_records`, and stores the partition's
   claim lines and denials in one transaction of its own
   (:func:`store_partition`: the month's lines of the partition's patients
   are replaced, so running a partition again never adds a line twice).
   Each patient's text for the files is written to a spool file on this
   machine (local and process executors) or sent back with the result
   (other executors, whose workers may be on other machines).
4. The partitions' text is merged in patient-id order, so the files are
   those of a one-process close for any executor, worker count and
   partition count.

At most two partitions per worker wait to be evaluated, so memory follows
the partition size, not the store. Each partition is read in one
transaction: a patient's records are read together, and a write made
during the close lands wholly before or after a patient's read.
"""

from __future__ import annotations

import collections
import heapq
import json
import multiprocessing
import os
import shutil
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import pendulum

from carecore import errors
from carecore.billing._close import (
    CloseWriter,
    PatientMonth,
    PatientRow,
    _plan_versions_as_of,
    rare_collections,
)
from carecore.billing._encode import AuditEvidence
from carecore.billing._engine import evaluate
from carecore.billing._fast import FastClose
from carecore.billing._month import MonthRecords, evaluate_records
from carecore.billing._unchecked import unchecked_init
from carecore.billing.facts import Setting, TimeFact
from carecore.billing.rules import RuleSet
from carecore.careplans import PlanVersion
from carecore.executors import Executor, Pending, open_pool, partition_of
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
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from carecore.billing._close import CloseSummary
    from carecore.billing._engine import EvaluationResult
    from carecore.billing.facts import BillingFacts
    from carecore.model import Denial
    from carecore.protocols import Transaction
    from carecore.service import CareProgram
    from carecore.storage import Kind

__all__ = ["close_store_parts", "hash_partitions", "store_partition"]

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

#: The page cache (MiB) of a worker's connection to a SQLite store (see SqliteStore.page_cache).
_PAGE_CACHE_MIB = 64

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
        plans: list[Plan] = [*build_stored(current)]
        revised = {p.id for p in plans if p.version > 1}
        for version in build_stored(versions):
            if version.id in revised:
                out.setdefault(version.id, []).append(version)
    else:
        kind = kind_for(CarePlan)
        at = kind.column_names.index("id")
        stored = collections.Counter(str(row[at]) for row in versions.rows)
        read = _PlanReader(kind)
        build = _stored_builder(kind)

        def record(row: Sequence[object]) -> Plan:
            light = stored[str(row[at])] <= 1 and row[read.complete] is not None
            return read.version(row) if light else build(row)

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


T = TypeVar("T")


def build_stored(stored: StoredRows[T]) -> list[T]:
    """The records of rows a close read from its store, built without running their validators again.

    Every stored row passed each validator of its value when it was written,
    so a close builds it as :meth:`~carecore.protocols.StoredRows.build`
    does (each column's load, the record's converters and its
    ``__attrs_post_init__``) but without the attrs validators of the record
    itself, about a third of the build's time. Nothing process-wide is
    switched (``attrs.validators.disabled()`` would also stop the checks
    of values other threads build meanwhile): each kind has an ``__init__``
    of its own made without them (:func:`~carecore.billing._unchecked.unchecked_init`). Values read
    from JSON columns, and kinds with a period in two columns, are built as
    any read builds them. Rows already built (*stored* holds records) are
    returned as they are.

    >>> import pendulum
    >>> from carecore.model import Coding, Condition
    >>> kind = kind_for(Condition)
    >>> row = kind.to_row(Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("I10"),
    ...     onset=pendulum.Date(2024, 1, 5)))
    >>> built = build_stored(StoredRows(Condition, rows=[row]))
    >>> built == [kind.build(row)], type(built[0]) is Condition
    (True, True)

    Not checked again: a row no validator would pass is built as it is
    (a close reads only rows its store wrote), and validation stays on for
    everything else.

    >>> blank = (" ", *row[1:])
    >>> build_stored(StoredRows(Condition, rows=[blank]))[0].id
    ' '
    >>> kind.build(blank)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: id=' ': must not be blank
    """
    if stored.records is not None:
        return list(stored.records)
    build = _stored_builder(kind_for(stored.kind))
    return [build(row) for row in stored.rows]


def _stored_builder(kind: Kind) -> Callable[[Sequence[object]], Any]:
    """Build one row of *kind* as :meth:`Kind.build <carecore.storage.Kind.build>` does, without the record's validators.

    The kind's own builder (:meth:`Kind.builder <carecore.storage.Kind.builder>`)
    with the record's ``__init__`` made without validators
    (:func:`~carecore.billing._unchecked.unchecked_init`) and the days,
    codes and flags of its columns loaded once per distinct stored value; one
    per kind, kept for the process (a close builds hundreds of thousands of rows).
    """
    found = _STORED_BUILDERS.get(kind.cls)
    if found is None:
        found = _STORED_BUILDERS[kind.cls] = kind.builder(
            init=unchecked_init(kind.cls), shared=_MEMO_TYPES
        )
    return found


#: Column types whose loaded values are immutable and few (days, codes, flags): each
#: distinct stored value is loaded once per builder.
_MEMO_TYPES = frozenset({"text", "date", "bool"})


#: Per stored class: how build_stored builds one of its rows.
_STORED_BUILDERS: dict[type[Any], Callable[[Sequence[object]], Any]] = {}


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
    #: The store the workers read their partitions from and write them back to
    #: (None: the partitions' rows are sent, and the lines stored by the caller).
    store: str | None = None
    actor: Any = "system"
    clock: Any = None
    reason: str = "carecore billing close"
    fast: FastClose = attrs.field(
        init=False,
        default=attrs.Factory(lambda self: FastClose(self.rules, self.month), takes_self=True),
    )
    _open: dict[str, Any] = attrs.field(init=False, factory=dict)

    def program(self) -> CareProgram:
        """This worker's connection to the store, opened on first use and kept for its partitions."""
        from carecore.service import CareProgram  # noqa: PLC0415

        if self.store is None:
            raise errors.InvalidValue("the close sends its rows", field="store", value=None)
        found = self._open.get(self.store)
        if found is None:
            found = self._open[self.store] = CareProgram.open(
                self.store, actor=self.actor, clock=self.clock, create=False
            )
            page_cache = getattr(found.store, "page_cache", None)
            if page_cache is not None:  # a SQLite file: its indexes outgrow the default cache
                page_cache(_PAGE_CACHE_MIB)
        return found

    def close(self) -> None:
        """Close the worker's connection (when the close's pool ends)."""
        for program in self._open.values():
            program.close()
        self._open.clear()


def _close_part(  # noqa: C901 - read, build, evaluate, spool, store
    state: _State,
    index: int,
    part: _Partition | list[str],
    out: Path | None,
    ship_text: bool = False,  # noqa: FBT001, FBT002
) -> dict[str, Any]:
    """Build one partition's records, evaluate them and write its part of the files.

    *part* is the partition's rows, or its patients' ids: the worker then
    reads them from the store itself (:attr:`_State.store`) and stores the
    partition's lines and denials back in one transaction
    (:func:`store_partition`). Each patient's text (one
    :meth:`CloseWriter.render`, after the patient's id) goes to the spool
    file *out*, or with *ship_text* comes back in the result (``texts``).
    """
    from carecore.service import _billing_items, _dated_spans  # noqa: PLC0415

    month = state.month
    ids: list[str] | None = None
    if isinstance(part, list):
        ids = part
        with state.program().transaction(f"{state.reason}: read {month}") as tx:
            part = read_partition(tx, ids)
    # The rows were checked by every validator when they were written: they are built
    # without running the validators again (see build_stored), converters and the
    # records' own checks still run.
    built = {name: build_stored(rows) for name, rows in part.rows.items() if name != "care_plans"}
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
    texts: list[tuple[str, str, list[str], str, str]] = []
    # Time-only months take the fast path (a cached reference result, see
    # carecore.billing._fast); the packet says which path decided each patient.
    decided_fast: set[str] = set()

    def engine(facts: BillingFacts, rules: RuleSet) -> EvaluationResult:
        result = state.fast.evaluate_facts(facts)
        if result is None:
            return evaluate(facts, rules)
        decided_fast.add(facts.patient.id)
        return result

    spool = out is not None or ship_text
    with CloseWriter(None, month, state.rules, part=True) as writer:
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
            if spool:
                texts.append((pid, *writer.render(closed)))
            items += _billing_items(result.patient_id, month, result.claim_lines, result.denials)
        writer.finish()
    texts.sort(key=lambda text: text[0])
    if out is not None:
        write_spool(out, texts)
        texts = []
    if ids is not None:
        store_partition(state.program(), month, ids, items, f"{state.reason}: partition {index}")
        items = []
    return {
        "index": index,
        "state": writer.state(),
        "items": items,
        "patients": len(records.patients),
        "texts": texts,
    }


def store_partition(
    program: CareProgram,
    month: ServicePeriod,
    patient_ids: list[str],
    items: list[ClaimLine | Denial],
    reason: str,
) -> None:
    """Store one partition's lines and denials of *month* in one transaction.

    The month's stored lines and denials of the partition's patients are
    replaced by *items* (:meth:`~carecore.service.CareProgram.close_month`'s
    replacement rule: an unchanged one is left as it is). Running a
    partition again, after a worker died in it or not, therefore replaces
    its lines and never adds them twice; a partition that failed before its
    commit stored nothing.
    """
    from carecore.model import Denial  # noqa: PLC0415
    from carecore.service import _replace_billing  # noqa: PLC0415

    with program.transaction(f"{reason}: {month}") as tx:
        stored: list[ClaimLine | Denial] = [
            *tx.find_many(ClaimLine, patient_ids=patient_ids),
            *tx.find_many(Denial, patient_ids=patient_ids),
        ]
        _replace_billing(tx, month, stored, items)


def write_spool(path: Path, texts: list[tuple[str, str, list[str], str, str]]) -> None:
    """Write a partition's text in patient-id order, readable by the owner only.

    Each patient is a JSON header line (the id and the length of each text,
    in characters) followed by the texts as they are: the packets and rows
    are not escaped into JSON strings and parsed back (see :func:`_read_spool`).
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    out: list[str] = []
    for pid, claims_csv, claims_json, denials_csv, audit in texts:
        head = [pid, len(claims_csv), [len(item) for item in claims_json], len(denials_csv)]
        out += (
            _SPOOL_HEAD.encode([*head, len(audit)]),
            "\n",
            claims_csv,
            *claims_json,
            denials_csv,
            audit,
        )
    with open(fd, "w", encoding="utf-8", newline="") as f:  # noqa: PTH123 - a descriptor made 0600
        f.write("".join(out))


#: The spool's header lines (compact JSON: ids may hold any character, even a newline).
_SPOOL_HEAD = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _read_spool(path: Path) -> Iterator[list[Any]]:
    """A spool's patients as :func:`write_spool` got them: [id, claims csv, claims json items, denials csv, audit]."""
    # Lines end at "\n" only, and nothing is translated: the texts are read back as written.
    with path.open(encoding="utf-8", newline="\n") as f:
        while head := f.readline():
            pid, claims_csv, items, denials_csv, audit = json.loads(head)
            claims = f.read(claims_csv)
            joined = f.read(sum(items))
            claims_json, at = [], 0
            for size in items:
                claims_json.append(joined[at : at + size])
                at += size
            yield [pid, claims, claims_json, f.read(denials_csv), f.read(audit)]


def hash_partitions(ids: Sequence[str], partitions: int) -> list[list[str]]:
    """*ids* in *partitions* partitions by :func:`carecore.executors.partition_of` (ids in order in each).

    The partition of an id is the first 8 bytes of its BLAKE2b digest
    (UTF-8, ``digest_size=8``) read as a big-endian number, modulo the
    partition count: the same on every machine and in every run.
    """
    out: list[list[str]] = [[] for _ in range(partitions)]
    for pid in ids:
        out[partition_of(pid, partitions)].append(pid)
    return out


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


def _prepare_builders() -> None:
    """Make what every worker makes for its first partition, once, before the workers fork.

    The converter that reads JSON columns and each read kind's builder
    (:func:`_stored_builder`) are made once per process on first use: made
    here, the forked workers share them instead of each making its own.
    """
    from carecore.convert import get_converter  # noqa: PLC0415

    get_converter()
    for cls in (*READ_KINDS.values(), CarePlan):
        _stored_builder(kind_for(cls))


def _runs_on(executor: Executor | None, parts: int, workers: int) -> Executor | int:
    """The executor given, else *workers* processes (one, this process, for a single partition).

    Processes of this machine get the builders made first (:func:`_prepare_builders`).
    """
    if executor is not None:
        return executor
    _prepare_builders()  # forked workers inherit them
    if parts < _PARALLEL_PARTS or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return workers


@rare_collections()  # forked workers inherit the thresholds (set before the pool starts them)
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
    partitions: int | None = None,
) -> CloseSummary:
    """Close *month* over *program*'s store in partitions (see the module's text).

    The partitions run on *executor* when given (the caller closes it), else
    in *workers* forked processes (this process for one worker, or for fewer
    than two partitions). There are *partitions* of them, or as many as
    make partitions of about *partition_size* patients.
    """
    with program.transaction(f"{reason}: read {month}") as tx:
        ids = tx.patient_ids()
        staff = tuple(tx.all(Practitioner))
    count = partitions if partitions is not None else max(1, -(-len(ids) // partition_size))
    parts = hash_partitions(ids, count)
    url = getattr(program.store, "url", "")
    # Workers read their partitions from the store and write them back, unless the
    # store lives in this process only.
    remote_store = bool(url) and not url.startswith(("memory:", "sqlite:///:memory:"))
    # Part spools on this machine's disk; another executor's workers send the text back.
    ship_text = executor is not None and executor.name not in {"local", "process"}
    parts_dir = None if out is None else out / ".parts"
    runs_on = _runs_on(executor, sum(1 for p in parts if p), workers)
    in_flight = 2 * (runs_on if isinstance(runs_on, int) else runs_on.workers)
    items: list[ClaimLine | Denial] = []
    spools: list[Path] = []
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
            store=url if remote_store else None,
            actor=program.identity,
            clock=program.clock,
            reason=reason,
        ) as runner,
    ):

        def collect(result: dict[str, Any]) -> None:
            nonlocal done
            writer.merge(result["state"], None)
            if parts_dir is not None:
                spool = parts_dir / f"{result['index']}.jsonl"
                if result["texts"]:
                    write_spool(spool, result["texts"])
                spools.append(spool)
            items.extend(result["items"])
            done += result["patients"]
            if on_progress is not None:
                on_progress(done, len(ids))

        pending: collections.deque[Pending[dict[str, Any]]] = collections.deque()
        for index, part in enumerate(parts):
            if not part:
                continue
            task: _Partition | list[str] = part
            if not remote_store:
                with program.transaction(f"{reason}: read {month}") as tx:
                    task = read_partition(tx, part)
            spool = None if parts_dir is None or ship_text else parts_dir / f"{index}.jsonl"
            pending.append(runner.submit(_close_part, index, task, spool, ship_text))
            while len(pending) > in_flight:
                collect(pending.popleft().result())
        while pending:
            collect(pending.popleft().result())
        if writer.out is not None:
            # Every partition's patients in id order, as one process writes them.
            streams = [_read_spool(path) for path in spools if path.exists()]
            for text in heapq.merge(*streams, key=lambda text: text[0]):
                writer.write(text[1], text[2], text[3], text[4])
        if parts_dir is not None:
            shutil.rmtree(parts_dir, ignore_errors=True)
        if not remote_store:
            program._store_items(month, items, reason)  # noqa: SLF001 - close_month's write
        if on_progress is not None:
            on_progress(done, len(ids))
        return writer.finish()
