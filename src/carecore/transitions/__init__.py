"""Transitions of care: from a discharge to a TCM clock, as pure functions over values.

A discharge opens a :class:`~carecore.model.TransitionEpisode` with its
deadlines (docs/billing/tcm.md): an interactive contact within 2 business days after
the discharge date (the practice's holiday calendar), a face-to-face visit
within 7 (99496) or 14 (99495) days, medication reconciliation no later than
that visit, and the 30-day period (discharge date + 29 days). Contacts,
attempts and visits update it; an admission within the period flags a
readmission; a cancelled discharge (A13) cancels the episode; a cancelled
admission (A11) takes back the readmission it caused; death closes it.

>>> import pendulum
>>> from carecore.model import AdtEvent, AdtEventKind, CareSetting, PatientClass
>>> a03 = AdtEvent(id="a1", source_key="MSG1", patient_id="p1", kind=AdtEventKind.DISCHARGE,
...     occurred_at=pendulum.datetime(2026, 11, 25, 16, tz="America/Chicago"),
...     discharged_at=pendulum.datetime(2026, 11, 25, 16, tz="America/Chicago"),
...     patient_class=PatientClass.INPATIENT, from_setting=CareSetting.INPATIENT_ACUTE,
...     to_setting=CareSetting.HOME)
>>> ep = open_episode(a03, time_zone="America/Chicago")
>>> ep.contact_due, ep.visit_due_7, ep.visit_due, ep.period_end  # Thanksgiving, then a weekend
(Date(2026, 11, 30), Date(2026, 12, 2), Date(2026, 12, 9), Date(2026, 12, 24))
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from attrs import evolve, field, frozen

from carecore import errors
from carecore.billing._engine import TCM_FROM, TCM_TO, TcmClock, tcm_clock
from carecore.billing.rules import HolidayCalendar, RuleSet, TcmDayCounting
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CareSetting,
    EpisodeCloseKind,
    EpisodeStatus,
    InterventionKind,
    ServicePeriod,
    Task,
    TransitionEpisode,
)
from carecore.model.validators import check_date

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pendulum

__all__ = [
    "EPISODE_KINDS",
    "READMISSION_DAYS",
    "TransitionRules",
    "apply_event",
    "episode_id_for",
    "expire",
    "expire_all",
    "open_episode",
    "readmission_window",
    "record_contact",
    "record_death",
    "record_med_rec",
    "record_visit",
    "tasks_for",
]


@frozen(kw_only=True)
class TransitionRules:
    """The practice's switches for transition deadlines.

    ``calendar`` gives business days (US federal holidays by default; which
    holidays count is UNCONFIRMED). ``day_counting`` says whether the
    discharge date is day 0 (the default convention) or day 1 of
    the 7- and 14-day visit windows.
    """

    calendar: HolidayCalendar = field(factory=HolidayCalendar)
    contact_business_days: int = 2
    day_counting: TcmDayCounting = TcmDayCounting.DISCHARGE_DAY_ZERO
    period_days: int = 30

    @classmethod
    def from_rule_set(cls, rules: RuleSet) -> TransitionRules:
        """The deadlines the billing rule set *rules* counts by (its calendar and day counting).

        Use it so that the deadlines the care team chases and the rules the
        month close applies never disagree about holidays or day 0.

        >>> from carecore.billing import Switches, cms_rule_set
        >>> from carecore.billing.rules import HolidayCalendar, RuleSet, TcmDayCounting
        >>> texas = cms_rule_set(2026, switches=Switches(business_days=HolidayCalendar(subdiv="TX"),
        ...     tcm_day_counting=TcmDayCounting.DISCHARGE_DAY_ONE))
        >>> rules = TransitionRules.from_rule_set(texas)
        >>> rules.calendar.subdiv, rules.day_counting.value
        ('TX', 'discharge_day_one')
        """
        if not isinstance(rules, RuleSet):
            raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
        return cls(
            calendar=rules.switches.business_days, day_counting=rules.switches.tcm_day_counting
        )

    def clock(self, discharge: pendulum.Date) -> TcmClock:
        """The TCM deadlines of a discharge on the day *discharge*, counted by these switches.

        This is the billing engine's :func:`~carecore.billing.tcm_clock`
        with this calendar and day counting: :func:`open_episode` sets an
        episode's deadlines from it, and other paths (the simulation) call it
        rather than count days of their own.

        >>> import pendulum
        >>> clock = TransitionRules().clock(pendulum.Date(2026, 11, 25))
        >>> clock.contact_due, clock.visit_due_7, clock.visit_due_14, clock.period.end
        (Date(2026, 11, 30), Date(2026, 12, 2), Date(2026, 12, 9), Date(2026, 12, 24))
        """
        try:
            return _clock(self, discharge, _type_name(discharge))
        except TypeError:  # not hashable, so not a day: the engine says what is wrong with it
            return _clock.__wrapped__(self, discharge, _type_name(discharge))


def _type_name(value: object) -> str:
    # Part of the clock cache's key: a date and a pendulum Date of one day are equal.
    return f"{type(value).__module__}.{type(value).__qualname__}"


@functools.lru_cache(maxsize=512)
def _clock(rules: TransitionRules, discharge: pendulum.Date, _type: str) -> TcmClock:
    # The engine's answer for one day and one set of switches never changes, and a
    # feed's discharges fall on few days: an intake asks for each day's clock once.
    return tcm_clock(
        discharge,
        calendar=rules.calendar,
        day_counting=rules.day_counting,
        contact_business_days=rules.contact_business_days,
        period_days=rules.period_days,
    )


_DEFAULT = TransitionRules()

#: An admission on days 1 to 30 after the discharge date is a readmission (the CMS
#: Hospital Readmissions Reduction Program and HEDIS Plan All-Cause Readmissions count
#: "within 30 days of the discharge date"). The TCM period itself ends on day 29.
READMISSION_DAYS = 30


def readmission_window(discharge: pendulum.Date) -> ServicePeriod:
    """The days on which an admission after a discharge on *discharge* is a readmission.

    Days 1 to :data:`READMISSION_DAYS` after the discharge date: the window
    :func:`apply_event` flags readmissions in.

    >>> import pendulum
    >>> window = readmission_window(pendulum.Date(2026, 1, 31))
    >>> window.start, window.end, window.days
    (Date(2026, 2, 1), Date(2026, 3, 2), 30)
    """
    day = check_date(discharge, "discharge")
    return ServicePeriod.days_from(day.add(days=1), READMISSION_DAYS)


#: The ADT events that can open or change an episode (the others are only stored).
EPISODE_KINDS = frozenset(
    {
        AdtEventKind.DISCHARGE,
        AdtEventKind.ADMIT,
        AdtEventKind.CANCEL_ADMIT,
        AdtEventKind.CANCEL_DISCHARGE,
    }
)


def episode_id_for(event: AdtEvent) -> str:
    """The stable id of the episode a discharge opens (so retries never make two)."""
    return f"tcm-{event.id}"


def open_episode(
    event: AdtEvent, *, time_zone: str, rules: TransitionRules = _DEFAULT
) -> TransitionEpisode:
    """The episode a discharge opens, with its deadlines in the practice's *time_zone*.

    A discharge from a setting that does not qualify, or to a setting that
    is not the patient's community (a SNF, another hospital), still gets an
    episode with ``qualifies=False`` and no deadlines, so the team sees it.
    A discharge that does not say where the patient went (``to_setting``
    None) opens a qualifying episode flagged ``disposition_unknown``: its
    deadlines run, and confirming the disposition is one of them.
    """
    if event.kind is not AdtEventKind.DISCHARGE or event.discharged_at is None:
        raise errors.InvalidValue(
            "only a discharge opens a transition episode", field="kind", value=event.kind
        )
    # The local discharge time, read once: the episode keeps it, and its date is
    # event.discharge_date(time_zone).
    local = event.discharged_at.in_timezone(time_zone)
    day = local.date()
    # A sender that does not say where the patient went (no HL7 PV1-36) may well have
    # sent them home: the clock starts, and the disposition is a deadline to confirm.
    unknown = event.to_setting is None
    qualifies = event.from_setting in TCM_FROM and (unknown or event.to_setting in TCM_TO)
    # The billing engine's clock: the deadlines chased are the ones the close applies.
    clock = rules.clock(day)
    # Built once, with what a qualifying or a closed episode adds (checked once).
    extra: dict[str, object] = (
        {
            "contact_due": clock.contact_due,
            "visit_due_7": clock.visit_due_7,
            "visit_due": clock.visit_due_14,
            "med_rec_due": clock.visit_due_14,
        }
        if qualifies
        else {
            "status": EpisodeStatus.CLOSED,
            "close_reason": "the discharge settings do not qualify for TCM",
            "close_kind": EpisodeCloseKind.NOT_QUALIFYING,
        }
    )
    return TransitionEpisode(
        id=episode_id_for(event),
        patient_id=event.patient_id,
        discharge_event_id=event.id,
        discharged_at=local,
        discharge_date=day,
        from_setting=_from_setting(event),
        to_setting=event.to_setting,
        qualifies=qualifies,
        period_end=clock.period.end,
        disposition_unknown=unknown and qualifies,
        **extra,  # type: ignore[arg-type]
    )


def _from_setting(event: AdtEvent) -> CareSetting:
    # A sender that does not say where the patient was discharged from gets a
    # listed, non-qualifying episode rather than none at all.
    return event.from_setting if event.from_setting is not None else CareSetting.UNKNOWN


def _must_be_open(episode: TransitionEpisode) -> None:
    if episode.status is not EpisodeStatus.OPEN:
        raise errors.InvalidTransition(
            field="status", value=episode.status, to="updated", reason="the episode is not open"
        )


def _late(episode: TransitionEpisode, on: pendulum.Date) -> bool:
    """An expired episode still takes what happened inside its period (documented late)."""
    return (
        episode.status is EpisodeStatus.CLOSED
        and episode.close_kind is EpisodeCloseKind.EXPIRED
        and episode.period_end is not None
        and check_date(on, "on") <= episode.period_end
    )


def _reopened(episode: TransitionEpisode) -> TransitionEpisode:
    return evolve(episode, status=EpisodeStatus.OPEN, close_reason=None, close_kind=None)


def _settled(episode: TransitionEpisode) -> TransitionEpisode:
    """After late documentation: complete, or expired again with what is still undone."""
    if episode.status is not EpisodeStatus.OPEN or episode.period_end is None:
        return episode
    return evolve(expire(episode, on=episode.period_end.add(days=1)), version=episode.version)


def record_contact(
    episode: TransitionEpisode, *, on: pendulum.Date, successful: bool
) -> TransitionEpisode:
    """A contact or an attempt on *on* (a new version). Before the discharge date is refused.

    An episode that expired still takes a contact made inside its period
    (documented late); it stays closed with what is still undone.
    """
    if _late(episode, on):
        return _settled(record_contact(_reopened(episode), on=on, successful=successful))
    _must_be_open(episode)
    if on < episode.discharge_date:
        raise errors.InvalidValue(
            "is before the discharge (hospital staff contacts do not count)", field="on", value=on
        )
    if successful:
        made = episode.contact_made_on if episode.contact_made_on is not None else on
        return evolve(episode, contact_made_on=made, version=episode.version + 1)
    attempts = tuple(sorted({*episode.contact_attempts, on}))
    return evolve(episode, contact_attempts=attempts, version=episode.version + 1)


def record_visit(episode: TransitionEpisode, *, on: pendulum.Date) -> TransitionEpisode:
    """The face-to-face visit on *on* (a new version); it also fixes the med-rec deadline.

    An expired episode takes a visit made inside its period (documented late).
    """
    if _late(episode, on):
        return _settled(record_visit(_reopened(episode), on=on))
    _must_be_open(episode)
    if on < episode.discharge_date:
        raise errors.InvalidValue("is before the discharge", field="on", value=on)
    contact = episode.contact_made_on
    if contact is None and episode.contact_due is not None and on <= episode.contact_due:
        contact = on  # a visit inside the contact window is the contact (S94)
    done = episode.med_rec_on is not None
    return evolve(
        episode,
        visit_on=on,
        med_rec_due=on,
        contact_made_on=contact,
        status=EpisodeStatus.COMPLETED if done else episode.status,
        version=episode.version + 1,
    )


def record_med_rec(episode: TransitionEpisode, *, on: pendulum.Date) -> TransitionEpisode:
    """Medication reconciliation done on *on* (a new version; completes the episode after the visit).

    An expired episode takes a reconciliation done inside its period (documented late).
    """
    if _late(episode, on):
        return _settled(record_med_rec(_reopened(episode), on=on))
    _must_be_open(episode)
    status = EpisodeStatus.COMPLETED if episode.visit_on is not None else episode.status
    return evolve(episode, med_rec_on=on, status=status, version=episode.version + 1)


def record_death(episode: TransitionEpisode, *, on: pendulum.Date) -> TransitionEpisode:
    """The patient died on *on*: an open episode inside its period closes (TCM is not reported)."""
    if (
        episode.status is not EpisodeStatus.OPEN
        or episode.period_end is None
        or on > episode.period_end
    ):
        return episode
    return evolve(
        episode,
        status=EpisodeStatus.CLOSED,
        close_reason=f"patient died on {on}",
        close_kind=EpisodeCloseKind.DIED,
        version=episode.version + 1,
    )


def expire(episode: TransitionEpisode, *, on: pendulum.Date) -> TransitionEpisode:
    """The episode as it stands on *on*: an open one whose period ended before *on* is closed.

    The closed version (a new version) has the close kind
    :attr:`~carecore.model.EpisodeCloseKind.EXPIRED` (the one kind that
    takes documentation of what was done inside the period, late) and says
    why in words: the period's last day and what was still undone. An episode that is not open, or whose period has
    not ended, is returned as it is. *on* is a day in the practice's time
    zone (the one the discharge instant carries).

    >>> import pendulum
    >>> from carecore.model import CareSetting
    >>> ep = TransitionEpisode(id="ep1", patient_id="p1", discharge_event_id="a1",
    ...     discharged_at=pendulum.datetime(2026, 1, 5, 11, tz="America/Chicago"),
    ...     from_setting=CareSetting.INPATIENT_ACUTE, contact_due=pendulum.date(2026, 1, 7),
    ...     visit_due=pendulum.date(2026, 1, 19), period_end=pendulum.date(2026, 2, 3),
    ...     contact_made_on=pendulum.date(2026, 1, 6))
    >>> expire(ep, on=pendulum.date(2026, 2, 3)) is ep
    True
    >>> gone = expire(ep, on=pendulum.date(2026, 2, 4))
    >>> gone.status.value, gone.close_kind.value
    ('closed', 'expired')
    >>> gone.close_reason
    'expired: the 30-day TCM period ended on 2026-02-03 with the visit and medication reconciliation not done'
    """
    day = check_date(on, "on")
    if (
        episode.status is not EpisodeStatus.OPEN
        or episode.period_end is None
        or day <= episode.period_end
    ):
        return episode
    undone = [
        name
        for name, missing in (
            ("contact", episode.contact_made_on is None),
            ("visit", episode.visit_on is None),
            ("medication reconciliation", episode.med_rec_on is None),
        )
        if missing
    ]
    what = " and ".join(undone) if undone else "nothing"
    return evolve(
        episode,
        status=EpisodeStatus.CLOSED,
        close_reason=f"expired: the 30-day TCM period ended on {episode.period_end} "
        f"with the {what} not done",
        close_kind=EpisodeCloseKind.EXPIRED,
        version=episode.version + 1,
    )


def expire_all(
    episodes: Iterable[TransitionEpisode], *, on: pendulum.Date
) -> list[TransitionEpisode]:
    """:func:`expire` of each episode: the ones that change (new versions), in order.

    >>> import pendulum
    >>> expire_all([], on=pendulum.date(2026, 2, 4))
    []
    """
    out = []
    for episode in episodes:
        ended = expire(episode, on=on)
        if ended is not episode:
            out.append(ended)
    return out


def apply_event(
    episodes: Iterable[TransitionEpisode],
    event: AdtEvent,
    *,
    time_zone: str,
    history: Iterable[AdtEvent] = (),
    rules: TransitionRules = _DEFAULT,
) -> list[TransitionEpisode]:
    """The episodes an ADT event creates or changes (each a new version, or version 1 when new).

    - a discharge opens its episode (again: nothing, if it is already there);
    - an admission on days 1 to 30 after an episode's discharge date
      (:data:`READMISSION_DAYS`) flags a readmission;
    - a cancelled admission (A11) takes back the readmission it flagged;
    - a cancelled discharge (A13) cancels the episode that discharge opened.

    HL7 cancels name the visit, not the message they cancel: *history* (the
    patient's earlier ADT events) finds the admit or discharge of the same
    ``visit_number``.
    """
    known = [e for e in episodes if e.patient_id == event.patient_id]
    if event.kind is AdtEventKind.DISCHARGE:
        if any(e.id == episode_id_for(event) for e in known):
            return []
        return [open_episode(event, time_zone=time_zone, rules=rules)]
    if event.kind is AdtEventKind.ADMIT:
        return _readmissions(known, event, time_zone)
    if event.kind is AdtEventKind.CANCEL_ADMIT:
        cancelled = _cancelled_ids(event, history, AdtEventKind.ADMIT)
        return [
            evolve(e, readmitted=False, readmission_event_id=None, version=e.version + 1)
            for e in known
            if e.readmitted and e.readmission_event_id in cancelled
        ]
    if event.kind is AdtEventKind.CANCEL_DISCHARGE:
        cancelled = _cancelled_ids(event, history, AdtEventKind.DISCHARGE)
        return [
            evolve(
                e,
                status=EpisodeStatus.CANCELLED,
                close_reason="discharge cancelled (A13)",
                close_kind=EpisodeCloseKind.DISCHARGE_CANCELLED,
                version=e.version + 1,
            )
            for e in known
            if e.discharge_event_id in cancelled and e.status is not EpisodeStatus.CANCELLED
        ]
    return []


def _readmissions(
    known: list[TransitionEpisode], event: AdtEvent, time_zone: str
) -> list[TransitionEpisode]:
    day = event.occurred_at.in_timezone(time_zone).date()
    return [
        evolve(e, readmitted=True, readmission_event_id=event.id, version=e.version + 1)
        for e in known
        if day in readmission_window(e.discharge_date)
        and not e.readmitted
        and e.status is not EpisodeStatus.CANCELLED
    ]


def _cancelled_ids(event: AdtEvent, history: Iterable[AdtEvent], kind: AdtEventKind) -> set[str]:
    """The ids of the earlier events of *kind* for the same visit, at the same facility, as the cancel *event*.

    Visit numbers are the facility's own: V100 at one hospital is not V100 at another.
    """
    if event.visit_number is None:
        return set()
    return {
        e.id
        for e in history
        if e.visit_number == event.visit_number and e.facility == event.facility and e.kind is kind
    }


def tasks_for(episode: TransitionEpisode, *, owner: str) -> list[Task]:
    """The work an episode needs, with stable ids (``<episode>:contact`` ...) so retries never duplicate it."""
    due = episode.open_deadlines()
    what = {
        "contact": ("Interactive contact within 2 business days", InterventionKind.COORDINATION),
        "visit": (
            "Face-to-face visit (7 days for high complexity, 14 days)",
            InterventionKind.COORDINATION,
        ),
        "med-rec": ("Medication reconciliation by the visit", InterventionKind.MEDICATION),
        "disposition": (
            "Confirm where the patient was discharged to (the hospital did not say)",
            InterventionKind.COORDINATION,
        ),
    }
    return [
        Task(
            id=f"{episode.id}:{'medrec' if name == 'med-rec' else name}",
            description=what[name][0],
            owner=owner,
            kind=what[name][1],
            due=day,
        )
        for name, day in due.items()
    ]
