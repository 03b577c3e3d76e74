"""The one way the program report is built from a store: ``carecore report`` and ``carecore demo``.

Both read the store, compute :func:`carecore.metrics.program_report`, add the
care sections (gap closure over the period and adherence by drug class, issue
18) and write the page with :func:`carecore.report.write_report`, so the demo's
page is the page ``carecore report`` writes of the same store.

The care data are two machine tables (``gap_closure.csv``,
``adherence_by_class.csv``: rule ids, fractions to four places) and the page's
two sections made from them (the rule's title, percentages, one heading).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import attrs

from carecore.report import ReportFiles, Section, Table, write_report
from carecore.report._labels import count, percent

if TYPE_CHECKING:
    from pathlib import Path

    import pendulum

    from carecore.executors import Executor
    from carecore.metrics import ProgramReport
    from carecore.model import ServicePeriod
    from carecore.report._rows import SpooledRows
    from carecore.report._view import PracticeView
    from carecore.service import CareProgram

__all__ = [
    "build_report",
    "care_lines",
    "care_sections",
    "care_summary",
    "care_tables",
    "class_label",
    "program_parts",
]

#: Rules shown on the page before the rest go to the linked CSV.
SHOWN_RULES = 12

#: The page's words for the adherence classes (:data:`carecore.medications.ADHERENCE_CLASSES`).
CLASS_LABELS = {
    "statins": "Statins",
    "ras antagonists": "RAS antagonists",
    "diabetes (non-insulin)": "Diabetes, non-insulin",
}


def class_label(drug_class: str) -> str:
    """The page's and the summary's word for an adherence class.

    >>> class_label("ras antagonists"), class_label("beta blockers")
    ('RAS antagonists', 'Beta blockers')
    """
    return CLASS_LABELS.get(drug_class, drug_class.capitalize())


def _care_counts(
    program: CareProgram,
    part: list[str],
    *,
    start: pendulum.Date,
    end: pendulum.Date,
    rules: list[Any],
    reason: str,
) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """One partition's gap-closure counts and PDC sums (one transaction, one query per kind)."""
    from carecore.gaps import _store  # noqa: PLC0415
    from carecore.gaps._report import adherence_sums, closure_counts  # noqa: PLC0415

    with program.transaction(reason) as tx:
        records = _store.read_gap_records(tx, patient_ids=part)
        fills = _store.adherence_in(tx, start=start, end=end, patient_ids=part)
    closure = closure_counts(
        _store.evaluate_in(records, start, rules), _store.evaluate_in(records, end, rules)
    )
    return dict(closure), dict(adherence_sums(fills))


@attrs.define
class _CareWorker:
    """A worker of the care tables: its connection to the store, opened on first use."""

    store: str
    actor: Any
    start: Any
    end: Any
    rules: list[Any]
    reason: str
    program: Any = None  #: the CareProgram, once opened

    def counts(
        self, part: list[str]
    ) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
        if self.program is None:
            from carecore.service import CareProgram  # noqa: PLC0415

            self.program = CareProgram.open(self.store, actor=self.actor, create=False)
        return _care_counts(
            self.program, part, start=self.start, end=self.end, rules=self.rules, reason=self.reason
        )

    def close(self) -> None:
        if self.program is not None:
            self.program.close()
            self.program = None


def _worker_counts(
    state: _CareWorker, part: list[str]
) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    return state.counts(part)


