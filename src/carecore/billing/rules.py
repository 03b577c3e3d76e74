"""Billing rules as data: codes with their thresholds, caps and dates, and the switches.

A :class:`RuleSet` holds one payer's rules for one calendar year. The CMS
rule sets for 2024, 2025 and 2026 are built in :mod:`carecore.billing.cms`
and registered by a built-in plugin through ``carecore_rule_sets``; a payer
plugin can register its own (a new ``id``) or replace a CMS one (same
``id``), usually by :func:`attrs.evolve`-ing a CMS set.

Every rule the specification marks UNCONFIRMED is a field of
:class:`Switches` with a stated default, never a constant in the engine.
"""

from __future__ import annotations

import functools
from decimal import Decimal

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.conditions import SignificantRisk
from carecore.model import validators as v
from carecore.model.codes import CodeEnum, ServiceFamily

__all__ = [
    "CodeRule",
    "ConditionGrouping",
    "DateOfService",
    "HolidayCalendar",
    "RuleSet",
    "Switches",
    "TcmDayCounting",
    "TimeRule",
    "TrackPreference",
]


class TimeRule(CodeEnum):
    """When a unit of time is attained (S10, S11, S93)."""

    FULL = "full"  #: the whole block ("at least 20 minutes")
    MIDPOINT = "midpoint"  #: CPT's default: more than half the block (16 of 30)
    NONE = "none"  #: not time-based


class TcmDayCounting(CodeEnum):
    """How TCM's 7- and 14-day visit deadlines count days (UNCONFIRMED, a switch)."""

    DISCHARGE_DAY_ZERO = "discharge_day_zero"  #: deadline = discharge date + 7 / + 14
    DISCHARGE_DAY_ONE = "discharge_day_one"  #: deadline = discharge date + 6 / + 13


class TrackPreference(CodeEnum):
    """Which CCM/PCM track to report when more than one is met in a month."""

    PERSONAL_FIRST = "personal_first"  #: the default: the practitioner-personal track
    HIGHEST_VALUE = "highest_value"  #: the track with the higher expected payment


class DateOfService(CodeEnum):
    """The date of service of a monthly code (any date after the threshold is met)."""

    THRESHOLD_MET = "threshold_met"  #: the day the time threshold was reached
    PERIOD_END = "period_end"  #: the last day of the month


class ConditionGrouping(CodeEnum):
    """Which ICD-10-CM codes count as one chronic condition."""

    CATEGORY = "category"  #: codes of one ICD-10-CM category (first 3 characters) are one disease
    CODE = "code"  #: every distinct code is a condition of its own


@frozen(kw_only=True, field_transformer=v.name_errors)
class HolidayCalendar:
    """The days a practice counts as business days: Monday-Friday minus these holidays.

    ``country`` and ``subdiv`` name a calendar of the ``holidays`` package;
    ``closed`` adds the practice's own closure days.

    >>> cal = HolidayCalendar()
    >>> cal.add_business_days(pendulum.Date(2026, 11, 25), 2)  # Thanksgiving, then a weekend
    Date(2026, 11, 30)
    """

    country: str = field(default="US", validator=v.not_blank)
    subdiv: str | None = None
    closed: frozenset[pendulum.Date] = field(default=frozenset(), converter=v.to_frozenset)

    def is_business_day(self, day: pendulum.Date) -> bool:
        """Whether *day* is a business day in this calendar."""
        if day.weekday() >= 5 or day in self.closed:  # noqa: PLR2004 - Saturday, Sunday
            return False
        return day not in _holidays(self.country, self.subdiv, day.year)

    def add_business_days(self, day: pendulum.Date, count: int) -> pendulum.Date:
        """The *count*-th business day after *day* (not counting *day* itself)."""
        current = day
        remaining = count
        while remaining > 0:
            current = current.add(days=1)
            if self.is_business_day(current):
                remaining -= 1
        return current


_HOLIDAY_CACHE: dict[tuple[str, str | None, int], frozenset[pendulum.Date]] = {}


def _holidays(country: str, subdiv: str | None, year: int) -> frozenset[pendulum.Date]:
    key = (country, subdiv, year)
    found = _HOLIDAY_CACHE.get(key)
    if found is None:
        import holidays  # noqa: PLC0415 - loaded only when a business day is counted

        try:
            table = holidays.country_holidays(country, subdiv=subdiv, years=year)
        except NotImplementedError as exc:
            raise errors.InvalidValue(
                "is not a calendar of the holidays package", field="country", value=country
            ) from exc
        found = frozenset(pendulum.Date(d.year, d.month, d.day) for d in table)
        _HOLIDAY_CACHE[key] = found
    return found


