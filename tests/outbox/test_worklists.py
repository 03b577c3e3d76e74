"""Worklists and outreach campaigns from the program's records."""

from __future__ import annotations

import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ContactMode,
    Enrollment,
    InteractiveContact,
    Patient,
    PatientClass,
    RoleClass,
    ServiceFamily,
)
from carecore.notify import NotificationRule
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")
TZ = "America/Chicago"


def patient(pid):
    return Patient(
        id=pid,
        given_name="Pat",
        family_name=pid,
        birth_date=pendulum.date(1950, 1, 1),
        sex=AdministrativeSex.UNKNOWN,
        time_zone=TZ,
    )


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'work.db'}"


@pytest.fixture
def program(url, carecore_pm):
    rules = [
        NotificationRule(
            id="check-in",
            event="OutreachDue",
            channel="sms",
            recipient="{patient_id}",
            subject="Time for your monthly check-in",
            audience="patient",
        ),
        NotificationRule(
            id="team",
            event="OutreachDue",
            channel="console",
            recipient="{owner}",
            subject="{kind} for {patient_id} due {due}",
        ),
    ]
    program = CareProgram.open(
        url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm, rules=rules
    )
    day = pendulum.Date(2026, 2, 1)
    with program.transaction("setup") as tx:
        for pid in ("p1", "p2", "p3"):
            tx.add(patient(pid))
        tx.add(
            Enrollment.start(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=day,
            )
        )
        tx.add(
            Enrollment.start(
                id="e2",
                patient_id="p2",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=day,
            )
        )
        tx.add(
            Enrollment.identify(
                id="e3",
                patient_id="p3",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=day,
            )
        )
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[
                    CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
                    CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER),
                ],
            )
        )
        tx.add(
            InteractiveContact(
                id="k1",
                patient_id="p2",
                at=pendulum.datetime(2026, 3, 2, 10, tz=TZ),
                mode=ContactMode.PHONE,
                successful=True,
                role_class=RoleClass.CLINICAL_STAFF,
                performer_id="rn-park",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
            )
        )
    at = pendulum.datetime(2026, 3, 3, 15, tz=TZ)
    program.receive(
        AdtEvent(
            id="a1",
            source_key="a1",
            patient_id="p1",
            kind=AdtEventKind.DISCHARGE,
            occurred_at=at,
            discharged_at=at,
            patient_class=PatientClass.INPATIENT,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
        ),
        source="hl7",
    )
    yield program
    program.close()


def test_worklists_by_care_manager_with_caseloads(program):
    lists = program.worklists(time_zone=TZ)
    assert set(lists) == {"dr1", "rn-park"}
    park = lists["rn-park"]
    assert park.caseload == 1
    assert [(i.kind, i.patient_id, str(i.due)) for i in park.items] == [
        # p3 is not enrolled yet: reaching them is the care manager's work (issue 22)
        ("enrollment-outreach", "p3", "2026-03-04"),
        ("tcm-contact", "p1", "2026-03-05"),
        ("tcm-visit", "p1", "2026-03-10"),
        ("tcm-med-rec", "p1", "2026-03-17"),
        ("ccm-check-in", "p1", "2026-03-31"),
    ]
    dr = lists["dr1"]
    assert dr.caseload == 1  # p2 (p1 has a care manager; p3 is not enrolled yet)
    assert dr.items == ()  # p2 reached this month; p3's outreach is rn-park's


def test_campaigns_queue_messages_once(program):
    first = program.run_campaigns(kinds=["ccm-check-in", "enrollment-outreach"], time_zone=TZ)
    again = program.run_campaigns(kinds=["ccm-check-in", "enrollment-outreach"], time_zone=TZ)
    assert (first, again) == (4, 0)  # two items, each to the patient and to the owner
    with program.transaction("check") as tx:
        got = sorted(
            (i.message.channel, i.message.recipient, i.message.subject) for i in tx.outbox()
        )
    assert (
        "sms",
        "p1",
        "You have a message from your care team. Please call us or check your patient portal.",
    ) in got
    assert ("console", "rn-park", "enrollment-outreach for p3 due 2026-03-04") in got


def test_worklist_cli(program, url, carecore_pm):
    program.close()
    app = make_app(carecore_pm)
    result = CliRunner().invoke(
        app, ["worklist", "--db", url, "--time-zone", TZ, "--on", "2026-03-04", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["rn-park"]["caseload"] == 1
    assert [i["kind"] for i in data["rn-park"]["items"]] == [
        "enrollment-outreach",
        "tcm-contact",
        "tcm-visit",
        "tcm-med-rec",
        "ccm-check-in",
    ]
    table = CliRunner().invoke(
        app, ["worklist", "--db", url, "--owner", "dr1", "--on", "2026-03-04"]
    )
    assert "dr1: caseload 1, 0 item(s)" in table.output
    later = json.loads(
        CliRunner()
        .invoke(app, ["worklist", "--db", url, "--on", "2026-04-10", "--format", "json"])
        .output
    )
    assert [i["kind"] for i in later["rn-park"]["items"]] == [
        "enrollment-outreach",  # p3, still to reach
        "ccm-check-in",
    ]  # the TCM period is over
    bad = CliRunner().invoke(app, ["worklist", "--db", url, "--on", "2026-02-30"])
    assert bad.exit_code == 2
    assert "--on" in bad.output


def test_worklist_refuses_an_unknown_time_zone(program, url, carecore_pm):
    program.close()
    result = CliRunner().invoke(
        make_app(carecore_pm), ["worklist", "--db", url, "--time-zone", "Mars/Base"]
    )
    assert result.exit_code == 2
    assert "--time-zone='Mars/Base'" in result.output
