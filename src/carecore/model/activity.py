"""Care-management activity: minutes, contacts, visits and device days."""

from __future__ import annotations

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    ContactMode,
    Credential,
    MdmLevel,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    VisitKind,
)
from carecore.model.people import PatientId, PractitionerId

__all__ = ["DeviceReadingDay", "FaceToFaceVisit", "InteractiveContact", "TimeEntry"]

HCPCS_PATTERN = r"[0-9A-Z][0-9]{3}[0-9A-Z]"

# Which credentials may log time in which role class (S8, S1, S15): a
# physician role needs a physician, a QHP role a non-physician practitioner
# (or, for behavioral and therapy codes, a psychologist, clinical social worker,
# family therapist, counselor or PT/OT/SLP), and a
# person with no clinical credential can only do non-clinical work.
_ROLE_CREDENTIALS: dict[RoleClass, frozenset[Credential]] = {
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
    minutes: int = field(validator=v.int_between(1, 24 * 60))
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    activity: str = field(validator=v.not_blank)
    service_date: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    interactive: bool = field(default=False, validator=v.is_bool)

    @role_class.validator
    def _role_fits_credential(self, attribute: attrs.Attribute[object], value: RoleClass) -> None:
        needed = _ROLE_CREDENTIALS.get(value)
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
