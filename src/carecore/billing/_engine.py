"""The billing engine: facts and a rule set in, claim lines, denials and hints out.

:func:`evaluate` is pure: no I/O, no clock. It evaluates every practitioner
named in the facts, family by family, then applies the rules that join
families (track exclusivity, cross-family exclusions, one practitioner per
period, RHC/FQHC coding). Every line it withholds becomes a
:class:`~carecore.model.Denial` carrying a machine-readable reason, one
sentence for a person, the rule id and the source tags (:mod:`carecore.billing.sources`).
"""

from __future__ import annotations

import functools
import operator
from decimal import Decimal
from typing import TYPE_CHECKING

import pendulum
from attrs import evolve, field, frozen

from carecore import errors, icd
from carecore.billing.facts import (
    BhAddon,
    BillingFacts,
    BillingPractitioner,
    CarePlanAction,
    CarePlanFact,
    ChronicCondition,
    ContactFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    DischargeFact,
    ElectionFact,
    MdmFact,
    OtherClaimFact,
    ProgramMonthFact,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.billing.fees import Revenue, revenue
from carecore.billing.primitives import (
    CONDITIONS_NEEDED,
    DIAGNOSIS_MONTHS,
    G0323_CREDENTIALS,
    MAX_CLAIM_DIAGNOSES,
    MONITORING_ROLES,
    NOT_COUNTED_ROLES,
    STAFF_ROLES,
    TIME_TRACKS,
    MinuteClass,
    TimeTrack,
    care_plan_established,
    claim_diagnoses,
    consent_in_force,
    countable_window,
    counts_toward,
    date_of_service,
    dates_at_threshold,
    diagnosis_pointers,
    first_unit,
    initiating_visit_met,
    initiating_years,
    interactive_month,
    line_amount,
    minute_class,
    minutes_for_units,  # noqa: F401 - importable from the engine, as before
    monitoring_tracks,
    personal_time_counts,
    threshold_minutes,
    time_track,
)
from carecore.billing.rules import (
    CodeRule,
    ConditionGrouping,
    HolidayCalendar,
    RuleSet,
    Switches,
    TcmDayCounting,
    TimeRule,
    TrackPreference,
)
from carecore.model import validators as v
from carecore.model.codes import (
    CareSetting,
    Credential,
    DenialReason,
    MdmLevel,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    VisitKind,
)
from carecore.model.money import MAX_LINE_DIAGNOSES, ClaimLine, Denial
from carecore.model.period import ServicePeriod

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = [
    "BASE_CODE",
    "EvaluationResult",
    "Hint",
    "TcmClock",
    "condition_groups",
    "evaluate",
    "is_billable_icd10cm",
    "line_diagnoses",
    "tcm_clock",
]

F = ServiceFamily
R = DenialReason

# -- who counts ---------------------------------------------------------------

#: CHI/PIN: auxiliary personnel (and clinical staff) under general supervision.
AUXILIARY_ROLES = frozenset({RoleClass.AUXILIARY, RoleClass.CLINICAL_STAFF})
#: CoCM: the behavioral health care manager.
COCM_ROLES = frozenset({RoleClass.BH_CARE_MANAGER})

#: TCM qualifying discharge settings and community destinations (docs/billing/tcm.md, "The discharge").
TCM_FROM = frozenset(
    {
        CareSetting.INPATIENT_ACUTE,
        CareSetting.INPATIENT_PSYCHIATRIC,
        CareSetting.LONG_TERM_CARE_HOSPITAL,
        CareSetting.SKILLED_NURSING_FACILITY,
        CareSetting.INPATIENT_REHABILITATION,
        CareSetting.OBSERVATION,
        CareSetting.PARTIAL_HOSPITALIZATION,
        CareSetting.CMHC_PARTIAL_HOSPITALIZATION,
    }
)
TCM_TO = frozenset(
    {
        CareSetting.HOME,
        CareSetting.DOMICILIARY,
        CareSetting.REST_HOME,
        CareSetting.ASSISTED_LIVING,
        CareSetting.NURSING_FACILITY,
    }
)
#: Initiating visits (docs/billing/index.md): which visit kinds start which family.
CCM_INITIATING = frozenset({VisitKind.OFFICE_EM, VisitKind.AWV, VisitKind.IPPE, VisitKind.TCM_F2F})
CHI_INITIATING = frozenset({VisitKind.OFFICE_EM, VisitKind.AWV, VisitKind.TCM_F2F})
PIN_INITIATING = frozenset({VisitKind.OFFICE_EM, VisitKind.AWV})
#: The code a family's refusal names when no code of it was reached.
BASE_CODE = {
    F.CCM: "99490",
    F.PCM: "99426",
    F.TCM: "99495",
    F.BHI: "99484",
    F.COCM: "99493",
    F.RPM: "99457",
    F.RTM: "98980",
    F.APCM: "G0556",
    F.CHI: "G0019",
    F.PIN: "G0023",
    F.ACP: "99497",
}


def _billable_codes() -> frozenset[str] | None:
    """The billable ICD-10-CM codes shipped with carecore (:func:`carecore.icd.shipped_billable`).

    Reading them takes a few milliseconds; the ICD-10-CM tables take about two
    seconds and 170 MB a process, which every month-close worker would pay.
    """
    return icd.shipped_billable()


def is_billable_icd10cm(code: str) -> bool:
    """Whether *code* (dotted, upper case) is a billable ICD-10-CM code, as :func:`carecore.icd.is_billable`.

    >>> is_billable_icd10cm("E11.65"), is_billable_icd10cm("E11"), is_billable_icd10cm("XYZ")
    (True, False, False)
    """
    codes = _billable_codes()
    return code in codes if codes is not None else icd.is_billable(code)


@functools.lru_cache(maxsize=65536)
def _groups(
    conditions: tuple[ChronicCondition, ...],
    billable_only: bool,  # noqa: FBT001 - positional: a cache key
    grouping: ConditionGrouping,
) -> tuple[tuple[tuple[tuple[str, ChronicCondition], ...], ...], tuple[str, ...]]:
    not_billable: list[str] = []
    groups: dict[str, list[tuple[str, ChronicCondition]]] = {}
    for condition in conditions:
        code = icd.normalize(condition.icd10)
        if billable_only and not is_billable_icd10cm(code):
            if code not in not_billable:
                not_billable.append(code)
            continue
        key = code[:3] if grouping is ConditionGrouping.CATEGORY else code
        # The same code listed twice is one condition too; either attestation may qualify it.
        groups.setdefault(key, []).append((code, condition))
    return tuple(tuple(g) for g in groups.values()), tuple(not_billable)


def condition_groups(
    conditions: tuple[ChronicCondition, ...], switches: Switches
) -> tuple[tuple[tuple[tuple[str, ChronicCondition], ...], ...], tuple[str, ...]]:
    """The conditions that count, as diseases, and the codes that do not count.

    Each disease is a tuple of ``(code, condition)`` pairs (codes normalised,
    in the order listed); with ``condition_grouping`` CATEGORY (the default)
    codes of one ICD-10-CM category are one disease. With
    ``billable_conditions_only`` (the default) a code that is not a billable
    ICD-10-CM code counts for nothing and is returned in the second tuple.

    >>> from carecore.billing.facts import ChronicCondition
    >>> from carecore.billing.rules import Switches
    >>> groups, dropped = condition_groups(
    ...     (ChronicCondition(icd10="E11.65"), ChronicCondition(icd10="E11.9"),
    ...      ChronicCondition(icd10="I50")), Switches())
    >>> [[code for code, _ in group] for group in groups], dropped
    ([['E11.65', 'E11.9']], ('I50',))
    """
    return _groups(
        tuple(conditions), switches.billable_conditions_only, switches.condition_grouping
    )


def _qualifies(condition: ChronicCondition, months: int | None) -> bool:
    """*months*: significant risk lasting that long; None: behavioral; 0: any condition."""
    if months is None:
        return condition.behavioral
    if months == 0:
        return True
    return condition.significant_risk and condition.lasts_at_least(months)


@functools.lru_cache(maxsize=65536)
def _diagnoses(
    conditions: tuple[ChronicCondition, ...],
    family: ServiceFamily,
    billable_only: bool,  # noqa: FBT001 - positional: a cache key
    grouping: ConditionGrouping,
) -> tuple[str, ...]:
    groups, _dropped = _groups(conditions, billable_only, grouping)

    def ordered(need: int | None) -> list[str]:
        leaders: list[str] = []
        others: list[str] = []
        for group in groups:
            codes = list(
                dict.fromkeys(
                    code for code, c in group if _qualifies(c, need) and is_billable_icd10cm(code)
                )
            )
            leaders += codes[:1]
            others += codes[1:]
        return [*leaders, *others]

    # A claim lists twelve diagnoses at most: every line points into the first twelve.
    claim = set(ordered(0)[:MAX_CLAIM_DIAGNOSES])
    mine = [code for code in ordered(DIAGNOSIS_MONTHS.get(family, 0)) if code in claim]
    if not mine and family is F.APCM:
        mine = [code for code in ordered(0) if code in claim]
    return tuple(mine[:MAX_LINE_DIAGNOSES])


def line_diagnoses(
    conditions: tuple[ChronicCondition, ...], family: ServiceFamily, switches: Switches
) -> tuple[str, ...]:
    """The billable ICD-10-CM codes a claim line of *family* points at (at most four).

    The conditions the family is billed for (CCM and APCM: significant risk
    for 12 months or more; PCM and PIN: 3 months or more; BHI and CoCM:
    behavioral; the other families: every condition), one code per disease
    first in the order the conditions are listed, then their other codes.

    >>> from carecore.billing.facts import ChronicCondition
    >>> from carecore.billing.rules import Switches
    >>> line_diagnoses((ChronicCondition(icd10="E11.65", significant_risk=True),
    ...     ChronicCondition(icd10="E11.9", significant_risk=True),
    ...     ChronicCondition(icd10="I10", significant_risk=True)), ServiceFamily.CCM, Switches())
    ('E11.65', 'I10', 'E11.9')
    """
    return _diagnoses(
        tuple(conditions), family, switches.billable_conditions_only, switches.condition_grouping
    )


#: Therapy modifiers for RTM billed by therapists (docs/billing/rtm.md).
THERAPY_MODIFIER = {Credential.PT: "GP", Credential.OT: "GO", Credential.SLP: "GN"}
#: Codes that bar CCM in the same month when the UNCONFIRMED switch is on (docs/billing/switches.md).
OVERSIGHT_AND_ESRD = frozenset({"G0181", "G0182", *(str(c) for c in range(90951, 90971))})
#: Communication-technology codes APCM may bar (a switch, docs/billing/switches.md).
COMMUNICATION_CODES = frozenset(
    {"G2250", "G2251", "G2252", "98970", "98971", "98972", "99421", "99422", "99423"}
    | {"99446", "99447", "99448", "99449", "99451", "99452"}
)
#: Families whose lines an RHC/FQHC billed as G0511 in 2024 (docs/billing/rhc-fqhc.md).
G0511_FAMILIES = frozenset({F.CCM, F.PCM, F.BHI, F.RPM, F.RTM, F.CHI, F.PIN})
#: Same-practitioner, same-period conflicts between families (docs/billing/index.md, "How the families join").
CONFLICTS: tuple[tuple[ServiceFamily, ServiceFamily], ...] = (
    (F.CCM, F.PCM),
    (F.CCM, F.APCM),
    (F.PCM, F.APCM),
    (F.TCM, F.APCM),
    (F.BHI, F.COCM),
)
APCM_ADDONS = frozenset({"G0568", "G0569", "G0570"})


@frozen(kw_only=True, field_transformer=v.name_errors)
class Hint:
    """What is still missing for the next code ("8 more clinical-staff minutes reach 99439")."""

    code: str
    family: ServiceFamily
    practitioner: str
    message: str
    minutes_needed: int | None = None


@frozen(kw_only=True)
class EvaluationResult:
    """The outcome for one patient and one period.

    ``claim_lines`` are what to bill; ``denials`` say why other codes are not
    billed; ``hints`` say what would reach the next code.
    """

    patient_id: str
    period: ServicePeriod
    rule_set: str
    rule_set_version: str
    claim_lines: tuple[ClaimLine, ...] = field(default=(), converter=v.to_tuple)
    denials: tuple[Denial, ...] = field(default=(), converter=v.to_tuple)
    hints: tuple[Hint, ...] = field(default=(), converter=v.to_tuple)

    @property
    def billable(self) -> list[tuple[str, int]]:
        """``(code, units)`` of every claim line, sorted."""
        return sorted((line.code, line.units) for line in self.claim_lines)

    def claim_diagnoses(self, practitioner_id: str) -> tuple[str, ...]:
        """The diagnoses of *practitioner_id*'s claim: every code its lines point at.

        :func:`carecore.billing.primitives.claim_diagnoses` of that
        practitioner's lines, as the claim sent for them lists them
        (:func:`carecore.billing.claims.assemble_claims` reads the same
        function): in the order the lines, by date of service and code,
        first point at them. Twelve at most: every line points into the
        first twelve of the patient's conditions.
        """
        return claim_diagnoses(
            line for line in self.claim_lines if line.billing_practitioner_id == practitioner_id
        )

    def diagnosis_pointers(self, line: ClaimLine) -> tuple[int, ...]:
        """The 1-based positions of *line*'s diagnoses in its claim's diagnosis list.

        :func:`carecore.billing.primitives.diagnosis_pointers`; *line* is one of :attr:`claim_lines`.
        """
        return diagnosis_pointers(self.claim_diagnoses(line.billing_practitioner_id), line)

    @property
    def expected_revenue(self) -> Decimal:
        """Sum of the approximate amounts of the claim lines that have one.

        Lines with no listed fee are left out of the sum, not priced at $0:
        :attr:`revenue` counts them apart.
        """
        return self.revenue.total

    @property
    def revenue(self) -> Revenue:
        """The approximate revenue of the claim lines, with the lines that have no listed fee counted apart."""
        return revenue(self.claim_lines)


# -- the per-practitioner working state --------------------------------------


class _Outcome:
    """Lines, denials and hints for one practitioner, grouped by family."""

    def __init__(self) -> None:
        self.lines: dict[ServiceFamily, list[ClaimLine]] = {}
        self.denials: list[Denial] = []
        self.hints: list[Hint] = []


def _index(facts: BillingFacts) -> dict[object, list[object]]:
    """Events by type, and time entries by (family, practitioner), built once per evaluation."""
    index: dict[object, list[object]] = {}
    for event in facts.events:
        index.setdefault(type(event), []).append(event)
        if type(event) is TimeFact:
            index.setdefault((event.family, event.practitioner), []).append(event)
    return index


class _Ctx:
    def __init__(
        self,
        facts: BillingFacts,
        rules: RuleSet,
        pr: BillingPractitioner,
        index: dict[object, list[object]] | None = None,
    ) -> None:
        self.facts = facts
        self.rules = rules
        self.sw = rules.switches
        self.pr = pr
        self.period = facts.period
        self.patient = facts.patient
        self.out = _Outcome()
        self.index = index if index is not None else _index(facts)

    def sink(self) -> _Ctx:
        """A scratch context over the same facts: evaluate without emitting."""
        return _Ctx(self.facts, self.rules, self.pr, self.index)

    # -- small queries --------------------------------------------------------

    def events(self, event_type: type, /, **match: object) -> list:  # type: ignore[type-arg]
        found = self.index.get(event_type, ())
        if not match:
            return list(found)
        return [
            event for event in found if all(getattr(event, k) == val for k, val in match.items())
        ]

    def in_period(self, day: pendulum.Date) -> bool:
        return self.period.start <= day <= self.period.end

    def time(self, family: ServiceFamily, roles: frozenset[RoleClass]) -> list[TimeFact]:
        # From consent on, up to the date of death (see countable_window).
        start, end = countable_window(self.patient, family, self.period)
        entries: list[TimeFact] = self.index.get((family, self.pr.id), [])  # type: ignore[assignment]
        return [t for t in entries if t.role in roles and start <= t.date <= end]

    def rule(self, code: str) -> CodeRule | None:
        return self.rules.by_code.get(code)

    def available(self, code: str, on: pendulum.Date | None = None) -> bool:
        rule = self.rule(code)
        return rule is not None and rule.in_effect(on or self.period.end)

    # -- output ---------------------------------------------------------------

    def deny(  # noqa: PLR0917
        self,
        code: str,
        family: ServiceFamily,
        reason: DenialReason,
        message: str,
        rule_id: str,
        sources: Iterable[str] = (),
    ) -> None:
        rule = self.rule(code)
        tags = tuple(dict.fromkeys([*sources, *(rule.sources if rule else ())]))
        self.out.denials.append(
            Denial(
                patient_id=self.patient.id,
                code=code,
                family=family,
                reason=reason,
                message=message,
                rule=rule_id.lower(),
                period=self.period,
                sources=tags,
                practitioner_id=self.pr.id,
            )
        )

    def line(
        self,
        code: str,
        family: ServiceFamily,
        units: int,
        date_of_service: pendulum.Date,
        *,
        period: ServicePeriod | None = None,
        modifiers: Iterable[str] = (),
    ) -> ClaimLine:
        rule = self.rule(code)
        amount = line_amount(rule, units)
        return ClaimLine(
            patient_id=self.patient.id,
            code=code,
            units=units,
            family=family,
            billing_practitioner_id=self.pr.id,
            date_of_service=date_of_service,
            period=period or self.period,
            modifiers=tuple(modifiers),
            amount=amount,
            # The family's diagnoses now, so evaluate() need not copy the line to add them.
            diagnoses=line_diagnoses(self.patient.conditions, family, self.sw),
        )

    def hint(
        self, code: str, family: ServiceFamily, message: str, needed: int | None = None
    ) -> None:
        self.out.hints.append(
            Hint(
                code=code,
                family=family,
                practitioner=self.pr.id,
                message=message,
                minutes_needed=needed,
            )
        )

    # -- shared prerequisites ---------------------------------------------------

    def consent_ok(self, family: ServiceFamily) -> bool:
        return consent_in_force(self.patient, family, self.period)

    def care_plan_ok(self, family: ServiceFamily) -> bool:
        return care_plan_established(
            self.patient, family, self.period, self.events(CarePlanFact, family=family)
        )

    def initiating_visit_ok(self, family: ServiceFamily, kinds: frozenset[VisitKind]) -> bool:
        """A qualifying visit with the billing practitioner within the family's years before its start."""
        return initiating_visit_met(
            self.patient,
            family,
            self.period,
            self.pr.id,
            self.events(VisitFact, practitioner=self.pr.id),
            kinds,
        )

    def personal(self, family: ServiceFamily, entries: Iterable[TimeFact]) -> list[TimeFact]:
        """The entries that are the billing practitioner's own time for *family*'s personal codes."""
        return [t for t in entries if personal_time_counts(self.sw, family, t.role, t.credential)]

    def classed(
        self, family: ServiceFamily, entries: Iterable[TimeFact]
    ) -> list[tuple[TimeFact, MinuteClass]]:
        """*entries* with what each minute counts toward for *family* (primitives.minute_class)."""
        sw = self.sw
        return [(t, minute_class(sw, family, t.role, t.credential)) for t in entries]

    @staticmethod
    def track_time(track: TimeTrack, classed: list[tuple[TimeFact, MinuteClass]]) -> list[TimeFact]:
        """The entries of *classed* whose minutes count toward *track*."""
        kinds = _counting_kinds(track)
        return [t for t, kind in classed if kind in kinds]

    def chronic_conditions(self, months: int) -> int:
        """Diseases (see condition_groups) with a code of significant risk lasting *months*."""
        groups, _dropped = condition_groups(self.patient.conditions, self.sw)
        return sum(1 for group in groups if any(_qualifies(c, months) for _, c in group))

    def behavioral(self) -> bool:
        """Whether a condition that counts is a behavioral health condition."""
        groups, _dropped = condition_groups(self.patient.conditions, self.sw)
        return any(c.behavioral for group in groups for _, c in group)

    def conditions_note(self) -> str:
        """What the condition count left out, for a refusal ("" when nothing)."""
        groups, dropped = condition_groups(self.patient.conditions, self.sw)
        notes = []
        if dropped:
            names = ", ".join(dropped)
            notes.append(
                f"{names} {'is' if len(dropped) == 1 else 'are'} not billable ICD-10-CM "
                f"code{'' if len(dropped) == 1 else 's'} and count{'s' if len(dropped) == 1 else ''} for nothing"
            )
        for group in groups:
            codes = list(dict.fromkeys(code for code, _ in group))
            if len(codes) > 1:
                notes.append(f"{' and '.join(codes)} are one condition ({codes[0][:3]})")
        return f" ({'; '.join(notes)})" if notes else ""

    def threshold_date(self, entries: list[TimeFact], minutes: int) -> pendulum.Date:
        """The date the running total first reaches *minutes* (or the period end)."""
        return date_of_service(self.sw, self.period, entries, minutes, day=_DATE, length=_MINUTES)


@functools.cache
def _counting_kinds(track: TimeTrack) -> frozenset[MinuteClass]:
    """The minute classes that count toward *track* (primitives.counts_toward)."""
    return frozenset(kind for kind in MinuteClass if counts_toward(track, kind))


#: How the engine's date of service reads a time entry.
_DATE = operator.attrgetter("date")
_MINUTES = operator.attrgetter("minutes")


# -- time arithmetic -------------------------------------------------------------


def add_on_units(
    total: int, base_minutes: int, rule: CodeRule, override: TimeRule | None = None
) -> int:
    """Units of an add-on code after a base block of *base_minutes* (uncapped)."""
    block = rule.minutes or 0
    if block == 0:
        return 0
    time_rule = override or rule.time_rule
    need = block // 2 + 1 if time_rule is TimeRule.MIDPOINT else block
    beyond = total - base_minutes
    if beyond < need:
        return 0
    return (beyond - need) // block + 1


def _more(count: int, label: str) -> str:
    """'1 more clinical-staff minute reaches', '8 more clinical-staff minutes reach' (then a code)."""
    if count == 1:
        return f"1 more {label} minute reaches"
    return f"{count} more {label} minutes reach"


def _sum(entries: Iterable[TimeFact]) -> int:
    return sum(e.minutes for e in entries)


# -- a generic time-based track ------------------------------------------------------


@frozen
class _Track:
    base: str
    add_on: str | None
    entries: tuple[TimeFact, ...]
    label: str  # "clinical-staff", "personal", ...
    time_rule: TimeRule | None = None

    @property
    def minutes(self) -> int:
        return _sum(self.entries)


def _track_lines(ctx: _Ctx, family: ServiceFamily, track: _Track) -> list[ClaimLine]:
    """Lines a track attains by time alone, with hints for the next unit.

    A base code not in effect in the period (a rule set's code that ends or
    starts within the year) attains nothing: minutes logged toward it are
    refused as ``NOT_IN_EFFECT``, and no hint points at it.
    """
    base = ctx.rules.rule(track.base)
    total = track.minutes
    if not ctx.available(track.base):
        if total:
            ctx.deny(
                track.base,
                family,
                R.NOT_IN_EFFECT,
                f"{track.base} is not in effect in this period under rule set {ctx.rules.id}.",
                f"{family.value.lower()}.{track.base}.effective",
            )
        return []
    need = threshold_minutes(base, None, 1, track.time_rule)
    if total < need:
        ctx.hint(
            track.base,
            family,
            f"{_more(need - total, track.label)} {track.base}",
            need - total,
        )
        return []
    lines = [ctx.line(track.base, family, 1, ctx.threshold_date(list(track.entries), need))]
    if track.add_on is None or not ctx.available(track.add_on):
        return lines
    add = ctx.rules.rule(track.add_on)
    base_block = base.minutes or 0
    units = add_on_units(total, base_block, add, track.time_rule)
    cap = add.max_units
    if cap is not None and units > cap:
        ctx.deny(
            track.add_on,
            family,
            R.UNIT_CAP,
            f"{track.add_on} is capped at {cap} units a period; {total} minutes would give {units}.",
            f"{family.value.lower()}.{track.add_on}.unit_cap",
        )
        units = cap
    if units:
        reached = threshold_minutes(base, add, units, track.time_rule)
        lines.append(
            ctx.line(track.add_on, family, units, ctx.threshold_date(list(track.entries), reached))
        )
    if cap is None or units < cap:
        nxt = threshold_minutes(base, add, units + 1, track.time_rule)
        if units == 0:
            ctx.deny(
                track.add_on,
                family,
                R.BELOW_THRESHOLD,
                f"{track.add_on} needs {nxt} {track.label} minutes in total; {total} were logged.",
                f"{family.value.lower()}.{track.add_on}.threshold",
            )
        ctx.hint(
            track.add_on,
            family,
            f"{_more(nxt - total, track.label)} {track.add_on}"
            + (f" unit {units + 1}" if units else ""),
            nxt - total,
        )
    return lines


def _time_track_lines(
    ctx: _Ctx, base: str, staff: list[tuple[TimeFact, MinuteClass]]
) -> list[ClaimLine]:
    """Lines of the time track of *base* (primitives.TIME_TRACKS) from the family's classed minutes."""
    track = time_track(base)
    if track is None:  # pragma: no cover - the engine names only tracks of TIME_TRACKS
        raise errors.InvalidValue("is not a time track's base code", field="code", value=base)
    entries = ctx.track_time(track, staff)
    return _track_lines(
        ctx, track.family, _Track(track.base, track.add_on, tuple(entries), track.label)
    )


def _bhi_track(credential: Credential) -> TimeTrack:
    """BHI's track for a billing practitioner: G0323 for behavioral-health practitioners, else 99484."""
    track = time_track("G0323" if credential in G0323_CREDENTIALS else "99484")
    if track is None:  # pragma: no cover - both are in TIME_TRACKS
        raise errors.InvalidValue("has no BHI time track", field="credential", value=credential)
    return track


def _deny_all(  # noqa: PLR0917
    ctx: _Ctx,
    family: ServiceFamily,
    would: list[ClaimLine],
    fallback: str,
    reason: DenialReason,
    message: str,
    rule_id: str,
    sources: Iterable[str] = (),
) -> None:
    """Turn would-be lines (or the family's base code) into denials for one reason."""
    codes = [line.code for line in would] or [fallback]
    for code in codes:
        ctx.deny(code, family, reason, message, rule_id, sources)


# -- CCM (docs/billing/ccm.md) ---------------------------------------------------------


def _monthly_prerequisites(
    ctx: _Ctx,
    family: ServiceFamily,
    *,
    conditions: tuple[int, int] | None,
    care_plan: bool,
    initiating: frozenset[VisitKind] | None,
) -> tuple[DenialReason, str, str, tuple[str, ...]] | None:
    """The first unmet prerequisite of a monthly family, or None."""
    name = family.value
    if family in {F.CCM, F.PCM, F.APCM} and not ctx.pr.credential.is_billing_practitioner:
        return (
            R.NOT_A_BILLING_PRACTITIONER,
            f"{name} is billed by a physician, NP, PA, CNS or CNM; the billing practitioner is {ctx.pr.credential.value}.",
            f"{name.lower()}.billing_practitioner",
            ("S1",),
        )
    if not ctx.consent_ok(family):
        return (
            R.NO_CONSENT,
            f"No {name} consent is on file for this period.",
            f"{name.lower()}.consent",
            ("S1", "S89"),
        )
    if conditions is not None:
        count, months = conditions
        have = ctx.chronic_conditions(months)
        if have < count:
            what = "two or more chronic conditions" if count > 1 else "a condition"
            return (
                R.TOO_FEW_CONDITIONS,
                f"{name} requires {what} expected to last at least {months} months and placing the patient at significant risk; {have} qualify{ctx.conditions_note()}.",
                f"{name.lower()}.conditions",
                (),
            )
    if care_plan and not ctx.care_plan_ok(family):
        return (
            R.NO_CARE_PLAN,
            f"No {name} care plan was established by this period.",
            f"{name.lower()}.care_plan",
            ("S1", "S90"),
        )
    years = initiating_years(family)
    if initiating is not None and not ctx.initiating_visit_ok(family, initiating):
        return (
            R.NO_INITIATING_VISIT,
            f"{name} needs an initiating visit (not a level-1 staff visit) with the billing practitioner within {years} year{'s' if years > 1 else ''} before it starts.",
            f"{name.lower()}.initiating_visit",
            ("S1", "S89"),
        )
    return None


def _ccm(ctx: _Ctx) -> None:  # noqa: C901, PLR0912 - the CCM rules, in order
    staff = ctx.time(F.CCM, STAFF_ROLES)
    excluded = ctx.time(F.CCM, NOT_COUNTED_ROLES)
    if not staff and not excluded:
        return
    if excluded and _sum(excluded):
        ctx.hint(
            "99490",
            F.CCM,
            f"{_sum(excluded)} minutes by non-clinical or auxiliary staff do not count toward CCM.",
        )
    sink = ctx.sink()  # evaluate tracks without emitting yet
    classed = ctx.classed(F.CCM, staff)
    tracks: dict[str, list[ClaimLine]] = {}
    complex_mdm = max(
        (
            m.level
            for m in ctx.events(MdmFact, family=F.CCM, practitioner=ctx.pr.id)
            if ctx.in_period(m.date)
        ),
        default=None,
    )
    revised = any(
        e.action in {CarePlanAction.ESTABLISHED, CarePlanAction.SUBSTANTIALLY_REVISED}
        and ctx.in_period(e.date)
        for e in ctx.events(CarePlanFact, family=F.CCM)
    )
    complex_ok = complex_mdm is not None and complex_mdm >= MdmLevel.MODERATE
    if ctx.sw.complex_ccm_needs_substantial_revision:
        complex_ok = complex_ok and revised
    if complex_ok:
        tracks["complex"] = _time_track_lines(sink, "99487", classed)
    tracks["personal"] = _time_track_lines(sink, "99491", classed)
    tracks["staff"] = _time_track_lines(sink, "99490", classed)
    met = {name: lines for name, lines in tracks.items() if lines}
    chosen = None
    if "complex" in met:
        chosen = "complex"
    elif ctx.sw.track_preference is TrackPreference.PERSONAL_FIRST and "personal" in met:
        chosen = "personal"
    elif met:
        chosen = max(met, key=lambda n: sum(line.amount or Decimal(0) for line in met[n]))
        if ctx.sw.track_preference is TrackPreference.PERSONAL_FIRST and "staff" in met:
            chosen = "staff"
    not_in_effect = _not_in_effect_all(sink)
    if chosen is None:
        ctx.out.denials.extend(not_in_effect)
        if any(d.code == "99490" for d in not_in_effect):
            return
        total = _sum(staff)
        ctx.deny(
            "99490",
            F.CCM,
            R.BELOW_THRESHOLD,
            f"{total} of the 20 clinical-staff minutes 99490 needs were logged in the month; time does not carry over between months.",
            "ccm.99490.threshold",
            ("S1", "S10", "S88"),
        )
        ctx.out.hints.extend(h for h in sink.out.hints if h.code == "99490")
        return
    would = met[chosen]
    failed = _monthly_prerequisites(
        ctx, F.CCM, conditions=CONDITIONS_NEEDED[F.CCM], care_plan=True, initiating=CCM_INITIATING
    )
    if failed is not None:
        reason, message, rule_id, sources = failed
        _deny_all(ctx, F.CCM, would, "99490", reason, message, rule_id, sources)
        return
    if ctx.sw.ccm_barred_with_oversight_or_esrd:
        barred = [
            c
            for c in ctx.events(OtherClaimFact)
            if c.code in OVERSIGHT_AND_ESRD and ctx.in_period(c.date)
        ]
        if barred:
            _deny_all(
                ctx,
                F.CCM,
                would,
                "99490",
                R.CROSS_FAMILY_EXCLUSION,
                f"{barred[0].code} was billed this month, and this rule set bars CCM with it.",
                "ccm.oversight_esrd",
                ("S32",),
            )
            return
    # The chosen track's own add-on denials and hints; other met tracks are exclusive.
    base_of_chosen = would[0].code
    ctx.out.denials.extend(
        d
        for d in sink.out.denials
        if d.code in {line.code for line in would}
        or _same_track(d.code, base_of_chosen)
        or d.reason is R.NOT_IN_EFFECT
    )
    ctx.out.hints.extend(h for h in sink.out.hints if _same_track(h.code, base_of_chosen))
    for name, lines in met.items():
        if name != chosen:
            ctx.deny(
                lines[0].code,
                F.CCM,
                R.EXCLUSIVE_TRACK,
                f"CCM tracks are exclusive in a month; this month is reported with {base_of_chosen}.",
                "ccm.tracks_exclusive",
                ("S29", "S26"),
            )
    ctx.out.lines.setdefault(F.CCM, []).extend(would)
    _g0506_hint(ctx)


def _g0506_hint(ctx: _Ctx) -> None:
    """G0506 (CCM) is the practitioner's call: say when it may apply, never bill it unasked."""
    if any(c.code == "G0506" for c in ctx.events(OtherClaimFact)):
        return  # once per beneficiary, and already claimed
    established = any(
        e.action is CarePlanAction.ESTABLISHED and ctx.in_period(e.date)
        for e in ctx.events(CarePlanFact, family=F.CCM)
    )
    visits = [
        v_
        for v_ in ctx.events(VisitFact, practitioner=ctx.pr.id)
        if v_.kind in CCM_INITIATING and v_.em_code != "99211" and ctx.in_period(v_.date)
    ]
    if established and visits:
        ctx.hint(
            "G0506",
            F.CCM,
            f"G0506 may be added to the initiating visit of {visits[0].date.isoformat()} if the practitioner "
            "furnished an extensive assessment and CCM care planning (once per patient).",
        )


_TRACKS = tuple({t.base, t.add_on} for t in TIME_TRACKS if t.add_on is not None)


def _same_track(code: str, base: str) -> bool:
    return any(code in group and base in group for group in _TRACKS)


def _not_in_effect_all(sink: _Ctx) -> list[Denial]:
    """The refusals :func:`_track_lines` gave in *sink* for codes not in effect."""
    return [d for d in sink.out.denials if d.reason is R.NOT_IN_EFFECT]


def _not_in_effect(sink: _Ctx, code: str) -> Denial | None:
    """The refusal :func:`_track_lines` gave *code* in *sink* for not being in effect, or None."""
    return next((d for d in _not_in_effect_all(sink) if d.code == code), None)


# -- PCM (docs/billing/pcm.md) -------------------------------------------------------


def _pcm(ctx: _Ctx) -> None:
    staff = ctx.time(F.PCM, STAFF_ROLES)
    if not staff:
        return
    sink = ctx.sink()
    classed = ctx.classed(F.PCM, staff)
    personal_lines = _time_track_lines(sink, "99424", classed)
    staff_lines = _time_track_lines(sink, "99426", classed)
    if personal_lines and ctx.sw.track_preference is TrackPreference.PERSONAL_FIRST:
        would, other = personal_lines, staff_lines
    elif staff_lines:
        would, other = staff_lines, personal_lines
    else:
        would, other = personal_lines, []
    not_in_effect = _not_in_effect_all(sink)
    if not would:
        ctx.out.denials.extend(not_in_effect)
        if any(d.code == "99426" for d in not_in_effect):
            ctx.out.hints.extend(sink.out.hints)
            return
        ctx.deny(
            "99426",
            F.PCM,
            R.BELOW_THRESHOLD,
            f"{_sum(staff)} of the 30 minutes PCM needs were logged in the month.",
            "pcm.99426.threshold",
            ("S2", "S30"),
        )
        ctx.out.hints.extend(sink.out.hints)
        return
    failed = _monthly_prerequisites(
        ctx,
        F.PCM,
        conditions=CONDITIONS_NEEDED[F.PCM],
        care_plan=True,
        initiating=CCM_INITIATING if ctx.sw.pcm_needs_initiating_visit else None,
    )
    if failed is not None:
        reason, message, rule_id, sources = failed
        if reason is R.TOO_FEW_CONDITIONS:
            message = f"PCM requires a condition expected to last at least 3 months that places the patient at significant risk{ctx.conditions_note()}."
        _deny_all(ctx, F.PCM, would, "99426", reason, message, rule_id, sources)
        return
    base = would[0].code
    ctx.out.denials.extend(
        d for d in sink.out.denials if _same_track(d.code, base) or d.reason is R.NOT_IN_EFFECT
    )
    ctx.out.hints.extend(h for h in sink.out.hints if _same_track(h.code, base))
    if other:
        ctx.deny(
            other[0].code,
            F.PCM,
            R.EXCLUSIVE_TRACK,
            f"99424/99425 and 99426/99427 are not reported together; this month is reported with {base}.",
            "pcm.tracks_exclusive",
            ("S30",),
        )
    ctx.out.lines.setdefault(F.PCM, []).extend(would)


# -- the TCM clock (a primitive: carecore.transitions counts its deadlines with it) ----------


@frozen(kw_only=True)
class TcmClock:
    """The deadlines of one discharge, as the engine counts them.

    ``contact_due``: the last day for the interactive contact (business days
    after the discharge date); ``visit_due_7`` and ``visit_due_14``: the last
    days of the face-to-face visit for 99496 and 99495; ``period``: the
    30-day TCM period that starts on the discharge date.

    >>> import pendulum
    >>> from carecore.billing.rules import HolidayCalendar
    >>> clock = tcm_clock(pendulum.Date(2026, 11, 25), calendar=HolidayCalendar())
    >>> clock.contact_due, clock.visit_due_7, clock.visit_due_14, clock.period.end
    (Date(2026, 11, 30), Date(2026, 12, 2), Date(2026, 12, 9), Date(2026, 12, 24))
    """

    discharge: pendulum.Date
    contact_due: pendulum.Date
    visit_due_7: pendulum.Date
    visit_due_14: pendulum.Date
    period: ServicePeriod
    day_offset: int

    def visit_day(self, on: pendulum.Date) -> int:
        """The day number of a visit on *on* in the 7- and 14-day windows."""
        return (on - self.discharge).days + self.day_offset


def tcm_clock(
    discharge: pendulum.Date,
    *,
    calendar: HolidayCalendar,
    day_counting: TcmDayCounting = TcmDayCounting.DISCHARGE_DAY_ZERO,
    contact_business_days: int = 2,
    period_days: int = 30,
) -> TcmClock:
    """The TCM deadlines of a discharge on *discharge* (see :class:`TcmClock`).

    The billing engine evaluates TCM with it (from a rule set's switches) and
    :func:`carecore.transitions.open_episode` sets an episode's deadlines with
    it, so the deadlines a care team chases are the ones the close applies.
    """
    discharge = v.check_date(discharge, "discharge")
    if not isinstance(calendar, HolidayCalendar):
        raise errors.InvalidValue("must be a HolidayCalendar", field="calendar", value=calendar)
    if not isinstance(day_counting, TcmDayCounting):
        raise errors.InvalidValue(
            "must be a TcmDayCounting", field="day_counting", value=day_counting
        )
    for name, value, top in (
        ("contact_business_days", contact_business_days, 30),
        ("period_days", period_days, 366),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise errors.InvalidValue(
                f"must be a whole number from 1 to {top}", field=name, value=value
            )
    return _tcm_clock(discharge, calendar, day_counting, contact_business_days, period_days)


@functools.lru_cache(maxsize=4096)
def _tcm_clock(
    discharge: pendulum.Date,
    calendar: HolidayCalendar,
    day_counting: TcmDayCounting,
    contact_business_days: int,
    period_days: int,
) -> TcmClock:
    """:func:`tcm_clock` after its checks, kept per discharge (a close or a study asks again and again)."""
    offset = 0 if day_counting is TcmDayCounting.DISCHARGE_DAY_ZERO else 1
    return TcmClock(
        discharge=discharge,
        contact_due=calendar.add_business_days(discharge, contact_business_days),
        visit_due_7=discharge.add(days=7 - offset),
        visit_due_14=discharge.add(days=14 - offset),
        period=ServicePeriod.days_from(discharge, period_days),
        day_offset=offset,
    )


def _clock(ctx: _Ctx, discharge: pendulum.Date) -> TcmClock:
    return tcm_clock(discharge, calendar=ctx.sw.business_days, day_counting=ctx.sw.tcm_day_counting)


# -- TCM (docs/billing/tcm.md) ----------------------------------------------------------


def _tcm(ctx: _Ctx) -> None:  # noqa: C901, PLR0911, PLR0912 - the TCM rules, in order
    discharges = [d for d in ctx.events(DischargeFact) if ctx.in_period(d.date)]
    if not discharges:
        return
    discharge: DischargeFact = discharges[0]
    clock = _clock(ctx, discharge.date)
    window = clock.period
    visits = [
        v_
        for v_ in ctx.events(VisitFact, practitioner=ctx.pr.id, kind=VisitKind.TCM_F2F)
        if window.start <= v_.date <= window.end
    ]
    contacts = ctx.events(ContactFact, family=F.TCM, practitioner=ctx.pr.id)
    if not visits and not contacts:
        return
    # The discharging practitioner's discharge-day visit cannot be the TCM visit (S18).
    eligible = [
        v_
        for v_ in visits
        if not (discharge.practitioner == ctx.pr.id and v_.date == discharge.date)
    ]
    visit = eligible[0] if eligible else (visits[0] if visits else None)
    mdm = max(
        [
            *(v_.mdm for v_ in ([visit] if visit else [])),
            *(
                m.level
                for m in ctx.events(MdmFact, family=F.TCM, practitioner=ctx.pr.id)
                if window.start <= m.date <= window.end
            ),
        ],
        default=None,
    )
    day = clock.visit_day(visit.date) if visit else None
    would_code = "99496" if (mdm is MdmLevel.HIGH and day is not None and day <= 7) else "99495"  # noqa: PLR2004
    other_code = "99495" if would_code == "99496" else "99496"

    def refuse(
        reason: DenialReason, message: str, rule_id: str, sources: tuple[str, ...] = ()
    ) -> None:
        ctx.deny(would_code, F.TCM, reason, message, rule_id, sources)
        if visit is not None and visit.em_code:
            # The face-to-face visit is then reported as its own E/M.
            ctx.out.lines.setdefault(F.TCM, []).append(
                ctx.line(visit.em_code, F.TCM, 1, visit.date, period=window)
            )

    if discharge.from_setting not in TCM_FROM or discharge.to_setting not in TCM_TO:
        where = (
            discharge.to_setting if discharge.from_setting in TCM_FROM else discharge.from_setting
        )
        refuse(
            R.SETTING_NOT_QUALIFYING,
            f"A discharge from {discharge.from_setting.value} to {discharge.to_setting.value} does not start TCM ({where.value} is not a qualifying setting).",
            "tcm.setting",
            ("S21", "S108", "S6"),
        )
        return
    death = ctx.patient.date_of_death
    if death is not None and window.start <= death <= window.end:
        refuse(
            R.PATIENT_DECEASED,
            "The patient died before the 30-day TCM period ended; the visit is billed as an E/M instead.",
            "tcm.death",
            ("S18", "S100"),
        )
        return
    for claim in ctx.events(OtherClaimFact):
        if (
            claim.code in {"99495", "99496"}
            and claim.practitioner != ctx.pr.id
            and window.start <= claim.date <= window.end
        ):
            refuse(
                R.OTHER_PRACTITIONER_BILLED,
                f"Only one practitioner may report TCM within 30 days of a discharge, and {claim.practitioner} reported {claim.code}.",
                "tcm.one_per_30_days",
                ("S18", "S20"),
            )
            return
        if (
            claim.code in {"99495", "99496"}
            and discharge.date.subtract(days=29) <= claim.date < discharge.date
        ):
            refuse(
                R.ALREADY_BILLED_IN_PERIOD,
                f"TCM ({claim.code}) was already reported within 30 days of an earlier discharge.",
                "tcm.one_per_30_days",
                ("S18", "S20"),
            )
            return
    if visit is None:
        refuse(
            R.VISIT_NOT_TIMELY,
            "No TCM face-to-face visit by the billing practitioner within 14 days of discharge.",
            "tcm.visit",
            ("S17", "S21"),
        )
        ctx.hint(
            "99495",
            F.TCM,
            f"A face-to-face visit by {clock.visit_due_14.isoformat()} (moderate MDM) reaches 99495.",
        )
        return
    if discharge.practitioner == ctx.pr.id and visit.date == discharge.date:
        refuse(
            R.VISIT_NOT_TIMELY,
            "The required face-to-face visit cannot be the discharge-day visit of the discharging practitioner.",
            "tcm.visit_not_discharge_day",
            ("S18",),
        )
        return
    if day is not None and day > 14:  # noqa: PLR2004
        refuse(
            R.VISIT_NOT_TIMELY,
            f"The face-to-face visit was on day {day} after discharge; TCM needs it within 14 days.",
            "tcm.visit",
            ("S17", "S21"),
        )
        return
    if mdm is None or mdm < MdmLevel.MODERATE:
        refuse(
            R.MDM_TOO_LOW,
            "TCM requires at least moderate medical decision making.",
            "tcm.mdm",
            ("S17", "S22"),
        )
        return
    if not _tcm_contact_ok(ctx, discharge, visit):
        due = clock.contact_due
        refuse(
            R.CONTACT_NOT_TIMELY,
            f"No interactive contact (or two timely attempts) within 2 business days after discharge (by {due.isoformat()}).",
            "tcm.contact",
            ("S21", "S17", "S23"),
        )
        return
    if discharge.med_rec_tracked and (
        discharge.med_rec_on is None or discharge.med_rec_on > visit.date
    ):
        done = (
            "none was recorded"
            if discharge.med_rec_on is None
            else f"it was done on {discharge.med_rec_on.isoformat()}"
        )
        refuse(
            R.MED_REC_NOT_TIMELY,
            f"TCM needs medication reconciliation no later than the face-to-face visit ({visit.date.isoformat()}); {done}.",
            "tcm.med_rec",
            ("S17",),
        )
        return
    if ctx.available(would_code, visit.date):
        ctx.out.lines.setdefault(F.TCM, []).append(
            ctx.line(would_code, F.TCM, 1, visit.date, period=window)
        )
        ctx.deny(
            other_code,
            F.TCM,
            R.EXCLUSIVE_TRACK,
            f"Only one TCM code is reported for a discharge; this one is {would_code}.",
            "tcm.one_code",
            ("S22",),
        )
        if would_code == "99495" and mdm is MdmLevel.HIGH:
            ctx.hint(
                "99496",
                F.TCM,
                f"High MDM with the visit by day 7 would have reached 99496 (the visit was on day {day}).",
            )


def _tcm_contact_ok(ctx: _Ctx, discharge: DischargeFact, visit: VisitFact) -> bool:
    due = _clock(ctx, discharge.date).contact_due
    contacts = [
        c
        for c in ctx.events(ContactFact, family=F.TCM, practitioner=ctx.pr.id)
        if c.date > discharge.date
    ]
    timely = [c for c in contacts if c.date <= due]
    if any(c.successful and c.role is not RoleClass.NON_CLINICAL for c in timely):
        return True
    if ctx.sw.tcm_visit_in_window_is_contact and discharge.date < visit.date <= due:
        return True
    attempts = [c for c in timely if not c.successful]
    if len({c.date for c in attempts}) >= 2 or len(attempts) >= 2:  # noqa: PLR2004
        if not ctx.sw.tcm_attempts_need_later_contact:
            return True
        return any(c.successful for c in contacts if c.date > due) or visit.date > due
    return False


# -- BHI and CoCM (docs/billing/bhi-cocm.md) --------------------------------------------------


def _bill_if_ready(
    ctx: _Ctx,
    family: ServiceFamily,
    would: list[ClaimLine],
    fallback: str,
    sources: tuple[str, ...],
) -> bool:
    """Bill *would* when consent and the initiating visit are in place, else deny it (BHI, CoCM)."""
    failed = _monthly_prerequisites(
        ctx, family, conditions=None, care_plan=False, initiating=CCM_INITIATING
    )
    if failed is not None:
        reason, message, rule_id, tags = failed
        _deny_all(ctx, family, would, fallback, reason, message, rule_id, (*tags, *sources))
        return False
    ctx.out.lines.setdefault(family, []).extend(would)
    return True


def _bhi(ctx: _Ctx) -> None:
    entries = ctx.time(F.BHI, STAFF_ROLES)
    if not entries:
        return
    track = _bhi_track(ctx.pr.credential)
    code, label = track.base, track.label
    entries = ctx.track_time(track, ctx.classed(F.BHI, entries))
    if not ctx.available(code):
        return
    rule = ctx.rules.rule(code)
    need = first_unit(rule)
    total = _sum(entries)
    if total < need:
        ctx.deny(
            code,
            F.BHI,
            R.BELOW_THRESHOLD,
            f"{total} of the {need} {label} minutes {code} needs were logged in the month.",
            f"bhi.{code.lower()}.threshold",
        )
        ctx.hint(code, F.BHI, f"{_more(need - total, label)} {code}", need - total)
        return
    would = [ctx.line(code, F.BHI, 1, ctx.threshold_date(entries, need))]
    if not ctx.behavioral():
        _deny_all(
            ctx,
            F.BHI,
            would,
            code,
            R.TOO_FEW_CONDITIONS,
            f"General BHI needs a behavioral health condition{ctx.conditions_note()}.",
            "bhi.condition",
            ("S3",),
        )
        return
    _bill_if_ready(ctx, F.BHI, would, code, ("S3",))


def _cocm(ctx: _Ctx) -> None:
    entries = ctx.time(F.COCM, COCM_ROLES)
    months = [
        p
        for p in ctx.events(ProgramMonthFact, family=F.COCM, practitioner=ctx.pr.id)
        if ctx.in_period(p.date)
    ]
    if not entries:
        return
    first_month = bool(months) and months[0].episode_month == 1
    base = "99492" if first_month else "99493"
    if not months:
        ctx.hint(
            base,
            F.COCM,
            "No CoCM program month recorded; evaluated as a later month of the episode (99493).",
        )
    total = _sum(entries)
    base_rule = ctx.rules.rule(base)
    need = first_unit(base_rule)
    sink = ctx.sink()
    if total >= need:
        would = _track_lines(sink, F.COCM, _Track(base, "99494", tuple(entries), "care-manager"))
    elif ctx.available("G2214") and total >= first_unit(ctx.rules.rule("G2214")):
        would = [
            ctx.line(
                "G2214", F.COCM, 1, ctx.threshold_date(entries, first_unit(ctx.rules.rule("G2214")))
            )
        ]
        ctx.deny(
            base,
            F.COCM,
            R.BELOW_THRESHOLD,
            f"{total} care-manager minutes do not reach {base} ({need}); G2214 is reported instead.",
            f"cocm.{base}.threshold",
            ("S33",),
        )
        ctx.hint(base, F.COCM, f"{_more(need - total, 'care-manager')} {base}", need - total)
    else:
        ctx.deny(
            base,
            F.COCM,
            R.BELOW_THRESHOLD,
            f"{total} care-manager minutes reach neither {base} ({need}) nor G2214 (16).",
            f"cocm.{base}.threshold",
            ("S33",),
        )
        return
    if not ctx.behavioral():
        _deny_all(
            ctx,
            F.COCM,
            would,
            base,
            R.TOO_FEW_CONDITIONS,
            f"CoCM needs a behavioral health condition{ctx.conditions_note()}.",
            "cocm.condition",
            ("S4",),
        )
        return
    if _bill_if_ready(ctx, F.COCM, would, base, ("S4",)):
        # The add-on's "not yet" denial and the next-unit hint matter only when billed.
        ctx.out.hints.extend(sink.out.hints)
        ctx.out.denials.extend(sink.out.denials)


# -- RPM and RTM (docs/billing/rpm.md, rtm.md) --------------------------------------------------


_RTM_CODES = {
    RtmSystem.RESPIRATORY: ("98976", "98984"),
    RtmSystem.MUSCULOSKELETAL: ("98977", "98985"),
    RtmSystem.CBT: ("98978", "98986"),
}


def _monitoring(ctx: _Ctx, family: ServiceFamily) -> None:  # noqa: C901, PLR0912, PLR0915
    readings = [
        r
        for r in ctx.events(DeviceReadingsFact, family=family, practitioner=ctx.pr.id)
        if ctx.in_period(r.period_end) or ctx.in_period(r.period_start)
    ]
    setups = [
        s
        for s in ctx.events(DeviceSetupFact, family=family, practitioner=ctx.pr.id)
        if ctx.in_period(s.date)
    ]
    entries = ctx.time(family, MONITORING_ROLES)
    if not readings and not setups and not entries:
        return
    name = family.value
    would: list[ClaimLine] = []
    misc: list[tuple[str, DenialReason, str, str]] = []
    modifiers = (
        (THERAPY_MODIFIER[ctx.pr.credential],)
        if family is F.RTM and ctx.pr.credential in THERAPY_MODIFIER
        else ()
    )
    # Device supply: once per 30-day period, whatever the number of devices.
    by_period: dict[tuple[pendulum.Date, pendulum.Date], list[DeviceReadingsFact]] = {}
    for r in readings:
        by_period.setdefault((r.period_start, r.period_end), []).append(r)
    first_days = 0
    for (start, end), group in sorted(by_period.items()):
        days = max(r.days_with_data for r in group)
        first_days = first_days or days
        if family is F.RPM:
            full_code, short_code = "99454", "99445"
        else:
            # One device code per 30-day period (UNCONFIRMED): the system with the most days.
            best = max(
                group, key=lambda r: (r.days_with_data, r.rtm_system.value if r.rtm_system else "")
            )
            system = best.rtm_system or RtmSystem.MUSCULOSKELETAL
            full_code, short_code = _RTM_CODES[system]
        full = ctx.rules.rule(full_code)
        device_period = ServicePeriod(start=start, end=end)
        if days >= (full.min_days or 16):
            would.append(
                ctx.line(full_code, family, 1, end, period=device_period, modifiers=modifiers)
            )
            continue
        misc.append(
            (
                full_code,
                R.TOO_FEW_DEVICE_DAYS,
                f"{days} of the {full.min_days} days of data {full_code} needs in the 30-day period.",
                f"{name.lower()}.{full_code}.days",
            )
        )
        short = ctx.rule(short_code)
        if short is None or not short.in_effect(end):
            misc.append(
                (
                    short_code,
                    R.NOT_IN_EFFECT,
                    f"{short_code} (2-15 days of data) does not exist before 2026.",
                    f"{name.lower()}.{short_code}.effective",
                )
            )
        elif days >= (short.min_days or 2):
            would.append(
                ctx.line(short_code, family, 1, end, period=device_period, modifiers=modifiers)
            )
        else:
            misc.append(
                (
                    short_code,
                    R.TOO_FEW_DEVICE_DAYS,
                    f"{days} day of data bills no device code; {short_code} needs {short.min_days}.",
                    f"{name.lower()}.{short_code}.days",
                )
            )
    # Set-up: once per episode, when the first period has enough days.
    setup_code = "99453" if family is F.RPM else "98975"
    if setups:
        setup = ctx.rules.rule(setup_code)
        prior = [c for c in ctx.events(OtherClaimFact, code=setup_code) if c.date < setups[0].date]
        if prior:
            misc.append(
                (
                    setup_code,
                    R.ALREADY_BILLED_IN_PERIOD,
                    f"{setup_code} is reported once per episode of care.",
                    f"{name.lower()}.{setup_code}.once",
                )
            )
        elif first_days >= (setup.min_days or 16):
            would.append(ctx.line(setup_code, family, 1, setups[0].date, modifiers=modifiers))
        else:
            misc.append(
                (
                    setup_code,
                    R.TOO_FEW_DEVICE_DAYS,
                    f"{setup_code} needs {setup.min_days} days of data in the first 30-day period; {first_days} were recorded.",
                    f"{name.lower()}.{setup_code}.days",
                )
            )
    # Treatment management: calendar month, with a real-time interactive contact.
    if entries:
        interactive = interactive_month(e.interactive for e in entries) or any(
            c.successful and ctx.in_period(c.date)
            for c in ctx.events(ContactFact, family=family, practitioner=ctx.pr.id)
        )
        full_track, short_track = monitoring_tracks(family)
        base, add_on, short_base = full_track.base, full_track.add_on, short_track.base
        total = _sum(entries)
        sink = ctx.sink()
        lines = _track_lines(sink, family, _Track(base, add_on, tuple(entries), full_track.label))
        off = _not_in_effect(sink, base)
        if not lines and ctx.available(short_base):
            short_lines = _track_lines(
                sink, family, _Track(short_base, None, tuple(entries), short_track.label)
            )
            if short_lines:
                misc.append(
                    (
                        base,
                        R.BELOW_THRESHOLD,
                        f"{total} of the 20 management minutes {base} needs; {short_base} is reported instead.",
                        f"{name.lower()}.{base}.threshold",
                    )
                    if off is None
                    else (
                        base,
                        off.reason,
                        f"{off.message} {short_base} is reported instead.",
                        off.rule,
                    )
                )
                lines = short_lines
        if not lines:
            misc.append(
                (
                    base,
                    R.BELOW_THRESHOLD,
                    f"{total} of the 20 management minutes {base} needs were logged in the month.",
                    f"{name.lower()}.{base}.threshold",
                )
                if off is None
                else (base, off.reason, off.message, off.rule)
            )
            ctx.out.hints.extend(h for h in sink.out.hints if h.code == base)
        elif not interactive:
            misc.extend(
                (
                    line.code,
                    R.NO_INTERACTIVE_CONTACT,
                    f"{line.code} needs at least one real-time interactive communication in the month.",
                    f"{name.lower()}.interactive",
                )
                for line in lines
            )
            lines = []
        else:
            ctx.out.hints.extend(h for h in sink.out.hints if h.code in {base, add_on})
            ctx.out.denials.extend(d for d in sink.out.denials if d.code == add_on)
        would.extend(
            line if line.modifiers == modifiers else evolve(line, modifiers=modifiers)
            for line in lines
        )
    # Prerequisites: consent; RPM also needs an established patient.
    if family is F.RPM and not ctx.patient.established:
        _deny_all(
            ctx,
            family,
            would,
            "99454",
            R.NOT_ESTABLISHED_PATIENT,
            "RPM requires an established patient.",
            "rpm.established",
            ("S39", "S40"),
        )
        return
    if not ctx.consent_ok(family):
        _deny_all(
            ctx,
            family,
            would,
            "99454" if family is F.RPM else "98977",
            R.NO_CONSENT,
            f"No {name} consent is on file for this period.",
            f"{name.lower()}.consent",
            ("S85", "S39"),
        )
        return
    for code, reason, message, rule_id in misc:
        ctx.deny(code, family, reason, message, rule_id)
    if would:
        ctx.out.lines.setdefault(family, []).extend(would)


# -- ACP (docs/billing/acp.md) --------------------------------------------------------------


def _acp(ctx: _Ctx) -> None:
    logged = ctx.time(F.ACP, frozenset(RoleClass))
    entries = ctx.personal(F.ACP, logged)
    staff_minutes = _sum(logged) - _sum(entries)
    if staff_minutes:
        ctx.hint(
            "99497",
            F.ACP,
            f"{staff_minutes} ACP minutes by staff are not counted: only the practitioner's own "
            "face-to-face time is (incident-to ACP under direct supervision is not modelled).",
        )
    if not entries:
        return
    by_day: dict[pendulum.Date, list[TimeFact]] = {}
    for e in entries:
        by_day.setdefault(e.date, []).append(e)
    for day, group in sorted(by_day.items()):
        critical = [
            c
            for c in ctx.events(OtherClaimFact, practitioner=ctx.pr.id)
            if c.date == day and c.code in {"99291", "99292"}
        ]
        awv = any(
            v_.kind is VisitKind.AWV and v_.date == day
            for v_ in ctx.events(VisitFact, practitioner=ctx.pr.id)
        ) or any(
            c.code in {"G0438", "G0439"} and c.date == day
            for c in ctx.events(OtherClaimFact, practitioner=ctx.pr.id)
        )
        sink = ctx.sink()
        sink.period = ServicePeriod(start=day, end=day)
        lines = _track_lines(sink, F.ACP, _Track("99497", "99498", tuple(group), "face-to-face"))
        total = _sum(group)
        off = _not_in_effect(sink, "99497")
        if off is not None:
            ctx.out.denials.append(off)
            continue
        if not lines:
            ctx.deny(
                "99497",
                F.ACP,
                R.BELOW_THRESHOLD,
                f"{total} minutes of ACP on {day.isoformat()}: 99497 needs 16 (the midpoint of 30 must be passed).",
                "acp.99497.threshold",
                ("S12", "S10"),
            )
            ctx.out.hints.extend(sink.out.hints)
            continue
        if critical:
            _deny_all(
                ctx,
                F.ACP,
                lines,
                "99497",
                R.CROSS_FAMILY_EXCLUSION,
                "ACP is not reported on the same day as critical care.",
                "acp.critical_care",
                ("S14",),
            )
            continue
        ctx.out.denials.extend(sink.out.denials)
        ctx.out.hints.extend(sink.out.hints)
        day_period = ServicePeriod(start=day, end=day)
        ctx.out.lines.setdefault(F.ACP, []).extend(
            evolve(line, date_of_service=day, period=day_period, modifiers=("33",) if awv else ())
            for line in lines
        )


# -- APCM (docs/billing/apcm.md) ---------------------------------------------------------------


_ADDON_CODE = {
    BhAddon.GENERAL_BHI: "G0570",
    BhAddon.COCM_INITIAL: "G0568",
    BhAddon.COCM_SUBSEQUENT: "G0569",
}


def _apcm(ctx: _Ctx) -> None:  # noqa: C901, PLR0912 - the APCM rules, in order
    months = [
        p
        for p in ctx.events(ProgramMonthFact, family=F.APCM, practitioner=ctx.pr.id)
        if ctx.in_period(p.date)
    ]
    if not months:
        return
    month = months[0]
    conditions = ctx.chronic_conditions(12)
    if conditions >= 2 and ctx.patient.qmb:  # noqa: PLR2004
        code = "G0558"
    elif conditions >= 2:  # noqa: PLR2004
        code = "G0557"
    else:
        code = "G0556"
        if ctx.patient.qmb:
            ctx.deny(
                "G0558",
                F.APCM,
                R.TOO_FEW_CONDITIONS,
                "APCM level 3 requires two or more chronic conditions as well as QMB status.",
                "apcm.level3",
                ("S50",),
            )
    dos = month.date if dates_at_threshold(ctx.sw) else ctx.period.end
    addon = _ADDON_CODE.get(month.bh_addon) if month.bh_addon else None
    if not ctx.available(code, dos):
        ctx.deny(
            code,
            F.APCM,
            R.NOT_IN_EFFECT,
            "APCM is not payable before 1 January 2025.",
            "apcm.effective",
            ("S74",),
        )
        if addon:
            ctx.deny(
                addon,
                F.APCM,
                R.NOT_IN_EFFECT,
                "The APCM behavioral-health add-ons are not available before 2026.",
                "apcm.addon.effective",
                ("S57",),
            )
        return
    would = [ctx.line(code, F.APCM, 1, dos)]
    if addon:
        if ctx.available(addon, dos):
            would.append(ctx.line(addon, F.APCM, 1, dos))
        else:
            ctx.deny(
                addon,
                F.APCM,
                R.NOT_IN_EFFECT,
                "The APCM behavioral-health add-ons are not available before 2026.",
                "apcm.addon.effective",
                ("S57",),
            )
    if not ctx.pr.primary_care_focal_point:
        _deny_all(
            ctx,
            F.APCM,
            would,
            code,
            R.NOT_FOCAL_POINT,
            "APCM is billed only by the practitioner responsible for all primary care (the continuing focal point).",
            "apcm.focal_point",
            ("S50", "S53"),
        )
        return
    failed = _monthly_prerequisites(
        ctx, F.APCM, conditions=None, care_plan=False, initiating=CCM_INITIATING
    )
    if failed is not None:
        reason, message, rule_id, sources = failed
        if reason is R.NO_INITIATING_VISIT:
            message = "APCM needs an initiating visit for a patient not seen within 3 years."
        _deny_all(ctx, F.APCM, would, code, reason, message, rule_id, (*sources, "S52"))
        return
    if ctx.sw.apcm_bars_communication_codes:
        for claim in ctx.events(OtherClaimFact, practitioner=ctx.pr.id):
            if claim.code in COMMUNICATION_CODES and ctx.in_period(claim.date):
                ctx.hint(
                    code,
                    F.APCM,
                    f"{claim.code} this month is bundled into APCM under this rule set.",
                )
    ctx.out.lines.setdefault(F.APCM, []).extend(would)


# -- CHI and PIN (docs/billing/chi-pin.md) ----------------------------------------------------------


def _chi_pin(ctx: _Ctx, family: ServiceFamily) -> None:
    entries = ctx.time(family, AUXILIARY_ROLES)
    if not entries:
        return
    if family is F.CHI:
        base, add_on, kinds, conditions = "G0019", "G0022", CHI_INITIATING, None
    else:
        peer = any(e.credential is Credential.PEER_SPECIALIST for e in entries)
        base, add_on = ("G0140", "G0146") if peer else ("G0023", "G0024")
        kinds, conditions = PIN_INITIATING, CONDITIONS_NEEDED[F.PIN]
    if not ctx.available(base):
        return
    sink = ctx.sink()
    label = "navigation" if family is F.PIN else "CHI"
    if ctx.facts.setting is not Setting.PHYSICIAN_OFFICE and ctx.rules.year < 2025:  # noqa: PLR2004
        # Before 2025 an RHC/FQHC bills CHI/PIN as G0511, at 20 minutes of staff time.
        would = _g0511_minutes(sink, family, base, entries, label)
    else:
        would = _track_lines(
            sink, family, _Track(base, add_on, tuple(entries), label, ctx.sw.chi_pin_time_rule)
        )
    if not would:
        total = _sum(entries)
        need = first_unit(ctx.rules.rule(base), ctx.sw.chi_pin_time_rule)
        ctx.deny(
            base,
            family,
            R.BELOW_THRESHOLD,
            f"{total} of the {need} minutes {base} needs were logged in the month.",
            f"{family.value.lower()}.{base}.threshold",
            ("S61",),
        )
        ctx.out.hints.extend(sink.out.hints)
        return
    failed = _monthly_prerequisites(
        ctx, family, conditions=conditions, care_plan=False, initiating=kinds
    )
    if failed is not None:
        reason, message, rule_id, sources = failed
        if reason is R.NO_INITIATING_VISIT:
            message = f"{family.value} needs an initiating E/M visit (not a 99211 staff visit) or AWV by the billing practitioner."
        _deny_all(ctx, family, would, base, reason, message, rule_id, (*sources, "S62", "S7"))
        return
    ctx.out.denials.extend(sink.out.denials)
    ctx.out.hints.extend(sink.out.hints)
    ctx.out.lines.setdefault(family, []).extend(would)


def _g0511_minutes(
    ctx: _Ctx, family: ServiceFamily, base: str, entries: list[TimeFact], label: str
) -> list[ClaimLine]:
    """The base line when 20 minutes reach G0511 (recoded by _rhc_fqhc), else a hint."""
    need = 20
    total = _sum(entries)
    if total < need:
        ctx.hint("G0511", family, f"{_more(need - total, label)} G0511", need - total)
        return []
    return [ctx.line(base, family, 1, ctx.threshold_date(entries, need))]


# -- joining families -----------------------------------------------------------------------


_FAMILIES: tuple[tuple[ServiceFamily, Callable[[_Ctx], None]], ...] = (
    (F.CCM, _ccm),
    (F.PCM, _pcm),
    (F.TCM, _tcm),
    (F.BHI, _bhi),
    (F.COCM, _cocm),
    (F.RPM, lambda ctx: _monitoring(ctx, F.RPM)),
    (F.RTM, lambda ctx: _monitoring(ctx, F.RTM)),
    (F.ACP, _acp),
    (F.APCM, _apcm),
    (F.CHI, lambda ctx: _chi_pin(ctx, F.CHI)),
    (F.PIN, lambda ctx: _chi_pin(ctx, F.PIN)),
)


def _preferred(ctx: _Ctx, a: ServiceFamily, b: ServiceFamily) -> ServiceFamily:
    for election in reversed(ctx.events(ElectionFact, practitioner=ctx.pr.id)):
        preferred: ServiceFamily = election.prefer_family
        if preferred in {a, b}:
            return preferred
    order = ctx.sw.default_preference
    rank = {family: index for index, family in enumerate(order)}
    return min((a, b), key=lambda f: rank.get(f, len(order)))


def _drop(  # noqa: PLR0917
    ctx: _Ctx,
    family: ServiceFamily,
    keep: Callable[[ClaimLine], bool],
    reason: str,
    rule_id: str,
    sources: tuple[str, ...],
) -> None:
    lines = ctx.out.lines.get(family, [])
    for line in lines:
        if not keep(line):
            ctx.deny(line.code, family, R.CROSS_FAMILY_EXCLUSION, reason, rule_id, sources)
    kept = [line for line in lines if keep(line)]
    ctx.out.lines[family] = kept
    if lines and not kept:
        # Nothing of this family is billed: its "next unit" hints and add-on denials no longer apply.
        _clear_extras(ctx, {family})


def _clear_extras(ctx: _Ctx, families: set[ServiceFamily]) -> None:
    """Forget the next-unit hints and add-on denials of *families* (their codes are not billed as such)."""
    ctx.out.hints = [h for h in ctx.out.hints if h.family not in families]
    ctx.out.denials = [
        d
        for d in ctx.out.denials
        if d.family not in families or d.reason not in {R.BELOW_THRESHOLD, R.UNIT_CAP}
    ]


def _resolve_conflicts(ctx: _Ctx) -> None:
    lines = ctx.out.lines
    for a, b in CONFLICTS:
        if not lines.get(a) or not lines.get(b):
            continue
        if (a, b) == (F.TCM, F.APCM) and not any(
            line.code in {"99495", "99496"} for line in lines[a]
        ):
            continue
        winner = _preferred(ctx, a, b)
        loser = b if winner is a else a
        if {a, b} == {F.BHI, F.COCM}:
            message = (
                "A practitioner reports CoCM or general BHI for a patient in a month, not both."
            )
            sources: tuple[str, ...] = ("S37",)
        else:
            message = f"{loser.value} and {winner.value} are not billed by the same practitioner for the same period; {winner.value} is reported."
            sources = ("S31", "S30") if {a, b} == {F.CCM, F.PCM} else ("S51", "S56")
        _drop(
            ctx,
            loser,
            lambda _line: False,
            message,
            f"{loser.value.lower()}.excluded_by.{winner.value.lower()}",
            sources,
        )
    # 2026 APCM behavioral add-ons against the legacy BHI/CoCM codes.
    addons = [line for line in lines.get(F.APCM, []) if line.code in APCM_ADDONS]
    legacy = [f for f in (F.BHI, F.COCM) if lines.get(f)]
    if addons and legacy:
        for family in legacy:
            if _preferred(ctx, F.APCM, family) is F.APCM:
                _drop(
                    ctx,
                    family,
                    lambda _line: False,
                    "The APCM behavioral add-on is billed this month, so the legacy BHI/CoCM codes are not.",
                    "apcm.addon.excludes_legacy",
                    ("S56", "S57"),
                )
            else:
                _drop(
                    ctx,
                    F.APCM,
                    lambda line: line.code not in APCM_ADDONS,
                    "The legacy BHI/CoCM codes are billed this month, so the APCM add-on is not.",
                    "apcm.addon.excludes_legacy",
                    ("S56", "S57"),
                )
    # CHI with PIN in the same month (a switch).
    if not ctx.sw.chi_and_pin_same_month and lines.get(F.CHI) and lines.get(F.PIN):
        _drop(
            ctx,
            F.PIN,
            lambda _line: False,
            "This rule set does not allow CHI and PIN in the same month.",
            "pin.excluded_by.chi",
            (),
        )


def _rhc_fqhc(ctx: _Ctx) -> None:
    """RHC/FQHC coding by year (docs/billing/rhc-fqhc.md)."""
    if ctx.facts.setting is Setting.PHYSICIAN_OFFICE:
        return
    day = ctx.period.end
    g0511_ok = ctx.available("G0511", day)
    g0512_ok = ctx.available("G0512", day)
    individual_ok = ctx.rules.year >= 2025  # noqa: PLR2004 - individual codes from 1 Jan 2025
    lines = ctx.out.lines
    cocm = lines.get(F.COCM, [])
    if cocm:
        if not individual_ok or (ctx.rules.year == 2025 and g0512_ok):  # noqa: PLR2004
            _clear_extras(ctx, {F.COCM})  # 99494's hints do not apply to G0512
            total = _sum(ctx.time(F.COCM, COCM_ROLES))
            first_month = any(line.code == "99492" for line in cocm)
            need = 70 if first_month else 60
            if total >= need:
                lines[F.COCM] = [ctx.line("G0512", F.COCM, 1, cocm[0].date_of_service)]
            else:
                lines[F.COCM] = []
                ctx.deny(
                    "G0512",
                    F.COCM,
                    R.BELOW_THRESHOLD,
                    f"G0512 needs {need} care-manager minutes; {total} were logged.",
                    "rhc.g0512.threshold",
                    ("S68",),
                )
        elif not g0512_ok:
            ctx.deny(
                "G0512",
                F.COCM,
                R.NOT_IN_EFFECT,
                "G0512 is retired for RHCs and FQHCs from 1 January 2026; the CoCM codes are billed instead.",
                "rhc.g0512.retired",
                ("S34", "S73"),
            )
    covered = [f for f in G0511_FAMILIES if lines.get(f)]
    if not covered:
        return
    if not individual_ok:
        # The family's own add-on hints and denials do not apply to G0511.
        _clear_extras(ctx, set(covered))
        for family in covered:
            first = lines[family][0]
            lines[family] = [
                evolve(ctx.line("G0511", family, 1, first.date_of_service), period=first.period)
            ]
    elif not g0511_ok:
        ctx.deny(
            "G0511",
            covered[0],
            R.NOT_IN_EFFECT,
            "G0511 is no longer payable (the transition ended; not accepted from 1 October 2025).",
            "rhc.g0511.ended",
            ("S68", "S69", "S70"),
        )
    else:
        ctx.hint(
            "G0511",
            covered[0],
            "Until 30 September 2025 an RHC/FQHC may bill G0511 instead of the individual codes.",
        )


def _one_tcm_per_discharge(outcomes: dict[str, _Ctx]) -> None:
    """One TCM per discharge: the practitioner with the earliest TCM visit reports it (S18, S20)."""
    tcm = [
        (line.date_of_service, index, ctx)
        for index, ctx in enumerate(outcomes.values())
        for line in ctx.out.lines.get(F.TCM, [])
        if line.code in {"99495", "99496"}
    ]
    if len(tcm) > 1:
        _first_day, _first_index, first = min(tcm, key=lambda item: (item[0], item[1]))
        for _day, _index, ctx in tcm:
            if ctx is not first:
                _drop(
                    ctx,
                    F.TCM,
                    lambda line: line.code not in {"99495", "99496"},
                    f"Only one practitioner may report TCM within 30 days of a discharge, and {first.pr.id} does.",
                    "tcm.one_per_30_days",
                    ("S18", "S20"),
                )
                ctx.out.denials = [
                    evolve(d, reason=R.OTHER_PRACTITIONER_BILLED)
                    if d.rule == "tcm.one_per_30_days"
                    else d
                    for d in ctx.out.denials
                ]


def _apcm_across_practitioners(outcomes: dict[str, _Ctx]) -> None:
    """A switch: APCM by one practitioner bars CCM, PCM and TCM by another in the period."""
    apcm = [ctx.pr.id for ctx in outcomes.values() if ctx.out.lines.get(F.APCM)]
    if not apcm:
        return
    for ctx in outcomes.values():
        if ctx.pr.id in apcm:
            continue
        for family in (F.CCM, F.PCM, F.TCM):
            if ctx.out.lines.get(family):
                _drop(
                    ctx,
                    family,
                    lambda _line: False,
                    f"{apcm[0]} bills APCM this month, and this rule set bars {family.value} by another practitioner with it.",
                    f"{family.value.lower()}.excluded_by.apcm_other_practitioner",
                    ("S51", "S56"),
                )


def _not_claimed(
    ctx: _Ctx, family: ServiceFamily, lines: list[ClaimLine], claims: list[OtherClaimFact]
) -> list[ClaimLine]:
    """The lines whose code this practitioner has not already claimed (the others are refused)."""
    kept = []
    for line in lines:
        if any(
            c.code == line.code and c.practitioner == ctx.pr.id and ctx.in_period(c.date)
            for c in claims
        ):
            ctx.deny(
                line.code,
                family,
                R.ALREADY_BILLED_IN_PERIOD,
                f"{line.code} is already claimed by this practitioner for this period.",
                f"{family.value.lower()}.{line.code.lower()}.already_claimed",
            )
        else:
            kept.append(line)
    return kept


def _first_code(rules: RuleSet, family: ServiceFamily, on: pendulum.Date) -> str | None:
    """The family's first code in effect on *on*: its shortest time-based base code, else its first base code."""
    base = [
        r for r in rules.codes if r.family is family and r.add_on_to is None and r.in_effect(on)
    ]
    timed = sorted((r for r in base if r.minutes is not None), key=lambda r: (r.minutes, r.code))
    ranked = timed or sorted(base, key=lambda r: r.code)
    return ranked[0].code if ranked else None


def _unlisted_practitioners(facts: BillingFacts, rules: RuleSet) -> list[Denial]:
    """Refuse the time attributed to a practitioner the facts do not list (never drop it unsaid).

    One denial per family and practitioner, on the family's first time-based
    code, saying how many minutes were left out and why.
    """
    listed = {p.id for p in facts.practitioners}
    minutes: dict[tuple[ServiceFamily, str], int] = {}
    for event in facts.events:
        if (
            type(event) is TimeFact
            and event.practitioner not in listed
            and facts.period.start <= event.date <= facts.period.end
        ):
            key = (event.family, event.practitioner)
            minutes[key] = minutes.get(key, 0) + event.minutes
    out = []
    for (family, practitioner), total in sorted(
        minutes.items(), key=lambda kv: (kv[0][0].value, kv[0][1])
    ):
        chosen = _first_code(rules, family, facts.period.end)
        if chosen is None:
            continue  # the rule set bills nothing of this family
        out.append(
            Denial(
                patient_id=facts.patient.id,
                code=chosen,
                family=family,
                reason=R.NOT_A_BILLING_PRACTITIONER,
                message=(
                    f"{total} {family.value} minute{'' if total == 1 else 's'} were logged for "
                    f"{practitioner}, who is not a billing practitioner of this evaluation; "
                    "they were not counted."
                ),
                rule=f"{family.value.lower()}.unlisted_practitioner",
                period=facts.period,
                sources=(),
                practitioner_id=practitioner,
            )
        )
    return out


def _other_practitioners(facts: BillingFacts, rules: RuleSet, outcomes: dict[str, _Ctx]) -> None:  # noqa: C901
    """One practitioner per period, RPM vs RTM, and codes already claimed as facts."""
    claims = [e for e in facts.events if isinstance(e, OtherClaimFact)]
    billed_by: dict[ServiceFamily, str] = {}
    for pr_id, ctx in outcomes.items():
        for family, lines in list(ctx.out.lines.items()):
            if not lines:
                continue
            ctx.out.lines[family] = kept = _not_claimed(ctx, family, lines, claims)
            if (
                not kept
                or family not in rules.switches.one_practitioner_families
                or family is F.TCM
            ):
                continue
            family_codes = {c.code for c in rules.codes if c.family is family}
            other_claim = next(
                (
                    c
                    for c in claims
                    if c.practitioner != pr_id and c.code in family_codes and ctx.in_period(c.date)
                ),
                None,
            )
            other = other_claim.practitioner if other_claim else billed_by.get(family)
            if other is not None and other != pr_id:
                _drop(
                    ctx,
                    family,
                    lambda _line: False,
                    f"Only one practitioner may bill {family.value} for a patient in a period, and {other} does.",
                    f"{family.value.lower()}.one_practitioner",
                    (),
                )
            else:
                billed_by[family] = pr_id
    _one_tcm_per_discharge(outcomes)
    if rules.switches.apcm_conflicts_across_practitioners:
        _apcm_across_practitioners(outcomes)
    # RPM and RTM are never billed for the same patient in the same period.
    rpm = [ctx for ctx in outcomes.values() if ctx.out.lines.get(F.RPM)]
    rtm = [ctx for ctx in outcomes.values() if ctx.out.lines.get(F.RTM)]
    if rpm and rtm:
        for ctx in rtm:
            keep = _preferred(ctx, F.RPM, F.RTM)
            if keep is F.RPM:
                _drop(
                    ctx,
                    F.RTM,
                    lambda _line: False,
                    "RPM and RTM are not billed for the same patient in the same period; RPM is reported.",
                    "rtm.excluded_by.rpm",
                    ("S39", "S41"),
                )
            else:
                for rpm_ctx in rpm:
                    _drop(
                        rpm_ctx,
                        F.RPM,
                        lambda _line: False,
                        "RPM and RTM are not billed for the same patient in the same period; RTM is reported.",
                        "rpm.excluded_by.rtm",
                        ("S39", "S41"),
                    )


def _bound_by_death(ctx: _Ctx) -> None:
    """No date of service after the date of death: earlier in the line's period, or refused."""
    death = ctx.patient.date_of_death
    if death is None:
        return
    for family, lines in ctx.out.lines.items():
        if all(line.date_of_service <= death for line in lines):
            continue
        kept = []
        for line in lines:
            if line.date_of_service <= death:
                kept.append(line)
            elif line.period.start <= death:
                kept.append(evolve(line, date_of_service=death))
            else:
                ctx.deny(
                    line.code,
                    family,
                    R.PATIENT_DECEASED,
                    f"The patient died on {death.isoformat()}, before this service period began.",
                    f"{family.value.lower()}.after_death",
                )
        ctx.out.lines[family] = kept
        if lines and not kept:
            _clear_extras(ctx, {family})


def _no_hints_of_uncountable_minutes(ctx: _Ctx) -> None:
    """No hint that more minutes reach a code once the patient has died by the period's end.

    Minutes count up to the date of death (:func:`countable_window`): any
    minute still to be logged would fall after it, so "10 more minutes
    reach 99490" would suggest time that cannot count. Such hints are
    dropped; the family's lines and refusals, and hints of other kinds, stay.
    Before consent nothing needs removing: the totals behind a hint count
    only the minutes from consent on.
    """
    death = ctx.patient.date_of_death
    if death is None or death > ctx.period.end:
        return
    ctx.out.hints = [h for h in ctx.out.hints if h.minutes_needed is None]


def _explain_uncounted_time(ctx: _Ctx) -> None:
    """Minutes logged in the period that did not count are said; a family is never left silent.

    Minutes before consent or after the date of death become a hint, or the
    family's refusal when nothing else of it was billed or refused.
    """
    period = ctx.period
    logged_families = [
        key[0] for key in ctx.index if type(key) is tuple and key[1] == ctx.pr.id
    ]  # (family, practitioner) keys of the practitioner's time entries
    for family in sorted(logged_families, key=_FAMILY_RANK.__getitem__):
        entries: list[TimeFact] = ctx.index[family, ctx.pr.id]  # type: ignore[assignment]
        logged = [t for t in entries if period.start <= t.date <= period.end]
        if not logged:
            continue
        start, end = countable_window(ctx.patient, family, period)
        early = _sum(t for t in logged if t.date < start)
        late = _sum(t for t in logged if t.date > end and t.date >= start)
        consent = ctx.patient.consent(family)
        death = ctx.patient.date_of_death
        said = []
        if early and consent is not None:
            said.append(
                f"{early} {family.value} minute{'s' if early != 1 else ''} logged before consent "
                f"on {consent.isoformat()} {'do' if early != 1 else 'does'} not count"
            )
        if late and death is not None:
            said.append(
                f"{late} {family.value} minute{'s' if late != 1 else ''} logged after the "
                f"patient's death on {death.isoformat()} {'do' if late != 1 else 'does'} not count"
            )
        code = _bhi_track(ctx.pr.credential).base if family is F.BHI else BASE_CODE[family]
        answered = bool(ctx.out.lines.get(family)) or any(
            d.family is family for d in ctx.out.denials
        )
        if answered:
            for message in said:
                ctx.hint(code, family, f"{message}.")
            continue
        name = family.value.lower()
        if said and early + late == _sum(logged):
            reason = R.TIME_BEFORE_CONSENT if early and not late else R.PATIENT_DECEASED
            rule_id = f"{name}.time_before_consent" if early and not late else f"{name}.after_death"
            ctx.deny(code, family, reason, f"{'; '.join(said).capitalize()}.", rule_id)
            continue
        ctx.deny(
            code,
            family,
            R.TIME_NOT_COUNTABLE,
            f"{_sum(logged)} {family.value} minute{'' if _sum(logged) == 1 else 's'} "
            f"{'was' if _sum(logged) == 1 else 'were'} logged, and none counts toward a "
            f"{family.value} code in this period ({_why_not_counted(ctx, family, code)})"
            + (f"; {'; '.join(said)}" if said else "")
            + ".",
            f"{name}.time_not_counted",
        )


#: Families in their declared order (the order their uncounted time is explained in).
_FAMILY_RANK = {family: rank for rank, family in enumerate(ServiceFamily)}


def _why_not_counted(ctx: _Ctx, family: ServiceFamily, code: str) -> str:
    if family is F.TCM:
        return "TCM is reported for a discharge, with a timely contact and visit, not for time"
    if family is F.APCM:
        return "APCM is reported per month of program services, not for time"
    if not ctx.available(code):
        return f"no {family.value} code is in effect"
    return "the time was logged by roles whose minutes do not count toward it"


def evaluate(facts: BillingFacts, rules: RuleSet) -> EvaluationResult:
    """Evaluate one patient's period under *rules*: claim lines, denials and hints.

    >>> import pendulum
    >>> from carecore.billing.cms import cms_rule_set
    >>> from carecore.billing.facts import *
    >>> from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod
    >>> facts = BillingFacts(
    ...     period=ServicePeriod.month(2026, 3), setting=Setting.PHYSICIAN_OFFICE,
    ...     practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
    ...     patient=PatientFacts(id="p1", established=True, last_visit=pendulum.Date(2026, 1, 5),
    ...         conditions=[ChronicCondition(icd10="E11.65", significant_risk=True),
    ...                     ChronicCondition(icd10="I10", significant_risk=True)],
    ...         consent_on={ServiceFamily.CCM: pendulum.Date(2026, 1, 5)},
    ...         care_plan_on={ServiceFamily.CCM: pendulum.Date(2026, 1, 5)}),
    ...     events=[TimeFact(date=pendulum.Date(2026, 3, d), minutes=16, role=RoleClass.CLINICAL_STAFF,
    ...                      practitioner="dr1", family=ServiceFamily.CCM) for d in (3, 17)])
    >>> result = evaluate(facts, cms_rule_set(2026))
    >>> result.billable
    [('99490', 1)]
    >>> [h.message for h in result.hints]
    ['8 more clinical-staff minutes reach 99439']
    """
    if not isinstance(facts, BillingFacts):
        raise errors.InvalidValue("must be BillingFacts", field="facts", value=facts)
    if not hasattr(rules, "codes") or not hasattr(rules, "switches"):
        raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
    outcomes: dict[str, _Ctx] = {}
    index = _index(facts)
    for pr in facts.practitioners:
        ctx = _Ctx(facts, rules, pr, index)
        for _family, run in _FAMILIES:
            run(ctx)
        _resolve_conflicts(ctx)
        _rhc_fqhc(ctx)
        _bound_by_death(ctx)
        _no_hints_of_uncountable_minutes(ctx)
        outcomes[pr.id] = ctx
    _other_practitioners(facts, rules, outcomes)
    lines: list[ClaimLine] = []
    denials: list[Denial] = []
    hints: list[Hint] = []
    for ctx in outcomes.values():
        _explain_uncounted_time(ctx)
        for family, family_lines in ctx.out.lines.items():
            diagnoses = line_diagnoses(facts.patient.conditions, family, rules.switches)
            lines.extend(
                line if line.diagnoses == diagnoses else evolve(line, diagnoses=diagnoses)
                for line in family_lines
            )
        billed = {(line.code, line.billing_practitioner_id) for line in lines}
        seen: set[tuple[str, str, DenialReason]] = set()
        for denial in ctx.out.denials:
            key = (denial.code, denial.rule, denial.reason)
            billed_anyway = (denial.code, ctx.pr.id) in billed and denial.reason is not R.UNIT_CAP
            if billed_anyway or key in seen:
                continue
            seen.add(key)
            denials.append(denial)
        hints.extend(ctx.out.hints)
    denials.extend(_unlisted_practitioners(facts, rules))
    return EvaluationResult(
        patient_id=facts.patient.id,
        period=facts.period,
        rule_set=rules.id,
        rule_set_version=rules.version,
        claim_lines=sorted(lines, key=lambda line: (line.billing_practitioner_id, line.code)),
        denials=denials,
        hints=hints,
    )
