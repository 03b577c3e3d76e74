"""Who owns outreach: the patient's care manager, else the practice's care managers in turn (issue 22).

Reaching a patient who is not enrolled yet (an identified patient, one in
outreach, an eligible patient without an enrollment) is a care manager's
work, never a billing physician's while the practice has a care manager.
"""

from __future__ import annotations

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.model import (
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Enrollment,
    ServiceFamily,
    SupervisionLevel,
)
from carecore.outreach import build_worklists
from carecore.registry import Criterion, Eligibility, caseloads, registry_worklists

DAY = pendulum.Date(2026, 3, 4)
CCM = ServiceFamily.CCM
OUTREACH = {"enrollment-outreach", "eligible-not-enrolled"}


def team(pid: str, manager: str) -> CareTeam:
    return CareTeam(
        id=f"team-{pid}",
        patient_id=pid,
        members=[
            CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
            CareTeamMember(
                practitioner_id=manager,
                role=CareTeamRole.CARE_MANAGER,
                supervisor_id="dr1",
                supervision=SupervisionLevel.GENERAL,
            ),
        ],
    )


def enrolled(pid: str) -> Enrollment:
    return Enrollment.start(
        id=f"{pid}-ccm",
        patient_id=pid,
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=pendulum.Date(2026, 1, 5),
    )


def identified(pid: str) -> Enrollment:
    return Enrollment.identify(
        id=f"{pid}-ccm",
        patient_id=pid,
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=pendulum.Date(2026, 3, 1),
    )


def eligible(pid: str) -> Eligibility:
    return Eligibility(
        patient_id=pid,
        family=CCM,
        as_of=DAY,
        criteria=(Criterion(rule="alive", met=True, detail="alive"),),
        conditions=("E11.65",),
    )


def world() -> dict[str, object]:
    """rn-a follows two enrolled patients, rn-b one; p3 (rn-b's team) and p4..p7 to reach."""
    return {
        "today": DAY,
        "enrollments": [
            enrolled("p1"),
            enrolled("p2"),
            enrolled("p9"),
            identified("p3"),
            identified("p4"),
            identified("p5"),
            identified("p6"),
        ],
        "care_teams": [
            team("p1", "rn-a"),
            team("p2", "rn-a"),
            team("p9", "rn-b"),
            team("p3", "rn-b"),
        ],
        "eligibility": [eligible("p7")],
    }


def outreach_owners(lists) -> dict[str, str]:
    return {i.patient_id: i.owner for w in lists.values() for i in w.items if i.kind in OUTREACH}


def test_outreach_goes_to_the_patients_care_manager_else_the_least_loaded_care_manager():
    lists = registry_worklists(**world())
    # p3 has rn-b on their care team. The others go in id order to the care
    # manager with the fewest patients (caseload, then outreach given so far),
    # the lower id on a tie: loads rn-a 2, rn-b 1 -> p4 rn-b (2, 2) -> p5 rn-a
    # (3, 2) -> p6 rn-b (3, 3) -> p7 rn-a.
    assert outreach_owners(lists) == {
        "p3": "rn-b",
        "p4": "rn-b",
        "p5": "rn-a",
        "p6": "rn-b",
        "p7": "rn-a",
    }
    assert "dr1" not in lists  # the billing physician gets none of it
    # outreach is not a caseload: only enrolled patients count there
    assert {w.owner: w.caseload for w in lists.values()} == {"rn-a": 2, "rn-b": 1}
    assert {
        c.owner: c.size for c in caseloads(world()["enrollments"], world()["care_teams"], on=DAY)
    } == {
        "rn-a": 2,
        "rn-b": 1,
    }


def test_the_outreach_builder_alone_follows_the_same_rule():
    args = world()
    del args["eligibility"]
    lists = build_worklists(**args)
    assert outreach_owners(lists) == {"p3": "rn-b", "p4": "rn-b", "p5": "rn-a", "p6": "rn-b"}


def test_without_any_care_manager_the_billing_practitioner_reaches_out():
    args = world()
    args["care_teams"] = []
    lists = registry_worklists(**args)
    # no enrollment, no care manager: nobody to name
    assert outreach_owners(lists) == {
        "p3": "dr1",
        "p4": "dr1",
        "p5": "dr1",
        "p6": "dr1",
        "p7": "unassigned",
    }


@given(st.randoms(use_true_random=False))
def test_the_owners_do_not_depend_on_the_order_of_the_records(rnd):
    args = world()
    for name in ("enrollments", "care_teams", "eligibility"):
        shuffled = list(args[name])
        rnd.shuffle(shuffled)
        args[name] = shuffled
    assert outreach_owners(registry_worklists(**args)) == outreach_owners(
        registry_worklists(**world())
    )


def two_teams_two_enrollments() -> dict[str, list[object]]:
    """p1 on two care teams with different care managers; p2 enrolled twice with two physicians."""
    second_team = CareTeam(
        id="team-p1-bh",
        patient_id="p1",
        members=[
            CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
            CareTeamMember(
                practitioner_id="rn-c",
                role=CareTeamRole.CARE_MANAGER,
                supervisor_id="dr1",
                supervision=SupervisionLevel.GENERAL,
            ),
        ],
    )
    pcm = Enrollment.start(
        id="p2-pcm",
        patient_id="p2",
        program_id="pcm",
        family=ServiceFamily.PCM,
        billing_practitioner_id="dr2",
        on=pendulum.Date(2026, 2, 1),
    )
    return {
        "enrollments": [enrolled("p1"), enrolled("p2"), pcm],
        "care_teams": [team("p1", "rn-a"), second_team],
    }


@given(st.randoms(use_true_random=False))
def test_a_patient_with_two_teams_or_two_enrollments_has_one_owner_whatever_the_order(rnd):
    records = two_teams_two_enrollments()
    expected = {
        c.owner: c.size for c in caseloads(records["enrollments"], records["care_teams"], on=DAY)
    }
    # the lower team id names the care manager; the latest enrollment the physician
    assert expected == {"rn-a": 1, "dr2": 1}
    for name in ("enrollments", "care_teams"):
        rnd.shuffle(records[name])
    assert {
        c.owner: c.size for c in caseloads(records["enrollments"], records["care_teams"], on=DAY)
    } == expected
