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

__all__ = [
    "AppointmentDue",
    "CarePlanRevised",
    "DischargeReceived",
    "DomainEvent",
    "EnrollmentChanged",
    "OutreachDue",
    "TaskOverdue",
    "ThresholdReached",
    "TimeRecorded",
    "UrgentFinding",
]


@frozen(kw_only=True, field_transformer=v.name_errors)
class DomainEvent:
    """Base of every domain event: whose record it concerns and when it happened."""

    patient_id: PatientId = field(validator=v.not_blank)
    occurred_at: pendulum.DateTime = field(converter=v.to_instant)

    @property
    def type(self) -> str:
        """The event's tag in JSON: its class name."""
        return type(self).__name__

    @property
    def key(self) -> str:
        """What makes this event unique (messages made from it are keyed by it)."""
        return f"{self.type}:{self.patient_id}:{self.occurred_at.isoformat()}"

    def fields(self) -> dict[str, str]:
        """Plain-text values a notification template may use (``{patient_id}``, ``{date}``...)."""
        return {
            "patient_id": self.patient_id,
            "date": self.occurred_at.date().isoformat(),
            "event": self.type,
        }


@frozen(kw_only=True, field_transformer=v.name_errors)
class DischargeReceived(DomainEvent):
    """A discharge arrived from a hospital feed or an EHR."""

    adt_event: AdtEvent = field(validator=v.instance_of(AdtEvent, "an AdtEvent"))

    @property
    def key(self) -> str:
        """The discharge event's id."""
        return f"{self.type}:{self.adt_event.id}"

    def fields(self) -> dict[str, str]:
        """Adds ``facility``."""
        return super().fields() | {"facility": self.adt_event.facility or "the hospital"}


@frozen(kw_only=True, field_transformer=v.name_errors)
class TimeRecorded(DomainEvent):
    """Care-management minutes were logged."""

    entry: TimeEntry = field(validator=v.instance_of(TimeEntry, "a TimeEntry"))

    @property
    def key(self) -> str:
        """The time entry's id."""
        return f"{self.type}:{self.entry.id}"


@frozen(kw_only=True, field_transformer=v.name_errors)
class EnrollmentChanged(DomainEvent):
    """A patient was enrolled, paused, resumed or disenrolled."""

    enrollment_id: str = field(validator=v.not_blank)
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    status: EnrollmentStatus = field(validator=v.one_of(EnrollmentStatus))

    @property
    def key(self) -> str:
        """The enrollment and the status it reached."""
        return f"{self.type}:{self.enrollment_id}:{self.status.value}:{self.occurred_at.date().isoformat()}"

    def fields(self) -> dict[str, str]:
        """Adds ``program`` and ``status``."""
        return super().fields() | {"program": self.family.value, "status": self.status.value}


@frozen(kw_only=True, field_transformer=v.name_errors)
class CarePlanRevised(DomainEvent):
    """A care plan reached a new version."""

    plan_id: str = field(validator=v.not_blank)
    version: int = field(validator=v.int_between(1))

    @property
    def key(self) -> str:
        """The plan and its version."""
        return f"{self.type}:{self.plan_id}:{self.version}"

    def fields(self) -> dict[str, str]:
        """Adds ``plan_id`` and ``version``."""
        return super().fields() | {"plan_id": self.plan_id, "version": str(self.version)}


@frozen(kw_only=True, field_transformer=v.name_errors)
class TaskOverdue(DomainEvent):
    """A care-plan task passed its due date while still open."""

    plan_id: str = field(validator=v.not_blank)
    task_id: str = field(validator=v.not_blank)
    owner: str = field(validator=v.not_blank)
    due: pendulum.Date = field(converter=v.to_date)

    @property
    def key(self) -> str:
        """The task and the due date it missed."""
        return f"{self.type}:{self.plan_id}:{self.task_id}:{self.due.isoformat()}"

    def fields(self) -> dict[str, str]:
        """Adds ``task_id``, ``owner`` and ``due``."""
        return super().fields() | {
            "task_id": self.task_id,
            "owner": self.owner,
            "due": self.due.isoformat(),
        }


