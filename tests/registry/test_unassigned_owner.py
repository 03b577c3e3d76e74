"""Nobody's work: attestations go to who can attest, TCM to a care manager (issue 22).

An item owned by ``unassigned`` is on nobody's day. A ``needs-attestation``
item goes to the patient's billing practitioner, else to the practice's
practitioners who can bill the program, in turn; TCM work of a patient with
no care manager goes to the practice's care managers by the outreach rule
itself. ``unassigned`` is left only when the practice has no one of the role,
and the worklist row then says so.
"""

from __future__ import annotations

import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.model import (
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Credential,
    Enrollment,
    Practitioner,
    ServiceFamily,
    SupervisionLevel,
    TransitionEpisode,
)
from carecore.outreach import build_worklists
from carecore.registry import Criterion, Eligibility, registry_worklists, worklist_rows

DAY = pendulum.Date(2026, 3, 4)
CCM = ServiceFamily.CCM
TCM = {"tcm-contact", "tcm-visit", "tcm-med-rec"}
REACH = {"enrollment-outreach", "eligible-not-enrolled"}


def team(pid: str, manager: str, billing: str = "dr1") -> CareTeam:
    return CareTeam(
        id=f"team-{pid}",
        patient_id=pid,
        members=[
            CareTeamMember(practitioner_id=billing, role=CareTeamRole.BILLING_PRACTITIONER),
            CareTeamMember(
                practitioner_id=manager,
                role=CareTeamRole.CARE_MANAGER,
                supervisor_id=billing,
                supervision=SupervisionLevel.GENERAL,
            ),
        ],
    )


def enrolled(pid: str, billing: str = "dr1") -> Enrollment:
    return Enrollment.start(
        id=f"{pid}-ccm",
        patient_id=pid,
        program_id="ccm",
        family=CCM,
        billing_practitioner_id=billing,
        on=pendulum.Date(2026, 1, 5),
    )


def to_attest(pid: str) -> Eligibility:
    return Eligibility(
        patient_id=pid,
        family=CCM,
        as_of=DAY,
        criteria=(
            Criterion(rule="alive", met=True, detail="alive"),
            Criterion(
                rule="ccm.conditions",
                met=False,
                detail="1 attested",
                needs="attestation",
            ),
        ),
        conditions=("E11.9", "I10"),
    )


def eligible(pid: str) -> Eligibility:
    return Eligibility(
        patient_id=pid,
        family=CCM,
        as_of=DAY,
        criteria=(Criterion(rule="alive", met=True, detail="alive"),),
        conditions=("E11.65",),
    )


def episode(pid: str) -> TransitionEpisode:
    return TransitionEpisode(
        id=f"ep-{pid}",
        patient_id=pid,
        discharge_event_id=f"a-{pid}",
        discharged_at=pendulum.datetime(2026, 3, 2, 11, tz="America/Chicago"),
        from_setting=CareSetting.INPATIENT_ACUTE,
        contact_due=pendulum.Date(2026, 3, 4),
        visit_due_7=pendulum.Date(2026, 3, 9),
        visit_due=pendulum.Date(2026, 3, 16),
        med_rec_due=pendulum.Date(2026, 3, 16),
        period_end=pendulum.Date(2026, 3, 31),
    )


STAFF = [
    Practitioner(id="dr1", name="Dr One", credential=Credential.MD),
    Practitioner(id="dr2", name="Dr Two", credential=Credential.DO),
    Practitioner(id="rn-a", name="Nurse A", credential=Credential.RN),
    Practitioner(id="rn-b", name="Nurse B", credential=Credential.RN),
    Practitioner(id="ma1", name="Assistant", credential=Credential.MA),
    # a hospital's physician, known from imported records: the practice does not bill through them
    Practitioner(id="dr-hosp", name="Dr Hospital", credential=Credential.MD),
]


def world() -> dict[str, object]:
    """dr1 bills p1, p2, dr2 bills p9 (rn-a follows p1, p2; rn-b p9)."""
    return {
        "today": DAY,
        "practitioners": STAFF,
        "enrollments": [enrolled("p1"), enrolled("p2"), enrolled("p9", billing="dr2")],
        "care_teams": [team("p1", "rn-a"), team("p2", "rn-a"), team("p9", "rn-b", billing="dr2")],
        "eligibility": [to_attest("a1"), to_attest("a2"), to_attest("a3")],
    }


def owners(lists, kinds) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for w in lists.values():
        for i in (*w.items, *(c.item for c in w.closed)):
            if i.kind in kinds:
                out.setdefault(i.patient_id, set()).add(i.owner)
    return out


