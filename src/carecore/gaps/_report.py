"""The program report's sections on gap closure and adherence, as report tables."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from carecore.gaps import Gap, closure_rate
from carecore.report import Table, cell

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.medications import ClassAdherence

__all__ = ["adherence_table", "gap_closure_table"]


def gap_closure_table(at_start: Sequence[Gap], at_end: Sequence[Gap]) -> Table:
    """Per rule: the gaps open at the period's start, how many were closed at its end, the rate.

    >>> gap_closure_table([], []).columns
    ('rule_id', 'title', 'open_at_start', 'closed_by_end', 'closure_rate', 'open_at_end')
    """
    rows = []
    titles = {g.rule_id: g.title for g in (*at_start, *at_end)}
    open_end = Counter(g.rule_id for g in at_end if g.open)
    for rule_id in sorted(titles):
        start = [g for g in at_start if g.rule_id == rule_id]
        end = [g for g in at_end if g.rule_id == rule_id]
        closed, opened = closure_rate(start, end)
        rate = f"{closed / opened:.4f}" if opened else ""
        rows.append(
            (rule_id, titles[rule_id], cell(opened), cell(closed), rate, cell(open_end[rule_id]))
        )
    closed, opened = closure_rate(at_start, at_end)
    rows.append(
        (
            "all",
            "All rules",
            cell(opened),
            cell(closed),
            f"{closed / opened:.4f}" if opened else "",
            cell(sum(open_end.values())),
        )
    )
    return Table(
        name="gap_closure",
        title="Gaps in care: open at the period's start and closed by its end",
        columns=(
            "rule_id",
            "title",
            "open_at_start",
            "closed_by_end",
            "closure_rate",
            "open_at_end",
        ),
        rows=tuple(rows),
    )


def adherence_table(adherence: Sequence[ClassAdherence]) -> Table:
    """Per drug class: patients measured, their mean PDC, and how many are under 80%.

    >>> adherence_table([]).rows
    ()
    """
    by_class: dict[str, list[ClassAdherence]] = {}
    for a in adherence:
        if a.measured:
            by_class.setdefault(a.drug_class, []).append(a)
    rows = []
    for drug_class, items in sorted(by_class.items()):
        values = [a.pdc for a in items if a.pdc is not None]
        mean = sum(values) / len(values) if values else None
        rows.append(
            (
                drug_class,
                cell(len(items)),
                "" if mean is None else f"{mean:.4f}",
                cell(sum(1 for a in items if a.adherent is False)),
            )
        )
    return Table(
        name="adherence_by_class",
        title="Adherence: proportion of days covered by drug class",
        columns=("drug_class", "patients", "mean_pdc", "under_80_percent"),
        rows=tuple(rows),
    )
