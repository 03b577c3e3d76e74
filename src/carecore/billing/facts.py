"""The facts the billing engine reads: one patient, one service period.

These are the billing-relevant shadows of the model values (a
:class:`~carecore.model.TimeEntry` becomes a :class:`TimeFact`), shaped
after the billing scenario format (docs/how-to/evaluate-a-scenario.md) so a scenario
file, a month-close CSV pair and a store all feed the same engine.
"""

from __future__ import annotations

import itertools
from typing import Any, TypeAlias

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import validators as v
from carecore.model.activity import MAX_ENTRY_MINUTES
from carecore.model.codes import (
    BhAddon,
    CareSetting,
    CodeEnum,
    ContactMode,
    Credential,
    MdmLevel,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    VisitKind,
)
from carecore.model.period import ServicePeriod

__all__ = [
    "AdmissionFact",
    "BhAddon",
    "BillingFacts",
    "BillingPractitioner",
    "CarePlanAction",
    "CarePlanFact",
    "ChronicCondition",
    "ContactFact",
    "DeviceReadingsFact",
    "DeviceSetupFact",
    "DischargeFact",
    "ElectionFact",
    "Event",
    "MdmFact",
    "OtherClaimFact",
    "PatientFacts",
    "ProgramMonthFact",
    "Setting",
    "TimeFact",
    "VisitFact",
]

_HCPCS = r"[0-9A-Z][0-9]{3}[0-9A-Z]"


class Setting(CodeEnum):
    """Where the billing practitioner works (RHCs and FQHCs bill differently)."""

    PHYSICIAN_OFFICE = "physician_office"
    RHC = "rhc"
    FQHC = "fqhc"


class CarePlanAction(CodeEnum):
    """What happened to a care plan."""

    ESTABLISHED = "established"
    SUBSTANTIALLY_REVISED = "substantially_revised"
    MONITORED = "monitored"


@frozen(kw_only=True, field_transformer=v.name_errors)
class BillingPractitioner:
    """A practitioner who may bill, with what the rules need to know about them."""

    id: str = field(validator=v.not_blank)
    credential: Credential = field(validator=v.one_of(Credential))
    specialty: str | None = None
    primary_care_focal_point: bool = field(default=False, validator=v.is_bool)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ChronicCondition:
    """A condition as the billing practitioner attests it."""

    icd10: str = field(validator=v.not_blank)
    label: str | None = None
    expected_duration_months: int | None = field(
        default=None, validator=v.optional(v.int_between(0, 1200))
    )
    significant_risk: bool = field(default=False, validator=v.is_bool)
    behavioral: bool = field(default=False, validator=v.is_bool)

    def lasts_at_least(self, months: int) -> bool:
        """Whether it is expected to last *months* months or more (None: until death)."""
        return self.expected_duration_months is None or self.expected_duration_months >= months


def _family_dates(value: object) -> tuple[tuple[ServiceFamily, pendulum.Date], ...]:
    """Accept a mapping or pairs of family -> date; drop families without a date."""
    items: Any = value.items() if isinstance(value, dict) else value
    out = []
    for family, day in items:
        if day is not None:
            out.append((family, day))
    return tuple(sorted(out, key=lambda pair: pair[0].value))


@frozen(kw_only=True, field_transformer=v.name_errors)
class PatientFacts:
    """Patient-level facts: conditions, consent and care-plan dates, visit history."""

    id: str = field(validator=v.not_blank)
    conditions: tuple[ChronicCondition, ...] = field(default=(), converter=v.to_tuple)
    consent_on: tuple[tuple[ServiceFamily, pendulum.Date], ...] = field(
        default=(), converter=_family_dates
    )
    care_plan_on: tuple[tuple[ServiceFamily, pendulum.Date], ...] = field(
        default=(), converter=_family_dates
    )
    established: bool = field(default=True, validator=v.is_bool)
    last_visit: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    qmb: bool = field(default=False, validator=v.is_bool)
    date_of_death: pendulum.Date | None = field(default=None, converter=v.to_optional_date)

    def consent(self, family: ServiceFamily) -> pendulum.Date | None:
        """The date consent for *family* was obtained, or None."""
        for known, day in self.consent_on:
            if known is family:
                return day
        return None

    def care_plan(self, family: ServiceFamily) -> pendulum.Date | None:
        """The date the care plan for *family* was established, or None."""
        for known, day in self.care_plan_on:
            if known is family:
                return day
        return None


# -- events -----------------------------------------------------------------


