"""The program report's sections on gap closure and adherence, as report tables."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from carecore.gaps import Gap, closure_rate
from carecore.report import Table, cell

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from carecore.medications import ClassAdherence

__all__ = [
    "AdherenceSums",
    "ClosureCounts",
    "add_counts",
    "adherence_sums",
    "adherence_sums_table",
    "adherence_table",
    "closure_counts",
    "closure_table",
    "gap_closure_table",
]


#: Per rule id: its title, the gaps open at the start, of those closed by the end, open at the end.
ClosureCounts = dict[str, tuple[str, int, int, int]]

#: Per drug class: patients measured, the sum of their PDCs and how many have one, under 80%.
AdherenceSums = dict[str, tuple[int, Decimal, int, int]]


def closure_counts(at_start: Sequence[Gap], at_end: Sequence[Gap]) -> ClosureCounts:
    """Per rule, what :func:`gap_closure_table` shows, as counts that add up over patients.

    Each count is of (patient, rule) pairs, so the counts of groups of
    different patients add up (:func:`add_counts`) to those of them all.

    >>> closure_counts([], [])
    {}
    """
    titles = {g.rule_id: g.title for g in (*at_start, *at_end)}
    open_end = Counter(g.rule_id for g in at_end if g.open)
    out: ClosureCounts = {}
    for rule_id in sorted(titles):
        start = [g for g in at_start if g.rule_id == rule_id]
        end = [g for g in at_end if g.rule_id == rule_id]
        closed, opened = closure_rate(start, end)
        out[rule_id] = (titles[rule_id], opened, closed, open_end[rule_id])
    return out


def adherence_sums(adherence: Sequence[ClassAdherence]) -> AdherenceSums:
    """Per drug class, what :func:`adherence_table` shows, as sums that add up over patients.

    The PDCs are decimals to four places, so their sum is exact and the mean
    of several groups' sums (:func:`add_counts`) is the mean over them all.

    >>> adherence_sums([])
    {}
    """
    out: dict[str, tuple[int, Decimal, int, int]] = {}
    for a in adherence:
        if not a.measured:
            continue
        patients, total, valued, under = out.get(a.drug_class, (0, Decimal(0), 0, 0))
        value = a.pdc
        out[a.drug_class] = (
            patients + 1,
            total + (value if value is not None else 0),
            valued + (value is not None),
            under + (a.adherent is False),
        )
    return out


def add_counts(
    first: Mapping[str, tuple[Any, ...]], second: Mapping[str, tuple[Any, ...]]
) -> dict[str, tuple[Any, ...]]:
    """Two groups' :func:`closure_counts` (or :func:`adherence_sums`) added up, key by key.

    A text (a rule's title) is kept as it is; numbers are added.

    >>> add_counts({"a": ("A", 1, 0, 1)}, {"a": ("A", 2, 1, 1), "b": ("B", 1, 1, 0)})
    {'a': ('A', 3, 1, 2), 'b': ('B', 1, 1, 0)}
    """
    out = dict(first)
    for key, values in second.items():
        mine = out.get(key)
        out[key] = (
            values
            if mine is None
            else tuple(
                a if isinstance(a, str) else a + b for a, b in zip(mine, values, strict=True)
            )
        )
    return out


def gap_closure_table(at_start: Sequence[Gap], at_end: Sequence[Gap]) -> Table:
    """Per rule: the gaps open at the period's start, how many were closed at its end, the rate.

    >>> gap_closure_table([], []).columns
    ('rule_id', 'title', 'open_at_start', 'closed_by_end', 'closure_rate', 'open_at_end')
    """
    return closure_table(closure_counts(at_start, at_end))


def closure_table(counts: Mapping[str, tuple[Any, ...]]) -> Table:
    """:func:`gap_closure_table` from the counts of :func:`closure_counts` (rules in id order)."""
    rows = []
    for rule_id in sorted(counts):
        title, opened, closed, open_end = counts[rule_id]
        rate = f"{closed / opened:.4f}" if opened else ""
        rows.append((rule_id, title, cell(opened), cell(closed), rate, cell(open_end)))
    opened = sum(c[1] for c in counts.values())
    closed = sum(c[2] for c in counts.values())
    rows.append(
        (
            "all",
            "All rules",
            cell(opened),
            cell(closed),
            f"{closed / opened:.4f}" if opened else "",
            cell(sum(c[3] for c in counts.values())),
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
    return adherence_sums_table(adherence_sums(adherence))


def adherence_sums_table(sums: Mapping[str, tuple[Any, ...]]) -> Table:
    """:func:`adherence_table` from the sums of :func:`adherence_sums` (classes in name order)."""
    rows = []
    for drug_class in sorted(sums):
        patients, total, valued, under = sums[drug_class]
        mean = total / valued if valued else None
        rows.append(
            (
                drug_class,
                cell(patients),
                "" if mean is None else f"{mean:.4f}",
                cell(under),
            )
        )
    return Table(
        name="adherence_by_class",
        title="Adherence: proportion of days covered by drug class",
        columns=("drug_class", "patients", "mean_pdc", "under_80_percent"),
        rows=tuple(rows),
    )
