"""Gaps in care: which preventive and chronic care is due, overdue or closed, and why.

Rules are cited, effective-dated data (:func:`builtin_rules`: USPSTF A and B
recommendations, the ACIP adult schedule, diabetes care); an organisation adds
or replaces rules through the ``carecore_gap_rules`` hook. For a patient and a
day, :func:`evaluate` gives each rule that applies as a :class:`Gap`: due,
overdue (since when) or closed (by which record), with the explanation.

The evidence is :class:`~carecore.model.ClinicalService` records
(immunizations, procedures, labs) and :class:`~carecore.model.Observation`
values (by LOINC; blood pressure for the control rule).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs
import pendulum

from carecore import errors
from carecore.gaps._rules import (
    CodeSet,
    EvidenceStep,
    EvidenceWay,
    GapRule,
    Lookback,
    Population,
    RuleSource,
    builtin_rules,
    rule_from_dict,
)
from carecore.model import ClinicalService, Condition, Observation, Patient
from carecore.model import validators as v

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "CodeSet",
    "EvidenceStep",
    "EvidenceWay",
    "Gap",
    "GapRule",
    "GapStatus",
    "Lookback",
    "Population",
    "Record",
    "RuleSource",
    "builtin_rules",
    "closure_rate",
    "evaluate",
    "evidence_codes",
    "records_of",
    "rule_from_dict",
    "rules_in_effect",
]

_SYSTOLIC = "8480-6"
_DIASTOLIC = "8462-4"


class GapStatus(enum.Enum):
    """Where a gap stands on a day."""

    DUE = "due"
    OVERDUE = "overdue"
    CLOSED = "closed"


@attrs.frozen(kw_only=True)
class Record:
    """A piece of evidence: a coded record on a day (``value`` for observations)."""

    id: str
    system: str
    code: str
    on: pendulum.Date
    text: str | None = None
    value: float | None = None


@attrs.frozen(kw_only=True)
class Gap:
    """One rule for one patient on one day, and why it stands where it does."""

    patient_id: str
    rule_id: str
    title: str
    kind: str
    status: GapStatus
    on: pendulum.Date
    since: pendulum.Date | None = None  #: due or overdue since
    closed_by: tuple[str, ...] = ()  #: the records that close it
    closed_on: pendulum.Date | None = None
    next_due: pendulum.Date | None = None
    explanation: str = ""
    source: str = ""  #: publisher, title and address of the rule's source
    rule_version: str = ""

    @property
    def open(self) -> bool:
        """Due or overdue."""
        return self.status is not GapStatus.CLOSED


def records_of(
    services: Iterable[ClinicalService] = (), observations: Iterable[Observation] = ()
) -> list[Record]:
    """Evidence records from clinical services and observations (by LOINC)."""
    out = [Record(id=s.id, system=s.system, code=s.code, on=s.on, text=s.text) for s in services]
    out += [
        Record(id=o.id, system="LOINC", code=o.loinc, on=o.on, text=o.measure, value=float(o.value))
        for o in observations
        if o.loinc
    ]
    return out


def evidence_codes(system: str, rules: Iterable[GapRule] | None = None) -> frozenset[str]:
    """Every code of *system* (``"LOINC"``, ``"CVX"``, ...) that closes some rule (default: the built-in ones).

    An importer reads these records, and only these, as gap evidence.

    >>> "57905-2" in evidence_codes("LOINC")
    True
    """
    return frozenset(
        code
        for rule in (builtin_rules() if rules is None else rules)
        for way in rule.evidence
        for step in way.steps
        for kind, code in step.codes.codes
        if kind == system
    )


def rules_in_effect(on: pendulum.Date, rules: Iterable[GapRule] | None = None) -> list[GapRule]:
    """The version of each rule in effect on *on* (default: the built-in rules), by id."""
    on = v.check_date(on, "on")
    chosen: dict[str, GapRule] = {}
    for rule in builtin_rules() if rules is None else rules:
        if not isinstance(rule, GapRule):
            raise errors.InvalidValue("must be a GapRule", field="rules", value=rule)
        if rule.in_effect(on):
            if rule.id in chosen:
                raise errors.InvalidValue(
                    "two versions of this rule are in effect on the same day",
                    field="rules",
                    value=f"{rule.id} ({chosen[rule.id].version}, {rule.version})",
                )
            chosen[rule.id] = rule
    return [chosen[k] for k in sorted(chosen)]


def _age(birth: pendulum.Date, on: pendulum.Date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _active(condition: Condition, on: pendulum.Date) -> bool:
    started = condition.onset is None or condition.onset <= on
    return started and (condition.abatement is None or on < condition.abatement)


def _population(  # noqa: C901 - one check per part of the population
    rule: GapRule,
    patient: Patient,
    conditions: Sequence[Condition],
    on: pendulum.Date,
    records: Sequence[Record] = (),
) -> tuple[str | None, pendulum.Date | None]:
    """Why the patient is in the rule's population and since when, or (None, None).

    An exclusion matches a condition that had begun by *on*, or a record (a
    procedure such as a total colectomy) dated on or before *on*.
    """
    pop = rule.population
    age = _age(patient.birth_date, on)
    if pop.min_age is not None and age < pop.min_age:
        return None, None
    if pop.max_age is not None and age > pop.max_age:
        return None, None
    if pop.sex is not None and patient.sex is not pop.sex:
        return None, None
    for excluded in pop.exclusions:
        if any(
            excluded.matches_condition(c) and (c.onset is None or c.onset <= on) for c in conditions
        ) or any(r.on <= on and excluded.matches(r.system, r.code) for r in records):
            return None, None
    entry = rule.effective_from
    if pop.min_age is not None:
        entry = max(entry, patient.birth_date.add(years=pop.min_age))
    why = [f"age {age}"]
    if pop.sex is not None:
        why.append(pop.sex.value)
    if pop.conditions:
        found = [
            (cs, c)
            for cs in pop.conditions
            for c in conditions
            if _active(c, on) and cs.matches_condition(c)
        ]
        if not found:
            return None, None
        onsets = [c.onset for _, c in found if c.onset is not None]
        if onsets:
            entry = max(entry, min(onsets))
        cs, c = found[0]
        why.append(f"{cs.label or 'condition'} ({c.coding.code})")
    return ", ".join(why), entry


def _step(
    step: EvidenceStep, records: Sequence[Record], on: pendulum.Date
) -> tuple[list[Record], pendulum.Date | None, str]:
    """The records meeting *step* on *on*, the day they stop counting, and why not if unmet.

    The reason names the step by its label when it has one (``eGFR: none within 1 year``).
    """
    found, end, reason = _step_unnamed(step, records, on)
    if reason and step.codes.label:
        reason = f"{step.codes.label}: {reason}"
    return found, end, reason


def _step_unnamed(
    step: EvidenceStep, records: Sequence[Record], on: pendulum.Date
) -> tuple[list[Record], pendulum.Date | None, str]:
    start = step.lookback.window_start(on)
    in_window = [r for r in records if r.on <= on and (start is None or r.on >= start)]
    if step.bp_below is not None:
        days: dict[pendulum.Date, dict[str, Record]] = {}
        for r in in_window:
            if r.system == "LOINC" and r.code in {_SYSTOLIC, _DIASTOLIC} and r.value is not None:
                days.setdefault(r.on, {})[r.code] = r
        pairs = sorted((d, p) for d, p in days.items() if len(p) == 2)  # noqa: PLR2004
        if not pairs:
            return [], None, f"no blood pressure {step.lookback.describe()}"
        day, pair = pairs[-1]
        sys_, dia = pair[_SYSTOLIC].value, pair[_DIASTOLIC].value
        assert sys_ is not None  # noqa: S101 - filtered above
        assert dia is not None  # noqa: S101
        limit_s, limit_d = step.bp_below
        reading = f"{sys_:.0f}/{dia:.0f} on {day.isoformat()}"
        if sys_ < limit_s and dia < limit_d:
            return [pair[_SYSTOLIC], pair[_DIASTOLIC]], step.lookback.expires(day), reading
        return [], None, f"latest blood pressure {reading} is not below {limit_s}/{limit_d}"
    matching = sorted(
        (r for r in in_window if step.codes.matches(r.system, r.code)), key=lambda r: (r.on, r.id)
    )
    distinct: dict[pendulum.Date, Record] = {}
    for r in matching:
        distinct[r.on] = r
    if len(distinct) < step.count:
        have = f" ({len(distinct)} of {step.count})" if step.count > 1 and distinct else ""
        return [], None, f"none {step.lookback.describe()}{have}"
    used = [distinct[d] for d in sorted(distinct)][-step.count :]
    return used, step.lookback.expires(used[0].on), ""


def _lapsed(
    rule: GapRule, records: Sequence[Record], on: pendulum.Date, *, seasonal: bool = True
) -> tuple[pendulum.Date, Record] | None:
    """The latest day evidence stopped counting before *on*, with the record, if any.

    With *seasonal* false, steps counted by season are left out (their gap
    opens with the season).
    """
    best: tuple[pendulum.Date, Record] | None = None
    for way in rule.evidence:
        for step in way.steps:
            if step.bp_below is not None or (not seasonal and step.lookback.season_start):
                continue
            for r in records:
                if r.on > on or not step.codes.matches(r.system, r.code):
                    continue
                end = step.lookback.expires(r.on)
                if end is not None and end <= on and (best is None or end > best[0]):
                    best = (end, r)
    return best


def _evaluate_rule(  # noqa: C901 - closed by a way, else due or overdue since when
    rule: GapRule,
    patient: Patient,
    conditions: Sequence[Condition],
    records: Sequence[Record],
    on: pendulum.Date,
) -> Gap | None:
    why, entry = _population(rule, patient, conditions, on, records)
    if why is None or entry is None:
        return None
    source = f"{rule.source.publisher}, {rule.source.title} ({rule.source.url})"
    common = Gap(
        patient_id=patient.id,
        rule_id=rule.id,
        title=rule.title,
        kind=rule.kind,
        status=GapStatus.DUE,
        on=on,
        source=source,
        rule_version=rule.version,
    )
    best: tuple[EvidenceWay, list[Record], pendulum.Date | None] | None = None
    missing: list[str] = []
    for way in rule.evidence:
        used: list[Record] = []
        ends: list[pendulum.Date | None] = []
        reasons = []
        for step in way.steps:
            found, end, reason = _step(step, records, on)
            if not found:
                reasons.append(reason)
            used += found
            ends.append(end)
        if reasons:
            missing.append(f"{way.label}: {'; '.join(reasons)}")
            continue
        known = [e for e in ends if e is not None]
        next_due = min(known) if known else None
        if best is None or (best[2] is not None and (next_due is None or next_due > best[2])):
            best = (way, used, next_due)
    if best is not None:
        way, used, next_due = best
        shown = ", ".join(
            f"{r.text or r.system + ' ' + r.code} on {r.on.isoformat()}" for r in used
        )
        again = f"; due again {next_due.isoformat()}" if next_due else "; no repeat needed"
        return attrs.evolve(
            common,
            status=GapStatus.CLOSED,
            closed_by=tuple(r.id for r in used),
            closed_on=max(r.on for r in used),
            next_due=next_due,
            explanation=f"closed by {way.label} ({shown}){again}. In the population: {why}.",
        )
    opened = entry
    history = ""
    season = [
        s.lookback.season_start for w in rule.evidence for s in w.steps if s.lookback.season_start
    ]
    if season:
        start = rule.evidence[0].steps[0].lookback.window_start(on)
        opened = max(opened, start) if start is not None else opened
    # A seasonal rule's other ways (a dose in the last months) lapse as any look-back does.
    lapsed = _lapsed(rule, records, on, seasonal=not season)
    if lapsed is not None:
        end, record = lapsed
        history = f" The last, {record.text or record.system + ' ' + record.code} on {record.on.isoformat()}, stopped counting on {end.isoformat()}."
        opened = max(opened, end)
    if not season:
        bp = [s for w in rule.evidence for s in w.steps if s.bp_below is not None]
        if bp:
            high = [
                r.on
                for r in records
                if r.system == "LOINC"
                and r.code == _SYSTOLIC
                and r.on <= on
                and (bp[0].lookback.window_start(on) or on) <= r.on
            ]
            if high:
                opened = max(opened, *high)
    overdue_from = opened.add(days=rule.grace_days)
    status = GapStatus.OVERDUE if on >= overdue_from else GapStatus.DUE
    since = overdue_from if status is GapStatus.OVERDUE else opened
    word = "overdue" if status is GapStatus.OVERDUE else "due"
    return attrs.evolve(
        common,
        status=status,
        since=since,
        explanation=(
            f"{word} since {since.isoformat()}: {' / '.join(missing)}.{history} "
            f"In the population: {why}."
        ),
    )


def evaluate(
    patient: Patient,
    *,
    on: pendulum.Date,
    conditions: Iterable[Condition] = (),
    records: Iterable[Record] = (),
    rules: Iterable[GapRule] | None = None,
) -> list[Gap]:
    """Every rule in effect on *on* that applies to *patient*, as a gap, in rule order.

    A patient who died on or before *on* has no gaps.

    >>> import pendulum
    >>> from carecore.model import AdministrativeSex
    >>> p = Patient(id="p1", given_name="Ada", family_name="Lopez", sex=AdministrativeSex.FEMALE,
    ...     birth_date=pendulum.Date(1955, 3, 1), time_zone="UTC")
    >>> flu = Record(id="i1", system="CVX", code="140", on=pendulum.Date(2026, 9, 20))
    >>> gaps = {g.rule_id: g for g in evaluate(p, on=pendulum.Date(2026, 10, 1), records=[flu])}
    >>> gaps["influenza-vaccine"].status.value, gaps["influenza-vaccine"].closed_by
    ('closed', ('i1',))
    >>> gaps["colorectal-cancer-screening"].status.value
    'overdue'
    """
    on = v.check_date(on, "on")
    if not isinstance(patient, Patient):
        raise errors.InvalidValue("must be a Patient", field="patient", value=patient)
    if patient.date_of_death is not None and patient.date_of_death <= on:
        return []
    conds = [c for c in conditions if c.patient_id == patient.id]
    recs = list(records)
    out = []
    for rule in rules_in_effect(on, rules):
        gap = _evaluate_rule(rule, patient, conds, recs, on)
        if gap is not None:
            out.append(gap)
    return out


def closure_rate(gaps_at_start: Sequence[Gap], gaps_at_end: Sequence[Gap]) -> tuple[int, int]:
    """Of the gaps open at a period's start, how many were closed at its end: (closed, open at start)."""
    opened = {(g.patient_id, g.rule_id) for g in gaps_at_start if g.open}
    closed = {(g.patient_id, g.rule_id) for g in gaps_at_end if not g.open}
    return len(opened & closed), len(opened)
