"""Proportion of days covered (PDC) per drug class, after the Pharmacy Quality Alliance method.

The method (PQA adherence measures, https://www.pqaalliance.org/adherence-measures;
used by CMS's Part D star ratings, https://www.cms.gov/medicare/health-drug-plans/part-c-d-performance-data):

- the **treatment period** runs from the **index fill** (the first fill of a
  drug of the class in the measurement period) to the end of the period;
- a patient is measured for a class only with two fills or more on different
  days in the period;
- each day of the treatment period is covered when some fill's supply covers
  it; a refill of the **same drug** before the previous supply ran out starts
  the day after it ends (**overlap shifting**); fills of **different drugs**
  of the class (a switch) are not shifted: a day covered by both counts once;
- supply past the end of the period is not counted;
- PDC = covered days / days in the treatment period; 80% is the usual threshold.
"""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import pendulum

from carecore import errors, limits
from carecore.medications._classes import drug_class_of
from carecore.model import validators as v
from carecore.model.medications import MedicationFill, medication_key

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "THRESHOLD",
    "ClassAdherence",
    "pdc",
    "pdc_by_class",
    "read_fills_csv",
    "read_fills_file",
]

#: The PDC at or above which a patient counts as adherent.
THRESHOLD = Decimal("0.80")


@attrs.frozen(kw_only=True)
class ClassAdherence:
    """One patient's adherence to one drug class over a measurement period."""

    patient_id: str
    drug_class: str
    index_date: pendulum.Date | None
    end: pendulum.Date
    days: int  #: days in the treatment period (0 when not measured)
    covered: int
    fills: int
    measured: bool  #: two fills or more on different days in the period
    reason: str = ""

    @property
    def pdc(self) -> Decimal | None:
        """Covered days over treatment days, to 4 places (None when not measured)."""
        if not self.measured or self.days == 0:
            return None
        return (Decimal(self.covered) / Decimal(self.days)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )

    @property
    def adherent(self) -> bool | None:
        """PDC at or above 80% (None when not measured)."""
        value = self.pdc
        return None if value is None else value >= THRESHOLD

    def percent(self) -> str:
        """The PDC as a percentage with one decimal (``"—"`` when not measured)."""
        value = self.pdc
        return "—" if value is None else f"{value * 100:.1f}%"


def pdc(
    fills: Iterable[MedicationFill], *, start: pendulum.Date, end: pendulum.Date
) -> ClassAdherence:
    """The PDC of *fills* (one patient, one drug class) over the period *start* to *end*.

    >>> D = pendulum.Date
    >>> fills = [MedicationFill(id=f"f{i}", patient_id="p1", text="Atorvastatin 20 MG",
    ...     drug_class="statin", filled_on=day, days_supply=30)
    ...     for i, day in enumerate([D(2026, 1, 1), D(2026, 1, 25), D(2026, 3, 1)])]
    >>> r = pdc(fills, start=D(2026, 1, 1), end=D(2026, 3, 31))
    >>> r.days, r.covered, r.percent()
    (90, 90, '100.0%')
    """
    start = v.check_date(start, "start")
    end = v.check_date(end, "end")
    if end < start:
        raise errors.InvalidValue("is before the start", field="end", value=end)
    items = sorted(
        (f for f in _checked(fills) if start <= f.filled_on <= end),
        key=lambda f: (f.filled_on, f.id),
    )
    classes = {f.drug_class for f in items}
    patients = {f.patient_id for f in items}
    if len(classes) > 1 or len(patients) > 1:
        raise errors.InvalidValue(
            "fills of one patient and one drug class only",
            field="fills",
            value=sorted(map(str, classes)),
        )
    patient = next(iter(patients), "")
    drug_class = next(iter(classes), None) or "unclassified"
    if len({f.filled_on for f in items}) < 2:  # noqa: PLR2004 - the method's two fills
        return ClassAdherence(
            patient_id=patient,
            drug_class=drug_class,
            index_date=items[0].filled_on if items else None,
            end=end,
            days=0,
            covered=0,
            fills=len(items),
            measured=False,
            reason="fewer than two fills on different days in the period",
        )
    index = items[0].filled_on
    covered: set[pendulum.Date] = set()
    by_drug: dict[str, list[MedicationFill]] = {}
    for f in items:
        by_drug.setdefault(medication_key(f.rxnorm, f.text), []).append(f)
    for drug_fills in by_drug.values():
        next_free = index
        for f in drug_fills:
            first = max(f.filled_on, next_free)  # overlap shifting, same drug only
            for offset in range(f.days_supply):
                day = first.add(days=offset)
                if day > end:
                    break
                covered.add(day)
            next_free = first.add(days=f.days_supply)
    days = (end - index).in_days() + 1
    return ClassAdherence(
        patient_id=patient,
        drug_class=drug_class,
        index_date=index,
        end=end,
        days=days,
        covered=len(covered),
        fills=len(items),
        measured=True,
    )


