"""Worklists and outreach campaigns: who needs contact, when, and by whom.

:func:`build_worklists` is pure: given the program's records and a day, it
lists each care manager's work, soonest first, with their caseload (enrolled
patients). The kinds of work, each with a stable key:

| kind | when |
| --- | --- |
| ``tcm-contact`` | an open, qualifying transition episode, inside its 30 days, without its interactive contact (due: the 2-business-day deadline) |
| ``tcm-visit`` | the same without its face-to-face visit (due: the 7-day deadline) |
| ``ccm-check-in`` | an enrolled patient with no successful interactive contact yet this month (due: the month's last day) |
| ``enrollment-outreach`` | an identified patient, or one in outreach (due: today) |
| ``task`` | an open task of an active care plan due within a week (or overdue) |
| ``goal-follow-up`` | an open, measurable goal whose target date is within 30 days |

A patient's work goes to the care manager on their care team, else to the
enrollment's billing practitioner. Reaching a patient who is not enrolled
(``enrollment-outreach``) is a care manager's work, never a billing
physician's while the practice has one: the patient's own care manager, else
the practice's care managers (those on any care team) in turn, each patient
(in id order) to the one with the fewest patients so far (caseload plus
outreach given that day), the lower id on a tie. TCM work (``tcm-*``) goes by
the same rule, in the same turns. Work nobody can be given is owned by
``"unassigned"``, only when the practice has no one of the role it needs.
Campaigns turn the same items into
:class:`~carecore.model.OutreachDue` events, and the program's notification
rules decide who is messaged and how.

>>> import pendulum
>>> build_worklists(today=pendulum.Date(2026, 3, 4))
{}
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import pendulum
from attrs import frozen

from carecore.model import (
    CarePlanStatus,
    CareTeamRole,
    EnrollmentStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from carecore.gaps import Gap
    from carecore.medications import ClassAdherence
    from carecore.model import (
        CarePlan,
        CareTeam,
        Enrollment,
        InteractiveContact,
        Practitioner,
        TransitionEpisode,
    )

__all__ = ["ClosedItem", "WorkItem", "Worklist", "build_worklists"]


@frozen(kw_only=True)
class WorkItem:
    """One thing to do for one patient, by a due date."""

    kind: str
    patient_id: str
    due: pendulum.Date
    owner: str
    detail: str

    @property
    def key(self) -> str:
        """Stable across runs: the kind, the patient, the due date and what it is about."""
        return f"{self.kind}:{self.patient_id}:{self.due.isoformat()}:{self.detail}"


@frozen(kw_only=True)
class ClosedItem:
    """Work that can no longer be done, taken off the list, and why (e.g. the TCM period ended)."""

    item: WorkItem
    reason: str


@frozen(kw_only=True)
class Worklist:
    """A care manager's work, soonest first, and how many enrolled patients they follow.

    ``closed`` holds the items that closed themselves recently, each with
    its reason (see :func:`carecore.registry.registry_worklists`).
    """

    owner: str
    items: tuple[WorkItem, ...]
    caseload: int
    closed: tuple[ClosedItem, ...] = ()


#: The owner of work that nobody could be given (see :func:`why_unassigned`).
_UNASSIGNED = "unassigned"

#: The kinds owned by :func:`_outreach_rule` (a care manager's work).
_REACH_KINDS = frozenset(
    {
        "enrollment-outreach",
        "eligible-not-enrolled",
        "tcm-contact",
        "tcm-visit",
        "tcm-med-rec",
        "tcm-disposition",
    }
)


def _why_unassigned(kind: str) -> str:
    """Why an item of *kind* owned by ``"unassigned"`` has no owner, in words.

    Each rule leaves an item unassigned for one reason only, so the kind says which.

    >>> _why_unassigned("needs-attestation")
    'the practice has no practitioner who can attest (a physician, NP, PA, CNS or CNM)'
    """
    if kind == "needs-attestation":
        return "the practice has no practitioner who can attest (a physician, NP, PA, CNS or CNM)"
    if kind in _REACH_KINDS:
        return "the practice has no care manager, and the patient no billing practitioner"
    return "the patient has no care manager on a care team and no billing practitioner"


def _care_managers(care_teams: Iterable[CareTeam]) -> dict[str, str]:
    """Each patient's care manager: the first one listed on their care team.

    A patient on several care teams takes the team with the lowest id, so the
    answer does not depend on the order the records arrive in.
    """
    managers: dict[str, str] = {}
    for team in sorted(care_teams, key=lambda t: t.id):
        for member in team.members:
            if member.role is CareTeamRole.CARE_MANAGER:
                managers.setdefault(team.patient_id, member.practitioner_id)
    return managers


def _owner_rule(
    enrollments: Iterable[Enrollment], care_teams: Iterable[CareTeam]
) -> Callable[[str], str]:
    """Who owns a patient's work: the care team's care manager, else the billing practitioner.

    Patients with neither are ``"unassigned"``. Worklists and caseloads
    both use this rule, so a patient is counted where their work is listed.
    A patient with several enrollments takes the billing practitioner of the
    one begun last (the higher id on the same day); with several care teams, the care manager of the team with
    the lowest id. The same records give the same owners, whatever their order.

    >>> _owner_rule([], [])("p1")
    'unassigned'
    """
    managers = _care_managers(care_teams)
    billing = {
        e.patient_id: e.billing_practitioner_id
        for e in sorted(enrollments, key=lambda e: (e.history[0].on, e.id))
    }

    def owner_of(patient_id: str) -> str:
        return managers.get(patient_id) or billing.get(patient_id) or _UNASSIGNED

    return owner_of


def _reaching(enrollments: Iterable[Enrollment], today: pendulum.Date) -> set[str]:
    """The patients with an enrollment identified or in outreach on *today* (to be reached)."""
    return {
        e.patient_id
        for e in enrollments
        if e.status_on(today) in {EnrollmentStatus.IDENTIFIED, EnrollmentStatus.OUTREACH}
    }


def _outreach_rule(
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam],
    *,
    today: pendulum.Date,
    patient_ids: Iterable[str],
    given: Mapping[str, str] | None = None,
) -> Callable[[str], str]:
    """Who reaches out to each of *patient_ids* (patients not enrolled yet) on *today*.

    The care manager on the patient's care team; else one of the practice's
    care managers (everyone who is a care manager on some care team): the
    patients are taken in id order, and each goes to the care manager with
    the fewest patients so far (their caseload on *today*, as
    :func:`_owner_rule` counts it, plus the patients to reach already given
    to them), the lower id on a tie. The same records give the same owners,
    whatever their order. Only when the practice has no care manager does
    the work fall to :func:`_owner_rule` (the billing practitioner, else
    ``"unassigned"``).

    *given*: the turns already shared out over the whole practice (a
    partitioned report reads the practice in parts: :func:`_outreach_share`
    of each part, added up, then :func:`_turns`); they are used as they are.

    >>> _outreach_rule([], [], today=pendulum.Date(2026, 3, 4), patient_ids=["p1"])("p1")
    'unassigned'
    """
    enrolled = list(enrollments)
    teams = list(care_teams)
    owner = _owner_rule(enrolled, teams)
    own = _care_managers(teams)
    if given is None:
        managers, load, waiting = _outreach_share(
            enrolled, teams, today=today, patient_ids=patient_ids
        )
        if not managers:
            return owner
        given = _turns(managers, load, waiting)

    def owner_of(patient_id: str) -> str:
        return own.get(patient_id) or given.get(patient_id) or owner(patient_id)

    return owner_of


def _outreach_share(
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam],
    *,
    today: pendulum.Date,
    patient_ids: Iterable[str],
) -> tuple[set[str], Counter[str], set[str]]:
    """What :func:`_outreach_rule` shares out from: the care managers, their load, who waits.

    The care managers named on any care team, each owner's patients enrolled
    on *today* (:func:`_owner_rule`), and the patients of *patient_ids*
    without a care manager of their own. Each is a set or a count over
    patients, so the shares of parts of the practice add up (set union,
    counter sum) to the whole practice's.

    >>> _outreach_share([], [], today=pendulum.Date(2026, 3, 4), patient_ids=["p1"])
    (set(), Counter(), {'p1'})
    """
    enrolled = list(enrollments)
    teams = list(care_teams)
    owner = _owner_rule(enrolled, teams)
    managers = {
        m.practitioner_id for t in teams for m in t.members if m.role is CareTeamRole.CARE_MANAGER
    }
    load = Counter(owner(pid) for pid in _enrolled_on(enrolled, today))
    return managers, load, set(patient_ids) - set(_care_managers(teams))


def _enrolled_on(enrollments: Iterable[Enrollment], today: pendulum.Date) -> set[str]:
    """The patients with an enrollment enrolled on *today*."""
    return {e.patient_id for e in enrollments if e.status_on(today) is EnrollmentStatus.ENROLLED}


def _turns(
    candidates: Iterable[str], load: Counter[str], patient_ids: Iterable[str]
) -> dict[str, str]:
    """Give each of *patient_ids*, in id order, to the candidate with the fewest patients so far.

    *load* is what each candidate has already; each patient given adds one.
    The lower id wins a tie. The outreach rule and the attestation rule
    both share out their patients with this one function.

    >>> _turns(["rn-b", "rn-a"], Counter({"rn-a": 1}), ["p2", "p1", "p3"])
    {'p1': 'rn-b', 'p2': 'rn-a', 'p3': 'rn-b'}
    """
    people = sorted(set(candidates))
    if not people:
        return {}
    load = Counter(load)
    given: dict[str, str] = {}
    for pid in sorted(set(patient_ids)):
        pick = min(people, key=lambda m: (load[m], m))
        given[pid] = pick
        load[pick] += 1
    return given


def _attester_rule(
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam],
    practitioners: Iterable[Practitioner],
    *,
    today: pendulum.Date,
    patient_ids: Iterable[str],
    given: Mapping[str, str] | None = None,
) -> Callable[[str], str]:
    """Who attests the conditions of each of *patient_ids* (a billing practitioner's attestation).

    Only a practitioner whose credential can bill a care-management program
    attests (:attr:`~carecore.model.Credential.is_billing_practitioner`: a
    physician, NP, PA, CNS or CNM; one *practitioners* does not give is
    taken as able). A patient's own billing practitioner attests when known:
    the billing practitioner on their care team, else the one of an
    enrollment of theirs (the lower id if several). The other patients go to
    the practice's attesters: the billing practitioners its enrollments and
    care teams name, or, while they name none, every one of *practitioners*
    who can bill (a practitioner known only from imported records, e.g. a
    hospital's physician, is not one of the practice's while it bills
    through someone). They are shared out as :func:`_outreach_rule` shares
    outreach (:func:`_turns`): in id order, to the one billing the fewest
    patients enrolled on *today* plus the attestations given so far, the
    lower id on a tie. With nobody who can attest, ``"unassigned"``.
    *given*: the turns already shared out over the whole practice
    (:func:`_attester_share` of each part added up, then :func:`_turns`).

    >>> _attester_rule([], [], [], today=pendulum.Date(2026, 3, 4), patient_ids=["p1"])("p1")
    'unassigned'
    """
    enrolled = list(enrollments)
    teams = list(care_teams)
    own = _own_attesters(enrolled, teams, practitioners)
    if given is None:
        named, load, waiting = _attester_share(
            enrolled, teams, practitioners, today=today, patient_ids=patient_ids
        )
        given = _turns(_attesters(named, practitioners), load, waiting)

    def owner_of(patient_id: str) -> str:
        return own.get(patient_id) or given.get(patient_id) or _UNASSIGNED

    return owner_of


def _can_attest(practitioners: Iterable[Practitioner]) -> Callable[[str], bool]:
    credential = {p.id: p.credential for p in practitioners}

    def can_attest(practitioner_id: str) -> bool:
        known = credential.get(practitioner_id)
        return known is None or known.is_billing_practitioner

    return can_attest


def _billing_named(
    enrolled: list[Enrollment], care_teams: Iterable[CareTeam]
) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Each patient's billing practitioners: from their care teams, and from their enrollments."""
    from_teams: dict[str, set[str]] = defaultdict(set)
    for team in care_teams:
        for member in team.members:
            if member.role is CareTeamRole.BILLING_PRACTITIONER:
                from_teams[team.patient_id].add(member.practitioner_id)
    from_enrollments: dict[str, set[str]] = defaultdict(set)
    for e in enrolled:
        from_enrollments[e.patient_id].add(e.billing_practitioner_id)
    return from_teams, from_enrollments


def _own_attesters(
    enrolled: list[Enrollment],
    care_teams: Iterable[CareTeam],
    practitioners: Iterable[Practitioner],
) -> dict[str, str]:
    """Each patient's own attester: the lowest-id one able to attest, the care team's first."""
    can_attest = _can_attest(practitioners)
    own: dict[str, str] = {}
    for source in reversed(_billing_named(enrolled, care_teams)):  # the care team's wins
        for pid, ids in source.items():
            ok = sorted(i for i in ids if can_attest(i))
            if ok:
                own[pid] = ok[0]
    return own


def _attesters(named: set[str], practitioners: Iterable[Practitioner]) -> set[str]:
    """The practice's attesters: those of *named* who can attest, else every one who can bill."""
    staff = list(practitioners)
    can_attest = _can_attest(staff)
    credential = {p.id: p.credential for p in staff}
    return {i for i in named if can_attest(i)} or {
        i for i, c in credential.items() if c.is_billing_practitioner
    }


def _attester_share(
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam],
    practitioners: Iterable[Practitioner],
    *,
    today: pendulum.Date,
    patient_ids: Iterable[str],
) -> tuple[set[str], Counter[str], set[str]]:
    """What :func:`_attester_rule` shares out from: who is named, their load, who waits.

    The billing practitioners the care teams and enrollments name, the
    patients each bills enrolled on *today*, and the patients of
    *patient_ids* without an attester of their own. Sets and counts over
    patients: the shares of parts of the practice add up to the whole's.

    >>> _attester_share([], [], [], today=pendulum.Date(2026, 3, 4), patient_ids=["p1"])
    (set(), Counter(), {'p1'})
    """
    enrolled = list(enrollments)
    teams = list(care_teams)
    staff = list(practitioners)
    from_teams, from_enrollments = _billing_named(enrolled, teams)
    named = {i for ids in (*from_teams.values(), *from_enrollments.values()) for i in ids}
    billed = {
        (e.patient_id, e.billing_practitioner_id)
        for e in enrolled
        if e.status_on(today) is EnrollmentStatus.ENROLLED
    }
    load = Counter(practitioner for _, practitioner in billed)
    own = _own_attesters(enrolled, teams, staff)
    return named, load, set(patient_ids) - set(own)


