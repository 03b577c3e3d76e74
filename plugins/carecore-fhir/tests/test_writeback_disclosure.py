"""A care plan written back to an EHR is a disclosure: audited per patient, naming the server.

``CareProgram.write_back_care_plan`` reads the plan in a transaction opened for an
export, so the access policy decides and the audit row says where the plan went; the
FHIR plugin then writes it to a FHIR server on 127.0.0.1 (tests/fhir_server.py).
"""

from __future__ import annotations

import carecore_fhir.plugin
import pendulum
import pytest

from carecore import errors
from carecore.access import Actor, Role
from carecore.clock import FixedClock
from carecore.hookspecs import ExportTarget
from carecore.model import (
    AdministrativeSex,
    CarePlan,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Patient,
    ServiceFamily,
)
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram

TOKEN = "s3cret-writeback-token"


@pytest.fixture(autouse=True)
def loopback_cleartext(monkeypatch):
    """The server listens on loopback over http://: allowed on purpose."""
    monkeypatch.setenv("CARECORE_FHIR_INSECURE", "1")


@pytest.fixture
def program(tmp_path):
    pm = get_plugin_manager(entry_points=False)
    pm.register(carecore_fhir.plugin, name="fhir")
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'wb.db'}",
        actor="setup",
        clock=FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC")),
        plugin_manager=pm,
    )
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=AdministrativeSex.FEMALE,
                time_zone="UTC",
            )
        )
        tx.add(
            CareTeam(
                id="team-p1",
                patient_id="p1",
                members=[CareTeamMember(practitioner_id="rn-lee", role=CareTeamRole.CARE_MANAGER)],
            )
        )
        tx.add(
            CarePlan(
                id="cp-wb",
                patient_id="p1",
                title="Heart failure",
                families=[ServiceFamily.CCM],
                created_on=pendulum.Date(2026, 1, 5),
            )
        )
    with program:
        yield program


def _rows_after(program, last):
    with program.store.transaction(actor="t", reason="check", at=program.clock.now()) as tx:
        return [e for e in tx.audit_entries() if e.seq > last]


def _last(program):
    with program.store.transaction(actor="t", reason="seq", at=program.clock.now()) as tx:
        return tx.audit_entries()[-1].seq


def _target(server):
    server.store.token = TOKEN
    return ExportTarget(url=server.base, token=lambda *, refresh: TOKEN)


def test_a_write_back_records_the_patient_and_the_server(fhir_server, program):
    last = _last(program)
    nurse = program.as_actor(Actor(id="rn-lee", roles={Role.CARE_MANAGER}))
    assert nurse.write_back_care_plan("cp-wb", _target(fhir_server)) == ["cp-wb"]
    assert [p["id"] for p in fhir_server.store.current("CarePlan")] == ["cp-wb"]
    rows = _rows_after(program, last)
    disclosed = [r for r in rows if r.actor == "rn-lee" and r.patient_id == "p1"]
    assert ("read", "CarePlan", "cp-wb") in [(r.action, r.kind, r.key) for r in disclosed]
    # every row of the write-back (the plan, the care team the policy looked at) says where
    assert {r.reason for r in disclosed} == {f"care plan write-back to {fhir_server.base}"}
    assert not [r for r in rows if TOKEN in f"{r.reason} {r.detail}"]


@pytest.mark.parametrize(
    "actor",
    [
        Actor(id="rn-other", roles={Role.CARE_MANAGER}),  # not on the patient's care team
        Actor(id="billing:kim", roles={Role.BILLING}),  # reads for billing, sends nothing out
        Actor(id="feed", roles={Role.INTEGRATION}),
    ],
    ids=["other-care-manager", "billing", "integration"],
)
def test_an_actor_without_the_right_is_refused_audited_and_nothing_is_sent(
    fhir_server, program, actor
):
    last = _last(program)
    with pytest.raises(errors.AccessDenied) as caught:
        program.as_actor(actor).write_back_care_plan("cp-wb", _target(fhir_server))
    assert (caught.value.actor, caught.value.action, caught.value.patient_id) == (
        actor.id,
        "export",
        "p1",
    )
    assert fhir_server.store.requests == []
    rows = _rows_after(program, last)
    assert [(r.action, r.patient_id) for r in rows] == [("denied", "p1")]
    assert rows[0].reason == f"access denied: care plan write-back to {fhir_server.base}"


def test_the_destination_is_recorded_without_a_login_or_a_secret(program):
    """No exporter writes to sftp://: refused by name, the attempt recorded without secrets."""
    last = _last(program)
    target = ExportTarget(url="sftp://svc:pa55word@ehr.example.org/in?token=abc123")
    with pytest.raises(errors.NotFound) as caught:
        program.write_back_care_plan("cp-wb", target)
    assert caught.value.field == "target"
    (row,) = [r for r in _rows_after(program, last) if r.patient_id == "p1"]
    assert row.reason == "care plan write-back to sftp://ehr.example.org/in?token=***"
    assert "pa55word" not in str(caught.value)
    assert "abc123" not in str(caught.value)
