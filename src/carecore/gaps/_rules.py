"""Care-gap rules as values, read from the shipped, cited data (``data/rules.json``)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import attrs
import pendulum

from carecore import errors
from carecore.model import AdministrativeSex, CodeSystem, Condition

__all__ = [
    "CodeSet",
    "EvidenceStep",
    "EvidenceWay",
    "GapRule",
    "Lookback",
    "Population",
    "RuleSource",
    "builtin_rules",
    "rule_from_dict",
]

#: The code systems a rule's codes may be in (as :class:`~carecore.model.ClinicalService` names them).
SYSTEMS = ("ICD10CM", "SNOMED", "LOINC", "CPT", "HCPCS", "CVX")


@attrs.frozen(kw_only=True)
class CodeSet:
    """Codes by system; ICD-10-CM codes match by prefix (``E11`` matches ``E11.65``)."""

    label: str = ""
    codes: frozenset[tuple[str, str]] = frozenset()
    icd10_prefixes: tuple[str, ...] = ()

    def matches(self, system: str, code: str) -> bool:
        """Whether *code* of *system* is in the set."""
        if system == "ICD10CM":
            plain = code.replace(".", "").upper()
            return any(plain.startswith(p.replace(".", "").upper()) for p in self.icd10_prefixes)
        return (system, code) in self.codes

    def matches_condition(self, condition: Condition) -> bool:
        """Whether a condition's coding is in the set."""
        system = "ICD10CM" if condition.coding.system is CodeSystem.ICD10CM else "SNOMED"
        return self.matches(system, condition.coding.code)


@attrs.frozen(kw_only=True)
class Lookback:
    """How far back a record counts: years, months, days, since a season's start, or ever."""

    years: int = 0
    months: int = 0
    days: int = 0
    season_start: tuple[int, int] | None = None  #: (month, day), e.g. (8, 1)
    ever: bool = False

    def window_start(self, on: pendulum.Date) -> pendulum.Date | None:
        """The first day a record counts on *on* (None: any record counts).

        A record counts when it is after ``on`` minus the look-back, so one
        exactly a look-back old no longer counts: its anniversary is the day
        it is due again. A season's window starts on its start day.
        """
        if self.ever:
            return None
        if self.season_start is not None:
            month, day = self.season_start
            start = pendulum.Date(on.year, month, day)
            return start if start <= on else pendulum.Date(on.year - 1, month, day)
        return on.subtract(years=self.years, months=self.months, days=self.days).add(days=1)

    def expires(self, done: pendulum.Date) -> pendulum.Date | None:
        """The day a record from *done* stops counting (None: never)."""
        if self.ever:
            return None
        if self.season_start is not None:
            month, day = self.season_start
            start = pendulum.Date(done.year, month, day)
            return start if start > done else pendulum.Date(done.year + 1, month, day)
        return done.add(years=self.years, months=self.months, days=self.days)

    def describe(self) -> str:
        """In words."""
        if self.ever:
            return "ever"
        if self.season_start is not None:
            return f"since {self.season_start[0]:02d}-{self.season_start[1]:02d} of the season"
        parts = [
            f"{n} {unit}{'s' if n != 1 else ''}"
            for n, unit in ((self.years, "year"), (self.months, "month"), (self.days, "day"))
            if n
        ]
        return "within " + " ".join(parts)


@attrs.frozen(kw_only=True)
class EvidenceStep:
    """One thing a way of closing a gap needs: codes, how many, how recent.

    ``bp_below`` (systolic, diastolic) makes the step a control check: the
    latest blood pressure in the window must be below both.
    """

    codes: CodeSet
    lookback: Lookback
    count: int = 1
    bp_below: tuple[int, int] | None = None


@attrs.frozen(kw_only=True)
class EvidenceWay:
    """One way of closing a gap: every step met."""

    label: str
    steps: tuple[EvidenceStep, ...]


@attrs.frozen(kw_only=True)
class Population:
    """Who a rule is for: age (inclusive, in whole years), sex, conditions, exclusions."""

    min_age: int | None = None
    max_age: int | None = None
    sex: AdministrativeSex | None = None
    conditions: tuple[CodeSet, ...] = ()  #: any one of them
    exclusions: tuple[CodeSet, ...] = ()


@attrs.frozen(kw_only=True)
class RuleSource:
    """Where a rule comes from."""

    publisher: str
    title: str
    url: str
    grade: str = ""
    #: The day the cited version was published (for a measure, its first measurement year's start).
    published: pendulum.Date | None = None