def _transitioning(episodes: Iterable[TransitionEpisode], today: pendulum.Date) -> set[str]:
    """The patients with TCM work open on *today* (as :func:`_tcm_items` lists it)."""
    return {ep.patient_id for ep in episodes if _tcm_due(ep, today)}


def _tcm_due(ep: TransitionEpisode, today: pendulum.Date) -> dict[str, pendulum.Date]:
    """The episode's open deadlines on *today*, none once its 30 days are over."""
    if ep.period_end is not None and ep.period_end < today:
        return {}  # the 30 days are over: nothing left to chase
    return ep.open_deadlines(on=today)


def build_worklists(
    *,
    today: pendulum.Date,
    enrollments: Iterable[Enrollment] = (),
    care_teams: Iterable[CareTeam] = (),
    care_plans: Iterable[CarePlan] = (),
    episodes: Iterable[TransitionEpisode] = (),
    contacts: Iterable[InteractiveContact] = (),
    time_zone: str = "UTC",
    gaps: Iterable[Gap] = (),
    adherence: Iterable[ClassAdherence] = (),
) -> dict[str, Worklist]:
    """Each owner's worklist for *today* (contacts are dated in *time_zone*, the practice's).

    Open care *gaps* become ``gap-due`` and ``gap-overdue`` items (due since
    when the gap opened or became overdue); *adherence* under 80% in a class
    becomes an ``adherence`` item with the figure.
    """
    return _build_worklists(
        today=today,
        enrollments=enrollments,
        care_teams=care_teams,
        care_plans=care_plans,
        episodes=episodes,
        contacts=contacts,
        time_zone=time_zone,
        gaps=gaps,
        adherence=adherence,
    )


