"""Urgent findings: an assessment with a reason to act now tells the care manager, in its transaction."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Patient,
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


@pytest.fixture
def program(carecore_pm):
    program = CareProgram.open(
        "memory://", clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm
    )
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
