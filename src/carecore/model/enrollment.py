"""Programs, consent and enrollment."""

from __future__ import annotations

import itertools

import attrs
import pendulum
from attrs import evolve, field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    ConsentMethod,
    DisenrollmentReason,
    EnrollmentStatus,
    ServiceFamily,
)
from carecore.model.people import PatientId, PractitionerId

__all__ = ["Consent", "Enrollment", "Program", "ProgramElection", "StatusChange"]


@frozen(kw_only=True, field_transformer=v.name_errors)
class Program:
    """A care-management program a practice runs, e.g. its CCM program.

    ``time_zone`` is the practice's: service months are counted in it.

    >>> Program(id="ccm", name="Chronic care", family=ServiceFamily.CCM,
    ...         time_zone="America/New_York").family.value
    'CCM'
    """

    id: str = field(validator=v.not_blank)
    name: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    time_zone: str = field(validator=v.time_zone)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Consent:
    """A patient's consent to a program, as CMS requires it documented (S1, S89).

    >>> c = Consent(id="k1", patient_id="p1", family=ServiceFamily.CCM,
    ...             method=ConsentMethod.VERBAL, obtained_on=pendulum.Date(2026, 1, 5),
    ...             obtained_by="rn1", billing_practitioner_id="dr1",
    ...             cost_sharing_explained=True)
    >>> revoked = c.revoke(pendulum.Date(2026, 3, 10))
    >>> c.active_on(pendulum.Date(2026, 2, 1)), revoked.active_on(pendulum.Date(2026, 3, 31))
    (True, True)
    >>> revoked.effective_until, revoked.active_on(pendulum.Date(2026, 4, 1))
    (Date(2026, 3, 31), False)
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    method: ConsentMethod = field(validator=v.one_of(ConsentMethod))
    obtained_on: pendulum.Date = field(converter=v.to_date)
    obtained_by: PractitionerId = field(validator=v.not_blank)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    cost_sharing_explained: bool = field(validator=v.is_bool)
    revoked_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)

    @revoked_on.validator
    def _revoked_after_obtained(
        self, attribute: attrs.Attribute[object], value: pendulum.Date | None
    ) -> None:
        if value is not None and value < self.obtained_on:
            raise errors.InvalidValue(
                "is before the consent was obtained", field=attribute.name, value=value
            )

    @property
    def effective_until(self) -> pendulum.Date | None:
        """The last day the consent covers: a revocation takes effect at the end of its month."""
        if self.revoked_on is None:
            return None
        return self.revoked_on.end_of("month")

    def active_on(self, day: pendulum.Date) -> bool:
        """Whether the consent covers *day*: from the day obtained to the end of the revocation's month."""
        until = self.effective_until
        return self.obtained_on <= day and (until is None or day <= until)

    def revoke(self, on: pendulum.Date) -> Consent:
        """The same consent, revoked on *on*."""
        if self.revoked_on is not None:
            raise errors.InvalidTransition(field="revoked_on", value=self.revoked_on, to=on)
        return evolve(self, revoked_on=on)


@frozen(kw_only=True, field_transformer=v.name_errors)
class StatusChange:
    """One entry of an enrollment's status history.

    >>> StatusChange(status=EnrollmentStatus.ENROLLED, on=pendulum.Date(2026, 1, 5)).status.value
    'enrolled'
    """

    status: EnrollmentStatus = field(validator=v.one_of(EnrollmentStatus))
    on: pendulum.Date = field(converter=v.to_date)
    reason: DisenrollmentReason | None = field(
        default=None, validator=v.optional(v.one_of(DisenrollmentReason))
    )

    @reason.validator
    def _reason_only_when_leaving(self, attribute: attrs.Attribute[object], value: object) -> None:
        if (value is None) == (self.status is EnrollmentStatus.DISENROLLED):
            raise errors.InvalidValue(
                "a disenrollment needs a reason, and only a disenrollment has one",
                field=attribute.name,
                value=value,
            )