def _build_worklists(
    *,
    today: pendulum.Date,
    enrollments: Iterable[Enrollment],
    care_teams: Iterable[CareTeam],
    care_plans: Iterable[CarePlan],
    episodes: Iterable[TransitionEpisode],
    contacts: Iterable[InteractiveContact],
    time_zone: str,
    gaps: Iterable[Gap],
    adherence: Iterable[ClassAdherence],
    reach: Callable[[str], str] | None = None,
) -> dict[str, Worklist]:
    """:func:`build_worklists`; *reach* owns outreach and TCM work (default: :func:`_outreach_rule`)."""
    enrolled = list(enrollments)
    teams = list(care_teams)
    transitions = list(episodes)
    owner = _owner_rule(enrolled, teams)
    if reach is None:
        reach = _outreach_rule(
            enrolled,
            teams,
            today=today,
            patient_ids=_reaching(enrolled, today) | _transitioning(transitions, today),
        )
    month = (today.start_of("month"), today.end_of("month"))
    reached = {
        c.patient_id
        for c in contacts
        if c.successful and month[0] <= c.at.in_timezone(time_zone).date() <= month[1]
    }
    items = [
        *_tcm_items(transitions, today, reach),
        *_enrollment_items(enrolled, today, reached, owner, reach),
        *_plan_items(care_plans, today, owner),
        *_gap_items(gaps, today, owner),
        *_adherence_items(adherence, today, owner),
    ]
    caseload = Counter(
        owner(e.patient_id) for e in enrolled if e.status_on(today) is EnrollmentStatus.ENROLLED
    )
    by_owner: dict[str, list[WorkItem]] = defaultdict(list)
    for item in items:
        by_owner[item.owner].append(item)
    return {
        name: Worklist(
            owner=name,
            items=tuple(
                sorted(by_owner.get(name, []), key=lambda i: (i.due, i.kind, i.patient_id))
            ),
            caseload=caseload[name],
        )
        for name in sorted(set(by_owner) | set(caseload))
    }


