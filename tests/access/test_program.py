"""Every store operation through CareProgram asks the policy; denials raise, roll back and are audited."""

from __future__ import annotations

import contextlib

import pytest

from carecore import errors
from carecore.access import Action, Actor, DefaultPolicy, Role
from carecore.audit import audit_event
from carecore.model import CareTeam, Patient
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.service import CareProgram
from carecore.testing import registered

from .conftest import patient, team

NURSE_1 = Actor(id="rn-1", roles={Role.NURSE})


def denials(program, patient_id):
    with program.transaction("who was refused") as tx:
        return [e for e in tx.audit_entries(patient_id=patient_id) if e.action == "denied"]


def test_a_plain_id_string_is_a_trusted_caller(program):
    assert program.identity == Actor.system("loader")
    with program.transaction("read") as tx:
        assert tx.patient_ids() == ["p1", "p2"]


def test_a_denied_read_raises_rolls_back_and_is_audited(program):
    nurse = program.as_actor(NURSE_1)
    with pytest.raises(errors.AccessDenied) as caught, nurse.transaction("peek") as tx:
        tx.get(Patient, "p2")
    assert (caught.value.actor, caught.value.action, caught.value.patient_id) == (
        "rn-1",
        "read",
        "p2",
    )
    rows = denials(program, "p2")
    assert [(r.actor, r.kind, r.detail, r.reason) for r in rows] == [
        ("rn-1", "Patient", "read", "access denied: peek")
    ]
    # Nothing the refused transaction read is left in the log under the nurse.
    with program.transaction("log") as tx:
        assert [e.action for e in tx.audit_entries(patient_id="p2") if e.actor == "rn-1"] == [
            "denied"
        ]
    event = audit_event(rows[0])
    assert (event["action"], event["outcome"]) == ("R", "4")


def test_a_denied_write_keeps_nothing(program):
    nurse = program.as_actor(NURSE_1)
    with pytest.raises(errors.AccessDenied), nurse.transaction("edit") as tx:
        tx.replace(patient("p2"))
    assert [r.detail for r in denials(program, "p2")] == ["write"]


def test_import_records_asks_for_each_record(program):
    nurse = program.as_actor(NURSE_1)
    with pytest.raises(errors.AccessDenied):
        nurse.import_records([patient("p3")], reason="enrol")
    with program.transaction("check") as tx:
        assert tx.patient_ids() == ["p1", "p2"]


def test_bulk_reads_hold_only_the_team_patients(program):
    nurse = program.as_actor(NURSE_1)
    with nurse.transaction("caseload") as tx:
        assert [p.id for p in tx.all(Patient)] == ["p1"]
        assert [t.patient_id for t in tx.find_many(CareTeam, patient_ids=["p1", "p2"])] == ["p1"]
        assert tx.patient_ids() == ["p1"]
    with program.transaction("log") as tx:
        touched = {e.patient_id for e in tx.audit_entries() if e.actor == "rn-1"}
    assert "p1" in touched


def test_teams_by_id_or_by_membership(program):
    by_team = program.as_actor(Actor(id="someone", roles={Role.CARE_MANAGER}, teams={"team-p2"}))
    with by_team.transaction("by team id") as tx:
        assert tx.get(Patient, "p2").id == "p2"
    with pytest.raises(errors.AccessDenied), by_team.transaction("not that one") as tx:
        tx.get(Patient, "p1")


def test_a_care_team_added_in_the_transaction_counts(program):
    with program.transaction("team") as tx:
        tx.replace(team("p2", "rn-2", "rn-1"))
    nurse = program.as_actor(NURSE_1)
    with nurse.transaction("now on both") as tx:
        assert tx.patient_ids() == ["p1", "p2"]


def test_an_export_transaction_checks_reads_as_exports(program):
    researcher = program.as_actor(Actor(id="researcher-1", roles={Role.RESEARCHER}))
    with pytest.raises(errors.AccessDenied), researcher.transaction("look") as tx:
        tx.get(Patient, "p1")
    with researcher.transaction("research", action=Action.DEIDENTIFIED_EXPORT) as tx:
        assert [p.id for p in tx.all(Patient)] == ["p1", "p2"]
    with pytest.raises(errors.InvalidValue), researcher.transaction("x", action=Action.WRITE):
        pass


def test_a_denial_followed_by_another_error_is_still_recorded(program):
    nurse = program.as_actor(NURSE_1)
    with pytest.raises(KeyError), nurse.transaction("then a bug") as tx:  # noqa: PT012
        with contextlib.suppress(errors.AccessDenied):
            tx.find(CareTeam, patient_id="p2")
        raise KeyError("x")
    assert [(r.reason, r.kind) for r in denials(program, "p2")] == [
        ("access denied: then a bug", "CareTeam")
    ]


def test_a_plugin_replaces_the_policy(store_url):
    class EveryoneReads:
        def allows(self, request):
            return request.action is Action.READ

    class Plugin:
        @hookimpl
        def carecore_access_policy(self):
            return EveryoneReads()

    pm = get_plugin_manager(entry_points=False)
    with registered(pm, Plugin()):
        program = CareProgram.open(store_url, actor=Actor(id="anyone"), plugin_manager=pm)
        assert isinstance(program.policy, EveryoneReads)
        with program.transaction("read") as tx:
            assert tx.patient_ids() == []
    assert isinstance(CareProgram.open("memory://", plugin_manager=pm).policy, DefaultPolicy)


def test_a_plugin_policy_that_is_not_one_is_refused():
    class Plugin:
        @hookimpl
        def carecore_access_policy(self):
            return "allow all"

    pm = get_plugin_manager(entry_points=False)
    with registered(pm, Plugin()), pytest.raises(errors.PluginError):
        CareProgram.open("memory://", plugin_manager=pm)


def test_a_policy_given_must_be_one():
    with pytest.raises(errors.InvalidValue) as caught:
        CareProgram.open("memory://", policy=lambda request: True)
    assert caught.value.field == "policy"


def test_a_denial_the_store_cannot_record_is_still_a_denial(program, monkeypatch, caplog):
    from carecore.storage.sql import SqlTransaction

    def broken(self, **_ids):
        raise errors.StoreError("read-only", field="url", value="x")

    monkeypatch.setattr(SqlTransaction, "record_denial", broken)
    nurse = program.as_actor(NURSE_1)
    with pytest.raises(errors.AccessDenied), nurse.transaction("peek") as tx:
        tx.get(Patient, "p2")
    assert "access denials could not be recorded" in caplog.text
    assert "Okafor" not in caplog.text
