"""Outbound messages and their delivery receipts."""

from __future__ import annotations

import datetime as dt

import pendulum
from attrs import field, frozen

from carecore.model import _validators as v
from carecore.model.people import PatientId

__all__ = ["ContactPreferences", "DeadLetter", "DeliveryReceipt", "OutboundMessage"]


@frozen(kw_only=True, field_transformer=v.name_errors)
class OutboundMessage:
    """A message to send through a notification channel.

    ``idempotency_key`` is stable across retries, so a channel that supports
    it delivers the message once even when it is sent twice.

    >>> m = OutboundMessage(id="m1", idempotency_key="tcm-contact:p1:2026-01-05", channel="console",
    ...     recipient="care-team", subject="TCM contact due", body="Call Ada by Jan 7.",
    ...     created_at=pendulum.datetime(2026, 1, 5, 9, tz="UTC"))
    >>> m.channel
    'console'
    """

    id: str = field(validator=v.not_blank)
    idempotency_key: str = field(validator=v.not_blank)
    channel: str = field(validator=v.not_blank)
    recipient: str = field(validator=v.not_blank)
    subject: str = field(validator=v.not_blank)
    body: str = field(validator=v.instance_of(str, "a string"))
    created_at: pendulum.DateTime = field(converter=v.to_instant)
    patient_id: PatientId | None = field(default=None, validator=v.optional(v.not_blank))
    #: ``care-team`` or ``patient``: a message to the patient obeys their contact preferences.
    audience: str = field(
        default="care-team", validator=v.matches(r"care-team|patient", "care-team or patient")
    )


@frozen(kw_only=True, field_transformer=v.name_errors)
class ContactPreferences:
    """How a patient wants to be contacted: channels, opt-outs, quiet hours (in their own time zone).

    >>> import datetime as dt
    >>> prefs = ContactPreferences(patient_id="p1", channels=("sms", "email"), opted_out={"sms"},
    ...     quiet_start=dt.time(21), quiet_end=dt.time(8))
    >>> prefs.allows("sms"), prefs.allows("email")
    (False, True)
    >>> prefs.quiet_at(dt.time(22, 30)), prefs.quiet_at(dt.time(7, 59)), prefs.quiet_at(dt.time(8))
    (True, True, False)
    """

    patient_id: PatientId = field(validator=v.not_blank)
    channels: tuple[str, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.not_blank)
    )
    opted_out: frozenset[str] = field(default=frozenset(), converter=v.to_frozenset)
    language: str = field(default="en", validator=v.not_blank)
    quiet_start: dt.time | None = field(
        default=None, validator=v.optional(v.instance_of(dt.time, "a time of day"))
    )
    quiet_end: dt.time | None = field(
        default=None, validator=v.optional(v.instance_of(dt.time, "a time of day"))
    )
    health_details_in_sms: bool = field(default=False, validator=v.is_bool)
    #: Where to reach the patient: a mobile number in E.164 form for SMS, an email address.
    phone: str | None = field(
        default=None,
        validator=v.optional(v.matches(r"\+[1-9][0-9]{6,14}", "an E.164 number like +15551234567")),
    )
    email: str | None = field(
        default=None,
        validator=v.optional(v.matches(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an email address")),
    )

    def address_for(self, channel: str) -> str | None:
        """The patient's address on *channel* (``sms``: phone, ``email``: email), if known.

        >>> ContactPreferences(patient_id="p1", phone="+15551234567").address_for("sms")
        '+15551234567'
        """
        return {"sms": self.phone, "email": self.email}.get(channel)

    @property
    def preferred_channel(self) -> str | None:
        """The first channel in :attr:`channels` the patient has not opted out of, if any.

        >>> ContactPreferences(patient_id="p1", channels=("sms", "email"), opted_out={"sms"}).preferred_channel
        'email'
        """
        return next((c for c in self.channels if self.allows(c)), None)

    def allows(self, channel: str) -> bool:
        """Whether the patient accepts messages on *channel*."""
        return channel not in self.opted_out

    def quiet_at(self, local: dt.time) -> bool:
        """Whether *local* (the patient's wall-clock time) falls in the quiet hours."""
        start, end = self.quiet_start, self.quiet_end
        if start is None or end is None or start == end:
            return False
        if start < end:
            return start <= local < end
        return local >= start or local < end  # a window across midnight


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeliveryReceipt:
    """What a channel reports after trying to deliver a message.

    >>> DeliveryReceipt(message_id="m1", channel="console", accepted=True,
    ...     at=pendulum.datetime(2026, 1, 5, 9, tz="UTC")).accepted
    True
    """

    message_id: str = field(validator=v.not_blank)
    channel: str = field(validator=v.not_blank)
    accepted: bool = field(validator=v.is_bool)
    at: pendulum.DateTime = field(converter=v.to_instant)
    provider_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    detail: str | None = field(default=None, validator=v.optional(v.instance_of(str, "a string")))


@frozen(kw_only=True, field_transformer=v.name_errors)
class DeadLetter:
    """An inbound message that could not be used, kept with the reason instead of dropped.

    >>> DeadLetter(id="dl1", source="hl7", key="MSG00009", raw="MSH|...", reason="PID-3 is missing",
    ...     received_at=pendulum.datetime(2026, 1, 5, 9, tz="UTC")).reason
    'PID-3 is missing'
    """

    id: str = field(validator=v.not_blank)
    source: str = field(validator=v.not_blank)
    raw: str = field(validator=v.instance_of(str, "a string"))
    reason: str = field(validator=v.not_blank)
    received_at: pendulum.DateTime = field(converter=v.to_instant)
    key: str | None = field(default=None, validator=v.optional(v.not_blank))