@frozen(kw_only=True, field_transformer=v.name_errors)
class CodeRule:
    """One billing code: its family, when it exists, and how time or days attain it.

    ``minutes`` is the time block of the code (20 for 99490); with
    ``time_rule`` FULL the first unit needs all of it, with MIDPOINT more
    than half. Add-on codes name their base in ``add_on_to``; ``max_units``
    caps them per period (None: no cap found).

    >>> rule = CodeRule(code="99497", family=ServiceFamily.ACP, summary="ACP, first 30 minutes",
    ...                 minutes=30, time_rule=TimeRule.MIDPOINT, sources=("S12",))
    >>> rule.first_unit_minutes
    16
    """

    code: str = field(validator=v.matches(r"[0-9A-Z][0-9]{3}[0-9A-Z]", "a CPT/HCPCS code"))
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    summary: str = field(validator=v.not_blank)
    minutes: int | None = field(default=None, validator=v.optional(v.int_between(1, 600)))
    time_rule: TimeRule = field(default=TimeRule.FULL, validator=v.one_of(TimeRule))
    add_on_to: str | None = None
    max_units: int | None = field(default=None, validator=v.optional(v.int_between(1, 99)))
    min_days: int | None = field(default=None, validator=v.optional(v.int_between(1, 31)))
    max_days: int | None = field(default=None, validator=v.optional(v.int_between(1, 31)))
    available_from: pendulum.Date = field(default=pendulum.Date(1990, 1, 1), converter=v.to_date)
    available_to: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    amount: Decimal | None = field(default=None, validator=v.optional(v.money))
    sources: tuple[str, ...] = field(default=(), converter=v.to_tuple)

    @property
    def first_unit_minutes(self) -> int | None:
        """Minutes needed for the first unit (None for codes that are not time-based)."""
        if self.minutes is None or self.time_rule is TimeRule.NONE:
            return None
        if self.time_rule is TimeRule.MIDPOINT:
            return self.minutes // 2 + 1
        return self.minutes

    def in_effect(self, day: pendulum.Date) -> bool:
        """Whether the code can be billed for a service on *day*."""
        return self.available_from <= day and (
            self.available_to is None or day <= self.available_to
        )


@frozen(kw_only=True, field_transformer=v.name_errors)
class Switches:
    """Every UNCONFIRMED or ambiguous billing rule, as a choice with a default.

    Each default is stated in the docs (billing/switches) with the
    reason it was chosen.
    """

    #: UNCONFIRMED: how the 7/14-day TCM deadlines count days.
    tcm_day_counting: TcmDayCounting = TcmDayCounting.DISCHARGE_DAY_ZERO
    #: UNCONFIRMED (S23): the holiday calendar for TCM business days (federal assumed).
    business_days: HolidayCalendar = field(factory=HolidayCalendar)
    #: S21, S17 and the scenario convention: two timely attempts count only if contact is later made.
    tcm_attempts_need_later_contact: bool = True
    #: S94 (medium confidence): a face-to-face visit inside the 2-day window also satisfies the contact.
    tcm_visit_in_window_is_contact: bool = True
    #: UNCONFIRMED (S32): CCM barred in a month with G0181/G0182 or ESRD 90951-90970.
    ccm_barred_with_oversight_or_esrd: bool = False
    #: The scenario convention: which CCM/PCM track to report when several are met.
    track_preference: TrackPreference = TrackPreference.PERSONAL_FIRST
    #: Off by default (CY 2020 rule, CPT 2022 wording; S28): complex CCM also needs an
    #: established or substantially revised plan.
    complex_ccm_needs_substantial_revision: bool = False
    #: UNCONFIRMED: PCM needs an initiating visit like CCM.
    pcm_needs_initiating_visit: bool = True
    #: UNCONFIRMED: APCM bars the communication-technology codes in the same month.
    apcm_bars_communication_codes: bool = False
    #: UNCONFIRMED: APCM conflicts with CCM/PCM/TCM billed by a different practitioner.
    apcm_conflicts_across_practitioners: bool = False
    #: UNCONFIRMED: G0019/G0023/G0140 attained at the full 60 minutes (FULL) or at 31 (MIDPOINT).
    chi_pin_time_rule: TimeRule = TimeRule.FULL
    #: UNCONFIRMED: CHI and PIN may both be billed for a patient-month.
    chi_and_pin_same_month: bool = True
    #: Partly UNCONFIRMED: families where only one practitioner may bill per period.
    one_practitioner_families: frozenset[ServiceFamily] = field(
        default=frozenset(
            {
                ServiceFamily.CCM,
                ServiceFamily.TCM,
                ServiceFamily.RPM,
                ServiceFamily.APCM,
                ServiceFamily.CHI,
                # UNCONFIRMED; assumed, because it is the safer reading:
                ServiceFamily.BHI,
                ServiceFamily.COCM,
                ServiceFamily.RTM,
                ServiceFamily.PIN,
            }
        ),
        converter=v.to_frozenset,
    )
    #: The date of service reported for monthly codes.
    date_of_service: DateOfService = DateOfService.THRESHOLD_MET
    #: Personally performed codes (99491/99437, 99424/99425, G0323, 99497/99498) count a
    #: physician or QHP minute only when its credential may bill the family (an LCSW or PT
    #: logged as QHP counts as clinical staff). A minute without a credential is trusted.
    personal_time_needs_billing_credential: bool = True
    #: Only billable (leaf) ICD-10-CM codes count toward condition requirements; category
    #: codes such as E11 and codes not in ICD-10-CM are named in the denial instead.
    billable_conditions_only: bool = True
    #: Which codes count as one condition: one ICD-10-CM category (E11.65 and E11.9 are one
    #: disease) or each code.
    condition_grouping: ConditionGrouping = ConditionGrouping.CATEGORY
    #: Where a chronic condition's significant risk comes from, for the month close's facts
    #: and the registry alike: the condition-group table or an attestation (TABLE), or an
    #: attestation only (ATTESTED: the table proposes, the registry asks for attestation).
    significant_risk_from: SignificantRisk = field(
        default=SignificantRisk.TABLE, validator=attrs.validators.instance_of(SignificantRisk)
    )
    #: Which family wins a same-practitioner conflict when no election is recorded
    #: (earlier in the tuple wins). The rules leave this to the practice.
    default_preference: tuple[ServiceFamily, ...] = field(
        default=(
            ServiceFamily.APCM,
            ServiceFamily.CCM,
            ServiceFamily.PCM,
            ServiceFamily.COCM,
            ServiceFamily.BHI,
            ServiceFamily.RPM,
            ServiceFamily.RTM,
        ),
        converter=v.to_tuple,
    )


