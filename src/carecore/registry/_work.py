"""Registry worklists (built on :mod:`carecore.outreach`), minutes against thresholds, caseloads."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from attrs import frozen

from carecore import billing, errors
from carecore.model import EnrollmentStatus, RoleClass, ServiceFamily
from carecore.model._validators import check_date
from carecore.outreach import WorkItem, Worklist, _owner_rule, build_worklists

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pendulum

    from carecore.model import (
        CarePlan,
        CareTeam,
        Enrollment,
        InteractiveContact,
        TimeEntry,
        TransitionEpisode,
    )
    from carecore.registry._eligibility import Eligibility

__all__ = [
    "LADDERS",
    "Caseload",
    "MinutesProgress",
    "caseloads",
    "minutes_progress",
    "registry_worklists",
    "thresholds",
]

#: The time-based codes whose thresholds the registry tracks: family -> (base code, add-on code).
LADDERS: dict[ServiceFamily, tuple[str, str | None]] = {
    ServiceFamily.CCM: ("99490", "99439"),
    ServiceFamily.PCM: ("99426", "99427"),
    ServiceFamily.BHI: ("99484", None),
}
_OPEN = frozenset(
    {
        EnrollmentStatus.IDENTIFIED,
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.PAUSED,
    }
)
_MAX_ADD_ON_STEPS = (
    4  # an add-on without a cap is followed this far (the next threshold is what matters)
)


@frozen(kw_only=True)
class MinutesProgress:
    """One enrolled patient's countable minutes this month against the next threshold.

    ``next_code`` is None when every threshold of the ladder is reached.

    >>> p = MinutesProgress(patient_id="p1", family=ServiceFamily.CCM, month="2026-03", minutes=14,
    ...     next_code="99490", next_threshold=20)
    >>> p.minutes_needed
    6
    """

    patient_id: str
    family: ServiceFamily
    month: str
    minutes: int
    next_code: str | None
    next_threshold: int | None

    @property
    def minutes_needed(self) -> int:
        """Minutes still needed for the next code (0 when none is left)."""
        return 0 if self.next_threshold is None else max(0, self.next_threshold - self.minutes)


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


def thresholds(family: ServiceFamily, rules: billing.RuleSet) -> tuple[tuple[str, int], ...]:
    """The ``(code, total minutes)`` steps of *family*'s time ladder in *rules*.

    >>> from carecore.billing import cms_rule_set
    >>> thresholds(ServiceFamily.CCM, cms_rule_set(2026))
    (('99490', 20), ('99439', 40), ('99439', 60))
    """
    if family not in LADDERS:
        raise errors.InvalidValue(
            f"no time ladder for this family (known: {', '.join(f.value for f in LADDERS)})",
            field="family",
            value=family,
        )
    if not isinstance(rules, billing.RuleSet):
        raise errors.InvalidValue("must be a RuleSet", field="rules", value=rules)
    base_code, add_on_code = LADDERS[family]
    base = rules.rule(base_code).first_unit_minutes or 0
    steps = [(base_code, base)]
    if add_on_code is not None and rules.knows(add_on_code):
        add_on = rules.rule(add_on_code)
        block = add_on.minutes or 0
        need = add_on.first_unit_minutes or 0
        steps.extend(
            (add_on_code, base + need + (unit - 1) * block)
            for unit in range(1, (add_on.max_units or _MAX_ADD_ON_STEPS) + 1)
        )
    return tuple(steps)


def _enrolled_on(enrollment: Enrollment, day: pendulum.Date) -> bool:
    return enrollment.status_on(day) is EnrollmentStatus.ENROLLED


def minutes_progress(
    enrollments: Iterable[Enrollment],
    time_entries: Iterable[TimeEntry],
    *,
    on: pendulum.Date,
    rules: billing.RuleSet,
) -> tuple[MinutesProgress, ...]:
    """Each enrollment's countable minutes in *on*'s month against the next threshold of *rules*.

    Countable minutes are those of the enrollment's family not logged as
    non-clinical, for the enrollment's billing practitioner, from the first
    of the month to *on*. Families without a time ladder are skipped.

    >>> import pendulum
    >>> from carecore.billing import cms_rule_set
    >>> minutes_progress([], [], on=pendulum.Date(2026, 3, 10), rules=cms_rule_set(2026))
    ()
    """
    day = check_date(on, "on")
    start = day.start_of("month")
    entries: dict[tuple[str, ServiceFamily, str], int] = defaultdict(int)
    for t in time_entries:
        if t.role_class is not RoleClass.NON_CLINICAL and start <= t.service_date <= day:
            entries[t.patient_id, t.family, t.billing_practitioner_id] += t.minutes
    out = []
    for e in sorted(enrollments, key=lambda e: (e.patient_id, e.family.value, e.id)):
        if e.family not in LADDERS or not _enrolled_on(e, day):
            continue
        minutes = entries[e.patient_id, e.family, e.billing_practitioner_id]
        nxt = next(((c, m) for c, m in thresholds(e.family, rules) if m > minutes), None)
        out.append(
            MinutesProgress(
                patient_id=e.patient_id,
                family=e.family,
                month=f"{day.year:04d}-{day.month:02d}",
                minutes=minutes,
                next_code=None if nxt is None else nxt[0],
                next_threshold=None if nxt is None else nxt[1],
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
) -> dict[str, Worklist]:
    """The outreach worklists of :func:`carecore.outreach.build_worklists`, plus the registry's work.

    Added kinds: ``eligible-not-enrolled`` (eligible, without an open
    enrollment in the program; due today) and ``minutes-to-threshold``
    (enrolled, below the next time threshold of *rules*; due at the month's
    end, the detail says how many minutes reach which code). Without
    *rules* no minutes items are made.

    >>> import pendulum
    >>> registry_worklists(today=pendulum.Date(2026, 3, 4))
    {}
    """
    day = check_date(today, "today")
    enrolled = list(enrollments)
    teams = list(care_teams)
    base = build_worklists(
        today=day,
        enrollments=enrolled,
        care_teams=teams,
        care_plans=care_plans,
        episodes=episodes,
        contacts=contacts,
        time_zone=time_zone,
    )
    owner_of = _owner_rule(enrolled, teams)
    open_enrollments = {(e.patient_id, e.family) for e in enrolled if e.status_on(day) in _OPEN}
    extra: list[WorkItem] = [
        WorkItem(
            kind="eligible-not-enrolled",
            patient_id=e.patient_id,
            due=day,
            owner=owner_of(e.patient_id),
            detail=f"{e.family.value}: {', '.join(e.conditions) or 'eligible'}",
        )
        for e in eligibility
        if e.eligible and (e.patient_id, e.family) not in open_enrollments
    ]
    if rules is not None:
        extra += [
            WorkItem(
                kind="minutes-to-threshold",
                patient_id=p.patient_id,
                due=day.end_of("month"),
                owner=owner_of(p.patient_id),
                detail=f"{p.family.value}: {p.minutes} min, {p.minutes_needed} more for {p.next_code}",
            )
            for p in minutes_progress(enrolled, time_entries, on=day, rules=rules)
            if p.next_code is not None
        ]
    items: dict[str, list[WorkItem]] = defaultdict(list)
    caseload: dict[str, int] = {}
    for name, worklist in base.items():
        items[name].extend(worklist.items)
        caseload[name] = worklist.caseload
    for item in extra:
        items[item.owner].append(item)
    return {
        name: Worklist(
            owner=name,
            items=tuple(sorted(items[name], key=lambda i: (i.due, i.kind, i.patient_id, i.detail))),
            caseload=caseload.get(name, 0),
        )
        for name in sorted(items)
    }
