"""Who may do what: the acting :class:`Actor`, the :class:`Action` asked for, and the policy.

carecore does not log anyone in: the application around it says who is
working with an :class:`Actor` (an id, roles and care teams), and every
transaction a :class:`~carecore.service.CareProgram` opens asks the
program's policy about each store operation before it takes effect (see
:doc:`/explanation/access-control`).

>>> nurse = Actor(id="rn-lee", roles={Role.NURSE}, teams={"team-p1"})
>>> policy = DefaultPolicy()
>>> mine = AccessRequest(actor=nurse, action=Action.READ, kind="CarePlan", patient_id="p1",
...     care_teams=("team-p1",))
>>> policy.allows(mine), policy.allows(attrs.evolve(mine, patient_id="p2", care_teams=()))
(True, False)

A policy is any object with ``allows(request) -> bool``; a plugin's
``carecore_access_policy`` hook replaces the default one.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Iterable

    from carecore.model import Practitioner
    from carecore.protocols import Transaction

__all__ = [
    "BILLING_KINDS",
    "FEED_KINDS",
    "AccessPolicy",
    "AccessRequest",
    "Action",
    "Actor",
    "DefaultPolicy",
    "Role",
    "Scope",
    "StaffActor",
    "check",
    "parse_roles",
    "practitioner_roles",
    "teams_of",
]


class Role(enum.StrEnum):
    """What an actor does in the practice; the default policy grants by role."""

    CARE_MANAGER = "care_manager"
    NURSE = "nurse"
    PHYSICIAN = "physician"
    BILLING = "billing"
    ADMIN = "admin"
    RESEARCHER = "researcher"
    INTEGRATION = "integration"
    #: carecore's own jobs and trusted code (a program opened with a plain id string).
    SYSTEM = "system"


class Action(enum.StrEnum):
    """What a store operation does to a patient's records (see the table in the explanation)."""

    READ = "read"
    WRITE = "write"
    EXPORT = "export"
    DEIDENTIFIED_EXPORT = "deidentified-export"
    BILL = "bill"
    DELIVER = "deliver"
    ADMIN = "admin"


class Scope(enum.StrEnum):
    """Whose records a grant of the default policy reaches."""

    #: The patients on whose care team the actor is.
    TEAM = "team"
    #: Every patient.
    ANY = "any"


def _ids(value: object, field: str) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, (list, tuple, set, frozenset)):
        raise errors.InvalidValue("must be a collection of ids", field=field, value=value)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise errors.InvalidValue("must hold non-blank ids", field=field, value=item)
    return frozenset(value)


