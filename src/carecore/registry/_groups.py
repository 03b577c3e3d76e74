"""The condition-group table: which codes are chronic conditions, and which carecore proposes as significant risk.

The table is package data (``carecore/registry/data/condition_groups.csv``;
its sources are in ``SOURCES.md`` beside it and in
docs/explanation/records-in.md).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

from attrs import frozen

from carecore import errors
from carecore.model import CodeSystem, Coding

__all__ = ["ConditionGroup", "classify", "condition_groups", "counted_code"]

_SYSTEMS = {"icd10cm": CodeSystem.ICD10CM, "snomedct": CodeSystem.SNOMEDCT}


@frozen(kw_only=True)
class ConditionGroup:
    """One row of the table: a SNOMED CT concept or an ICD-10-CM prefix and its group.

    ``significant_risk`` says whether carecore proposes the group as placing a
    patient at significant risk (the billing practitioner attests it);
    ``basis`` is ``cms-example`` (a group CMS names as a chronic condition) or
    ``carecore`` (carecore's proposal). ``icd10cm`` is, for a SNOMED CT row,
    the ICD-10-CM code the condition is counted by.

    >>> classify(Coding.icd10cm("E11.9")).group
    'diabetes'
    """

    system: CodeSystem
    code: str
    group: str
    significant_risk: bool
    basis: str
    icd10cm: str | None
    display: str


@functools.cache
def condition_groups() -> tuple[ConditionGroup, ...]:
    """Every row of the shipped table.

    >>> len({g.group for g in condition_groups()}) >= 15
    True
    """
    text = resources.files("carecore.registry").joinpath("data", "condition_groups.csv")
    with text.open(encoding="utf-8") as handle:
        return tuple(
            ConditionGroup(
                system=_SYSTEMS[row["system"]],
                code=row["code"],
                group=row["group"],
                significant_risk=row["significant_risk"] == "true",
                basis=row["basis"],
                icd10cm=row["icd10cm"] or None,
                display=row["display"],
            )
            for row in csv.DictReader(handle)
        )


@functools.cache
def _index() -> tuple[dict[str, ConditionGroup], tuple[ConditionGroup, ...]]:
    snomed = {g.code: g for g in condition_groups() if g.system is CodeSystem.SNOMEDCT}
    prefixes = tuple(
        sorted(
            (g for g in condition_groups() if g.system is CodeSystem.ICD10CM),
            key=lambda g: -len(g.code),
        )
    )
    return snomed, prefixes


def classify(coding: Coding) -> ConditionGroup | None:
    """The condition group of *coding*, or None when the table does not know it as chronic.

    ICD-10-CM codes match the longest prefix; SNOMED CT concepts match exactly.

    >>> classify(Coding.icd10cm("I11.0")).group, classify(Coding.icd10cm("I11.9")).group
    ('heart-failure', 'hypertension')
    >>> classify(Coding(system=CodeSystem.SNOMEDCT, code="44054006")).icd10cm
    'E11.9'
    >>> classify(Coding.icd10cm("J02.9")) is None
    True
    """
    if not isinstance(coding, Coding):
        raise errors.InvalidValue("must be a Coding", field="coding", value=coding)
    snomed, prefixes = _index()
    if coding.system is CodeSystem.SNOMEDCT:
        return snomed.get(coding.code)
    return next((g for g in prefixes if coding.code.startswith(g.code)), None)


def counted_code(coding: Coding) -> str | None:
    """The ICD-10-CM code a condition is counted by: its own, or its SNOMED CT row's.

    >>> counted_code(Coding(system=CodeSystem.SNOMEDCT, code="38341003"))
    'I10'
    >>> counted_code(Coding(system=CodeSystem.SNOMEDCT, code="15777000")) is None
    True
    """
    if coding.system is CodeSystem.ICD10CM:
        return coding.code
    group = classify(coding)
    return None if group is None else group.icd10cm
