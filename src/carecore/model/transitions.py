"""Admission, discharge and transfer events."""

from __future__ import annotations

import datetime as dt

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import (
    AdtEventKind,
    CareSetting,
    EpisodeCloseKind,
    EpisodeStatus,
    PatientClass,
)
from carecore.model.people import PatientId

__all__ = ["AdtEvent", "TransitionEpisode"]


def _utc_day(at: dt.datetime) -> int:
    """The proleptic ordinal of *at*'s date in UTC (an aware instant)."""
    # Its wall time, read as UTC, less its offset: the UTC wall time.
    wall = dt.datetime(
        at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond, tzinfo=dt.UTC
    )
    return (wall - (at.utcoffset() or dt.timedelta(0))).toordinal()


@frozen(kw_only=True, field_transformer=v.name_errors)
class AdtEvent:
    """An admission, discharge or transfer reported by a hospital or an EHR.

    ``source_key`` is the sender's own id for the message (HL7 MSH-10, a FHIR
    Encounter id and version) and makes inbound handling idempotent.

    >>> e = AdtEvent(id="a1", source_key="MSG0001", patient_id="p1", kind=AdtEventKind.DISCHARGE,
    ...     occurred_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
    ...     admitted_at=pendulum.datetime(2026, 1, 2, 9, tz="America/Chicago"),
    ...     discharged_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
    ...     patient_class=PatientClass.INPATIENT, from_setting=CareSetting.INPATIENT_ACUTE,
    ...     to_setting=CareSetting.HOME, facility="General Hospital")
    >>> e.discharge_date("America/Chicago")
    Date(2026, 1, 5)
    """

    id: str = field(validator=v.not_blank)
    source_key: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    kind: AdtEventKind = field(validator=v.one_of(AdtEventKind))
    occurred_at: pendulum.DateTime = field(converter=v.to_instant)
    patient_class: PatientClass = field(validator=v.one_of(PatientClass))
    admitted_at: pendulum.DateTime | None = field(default=None, converter=v.to_optional_instant)
    discharged_at: pendulum.DateTime | None = field(default=None, converter=v.to_optional_instant)
    from_setting: CareSetting | None = field(
        default=None, validator=v.optional(v.one_of(CareSetting))
    )
    to_setting: CareSetting | None = field(
        default=None, validator=v.optional(v.one_of(CareSetting))
    )
    facility: str | None = field(default=None, validator=v.optional(v.not_blank))
    visit_number: str | None = field(default=None, validator=v.optional(v.not_blank))

    @discharged_at.validator
    def _discharge_consistent(
        self, attribute: attrs.Attribute[object], value: pendulum.DateTime | None
    ) -> None:
        if self.kind is AdtEventKind.DISCHARGE and value is None:
            raise errors.InvalidValue(
                "a discharge needs its discharge time",
                field=attribute.name,
                value=value,
            )
        if value is not None and self.admitted_at is not None and value < self.admitted_at:
            raise errors.InvalidValue("is before the admission", field=attribute.name, value=value)

    def discharge_date(self, time_zone: str) -> pendulum.Date | None:
        """The local discharge date in *time_zone* (the practice's), or None."""
        if self.discharged_at is None:
            return None
        return self.discharged_at.in_timezone(time_zone).date()


