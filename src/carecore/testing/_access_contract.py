"""The access-policy contract: what a replacement for carecore's default policy must do.

See :class:`AccessPolicyContract` (re-exported by :mod:`carecore.testing.contracts`).
"""
# ruff: noqa: S101, PT012 - the contract's tests are pytest tests

from __future__ import annotations

import contextlib
import itertools
from typing import TYPE_CHECKING, Any

import pendulum
import pytest

from carecore import errors
from carecore.access import AccessPolicy, AccessRequest, Action, Actor, Role
from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ClaimLine,
    Coding,
    Condition,
    Credential,
    Patient,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
)
from carecore.service import CareProgram

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from carecore.protocols import Transaction

__all__ = ["AccessPolicyContract", "access_practice", "matrix"]

#: The actions a care-team member and a stranger are asked about.
PATIENT_ACTIONS = (Action.READ, Action.WRITE, Action.EXPORT)
#: Kinds every policy is asked about.
KINDS = ("Patient", "CarePlan", "Condition", "TimeEntry", "ClaimLine", "AuditEntry")


def _patient(pid: str) -> Patient:
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Quist",
        birth_date=pendulum.Date(1950, 1, 1),
        sex=AdministrativeSex.UNKNOWN,
        time_zone="UTC",
    )


def access_practice(url: str, *, policy: AccessPolicy | None = None) -> CareProgram:
    """A program (trusted loader) over *url* holding patients p1 and p2.

    p1's care team ``team-p1`` lists practitioner ``rn-1``, p2's ``team-p2``
    lists ``rn-2``; each patient has one condition (``c-p1``, ``c-p2``).
    """
    program = CareProgram.open(url, actor="contract-loader", policy=policy)
    program.import_records(
        [
            Practitioner(id="rn-1", name="Nurse One", credential=Credential.RN),
            Practitioner(id="rn-2", name="Nurse Two", credential=Credential.RN),
        ],
        reason="staff",
    )
    program.import_records([_patient("p1"), _patient("p2")], reason="patients")
    program.import_records(
        [
            CareTeam(
                id=f"team-{pid}",
                patient_id=pid,
                members=[CareTeamMember(practitioner_id=rn, role=CareTeamRole.CARE_MANAGER)],
            )
            for pid, rn in (("p1", "rn-1"), ("p2", "rn-2"))
        ],
        reason="teams",
    )
    program.import_records(
        [
            Condition(id=f"c-{pid}", patient_id=pid, coding=Coding.icd10cm("E11.9"))
            for pid in ("p1", "p2")
        ],
        reason="conditions",
    )
    return program


def _claim_line(pid: str, n: int) -> ClaimLine:
    return ClaimLine(
        patient_id=pid,
        code="99490",
        units=1,
        family=ServiceFamily.CCM,
        billing_practitioner_id="rn-1",
        date_of_service=pendulum.Date(2026, 3, 1).add(days=n % 31),  # one key per operation
        period=ServicePeriod.month(2026, 3),
    )


#: One operation per action, on patient *pid* (None: the action is about no patient).
_Operation = tuple[Action, str, bool, "Callable[[Transaction, str, int], object]"]

_OPERATIONS: tuple[_Operation, ...] = (
    (Action.READ, "Condition", True, lambda tx, pid, _n: tx.get(Condition, f"c-{pid}")),
    (Action.EXPORT, "Condition", True, lambda tx, pid, _n: tx.get(Condition, f"c-{pid}")),
    (
        Action.DEIDENTIFIED_EXPORT,
        "Condition",
        True,
        lambda tx, pid, _n: tx.get(Condition, f"c-{pid}"),
    ),
    (
        Action.WRITE,
        "Condition",
        True,
        lambda tx, pid, n: tx.add(
            Condition(id=f"m-{pid}-{n}", patient_id=pid, coding=Coding.icd10cm("I10"))
        ),
    ),
    (Action.BILL, "ClaimLine", True, lambda tx, pid, n: tx.add(_claim_line(pid, n))),
    (Action.DELIVER, "OutboundMessage", False, lambda tx, _pid, _n: tx.outbox()),
    (Action.ADMIN, "AuditEntry", False, lambda tx, _pid, _n: tx.audit_entries()),
)


