"""What a report built in partitions writes to disk for its files, and the counts kept beside.

:func:`carecore.report._build.program_parts` hands each partition's report
to :meth:`SpooledRows.add` and drops it: the per-patient rows go to sorted
runs on disk (:class:`carecore.report._spool.Runs`), formatted as far as the
partition allows (a worklist item as its CSV row, with the patient's name;
an eligibility page row with the name it is sorted by), and only counts
stay in memory (each owner's items, the first place of each eligibility
rule, the minutes per patient as integers). :func:`carecore.report.write_report`
reads the runs back merged, in the order the whole store's report lists
them, so the files are the same as those of the report held in memory.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

from carecore.registry import worklist_rows
from carecore.registry._work import _order
from carecore.report._tables import cell, worklist_cells
from carecore.report._view import worklist_counts

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from carecore.metrics import ProgramReport
    from carecore.report._spool import ReportSpool, Runs

__all__ = ["SpooledRows"]


def _patient(row: Any) -> str:
    return row.patient_id  # type: ignore[no-any-return]


def _first_two(row: tuple[Any, ...]) -> tuple[Any, Any]:
    return row[0], row[1]


def _owner(row: tuple[Any, ...]) -> Any:
    return row[0]


def _head(row: tuple[Any, ...]) -> Any:
    return row[0]


class SpooledRows:
    """The per-patient rows of a report built in partitions, on disk; their counts in memory.

    *phi* says whether the pages name the patients (else they show ids).
    The runs:

    - ``eligibility``, ``stratification``, ``minutes_progress``, ``a1c``:
      the report's rows, in patient-id order;
    - ``worklist``: each open worklist item as ``(owner, order, CSV row,
      name, due)``, in the order of :func:`carecore.registry.worklist_rows`
      (owner, then :func:`carecore.registry.priority` and due day, kind,
      patient, detail), grouped by owner;
    - ``page``: the eligibility page's rows of the report's program, as
      ``(sort key, name, eligible, verified, level, conditions, criteria)``,
      eligible first, then by name.
    """

    def __init__(self, spool: ReportSpool, *, phi: bool = True) -> None:
        self.phi = phi
        self.eligibility: Runs[Any] = spool.runs("eligibility", key=_patient)
        self.stratification: Runs[Any] = spool.runs("risk", key=_patient)
        self.minutes_progress: Runs[Any] = spool.runs("minutes", key=_patient)
        self.a1c: Runs[Any] = spool.runs("a1c", key=_patient)
        self.worklist: Runs[tuple[Any, ...]] = spool.runs("worklist", key=_first_two, group=_owner)
        self.page: Runs[tuple[Any, ...]] = spool.runs("eligibility-page", key=_head)
        #: Per owner: open items, overdue, due today, due within 7 days, caseload.
        self.owners: dict[str, list[int]] = {}
        #: Each eligibility rule's first place: (patient id, row, criterion), the least over the parts.
        self.rules: dict[str, tuple[str, int, int]] = {}
        #: Whether any eligibility row of the report's program has a level.
        self.levels = False
        #: Whether any patient was read (the pages name patients when *phi*).
        self.named = False
        #: Each enrolled patient's minutes in the last month (the plot's values).
        self.minutes: array[int] = array("q")

    def add(self, report: ProgramReport, names: Mapping[str, str], minutes: Iterable[int]) -> None:
        """Write one partition's rows (*report* of its records, its patients' *names*)."""
        self.eligibility.add(report.eligibility)
        self.stratification.add(report.stratification)
        self.minutes_progress.add(report.minutes_progress)
        self.a1c.add(report.a1c)
        self.minutes.extend(minutes)
        if names:
            self.named = True
        named = names if self.phi else {}
        self._worklist(report, named)
        self._page(report, named)

    def _worklist(self, report: ProgramReport, names: Mapping[str, str]) -> None:
        day = report.as_of
        for owner, counts in worklist_counts(report.worklists, day).items():
            mine = self.owners.setdefault(owner, [0, 0, 0, 0, 0])
            for n, value in enumerate(counts):
                mine[n] += value
        rows = iter(
            r
            for r in worklist_rows(report.worklists, today=day, descriptions=report.texts)
            if r.closed_reason is None
        )
        spooled = []
        for w in report.worklists:
            for item in w.items:
                r = next(rows)
                spooled.append(
                    (
                        w.owner,
                        _order(item, day),
                        worklist_cells(r),
                        names.get(r.patient_id, r.patient_id),
                        r.due,
                    )
                )
        spooled.sort(key=_first_two)
        self.worklist.add(spooled)

    def _page(self, report: ProgramReport, names: Mapping[str, str]) -> None:
        rows = []
        mine = (e for e in report.eligibility if e.family is report.family)
        for seq, e in enumerate(mine):
            for n, c in enumerate(e.criteria):
                first = (e.patient_id, seq, n)
                if c.rule not in self.rules or first < self.rules[c.rule]:
                    self.rules[c.rule] = first
            if e.level is not None:
                self.levels = True
            name = names.get(e.patient_id, e.patient_id)
            rows.append(
                (
                    (not e.eligible, name, e.patient_id, seq),
                    name,
                    e.eligible,
                    e.verified,
                    cell(e.level),
                    str(len(e.conditions)),
                    tuple((c.rule, c.met) for c in e.criteria),
                )
            )
        rows.sort(key=_head)
        self.page.add(rows)

    def rule_order(self) -> tuple[str, ...]:
        """The eligibility rules in the order the whole store's rows first name them."""
        return tuple(sorted(self.rules, key=self.rules.__getitem__))

    def sorted_minutes(self) -> tuple[int, ...]:
        """The minutes per patient, smallest first (the plot counts them; order is no matter)."""
        return tuple(sorted(self.minutes))