_ALLOWED = {
    EnrollmentStatus.IDENTIFIED: {
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.DISENROLLED,
    },
    EnrollmentStatus.OUTREACH: {EnrollmentStatus.CONSENTED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.CONSENTED: {EnrollmentStatus.ENROLLED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.ENROLLED: {EnrollmentStatus.PAUSED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.PAUSED: {EnrollmentStatus.ENROLLED, EnrollmentStatus.DISENROLLED},
    EnrollmentStatus.DISENROLLED: set(),
}
_FIRST = {
    EnrollmentStatus.IDENTIFIED,
    EnrollmentStatus.OUTREACH,
    EnrollmentStatus.CONSENTED,
    EnrollmentStatus.ENROLLED,
}


@frozen(kw_only=True, field_transformer=v.name_errors)
class Enrollment:
    """A patient's membership in a program, with its whole status history.

    >>> e = Enrollment.start(id="e1", patient_id="p1", program_id="ccm",
    ...                      family=ServiceFamily.CCM, billing_practitioner_id="dr1",
    ...                      on=pendulum.Date(2026, 1, 5))
    >>> e = e.disenroll(pendulum.Date(2026, 6, 30), DisenrollmentReason.MOVED)
    >>> e.status.value, e.status_on(pendulum.Date(2026, 3, 1)).value
    ('disenrolled', 'enrolled')
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    program_id: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    history: tuple[StatusChange, ...] = field(
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(StatusChange, "a StatusChange")),
    )

    @history.validator
    def _check_history(
        self, attribute: attrs.Attribute[object], value: tuple[StatusChange, ...]
    ) -> None:
        if not value:
            raise errors.InvalidValue(
                "needs at least the enrollment itself",
                field=attribute.name,
                value=value,
            )
        if value[0].status not in _FIRST:
            raise errors.InvalidValue(
                "must start with identification, outreach, consent or enrollment",
                field=f"{attribute.name}[0].status",
                value=value[0].status,
            )
        for index, (before, after) in enumerate(itertools.pairwise(value), start=1):
            if after.on < before.on:
                raise errors.InvalidValue(
                    "is earlier than the change before it",
                    field=f"{attribute.name}[{index}].on",
                    value=after.on,
                )
            if after.status not in _ALLOWED[before.status]:
                raise errors.InvalidTransition(
                    field=f"{attribute.name}[{index}].status",
                    value=before.status,
                    to=after.status,
                )

    @classmethod
    def start(
        cls,
        *,
        id: str,  # noqa: A002
        patient_id: str,
        program_id: str,
        family: ServiceFamily,
        billing_practitioner_id: str,
        on: pendulum.Date,
    ) -> Enrollment:
        """Enroll a patient on *on*."""
        return cls(
            id=id,
            patient_id=patient_id,
            program_id=program_id,
            family=family,
            billing_practitioner_id=billing_practitioner_id,
            history=(StatusChange(status=EnrollmentStatus.ENROLLED, on=on),),
        )

    @property
    def status(self) -> EnrollmentStatus:
        """The current status (the last entry of the history)."""
        return self.history[-1].status

    @classmethod
    def identify(
        cls,
        *,
        id: str,  # noqa: A002
        patient_id: str,
        program_id: str,
        family: ServiceFamily,
        billing_practitioner_id: str,
        on: pendulum.Date,
    ) -> Enrollment:
        """Record that a patient was identified for a program on *on* (before outreach).

        >>> e = Enrollment.identify(id="e1", patient_id="p1", program_id="ccm", family=ServiceFamily.CCM,
        ...     billing_practitioner_id="dr1", on=pendulum.Date(2026, 1, 5))
        >>> e = e.reach_out(pendulum.Date(2026, 1, 6)).consent(pendulum.Date(2026, 1, 9))
        >>> e = e.enroll(pendulum.Date(2026, 1, 12))
        >>> [c.status.value for c in e.history], e.enrolled_on
        (['identified', 'outreach', 'consented', 'enrolled'], Date(2026, 1, 12))
        """
        return cls(
            id=id,
            patient_id=patient_id,
            program_id=program_id,
            family=family,
            billing_practitioner_id=billing_practitioner_id,
            history=(StatusChange(status=EnrollmentStatus.IDENTIFIED, on=on),),
        )

    @property
    def enrolled_on(self) -> pendulum.Date | None:
        """The day the patient first enrolled (None while not yet enrolled)."""
        return next((c.on for c in self.history if c.status is EnrollmentStatus.ENROLLED), None)

    def reach_out(self, on: pendulum.Date) -> Enrollment:
        """Start outreach on *on*."""
        return self._change(StatusChange(status=EnrollmentStatus.OUTREACH, on=on))

    def consent(self, on: pendulum.Date) -> Enrollment:
        """Record the patient's consent on *on* (the Consent value holds the details)."""
        return self._change(StatusChange(status=EnrollmentStatus.CONSENTED, on=on))

    def enroll(self, on: pendulum.Date) -> Enrollment:
        """Start the enrollment on *on* (after consent)."""
        return self._change(StatusChange(status=EnrollmentStatus.ENROLLED, on=on))

    def status_on(self, day: pendulum.Date) -> EnrollmentStatus | None:
        """The status in effect on *day* (identified, outreach, consented, ...), or None before the first entry."""
        current = None
        for change in self.history:
            if change.on > day:
                break
            current = change.status
        return current

    def _change(self, change: StatusChange) -> Enrollment:
        if change.status not in _ALLOWED[self.status]:
            raise errors.InvalidTransition(field="status", value=self.status, to=change.status)
        return evolve(self, history=(*self.history, change))

    def pause(self, on: pendulum.Date) -> Enrollment:
        """Pause the enrollment from *on*."""
        return self._change(StatusChange(status=EnrollmentStatus.PAUSED, on=on))

    def resume(self, on: pendulum.Date) -> Enrollment:
        """Resume a paused enrollment from *on*."""
        return self._change(StatusChange(status=EnrollmentStatus.ENROLLED, on=on))

    def disenroll(self, on: pendulum.Date, reason: DisenrollmentReason) -> Enrollment:
        """End the enrollment on *on* for *reason*."""
        return self._change(StatusChange(status=EnrollmentStatus.DISENROLLED, on=on, reason=reason))


@frozen(kw_only=True, field_transformer=v.name_errors)
class ProgramElection:
    """The practice's choice of one family when two conflict for a practitioner and month.

    CMS lets a practitioner report general BHI or CoCM for a patient in a
    month, not both (and likewise for other exclusive pairs); the practice
    chooses. An election holds from ``on`` until a later one; minutes logged
    under the other family are not moved to the chosen one.

    >>> ProgramElection(id="e1", patient_id="p1", prefer_family=ServiceFamily.COCM,
    ...     on=pendulum.Date(2025, 2, 28), billing_practitioner_id="dr1").prefer_family.value
    'COCM'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    prefer_family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    on: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
