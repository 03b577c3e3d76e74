"""Care-management activity: minutes, contacts, visits and device days."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    BhAddon,
    ContactMode,
    Credential,
    MdmLevel,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    VisitKind,
)
from carecore.model.people import PatientId, PractitionerId

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "ROLE_CREDENTIALS",
    "ApcmAddon",
    "DeviceReadingDay",
    "DeviceSetup",
    "FaceToFaceVisit",
    "InteractiveContact",
    "MdmAssessment",
    "TimeEntry",
]

#: The most minutes one time entry may hold: a day's.
MAX_ENTRY_MINUTES = 24 * 60

HCPCS_PATTERN = r"[0-9A-Z][0-9]{3}[0-9A-Z]"

#: Which credentials may log time in which role class: a
#: physician role needs a physician, a QHP role a non-physician practitioner
#: (or, for behavioral and therapy codes, a psychologist, clinical social worker,
#: family therapist, counselor or PT/OT/SLP), and a
#: person with no clinical credential can only do non-clinical work.
ROLE_CREDENTIALS: Mapping[RoleClass, frozenset[Credential]] = MappingProxyType(
    {
        RoleClass.PHYSICIAN: frozenset({Credential.MD, Credential.DO}),
        RoleClass.QHP: frozenset(
            {
                Credential.NP,
                Credential.PA,
                Credential.CNS,
                Credential.CNM,
                Credential.CP,
                Credential.LCSW,
                Credential.MFT,
                Credential.MHC,
                Credential.PT,
                Credential.OT,
                Credential.SLP,
            }
        ),
    }
)


@frozen(kw_only=True, field_transformer=v.name_errors)
class TimeEntry:
    """Minutes someone spent on a patient's care, for one service family, on one local date.

    ``performer_id`` did the work; ``billing_practitioner_id`` is the
    practitioner the time is billed under.

    >>> t = TimeEntry(id="t1", patient_id="p1", performer_id="rn1", credential=Credential.RN,
    ...               role_class=RoleClass.CLINICAL_STAFF, minutes=22, family=ServiceFamily.CCM,
    ...               activity="medication review", service_date=pendulum.Date(2026, 1, 7),
    ...               billing_practitioner_id="dr1")
    >>> t.minutes
    22
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    performer_id: PractitionerId = field(validator=v.not_blank)
    credential: Credential = field(validator=v.one_of(Credential))
    role_class: RoleClass = field(validator=v.one_of(RoleClass))
    minutes: int = field(validator=v.int_between(1, MAX_ENTRY_MINUTES))
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    activity: str = field(validator=v.not_blank)
    service_date: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    interactive: bool = field(default=False, validator=v.is_bool)

    @role_class.validator
    def _role_fits_credential(self, attribute: attrs.Attribute[object], value: RoleClass) -> None:
        needed = ROLE_CREDENTIALS.get(value)
        if needed is not None and self.credential not in needed:
            raise errors.InvalidValue(
                f"role {value.value!r} needs one of {sorted(c.value for c in needed)}, "
                f"not credential {self.credential.value!r}",
                field=attribute.name,
                value=value,
            )
        if self.credential is Credential.NONE and value is not RoleClass.NON_CLINICAL:
            raise errors.InvalidValue(
                "staff without a clinical credential can only log non-clinical time",
                field=attribute.name,
                value=value,
            )

    @property
    def counts_as_clinical(self) -> bool:
        """Whether this time can count toward a clinical-staff or practitioner code."""
        return self.role_class is not RoleClass.NON_CLINICAL