@attrs.frozen(kw_only=True)
class GapRule:
    """A preventive or chronic-care rule, effective from one day to another (inclusive)."""

    id: str
    version: str
    title: str
    kind: str
    effective_from: pendulum.Date
    effective_to: pendulum.Date | None
    population: Population
    evidence: tuple[EvidenceWay, ...]
    source: RuleSource
    grace_days: int = 90
    note: str = ""

    def in_effect(self, on: pendulum.Date) -> bool:
        """Whether the rule applies on *on*."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


def _code_set(raw: dict[str, Any], where: str) -> CodeSet:
    codes: set[tuple[str, str]] = set()
    prefixes: tuple[str, ...] = ()
    for key, values in raw.items():
        if key in {"label", "lookback", "count", "bp_below"}:
            continue
        if key not in SYSTEMS:
            raise errors.InvalidValue(
                f"unknown code system (known: {', '.join(SYSTEMS)})", field=where, value=key
            )
        if not isinstance(values, list) or not all(isinstance(c, str) and c for c in values):
            raise errors.InvalidValue(
                "must be a list of codes", field=f"{where}.{key}", value=values
            )
        if key == "ICD10CM":
            prefixes = tuple(values)
        else:
            codes.update((key, c) for c in values)
    return CodeSet(label=str(raw.get("label", "")), codes=frozenset(codes), icd10_prefixes=prefixes)


def _lookback(raw: object, where: str) -> Lookback:
    if not isinstance(raw, dict):
        raise errors.InvalidValue("must be an object", field=where, value=raw)
    if raw.get("ever"):
        return Lookback(ever=True)
    if "season_start" in raw:
        text = str(raw["season_start"])
        try:
            month, day = (int(p) for p in text.split("-"))
            pendulum.Date(2001, month, day)
        except ValueError:
            raise errors.InvalidValue(
                "must be MM-DD", field=f"{where}.season_start", value=text
            ) from None
        return Lookback(season_start=(month, day))
    parts = {k: raw.get(k, 0) for k in ("years", "months", "days")}
    if not all(isinstance(n, int) and n >= 0 for n in parts.values()) or not any(parts.values()):
        raise errors.InvalidValue(
            "needs years, months or days (whole numbers), a season_start or ever",
            field=where,
            value=raw,
        )
    return Lookback(**parts)


def _date(raw: object, where: str) -> pendulum.Date:
    try:
        return pendulum.Date.fromisoformat(str(raw))
    except ValueError:
        raise errors.InvalidValue("must be YYYY-MM-DD", field=where, value=raw) from None


def rule_from_dict(raw: dict[str, Any]) -> GapRule:
    """A rule from its JSON form (as in the shipped data); a typed error names a bad field."""
    if not isinstance(raw, dict):
        raise errors.InvalidValue("must be an object", field="rule", value=raw)
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise errors.InvalidValue("is required", field="rule.id", value=rid)
    where = f"rule[{rid}]"
    pop = raw.get("population") or {}
    sex = pop.get("sex")
    try:
        population = Population(
            min_age=pop.get("min_age"),
            max_age=pop.get("max_age"),
            sex=None if sex is None else AdministrativeSex(sex),
            conditions=tuple(
                _code_set(c, f"{where}.population.conditions[{i}]")
                for i, c in enumerate(pop.get("conditions") or ())
            ),
            exclusions=tuple(
                _code_set(c, f"{where}.exclusions[{i}]")
                for i, c in enumerate(raw.get("exclusions") or ())
            ),
        )
    except ValueError as exc:
        raise errors.InvalidValue(str(exc), field=f"{where}.population", value=pop) from None
    ways = []
    for i, way in enumerate(raw.get("evidence") or ()):
        steps = []
        for j, step in enumerate(way.get("steps") or ()):
            at = f"{where}.evidence[{i}].steps[{j}]"
            bp = step.get("bp_below")
            steps.append(
                EvidenceStep(
                    codes=_code_set(step, at),
                    lookback=_lookback(step.get("lookback"), f"{at}.lookback"),
                    count=int(step.get("count", 1)),
                    bp_below=None if bp is None else (int(bp[0]), int(bp[1])),
                )
            )
        if not steps:
            raise errors.InvalidValue(
                "needs at least one step", field=f"{where}.evidence[{i}]", value=way
            )
        ways.append(EvidenceWay(label=str(way.get("label", "")), steps=tuple(steps)))
    if not ways:
        raise errors.InvalidValue(
            "needs at least one way to close it", field=f"{where}.evidence", value=None
        )
    src = raw.get("source") or {}
    for key in ("publisher", "title", "url"):
        if not isinstance(src.get(key), str) or not src[key]:
            raise errors.InvalidValue(
                "is required: every rule cites its source",
                field=f"{where}.source.{key}",
                value=src.get(key),
            )
    end = raw.get("effective_to")
    return GapRule(
        id=rid,
        version=str(raw.get("version", "")),
        title=str(raw.get("title") or rid),
        kind=str(raw.get("kind", "preventive")),
        effective_from=_date(raw.get("effective_from"), f"{where}.effective_from"),
        effective_to=None if end is None else _date(end, f"{where}.effective_to"),
        population=population,
        evidence=tuple(ways),
        source=RuleSource(
            publisher=src["publisher"],
            title=src["title"],
            url=src["url"],
            grade=str(src.get("grade", "")),
            published=None
            if src.get("published") is None
            else _date(src["published"], f"{where}.source.published"),
        ),
        grace_days=int(raw.get("grace_days", 90)),
        note=str(raw.get("note", "")),
    )


@functools.cache
def builtin_rules() -> tuple[GapRule, ...]:
    """Carecore's shipped rules, every version (see the gaps explanation page)."""
    text = resources.files("carecore.gaps").joinpath("data/rules.json").read_text(encoding="utf-8")
    return tuple(rule_from_dict(r) for r in json.loads(text)["rules"])
