"""The program report of a practice read in parts: each part's report, combined.

A store too large for one process is read in partitions of patients (a
stable hash of the patient id), and :func:`carecore.metrics.program_report`
runs on each partition's records. Every measure is a count or a sum over
patients (or over their enrollments, claim lines, episodes, goals), so the
partitions' numerators and denominators add up exactly to the whole
store's; :func:`combine_reports` adds them and rebuilds what is not a sum
from the sums:

- a measure per 1,000 member-years divides the enrolled patient-months by
  12: the months are added, then divided;
- expected revenue names how many lines it adds up and how many had no
  listed fee: those counts are added and the sentence written again;
- caseload per care manager divides by the number of care managers: the
  caseloads are merged (per owner, the patients' ids in order) first;
- the PMPM rows' source names the claim lines with no listed fee: added up.

The per-patient tables (eligibility, risk, A1c, minutes to the next code)
are each in patient-id order in every partition, and a patient is in one
partition only: they are merged in id order. A worklist is merged per owner
in its priority order (:func:`carecore.registry.priority`, then due day,
kind, patient and detail), which two patients never tie on. The
worklists' turns (who reaches out to a patient without a care manager, who
attests) depend on the whole practice: they are shared out first, from the
partitions' counts (:func:`carecore.registry.turns_share`,
:func:`carecore.registry.worklist_turns`), and each partition's report is
made with them.
"""

from __future__ import annotations

import heapq
import os
import pickle
import shutil
import tempfile
import weakref
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, TypeVar

import attrs

from carecore import errors
from carecore._files import FileValues
from carecore.metrics._measure import Comparison, Measure
from carecore.metrics._program import PmpmRow, _pmpm_source, _revenue_measure
from carecore.metrics._summary import ProgramReport, _caseload_measure
from carecore.outreach import Worklist
from carecore.registry import Caseload
from carecore.registry._work import _order

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from carecore.outreach import ClosedItem, WorkItem

__all__ = ["ReportPart", "Spool", "combine_measures", "combine_reports"]

#: The measures whose denominator is enrolled patient-months over 12.
_PER_1000 = frozenset({"ed_visits_per_1000", "admissions_per_1000"})


@attrs.frozen(kw_only=True)
class ReportPart:
    """One partition's report and the counts its measures do not carry.

    ``revenue`` is the expected revenue's amount, lines and lines with no
    fee over the report's period; ``unpriced`` the family's claim lines with
    no listed fee (the PMPM rows' source).
    """

    report: ProgramReport
    revenue: tuple[Decimal, int, int]
    unpriced: int


def combine_measures(parts: Sequence[Measure]) -> Measure:
    """One measure from the same measure over disjoint partitions of the patients.

    Numerators and denominators are added; a rate per 1,000 member-years adds
    the patient-months behind its denominator and divides again. Not for
    expected revenue or the caseload per care manager, whose definitions
    are not sums (:func:`combine_reports` rebuilds them).

    >>> import pendulum
    >>> from carecore.model import ServicePeriod
    >>> march = ServicePeriod.month(2026, 3)
    >>> def m(n, d):
    ...     return Measure(name="x", numerator=Decimal(n), denominator=Decimal(d), unit="ratio",
    ...                    period=march, definition="x")
    >>> combine_measures([m(1, 4), m(2, 4)]).value
    Decimal('0.3750')
    """
    if not parts:
        raise errors.InvalidValue("needs at least one measure", field="parts", value=parts)
    first = parts[0]
    if any(p.name != first.name or p.period != first.period for p in parts):
        raise errors.InvalidValue(
            "must be one measure over one period", field="parts", value=first.name
        )
    numerator = sum((p.numerator for p in parts[1:]), first.numerator)
    denominator: Decimal | None
    if first.denominator is None:
        denominator = None
    elif first.name in _PER_1000:
        months = sum(int((p.denominator * 12).to_integral_value()) for p in parts if p.denominator)
        denominator = Decimal(months) / 12
    else:
        denominator = sum(
            (p.denominator for p in parts[1:] if p.denominator is not None), first.denominator
        )
    return attrs.evolve(first, numerator=numerator, denominator=denominator)


class _HasPatient(Protocol):
    @property
    def patient_id(self) -> str: ...


_P = TypeVar("_P", bound=_HasPatient)


def _by_patient(groups: Iterable[Sequence[_P]]) -> tuple[_P, ...]:
    """Per-patient rows of disjoint partitions, each in patient-id order, merged in that order."""
    return tuple(heapq.merge(*groups, key=lambda x: x.patient_id))