def _tcm_items(
    episodes: Iterable[TransitionEpisode], today: pendulum.Date, owner: Callable[[str], str]
) -> list[WorkItem]:
    out = []
    for ep in episodes:  # open_deadlines says nothing for closed or non-qualifying episodes
        due = _tcm_due(ep, today)
        out += [
            WorkItem(
                kind=f"tcm-{name}",
                patient_id=ep.patient_id,
                due=due[name],
                owner=owner(ep.patient_id),
                detail=ep.id,
            )
            # disposition: confirm where they went; med-rec: reconcile by the visit (issue 18)
            for name in ("contact", "visit", "med-rec", "disposition")
            if name in due
        ]
    return out


def _gap_items(
    gaps: Iterable[Gap], today: pendulum.Date, owner: Callable[[str], str]
) -> list[WorkItem]:
    return [
        WorkItem(
            kind=f"gap-{gap.status.value}",
            patient_id=gap.patient_id,
            due=gap.since or today,
            owner=owner(gap.patient_id),
            detail=gap.rule_id,
        )
        for gap in gaps
        if gap.open
    ]


def _adherence_items(
    adherence: Iterable[ClassAdherence], today: pendulum.Date, owner: Callable[[str], str]
) -> list[WorkItem]:
    return [
        WorkItem(
            kind="adherence",
            patient_id=a.patient_id,
            due=today,
            owner=owner(a.patient_id),
            detail=f"{a.drug_class} PDC {a.percent()}",
        )
        for a in adherence
        if a.adherent is False
    ]


