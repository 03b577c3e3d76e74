"""The values a simulation study is made of; every number is a field with a stated default."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import attrs
from attrs import field, frozen

from carecore import errors
from carecore.billing.cms import CMS_YEARS
from carecore.model import validators as v
from carecore.model.codes import CodeEnum, Credential, ServiceFamily
from carecore.simulation._panel import PatientPanel

__all__ = [
    "DEFAULT_CONDITIONS",
    "DEFAULT_RPM_CONDITIONS",
    "SUPPORTED_FAMILIES",
    "BhiPolicy",
    "ConditionPrevalence",
    "ContactModel",
    "OutcomeModel",
    "OutreachOrder",
    "PopulationSpec",
    "Priority",
    "ProgramPolicy",
    "RpmPolicy",
    "StaffRole",
    "Study",
    "TcmPolicy",
]

#: The monthly families a simulated patient can be enrolled in, in the order they are named.
_MONTHLY = (
    ServiceFamily.CCM,
    ServiceFamily.PCM,
    ServiceFamily.APCM,
    ServiceFamily.BHI,
    ServiceFamily.RPM,
)
#: The families a simulated program can offer (the monthly families whose facts the
#: simulation produces, and TCM for discharges).
SUPPORTED_FAMILIES = frozenset({*_MONTHLY, ServiceFamily.TCM})
_SUPPORTED_NAMES = ", ".join(f.value for f in (*_MONTHLY, ServiceFamily.TCM))


class OutreachOrder(CodeEnum):
    """In what order eligible patients are approached."""

    RANDOM = "random"  #: a random order, drawn once per replication
    RISK_TIER = "risk_tier"  #: highest risk tier first (random within a tier)
    CONDITION_COUNT = "condition_count"  #: most chronic conditions first (random among ties)
    #: highest CMS-HCC V28 risk score first (age, sex and conditions; needs carecore[hcc])
    HCC_SCORE = "hcc_score"


class Priority(CodeEnum):
    """Who is called first when the minutes wanted exceed the staff's capacity."""

    RISK = "risk"  #: highest risk tier first, then in order of enrollment
    FIRST_COME = "first_come"  #: in order of enrollment


def _probability(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value <= 1
        or math.isnan(value)
    ):
        raise errors.InvalidValue(
            "must be a probability from 0 to 1", field=attribute.name, value=value
        )


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | Decimal)
        or not value >= 0
        or (isinstance(value, float) and math.isinf(value))
    ):
        raise errors.InvalidValue(
            "must be a number of at least 0", field=attribute.name, value=value
        )


def _tiers(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, tuple) or len(value) != 3:  # noqa: PLR2004 - low, moderate, high
        raise errors.InvalidValue(
            "must give three numbers: low, moderate and high risk tier",
            field=attribute.name,
            value=value,
        )
    for item in value:
        _positive(None, attribute, item)


