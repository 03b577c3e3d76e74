"""The condition-group table: which codes are chronic conditions, and which place a patient at significant risk.

The table is package data (``carecore/conditions/data/condition_groups.csv``;
its sources are in ``SOURCES.md`` beside it and in
docs/explanation/records-in.md). It sits below billing and the registry so
that both read a condition through the same functions: :func:`billing_code`
(the ICD-10-CM code a condition is counted and billed by),
:func:`is_chronic` and :func:`at_significant_risk` (with the program's
:class:`SignificantRisk` setting).
"""

from __future__ import annotations

import csv
import enum
import functools
from importlib import resources

from attrs import frozen

from carecore import errors
from carecore.model import CodeSystem, Coding, Condition

__all__ = [
    "ConditionGroup",
    "SignificantRisk",
    "at_significant_risk",
    "billing_code",
    "classify",
    "condition_groups",
    "counted_code",
    "is_chronic",
]

_SYSTEMS = {"icd10cm": CodeSystem.ICD10CM, "snomedct": CodeSystem.SNOMEDCT}


@frozen(kw_only=True)
class ConditionGroup:
    """One row of the table: a SNOMED CT concept or an ICD-10-CM prefix and its group.

    ``significant_risk`` says whether the group places a patient at
    significant risk (under :attr:`SignificantRisk.TABLE`, the default, a
    chronic condition of the group counts so; under
    :attr:`SignificantRisk.ATTESTED` the billing practitioner attests it);
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
    text = resources.files("carecore.conditions").joinpath("data", "condition_groups.csv")
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
def _index() -> tuple[dict[str, ConditionGroup], dict[str, ConditionGroup]]:
    """The SNOMED CT rows by concept, and the ICD-10-CM rows by their code (a prefix).

    Of ICD-10-CM rows with one code, the first in the table counts.
    """
    snomed = {g.code: g for g in condition_groups() if g.system is CodeSystem.SNOMEDCT}
    prefixes: dict[str, ConditionGroup] = {}
    for g in condition_groups():
        if g.system is CodeSystem.ICD10CM:
            prefixes.setdefault(g.code, g)
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
    code = coding.code
    if coding.system is CodeSystem.SNOMEDCT:
        return snomed.get(code)
    # The longest row code the code starts with: each of its prefixes, longest first
    # (a look-up each, where a scan of every row ran for every condition classified).
    for end in range(len(code), 0, -1):
        found = prefixes.get(code[:end])
        if found is not None:
            return found
    return None


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


def billing_code(coding: Coding) -> str:
    """The ICD-10-CM code a condition is counted and billed by.

    An ICD-10-CM code is its own; a SNOMED CT concept is counted by its
    table row's ICD-10-CM code. A SNOMED CT concept the table has no row for
    is returned as it is, so the engine names it as a code that counts for
    nothing instead of dropping it without a word.

    >>> billing_code(Coding(system=CodeSystem.SNOMEDCT, code="38341003"))
    'I10'
    >>> billing_code(Coding.icd10cm("E11.9"))
    'E11.9'
    >>> billing_code(Coding(system=CodeSystem.SNOMEDCT, code="15777000"))
    '15777000'
    """
    if not isinstance(coding, Coding):
        raise errors.InvalidValue("must be a Coding", field="coding", value=coding)
    return counted_code(coding) or coding.code


class SignificantRisk(enum.StrEnum):
    """Where a chronic condition's significant risk comes from (a program-wide setting).

    ``TABLE`` (the default): the condition's group in the table says so, or
    the billing practitioner attests it (for conditions the table does not
    know or does not place at significant risk). ``ATTESTED``: only an
    attestation (the record's ``significant_risk`` flag) counts; the table
    proposes. Under either, a patient whose chronic conditions would qualify
    once some of them are attested is listed by the registry as "needs
    attestation".
    """

    TABLE = "table"
    ATTESTED = "attested"


def is_chronic(condition: Condition) -> bool:
    """Chronic by the record's flag or by the table.

    >>> is_chronic(Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("I10")))
    True
    """
    return condition.chronic or classify(condition.coding) is not None


def at_significant_risk(
    condition: Condition, source: SignificantRisk = SignificantRisk.TABLE
) -> bool:
    """Whether *condition* counts as placing the patient at significant risk.

    Attested (the record's flag) and chronic; or, with *source* ``TABLE``, in
    a group the table places at significant risk. How long it is expected to
    last, and whether it is active, are the caller's checks.

    >>> ckd = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("N18.4"))
    >>> at_significant_risk(ckd), at_significant_risk(ckd, SignificantRisk.ATTESTED)
    (True, False)
    >>> at_significant_risk(ckd, "attested")
    False
    """
    if not isinstance(condition, Condition):
        raise errors.InvalidValue("must be a Condition", field="condition", value=condition)
    if source not in (SignificantRisk.TABLE, SignificantRisk.ATTESTED):
        raise errors.InvalidValue(
            "must be a SignificantRisk (table or attested)", field="source", value=source
        )
    # The text "attested" passes the check above (a StrEnum equals its value): read it
    # as the member, or it would count as TABLE below while equal to ATTESTED in a key.
    source = SignificantRisk(source)
    if condition.significant_risk:
        return is_chronic(condition)
    if source is SignificantRisk.ATTESTED:
        return False
    group = classify(condition.coding)
    return group is not None and group.significant_risk