@frozen(kw_only=True, field_transformer=v.name_errors)
class TimeFact:
    """Minutes of work for one family, attributed to a billing practitioner."""

    date: pendulum.Date = field(converter=v.to_date)
    minutes: int = field(validator=v.int_between(1, MAX_ENTRY_MINUTES))
    role: RoleClass = field(validator=v.one_of(RoleClass))
    practitioner: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    credential: Credential | None = field(default=None, validator=v.optional(v.one_of(Credential)))
    interactive: bool = field(default=False, validator=v.is_bool)
    activity: str | None = None
    #: The credential as written in the source (``"CMA"``, ``"receptionist"``);
    #: ``credential`` is None when the text names no known :class:`Credential`.
    credential_text: str | None = None


@frozen(kw_only=True, field_transformer=v.name_errors)
class ContactFact:
    """An interactive contact or an attempt at one."""

    date: pendulum.Date = field(converter=v.to_date)
    mode: ContactMode = field(validator=v.one_of(ContactMode))
    successful: bool = field(validator=v.is_bool)
    role: RoleClass = field(validator=v.one_of(RoleClass))
    practitioner: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))


@frozen(kw_only=True, field_transformer=v.name_errors)
class VisitFact:
    """A face-to-face visit."""

    date: pendulum.Date = field(converter=v.to_date)
    kind: VisitKind = field(validator=v.one_of(VisitKind))
    mdm: MdmLevel = field(validator=v.one_of(MdmLevel))
    practitioner: str = field(validator=v.not_blank)
    em_code: str | None = field(
        default=None, validator=v.optional(v.matches(_HCPCS, "a 5-character CPT/HCPCS code"))
    )


@frozen(kw_only=True, field_transformer=v.name_errors)
class DischargeFact:
    """A discharge from a facility.

    ``med_rec_on`` is the day the medications were reconciled after it;
    ``med_rec_tracked`` says the source records reconciliation, so that no
    date means none was done (a source that does not track it leaves TCM's
    reconciliation requirement unchecked).
    """

    date: pendulum.Date = field(converter=v.to_date)
    from_setting: CareSetting = field(validator=v.one_of(CareSetting))
    to_setting: CareSetting = field(validator=v.one_of(CareSetting))
    practitioner: str | None = None
    med_rec_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    med_rec_tracked: bool = field(default=False, validator=v.is_bool)


@frozen(kw_only=True, field_transformer=v.name_errors)
class AdmissionFact:
    """An admission to a facility."""

    date: pendulum.Date = field(converter=v.to_date)
    setting: CareSetting = field(validator=v.one_of(CareSetting))


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeviceReadingsFact:
    """Days with device data in one 30-day device period."""

    date: pendulum.Date = field(converter=v.to_date)
    period_start: pendulum.Date = field(converter=v.to_date)
    period_end: pendulum.Date = field(converter=v.to_date)
    days_with_data: int = field(validator=v.int_between(0, 31))
    device: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    practitioner: str = field(validator=v.not_blank)
    rtm_system: RtmSystem | None = field(default=None, validator=v.optional(v.one_of(RtmSystem)))

    @period_end.validator
    def _check(self, attribute: attrs.Attribute[object], value: pendulum.Date) -> None:
        if value < self.period_start:
            raise errors.InvalidValue("is before period_start", field=attribute.name, value=value)
        if self.family not in {ServiceFamily.RPM, ServiceFamily.RTM}:
            raise errors.InvalidValue("must be RPM or RTM", field="family", value=self.family)

    @property
    def period(self) -> ServicePeriod:
        """The device period."""
        return ServicePeriod(start=self.period_start, end=self.period_end)


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeviceSetupFact:
    """A device was set up and the patient taught to use it."""

    date: pendulum.Date = field(converter=v.to_date)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    practitioner: str = field(validator=v.not_blank)
    device: str | None = None


@frozen(kw_only=True, field_transformer=v.name_errors)
class CarePlanFact:
    """A care plan was established, substantially revised or monitored."""

    date: pendulum.Date = field(converter=v.to_date)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    action: CarePlanAction = field(validator=v.one_of(CarePlanAction))
    practitioner: str = field(validator=v.not_blank)


@frozen(kw_only=True, field_transformer=v.name_errors)
class MdmFact:
    """The billing practitioner's medical decision-making for a family in the period."""

    date: pendulum.Date = field(converter=v.to_date)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    level: MdmLevel = field(validator=v.one_of(MdmLevel))
    practitioner: str = field(validator=v.not_blank)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ProgramMonthFact:
    """A program's service elements were furnished in a month (APCM, CoCM)."""

    date: pendulum.Date = field(converter=v.to_date)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    month: str = field(validator=v.matches(r"[0-9]{4}-(0[1-9]|1[0-2])", "a month as YYYY-MM"))
    practitioner: str = field(validator=v.not_blank)
    bh_addon: BhAddon | None = field(default=None, validator=v.optional(v.one_of(BhAddon)))
    episode_month: int | None = field(default=None, validator=v.optional(v.int_between(1, 1000)))


