"""Urgent findings: an assessment with a reason to act now tells the care manager, in its transaction."""

from __future__ import annotations

import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore import audit, errors
from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Enrollment,
    Patient,
    ServiceFamily,
    SocialNeed,
)
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")
PHQ9_ITEMS = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",  # item 9
)


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path, carecore_pm):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'u.db'}"
    program = CareProgram.open(url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm)
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        )
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)],
            )
        )
    yield program
    program.close()


def phq9(item9):
    answers = dict.fromkeys(PHQ9_ITEMS, 1)
    answers[PHQ9_ITEMS[-1]] = item9
    return answers


def outbox(program):
    with program.transaction("read") as tx:
        return [i.message for i in tx.outbox()]


def test_phq9_item_9_above_0_queues_a_message_to_the_care_manager(program):
    program.assess("p1", "phq-9", phq9(0), result_id="r0")
    assert outbox(program) == []
    result = program.assess("p1", "phq-9", phq9(1), result_id="r1")
    assert result.flags == ("suicidal-ideation",)
    (message,) = outbox(program)
    assert (message.channel, message.recipient) == ("console", "rn-park")
    assert message.subject == "Urgent: suicidal-ideation for p1"
    assert "r1" in message.body
    assert "Okafor" not in message.subject + message.body  # ids only


def test_a_failed_write_queues_no_alert(program):
    program.assess("p1", "phq-9", phq9(2), result_id="r1")
    with pytest.raises(errors.ConflictError):
        program.assess("p1", "phq-9", phq9(3), result_id="r1")  # the same id again
    assert len(outbox(program)) == 1  # the first one's only


def ahc(safety):
    return {
        "71802-3": "LA31993-1",
        "96778-6": ["LA9-3"],
        "88122-7": "LA6729-3",
        "88123-5": "LA28398-8",
        "93030-5": "LA33-6",
        "96779-4": "LA32-8",
        "95618-5": safety,
        "95617-7": safety,
        "95616-9": safety,
        "95615-1": safety,
    }


def test_a_positive_safety_screen_alerts_the_care_manager(program):
    program.assess("p1", "ahc-hrsn", ahc(1), result_id="s0")
    assert outbox(program) == []
    result = program.assess("p1", "ahc-hrsn", ahc(4), result_id="s1")
    assert SocialNeed.INTERPERSONAL_SAFETY in result.needs
    (message,) = outbox(program)
    assert message.subject == "Urgent: interpersonal-safety for p1"
    assert message.recipient == "rn-park"


def test_the_finding_tops_the_worklist_until_acknowledged_and_the_acknowledgement_is_audited(
    program,
):
    with program.transaction("setup") as tx:
        tx.add(
            Enrollment.identify(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=pendulum.Date(2026, 2, 1),
            )
        )
    program.assess("p1", "phq-9", phq9(1), result_id="r1", on=pendulum.Date(2026, 3, 4))
    lists = program.worklists(time_zone="America/Chicago")
    items = [(i.kind, i.detail) for i in lists["rn-park"].items]
    assert items[0] == ("urgent-finding", "suicidal-ideation (r1)")
    assert ("enrollment-outreach", "CCM") in items[1:]  # due today, but after the finding
    # Still at the top days later, ahead of anything overdue.
    later = program.worklists(time_zone="America/Chicago", on=pendulum.Date(2026, 3, 20))
    assert later["rn-park"].items[0].kind == "urgent-finding"
    program.assess("p1", "phq-9", phq9(0), result_id="r0")
    with pytest.raises(errors.InvalidValue, match="no urgent finding"):
        program.acknowledge_finding("r0")
    done = program.acknowledge_finding("r1")
    assert (done.acknowledged_by, done.acknowledged_at) == ("rn", NOW)
    after = program.worklists(time_zone="America/Chicago")
    assert "urgent-finding" not in {i.kind for i in after["rn-park"].items}
    with pytest.raises(errors.InvalidValue, match="acknowledged already"):
        program.acknowledge_finding("r1")
    with program.transaction("check") as tx:
        trail = audit.entries(tx, patient_id="p1")
    assert any(
        (e.actor, e.action, e.kind, e.key, e.reason)
        == ("rn", "update", "AssessmentResult", "r1", "urgent finding acknowledged")
        for e in trail
    ), [(e.action, e.kind, e.key) for e in trail]


def test_the_cli_shows_the_finding_first_and_acknowledges_it(program, tmp_path, carecore_pm):
    if program.store.url.startswith("memory"):
        pytest.skip("the CLI opens a store by URL")
    program.assess("p1", "phq-9", phq9(1), result_id="r1")
    url = program.store.url
    program.close()
    app = make_app(carecore_pm)
    shown = CliRunner().invoke(app, ["worklist", "--db", url, "--on", "2026-03-04"])
    assert shown.exit_code == 0, shown.output
    first = shown.output.splitlines()[1]
    assert "Okafor, Ada" in first
    assert first.lstrip().startswith("URGENT since 2026-03-04")
    assert "Contact the patient today" in first
    assert "suicidal-ideation (r1)" in first
    unknown = CliRunner().invoke(app, ["worklist", "--db", url, "--acknowledge", "r404"])
    assert unknown.exit_code == 2, unknown.output
    assert "r404" in unknown.output
    done = CliRunner().invoke(
        app,
        ["--actor", "rn-lee", "worklist", "--db", url, "--acknowledge", "r1", "--format", "json"],
        env={"CARECORE_ACTOR_ROLES": "system"},  # a named actor is held to the access policy
    )
    assert done.exit_code == 0, done.output
    assert "acknowledged r1 as rn-lee" in done.stderr
    lists = json.loads(done.stdout)
    assert "urgent-finding" not in {i["kind"] for wl in lists.values() for i in wl["items"]}