def care_tables(
    program: CareProgram,
    start: pendulum.Date,
    end: pendulum.Date,
    *,
    reason: str,
    partitions: int | None = None,
    executor: Executor | None = None,
) -> tuple[Table, ...]:
    """Gap closure over *start*..*end* and PDC by drug class, as the report's CSV tables.

    The patients are split by :func:`carecore.executors.partition_of` into
    *partitions* (default: partitions of about
    :data:`carecore.service.PARTITION_SIZE` patients). Each partition is read
    in one transaction with one query per record kind and evaluated on both
    days; only its counts are kept (:func:`carecore.gaps._report.closure_counts`,
    :func:`~carecore.gaps._report.adherence_sums`), which add up exactly to
    those of the whole store. On *executor* each worker reads its partitions
    from the store itself (a store other processes can open) and sends back
    the counts. Memory follows the partition, and the tables are the same for
    any partition count and executor.
    """
    from carecore.billing._store_parts import hash_partitions  # noqa: PLC0415
    from carecore.executors import open_pool  # noqa: PLC0415
    from carecore.gaps import _store  # noqa: PLC0415
    from carecore.gaps._report import (  # noqa: PLC0415
        add_counts,
        adherence_sums_table,
        closure_table,
    )
    from carecore.service import PARTITION_SIZE  # noqa: PLC0415

    if end < start:
        return ()
    rules = _store.rule_set(program.plugin_manager)
    with program.transaction(reason) as tx:
        ids = tx.patient_ids()
    count = partitions if partitions is not None else max(1, -(-len(ids) // PARTITION_SIZE))
    parts = [p for p in hash_partitions(ids, count) if p]
    url = getattr(program.store, "url", "")
    if executor is None or not url or url.startswith("memory:"):
        done = [
            _care_counts(program, part, start=start, end=end, rules=rules, reason=reason)
            for part in parts
        ]
    else:
        with open_pool(
            executor,
            _CareWorker,
            store=url,
            actor=program.identity,
            start=start,
            end=end,
            rules=rules,
            reason=reason,
        ) as pool:
            pending = [pool.submit(_worker_counts, part) for part in parts]
            done = [p.result() for p in pending]
    closure: dict[str, tuple[Any, ...]] = {}
    sums: dict[str, tuple[Any, ...]] = {}
    for part_closure, part_sums in done:
        closure = add_counts(closure, part_closure)
        sums = add_counts(sums, part_sums)
    return (closure_table(closure), adherence_sums_table(sums))


def _int(text: str) -> int:
    return int(text.replace(",", "") or 0)


def _share(part: int, whole: int) -> str:
    return percent(Decimal(part) / Decimal(whole), 1) if whole else "n/a"


def care_sections(
    tables: tuple[Table, ...], start: pendulum.Date, end: pendulum.Date
) -> tuple[Section, ...]:
    """The page's "Gaps in care" and "Medication adherence" sections, from :func:`care_tables`.

    >>> import pendulum
    >>> empty = (Table(name="adherence_by_class", title="", columns=(), rows=()),)
    >>> (s,) = care_sections(empty, pendulum.Date(2026, 1, 1), pendulum.Date(2026, 3, 31))
    >>> s.title, s.notes[0][:27]
    ('Medication adherence', 'No pharmacy fills are store')
    """
    found = {t.name: t for t in tables}
    sections = []
    closure = found.get("gap_closure")
    if closure is not None:
        sections.append(_gap_section(closure, start, end))
    adherence = found.get("adherence_by_class")
    if adherence is not None:
        sections.append(_adherence_section(adherence, start, end))
    return tuple(sections)


def _gap_section(closure: Table, start: pendulum.Date, end: pendulum.Date) -> Section:
    rows = [dict(zip(closure.columns, r, strict=True)) for r in closure.rows]
    total = rows[-1]  # the "all rules" row
    opened, closed = _int(total["open_at_start"]), _int(total["closed_by_end"])
    open_end = _int(total["open_at_end"])
    rules = [r for r in rows[:-1] if _int(r["open_at_start"]) or _int(r["open_at_end"])]
    rules.sort(key=lambda r: (-_int(r["open_at_end"]), -_int(r["open_at_start"]), r["title"]))
    shown = rules[:SHOWN_RULES]
    table = Table(
        name="gap_closure_by_recommendation",
        title="By recommendation, most open first",
        columns=(
            "Recommendation",
            f"Open on {start:%b %-d, %Y}",
            f"Closed by {end:%b %-d, %Y}",
            "Closed",
            f"Still open on {end:%b %-d, %Y}",
        ),
        rows=tuple(
            (
                r["title"],
                count(_int(r["open_at_start"])),
                count(_int(r["closed_by_end"])),
                _share(_int(r["closed_by_end"]), _int(r["open_at_start"])),
                count(_int(r["open_at_end"])),
            )
            for r in shown
        ),
    )
    links = [(f"Every recommendation, with its rule id ({closure.csv_name})", closure.csv_name)]
    notes: tuple[str, ...] = ()
    if len(rules) > len(shown):
        notes = (f"The {len(shown)} recommendations with the most open gaps of {len(rules)}.",)
    return Section(
        key="gaps",
        title="Gaps in care",
        intro=(
            f"Of the {count(opened)} preventive and chronic-care gaps open on "
            f"{start:%b %-d, %Y}, {count(closed)} were closed by {end:%b %-d, %Y} "
            f"({_share(closed, opened)}); {count(open_end)} are open on {end:%b %-d, %Y} "
            "and are on the care managers' worklists (carecore worklist --gaps)."
        ),
        tables=(table,) if shown else (),
        notes=notes,
        links=tuple(links),
    )


def _adherence_section(adherence: Table, start: pendulum.Date, end: pendulum.Date) -> Section:
    rows = [dict(zip(adherence.columns, r, strict=True)) for r in adherence.rows]
    intro = (
        "Proportion of days covered (PDC) by pharmacy fills, by drug class, from "
        f"{start:%b %-d, %Y} to {end:%b %-d, %Y}, for patients with two fills or more of "
        "the class. Under 80% counts as not adherent: each such patient is a worklist item "
        "with the figure (carecore worklist --adherence). RAS antagonists are the ACE "
        "inhibitors, the angiotensin receptor blockers and aliskiren."
    )
    if not rows:
        return Section(
            key="adherence",
            title="Medication adherence",
            intro=intro,
            notes=(
                (
                    "No pharmacy fills are stored for these months: load them with carecore "
                    "meds import-fills (a CSV) or from FHIR MedicationDispense resources."
                ),
            ),
        )
    table = Table(
        name="adherence_by_drug_class",
        title="By drug class",
        columns=("Drug class", "Patients measured", "Mean PDC", "Under 80%", "Share under 80%"),
        rows=tuple(
            (
                class_label(r["drug_class"]),
                count(_int(r["patients"])),
                percent(Decimal(r["mean_pdc"]), 1) if r["mean_pdc"] else "n/a",
                count(_int(r["under_80_percent"])),
                _share(_int(r["under_80_percent"]), _int(r["patients"])),
            )
            for r in rows
        ),
    )
    return Section(
        key="adherence",
        title="Medication adherence",
        intro=intro,
        tables=(table,),
        links=((f"The same, PDC to four places ({adherence.csv_name})", adherence.csv_name),),
    )


def care_summary(tables: tuple[Table, ...]) -> dict[str, Any]:
    """The gap-closure total and the PDC by class, read from the report's own tables."""
    found = {t.name: t for t in tables}
    out: dict[str, Any] = {}
    closure = found.get("gap_closure")
    if closure is not None:
        row = dict(zip(closure.columns, closure.rows[-1], strict=True))  # the "all" row
        out["gap_closure"] = {
            "open_at_start": _int(row["open_at_start"]),
            "closed_by_end": _int(row["closed_by_end"]),
            "closure_rate": row["closure_rate"] or None,
            "open_at_end": _int(row["open_at_end"]),
        }
    adherence = found.get("adherence_by_class")
    if adherence is not None:
        out["adherence"] = [
            {
                "drug_class": row["drug_class"],
                "patients": _int(row["patients"]),
                "mean_pdc": row["mean_pdc"] or None,
                "under_80_percent": _int(row["under_80_percent"]),
            }
            for row in (dict(zip(adherence.columns, r, strict=True)) for r in adherence.rows)
        ]
    return out


def care_lines(care: dict[str, Any], start: pendulum.Date, end: pendulum.Date) -> list[str]:
    """The gap closure and the adherence by class, as the printed summary's lines."""
    lines = []
    gaps = care.get("gap_closure")
    if gaps is not None:
        rate = gaps["closure_rate"]
        shown = "n/a" if rate is None else percent(Decimal(rate), 1)
        lines.append(
            f"Gaps in care: {gaps['closed_by_end']:,} of the {gaps['open_at_start']:,} open on "
            f"{start} closed by {end} ({shown}); {gaps['open_at_end']:,} open on {end}"
        )
    classes = care.get("adherence")
    if classes is not None:
        if not classes:
            lines.append("Adherence (PDC): no pharmacy fills stored for the period")
        for c in classes:
            mean = "n/a" if c["mean_pdc"] is None else percent(Decimal(c["mean_pdc"]), 1)
            who = "patient" if c["patients"] == 1 else "patients"
            lines.append(
                f"Adherence (PDC), {class_label(c['drug_class'])}: mean {mean} of "
                f"{c['patients']:,} {who} "
                f"measured, {c['under_80_percent']:,} under 80%"
            )
    return lines


def build_report(
    program: CareProgram,
    out: Path | str,
    *,
    period: ServicePeriod,
    as_of: pendulum.Date,
    reason: str,
    phi: bool = True,
    headline: str = "month",
    partitions: int | None = None,
    executor: Executor | None = None,
    **options: Any,
) -> tuple[ProgramReport, ReportFiles, tuple[Table, ...]]:
    """Read *program*'s store, compute the report over *period* and write the page into *out*.

    *options* go to :func:`carecore.metrics.program_report` (time zone, family,
    intervention, ...). The care tables cover the period's first day to *as_of*;
    they are counted in *partitions* on *executor* (see :func:`care_tables`).
    Every per-patient row waits on disk until the files are written
    (:class:`carecore.report._rows.SpooledRows`, in a private temporary
    folder removed when this returns or fails, or the process is ended by
    SIGTERM, SIGHUP or Ctrl-C): memory holds counts, sums and one chunk of
    each partition's rows at a time. Returns the report (its measures,
    caseloads and counts; its eligibility, risk, A1c and minutes rows and
    worklist items are in the files, not in it), the files written and the
    care tables.
    """
    from carecore.report._rows import SpooledRows  # noqa: PLC0415
    from carecore.report._spool import report_spool  # noqa: PLC0415

    care = care_tables(
        program, period.start, as_of, reason=reason, partitions=partitions, executor=executor
    )
    # The per-patient rows wait on disk, in a private folder removed however this ends.
    with report_spool() as spool:
        rows = SpooledRows(spool, phi=phi)
        result, view, _ = program_parts(
            program,
            period=period,
            as_of=as_of,
            reason=reason,
            headline=headline,
            partitions=partitions,
            executor=executor,
            spooled=rows,
            **options,
        )
        files = write_report(
            result,
            out,
            extra=care,
            sections=care_sections(care, period.start, as_of),
            phi=phi,
            headline=headline,
            view=view,
            spooled=rows,
        )
    # Its per-patient rows went to the files (and their folder is gone): not returned.
    result = attrs.evolve(result, eligibility=(), stratification=(), minutes_progress=(), a1c=())
    return result, files, care


#: What :func:`turns_share` reads of each partition.
_TURN_KINDS = ("patients", "conditions", "coverages", "enrollments", "care_teams", "episodes")


def _share_of(  # noqa: PLR0917 - the executor passes arguments by position
    program: CareProgram,
    part: list[str],
    as_of: pendulum.Date,
    family: Any,
    reason: str,
    rules: Any,
) -> Any:
    """One partition's share of the worklists' turns (its records read in one transaction).

    Eligibility is decided as :func:`carecore.metrics.program_report` decides
    it: under the switches of *rules* (the report's rule set, or the CMS one
    of *as_of*'s year).
    """
    from carecore.metrics._summary import _rules_of  # noqa: PLC0415
    from carecore.registry import registry, turns_share  # noqa: PLC0415

    rule_set = _rules_of(rules, as_of)
    data = program.program_data(reason=reason, patient_ids=part, kinds=_TURN_KINDS)
    verdicts = registry(
        data.patients,
        as_of=as_of,
        conditions=data.conditions,
        coverages=data.coverages,
        families=(family,),
        switches=None if rule_set is None else rule_set.switches,
    )
    return turns_share(data, today=as_of, eligibility=verdicts)


def _part_of(
    program: CareProgram,
    part: list[str],
    *,
    reason: str,
    headline: str,
    turns: Any,
    options: dict[str, Any],
) -> tuple[Any, Any, dict[str, str]]:
    """One partition's report, view part and patient names; its records are dropped after."""
    from carecore.metrics import program_report  # noqa: PLC0415
    from carecore.metrics._parts import ReportPart  # noqa: PLC0415
    from carecore.metrics._program import _revenue_parts, _unpriced_lines  # noqa: PLC0415
    from carecore.report._view import view_part  # noqa: PLC0415

    data = program.program_data(reason=reason, patient_ids=part)
    costs = options.get("costs")
    if costs is not None:
        mine = set(part)
        options = {**options, "costs": tuple(c for c in costs if c.patient_id in mine)}
    report = program_report(data, turns=turns, **options)
    view = view_part(data, report, headline=headline)
    said = {}
    for plan in data.care_plans:
        said.update({f"{plan.id}/{t.id}": t.description for t in plan.tasks})
        said.update({f"{plan.id}/{g.id}": g.description for g in plan.goals})
    details = {i.detail for w in report.worklists for i in (*w.items, *(c.item for c in w.closed))}
    texts = {k: v for k, v in said.items() if k in details}
    names = {p.id: f"{p.display_name} ({p.birth_date})" for p in data.patients}
    done = ReportPart(
        report=attrs.evolve(report, data=None, texts=texts),
        revenue=_revenue_parts(data.claim_lines, period=report.period, family=report.family),
        unpriced=_unpriced_lines(data.claim_lines, report.family),
    )
    return done, view, names


def _empty_part(
    practitioners: Any, headline: str, options: dict[str, Any]
) -> tuple[Any, Any, dict[str, str]]:
    """The part of a store with no patients."""
    from carecore.metrics import ProgramData, program_report  # noqa: PLC0415
    from carecore.metrics._parts import ReportPart  # noqa: PLC0415
    from carecore.report._view import view_part  # noqa: PLC0415

    empty = ProgramData(practitioners=practitioners, coverages=())
    report = program_report(empty, **options)
    part = ReportPart(
        report=attrs.evolve(report, data=None),
        revenue=(report.measure("expected_revenue").numerator, 0, 0),
        unpriced=0,
    )
    return part, view_part(empty, report, headline=headline), {}


def _spool_part(
    spooled: SpooledRows, found: tuple[Any, Any, dict[str, str]]
) -> tuple[Any, Any, dict[str, str]]:
    """Write one partition's per-patient rows to *spooled*; the part without them."""
    part, view, names = found
    spooled.add(part.report, names, (n for _, n in view.minutes))
    report = attrs.evolve(
        part.report,
        eligibility=(),
        stratification=(),
        minutes_progress=(),
        a1c=(),
        texts={},
        worklists=tuple(attrs.evolve(w, items=(), closed=()) for w in part.report.worklists),
    )
    return attrs.evolve(part, report=report), attrs.evolve(view, minutes=()), {}


@attrs.define
class _ReportWorker:
    """A worker of the report's partitions: its connection to the store, opened on first use."""

    store: str
    actor: Any
    program: Any = None  #: the CareProgram, once opened

    def open(self) -> CareProgram:
        if self.program is None:
            from carecore.service import CareProgram  # noqa: PLC0415

            self.program = CareProgram.open(self.store, actor=self.actor, create=False)
        return self.program  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.program is not None:
            self.program.close()
            self.program = None


def _worker_share(  # noqa: PLR0917 - the executor passes arguments by position
    state: _ReportWorker,
    part: list[str],
    as_of: pendulum.Date,
    family: Any,
    reason: str,
    rules: Any,
) -> Any:
    return _share_of(state.open(), part, as_of, family, reason, rules)


def _worker_part(  # noqa: PLR0917 - the executor passes arguments by position
    state: _ReportWorker,
    part: list[str],
    reason: str,
    headline: str,
    turns: Any,
    options: dict[str, Any],
) -> Any:
    return _part_of(
        state.open(), part, reason=reason, headline=headline, turns=turns, options=options
    )


def program_parts(  # noqa: C901 - two passes, here or on an executor
    program: CareProgram,
    *,
    period: ServicePeriod,
    as_of: pendulum.Date,
    reason: str,
    headline: str = "month",
    partitions: int | None = None,
    executor: Executor | None = None,
    spooled: SpooledRows | None = None,
    **options: Any,
) -> tuple[ProgramReport, PracticeView, dict[str, str]]:
    """The program report, its practice view and the patients' names, computed in partitions.

    The patients are split by :func:`carecore.executors.partition_of` into
    *partitions* (default: partitions of about
    :data:`carecore.service.PARTITION_SIZE` patients). Two passes, each
    reading one partition at a time in one transaction (one query per kind
    of record):

    1. each partition's share of the worklists' turns
       (:func:`carecore.registry.turns_share`: who has a care manager, each
       owner's load, who waits), added up and shared out over the whole
       practice (:func:`carecore.registry.worklist_turns`);
    2. each partition's :func:`carecore.metrics.program_report` (with those
       turns) and :func:`carecore.report._view.view_part`; the records are
       dropped, the counts, sums and per-patient rows kept. Every program's
       eligibility (one row per patient and program, the largest), the risk
       tiers and the minutes to the next code go to disk as each partition is
       done (:class:`carecore.metrics.Spool`, read back merged in patient-id
       order when the report is written).

    The partitions' reports are combined by
    :func:`carecore.metrics.combine_reports` and their view parts by
    :func:`carecore.report._view.view_of_parts`: the result is the report of
    the whole store read at once, for any partition count and executor. On
    *executor* each worker reads its partitions from the store itself (a
    store other processes can open). *options* go to ``program_report``.

    With *spooled*, every per-patient row goes to its runs on disk instead
    (:meth:`~carecore.report._rows.SpooledRows.add`: also the worklists'
    items, formatted, and the eligibility page's rows, named): the report's
    worklists keep their owners and caseloads only, it carries no texts, no
    names are returned, and the view's worklist section and minutes come
    from the runs' counts; give *spooled* to
    :func:`carecore.report.write_report` to write the files.
    """
    from carecore.billing._store_parts import hash_partitions  # noqa: PLC0415
    from carecore.executors import open_pool  # noqa: PLC0415
    from carecore.metrics._parts import Spool, combine_reports  # noqa: PLC0415
    from carecore.model import ServiceFamily  # noqa: PLC0415
    from carecore.registry import TurnsShare, worklist_turns  # noqa: PLC0415
    from carecore.report._view import view_of_parts  # noqa: PLC0415
    from carecore.service import PARTITION_SIZE  # noqa: PLC0415

    family = options.get("family", ServiceFamily.CCM)
    rules = options.get("rules")
    options = {**options, "period": period, "as_of": as_of}
    with program.transaction(reason) as tx:
        ids = tx.patient_ids()
    practitioners = program.program_data(reason=reason, kinds=()).practitioners
    count = partitions if partitions is not None else max(1, -(-len(ids) // PARTITION_SIZE))
    parts = [p for p in hash_partitions(ids, count) if p]
    url = getattr(program.store, "url", "")
    share = TurnsShare()
    done: list[tuple[Any, Any, dict[str, str]]] = []
    # The per-patient rows read only to be written (every program's eligibility,
    # the risk tiers, the minutes to the next code) wait on disk.
    spools: dict[str, Spool[Any]] = {
        name: Spool()
        for name in (() if spooled else ("eligibility", "stratification", "minutes_progress"))
    }

    def keep(found: tuple[Any, Any, dict[str, str]]) -> None:
        if spooled is not None:
            done.append(_spool_part(spooled, found))
            return
        part, view, names = found
        for name, rows in spools.items():
            rows.add(getattr(part.report, name))
        report = attrs.evolve(part.report, eligibility=(), stratification=(), minutes_progress=())
        done.append((attrs.evolve(part, report=report), view, names))

    if executor is None or not url or url.startswith("memory:"):
        for part in parts:
            share = share.add(_share_of(program, part, as_of, family, reason, rules))
        turns = worklist_turns(share, practitioners)
        for part in parts:
            keep(
                _part_of(
                    program, part, reason=reason, headline=headline, turns=turns, options=options
                )
            )
    else:
        with open_pool(executor, _ReportWorker, store=url, actor=program.identity) as pool:
            shares = [
                pool.submit(_worker_share, part, as_of, family, reason, rules) for part in parts
            ]
            for pending in shares:
                share = share.add(pending.result())
            turns = worklist_turns(share, practitioners)
            waiting = [
                pool.submit(_worker_part, part, reason, headline, turns, options) for part in parts
            ]
            for pending_part in waiting:
                keep(pending_part.result())
    if not done:  # no patients: the report of an empty store
        done = [_empty_part(practitioners, headline, options)]
    result = combine_reports([d[0] for d in done], costs=options.get("costs") is not None)
    names: dict[str, str] = {}
    texts: dict[str, str] = {}
    for d in done:
        names.update(d[2])
        texts.update(d[0].report.texts)

    # A spool reads as the tuple the report holds otherwise (a sequence of the same rows).
    def spool(name: str) -> tuple[Any, ...]:
        return cast("tuple[Any, ...]", spools[name] if spooled is None else getattr(spooled, name))

    result = attrs.evolve(
        result,
        texts=texts,
        eligibility=spool("eligibility"),
        stratification=spool("stratification"),
        minutes_progress=spool("minutes_progress"),
        a1c=result.a1c if spooled is None else spool("a1c"),
    )
    view = view_of_parts(
        result,
        [d[1] for d in done],
        headline=headline,
        practitioners=practitioners,
        owners=None if spooled is None else spooled.owners,
    )
    if spooled is not None:
        view = attrs.evolve(view, minutes=spooled.sorted_minutes())
    return result, view, names