@frozen(kw_only=True, field_transformer=v.name_errors)
class OtherClaimFact:
    """A claim made outside this evaluation (an E/M visit, another practitioner's TCM)."""

    date: pendulum.Date = field(converter=v.to_date)
    code: str = field(validator=v.matches(_HCPCS, "a 5-character CPT/HCPCS code"))
    practitioner: str = field(validator=v.not_blank)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ElectionFact:
    """Which family the practice chooses when two conflict for one practitioner and month."""

    date: pendulum.Date = field(converter=v.to_date)
    prefer_family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    practitioner: str = field(validator=v.not_blank)


Event: TypeAlias = (
    TimeFact
    | ContactFact
    | VisitFact
    | DischargeFact
    | AdmissionFact
    | DeviceReadingsFact
    | DeviceSetupFact
    | CarePlanFact
    | MdmFact
    | ProgramMonthFact
    | OtherClaimFact
    | ElectionFact
)

_EVENT_TYPES = (
    TimeFact,
    ContactFact,
    VisitFact,
    DischargeFact,
    AdmissionFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    CarePlanFact,
    MdmFact,
    ProgramMonthFact,
    OtherClaimFact,
    ElectionFact,
)


def _sorted_events(value: object) -> tuple[Event, ...]:
    events = v.to_tuple(value)  # type: ignore[arg-type]
    for index, event in enumerate(events):
        if not isinstance(event, _EVENT_TYPES):
            raise errors.InvalidValue(
                "is not a billing event", field=f"events[{index}]", value=event
            )
    # A stable, content-based order: results never depend on the order given. Sorted
    # by day and kind first; only events that tie there are ordered by their content
    # (the same order as sorting by the whole key, which begins with day and kind).
    count = len(events)
    if count < 2:  # noqa: PLR2004
        return events
    # Each event's day and kind worked out once; a stable sort of the positions by them
    # is the stable sort of the events by them.
    keys = [(event.date, type(event).__name__) for event in events]
    ordered: list[Event] = []
    for _key, tied in itertools.groupby(
        sorted(range(count), key=keys.__getitem__), keys.__getitem__
    ):
        group = [events[i] for i in tied]
        ordered.extend(group if len(group) == 1 else sorted(group, key=_event_key))
    return tuple(ordered)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _event_key(event: Event) -> tuple[object, ...]:
    cls = type(event)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(a.name for a in attrs.fields(cls))
    return (event.date, cls.__name__, *(str(getattr(event, n)) for n in names))


@frozen(kw_only=True, field_transformer=v.name_errors)
class BillingFacts:
    """Everything the engine needs for one patient and one evaluation period.

    >>> import pendulum
    >>> facts = BillingFacts(
    ...     period=ServicePeriod.month(2026, 3), setting=Setting.PHYSICIAN_OFFICE,
    ...     practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
    ...     patient=PatientFacts(id="p1"), events=[])
    >>> facts.practitioner("dr1").credential.value
    'MD'
    """

    period: ServicePeriod = field(validator=v.instance_of(ServicePeriod, "a ServicePeriod"))
    setting: Setting = field(validator=v.one_of(Setting))
    practitioners: tuple[BillingPractitioner, ...] = field(converter=v.to_tuple)
    patient: PatientFacts = field(validator=v.instance_of(PatientFacts, "PatientFacts"))
    events: tuple[Event, ...] = field(converter=_sorted_events)

    @practitioners.validator
    def _some(self, attribute: attrs.Attribute[object], value: tuple[object, ...]) -> None:
        if not value:
            raise errors.InvalidValue(
                "at least one practitioner is needed", field=attribute.name, value=value
            )
        for index, item in enumerate(value):
            if not isinstance(item, BillingPractitioner):
                raise errors.InvalidValue(
                    "is not a BillingPractitioner", field=f"{attribute.name}[{index}]", value=item
                )

    def practitioner(self, practitioner_id: str) -> BillingPractitioner:
        """The practitioner with *practitioner_id*."""
        for p in self.practitioners:
            if p.id == practitioner_id:
                return p
        raise errors.NotFound(
            "not a practitioner of this case", field="practitioner", value=practitioner_id
        )