@frozen(kw_only=True, field_transformer=v.name_errors)
class InteractiveContact:
    """A real-time contact with the patient or caregiver, or an attempt at one.

    >>> InteractiveContact(id="c1", patient_id="p1", at=pendulum.datetime(2026, 1, 7, 15, tz="America/Chicago"),
    ...     mode=ContactMode.PHONE, successful=False, role_class=RoleClass.CLINICAL_STAFF,
    ...     performer_id="rn1", family=ServiceFamily.TCM, billing_practitioner_id="dr1").is_attempt
    True
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    at: pendulum.DateTime = field(converter=v.to_instant)
    mode: ContactMode = field(validator=v.one_of(ContactMode))
    successful: bool = field(validator=v.is_bool)
    role_class: RoleClass = field(validator=v.one_of(RoleClass))
    performer_id: PractitionerId = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)

    @property
    def is_attempt(self) -> bool:
        """True for an unsuccessful attempt."""
        return not self.successful


@frozen(kw_only=True, field_transformer=v.name_errors)
class FaceToFaceVisit:
    """A face-to-face visit with its medical decision-making level.

    >>> FaceToFaceVisit(id="v1", patient_id="p1", on=pendulum.Date(2026, 1, 9),
    ...     kind=VisitKind.TCM_F2F, mdm=MdmLevel.HIGH, billing_practitioner_id="dr1").mdm.value
    'high'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    kind: VisitKind = field(validator=v.one_of(VisitKind))
    mdm: MdmLevel = field(validator=v.one_of(MdmLevel))
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    em_code: str | None = field(
        default=None,
        validator=v.optional(v.matches(HCPCS_PATTERN, "a 5-character CPT/HCPCS code")),
    )


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeviceReadingDay:
    """A day on which a monitoring device sent data (RPM or RTM).

    >>> DeviceReadingDay(patient_id="p1", family=ServiceFamily.RPM, device="bp-cuff",
    ...                  on=pendulum.Date(2026, 1, 3)).rtm_system is None
    True
    """

    patient_id: PatientId = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    device: str = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    rtm_system: RtmSystem | None = field(default=None, validator=v.optional(v.one_of(RtmSystem)))

    @family.validator
    def _monitoring_family(self, attribute: attrs.Attribute[object], value: ServiceFamily) -> None:
        if value not in {ServiceFamily.RPM, ServiceFamily.RTM}:
            raise errors.InvalidValue(
                "device days belong to RPM or RTM", field=attribute.name, value=value
            )

    @rtm_system.validator
    def _system_for_rtm(self, attribute: attrs.Attribute[object], value: RtmSystem | None) -> None:
        if (value is None) == (self.family is ServiceFamily.RTM):
            raise errors.InvalidValue(
                "RTM device days name their system; RPM device days do not",
                field=attribute.name,
                value=value,
            )


_MONITORING = frozenset({ServiceFamily.RPM, ServiceFamily.RTM})


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeviceSetup:
    """A monitoring device set up for the patient, who was taught to use it (RPM 99453, RTM 98975).

    ``billing_practitioner_id`` bills the set-up; ``device`` names the device
    as its readings do (:class:`DeviceReadingDay`), when known.

    >>> DeviceSetup(id="s1", patient_id="p1", family=ServiceFamily.RPM, device="bp-cuff",
    ...     on=pendulum.Date(2026, 1, 3), billing_practitioner_id="dr1").family.value
    'RPM'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    on: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    device: str | None = field(default=None, validator=v.optional(v.not_blank))

    @family.validator
    def _monitoring_family(self, attribute: attrs.Attribute[object], value: ServiceFamily) -> None:
        if value not in _MONITORING:
            raise errors.InvalidValue(
                "devices are set up for RPM or RTM", field=attribute.name, value=value
            )


@frozen(kw_only=True, field_transformer=v.name_errors)
class MdmAssessment:
    """The billing practitioner's medical decision-making for one family, made outside a visit.

    Complex CCM (99487) needs moderate or high MDM in the month; a
    practitioner who decides it while reviewing the plan, not at a visit,
    records it here. MDM made at a visit is the visit's own
    (:attr:`FaceToFaceVisit.mdm`).

    >>> MdmAssessment(id="m1", patient_id="p1", family=ServiceFamily.CCM, level=MdmLevel.MODERATE,
    ...     on=pendulum.Date(2026, 3, 2), billing_practitioner_id="dr1").level.value
    'moderate'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    level: MdmLevel = field(validator=v.one_of(MdmLevel))
    on: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ApcmAddon:
    """A behavioral-health add-on service furnished in an APCM month (G0568, G0569, G0570).

    The month is the calendar month of ``on``; the add-on is billed with that
    month's APCM code by the billing practitioner of the APCM enrollment
    (``billing_practitioner_id`` must be that practitioner).

    >>> ApcmAddon(id="a1", patient_id="p1", addon=BhAddon.GENERAL_BHI, on=pendulum.Date(2026, 2, 2),
    ...     billing_practitioner_id="dr1").addon.value
    'general_bhi'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    addon: BhAddon = field(validator=v.one_of(BhAddon))
    on: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