@frozen(kw_only=True, field_transformer=v.name_errors)
class OutreachDue(DomainEvent):
    """A worklist item came due: a check-in, a TCM contact, enrollment outreach, a follow-up."""

    kind: str = field(validator=v.not_blank)
    owner: str = field(validator=v.not_blank)
    due: pendulum.Date = field(converter=v.to_date)
    detail: str = field(validator=v.not_blank)

    @property
    def key(self) -> str:
        """The work item's own key."""
        return f"{self.type}:{self.kind}:{self.patient_id}:{self.due.isoformat()}:{self.detail}"

    def fields(self) -> dict[str, str]:
        """Adds ``kind``, ``owner``, ``due`` and ``detail``."""
        return super().fields() | {
            "kind": self.kind,
            "owner": self.owner,
            "due": self.due.isoformat(),
            "detail": self.detail,
        }


@frozen(kw_only=True, field_transformer=v.name_errors)
class ThresholdReached(DomainEvent):
    """A patient's countable minutes this month reached a billing threshold (20 for 99490)."""

    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    code: str = field(validator=v.not_blank)
    minutes: int = field(validator=v.int_between(0))
    month: str = field(validator=v.matches(r"[0-9]{4}-[0-9]{2}", "YYYY-MM"))

    @property
    def key(self) -> str:
        """The patient, the code and the month: reached once a month."""
        return f"{self.type}:{self.patient_id}:{self.code}:{self.month}"

    def fields(self) -> dict[str, str]:
        """Adds ``code``, ``minutes``, ``month`` and ``program``."""
        return super().fields() | {
            "code": self.code,
            "minutes": str(self.minutes),
            "month": self.month,
            "program": self.family.value,
        }


@frozen(kw_only=True, field_transformer=v.name_errors)
class AppointmentDue(DomainEvent):
    """A booked appointment is coming up: the cue for a reminder.

    *time_zone* is the patient's, so a template says the time on their clock.

    >>> ev = AppointmentDue(patient_id="p1", occurred_at=pendulum.datetime(2026, 3, 1, 14, tz="UTC"),
    ...     appointment_id="ap1", starts_at=pendulum.datetime(2026, 3, 2, 15, 30, tz="UTC"),
    ...     time_zone="America/Chicago", location="Main St clinic")
    >>> ev.fields()["appointment_time"], ev.fields()["appointment_date"]
    ('09:30', '2026-03-02')
    """

    appointment_id: str = field(validator=v.not_blank)
    starts_at: pendulum.DateTime = field(converter=v.to_instant)
    time_zone: str = field(default="UTC", validator=v.time_zone)
    location: str | None = field(default=None, validator=v.optional(v.not_blank))
    practitioner_id: str | None = field(default=None, validator=v.optional(v.not_blank))

    @property
    def key(self) -> str:
        """The appointment and its start: a rescheduled visit gets a reminder of its own."""
        return f"{self.type}:{self.appointment_id}:{self.starts_at.isoformat()}"

    def fields(self) -> dict[str, str]:
        """Adds ``appointment_date`` and ``appointment_time`` (the patient's clock), ``location``, ``practitioner_id``."""
        local = self.starts_at.in_timezone(self.time_zone)
        return super().fields() | {
            "appointment_id": self.appointment_id,
            "appointment_date": local.date().isoformat(),
            "appointment_time": local.format("HH:mm"),
            "location": self.location or "the clinic",
            "practitioner_id": self.practitioner_id or "your care team",
        }


@frozen(kw_only=True, field_transformer=v.name_errors)
class UrgentFinding(DomainEvent):
    """An assessment found a reason to act now: a PHQ-9 with item 9 above 0, a positive safety screen.

    *finding* is the reason (``suicidal-ideation``, ``interpersonal-safety``),
    *source_id* the stored assessment result, *owner* the patient's care
    manager (the worklist's owner rule). Ids only: no health details beyond
    the finding's name.

    >>> ev = UrgentFinding(patient_id="p1", occurred_at=pendulum.datetime(2026, 3, 2, 15, tz="UTC"),
    ...     finding="suicidal-ideation", source_id="phq9-1", instrument_id="phq-9", owner="rn1")
    >>> ev.key
    'UrgentFinding:phq9-1:suicidal-ideation'
    """

    finding: str = field(validator=v.not_blank)
    source_id: str = field(validator=v.not_blank)
    instrument_id: str = field(validator=v.not_blank)
    owner: str = field(validator=v.not_blank)

    @property
    def key(self) -> str:
        """The assessment result and the finding: one alert each."""
        return f"{self.type}:{self.source_id}:{self.finding}"

    def fields(self) -> dict[str, str]:
        """Adds ``finding``, ``source_id``, ``instrument_id`` and ``owner``."""
        return super().fields() | {
            "finding": self.finding,
            "source_id": self.source_id,
            "instrument_id": self.instrument_id,
            "owner": self.owner,
        }