def _enrollment_items(
    enrolled: Iterable[Enrollment],
    today: pendulum.Date,
    reached: set[str],
    owner: Callable[[str], str],
    reach: Callable[[str], str],
) -> list[WorkItem]:
    out = []
    for e in enrolled:
        status = e.status_on(today)
        if status is EnrollmentStatus.ENROLLED and e.patient_id not in reached:
            out.append(
                WorkItem(
                    kind="ccm-check-in",
                    patient_id=e.patient_id,
                    due=today.end_of("month"),
                    owner=owner(e.patient_id),
                    detail=e.family.value,
                )
            )
        elif status in {EnrollmentStatus.IDENTIFIED, EnrollmentStatus.OUTREACH}:
            out.append(
                WorkItem(
                    kind="enrollment-outreach",
                    patient_id=e.patient_id,
                    due=today,
                    owner=reach(e.patient_id),
                    detail=e.family.value,
                )
            )
    return out


def _plan_items(
    plans: Iterable[CarePlan], today: pendulum.Date, owner: Callable[[str], str]
) -> list[WorkItem]:
    active = [p for p in plans if p.status is CarePlanStatus.ACTIVE]
    tasks = [
        WorkItem(
            kind="task", patient_id=p.patient_id, due=t.due, owner=t.owner, detail=f"{p.id}/{t.id}"
        )
        for p in active
        for t in p.tasks
        if t.open and t.due is not None and t.due <= today.add(days=7)
    ]
    goals = [
        WorkItem(
            kind="goal-follow-up",
            patient_id=p.patient_id,
            due=g.target.due,
            owner=owner(p.patient_id),
            detail=f"{p.id}/{g.id}",
        )
        for p in active
        for g in p.goals
        if g.open and g.target is not None and g.target.due <= today.add(days=30)
    ]
    return tasks + goals