class Spool(FileValues[_P]):
    """Per-patient rows kept on disk, not in memory: each partition's rows, read back merged.

    :meth:`add` pickles one partition's rows (in patient-id order) to a file
    of their own in a private temporary folder, in chunks; iterating merges
    the files in patient-id order, reading a chunk of each at a time, so the
    rows of every partition are never in memory at once. It iterates as
    often as asked; ``len`` is known; it equals any sequence of the same
    rows. The folder is removed when the spool is garbage-collected.

    >>> from carecore.metrics import A1cChange
    >>> import pendulum
    >>> def row(pid):
    ...     day = pendulum.Date(2026, 1, 1)
    ...     return A1cChange(patient_id=pid, first_on=day, first=Decimal(8), last_on=day,
    ...                      last=Decimal(7))
    >>> spool = Spool()
    >>> spool.add([row("p1"), row("p3")]); spool.add([row("p2")])
    >>> [r.patient_id for r in spool], len(spool)
    (['p1', 'p2', 'p3'], 3)
    """

    def __init__(self, chunk: int = 1_000) -> None:
        self._folder = tempfile.mkdtemp(prefix="carecore-spool-")
        self._files: list[str] = []
        self._count = 0
        self._chunk = chunk
        weakref.finalize(self, shutil.rmtree, self._folder, True)  # noqa: FBT003 - ignore_errors

    def add(self, rows: Sequence[_P]) -> None:
        """Keep one partition's *rows* (in patient-id order) on disk."""
        if not rows:
            return
        path = os.path.join(self._folder, f"{len(self._files)}.pickle")  # noqa: PTH118
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            for start in range(0, len(rows), self._chunk):
                pickle.dump(tuple(rows[start : start + self._chunk]), handle)
        self._files.append(path)
        self._count += len(rows)

    @staticmethod
    def _read(path: str) -> Iterator[_P]:
        with open(path, "rb") as handle:  # noqa: PTH123
            while True:
                try:
                    chunk = pickle.load(handle)  # noqa: S301 - this process wrote it
                except EOFError:
                    return
                yield from chunk

    def __iter__(self) -> Iterator[_P]:
        return heapq.merge(*(self._read(f) for f in self._files), key=lambda x: x.patient_id)

    def __len__(self) -> int:
        return self._count


def _caseloads(parts: Sequence[ProgramReport]) -> tuple[Caseload, ...]:
    ids: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for r in parts:
        for c in r.caseloads:
            ids[c.owner].append(c.patient_ids)
    return tuple(
        Caseload(owner=owner, patient_ids=tuple(heapq.merge(*groups)))
        for owner, groups in sorted(ids.items())
    )


def _worklists(parts: Sequence[ProgramReport]) -> tuple[Worklist, ...]:
    day = parts[0].as_of
    lists: dict[str, list[Worklist]] = defaultdict(list)
    for r in parts:
        for w in r.worklists:
            lists[w.owner].append(w)

    def item_key(i: WorkItem) -> tuple[int, object, str, str, str]:
        return _order(i, day)

    def closed_key(c: ClosedItem) -> tuple[int, object, str, str, str]:
        return _order(c.item, day)

    return tuple(
        Worklist(
            owner=owner,
            items=tuple(heapq.merge(*(w.items for w in ws), key=item_key)),
            caseload=sum(w.caseload for w in ws),
            closed=tuple(heapq.merge(*(w.closed for w in ws), key=closed_key)),
        )
        for owner, ws in sorted(lists.items())
    )


def _pmpm(parts: Sequence[ReportPart], *, costs: bool) -> tuple[PmpmRow, ...]:
    first = parts[0].report
    unpriced = sum(p.unpriced for p in parts)
    rows = []
    for n, row in enumerate(first.pmpm):
        same = [p.report.pmpm[n] for p in parts]
        rows.append(
            attrs.evolve(
                row,
                member_months=sum(r.member_months for r in same),
                observed_total=sum((r.observed_total for r in same[1:]), row.observed_total),
                source=row.source if costs else _pmpm_source(first.family, unpriced),
            )
        )
    return tuple(rows)


def combine_reports(parts: Sequence[ReportPart], *, costs: bool = False) -> ProgramReport:
    """The report of the whole practice from the reports of disjoint partitions of its patients.

    Each part is :func:`carecore.metrics.program_report` over one
    partition's records, on the same options and with the same worklist
    turns; *costs* says whether the reports were costed by a user cost table.
    The result equals the report of every record read at once (see the
    module's notes on how each part combines), except that it carries no
    snapshot (``data`` is None).
    """
    if not parts:
        raise errors.InvalidValue("needs at least one part", field="parts", value=parts)
    reports = [p.report for p in parts]
    first = reports[0]
    loads = _caseloads(reports)
    measures = []
    for n, m in enumerate(first.measures):
        if m.name == "expected_revenue":
            total = sum((p.revenue[0] for p in parts[1:]), parts[0].revenue[0])
            lines = sum(p.revenue[1] for p in parts)
            unpriced = sum(p.revenue[2] for p in parts)
            measures.append(
                _revenue_measure(total, lines, unpriced, period=m.period, family=first.family)
            )
        elif m.name == "caseload_per_care_manager":
            measures.append(_caseload_measure(loads, first.as_of))
        else:
            measures.append(combine_measures([r.measures[n] for r in reports]))

    def series(pick: Callable[[ProgramReport], tuple[Measure, ...]]) -> tuple[Measure, ...]:
        return tuple(
            combine_measures([pick(r)[n] for r in reports]) for n in range(len(pick(first)))
        )

    comparisons = tuple(
        Comparison(
            name=c.name,
            intervention=c.intervention,
            before=combine_measures([r.comparisons[n].before for r in reports]),
            after=combine_measures([r.comparisons[n].after for r in reports]),
        )
        for n, c in enumerate(first.comparisons)
    )

    return attrs.evolve(
        first,
        measures=tuple(measures),
        eligibility=_by_patient(r.eligibility for r in reports),
        stratification=_by_patient(r.stratification for r in reports),
        caseloads=loads,
        pmpm=_pmpm(parts, costs=costs),
        comparisons=comparisons,
        a1c=_by_patient(r.a1c for r in reports),
        enrollment_by_month=series(lambda r: r.enrollment_by_month),
        minutes_by_month=series(lambda r: r.minutes_by_month),
        worklists=_worklists(reports),
        minutes_progress=tuple(
            heapq.merge(
                *(r.minutes_progress for r in reports),
                key=lambda x: (x.patient_id, x.family.value),
            )
        ),
        data=None,
    )
