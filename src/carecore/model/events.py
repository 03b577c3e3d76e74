"""Domain events: what happened, for observers (``carecore_on_event``).

Events are values like any other. Their JSON form carries a ``type`` tag
(the class name) so a mixed stream can be read back.

>>> import pendulum
>>> ev = EnrollmentChanged(patient_id="p1", occurred_at=pendulum.datetime(2026, 1, 5, tz="UTC"),
...                        enrollment_id="e1", family=ServiceFamily.CCM, status=EnrollmentStatus.ENROLLED)
>>> ev.type
'EnrollmentChanged'
"""

from __future__ import annotations

import pendulum
from attrs import field, frozen

from carecore.model import _validators as v
from carecore.model.activity import TimeEntry
from carecore.model.codes import EnrollmentStatus, ServiceFamily
from carecore.model.people import PatientId
from carecore.model.transitions import AdtEvent

__all__ = ["DischargeReceived", "DomainEvent", "EnrollmentChanged", "TimeRecorded"]


@frozen(kw_only=True, field_transformer=v.name_errors)
class DomainEvent:
    """Base of every domain event: whose record it concerns and when it happened."""

    patient_id: PatientId = field(validator=v.not_blank)
    occurred_at: pendulum.DateTime = field(converter=v.to_instant)

    @property
    def type(self) -> str:
        """The event's tag in JSON: its class name."""
        return type(self).__name__


@frozen(kw_only=True, field_transformer=v.name_errors)
class DischargeReceived(DomainEvent):
    """A discharge arrived from a hospital feed or an EHR."""

    adt_event: AdtEvent = field(validator=v.instance_of(AdtEvent, "an AdtEvent"))


@frozen(kw_only=True, field_transformer=v.name_errors)
class TimeRecorded(DomainEvent):
    """Care-management minutes were logged."""

    entry: TimeEntry = field(validator=v.instance_of(TimeEntry, "a TimeEntry"))


@frozen(kw_only=True, field_transformer=v.name_errors)
class EnrollmentChanged(DomainEvent):
    """A patient was enrolled, paused, resumed or disenrolled."""

    enrollment_id: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    status: EnrollmentStatus = field(validator=v.one_of(EnrollmentStatus))
