"""The default access policy, as the table in docs/explanation/access-control.md shows it."""

from __future__ import annotations

import pickle

import pytest

from carecore import errors
from carecore.access import (
    BILLING_KINDS,
    AccessRequest,
    Action,
    Actor,
    DefaultPolicy,
    Role,
    check,
)

POLICY = DefaultPolicy()
CLINICAL = (Role.CARE_MANAGER, Role.NURSE, Role.PHYSICIAN)


def ask(role, action, *, own=True, kind="CarePlan", patient="p1"):
    actor = Actor(id=f"{role.value}-1", roles={role}, teams={"team-p1"})
    teams = ("team-p1",) if own and patient is not None else ()
    return POLICY.allows(
        AccessRequest(actor=actor, action=action, kind=kind, patient_id=patient, care_teams=teams)
    )


@pytest.mark.parametrize("role", CLINICAL)
@pytest.mark.parametrize("action", [Action.READ, Action.WRITE, Action.EXPORT])
def test_care_team_members_work_on_their_patients_only(role, action):
    assert ask(role, action, own=True)
    assert not ask(role, action, own=False)


@pytest.mark.parametrize("role", CLINICAL)
@pytest.mark.parametrize(
    "action", [Action.BILL, Action.DEIDENTIFIED_EXPORT, Action.DELIVER, Action.ADMIN]
)
def test_care_team_members_do_nothing_else(role, action):
    assert not ask(role, action, own=True)


def test_billing_reads_what_a_close_reads_and_bills_anyone():
    assert ask(Role.BILLING, Action.READ, own=False, kind="TimeEntry")
    assert ask(Role.BILLING, Action.BILL, own=False, kind="ClaimLine")
    for kind in ("AssessmentResult", "Observation", "MedicationStatement", "ContactPreferences"):
        assert kind not in BILLING_KINDS
        assert not ask(Role.BILLING, Action.READ, own=True, kind=kind)
    assert not ask(Role.BILLING, Action.WRITE, own=True, kind="TimeEntry")
    assert not ask(Role.BILLING, Action.EXPORT, own=True)


def test_integrations_write_what_a_feed_carries():
    assert ask(Role.INTEGRATION, Action.WRITE, own=False, kind="AdtEvent")
    assert ask(Role.INTEGRATION, Action.READ, own=False, kind="Patient")
    assert not ask(Role.INTEGRATION, Action.WRITE, own=False, kind="CarePlan")
    assert not ask(Role.INTEGRATION, Action.BILL, own=False, kind="ClaimLine")
    assert not ask(Role.INTEGRATION, Action.EXPORT, own=False, kind="Patient")


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.DEIDENTIFIED_EXPORT])
def test_researchers_only_export_de_identified(action):
    assert not ask(Role.RESEARCHER, action, own=True, kind="Patient")
    assert ask(Role.RESEARCHER, Action.DEIDENTIFIED_EXPORT, own=False, kind="Patient")


def test_admins_manage_the_store_not_the_chart():
    assert ask(Role.ADMIN, Action.ADMIN, patient=None, kind="AuditEntry")
    assert ask(Role.ADMIN, Action.READ, own=False, kind="AuditEntry")
    assert not ask(Role.ADMIN, Action.READ, own=False, kind="CarePlan")
    assert not ask(Role.ADMIN, Action.WRITE, own=False, kind="Patient")


def test_the_staff_directory_is_read_by_every_reading_role():
    for role in (*CLINICAL, Role.BILLING, Role.INTEGRATION, Role.ADMIN):
        assert ask(role, Action.READ, patient=None, kind="Practitioner"), role
    assert not ask(Role.RESEARCHER, Action.READ, patient=None, kind="Practitioner")
    assert not ask(Role.NURSE, Action.WRITE, patient=None, kind="Practitioner")
    assert ask(Role.ADMIN, Action.WRITE, patient=None, kind="Practitioner")


def test_an_actor_with_no_role_may_do_nothing():
    nobody = Actor(id="nobody")
    for action in Action:
        request = AccessRequest(actor=nobody, action=action, kind="Patient", patient_id="p1")
        assert not POLICY.allows(request)


@pytest.mark.parametrize("action", list(Action))
def test_the_system_role_may_do_everything(action):
    assert ask(Role.SYSTEM, action, own=False)


def test_a_denial_names_ids_only_and_survives_pickling():
    request = AccessRequest(
        actor=Actor(id="rn-9", roles={Role.NURSE}),
        action=Action.READ,
        kind="Patient",
        patient_id="p1",
    )
    with pytest.raises(errors.AccessDenied) as caught:
        check(POLICY, request)
    err = caught.value
    assert (err.actor, err.action, err.patient_id, err.kind) == ("rn-9", "read", "p1", "Patient")
    assert str(err) == "actor='rn-9': may not read Patient of patient p1"
    again = pickle.loads(pickle.dumps(err))  # noqa: S301 - our own bytes
    assert str(again) == str(err)
    assert again.patient_id == "p1"


def test_a_policy_that_does_not_answer_a_bool_is_a_plugin_error():
    class Sloppy:
        def allows(self, request):
            return None

    request = AccessRequest(actor=Actor(id="x"), action=Action.READ, patient_id="p1")
    with pytest.raises(errors.PluginError):
        check(Sloppy(), request)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("id", {"id": " "}),
        ("roles", {"id": "x", "roles": "nurse"}),
        ("roles", {"id": "x", "roles": ["janitor"]}),
        ("teams", {"id": "x", "teams": "team-1"}),
        ("teams", {"id": "x", "teams": [""]}),
    ],
)
def test_a_bad_actor_is_refused_by_field(field, kwargs):
    with pytest.raises(errors.InvalidValue) as caught:
        Actor(**kwargs)
    assert caught.value.field == field