def test_attestation_goes_to_the_practices_physicians_in_turn():
    lists = registry_worklists(**world())
    # The practice's attesters are those it bills through, dr1 and dr2 (not
    # the nurses, not the hospital's physician), loaded by the enrolled
    # patients they bill: dr1 2, dr2 1. In id order, each goes to the one
    # with the fewest so far, the lower id on a tie: a1 dr2 (2-2), a2 dr1
    # (3-2), a3 dr2 (3-3).
    assert owners(lists, {"needs-attestation"}) == {"a1": {"dr2"}, "a2": {"dr1"}, "a3": {"dr2"}}
    assert "unassigned" not in lists
    assert "dr-hosp" not in lists


def test_a_practice_that_bills_through_nobody_yet_asks_its_practitioners_who_can_bill():
    args = {
        "today": DAY,
        "practitioners": STAFF,
        "eligibility": [to_attest(f"a{n}") for n in range(1, 5)],
    }
    # dr-hosp, dr1, dr2 (MD, MD, DO) in turn by id; not the nurses or the assistant
    assert owners(registry_worklists(**args), {"needs-attestation"}) == {
        "a1": {"dr-hosp"},
        "a2": {"dr1"},
        "a3": {"dr2"},
        "a4": {"dr-hosp"},
    }


def test_attestation_goes_to_the_patients_billing_practitioner_when_known():
    args = world()
    # a1's care team names dr1 as billing practitioner; a2 was enrolled in PCM by dr1
    args["care_teams"] = [*args["care_teams"], team("a1", "rn-b", billing="dr1")]
    args["enrollments"] = [
        *args["enrollments"],
        Enrollment.identify(
            id="a2-pcm",
            patient_id="a2",
            program_id="pcm",
            family=ServiceFamily.PCM,
            billing_practitioner_id="dr1",
            on=pendulum.Date(2026, 3, 1),
        ),
    ]
    lists = registry_worklists(**args)
    got = owners(lists, {"needs-attestation"})
    assert got["a1"] == {"dr1"}
    assert got["a2"] == {"dr1"}
    assert got["a3"] == {"dr2"}  # dr1 2, dr2 1: the least loaded


def test_without_anyone_who_can_attest_the_item_is_unassigned_and_says_why():
    args = {
        "today": DAY,
        "practitioners": [p for p in STAFF if not p.credential.is_billing_practitioner],
        "eligibility": [to_attest("a1")],
    }
    lists = registry_worklists(**args)
    assert owners(lists, {"needs-attestation"}) == {"a1": {"unassigned"}}
    (row,) = worklist_rows(lists.values(), today=DAY)
    assert row.owner == "unassigned"
    assert "the practice has no practitioner who can attest" in row.action


def test_tcm_of_a_patient_without_a_care_team_goes_to_a_care_manager_as_outreach_does():
    args = world()
    args["eligibility"] = [eligible("p7")]
    args["episodes"] = [episode("p5"), episode("p1")]
    lists = registry_worklists(**args)
    # p1's own care manager keeps p1's TCM. p5 (no care team, no enrollment)
    # and p7 (to reach) share the outreach turns: loads rn-a 2, rn-b 1 ->
    # p5 rn-b (2, 2) -> p7 rn-a on the tie.
    assert owners(lists, TCM) == {"p1": {"rn-a"}, "p5": {"rn-b"}}
    assert owners(lists, REACH) == {"p7": {"rn-a"}}
    assert "unassigned" not in lists
    # the outreach builder alone follows the same rule
    del args["eligibility"], args["practitioners"]
    assert owners(build_worklists(**args), TCM) == {"p1": {"rn-a"}, "p5": {"rn-b"}}


def test_tcm_of_a_patient_with_only_a_billing_practitioner_goes_to_a_care_manager():
    args = world()
    args["enrollments"] = [*args["enrollments"], enrolled("p5", billing="dr2")]
    args["episodes"] = [episode("p5")]
    assert owners(registry_worklists(**args), TCM) == {"p5": {"rn-b"}}


def test_tcm_without_any_care_manager_is_unassigned_and_says_why():
    lists = registry_worklists(today=DAY, practitioners=STAFF, episodes=[episode("p5")])
    assert owners(lists, TCM) == {"p5": {"unassigned"}}
    rows = worklist_rows(lists.values(), today=DAY)
    assert {r.owner for r in rows} == {"unassigned"}
    assert all("the practice has no care manager" in r.action for r in rows)


def busy_world() -> dict[str, object]:
    args = world()
    args["eligibility"] = [*args["eligibility"], eligible("p7"), to_attest("a4")]
    args["episodes"] = [episode("p5"), episode("p6"), episode("p1")]
    return args


@given(st.randoms(use_true_random=False))
def test_the_owners_do_not_depend_on_the_order_of_the_records(rnd):
    args = busy_world()
    for name in ("enrollments", "care_teams", "eligibility", "episodes", "practitioners"):
        records = list(args[name])
        rnd.shuffle(records)
        args[name] = records
    kinds = TCM | REACH | {"needs-attestation"}
    assert owners(registry_worklists(**args), kinds) == owners(
        registry_worklists(**busy_world()), kinds
    )