def _tier_probabilities(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    _tiers(instance, attribute, value)
    for item in value:  # type: ignore[attr-defined]
        _probability(None, attribute, item)


def _float_tuple(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(
            float(x) if isinstance(x, int | float) and not isinstance(x, bool) else x for x in value
        )
    return value


def _to_float(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _to_decimal(value: object) -> object:
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _enum(cls: type[Any], value: object) -> object:
    """A wire string as a member of *cls*; anything else is left for ``one_of`` to refuse."""
    try:
        return cls(value)
    except ValueError:
        return value


def _credential(value: object) -> object:
    return _enum(Credential, value)


def _outreach_order(value: object) -> object:
    return _enum(OutreachOrder, value)


def _priority(value: object) -> object:
    return _enum(Priority, value)


def _whole(low: int, high: int) -> Any:
    return v.int_between(low, high)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ConditionPrevalence:
    """One chronic condition of the generated population and the share of patients who have it.

    Conditions are drawn independently of each other (an assumption: real
    conditions cluster). ``significant_risk`` and ``behavioral`` are what the
    billing practitioner attests for it.
    """

    icd10: str = field(validator=v.not_blank)
    label: str = field(validator=v.not_blank)
    prevalence: float = field(converter=_to_float, validator=_probability)
    significant_risk: bool = field(default=True, validator=v.is_bool)
    behavioral: bool = field(default=False, validator=v.is_bool)


#: Illustrative chronic-condition prevalence among Medicare fee-for-service
#: beneficiaries, rounded, of the order the CMS Chronic Conditions Data
#: Warehouse charts report (https://www2.ccwdata.org/web/guest/medicare-charts).
DEFAULT_CONDITIONS: tuple[ConditionPrevalence, ...] = (
    ConditionPrevalence(icd10="I10", label="hypertension", prevalence=0.55),
    ConditionPrevalence(icd10="E78.5", label="hyperlipidemia", prevalence=0.45),
    ConditionPrevalence(icd10="E11.9", label="type 2 diabetes", prevalence=0.27),
    ConditionPrevalence(icd10="N18.30", label="chronic kidney disease, stage 3", prevalence=0.20),
    ConditionPrevalence(icd10="I50.9", label="heart failure", prevalence=0.13),
    ConditionPrevalence(icd10="J44.9", label="COPD", prevalence=0.11),
    ConditionPrevalence(icd10="I48.91", label="atrial fibrillation", prevalence=0.08),
    ConditionPrevalence(
        icd10="F32.A", label="depression", prevalence=0.16, significant_risk=False, behavioral=True
    ),
)


@frozen(kw_only=True, field_transformer=v.name_errors)
class PopulationSpec:
    """A generated patient panel: its size and the distribution of each trait.

    Age is a normal distribution cut at ``age_min`` and ``age_max``;
    sex, coverage and each condition are independent draws; the risk tier
    (low, moderate, high) is drawn with ``risk_tier_shares``.
    ``medicare_share`` is the share with Medicare Part B fee-for-service
    coverage: only they are eligible for the CMS programs.
    """

    size: int = field(default=2000, validator=_whole(1, 10_000_000))
    age_mean: float = field(default=70.0, converter=_to_float, validator=_positive)
    age_sd: float = field(default=10.0, converter=_to_float, validator=_positive)
    age_min: int = field(default=18, validator=_whole(0, 120))
    age_max: int = field(default=100, validator=_whole(0, 120))
    female_share: float = field(default=0.55, converter=_to_float, validator=_probability)
    medicare_share: float = field(default=0.6, converter=_to_float, validator=_probability)
    risk_tier_shares: tuple[float, float, float] = field(
        default=(0.6, 0.3, 0.1), converter=_float_tuple, validator=_tier_probabilities
    )
    conditions: tuple[ConditionPrevalence, ...] = field(
        default=DEFAULT_CONDITIONS, converter=v.to_tuple
    )

    @risk_tier_shares.validator
    def _sums_to_one(self, attribute: attrs.Attribute[Any], value: tuple[float, ...]) -> None:
        if abs(sum(value) - 1) > 1e-9:  # noqa: PLR2004
            raise errors.InvalidValue(
                "the three shares must add up to 1", field=attribute.name, value=value
            )

    @conditions.validator
    def _conditions(self, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        seen = set()
        for index, item in enumerate(value):
            if not isinstance(item, ConditionPrevalence):
                raise errors.InvalidValue(
                    "is not a ConditionPrevalence", field=f"{attribute.name}[{index}]", value=item
                )
            if item.icd10 in seen:
                raise errors.InvalidValue(
                    "the same code is listed twice",
                    field=f"{attribute.name}[{index}].icd10",
                    value=item.icd10,
                )
            seen.add(item.icd10)
        if len(value) > 30:  # noqa: PLR2004 - a bit mask per patient
            raise errors.InvalidValue(
                "at most 30 conditions", field=attribute.name, value=len(value)
            )

    @age_max.validator
    def _ages(self, attribute: attrs.Attribute[Any], value: int) -> None:
        if value < self.age_min:
            raise errors.InvalidValue("is below age_min", field=attribute.name, value=value)


@frozen(kw_only=True, field_transformer=v.name_errors)
class StaffRole:
    """Staff of one role: how many FTEs, the minutes of patient time each gives a month, and their cost.

    ``capacity_minutes_per_fte_month`` is the time one FTE spends on the
    program's patients (calls, care planning, coordination) in a month;
    ``paid_hours_per_fte_month`` (2,080 hours a year / 12) is what the
    practice pays for, at ``loaded_cost_per_hour`` (wages and benefits).
    Their minutes are logged as clinical staff time under the billing
    practitioner.
    """

    role: str = field(default="RN", validator=v.not_blank)
    credential: Credential = field(
        default=Credential.RN, converter=_credential, validator=v.one_of(Credential)
    )
    fte: float = field(default=1.0, converter=_to_float, validator=_positive)
    capacity_minutes_per_fte_month: int = field(default=6000, validator=_whole(0, 20_000))
    paid_hours_per_fte_month: Decimal = field(
        default=Decimal("173.33"), converter=_to_decimal, validator=_positive
    )
    loaded_cost_per_hour: Decimal = field(
        default=Decimal("50.00"), converter=_to_decimal, validator=_positive
    )

    @property
    def capacity_minutes(self) -> int:
        """Minutes of patient time a month from all FTEs of the role (rounded down)."""
        return int(self.fte * self.capacity_minutes_per_fte_month)

    @property
    def monthly_cost(self) -> Decimal:
        """What the role costs a month: FTEs x paid hours x loaded cost per hour."""
        return (
            Decimal(str(self.fte)) * self.paid_hours_per_fte_month * self.loaded_cost_per_hour
        ).quantize(Decimal("0.01"))


@frozen(kw_only=True, field_transformer=v.name_errors)
class ContactModel:
    """How much staff time an enrolled patient wants in a month.

    The number of contacts is ``min_contacts`` plus a Poisson count with the
    mean of the patient's risk tier (capped at ``max_contacts``); each contact takes a number of
    minutes from a normal distribution, rounded and cut at ``minutes_min``
    and ``minutes_max``.
    """

    contacts_per_month: tuple[float, float, float] = field(
        default=(1.2, 1.8, 2.5), converter=_float_tuple, validator=_tiers
    )
    min_contacts: int = field(default=0, validator=_whole(0, 31))
    max_contacts: int = field(default=6, validator=_whole(1, 31))
    minutes_mean: float = field(default=14.0, converter=_to_float, validator=_positive)
    minutes_sd: float = field(default=6.0, converter=_to_float, validator=_positive)
    minutes_min: int = field(default=2, validator=_whole(1, 600))
    minutes_max: int = field(default=60, validator=_whole(1, 600))


@frozen(kw_only=True, field_transformer=v.name_errors)
class TcmPolicy:
    """What happens after a discharge home, when TCM is offered.

    The discharge follows the admission by ``length_of_stay_days``. The
    interactive contact is made by its deadline with
    ``contact_probability`` (otherwise ``late_contact_days`` calendar days
    after it); the face-to-face visit happens by the 7-day
    deadline (high complexity) with ``visit_7_probability``, else by the
    14-day deadline (moderate complexity) with ``visit_14_probability``,
    else not at all. Each contact takes ``contact_minutes`` of staff time.
    """

    length_of_stay_days: int = field(default=4, validator=_whole(0, 60))
    contact_probability: float = field(default=0.8, converter=_to_float, validator=_probability)
    late_contact_days: int = field(default=3, validator=_whole(1, 30))
    visit_7_probability: float = field(default=0.35, converter=_to_float, validator=_probability)
    visit_14_probability: float = field(default=0.35, converter=_to_float, validator=_probability)
    contact_minutes: int = field(default=20, validator=_whole(1, 600))

    @visit_14_probability.validator
    def _sum(self, attribute: attrs.Attribute[Any], value: float) -> None:
        if self.visit_7_probability + value > 1 + 1e-9:
            raise errors.InvalidValue(
                "visit_7_probability + visit_14_probability must not exceed 1",
                field=attribute.name,
                value=value,
            )


def _icd10_codes(value: object) -> object:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted(value)) if all(isinstance(c, str) for c in value) else tuple(value)
    return value


@frozen(kw_only=True, field_transformer=v.name_errors)
class BhiPolicy:
    """General behavioral health integration (BHI), when offered: the staff time it takes.

    A patient is offered BHI when the registry finds them eligible (a
    behavioral health condition, as the population's condition table flags
    it, and Medicare Part B) and no family named before BHI took them.
    ``contacts`` is the care manager's time a month, drawn as for the other
    families but from a stream of its own; its defaults (about 1.5 contacts
    of 15 minutes a month) are an assumption, not a published figure.
    """

    contacts: ContactModel = field(
        factory=lambda: ContactModel(
            contacts_per_month=(1.0, 1.5, 2.0), minutes_mean=15.0, minutes_sd=6.0
        )
    )

    @contacts.validator
    def _contacts_ok(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, ContactModel):
            raise errors.InvalidValue("is not a ContactModel", field=attribute.name, value=value)


#: The conditions a remote physiologic monitoring program is offered for by default:
#: ones with a reading a home device takes (blood pressure, weight, glucose, oxygen saturation).
DEFAULT_RPM_CONDITIONS = ("E11.9", "I10", "I50.9", "J44.9")


@frozen(kw_only=True, field_transformer=v.name_errors)
class RpmPolicy:
    """Remote physiologic monitoring (RPM), when offered: who gets a device, how often it sends, staff time.

    The registry has no RPM rule, so the program decides: a Medicare Part B
    patient with one of the ``conditions`` (ICD-10 codes of the population's
    condition table) is offered RPM when no family named before RPM took
    them. Each calendar month is one device period; on each of its days the
    device sends a reading with ``transmit_probability`` (independently; an
    assumption: adherence varies widely between programs and devices). The
    engine turns the days with data into device-supply codes, and the
    staff's minutes into treatment-management codes, by the rule set of the
    year. With ``device_setup`` the set-up and patient education is dated on
    the first enrolled day. ``contacts`` is the staff's monthly time (review
    of readings and a call), an assumption like BHI's.
    """

    conditions: tuple[str, ...] = field(default=DEFAULT_RPM_CONDITIONS, converter=_icd10_codes)
    transmit_probability: float = field(default=0.75, converter=_to_float, validator=_probability)
    device_setup: bool = field(default=True, validator=v.is_bool)
    contacts: ContactModel = field(
        factory=lambda: ContactModel(
            contacts_per_month=(1.0, 1.5, 2.0), minutes_mean=12.0, minutes_sd=5.0
        )
    )

    @conditions.validator
    def _conditions_ok(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple) or not all(isinstance(c, str) and c.strip() for c in value):
            raise errors.InvalidValue(
                "must be a list of ICD-10 codes", field=attribute.name, value=value
            )

    @contacts.validator
    def _contacts_ok(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, ContactModel):
            raise errors.InvalidValue("is not a ContactModel", field=attribute.name, value=value)


def _families(value: object) -> object:
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            try:
                out.append(ServiceFamily(item) if isinstance(item, str) else item)
            except ValueError:
                out.append(item)
        return tuple(out)
    return value


def _codes(value: object) -> object:
    if isinstance(value, list | tuple | set):
        return frozenset(value)
    return value


def _fees(value: object) -> object:
    items: Any = value.items() if isinstance(value, dict) else value
    if not isinstance(items, list | tuple) and not hasattr(items, "__iter__"):
        return value
    out = []
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:  # noqa: PLR2004
            return value
        out.append((pair[0], _to_decimal(pair[1])))
    return tuple(sorted(out, key=lambda p: str(p[0])))


@frozen(kw_only=True, field_transformer=v.name_errors)
class ProgramPolicy:
    """The program the practice runs: families, rules, outreach, staffing and follow-up.

    ``families`` are offered in order: a patient enrolls in the first
    monthly family (CCM, PCM, APCM, BHI, RPM) they are eligible for (the
    registry's rules; for RPM, ``rpm``'s conditions), one family per patient;
    with ``concurrent_families`` also in each later family they are eligible
    for that the billing engine bills with the ones already taken (not one of
    its same-practitioner conflicts: CCM, PCM and APCM exclude each other;
    CCM with BHI and RPM, say, is allowed). Such a patient is approached and
    consents once, for all their families, and leaves them together; their
    month is billed by the engine with the time of every family at once.
    TCM, when offered, is billed for discharges of any Medicare patient.
    ``bhi`` and ``rpm`` give those families' staff time and, for RPM, the
    device's readings; the other monthly families take ``contacts``.
    ``rule_year`` picks the CMS rule set; ``codes`` (None: all) keeps only
    the listed codes billable, and ``fees`` replaces the amounts of the
    listed codes (for a fee year carecore does not ship).

    Each month the next ``outreach_per_month`` eligible patients never
    approached are approached in ``outreach_order`` (for the HCC order,
    scored with the CMS-HCC V28 tables of ``hcc_model_year``); each agrees with
    ``enrollment_probability``. An agreeing patient starts when the caseload
    is below ``caseload_cap_per_fte`` x the staff's FTEs (None: no cap) and
    otherwise waits, first come first served. An enrolled patient stays
    for a number of months drawn from a geometric distribution with the
    outcome model's monthly disenrollment probability, or until death.
    """

    rule_year: int = field(default=2026)
    families: tuple[ServiceFamily, ...] = field(default=(ServiceFamily.CCM,), converter=_families)
    codes: frozenset[str] | None = field(default=None, converter=_codes)
    fees: tuple[tuple[str, Decimal], ...] = field(default=(), converter=_fees)
    outreach_order: OutreachOrder = field(
        default=OutreachOrder.RANDOM,
        converter=_outreach_order,
        validator=v.one_of(OutreachOrder),
    )
    hcc_model_year: int = field(default=2026, validator=_whole(2000, 2100))
    outreach_per_month: int = field(default=100, validator=_whole(0, 10_000_000))
    enrollment_probability: float = field(default=0.5, converter=_to_float, validator=_probability)
    caseload_cap_per_fte: int | None = field(default=None, validator=v.optional(_whole(0, 100_000)))
    staff: tuple[StaffRole, ...] = field(factory=lambda: (StaffRole(),), converter=v.to_tuple)
    contacts: ContactModel = field(factory=ContactModel)
    priority: Priority = field(
        default=Priority.RISK, converter=_priority, validator=v.one_of(Priority)
    )
    tcm: TcmPolicy = field(factory=TcmPolicy)
    bhi: BhiPolicy = field(factory=BhiPolicy)
    rpm: RpmPolicy = field(factory=RpmPolicy)
    concurrent_families: bool = field(default=False, validator=v.is_bool)

    @rule_year.validator
    def _year(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in CMS_YEARS:
            raise errors.InvalidValue(
                f"no CMS rule set for it (known years: {', '.join(map(str, CMS_YEARS))}); "
                "to study another year, take the nearest one and set its fees",
                field=attribute.name,
                value=value,
            )

    @families.validator
    def _families_ok(self, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        if not value:
            raise errors.InvalidValue(
                "offer at least one family", field=attribute.name, value=value
            )
        for index, item in enumerate(value):
            if item not in SUPPORTED_FAMILIES:
                raise errors.InvalidValue(
                    f"not a family the simulation models ({_SUPPORTED_NAMES})",
                    field=f"{attribute.name}[{index}]",
                    value=item,
                )

    @codes.validator
    def _codes_ok(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None and (
            not isinstance(value, frozenset) or not all(isinstance(c, str) for c in value)
        ):
            raise errors.InvalidValue("must be a list of codes", field=attribute.name, value=value)

    @fees.validator
    def _fees_ok(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple):
            raise errors.InvalidValue(
                "must map codes to amounts", field=attribute.name, value=value
            )
        for code, amount in value:
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise errors.InvalidValue(
                    "must be an amount of at least 0",
                    field=f"{attribute.name}.{code}",
                    value=amount,
                )

    @staff.validator
    def _staff_ok(self, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        for index, item in enumerate(value):
            if not isinstance(item, StaffRole):
                raise errors.InvalidValue(
                    "is not a StaffRole", field=f"{attribute.name}[{index}]", value=item
                )

    @property
    def monthly_families(self) -> tuple[ServiceFamily, ...]:
        """The monthly care-management families offered, in order."""
        return tuple(f for f in self.families if f in _MONTHLY)

    def contacts_for(self, family: ServiceFamily) -> ContactModel:
        """The contact model of a monthly *family*: BHI's and RPM's own, ``contacts`` for the others."""
        if family is ServiceFamily.BHI:
            return self.bhi.contacts
        if family is ServiceFamily.RPM:
            return self.rpm.contacts
        return self.contacts

    @property
    def fte(self) -> float:
        """The staff's FTEs, all roles together."""
        return sum(s.fte for s in self.staff)

    @property
    def capacity_minutes(self) -> int:
        """Minutes of patient time a month from all staff."""
        return sum(s.capacity_minutes for s in self.staff)

    @property
    def monthly_staff_cost(self) -> Decimal:
        """What the staff cost a month."""
        return sum((s.monthly_cost for s in self.staff), Decimal(0))

    @property
    def cost_per_minute(self) -> float:
        """The loaded cost of one minute of staff time (weighted by FTE; 0 without staff)."""
        fte = self.fte
        if not fte:
            return 0.0
        return sum(float(s.loaded_cost_per_hour) * s.fte for s in self.staff) / fte / 60


@frozen(kw_only=True, field_transformer=v.name_errors)
class OutcomeModel:
    """Monthly probabilities of events, by risk tier (low, moderate, high), and program effects.

    The ``*_effect`` fields are rate ratios applied while a patient is
    enrolled: 1.0, the default, means the program changes nothing. The
    defaults are illustrative, of the order of Medicare fee-for-service
    rates (about 600 ED visits and 250 admissions per 1,000 beneficiaries
    a year, about 4.5% dying a year); set them from your own data.
    ``readmission`` is the probability that a discharge is followed by
    another admission within 30 days (about 15% in Medicare).
    ``disenrollment`` is the monthly probability an enrolled patient leaves
    the program for reasons other than death.
    """

    ed_visit: tuple[float, float, float] = field(
        default=(0.03, 0.06, 0.15), converter=_float_tuple, validator=_tier_probabilities
    )
    admission: tuple[float, float, float] = field(
        default=(0.008, 0.02, 0.07), converter=_float_tuple, validator=_tier_probabilities
    )
    death: tuple[float, float, float] = field(
        default=(0.002, 0.004, 0.015), converter=_float_tuple, validator=_tier_probabilities
    )
    readmission: float = field(default=0.15, converter=_to_float, validator=_probability)
    disenrollment: float = field(default=0.015, converter=_to_float, validator=_probability)
    ed_visit_effect: float = field(default=1.0, converter=_to_float, validator=_positive)
    admission_effect: float = field(default=1.0, converter=_to_float, validator=_positive)
    death_effect: float = field(default=1.0, converter=_to_float, validator=_positive)
    readmission_effect: float = field(default=1.0, converter=_to_float, validator=_positive)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Study:
    """A study: a population, a program policy and an outcome model over some months.

    The population is generated (:class:`PopulationSpec`) or given patient by
    patient (:class:`~carecore.simulation.PatientPanel`, from records or an
    EHR source).

    >>> Study(months=3).first_month
    '2026-01'
    """

    name: str = field(default="study", validator=v.not_blank)
    start_year: int = field(default=2026, validator=_whole(2000, 2100))
    start_month: int = field(default=1, validator=_whole(1, 12))
    months: int = field(default=12, validator=_whole(1, 120))
    time_zone: str = field(default="America/New_York", validator=v.time_zone)
    population: PopulationSpec | PatientPanel = field(factory=PopulationSpec)
    policy: ProgramPolicy = field(factory=ProgramPolicy)
    outcomes: OutcomeModel = field(factory=OutcomeModel)

    @population.validator
    def _population(self, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, PopulationSpec | PatientPanel):
            raise errors.InvalidValue(
                "must be a PopulationSpec or a PatientPanel", field=attribute.name, value=value
            )

    @property
    def first_month(self) -> str:
        """The first month, as YYYY-MM."""
        return f"{self.start_year:04d}-{self.start_month:02d}"

    def month(self, index: int) -> tuple[int, int]:
        """(year, month) of the study's month *index* (0 is the first)."""
        total = self.start_year * 12 + self.start_month - 1 + index
        return total // 12, total % 12 + 1
