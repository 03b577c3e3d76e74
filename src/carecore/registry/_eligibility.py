"""Eligibility per program, with the rule, the conditions and the records behind it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import attrs
import pendulum
from attrs import frozen

from carecore import errors
from carecore.billing._engine import condition_groups
from carecore.billing.facts import ChronicCondition
from carecore.billing.primitives import CONDITIONS_NEEDED
from carecore.billing.rules import Switches
from carecore.conditions import (
    SignificantRisk,
    at_significant_risk,
    billing_code,
    classify,
    is_chronic,
)
from carecore.model import CodeSystem, Condition, CoveragePlan, Patient, ServiceFamily
from carecore.model.validators import check_date

if TYPE_CHECKING:
    from collections.abc import Iterable

    from carecore.model import Coverage

__all__ = [
    "PROGRAMS",
    "Criterion",
    "Eligibility",
    "eligibility",
    "registry",
]

#: The programs the registry checks, in the order it reports them.
PROGRAMS: tuple[ServiceFamily, ...] = (
    ServiceFamily.CCM,
    ServiceFamily.PCM,
    ServiceFamily.BHI,
    ServiceFamily.APCM,
)

#: The engine's condition rules (S1: CCM; S30, S82: PCM), read from the billing primitives.
_CCM_CONDITIONS, _CCM_MONTHS = CONDITIONS_NEEDED[ServiceFamily.CCM]
_PCM_MONTHS = CONDITIONS_NEEDED[ServiceFamily.PCM][1]


@frozen(kw_only=True)
class Criterion:
    """One rule checked for one patient: met (True), not met (False) or unknown (None).

    ``records`` are the ids of the records the check used. ``needs`` names
    what would meet a criterion that is not met: ``"attestation"`` when the
    billing practitioner's attestation of significant risk for chronic
    conditions the patient has is all that is missing: by default (the
    switch ``significant_risk_from`` ``TABLE``) for chronic conditions the
    condition-group table does not place at significant risk (anemia,
    obesity); with ``ATTESTED``, for any chronic condition not attested yet.

    >>> Criterion(rule="alive", met=True, detail="alive on 2026-03-01").met
    True
    """

    rule: str
    met: bool | None
    detail: str
    records: tuple[str, ...] = ()
    needs: str | None = None


@frozen(kw_only=True)
class Eligibility:
    """Whether one patient qualifies for one program on one day, and why.

    ``eligible`` is true when no criterion failed; ``verified`` when every
    criterion is known to be met (an unknown coverage leaves it false);
    ``needs_attestation`` when the only criteria not met need an attestation.
    ``status`` says which of the three (``eligible``, ``needs attestation``,
    ``not eligible``). ``conditions`` are the codes of the qualifying
    conditions (counted, and, when an attestation is needed, proposed);
    ``condition_names`` says the same conditions in words, in the same
    order, each with its code in brackets (``"Essential (primary)
    hypertension (I10)"``); ``condition_systems`` says, in the same order,
    the code system of each (ICD-10-CM or SNOMED CT). ``to_attest`` are
    the codes, among ``conditions``, of those the billing practitioner's
    attestation of significant risk would count (the rest count already);
    empty unless the patient needs attestation.

    >>> e = Eligibility(patient_id="p1", family=ServiceFamily.CCM, as_of=pendulum.Date(2026, 3, 1),
    ...     criteria=(Criterion(rule="alive", met=True, detail="alive"),
    ...               Criterion(rule="coverage.medicare_part_b", met=None, detail="coverage unknown")))
    >>> e.eligible, e.verified
    (True, False)
    >>> print(e.explanation)
    p1 eligible for CCM on 2026-03-01 (not verified)
      [met] alive: alive
      [unknown] coverage.medicare_part_b: coverage unknown
    """

    patient_id: str
    family: ServiceFamily
    as_of: pendulum.Date
    criteria: tuple[Criterion, ...]
    conditions: tuple[str, ...] = ()
    level: int | None = None
    condition_names: tuple[str, ...] = ()
    condition_systems: tuple[CodeSystem, ...] = ()
    to_attest: tuple[str, ...] = ()

    @property
    def eligible(self) -> bool:
        """No criterion failed (unknown ones do not exclude)."""
        return all(c.met is not False for c in self.criteria)

    @property
    def verified(self) -> bool:
        """Every criterion is known to be met."""
        return all(c.met is True for c in self.criteria)

    @property
    def needs_attestation(self) -> bool:
        """Every criterion not met needs only an attestation."""
        failed = [c for c in self.criteria if c.met is False]
        return bool(failed) and all(c.needs == "attestation" for c in failed)

    @property
    def status(self) -> str:
        """``eligible``, ``needs attestation`` or ``not eligible``."""
        if self.eligible:
            return "eligible"
        return "needs attestation" if self.needs_attestation else "not eligible"

    @property
    def explanation(self) -> str:
        """One line for the outcome, then one line per criterion."""
        level = f" at level {self.level}" if self.level is not None and self.eligible else ""
        unverified = " (not verified)" if self.eligible and not self.verified else ""
        head = f"{self.patient_id} {self.status} for {self.family.value}{level} on {self.as_of}{unverified}"
        marks = {True: "met", False: "not met", None: "unknown"}
        lines = [
            f"  [{'needs ' + c.needs if c.met is False and c.needs else marks[c.met]}] "
            f"{c.rule}: {c.detail}"
            for c in self.criteria
        ]
        return "\n".join([head, *lines])


def _check_family(family: object) -> ServiceFamily:
    if family not in PROGRAMS:
        raise errors.InvalidValue(
            f"the registry checks {', '.join(f.value for f in PROGRAMS)}",
            field="family",
            value=family,
        )
    assert isinstance(family, ServiceFamily)  # noqa: S101 - PROGRAMS holds only families
    return family


def _lasts(condition: Condition, months: int) -> bool:
    expected = condition.expected_duration_months
    return expected is None or expected >= months


def condition_name(condition: Condition) -> str:
    """A condition in words, its code in brackets; the bare code when nothing names it.

    The record's own display text (a SNOMED CT one without its semantic tag,
    ``(disorder)``), else the condition-group table's.

    >>> from carecore.model import Coding
    >>> condition_name(Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("I10")))
    'Essential (primary) hypertension (I10)'
    """
    group = classify(condition.coding)
    text = condition.coding.display or (None if group is None else group.display)
    if not text:
        return condition.coding.code
    if condition.coding.system is CodeSystem.SNOMEDCT:
        text = _SEMANTIC_TAG.sub("", text) or text
    return f"{text} ({condition.coding.code})"


#: The semantic tag a SNOMED CT description ends with: ``Prediabetes (finding)``.
_SEMANTIC_TAG = re.compile(r"\s+\([a-z][a-z /-]*\)$")


def _describe(conditions: Iterable[Condition], switches: Switches) -> str:
    """The conditions of a reason, in words with codes (:func:`condition_name`), by disease.

    Grouped as :func:`_distinct` counts them, so that the names match the
    count: the conditions of one disease joined by ``+``, diseases by commas.
    A code that counts for nothing stands alone.
    """
    mine = list(conditions)
    codes = dict.fromkeys(billing_code(c.coding) for c in mine)
    groups, _not_billable = condition_groups(
        tuple(ChronicCondition(icd10=code) for code in codes), switches
    )
    disease = {code: n for n, group in enumerate(groups) for code, _ in group}
    names: dict[int | str, set[str]] = {}
    for c in mine:
        code = billing_code(c.coding)
        names.setdefault(disease.get(code, code), set()).add(condition_name(c))
    return ", ".join(sorted(" + ".join(sorted(n)) for n in names.values())) or "none"


def _distinct(conditions: Iterable[Condition], switches: Switches) -> int:
    """How many diseases, as the engine counts them (:func:`carecore.billing.condition_groups`).

    Each condition by the ICD-10-CM code it is billed by
    (:func:`carecore.conditions.billing_code`, as the month close passes it),
    codes of one category one disease (the default switches), records of one
    code (one per encounter, as EHR feeds send) once; a code that is not a
    billable ICD-10-CM code (a category, a SNOMED CT concept the table does
    not map) counts for nothing, as in the engine.
    """
    codes = dict.fromkeys(billing_code(c.coding) for c in conditions)
    groups, _not_billable = condition_groups(
        tuple(ChronicCondition(icd10=code) for code in codes), switches
    )
    return len(groups)


def _not_billable(conditions: Iterable[Condition], switches: Switches) -> str:
    """The codes that count for nothing in the engine (not billable ICD-10-CM), for a reason."""
    codes = sorted(
        code
        for code in {billing_code(c.coding) for c in conditions}
        if condition_groups((ChronicCondition(icd10=code),), switches)[1]
    )
    if not codes:
        return ""
    verb = "counts" if len(codes) == 1 else "count"
    return (
        f"; {', '.join(codes)} {verb} for nothing: not a billable ICD-10-CM code (a SNOMED CT "
        "concept is counted by its row in the condition-group table)"
    )


def _counted(condition: Condition, months: int, switches: Switches) -> bool:
    """At significant risk (:func:`carecore.conditions.at_significant_risk`), lasting long enough."""
    return (
        is_chronic(condition)
        and at_significant_risk(condition, switches.significant_risk_from)
        and _lasts(condition, months)
    )


def _proposed(condition: Condition, months: int, switches: Switches) -> bool:
    """Not counted, but chronic and lasting long enough: an attestation would count it.

    The billing practitioner's attestation of significant risk
    (:meth:`carecore.service.CareProgram.attest_conditions`) makes any
    chronic condition count (:func:`carecore.conditions.at_significant_risk`).
    By default (``SignificantRisk.TABLE``) these are the chronic conditions
    the table does not place at significant risk (anemia, obesity) or does
    not know; under ``SignificantRisk.ATTESTED`` every chronic one not
    attested yet.
    """
    return (
        not _counted(condition, months, switches)
        and is_chronic(condition)
        and _lasts(condition, months)
    )


def _at_risk(
    rule: str,
    active: list[Condition],
    what: tuple[int, int, str],
    switches: Switches,
) -> tuple[Criterion, list[Condition]]:
    """The CCM or PCM condition rule: counted conditions meet it; proposed ones need attesting."""
    months, needed, lasting = what
    counted = [c for c in active if _counted(c, months, switches)]
    proposed = [c for c in active if _proposed(c, months, switches)]
    have = _distinct(counted, switches)
    how = (
        "attested"
        if switches.significant_risk_from is SignificantRisk.ATTESTED
        else "by the condition-group table or attestation"
    )
    head = (
        f"{have} chronic condition(s) expected to last {lasting} with significant risk "
        f"{how} ({_describe(counted, switches)})"
    ) + _not_billable(counted, switches)
    if have >= needed:
        return Criterion(
            rule=rule, met=True, detail=head, records=tuple(c.id for c in counted)
        ), counted
    both = counted + proposed
    could = _distinct(both, switches)
    if proposed and could >= needed:
        return Criterion(
            rule=rule,
            met=False,
            needs="attestation",
            detail=f"{head}; {_distinct(proposed, switches)} more chronic condition(s) "
            f"({_describe(proposed, switches)}) would count once the billing practitioner attests "
            "their significant risk",
            records=tuple(c.id for c in both),
        ), both
    tail = (
        f"; {_distinct(proposed, switches)} more chronic condition(s) an attestation "
        f"could count ({_describe(proposed, switches)})"
    )
    return Criterion(
        rule=rule,
        met=False,
        detail=head + (tail if proposed else ""),
        records=tuple(c.id for c in both),
    ), counted


def _clinical(
    family: ServiceFamily, active: list[Condition], switches: Switches
) -> tuple[Criterion, list[Condition]]:
    if family is ServiceFamily.CCM:
        criterion, found = _at_risk(
            "ccm.two_chronic_conditions",
            active,
            (_CCM_MONTHS, _CCM_CONDITIONS, f"{_CCM_MONTHS} months or until death"),
            switches,
        )
        return attrs.evolve(
            criterion, detail=f"{criterion.detail}; CCM needs {_CCM_CONDITIONS} (source S1)"
        ), found
    if family is ServiceFamily.PCM:
        criterion, found = _at_risk(
            "pcm.one_high_risk_condition",
            active,
            (_PCM_MONTHS, 1, f"{_PCM_MONTHS} months or more"),
            switches,
        )
        return attrs.evolve(
            criterion, detail=f"{criterion.detail}; PCM needs 1 (sources S2, S30)"
        ), found
    if family is ServiceFamily.BHI:
        found = [c for c in active if c.behavioral]
        return (
            Criterion(
                rule="bhi.behavioral_condition",
                met=bool(found),
                detail=f"{_distinct(found, switches)} behavioral health condition(s) ({_describe(found, switches)}); "
                "BHI needs 1 (source S3)",
                records=tuple(c.id for c in found),
            ),
            found,
        )
    found = [c for c in active if is_chronic(c) and _lasts(c, _CCM_MONTHS)]
    level = 2 if _distinct(found, switches) >= _CCM_CONDITIONS else 1
    return (
        Criterion(
            rule="apcm.level",
            met=True,
            detail=f"{_distinct(found, switches)} chronic condition(s) ({_describe(found, switches)}): level {level} "
            "(source S50; level 3 also needs QMB status, which carecore does not record)",
            records=tuple(c.id for c in found),
        ),
        found,
    )


def _alive(patient: Patient, day: pendulum.Date) -> Criterion:
    dead = patient.date_of_death is not None and patient.date_of_death <= day
    return Criterion(
        rule="alive",
        met=not dead,
        detail=f"died on {patient.date_of_death}" if dead else f"alive on {day}",
        records=(patient.id,),
    )


def coverage_criterion(
    patient: Patient, day: pendulum.Date, coverages: Iterable[Coverage] | None
) -> Criterion:
    """The registry's Medicare Part B criterion for *patient* on *day*, from *coverages*.

    ``met`` is True with an active Part B coverage, False with coverage on
    file but none of it Part B, and None (unknown, which does not exclude)
    when *coverages* is None or holds none of the patient's. A simulation
    panel or any other caller deciding who is covered asks this, so it
    decides as the registry does.
    """
    rule = "coverage.medicare_part_b"
    if coverages is None:
        return Criterion(
            rule=rule, met=None, detail="coverage unknown: not given; Medicare Part B not verified"
        )
    mine = [c for c in coverages if c.patient_id == patient.id]
    if not mine:
        return Criterion(
            rule=rule,
            met=None,
            detail="coverage unknown: no coverage on file; Medicare Part B not verified",
        )
    active = [c for c in mine if c.active_on(day)]
    part_b = [c for c in active if c.plan is CoveragePlan.MEDICARE_PART_B]
    if part_b:
        return Criterion(
            rule=rule,
            met=True,
            detail=f"Medicare Part B active on {day} ({part_b[0].payer})",
            records=tuple(c.id for c in part_b),
        )
    plans = ", ".join(sorted({c.plan.value for c in active})) or "none active"
    return Criterion(
        rule=rule,
        met=False,
        detail=f"no active Medicare Part B coverage on {day} (plans: {plans}); "
        "the CMS rules are Part B fee-for-service rules",
        records=tuple(c.id for c in mine),
    )


def eligibility(
    patient: Patient,
    family: ServiceFamily,
    *,
    as_of: pendulum.Date,
    conditions: Iterable[Condition] = (),
    coverages: Iterable[Coverage] | None = None,
    switches: Switches | None = None,
) -> Eligibility:
    """Whether *patient* qualifies for *family* on *as_of*, with every criterion checked.

    Conditions of other patients are ignored. *coverages* None means the
    caller has no coverage data (the coverage criterion is then unknown).
    *switches* are the billing rule set's (default: ``Switches()``, as the
    CMS rule sets): how conditions group into diseases and where significant
    risk comes from (``significant_risk_from``), so that the registry and
    the month close decide alike.

    >>> from carecore.model import AdministrativeSex, Coding
    >>> ada = Patient(id="p1", given_name="Ada", family_name="Okafor", birth_date=pendulum.Date(1948, 3, 2),
    ...     sex=AdministrativeSex.FEMALE, time_zone="America/Chicago")
    >>> conds = [Condition(id=f"c{i}", patient_id="p1", coding=Coding.icd10cm(code), chronic=True,
    ...     significant_risk=True) for i, code in enumerate(["E11.9", "I50.22"])]
    >>> e = eligibility(ada, ServiceFamily.CCM, as_of=pendulum.Date(2026, 3, 1), conditions=conds)
    >>> e.eligible, e.verified, e.conditions
    (True, False, ('E11.9', 'I50.22'))
    """
    if not isinstance(patient, Patient):
        raise errors.InvalidValue("must be a Patient", field="patient", value=patient)
    fam = _check_family(family)
    day = check_date(as_of, "as_of")
    active = sorted(
        (c for c in conditions if c.patient_id == patient.id and c.active_on(day)),
        key=lambda c: (c.coding.code, c.id),
    )
    sw = Switches() if switches is None else switches
    if not isinstance(sw, Switches):
        raise errors.InvalidValue("must be billing Switches", field="switches", value=switches)
    clinical, found = _clinical(fam, active, sw)
    months = _PCM_MONTHS if fam is ServiceFamily.PCM else _CCM_MONTHS
    proposed = (
        {c.coding.code for c in found if _proposed(c, months, sw)}
        if clinical.needs == "attestation"
        else set()
    )
    # Every program here is a Medicare Part B service.
    criteria = [_alive(patient, day), clinical, coverage_criterion(patient, day, coverages)]
    named: dict[str, tuple[str, CodeSystem]] = {}
    for c in found:  # one name per code: the first record's
        named.setdefault(c.coding.code, (condition_name(c), c.coding.system))
    level = None
    if fam is ServiceFamily.APCM:
        level = 2 if _distinct(found, sw) >= _CCM_CONDITIONS else 1
    return Eligibility(
        patient_id=patient.id,
        family=fam,
        as_of=day,
        criteria=tuple(criteria),
        conditions=tuple(named),
        level=level,
        condition_names=tuple(name for name, _ in named.values()),
        condition_systems=tuple(system for _, system in named.values()),
        to_attest=tuple(code for code in named if code in proposed),
    )


def registry(
    patients: Iterable[Patient],
    *,
    as_of: pendulum.Date,
    conditions: Iterable[Condition] = (),
    coverages: Iterable[Coverage] | None = None,
    families: Iterable[ServiceFamily] = PROGRAMS,
    switches: Switches | None = None,
) -> tuple[Eligibility, ...]:
    """Eligibility of every patient for every program in *families*, patient by patient.

    >>> registry([], as_of=pendulum.Date(2026, 3, 1))
    ()
    """
    day = check_date(as_of, "as_of")
    wanted = tuple(_check_family(f) for f in families)
    by_patient: dict[str, list[Condition]] = {}
    for condition in conditions:
        by_patient.setdefault(condition.patient_id, []).append(condition)
    covered_by: dict[str, list[Coverage]] | None = None
    if coverages is not None:
        covered_by = {}
        for coverage in coverages:
            covered_by.setdefault(coverage.patient_id, []).append(coverage)
    out: list[Eligibility] = []
    for patient in sorted(patients, key=lambda p: p.id):
        mine = by_patient.get(patient.id, [])
        covered = None if covered_by is None else covered_by.get(patient.id, [])
        out.extend(
            eligibility(
                patient, fam, as_of=day, conditions=mine, coverages=covered, switches=switches
            )
            for fam in wanted
        )
    return tuple(out)