def matrix(program: CareProgram, policy: AccessPolicy) -> list[str]:
    """Every role x action x own or other patient done through *program*, against *policy*'s answers.

    *program* holds :func:`access_practice`'s records. Each actor (one role,
    on care team ``team-p1``) does each action to p1 (its own patient) and
    p2 (another's) in a transaction of its own; the program must allow it
    exactly when the policy does, and raise
    :class:`~carecore.errors.AccessDenied` naming the actor otherwise.
    Returns the disagreements (an empty list when there are none).
    """
    wrong: list[str] = []
    n = 0
    for role, (action, kind, per_patient, operation) in itertools.product(Role, _OPERATIONS):
        actor = Actor(id=f"{role.value}-1", roles={role}, teams={"team-p1"})
        acting = program.as_actor(actor)
        for pid in ("p1", "p2") if per_patient else ("p1",):
            n += 1
            request = AccessRequest(
                actor=actor,
                action=action,
                kind=kind,
                patient_id=pid if per_patient else None,
                care_teams=("team-p1",) if per_patient and pid == "p1" else (),
            )
            expected = policy.allows(request)
            read = action if action in {Action.EXPORT, Action.DEIDENTIFIED_EXPORT} else Action.READ
            try:
                with acting.transaction(f"matrix {n}", action=read) as tx:
                    operation(tx, pid, n)
            except errors.AccessDenied as denied:
                if expected or denied.actor != actor.id:
                    wrong.append(f"{role.value} {action.value} {pid}: refused ({denied})")
            else:
                if not expected:
                    wrong.append(f"{role.value} {action.value} {pid}: allowed")
    return wrong