@frozen(kw_only=True, field_transformer=v.name_errors)
class TransitionEpisode:
    """One discharge being followed: its deadlines, what was done, and where it stands.

    Built and updated by :mod:`carecore.transitions`. ``contact_due`` is the
    last day of the 2-business-day contact window, ``visit_due_7`` and
    ``visit_due`` (14 days) the face-to-face deadlines of 99496 and 99495,
    ``med_rec_due`` the medication-reconciliation deadline (the visit, once
    it happened), ``period_end`` the 30th day. A discharge that does not
    qualify for TCM still gets an episode, with ``qualifies`` False, so the
    team sees it. ``version`` gives optimistic concurrency.

    >>> ep = TransitionEpisode(id="ep1", patient_id="p1", discharge_event_id="a1",
    ...     discharged_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
    ...     from_setting=CareSetting.INPATIENT_ACUTE,
    ...     contact_due=pendulum.date(2026, 1, 7), visit_due=pendulum.date(2026, 1, 19))
    >>> ep.status.value, ep.version
    ('open', 1)
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    discharge_event_id: str = field(validator=v.not_blank)
    discharged_at: pendulum.DateTime = field(converter=v.to_instant)
    from_setting: CareSetting = field(validator=v.one_of(CareSetting))
    contact_due: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    visit_due: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    status: EpisodeStatus = field(default=EpisodeStatus.OPEN, validator=v.one_of(EpisodeStatus))
    version: int = field(default=1, validator=v.int_between(1))
    to_setting: CareSetting | None = field(
        default=None, validator=v.optional(v.one_of(CareSetting))
    )
    qualifies: bool = field(default=True, validator=v.is_bool)
    visit_due_7: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    med_rec_due: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    period_end: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    contact_attempts: tuple[pendulum.Date, ...] = field(default=(), converter=v.to_tuple)
    contact_made_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    visit_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    med_rec_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    readmitted: bool = field(default=False, validator=v.is_bool)
    readmission_event_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    close_reason: str | None = field(default=None, validator=v.optional(v.not_blank))
    #: The discharge came without a disposition (HL7 PV1-36): the deadlines run, and
    #: confirming where the patient went is a deadline of its own (``disposition``).
    disposition_unknown: bool = field(default=False, validator=v.is_bool)
    #: Why the episode ended without completing (None while it is open or once
    #: completed); :attr:`close_reason` says it in words.
    close_kind: EpisodeCloseKind | None = field(
        default=None, validator=v.optional(v.one_of(EpisodeCloseKind))
    )
    #: The discharge's local calendar day, the one the deadlines count from: the
    #: date in the practice's (or patient's) time zone when the episode opened
    #: (default: the date in the zone ``discharged_at`` carries). Kept with the
    #: episode, so a store that gives the instant back in UTC (PostgreSQL) still
    #: says 3 March for 23:30 in New York on the 3rd.
    discharge_date: pendulum.Date = field(
        default=attrs.Factory(lambda self: self.discharged_at.date(), takes_self=True),
        converter=v.to_date,
    )

    @discharge_date.validator
    def _local_day(self, attribute: attrs.Attribute[object], value: pendulum.Date) -> None:
        # Local time is at most 14 hours from UTC: the local day is the UTC day or next to it.
        # The UTC day with the standard library (pendulum's zone change and date interval
        # took about 20 us, and every episode built or read pays it).
        if abs(value.toordinal() - _utc_day(self.discharged_at)) > 1:
            raise errors.InvalidValue(
                "is more than a day from the discharge instant's UTC date",
                field=attribute.name,
                value=value,
            )

    def open_deadlines(self, on: pendulum.Date | None = None) -> dict[str, pendulum.Date]:
        """What is still to do, by when: ``contact``, ``visit``, ``med-rec`` and ``disposition``.

        The one place that says which deadlines are open: the tasks, the
        worklists and ``carecore tcm list`` all read it. The visit is chased
        by the 7-day deadline (99496, high complexity) until it passes, then
        by the 14-day one (99495, still billable): give *on*, the day asked
        about, to see that switch (without it, the 7-day deadline while one
        is set). A discharge sent without its disposition is to be confirmed
        (``disposition``) by the contact deadline. An episode that is not
        open, or does not qualify for TCM, has none.

        >>> ep = TransitionEpisode(id="ep1", patient_id="p1", discharge_event_id="a1",
        ...     discharged_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
        ...     from_setting=CareSetting.INPATIENT_ACUTE, contact_due=pendulum.date(2026, 1, 7),
        ...     visit_due_7=pendulum.date(2026, 1, 12), visit_due=pendulum.date(2026, 1, 19),
        ...     contact_made_on=pendulum.date(2026, 1, 6))
        >>> {k: d.isoformat() for k, d in ep.open_deadlines().items()}
        {'visit': '2026-01-12'}
        >>> ep.open_deadlines(on=pendulum.date(2026, 1, 13))["visit"].isoformat()
        '2026-01-19'
        """
        on = None if on is None else v.check_date(on, "on")
        if self.status is not EpisodeStatus.OPEN or not self.qualifies:
            return {}
        out: dict[str, pendulum.Date] = {}
        if self.contact_made_on is None and self.contact_due is not None:
            out["contact"] = self.contact_due
        visit_due = self.visit_due_7 or self.visit_due
        if on is not None and self.visit_due_7 is not None and on > self.visit_due_7:
            visit_due = self.visit_due or self.visit_due_7
        if self.visit_on is None and visit_due is not None:
            out["visit"] = visit_due
        if self.med_rec_on is None and self.med_rec_due is not None:
            out["med-rec"] = self.med_rec_due
        if self.disposition_unknown and self.contact_due is not None:
            out["disposition"] = self.contact_due
        return out