def pdc_by_class(
    fills: Iterable[MedicationFill], *, start: pendulum.Date, end: pendulum.Date
) -> list[ClassAdherence]:
    """PDC per (patient, drug class) of *fills* over *start* to *end*, in patient and class order."""
    groups: dict[tuple[str, str], list[MedicationFill]] = {}
    for f in _checked(fills):
        groups.setdefault((f.patient_id, f.drug_class or "unclassified"), []).append(f)
    out = []
    for (_, drug_class), group in sorted(groups.items()):
        same = [attrs.evolve(f, drug_class=drug_class) for f in group]
        if not any(start <= f.filled_on <= end for f in same):
            continue
        out.append(pdc(same, start=start, end=end))
    return out


def _checked(fills: Iterable[MedicationFill]) -> list[MedicationFill]:
    try:
        items = list(fills)
    except TypeError:
        raise errors.InvalidValue(
            "must be MedicationFill values", field="fills", value=fills
        ) from None
    for position, f in enumerate(items):
        if not isinstance(f, MedicationFill):
            raise errors.InvalidValue(
                "must be a MedicationFill", field=f"fills[{position}]", value=f
            )
    return items


_FILL_COLUMNS = ("patient_id", "filled_on", "days_supply", "drug_class", "drug")


def read_fills_csv(text: str, *, what: str = "fills CSV") -> list[MedicationFill]:
    r"""Fills from CSV text.

    The columns are ``patient_id, filled_on, days_supply, drug_class, drug``,
    and optionally ``fill_id`` and ``rxnorm``. An empty ``drug_class`` is
    read from the drug's name (:func:`carecore.medications.drug_class_of`).

    A bad row raises :class:`~carecore.errors.InvalidValue` naming the line and the column;
    a cell longer than the limit ``csv_cell`` (:mod:`carecore.limits`) raises
    :class:`~carecore.errors.InvalidInput` naming *what* and the line.

    >>> read_fills_csv("patient_id,filled_on,days_supply,drug_class,drug\np1,2026-01-02,30,statin,Atorvastatin 20 MG\n")[0].days_supply
    30
    """
    return _fills(io.StringIO(text, newline=""), what)


def read_fills_file(path: str | Path) -> list[MedicationFill]:
    """Fills from a UTF-8 CSV file (the columns of :func:`read_fills_csv`), read a line at a time.

    Besides the refusals of :func:`read_fills_csv` (which name the file), bytes
    that are not UTF-8 raise :class:`~carecore.errors.InvalidInput` and a
    missing file :class:`~carecore.errors.NotFound`.
    """
    file = Path(path)
    try:
        handle = file.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise errors.NotFound("no such file", field="file", value=str(file)) from None
    with handle:
        return _fills(handle, file.name)


def _fills(lines: Iterable[str], what: str) -> list[MedicationFill]:
    rows = limits.csv_rows(lines, what=what)
    header = [name.strip() for name in next(rows, [])]
    missing = [c for c in _FILL_COLUMNS if c not in header]
    if missing:
        raise errors.InvalidValue("missing columns", field="header", value=missing)
    out: list[MedicationFill] = []
    for line, cells in enumerate(rows, start=2):
        if not cells:
            continue  # a blank line, as csv.DictReader skips it
        row = dict(zip(header, cells + [""] * (len(header) - len(cells)), strict=False))
        out.append(_fill(line, row))
    return out


def _fill(line: int, row: dict[str, str]) -> MedicationFill:
    try:
        day = pendulum.Date.fromisoformat(row["filled_on"])
    except ValueError:
        raise errors.InvalidValue(
            "must be YYYY-MM-DD", field=f"line {line}: filled_on", value=row["filled_on"]
        ) from None
    try:
        supply = int(row["days_supply"])
    except ValueError:
        raise errors.InvalidValue(
            "must be a whole number of days",
            field=f"line {line}: days_supply",
            value=row["days_supply"],
        ) from None
    try:
        return MedicationFill(
            id=row.get("fill_id") or f"{row['patient_id']}-fill-{line}",
            patient_id=row["patient_id"],
            text=row["drug"],
            filled_on=day,
            days_supply=supply,
            drug_class=row["drug_class"] or drug_class_of(row["drug"] or ""),
            rxnorm=row.get("rxnorm") or None,
        )
    except errors.CarecoreError as exc:
        raise errors.InvalidValue(
            exc.reason, field=f"line {line}: {exc.field}", value=exc.value
        ) from None