@frozen(kw_only=True, field_transformer=v.name_errors)
class RuleSet:
    """One payer's care-management rules for one calendar year.

    >>> from carecore.billing.cms import cms_rule_set
    >>> rules = cms_rule_set(2026)
    >>> rules.id, rules.rule("99439").max_units
    ('cms-2026', 2)
    """

    id: str = field(validator=v.not_blank)
    payer: str = field(validator=v.not_blank)
    year: int = field(validator=v.int_between(2000, 2100))
    version: str = field(validator=v.not_blank)
    title: str = field(validator=v.not_blank)
    codes: tuple[CodeRule, ...] = field(converter=v.to_tuple)
    switches: Switches = field(factory=Switches)

    @codes.validator
    def _unique(self, _attribute: attrs.Attribute[object], value: tuple[CodeRule, ...]) -> None:
        seen: set[str] = set()
        for index, rule in enumerate(value):
            if not isinstance(rule, CodeRule):
                raise errors.InvalidValue("is not a CodeRule", field=f"codes[{index}]", value=rule)
            if rule.code in seen:
                raise errors.InvalidValue(
                    "the same code is listed twice", field=f"codes[{index}].code", value=rule.code
                )
            seen.add(rule.code)

    @functools.cached_property
    def by_code(self) -> dict[str, CodeRule]:
        """The rules by code (built once)."""
        return {rule.code: rule for rule in self.codes}

    def rule(self, code: str) -> CodeRule:
        """The rule for *code*; NotFound when this rule set does not know the code."""
        found = self.by_code.get(code)
        if found is None:
            raise errors.NotFound(f"not in rule set {self.id}", field="code", value=code)
        return found

    def knows(self, code: str) -> bool:
        """Whether *code* is in this rule set."""
        return code in self.by_code

    def with_rule(self, rule: CodeRule) -> RuleSet:
        """A copy with *rule* added or replacing the rule for the same code.

        >>> from carecore.billing.cms import cms_rule_set
        >>> medicaid = cms_rule_set(2026).with_rule(
        ...     attrs.evolve(cms_rule_set(2026).rule("99484"), time_rule=TimeRule.MIDPOINT))
        >>> medicaid.rule("99484").first_unit_minutes
        11
        """
        kept = tuple(c for c in self.codes if c.code != rule.code)
        return attrs.evolve(self, codes=(*kept, rule))
