"""People: patients, practitioners and care teams."""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    AdministrativeSex,
    CareTeamRole,
    Credential,
    SupervisionLevel,
)

__all__ = [
    "CareTeam",
    "CareTeamMember",
    "Identifier",
    "Patient",
    "PatientId",
    "Practitioner",
    "PractitionerId",
]

#: A patient's carecore id (a plain string; the alias documents intent).
PatientId: TypeAlias = str
#: A practitioner's or staff member's carecore id.
PractitionerId: TypeAlias = str


@frozen(kw_only=True, field_transformer=v.name_errors)
class Identifier:
    """An identifier a patient has in another system (an EHR, a payer).

    >>> Identifier(system="urn:mrn:acme", value="123").value
    '123'
    """

    system: str = field(validator=v.not_blank)
    value: str = field(validator=v.not_blank)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Patient:
    """A person receiving care. ``time_zone`` is where they live (quiet hours, local dates).

    >>> p = Patient(id="p1", given_name="Ada", family_name="Okafor",
    ...             birth_date=pendulum.Date(1948, 3, 2), sex=AdministrativeSex.FEMALE,
    ...             time_zone="America/Chicago")
    >>> p.age_on(pendulum.Date(2026, 3, 1))
    77
    """

    id: PatientId = field(validator=v.not_blank)
    given_name: str = field(validator=v.not_blank, metadata=v.PERSONAL)
    family_name: str = field(validator=v.not_blank, metadata=v.PERSONAL)
    birth_date: pendulum.Date = field(converter=v.to_date, metadata=v.PERSONAL)
    sex: AdministrativeSex = field(validator=v.one_of(AdministrativeSex))
    time_zone: str = field(validator=v.time_zone)
    identifiers: tuple[Identifier, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(Identifier, "an Identifier")),
    )
    date_of_death: pendulum.Date | None = field(
        default=None, converter=v.to_optional_date, metadata=v.PERSONAL
    )

    @date_of_death.validator
    def _death_after_birth(
        self, attribute: attrs.Attribute[object], value: pendulum.Date | None
    ) -> None:
        if value is not None and value < self.birth_date:
            raise errors.InvalidValue(
                "is before the birth date", field=attribute.name, value=v.described(value)
            )

    @property
    def display_name(self) -> str:
        """The name as lists show it, family name first (sorted by it): ``Okafor, Ada``.

        >>> Patient(id="p", given_name="Ada", family_name="Okafor", birth_date=pendulum.Date(1948, 3, 2),
        ...         sex=AdministrativeSex.FEMALE, time_zone="UTC").display_name
        'Okafor, Ada'
        """
        return f"{self.family_name}, {self.given_name}"

    def age_on(self, day: pendulum.Date) -> int:
        """Age in whole years on *day*.

        >>> Patient(id="p", given_name="A", family_name="B", birth_date=pendulum.Date(2000, 2, 29),
        ...         sex=AdministrativeSex.MALE, time_zone="UTC").age_on(pendulum.Date(2001, 2, 28))
        0
        """
        before_birthday = (day.month, day.day) < (
            self.birth_date.month,
            self.birth_date.day,
        )
        return day.year - self.birth_date.year - int(before_birthday)


def _npi(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) != 10 or not value.isdigit():  # noqa: PLR2004
        raise errors.InvalidValue("must be 10 digits", field=attribute.name, value=value)
    if not v.npi_checksum_ok(value):
        raise errors.InvalidValue("fails the NPI check digit", field=attribute.name, value=value)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Practitioner:
    """A clinician or staff member of the practice.

    ``npi`` is checked with the NPI check-digit algorithm (CMS NPI standard).

    >>> Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD, npi="1234567893").npi
    '1234567893'
    """

    id: PractitionerId = field(validator=v.not_blank)
    name: str = field(validator=v.not_blank)
    credential: Credential = field(validator=v.one_of(Credential))
    npi: str | None = field(default=None, validator=_npi)


@frozen(kw_only=True, field_transformer=v.name_errors)
class CareTeamMember:
    """One member of a care team, with whom they work under and how closely.

    >>> CareTeamMember(practitioner_id="rn1", role=CareTeamRole.CARE_MANAGER,
    ...                supervisor_id="dr1", supervision=SupervisionLevel.GENERAL).supervision.value
    'general'
    """

    practitioner_id: PractitionerId = field(validator=v.not_blank)
    role: CareTeamRole = field(validator=v.one_of(CareTeamRole))
    supervisor_id: PractitionerId | None = field(default=None, validator=v.optional(v.not_blank))
    supervision: SupervisionLevel | None = field(
        default=None, validator=v.optional(v.one_of(SupervisionLevel))
    )

    @supervision.validator
    def _both_or_neither(self, attribute: attrs.Attribute[object], value: object) -> None:
        if (value is None) != (self.supervisor_id is None):
            raise errors.InvalidValue(
                "give supervision together with supervisor_id",
                field=attribute.name,
                value=value,
            )
        if self.supervisor_id == self.practitioner_id:
            raise errors.InvalidValue(
                "a member cannot supervise themselves",
                field="supervisor_id",
                value=self.supervisor_id,
            )


@frozen(kw_only=True, field_transformer=v.name_errors)
class CareTeam:
    """The people caring for one patient: one billing practitioner and those they supervise.

    >>> team = CareTeam(id="t1", patient_id="p1", members=[
    ...     CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
    ...     CareTeamMember(practitioner_id="rn1", role=CareTeamRole.CARE_MANAGER,
    ...                    supervisor_id="dr1", supervision=SupervisionLevel.GENERAL)])
    >>> team.billing_practitioner_id
    'dr1'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    members: tuple[CareTeamMember, ...] = field(
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(CareTeamMember, "a CareTeamMember")),
    )

    @members.validator
    def _check_members(
        self, attribute: attrs.Attribute[object], value: tuple[CareTeamMember, ...]
    ) -> None:
        if not value:
            raise errors.InvalidValue(
                "a care team needs at least one member",
                field=attribute.name,
                value=value,
            )
        billing = [m for m in value if m.role is CareTeamRole.BILLING_PRACTITIONER]
        if len(billing) > 1:
            raise errors.InvalidValue(
                "only one billing practitioner per care team",
                field=attribute.name,
                value=tuple(m.practitioner_id for m in billing),
            )
        ids = {m.practitioner_id for m in value}
        seen: set[tuple[str, CareTeamRole]] = set()
        for index, member in enumerate(value):
            key = (member.practitioner_id, member.role)
            if key in seen:
                raise errors.InvalidValue(
                    "the same person is listed twice in the same role",
                    field=f"{attribute.name}[{index}]",
                    value=member.practitioner_id,
                )
            seen.add(key)
            if member.supervisor_id is not None and member.supervisor_id not in ids:
                raise errors.InvalidValue(
                    "the supervisor is not a member of this care team",
                    field=f"{attribute.name}[{index}].supervisor_id",
                    value=member.supervisor_id,
                )

    @property
    def billing_practitioner_id(self) -> PractitionerId | None:
        """The billing practitioner's id, or None when the team has none yet."""
        for member in self.members:
            if member.role is CareTeamRole.BILLING_PRACTITIONER:
                return member.practitioner_id
        return None

    def supervised_by(self, practitioner_id: str) -> tuple[CareTeamMember, ...]:
        """Members working under *practitioner_id*.

        >>> CareTeam(id="t", patient_id="p", members=[CareTeamMember(
        ...     practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER)]).supervised_by("dr1")
        ()
        """
        return tuple(m for m in self.members if m.supervisor_id == practitioner_id)
