"""Turning domain events into outbox messages, by rules a practice configures.

A :class:`NotificationRule` says: when an event of this type happens, send
this text on this channel to this recipient. Templates use the event's
plain-text fields (``{patient_id}``, ``{date}``, ``{facility}``,
``{contact_due}``...), never free text from the record, so a rule decides
exactly what a message reveals. Messages are keyed by the rule and the
event, so the same event never queues the same message twice.

:class:`~carecore.service.CareProgram` applies its rules inside the
transaction that records the change (the outbox invariant) and then tells
the ``carecore_on_event`` observers.

>>> import pendulum
>>> from carecore.model import CarePlanRevised
>>> rule = NotificationRule(id="plan-revised", event="CarePlanRevised", channel="console",
...     recipient="care-team", subject="Plan {plan_id} is at version {version}", body="Review it.")
>>> event = CarePlanRevised(patient_id="p1", occurred_at=pendulum.datetime(2026, 3, 4, tz="UTC"),
...     plan_id="cp1", version=3)
>>> [m.subject for m in messages_for(event, [rule], now=event.occurred_at)]
['Plan cp1 is at version 3']
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

from attrs import field, frozen

from carecore import errors
from carecore.model import DomainEvent, OutboundMessage
from carecore.model import validators as v

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import pendulum


__all__ = [
    "DEFAULT_RULES",
    "GENERIC_SMS",
    "PATIENT_ADDRESS",
    "PREFERRED",
    "NotificationRule",
    "check_rules",
    "messages_for",
]

#: A recipient meaning the patient's own address on the message's channel, looked
#: up by the dispatcher when it delivers (see :data:`carecore.outbox.PATIENT_ADDRESS`).
PATIENT_ADDRESS = "patient-address"

#: A rule whose channel is this sends on the patient's first allowed preferred channel
#: (their :class:`~carecore.model.ContactPreferences`); with none, the message goes
#: to the dead letters when delivered ("no channel named 'preferred'").
PREFERRED = "preferred"

#: What a text message says to a patient who has not allowed health details by SMS.
GENERIC_SMS = "You have a message from your care team. Please call us or check your patient portal."


def _template(_inst: object, attribute: object, value: str) -> None:
    field_name = getattr(attribute, "name", "template")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise errors.InvalidValue(
            f"is not a valid template ({exc})", field=field_name, value=value
        ) from None
    if any(not name or name.isdigit() for name in names):
        raise errors.InvalidValue(
            "use named fields such as {patient_id}, not {} or {0}", field=field_name, value=value
        )


def _pair(_inst: object, attribute: object, value: object) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and all(isinstance(x, str) for x in value)  # noqa: PLR2004
    if not ok:
        raise errors.InvalidValue(
            "must be (name, text) pairs", field=getattr(attribute, "name", "extra"), value=value
        )


@frozen(kw_only=True)
class NotificationRule:
    """When an event of type *event* happens, queue a message on *channel* to *recipient*.

    *recipient*, *subject* and *body* are templates over the event's
    :meth:`~carecore.model.DomainEvent.fields` (``{patient_id}``...).
    *extra* adds fixed values a template may use (a clinic's phone number).
    *audience* ``patient`` makes the message obey the patient's contact
    preferences (opt-outs, quiet hours) when it is delivered. A text message
    (channel ``sms``) to a patient who has not allowed health details by SMS
    carries only *generic_subject* (as its subject and its text).
    """

    id: str = field(validator=v.not_blank)
    event: str = field(validator=v.not_blank)
    channel: str = field(validator=v.not_blank)
    recipient: str = field(validator=[v.not_blank, _template])
    subject: str = field(validator=[v.not_blank, _template])
    body: str = field(default="", validator=_template)
    extra: tuple[tuple[str, str], ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(_pair)
    )
    audience: str = field(
        default="care-team", validator=v.matches(r"care-team|patient", "care-team or patient")
    )
    generic_subject: str = field(default=GENERIC_SMS, validator=[v.not_blank, _template])
    #: The language of this rule's text. Rules sharing an id are translations of
    #: one message: a patient gets the one in their language, or else the first.
    language: str = field(
        default="en",
        validator=v.matches(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", "a language tag like en or es"),
    )

    def render(
        self,
        event: DomainEvent,
        values: Mapping[str, str],
        *,
        now: pendulum.DateTime,
        sms_health_details: bool = False,
        preferred: str | None = None,
    ) -> OutboundMessage:
        """The message this rule makes of *event* (generic for a patient's SMS without consent to details)."""
        fields = {**dict(self.extra), **values}
        channel = (preferred or PREFERRED) if self.channel == PREFERRED else self.channel
        generic = self.audience == "patient" and channel == "sms" and not sms_health_details
        template = self.recipient
        try:
            recipient = template.format_map(fields)
            template = self.generic_subject if generic else self.subject
            subject = template.format_map(fields)
            template = self.generic_subject if generic else self.body
            body = template.format_map(fields)
        except KeyError as exc:
            raise errors.InvalidValue(
                f"uses {{{exc.args[0]}}}, which {event.type} does not give (it gives {', '.join(sorted(fields))})",
                field=f"rules[{self.id}]",
                value=template,
            ) from None
        key = f"{self.id}|{event.key}"
        return OutboundMessage(
            id=key,
            idempotency_key=key,
            channel=channel,
            recipient=recipient,
            subject=subject,
            body=body,
            created_at=now,
            patient_id=event.patient_id,
            audience=self.audience,
        )


def _language_fit(offered: str, wanted: str | None) -> int:
    """2 for the same tag, 1 for the same language (``es`` for ``es-MX``), else 0; case is ignored."""
    if wanted is None:
        return 0
    a, b = offered.lower(), wanted.strip().lower()
    if a == b:
        return 2
    return 1 if a.split("-")[0] == b.split("-")[0] else 0


def check_rules(rules: Iterable[NotificationRule]) -> tuple[NotificationRule, ...]:
    """The rules as a tuple, refusing non-rules and two rules with one id and one language.

    >>> check_rules([NotificationRule(id="a", event="TaskOverdue", channel="console",
    ...     recipient="care-team", subject="Overdue")])[0].id
    'a'
    """
    checked = tuple(rules)
    seen: set[tuple[str, str]] = set()
    for i, rule in enumerate(checked):
        if not isinstance(rule, NotificationRule):
            raise errors.InvalidValue("must be a NotificationRule", field=f"rules[{i}]", value=rule)
        if (rule.id, rule.language) in seen:
            raise errors.InvalidValue(
                f"repeats the id {rule.id!r} in language {rule.language!r}",
                field=f"rules[{i}]",
                value=rule.id,
            )
        seen.add((rule.id, rule.language))
    return checked


def messages_for(
    event: DomainEvent,
    rules: Iterable[NotificationRule],
    *,
    now: pendulum.DateTime,
    values: Mapping[str, str] | None = None,
    sms_health_details: bool = False,
    preferred: str | None = None,
    language: str | None = None,
) -> list[OutboundMessage]:
    """The messages *rules* make of *event* (*values* adds to the event's own fields).

    *sms_health_details* says whether the patient allowed health details in
    text messages, *preferred* is their first allowed channel and *language*
    their language (all from their :class:`~carecore.model.ContactPreferences`).
    Of the rules sharing an id, the one in *language* is used (case aside;
    ``es`` serves ``es-MX`` when no ``es-MX`` text exists), or else the first
    listed: one message per rule id.

    >>> import pendulum
    >>> from carecore.model import TaskOverdue
    >>> rules = [NotificationRule(id="t", event="TaskOverdue", channel="console", recipient="care-team",
    ...     subject="Task {task_id} is overdue"),
    ...     NotificationRule(id="t", event="TaskOverdue", channel="console", recipient="care-team",
    ...     subject="La tarea {task_id} está atrasada", language="es")]
    >>> event = TaskOverdue(patient_id="p1", occurred_at=pendulum.datetime(2026, 3, 4, tz="UTC"),
    ...     plan_id="cp1", task_id="t7", owner="rn1", due=pendulum.Date(2026, 3, 1))
    >>> [m.subject for m in messages_for(event, rules, now=event.occurred_at, language="es")]
    ['La tarea t7 está atrasada']
    >>> [m.subject for m in messages_for(event, rules, now=event.occurred_at, language="fr")]
    ['Task t7 is overdue']
    """
    if not isinstance(event, DomainEvent):
        raise errors.InvalidValue("must be a domain event", field="event", value=event)
    if language is not None and not isinstance(language, str):
        raise errors.InvalidValue(
            "must be a language tag or None", field="language", value=language
        )
    fields = {**event.fields(), **(values or {})}
    chosen: dict[str, NotificationRule] = {}
    fit: dict[str, int] = {}
    for rule in rules:
        if rule.event != event.type:
            continue
        score = _language_fit(rule.language, language)
        if rule.id not in chosen or score > fit[rule.id]:
            chosen[rule.id], fit[rule.id] = rule, score
    return [
        rule.render(
            event, fields, now=now, sms_health_details=sms_health_details, preferred=preferred
        )
        for rule in chosen.values()
    ]


#: What a program sends unless told otherwise: the care team hears of every
#: qualifying discharge, with its contact deadline.
DEFAULT_RULES: tuple[NotificationRule, ...] = (
    NotificationRule(
        id="discharge-notice",
        event="DischargeReceived",
        channel="console",
        recipient="care-team",
        subject="Discharge: contact {patient_id} by {contact_due}",
        body=(
            "{patient_id} was discharged on {discharge_date} from {from_setting}. Interactive contact due by "
            "{contact_due}; face-to-face visit by {visit_due_7} (high complexity) or {visit_due}."
        ),
    ),
    NotificationRule(
        id="urgent-finding",
        event="UrgentFinding",
        channel="console",
        recipient="{owner}",
        subject="Urgent: {finding} for {patient_id}",
        body=(
            "{instrument_id} record {source_id} for {patient_id} on {date} found "
            "{finding}. Contact the patient today and follow the practice's safety protocol."
        ),
    ),
)
