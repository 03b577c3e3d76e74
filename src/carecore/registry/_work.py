"""Registry worklists (built on :mod:`carecore.outreach`), minutes to the next code, caseloads.

How many more minutes reach which code is the billing engine's answer:
:func:`minutes_progress` evaluates each enrolled patient's month so far with
the same records and the same path as a month close
(:func:`carecore.billing.records_progress`, over
:func:`carecore.billing.evaluate_records`) and reads the engine's
hints. No threshold, role or credential
rule is restated here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import attrs
import pendulum
from attrs import frozen

from carecore import billing, errors
from carecore.billing._month import MonthRecords
from carecore.billing._progress import TimeProgress, records_progress
from carecore.model import (
    CORRECTED_BY_SOURCE,
    DisenrollmentReason,
    EnrollmentStatus,
    ServiceFamily,
    ServicePeriod,
    SocialNeed,
)
from carecore.model.validators import check_date
from carecore.outreach import (
    _UNASSIGNED,
    ClosedItem,
    WorkItem,
    Worklist,
    _attester_rule,
    _attester_share,
    _attesters,
    _build_worklists,
    _outreach_rule,
    _outreach_share,
    _owner_rule,
    _reaching,
    _transitioning,
    _turns,
    _why_unassigned,
)
from carecore.registry._eligibility import PROGRAMS, _check_family, registry
from carecore.transitions import expire

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from carecore.gaps import Gap
    from carecore.medications import ClassAdherence
    from carecore.metrics import ProgramData
    from carecore.model import (
        AssessmentResult,
        CarePlan,
        CareTeam,
        Condition,
        Consent,
        Coverage,
        Enrollment,
        FaceToFaceVisit,
        InteractiveContact,
        Observation,
        Patient,
        Practitioner,
        StatusChange,
        TimeEntry,
        TransitionEpisode,
    )
    from carecore.registry._eligibility import Eligibility

__all__ = [
    "BANDS",
    "Caseload",
    "MinutesProgress",
    "Turns",
    "TurnsShare",
    "WorklistRow",
    "caseloads",
    "minutes_progress",
    "priority",
    "program_progress",
    "program_worklists",
    "registry_worklists",
    "turns_share",
    "urgent_findings",
    "worklist_rows",
    "worklist_turns",
]

_OPEN = frozenset(
    {
        EnrollmentStatus.IDENTIFIED,
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.PAUSED,
    }
)


@frozen(kw_only=True)
class MinutesProgress:
    """One enrollment's month so far against the next time-based code, as the engine reports it.

    ``next_code`` is None (and ``minutes_needed`` 0) when the engine names no
    minutes that would reach a further code: every unit is reached, the
    family is not time-based, or the month cannot be billed for another
    reason (its denials say which). ``message`` is the engine's sentence,
    which says whose minutes count. ``refusal`` is set when logging those
    minutes would still not bill the code: the month close's reasons (a
    practitioner who may not bill the family, a missing care plan, ...).

    >>> p = MinutesProgress(patient_id="p1", family=ServiceFamily.CCM, month="2026-03",
    ...     practitioner="dr1", next_code="99490", minutes_needed=6,
    ...     message="6 more clinical-staff minutes reach 99490")
    >>> p.minutes_needed
    6
    """

    patient_id: str
    family: ServiceFamily
    month: str
    practitioner: str
    next_code: str | None
    minutes_needed: int
    message: str | None
    refusal: str | None = None


@frozen(kw_only=True)
class Caseload:
    """The patients enrolled on a day that one care manager follows.

    >>> Caseload(owner="rn1", patient_ids=("p1", "p2")).size
    2
    """

    owner: str
    patient_ids: tuple[str, ...]

    @property
    def size(self) -> int:
        """How many patients."""
        return len(self.patient_ids)


def _enrolled_on(enrollment: Enrollment, day: pendulum.Date) -> bool:
    return enrollment.status_on(day) is EnrollmentStatus.ENROLLED


def minutes_progress(
    records: MonthRecords,
    *,
    on: pendulum.Date,
    rules: billing.RuleSet,
) -> tuple[MinutesProgress, ...]:
    """Each enrollment enrolled on *on*: the engine's next time code for its month so far.

    *records* are what a month close reads (any months; see
    :class:`~carecore.billing.MonthRecords`). The month of *on* is
    evaluated under *rules* as a close would evaluate it, with the time
    entries up to *on*; each enrollment gets the engine's hint for its
    family and billing practitioner (:func:`carecore.billing.records_progress`,
    which also asks the close about a family no one has logged countable time for yet).
    An enrollment whose patient or billing practitioner is not among the
    records cannot be evaluated and is left out.

    >>> import pendulum
    >>> from carecore.billing import cms_rule_set
    >>> minutes_progress(MonthRecords(patients=[], practitioners=[]), on=pendulum.Date(2026, 3, 10),
    ...     rules=cms_rule_set(2026))
    ()
    """
    if not isinstance(records, MonthRecords):
        raise errors.InvalidValue("must be MonthRecords", field="records", value=records)
    if not isinstance(rules, billing.RuleSet):
        raise errors.InvalidValue("must be a RuleSet", field="rules", value=rules)
    day = check_date(on, "on")
    enrolled = sorted(
        (e for e in records.enrollments if _enrolled_on(e, day)),
        key=lambda e: (e.patient_id, e.family.value, e.id),
    )
    wanted = {e.patient_id for e in enrolled}
    so_far = attrs.evolve(
        records,
        patients=[p for p in records.patients if p.id in wanted],
        time_entries=[t for t in records.time_entries if t.service_date <= day],
    )
    followed: dict[str, list[tuple[str, ServiceFamily]]] = defaultdict(list)
    for e in enrolled:
        followed[e.patient_id].append((e.billing_practitioner_id, e.family))
    evaluated: set[tuple[str, str]] = set()
    nearest: dict[tuple[str, str, ServiceFamily], TimeProgress] = {}
    period = ServicePeriod.month(day.year, day.month)
    for facts, _result, progress in records_progress(
        so_far, period, rules, expected=followed, on=day
    ):
        evaluated.update((facts.patient.id, p.id) for p in facts.practitioners)
        for p in progress:
            nearest[p.patient_id, p.practitioner, p.family] = p
    month = f"{day.year:04d}-{day.month:02d}"
    out = []
    for e in enrolled:
        if (e.patient_id, e.billing_practitioner_id) not in evaluated:
            continue
        found = nearest.get((e.patient_id, e.billing_practitioner_id, e.family))
        out.append(
            MinutesProgress(
                patient_id=e.patient_id,
                family=e.family,
                month=month,
                practitioner=e.billing_practitioner_id,
                next_code=None if found is None else found.code,
                minutes_needed=0 if found is None else found.minutes_needed,
                message=None if found is None else found.message,
                refusal=None if found is None else found.refusal,
            )
        )
    return tuple(out)


def caseloads(
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam] = (),
    *,
    on: pendulum.Date,
) -> tuple[Caseload, ...]:
    """Per care manager, the patients enrolled on *on* (the owner rule of :mod:`carecore.outreach`).

    A patient's care manager is the one on their care team, else the
    enrollment's billing practitioner.

    >>> import pendulum
    >>> from carecore.model import Enrollment
    >>> e = Enrollment.start(id="e1", patient_id="p1", program_id="ccm", family=ServiceFamily.CCM,
    ...     billing_practitioner_id="dr1", on=pendulum.Date(2026, 1, 5))
    >>> caseloads([e], on=pendulum.Date(2026, 3, 1))
    (Caseload(owner='dr1', patient_ids=('p1',)),)
    """
    day = check_date(on, "on")
    everyone = list(enrollments)
    owner_of = _owner_rule(everyone, care_teams)
    patients: dict[str, set[str]] = defaultdict(set)
    for e in everyone:
        if _enrolled_on(e, day):
            patients[owner_of(e.patient_id)].add(e.patient_id)
    return tuple(
        Caseload(owner=name, patient_ids=tuple(sorted(ids)))
        for name, ids in sorted(patients.items())
    )


def registry_worklists(
    *,
    today: pendulum.Date,
    eligibility: Iterable[Eligibility] = (),
    enrollments: Iterable[Enrollment] = (),
    care_teams: Iterable[CareTeam] = (),
    care_plans: Iterable[CarePlan] = (),
    episodes: Iterable[TransitionEpisode] = (),
    contacts: Iterable[InteractiveContact] = (),
    time_entries: Iterable[TimeEntry] = (),
    rules: billing.RuleSet | None = None,
    time_zone: str = "UTC",
    patients: Iterable[Patient] = (),
    practitioners: Iterable[Practitioner] = (),
    conditions: Iterable[Condition] = (),
    consents: Iterable[Consent] = (),
    visits: Iterable[FaceToFaceVisit] = (),
    coverages: Iterable[Coverage] = (),
    gaps: Iterable[Gap] = (),
    adherence: Iterable[ClassAdherence] = (),
    assessments: Iterable[AssessmentResult] = (),
    progress: Iterable[MinutesProgress] | None = None,
    readings: Iterable[Observation] = (),
    turns: Turns | None = None,
) -> dict[str, Worklist]:
    """The outreach worklists of :func:`carecore.outreach.build_worklists`, plus the registry's work.

    Added kinds: ``eligible-not-enrolled`` (eligible, without an open
    enrollment in the program; due today; owned as enrollment outreach is,
    see :mod:`carecore.outreach`), ``needs-attestation`` (eligible
    but for the billing practitioner's attestation of significant risk for
    chronic conditions that do not count yet, without an open enrollment; due today;
    the detail names the conditions; owned by the patient's billing
    practitioner, else one of the practice's in turn, see
    :mod:`carecore.outreach`) and ``minutes-to-threshold``
    (enrolled, and the billing engine names minutes that would reach a
    further code this month; due at the month's end, the detail is the
    engine's sentence, e.g. ``CCM: 8 more clinical-staff minutes reach
    99490``), followed, when the month close would still refuse the code
    after those minutes, by its reasons. The minutes come from
    :func:`minutes_progress` over the
    records a month close reads (*patients*, *practitioners*, *conditions*,
    *consents*, *visits*, *coverages* and the records above). Without *rules*
    no minutes items are made; an enrollment whose patient or billing
    practitioner is not given gets none either. *progress*, when given, is
    that :func:`minutes_progress` already computed over the same records on
    *today* (as :func:`program_progress` computes it): it is read instead of
    asking the engine again. Care plans are read as
    given (a close of a store dates each from its history). Open care
    *gaps* and *adherence* figures become items as in
    :func:`carecore.outreach.build_worklists`.

    An assessment result with :func:`urgent_findings` not yet acknowledged
    (in *assessments*) is an ``urgent-finding`` item, due on the result's
    day, at the top of its owner's list. So is a home reading (in
    *readings*) stored with findings (its care plans' red zone or an alert
    threshold, decided when it was recorded) and not yet acknowledged: an
    ``urgent-reading`` item, due on the reading's day.

    Each list is in priority order (:func:`priority`): urgent findings,
    then overdue items, then those due today, then minutes to the next code in the
    month's last ten days, then the rest by due date.

    Work that can no longer be done closes itself: it leaves ``items`` for
    the list's ``closed``, with the reason. That is the TCM work of an
    episode whose 30-day period ended (:func:`carecore.transitions.expire`),
    every item of a patient who has died (their ``date_of_death`` is on or
    before *today*), the care-plan tasks, goals, check-ins and minutes of a
    patient who has left every program they were in, and the enrollment
    offers to a patient who left that program (unless they left as no
    longer eligible or unreachable: they are offered it again), and the
    ``urgent-reading`` items of a reading whose source corrected it, taking
    every finding back, before anyone acknowledged it (acknowledged by
    :data:`~carecore.model.CORRECTED_BY_SOURCE`; closed on the correction's
    day, in *time_zone*). Closed items
    are listed for :data:`CLOSED_SHOWN_DAYS` days after the period's end, the
    death or the departure, then dropped.

    *turns*: who reaches out to, and who attests for, the patients without a
    care manager or attester of their own, shared out over the whole practice
    already (:func:`worklist_turns`); a report made in partitions of the
    practice passes them, so each part gives its patients to whom the whole
    practice would.

    >>> import pendulum
    >>> registry_worklists(today=pendulum.Date(2026, 3, 4))
    {}
    """
    day = check_date(today, "today")
    enrolled = list(enrollments)
    teams = list(care_teams)
    plans = list(care_plans)
    contacted = list(contacts)
    people = list(patients)
    staff = list(practitioners)
    # An open episode whose 30-day period has ended is closed, not overdue work.
    given = list(episodes)
    followed = [expire(e, on=day) for e in given]
    verdicts = list(eligibility)
    offers, attests, reaching = _waiting(day, verdicts, enrolled, given, followed)
    # One outreach rule over everyone to reach and every TCM patient, so the
    # turns are shared fairly (TCM is a care manager's work as outreach is).
    reach = _outreach_rule(
        enrolled,
        teams,
        today=day,
        patient_ids=reaching,
        given=None if turns is None else turns.reach,
    )
    attester = _attester_rule(
        enrolled,
        teams,
        staff,
        today=day,
        patient_ids={e.patient_id for e in attests},
        given=None if turns is None else turns.attest,
    )
    base = _build_worklists(
        today=day,
        enrollments=enrolled,
        care_teams=teams,
        care_plans=plans,
        episodes=followed,
        contacts=contacted,
        time_zone=time_zone,
        gaps=gaps,
        adherence=adherence,
        reach=reach,
    )
    owner_of = _owner_rule(enrolled, teams)
    extra: list[WorkItem] = [
        WorkItem(
            kind="eligible-not-enrolled",
            patient_id=e.patient_id,
            due=day,
            owner=reach(e.patient_id),
            detail=f"{e.family.value}: {', '.join(_names(e)) or 'eligible'}",
        )
        for e in offers
    ]
    extra += [
        WorkItem(
            kind="needs-attestation",
            patient_id=e.patient_id,
            due=day,
            owner=attester(e.patient_id),
            detail=_attest_detail(e),
        )
        for e in attests
    ]
    if progress is None and rules is not None:
        progress = minutes_progress(
            MonthRecords(
                patients=people,
                practitioners=staff,
                conditions=conditions,
                consents=consents,
                enrollments=enrolled,
                coverages=coverages,
                care_teams=teams,
                care_plans=plans,
                time_entries=time_entries,
                contacts=contacted,
                visits=visits,
                episodes=followed,
            ),
            on=day,
            rules=rules,
        )
    extra += [
        WorkItem(
            kind="minutes-to-threshold",
            patient_id=p.patient_id,
            due=day.end_of("month"),
            owner=owner_of(p.patient_id),
            detail=f"{p.family.value}: {p.message}"
            + ("" if p.refusal is None else f"; the month would still be refused: {p.refusal}"),
        )
        for p in progress or ()
        if p.next_code is not None
    ]
    extra += [
        WorkItem(
            kind="urgent-finding",
            patient_id=r.patient_id,
            due=r.on,
            owner=owner_of(r.patient_id),
            detail=f"{finding} ({r.id})",
        )
        for r in assessments
        if r.acknowledged_by is None and r.on <= day
        for finding in urgent_findings(r)
    ]
    extra += [
        WorkItem(
            kind="urgent-reading",
            patient_id=o.patient_id,
            due=o.on,
            owner=owner_of(o.patient_id),
            detail=f"{finding}: {o.measure} {o.value} {o.unit} on {o.on} ({o.id})",
        )
        for o in readings
        if o.findings and o.acknowledged_by is None and o.on <= day
        for finding in o.findings
    ]
    closed = _expired_tcm(given, followed, day, reach)
    closed += _corrected_readings(readings, day, time_zone, owner_of)
    extra, left = _unless_left(extra, enrolled, day)
    closed += left
    items: dict[str, list[WorkItem]] = defaultdict(list)
    caseload: dict[str, int] = {}
    for name, worklist in base.items():
        items[name].extend(worklist.items)
        caseload[name] = worklist.caseload
    for item in extra:
        items[item.owner].append(item)
    gone: dict[str, list[ClosedItem]] = defaultdict(list)
    for c in closed:
        gone[c.item.owner].append(c)
    for name in list(items):
        items[name] = _unless_gone(items[name], gone[name], enrolled, people, day)
    return {
        name: Worklist(
            owner=name,
            items=tuple(sorted(items[name], key=lambda i: _order(i, day))),
            caseload=caseload.get(name, 0),
            closed=tuple(sorted(gone[name], key=lambda c: _order(c.item, day))),
        )
        for name in sorted(set(items) | set(gone))
    }


def _waiting(
    day: pendulum.Date,
    verdicts: list[Eligibility],
    enrolled: list[Enrollment],
    given: list[TransitionEpisode],
    followed: list[TransitionEpisode],
) -> tuple[list[Eligibility], list[Eligibility], set[str]]:
    """The offers to make, the attestations to ask for, and every patient to reach on *day*."""
    open_enrollments = {(e.patient_id, e.family) for e in enrolled if e.status_on(day) in _OPEN}
    offers = [
        e for e in verdicts if e.eligible and (e.patient_id, e.family) not in open_enrollments
    ]
    attests = [
        e
        for e in verdicts
        if e.needs_attestation and (e.patient_id, e.family) not in open_enrollments
    ]
    reaching = (
        _reaching(enrolled, day)
        | {e.patient_id for e in offers}
        | _transitioning(followed, day)
        | {before.patient_id for before, _ in _expired_shown(given, followed, day)}
    )
    return offers, attests, reaching


@frozen(kw_only=True)
class TurnsShare:
    """One part of the practice's share of the worklists' turns (:func:`turns_share`).

    Sets and counts over the part's patients: the shares of disjoint parts
    add up (:meth:`add`) to the whole practice's, and :func:`worklist_turns`
    shares the turns out from the sum as one pass over the practice would.
    """

    managers: frozenset[str] = frozenset()
    reach_load: Counter[str] = attrs.field(factory=Counter)
    reach_waiting: frozenset[str] = frozenset()
    named: frozenset[str] = frozenset()
    attest_load: Counter[str] = attrs.field(factory=Counter)
    attest_waiting: frozenset[str] = frozenset()

    def add(self, other: TurnsShare) -> TurnsShare:
        """The share of both parts (disjoint sets of patients)."""
        return TurnsShare(
            managers=self.managers | other.managers,
            reach_load=self.reach_load + other.reach_load,
            reach_waiting=self.reach_waiting | other.reach_waiting,
            named=self.named | other.named,
            attest_load=self.attest_load + other.attest_load,
            attest_waiting=self.attest_waiting | other.attest_waiting,
        )


@frozen(kw_only=True)
class Turns:
    """Who reaches out to (``reach``) and who attests for (``attest``) the patients waiting for one."""

    reach: dict[str, str]
    attest: dict[str, str]


def turns_share(
    data: ProgramData,
    *,
    today: pendulum.Date,
    eligibility: Iterable[Eligibility],
) -> TurnsShare:
    """One part of the practice's share of the worklists' turns (*data*: the part's records).

    *eligibility* is the part's registry on *today* for the worklists'
    families. The part's care managers, each owner's enrolled patients, the
    patients waiting for someone to reach out (no care manager of their own),
    the billing practitioners named, each one's enrolled patients and the
    patients waiting for an attester: what :func:`registry_worklists` shares
    out, as sets and counts.

    >>> import pendulum
    >>> from carecore.metrics import ProgramData
    >>> turns_share(ProgramData(), today=pendulum.Date(2026, 3, 4), eligibility=()).managers
    frozenset()
    """
    day = check_date(today, "today")
    enrolled = list(data.enrollments)
    teams = list(data.care_teams)
    given = list(data.episodes)
    followed = [expire(e, on=day) for e in given]
    _, attests, reaching = _waiting(day, list(eligibility), enrolled, given, followed)
    managers, reach_load, reach_waiting = _outreach_share(
        enrolled, teams, today=day, patient_ids=reaching
    )
    named, attest_load, attest_waiting = _attester_share(
        enrolled,
        teams,
        data.practitioners,
        today=day,
        patient_ids={e.patient_id for e in attests},
    )
    return TurnsShare(
        managers=frozenset(managers),
        reach_load=reach_load,
        reach_waiting=frozenset(reach_waiting),
        named=frozenset(named),
        attest_load=attest_load,
        attest_waiting=frozenset(attest_waiting),
    )


def worklist_turns(share: TurnsShare, practitioners: Iterable[Practitioner]) -> Turns:
    """The turns of the whole practice from its *share* (the parts' :func:`turns_share` added up).

    The same sharing as one pass over the practice: the waiting patients in
    id order, each to the care manager (attester) with the fewest patients
    so far (:func:`carecore.outreach._turns`). No care manager: nobody is
    given outreach (it falls to the owner rule).

    >>> worklist_turns(TurnsShare(), ()).reach
    {}
    """
    reach = _turns(share.managers, share.reach_load, share.reach_waiting) if share.managers else {}
    attest = _turns(
        _attesters(set(share.named), practitioners), share.attest_load, share.attest_waiting
    )
    return Turns(reach=reach, attest=attest)


def _unless_gone(
    items: list[WorkItem],
    closed: list[ClosedItem],
    enrolled: list[Enrollment],
    people: list[Patient],
    day: pendulum.Date,
) -> list[WorkItem]:
    """*items* without the work of patients who died or left every program (closed into *closed*).

    Closed work is listed, with its reason, for :data:`CLOSED_SHOWN_DAYS`
    days after the death or the departure, then dropped.
    """
    gone_from = _left_every_program(enrolled, day)
    died = {p.id: p.date_of_death for p in people if p.date_of_death and p.date_of_death <= day}
    kept = []
    for item in items:
        death = died.get(item.patient_id)
        ended = gone_from.get(item.patient_id)
        if death is not None:
            if _still_shown(death, day):
                closed.append(ClosedItem(item=item, reason=f"the patient died on {death}"))
        elif ended is not None and item.kind in _PROGRAM_WORK:
            if _still_shown(ended[0], day):
                closed.append(ClosedItem(item=item, reason=ended[1]))
        else:
            kept.append(item)
    return kept


#: Work that belongs to a program: it closes when the patient has left every program.
_PROGRAM_WORK = frozenset({"task", "goal-follow-up", "ccm-check-in", "minutes-to-threshold"})


def _still_shown(closed_on: pendulum.Date, day: pendulum.Date) -> bool:
    """Whether work closed on *closed_on* is still listed (with its reason) on *day*."""
    return (day - closed_on).in_days() <= CLOSED_SHOWN_DAYS


def _left_every_program(
    enrolled: list[Enrollment], day: pendulum.Date
) -> dict[str, tuple[pendulum.Date, str]]:
    """Patients whose every enrollment has ended by *day*: when and why, from the last one to end."""
    ended: dict[str, list[Enrollment]] = defaultdict(list)
    still: set[str] = set()
    for e in enrolled:
        if e.status_on(day) is EnrollmentStatus.DISENROLLED:
            ended[e.patient_id].append(e)
        else:
            still.add(e.patient_id)
    out = {}
    for pid, gone in ended.items():
        if pid in still:
            continue
        last = max(gone, key=lambda e: e.history[-1].on)
        change = last.history[-1]
        why = "" if change.reason is None else f" ({change.reason.value.replace('_', ' ')})"
        out[pid] = (
            change.on,
            f"the patient left the {last.family.value} program on {change.on}{why}",
        )
    return out


_OFFER_AGAIN = frozenset({DisenrollmentReason.NO_LONGER_ELIGIBLE, DisenrollmentReason.UNREACHABLE})

#: Closed items stay visible (with their reasons) this many days after they closed.
CLOSED_SHOWN_DAYS = 14


def _expired_tcm(
    given: list[TransitionEpisode],
    followed: list[TransitionEpisode],
    day: pendulum.Date,
    owner_of: Callable[[str], str],
) -> list[ClosedItem]:
    """The TCM items of episodes :func:`expire` closed in the last :data:`CLOSED_SHOWN_DAYS` days."""
    out = []
    for before, after in _expired_shown(given, followed, day):
        due = before.open_deadlines(on=before.period_end)
        out += [
            ClosedItem(
                item=WorkItem(
                    kind=f"tcm-{name}",
                    patient_id=before.patient_id,
                    due=due[name],
                    owner=owner_of(before.patient_id),
                    detail=before.id,
                ),
                reason=after.close_reason or f"the TCM period ended on {before.period_end}",
            )
            for name in ("contact", "visit", "med-rec", "disposition")
            if name in due
        ]
    return out


def _expired_shown(
    given: list[TransitionEpisode], followed: list[TransitionEpisode], day: pendulum.Date
) -> list[tuple[TransitionEpisode, TransitionEpisode]]:
    """Each episode :func:`expire` closed in the last :data:`CLOSED_SHOWN_DAYS` days, before and after."""
    return [
        (before, after)
        for before, after in zip(given, followed, strict=True)
        if after is not before
        and before.period_end is not None
        and (day - before.period_end).in_days() <= CLOSED_SHOWN_DAYS
    ]


def _corrected_readings(
    readings: Iterable[Observation],
    day: pendulum.Date,
    time_zone: str,
    owner_of: Callable[[str], str],
) -> list[ClosedItem]:
    """The ``urgent-reading`` items a correction by the source closed (every finding taken back).

    Listed for :data:`CLOSED_SHOWN_DAYS` days after the correction, dated in *time_zone*.
    """
    out = []
    for o in readings:
        if o.acknowledged_by != CORRECTED_BY_SOURCE or o.acknowledged_at is None:
            continue
        corrected = o.acknowledged_at.in_timezone(time_zone).date()
        if corrected > day or not _still_shown(corrected, day):
            continue
        out += [
            ClosedItem(
                item=WorkItem(
                    kind="urgent-reading",
                    patient_id=o.patient_id,
                    due=o.on,
                    owner=owner_of(o.patient_id),
                    detail=f"{finding}: {o.measure} ({o.id})",
                ),
                reason=f"corrected by the source on {corrected}: now {o.value} {o.unit}, "
                "past no limit of the care plan",
            )
            for finding in o.findings
        ]
    return out


def _unless_left(
    extra: list[WorkItem], enrolled: list[Enrollment], day: pendulum.Date
) -> tuple[list[WorkItem], list[ClosedItem]]:
    """Enrollment offers to patients who left the program for good: closed, with when and why.

    A patient who left because they were no longer eligible (and are again)
    or could not be reached is offered the program again.
    """
    left: dict[tuple[str, str], StatusChange] = {}
    for e in enrolled:
        last = e.history[-1]
        if e.status_on(day) is EnrollmentStatus.DISENROLLED and last.reason not in _OFFER_AGAIN:
            left[e.patient_id, e.family.value] = last
    keep: list[WorkItem] = []
    closed: list[ClosedItem] = []
    for item in extra:
        family = item.detail.split(":", 1)[0]
        change = left.get((item.patient_id, family))
        if item.kind in {"eligible-not-enrolled", "needs-attestation"} and change is not None:
            if not _still_shown(change.on, day):
                continue
            why = "" if change.reason is None else f" ({change.reason.value.replace('_', ' ')})"
            closed.append(
                ClosedItem(
                    item=item, reason=f"the patient left the {family} program on {change.on}{why}"
                )
            )
        else:
            keep.append(item)
    return keep, closed


#: The priority bands, in order: what is late, what is due today, minutes
#: still worth logging before the month ends, and the rest.
BANDS = ("urgent", "overdue", "today", "minutes", "later")

#: The kinds that top the list until acknowledged: an assessment's and a home reading's findings.
_URGENT = frozenset({"urgent-finding", "urgent-reading"})

#: Minutes to the next code move up in the month's last this-many days.
_LAST_DAYS = 10


def priority(item: WorkItem, today: pendulum.Date) -> str:
    """The item's band on *today*: ``urgent``, ``overdue``, ``today``, ``minutes`` or ``later``.

    ``minutes`` is a ``minutes-to-threshold`` item in the month's last ten
    days, when there is still time to log them.

    >>> import pendulum
    >>> item = WorkItem(kind="task", patient_id="p1", due=pendulum.Date(2026, 3, 2),
    ...     owner="rn1", detail="cp1/t1")
    >>> priority(item, pendulum.Date(2026, 3, 4))
    'overdue'
    """
    if item.kind in _URGENT:
        return "urgent"
    if item.due < today:
        return "overdue"
    if item.due == today:
        return "today"
    if item.kind == "minutes-to-threshold" and today > today.end_of("month").subtract(
        days=_LAST_DAYS
    ):
        return "minutes"
    return "later"


def _order(item: WorkItem, today: pendulum.Date) -> tuple[int, pendulum.Date, str, str, str]:
    return (BANDS.index(priority(item, today)), item.due, item.kind, item.patient_id, item.detail)


def program_worklists(
    data: ProgramData,
    *,
    today: pendulum.Date,
    time_zone: str = "UTC",
    families: Iterable[ServiceFamily] = PROGRAMS,
    rules: billing.RuleSet | None = None,
    gaps: Iterable[Gap] = (),
    adherence: Iterable[ClassAdherence] = (),
    eligibility: Iterable[Eligibility] | None = None,
    progress: Iterable[MinutesProgress] | None = None,
    turns: Turns | None = None,
) -> dict[str, Worklist]:
    """The one worklist builder: the program's records (*data*) on *today*, for the CLI, report and API.

    Eligibility for *families* is worked out from *data* (:func:`registry`,
    with the switches of *rules*, as the month close decides it) and the
    rest is :func:`registry_worklists` over the same records.
    *rules* default to the CMS rule set of *today*'s year when carecore
    has one (otherwise no minutes items are made).

    A caller that has already worked out *eligibility* (the registry of
    *data* on *today*) or the minutes *progress* (:func:`program_progress`
    of *data* on *today* under the same rules) passes it, and it is not
    worked out again; only the eligibility of *families* is read. *turns*:
    see :func:`registry_worklists`.

    >>> import pendulum
    >>> from carecore.metrics import ProgramData
    >>> program_worklists(ProgramData(), today=pendulum.Date(2026, 3, 4))
    {}
    """
    day = check_date(today, "today")
    rule_set = _default_rules(rules, day)
    wanted = tuple(_check_family(f) for f in families)
    if eligibility is None:
        elig = registry(
            data.patients,
            as_of=day,
            conditions=data.conditions,
            coverages=data.coverages,
            families=wanted,
            # The close's switches (where significant risk comes from, ...): one decision.
            switches=None if rule_set is None else rule_set.switches,
        )
    else:
        elig = tuple(e for e in eligibility if e.family in wanted)
    return registry_worklists(
        today=day,
        eligibility=elig,
        enrollments=data.enrollments,
        care_teams=data.care_teams,
        care_plans=data.care_plans,
        episodes=data.episodes,
        contacts=data.contacts,
        time_entries=data.time_entries,
        rules=rule_set,
        time_zone=time_zone,
        patients=data.patients,
        practitioners=data.practitioners,
        conditions=data.conditions,
        consents=data.consents,
        visits=data.visits,
        coverages=data.coverages or (),
        gaps=gaps,
        adherence=adherence,
        assessments=data.assessments,
        progress=progress,
        readings=data.observations,
        turns=turns,
    )


def _attest_detail(verdict: Eligibility) -> str:
    """What a ``needs-attestation`` item asks: the conditions to attest, then those counted already."""
    names = dict(zip(verdict.conditions, _names(verdict), strict=False))
    wanted = [names[c] for c in verdict.to_attest] or list(names.values())
    counted = [n for c, n in names.items() if c not in verdict.to_attest and verdict.to_attest]
    return (
        f"{verdict.family.value}: attest chronic conditions at significant risk: "
        f"{', '.join(wanted)}" + (f"; counted already: {', '.join(counted)}" if counted else "")
    )


def _names(verdict: Eligibility) -> tuple[str, ...]:
    """The qualifying conditions in words (codes in brackets); bare codes when made without names."""
    return verdict.condition_names or verdict.conditions


def _default_rules(rules: billing.RuleSet | None, day: pendulum.Date) -> billing.RuleSet | None:
    """*rules*, else the CMS rule set of *day*'s year when carecore has one."""
    if rules is None and day.year in billing.CMS_YEARS:
        return billing.cms_rule_set(day.year)
    return rules


def program_progress(
    data: ProgramData, *, today: pendulum.Date, rules: billing.RuleSet | None = None
) -> tuple[MinutesProgress, ...]:
    """The minutes to the next code :func:`program_worklists` shows for *data* on *today*.

    :func:`minutes_progress` over the records a month close reads (an open
    TCM episode whose 30 days have ended is read as closed, as the worklist
    reads it). *rules* default as in :func:`program_worklists`; with no rule
    set there is no progress. The report reads it (patients near the next
    code) and hands it to :func:`program_worklists`, so both show the
    engine's one answer.

    >>> import pendulum
    >>> from carecore.metrics import ProgramData
    >>> program_progress(ProgramData(), today=pendulum.Date(2026, 3, 4))
    ()
    """
    day = check_date(today, "today")
    rule_set = _default_rules(rules, day)
    if rule_set is None:
        return ()
    return minutes_progress(
        MonthRecords(
            patients=data.patients,
            practitioners=data.practitioners,
            conditions=data.conditions,
            consents=data.consents,
            enrollments=data.enrollments,
            coverages=data.coverages or (),
            care_teams=data.care_teams,
            care_plans=data.care_plans,
            time_entries=data.time_entries,
            contacts=data.contacts,
            visits=data.visits,
            episodes=[expire(e, on=day) for e in data.episodes],
        ),
        on=day,
        rules=rule_set,
    )


def urgent_findings(result: AssessmentResult) -> tuple[str, ...]:
    """The reasons to act now in an assessment result: its flags, and a positive safety domain.

    A PHQ-9 with item 9 above 0 is flagged ``suicidal-ideation``; an AHC
    screen positive for interpersonal safety gives ``interpersonal-safety``.

    >>> import pendulum
    >>> from carecore.model import AssessmentResult
    >>> r = AssessmentResult(id="r1", patient_id="p1", instrument_id="phq-9",
    ...     on=pendulum.Date(2026, 3, 2), answers=(), flags=("suicidal-ideation",))
    >>> urgent_findings(r)
    ('suicidal-ideation',)
    """
    found = list(result.flags)
    if SocialNeed.INTERPERSONAL_SAFETY in result.needs:
        found.append("interpersonal-safety")
    return tuple(found)


_ACTIONS = {
    "urgent-finding": "Contact the patient today: the assessment found a reason to act now",
    "urgent-reading": "Contact the patient today: a home reading is past the care plan's limit",
    "tcm-contact": "Call the patient after the discharge (the TCM interactive contact)",
    "tcm-visit": "See the patient face to face for TCM (book or hold the visit)",
    "tcm-med-rec": "Reconcile the patient's medications after the discharge",
    "tcm-disposition": "Confirm where the patient went after the discharge",
    "ccm-check-in": "Reach the patient for this month's check-in",
    "enrollment-outreach": "Offer the patient enrollment",
    "task": "Do the care-plan task",
    "goal-follow-up": "Follow up the care-plan goal before its target date",
    "gap-due": "Close the care gap",
    "gap-overdue": "Close the overdue care gap",
    "adherence": "Talk with the patient about taking their medicine",
    "eligible-not-enrolled": "Offer enrollment: the patient is eligible",
    "needs-attestation": "Attest the patient's chronic conditions",
    "minutes-to-threshold": "Log care time",
}


@frozen(kw_only=True)
class WorklistRow:
    """One worklist item as a care manager reads it: who, what to do in words, and how late.

    ``overdue_since`` is the day the item fell due when it is overdue
    (``None`` otherwise); ``band`` is its :func:`priority`, or ``closed``
    for an item that closed itself, with ``closed_reason`` saying why.
    """

    owner: str
    band: str
    kind: str
    patient_id: str
    patient_name: str
    due: pendulum.Date
    overdue: bool
    overdue_since: pendulum.Date | None
    action: str
    detail: str
    closed_reason: str | None = None


def worklist_rows(
    worklists: Iterable[Worklist],
    *,
    today: pendulum.Date,
    patients: Iterable[Patient] = (),
    care_plans: Iterable[CarePlan] = (),
    descriptions: Mapping[str, str] | None = None,
) -> tuple[WorklistRow, ...]:
    """Every item of *worklists* as a :class:`WorklistRow`, list by list, in each list's order.

    Each list's open items come first, then its closed ones (band ``closed``).
    An item of the ``unassigned`` list says after what to do why nobody was
    given it (e.g. "Unassigned: the practice has no care manager, ...").

    The patient's display name is ``Family, Given`` from *patients* (the id
    when the patient is not given, e.g. for a version without names). A
    task or goal item says what the task or goal is, from *care_plans*; a
    care gap names its rule by title (carecore's rules; another rule by its id).
    *descriptions* (``plan/task`` or ``plan/goal`` to its words) say the same
    without the care plans, for a report combined from partitions.

    >>> import pendulum
    >>> worklist_rows([], today=pendulum.Date(2026, 3, 4))
    ()
    """
    day = check_date(today, "today")
    names = {p.id: p.display_name for p in patients}
    said: dict[str, str] = {}
    worklists = list(worklists)
    gap_titles: dict[str, str] = {}
    listed = [i for wl in worklists for i in (*wl.items, *(c.item for c in wl.closed))]
    if any(i.kind.startswith("gap-") for i in listed):
        from carecore.gaps import builtin_rules  # noqa: PLC0415 - only when gaps are listed

        gap_titles = {r.id: r.title for r in builtin_rules()}
    for plan in care_plans:
        said.update({f"{plan.id}/{t.id}": t.description for t in plan.tasks})
        said.update({f"{plan.id}/{g.id}": g.description for g in plan.goals})
    said.update(descriptions or {})
    out = []
    for wl in worklists:
        shown = [(i, None) for i in wl.items] + [(c.item, c.reason) for c in wl.closed]
        for item, reason in shown:
            band = priority(item, day) if reason is None else "closed"
            what = _ACTIONS.get(item.kind, item.kind.replace("-", " ").capitalize())
            action = (
                f"{what}: {said[item.detail]}"
                if item.detail in said
                else f"{what}: {gap_titles[item.detail]}"
                if item.kind.startswith("gap-") and item.detail in gap_titles
                else f"{what} ({item.detail})"
            )
            if wl.owner == _UNASSIGNED:
                action += f". Unassigned: {_why_unassigned(item.kind)}"
            out.append(
                WorklistRow(
                    owner=wl.owner,
                    band=band,
                    kind=item.kind,
                    patient_id=item.patient_id,
                    patient_name=names.get(item.patient_id, item.patient_id),
                    due=item.due,
                    overdue=band == "overdue",
                    overdue_since=item.due if band == "overdue" else None,
                    action=action,
                    detail=item.detail,
                    closed_reason=reason,
                )
            )
    return tuple(out)
