"""Health coverage and appointments: who pays, and when the patient is next seen."""

from __future__ import annotations

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import AppointmentStatus, CoveragePlan
from carecore.model.people import PatientId, PractitionerId

__all__ = ["Appointment", "Coverage"]


@frozen(kw_only=True, field_transformer=v.name_errors)
class Coverage:
    """A patient's health coverage over a span of days (either end may be open).

    >>> c = Coverage(id="cov1", patient_id="p1", payer="Medicare",
    ...     plan=CoveragePlan.MEDICARE_PART_B, start=pendulum.Date(2020, 1, 1))
    >>> c.active_on(pendulum.Date(2026, 3, 1)), c.active_on(pendulum.Date(2019, 12, 31))
    (True, False)
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    payer: str = field(validator=v.not_blank)
    plan: CoveragePlan = field(validator=v.one_of(CoveragePlan))
    member_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    start: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    end: pendulum.Date | None = field(default=None, converter=v.to_optional_date)

    @end.validator
    def _end_after_start(
        self, attribute: attrs.Attribute[object], value: pendulum.Date | None
    ) -> None:
        if value is not None and self.start is not None and value < self.start:
            raise errors.InvalidValue("is before the start", field=attribute.name, value=value)

    def active_on(self, day: pendulum.Date) -> bool:
        """Whether the coverage is in force on *day* (both ends inclusive)."""
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Appointment:
    """A scheduled visit; booked appointments get reminders (``carecore.notify``).

    >>> a = Appointment(id="ap1", patient_id="p1",
    ...     starts_at=pendulum.datetime(2026, 3, 2, 15, 30, tz="UTC"), practitioner_id="dr1")
    >>> a.status.value
    'booked'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    starts_at: pendulum.DateTime = field(converter=v.to_instant)
    status: AppointmentStatus = field(
        default=AppointmentStatus.BOOKED, validator=v.one_of(AppointmentStatus)
    )
    practitioner_id: PractitionerId | None = field(default=None, validator=v.optional(v.not_blank))
    location: str | None = field(default=None, validator=v.optional(v.not_blank))
    reason: str | None = field(default=None, validator=v.optional(v.not_blank))