class AccessPolicyContract:
    """What an access policy must do; override :meth:`policy` (and :meth:`store_url`).

    The promises: it answers every question with a ``bool``; it refuses an
    actor with no role, and a researcher, every identified record; it lets a
    patient's care team (a nurse on it) read and write that patient's
    records and refuses the nurse of another team; being on a care team
    never takes away what was allowed without it; and a program using it
    raises :class:`~carecore.errors.AccessDenied`, rolls back and records
    the denial in the audit log::

        class TestCasbinPolicy(AccessPolicyContract):
            @pytest.fixture
            def policy(self):
                return CasbinPolicy("model.conf", "policy.csv")
    """

    @pytest.fixture
    def policy(self) -> AccessPolicy:
        """The policy under test (override)."""
        raise NotImplementedError(
            "override the 'policy' fixture in your TestXxx(AccessPolicyContract)"
        )

    @pytest.fixture
    def store_url(self) -> str:
        """Where the program tests keep their records (default ``memory://``)."""
        return "memory://"

    @pytest.fixture
    def program(self, store_url: str, policy: AccessPolicy) -> Iterator[CareProgram]:
        """:func:`access_practice` over :meth:`store_url`, with the policy under test."""
        with access_practice(store_url, policy=policy) as program:
            yield program

    # -- the policy on its own --------------------------------------------------------

    def test_is_an_access_policy(self, policy: AccessPolicy) -> None:
        """It has ``allows(request)``."""
        assert isinstance(policy, AccessPolicy)

    def test_answers_every_question_with_a_bool(self, policy: AccessPolicy) -> None:
        """Every role, action, kind, patient and care-team answer is True or False."""
        for role, action, kind, patient, teams in itertools.product(
            Role, Action, KINDS, ("p1", None), ((), ("team-p1",))
        ):
            actor = Actor(id=f"{role.value}-1", roles={role}, teams={"team-p1"})
            request = AccessRequest(
                actor=actor,
                action=action,
                kind=kind,
                patient_id=patient,
                care_teams=teams if patient else (),
            )
            answer = policy.allows(request)
            assert isinstance(answer, bool), (request, answer)

    def test_refuses_an_actor_with_no_role(self, policy: AccessPolicy) -> None:
        """An actor with no role and on no care team may do nothing to a patient's records."""
        nobody = Actor(id="nobody")
        for action, kind in itertools.product(Action, KINDS):
            request = AccessRequest(actor=nobody, action=action, kind=kind, patient_id="p1")
            assert policy.allows(request) is False, request

    def test_a_researcher_reads_no_identified_record(self, policy: AccessPolicy) -> None:
        """A researcher may not read, write or export identified records."""
        researcher = Actor(id="researcher-1", roles={Role.RESEARCHER})
        for action, kind in itertools.product(PATIENT_ACTIONS, KINDS):
            request = AccessRequest(actor=researcher, action=action, kind=kind, patient_id="p1")
            assert policy.allows(request) is False, request

    def test_the_care_team_reads_and_writes_its_patient(self, policy: AccessPolicy) -> None:
        """A nurse on the patient's care team may read and write the patient's records."""
        nurse = Actor(id="rn-1", roles={Role.NURSE}, teams={"team-p1"})
        for action in (Action.READ, Action.WRITE):
            request = AccessRequest(
                actor=nurse,
                action=action,
                kind="Condition",
                patient_id="p1",
                care_teams=("team-p1",),
            )
            assert policy.allows(request) is True, request

    def test_another_team_is_refused(self, policy: AccessPolicy) -> None:
        """A nurse on no care team of the patient may not read or write the patient's records."""
        nurse = Actor(id="rn-2", roles={Role.NURSE}, teams={"team-p2"})
        for action, kind in itertools.product(PATIENT_ACTIONS, KINDS):
            request = AccessRequest(actor=nurse, action=action, kind=kind, patient_id="p1")
            assert policy.allows(request) is False, request

    def test_a_care_team_never_takes_away(self, policy: AccessPolicy) -> None:
        """What is allowed without a care team is allowed with one (a program asks without first)."""
        for role, action, kind in itertools.product(Role, Action, KINDS):
            actor = Actor(id=f"{role.value}-1", roles={role}, teams={"team-p1"})
            alone = AccessRequest(actor=actor, action=action, kind=kind, patient_id="p1")
            if policy.allows(alone):
                on_team = AccessRequest(
                    actor=actor, action=action, kind=kind, patient_id="p1", care_teams=("team-p1",)
                )
                assert policy.allows(on_team) is True, on_team

    def test_every_patient_shortcut_agrees(self, policy: AccessPolicy) -> None:
        """A policy's ``allows_every_patient`` (when it has one) claims only what ``allows`` grants."""
        every: Any = getattr(policy, "allows_every_patient", None)
        if every is None:
            pytest.skip("the policy has no allows_every_patient shortcut")
        for role, action, kind in itertools.product(Role, Action, KINDS):
            actor = Actor(id=f"{role.value}-1", roles={role})
            if every(actor, action, kind) is True:
                request = AccessRequest(actor=actor, action=action, kind=kind, patient_id="p2")
                assert policy.allows(request) is True, request

    # -- a program using it ----------------------------------------------------------

    def test_a_program_refuses_and_records_the_denial(self, program: CareProgram) -> None:
        """A stranger's read raises AccessDenied naming ids only; the log records ``denied``."""
        stranger = program.as_actor(Actor(id="rn-2", roles={Role.NURSE}, teams={"team-p2"}))
        with pytest.raises(errors.AccessDenied) as caught, stranger.transaction("peek") as tx:
            tx.get(Condition, "c-p1")
        err = caught.value
        assert (err.actor, err.patient_id) == ("rn-2", "p1")
        assert "Ada" not in str(err)
        assert "Quist" not in str(err)  # ids only, never a name
        with program.transaction("contract: audit") as tx:
            rows = [e for e in tx.audit_entries(patient_id="p1") if e.actor == "rn-2"]
        assert [(e.action, e.detail) for e in rows] == [("denied", "read")]

    def test_a_denial_the_block_catches_still_rolls_back(self, program: CareProgram) -> None:
        """A write in the same transaction as a caught denial is not kept."""
        nurse = program.as_actor(Actor(id="rn-1", roles={Role.NURSE}, teams={"team-p1"}))
        extra = Condition(id="c-p1-2", patient_id="p1", coding=Coding.icd10cm("I10"))
        with pytest.raises(errors.AccessDenied), nurse.transaction("contract: mixed") as tx:
            tx.add(extra)
            with contextlib.suppress(errors.AccessDenied):
                tx.get(Condition, "c-p2")
        with program.transaction("contract: check") as tx:
            assert [c.id for c in tx.find(Condition, patient_id="p1")] == ["c-p1"]

    def test_the_program_does_what_the_policy_says(
        self, program: CareProgram, policy: AccessPolicy
    ) -> None:
        """Each role x action x own or other patient through a program, as the policy answers."""
        assert matrix(program, policy) == []

    def test_the_care_team_works_through_a_program(self, program: CareProgram) -> None:
        """The nurse on p1's team reads and writes p1's records; bulk reads hold only p1's."""
        nurse = program.as_actor(Actor(id="rn-1", roles={Role.NURSE}, teams={"team-p1"}))
        with nurse.transaction("contract: chart") as tx:
            assert tx.get(Condition, "c-p1").patient_id == "p1"
            tx.add(Condition(id="c-p1-3", patient_id="p1", coding=Coding.icd10cm("I10")))
            assert {c.patient_id for c in tx.all(Condition)} == {"p1"}
            assert tx.patient_ids() == ["p1"]