def _roles(value: object) -> frozenset[Role]:
    if isinstance(value, (str, Role)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise errors.InvalidValue("must be a collection of roles", field="roles", value=value)
    out = set()
    for item in value:
        try:
            out.add(Role(item))
        except ValueError:
            raise errors.InvalidValue(
                f"is not a role (one of {', '.join(r.value for r in Role)})",
                field="roles",
                value=item,
            ) from None
    return frozenset(out)


def _team_ids(value: object) -> frozenset[str]:
    return _ids(value, "teams")


def _check_id(_inst: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise errors.InvalidValue("must name who is acting", field=attribute.name, value=value)


@attrs.frozen(kw_only=True)
class Actor:
    """Who is working: an id (as the audit log records it), roles and care teams.

    The embedding application authenticates the person and builds this
    value; carecore trusts it.

    >>> Actor(id="billing:kim", roles=["billing"]).roles
    frozenset({<Role.BILLING: 'billing'>})
    >>> Actor(id="x", roles=["janitor"])
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: roles='janitor': is not a role (one of care_manager, nurse, physician, billing, admin, researcher, integration, system)
    """

    id: str = attrs.field(validator=_check_id)
    roles: frozenset[Role] = attrs.field(default=frozenset(), converter=_roles)
    #: Ids of the care teams it belongs to.
    teams: frozenset[str] = attrs.field(default=frozenset(), converter=_team_ids)

    @classmethod
    def system(cls, actor_id: str) -> Actor:
        """A trusted caller acting as *actor_id* (carecore's jobs; code that passes a plain id).

        >>> Actor.system("month-close").roles
        frozenset({<Role.SYSTEM: 'system'>})
        """
        return cls(id=actor_id, roles=frozenset({Role.SYSTEM}))


#: Kinds a month close reads (patients to audit entries that date care plan versions).
BILLING_KINDS = frozenset(
    {
        "Patient",
        "Practitioner",
        "Program",
        "Coverage",
        "Condition",
        "Consent",
        "Enrollment",
        "CareTeam",
        "CarePlan",
        "TimeEntry",
        "InteractiveContact",
        "FaceToFaceVisit",
        "DeviceReadingDay",
        "DeviceSetup",
        "TransitionEpisode",
        "ClaimLine",
        "Denial",
        "MdmAssessment",
        "ApcmAddon",
        "ExternalClaim",
        "ProgramElection",
        "BillingIdentity",
        "PracticeSetting",
        "AuditEntry",
    }
)

#: Kinds an inbound feed (HL7 v2, a FHIR import) carries and matches on.
FEED_KINDS = frozenset(
    {
        "Patient",
        "PatientAddress",
        "PatientLink",
        "Practitioner",
        "CareTeam",
        "Coverage",
        "Condition",
        "Observation",
        "AdtEvent",
        "TransitionEpisode",
        "MedicationStatement",
        "MedicationFill",
        "Appointment",
        "ClinicalService",
        "Enrollment",
        "Consent",
        "ContactPreferences",
        "DeadLetter",
        "InboundKey",
        "OutboundMessage",
    }
)


@attrs.frozen(kw_only=True)
class AccessRequest:
    """One question to a policy: may *actor* do *action* to *kind* records of *patient_id*.

    ``patient_id`` is None for records of no patient (practitioners, the
    whole audit log). ``care_teams`` are the ids of the patient's stored
    care teams the actor is a member of (by its ``teams``, or listed as a
    member by its id); empty when it is on none (or when no patient is
    named).
    """

    actor: Actor
    action: Action
    kind: str | None = None
    patient_id: str | None = None
    care_teams: tuple[str, ...] = ()

    @property
    def on_care_team(self) -> bool:
        """Whether the actor is on one of the patient's care teams."""
        return bool(self.care_teams)


@runtime_checkable
class AccessPolicy(Protocol):
    """What decides: any object with this method (see :class:`DefaultPolicy`)."""

    def allows(self, request: AccessRequest) -> bool:
        """True when the request is allowed."""
        ...


# A policy may also offer ``allows_every_patient(actor, action, kind) -> bool``: True
# when it allows *action* on *kind* records of every patient whatever their care teams.
# A program then skips asking patient by patient in bulk reads (a month close reads
# every patient); without it, it asks about each patient.


#: A grant: an action to the patients of a scope, for every kind (None) or these kinds.
_Grant = tuple[Action, Scope, frozenset[str] | None]

_CLINICAL: tuple[_Grant, ...] = (
    (Action.READ, Scope.TEAM, None),
    (Action.WRITE, Scope.TEAM, None),
    (Action.EXPORT, Scope.TEAM, None),
)

#: The default policy's table (docs/explanation/access-control.md shows it).
DEFAULT_GRANTS: dict[Role, tuple[_Grant, ...]] = {
    Role.CARE_MANAGER: _CLINICAL,
    Role.NURSE: _CLINICAL,
    Role.PHYSICIAN: _CLINICAL,
    Role.BILLING: ((Action.READ, Scope.ANY, BILLING_KINDS), (Action.BILL, Scope.ANY, None)),
    Role.INTEGRATION: (
        (Action.READ, Scope.ANY, FEED_KINDS),
        (Action.WRITE, Scope.ANY, FEED_KINDS),
        (Action.DELIVER, Scope.ANY, None),
    ),
    Role.RESEARCHER: ((Action.DEIDENTIFIED_EXPORT, Scope.ANY, None),),
    Role.ADMIN: (
        (Action.READ, Scope.ANY, frozenset({"AuditEntry"})),
        (Action.DELIVER, Scope.ANY, None),
        (Action.ADMIN, Scope.ANY, None),
    ),
    Role.SYSTEM: tuple((action, Scope.ANY, None) for action in Action),
}

#: The actions that read records (to use them, or to send them out).
_READS = frozenset({Action.READ, Action.EXPORT, Action.DEIDENTIFIED_EXPORT})

#: Kinds of no patient every reading role may read (the staff directory, the programs).
_SHARED_KINDS = frozenset({"Practitioner", "Program", "BillingIdentity", "PracticeSetting"})


@attrs.frozen
class DefaultPolicy:
    """carecore's policy: the grants of :data:`DEFAULT_GRANTS` by role.

    Records of no patient: practitioners and programs are read (or exported)
    by every role that may read (or export) something, and written by
    integration, admin and system actors; everything else of no patient (the whole audit log, the outbox
    as a whole) needs a grant for every patient.

    >>> billing = Actor(id="billing:kim", roles={Role.BILLING})
    >>> DefaultPolicy().allows(AccessRequest(actor=billing, action=Action.READ,
    ...     kind="AssessmentResult", patient_id="p1"))
    False
    """

    def allows_every_patient(self, actor: Actor, action: Action, kind: str | None) -> bool:
        """True when one of the actor's roles grants *action* on *kind* for every patient.

        >>> DefaultPolicy().allows_every_patient(
        ...     Actor(id="billing:kim", roles={Role.BILLING}), Action.READ, "TimeEntry")
        True
        """
        return any(
            action is granted and scope is Scope.ANY and (kinds is None or kind in kinds)
            for role in actor.roles
            for granted, scope, kinds in DEFAULT_GRANTS.get(role, ())
        )

    def allows(self, request: AccessRequest) -> bool:
        """True when one of the actor's roles grants the request."""
        grants = [g for role in request.actor.roles for g in DEFAULT_GRANTS.get(role, ())]
        if request.patient_id is None and request.kind in _SHARED_KINDS:
            if request.action in _READS:
                # The staff directory goes with whatever the actor may read or send out.
                return any(action is request.action for action, _scope, _kinds in grants)
            if request.action is Action.WRITE:
                return bool(request.actor.roles & {Role.INTEGRATION, Role.ADMIN, Role.SYSTEM})
        for action, scope, kinds in grants:
            if action is not request.action:
                continue
            if kinds is not None and request.kind not in kinds:
                continue
            if scope is Scope.ANY or (request.patient_id is not None and request.on_care_team):
                return True
        return False


def check(policy: AccessPolicy, request: AccessRequest) -> None:
    """Raise :class:`~carecore.errors.AccessDenied` unless *policy* allows *request*.

    A policy must answer with a ``bool``; anything else is a
    :class:`~carecore.errors.PluginError` (a policy that answers ``None`` by
    mistake must not let everyone in).

    >>> check(DefaultPolicy(), AccessRequest(actor=Actor(id="x"), action=Action.READ,
    ...     kind="Patient", patient_id="p1"))
    Traceback (most recent call last):
    ...
    carecore.errors.AccessDenied: actor='x': may not read Patient of patient p1
    """
    answer = policy.allows(request)
    if not isinstance(answer, bool):
        raise errors.PluginError(
            f"an access policy must answer True or False, not {type(answer).__name__}",
            field="policy",
            value=type(policy).__name__,
        )
    if not answer:
        raise errors.AccessDenied(
            actor=request.actor.id,
            action=request.action.value,
            patient_id=request.patient_id,
            kind=request.kind,
        )


def teams_of(actor: Actor, teams: Iterable[tuple[str, Iterable[str]]]) -> tuple[str, ...]:
    """The ids of *teams* (team id, member ids) the actor is on: by its ``teams`` or its id.

    >>> teams_of(Actor(id="rn1"), [("t1", ["dr1", "rn1"]), ("t2", ["dr1"])])
    ('t1',)
    """
    return tuple(
        sorted(
            team_id
            for team_id, members in teams
            if team_id in actor.teams or actor.id in set(members)
        )
    )


#: Credentials whose holders are physicians (and practitioners who bill like them).
_PHYSICIANS = frozenset({"MD", "DO", "NP", "PA", "CNS", "CNM"})
#: Credentials whose holders are nurses.
_NURSES = frozenset({"RN", "LPN"})


def practitioner_roles(practitioner: Practitioner) -> frozenset[Role]:
    """The role a practitioner's credential gives: physician, nurse, else care manager.

    >>> from carecore.model import Credential, Practitioner
    >>> sorted(practitioner_roles(Practitioner(id="rn1", name="N", credential=Credential.RN)))
    [<Role.NURSE: 'nurse'>]
    """
    credential = practitioner.credential.value
    if credential in _PHYSICIANS:
        return frozenset({Role.PHYSICIAN})
    if credential in _NURSES:
        return frozenset({Role.NURSE})
    return frozenset({Role.CARE_MANAGER})


def parse_roles(text: str, *, field: str) -> frozenset[Role]:
    """Roles named in *text*, separated by commas (``"billing, admin"``); *field* names the source.

    >>> sorted(parse_roles("billing, admin", field="CARECORE_ACTOR_ROLES"))
    [<Role.ADMIN: 'admin'>, <Role.BILLING: 'billing'>]
    >>> parse_roles("billing, boss", field="CARECORE_ACTOR_ROLES")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: CARECORE_ACTOR_ROLES='boss': is not a role (one of care_manager, nurse, physician, billing, admin, researcher, integration, system)
    """
    out = set()
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        try:
            out.add(Role(name))
        except ValueError:
            raise errors.InvalidValue(
                f"is not a role (one of {', '.join(r.value for r in Role)})",
                field=field,
                value=name,
            ) from None
    return frozenset(out)


@attrs.frozen(kw_only=True)
class StaffActor:
    """An actor known by id, its roles and care teams looked up in the store when a program opens.

    An id that names a stored practitioner is that practitioner: the role of
    its credential (:func:`practitioner_roles`), and a care-team member of the
    patients whose care teams list it (the policy reads those per patient).
    *roles* are added to it (staff who are not practitioners: billing,
    admin). An id that is neither a practitioner nor given roles has no role,
    so the default policy lets it do nothing with patient records.
    """

    id: str = attrs.field(validator=_check_id)
    roles: frozenset[Role] = attrs.field(default=frozenset(), converter=_roles)

    def resolve(self, tx: Transaction) -> Actor:
        """The :class:`Actor`, from the practitioners stored in *tx*'s store."""
        from carecore.model import Practitioner  # noqa: PLC0415 - only looked up here

        roles = set(self.roles)
        for practitioner in tx.all(Practitioner):  # the staff directory: no patient data
            if practitioner.id == self.id:
                roles |= practitioner_roles(practitioner)
        return Actor(id=self.id, roles=frozenset(roles))
