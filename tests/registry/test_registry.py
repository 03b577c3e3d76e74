"""Registry: eligibility with reasons, worklists, minutes against thresholds, caseloads."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords
from carecore.model import (
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Coding,
    Condition,
    Coverage,
    CoveragePlan,
    Credential,
    DisenrollmentReason,
    Enrollment,
    RoleClass,
    ServiceFamily,
    SupervisionLevel,
    TimeEntry,
)
from carecore.registry import (
    caseloads,
    eligibility,
    minutes_progress,
    registry,
    registry_worklists,
)
from carecore.testing._store_contract import make_patient
from tests.registry.month_records import ccm_records, practitioner

DAY = pendulum.Date(2026, 3, 10)
CCM = ServiceFamily.CCM


def cond(cid, pid, code, **kw):
    kw.setdefault("chronic", True)
    kw.setdefault("significant_risk", True)
    return Condition(id=cid, patient_id=pid, coding=Coding.icd10cm(code), **kw)


JAN5 = pendulum.Date(2026, 1, 5)


def enroll(pid, on=JAN5, family=CCM, dr="dr1"):
    return Enrollment.start(
        id=f"{pid}-{family.value}",
        patient_id=pid,
        program_id=family.value.lower(),
        family=family,
        billing_practitioner_id=dr,
        on=on,
    )


def entry(n, pid, minutes, day, *, role=RoleClass.CLINICAL_STAFF, family=CCM):
    cred = {RoleClass.NON_CLINICAL: Credential.NONE, RoleClass.PHYSICIAN: Credential.MD}.get(
        role, Credential.RN
    )
    return TimeEntry(
        id=f"t{n}",
        patient_id=pid,
        performer_id="rn1",
        credential=cred,
        role_class=role,
        minutes=minutes,
        family=family,
        activity="call",
        service_date=day,
        billing_practitioner_id="dr1",
    )


def test_ccm_needs_two_lasting_high_risk_conditions():
    p = make_patient("p1")
    conditions = [
        cond("c1", "p1", "E11.9"),
        cond("c2", "p1", "I50.22", expected_duration_months=6),  # too short for CCM
        cond("c3", "p1", "J06.9", chronic=False),
        cond(
            "c4", "p1", "I10", abatement=pendulum.Date(2025, 1, 1), onset=pendulum.Date(2020, 1, 1)
        ),
        cond("c5", "p2", "J44.9"),  # someone else's
    ]
    result = eligibility(p, CCM, as_of=DAY, conditions=conditions)
    assert not result.eligible
    assert result.conditions == ("E11.9",)
    clinical = result.criteria[1]
    assert clinical.rule == "ccm.two_chronic_conditions"
    assert clinical.met is False
    assert clinical.records == ("c1",)
    assert "1 chronic condition(s)" in clinical.detail
    # the 6-month condition is enough for PCM (3 months)
    pcm = eligibility(p, ServiceFamily.PCM, as_of=DAY, conditions=conditions)
    assert pcm.eligible
    assert pcm.conditions == ("E11.9", "I50.22")


def test_ccm_eligible_with_until_death_conditions_and_explains_unknown_coverage():
    p = make_patient("p1")
    conditions = [cond("c1", "p1", "E11.9"), cond("c2", "p1", "I50.22")]
    result = eligibility(p, CCM, as_of=DAY, conditions=conditions)
    assert result.eligible
    assert not result.verified
    assert "coverage unknown" in result.explanation
    assert "Medicare Part B not verified" in result.explanation


def test_coverage_decides_when_known():
    p = make_patient("p1")
    conditions = [cond("c1", "p1", "E11.9"), cond("c2", "p1", "I50.22")]
    part_b = Coverage(
        id="cov1", patient_id="p1", payer="Medicare", plan=CoveragePlan.MEDICARE_PART_B
    )
    commercial = Coverage(id="cov2", patient_id="p1", payer="Acme", plan=CoveragePlan.COMMERCIAL)
    ended = Coverage(
        id="cov3",
        patient_id="p1",
        payer="Medicare",
        plan=CoveragePlan.MEDICARE_PART_B,
        end=pendulum.Date(2025, 12, 31),
    )
    ok = eligibility(p, CCM, as_of=DAY, conditions=conditions, coverages=[part_b])
    assert ok.eligible
    assert ok.verified
    assert ok.criteria[-1].records == ("cov1",)
    no = eligibility(p, CCM, as_of=DAY, conditions=conditions, coverages=[commercial, ended])
    assert not no.eligible
    assert "commercial" in no.criteria[-1].detail
    none_on_file = eligibility(p, CCM, as_of=DAY, conditions=conditions, coverages=[])
    assert none_on_file.eligible
    assert not none_on_file.verified
    assert "no coverage on file" in none_on_file.explanation


def test_dead_patient_is_not_eligible():
    p = make_patient("p1")
    import attrs

    dead = attrs.evolve(p, date_of_death=pendulum.Date(2026, 2, 1))
    conditions = [cond("c1", "p1", "E11.9"), cond("c2", "p1", "I50.22")]
    result = eligibility(dead, CCM, as_of=DAY, conditions=conditions)
    assert not result.eligible
    assert "died on 2026-02-01" in result.explanation


def test_bhi_and_apcm_levels():
    p = make_patient("p1")
    conditions = [cond("c1", "p1", "F33.1", behavioral=True), cond("c2", "p1", "E11.9")]
    assert eligibility(p, ServiceFamily.BHI, as_of=DAY, conditions=conditions).eligible
    apcm = eligibility(p, ServiceFamily.APCM, as_of=DAY, conditions=conditions)
    assert apcm.eligible
    assert apcm.level == 2
    assert eligibility(p, ServiceFamily.APCM, as_of=DAY).level == 1


def test_registry_covers_every_patient_and_program():
    patients = [make_patient("p2"), make_patient("p1")]
    out = registry(patients, as_of=DAY, families=[CCM, ServiceFamily.BHI])
    assert [(e.patient_id, e.family) for e in out] == [
        ("p1", CCM),
        ("p1", ServiceFamily.BHI),
        ("p2", CCM),
        ("p2", ServiceFamily.BHI),
    ]


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("family", lambda: eligibility(make_patient(), ServiceFamily.TCM, as_of=DAY)),
        ("as_of", lambda: eligibility(make_patient(), CCM, as_of="2026-03-10")),
        ("patient", lambda: eligibility("p1", CCM, as_of=DAY)),
        ("on", lambda: caseloads([], on=None)),
        ("records", lambda: minutes_progress([], on=DAY, rules=cms_rule_set(2026))),
        (
            "rules",
            lambda: minutes_progress(
                MonthRecords(patients=[], practitioners=[]), on=DAY, rules="cms-2026"
            ),
        ),
        (
            "on",
            lambda: minutes_progress(
                MonthRecords(patients=[], practitioners=[]),
                on="2026-03-10",
                rules=cms_rule_set(2026),
            ),
        ),
    ],
)
def test_bad_input_names_the_field(field, call):
    with pytest.raises(errors.InvalidValue) as info:
        call()
    assert info.value.field == field


def test_minutes_progress_is_the_engines_count_of_this_month_so_far():
    records = ccm_records("p1")
    entries = [
        entry(1, "p1", 12, pendulum.Date(2026, 3, 2)),
        entry(2, "p1", 15, pendulum.Date(2026, 3, 9), role=RoleClass.PHYSICIAN),
        entry(3, "p1", 30, pendulum.Date(2026, 3, 9), role=RoleClass.NON_CLINICAL),
        entry(6, "p1", 30, pendulum.Date(2026, 3, 9), role=RoleClass.AUXILIARY),
        entry(4, "p1", 30, pendulum.Date(2026, 2, 27)),  # last month
        entry(5, "p1", 30, pendulum.Date(2026, 3, 20)),  # after the day
    ]
    month = MonthRecords(practitioners=[practitioner()], time_entries=entries, **records)
    (progress,) = minutes_progress(month, on=DAY, rules=cms_rule_set(2026))
    # 12 + 15 = 27 clinical-staff minutes: 99490 (20) reached, 99439 at 40 is next
    assert (progress.next_code, progress.minutes_needed, progress.practitioner) == (
        "99439",
        13,
        "dr1",
    )
    assert progress.message == "13 more clinical-staff minutes reach 99439"


def test_one_minute_short_reads_as_one_minute():
    # Review of issue 22: the engine's hint said "1 more clinical-staff minute reach 99490".
    month = MonthRecords(
        practitioners=[practitioner()],
        time_entries=[entry(1, "p1", 19, pendulum.Date(2026, 3, 2))],
        **ccm_records("p1"),
    )
    (progress,) = minutes_progress(month, on=DAY, rules=cms_rule_set(2026))
    assert progress.message == "1 more clinical-staff minute reaches 99490"


def test_minutes_progress_without_minutes_asks_the_engine_and_skips_unknown_people():
    records = ccm_records("p1")
    month = MonthRecords(practitioners=[practitioner()], **records)
    (progress,) = minutes_progress(month, on=DAY, rules=cms_rule_set(2026))
    assert (progress.next_code, progress.minutes_needed) == ("99490", 20)
    # no Practitioner record for the billing practitioner: the engine cannot evaluate it
    nobody = MonthRecords(practitioners=[], **records)
    assert minutes_progress(nobody, on=DAY, rules=cms_rule_set(2026)) == ()


def test_minutes_progress_says_nothing_more_is_needed_when_the_ladder_is_done():
    records = ccm_records("p1")
    entries = [entry(1, "p1", 60, pendulum.Date(2026, 3, 2))]  # 99490 + 2 x 99439, the cap
    month = MonthRecords(practitioners=[practitioner()], time_entries=entries, **records)
    (progress,) = minutes_progress(month, on=DAY, rules=cms_rule_set(2026))
    assert (progress.next_code, progress.minutes_needed, progress.message) == (None, 0, None)


def test_caseload_follows_care_manager_else_billing_practitioner():
    team = CareTeam(
        id="t1",
        patient_id="p1",
        members=[
            CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
            CareTeamMember(
                practitioner_id="rn1",
                role=CareTeamRole.CARE_MANAGER,
                supervisor_id="dr1",
                supervision=SupervisionLevel.GENERAL,
            ),
        ],
    )
    gone = enroll("p3").disenroll(pendulum.Date(2026, 2, 1), DisenrollmentReason.MOVED)
    loads = caseloads([enroll("p1"), enroll("p2"), gone], [team], on=DAY)
    assert [(c.owner, c.patient_ids) for c in loads] == [("dr1", ("p2",)), ("rn1", ("p1",))]


def test_registry_worklists_add_eligible_not_enrolled_and_minutes_items():
    p1, p2 = make_patient("p1"), make_patient("p2")
    conditions = [
        cond("c1", "p1", "E11.9"),
        cond("c2", "p1", "I50.22"),
        cond("c3", "p2", "E11.9"),
        cond("c4", "p2", "I10"),
    ]
    elig = registry([p1, p2], as_of=DAY, conditions=conditions, families=[CCM])
    records = ccm_records("p2")
    lists = registry_worklists(
        today=DAY,
        eligibility=elig,
        enrollments=[enroll("p2")],
        time_entries=[entry(1, "p2", 5, pendulum.Date(2026, 3, 3))],
        rules=cms_rule_set(2026),
        patients=[p1, p2],
        practitioners=[practitioner()],
        conditions=records["conditions"],
        consents=records["consents"],
        visits=records["visits"],
        care_plans=records["care_plans"],
    )
    kinds = {(i.kind, i.patient_id, i.owner) for wl in lists.values() for i in wl.items}
    assert ("eligible-not-enrolled", "p1", "unassigned") in kinds
    assert ("minutes-to-threshold", "p2", "dr1") in kinds
    assert ("ccm-check-in", "p2", "dr1") in kinds  # from carecore.outreach
    assert not any(k == "eligible-not-enrolled" and pid == "p2" for k, pid, _ in kinds)
    minutes = next(i for i in lists["dr1"].items if i.kind == "minutes-to-threshold")
    assert minutes.detail == "CCM: 15 more clinical-staff minutes reach 99490"
    assert minutes.due == pendulum.Date(2026, 3, 31)
    assert lists["dr1"].caseload == 1


def test_one_condition_recorded_twice_counts_once():
    # FHIR feeds often carry one Condition per encounter: E11.9 twice is still one condition.
    p = make_patient("p1")
    twice = [cond("c1", "p1", "E11.9"), cond("c2", "p1", "E11.9")]
    verdict = eligibility(p, CCM, as_of=DAY, conditions=twice)
    assert not verdict.eligible
    assert verdict.conditions == ("E11.9",)
    (clinical,) = [c for c in verdict.criteria if c.rule == "ccm.two_chronic_conditions"]
    assert clinical.detail.startswith("1 chronic condition(s)")
    third = eligibility(p, CCM, as_of=DAY, conditions=[*twice, cond("c3", "p1", "I10")])
    assert [c.met for c in third.criteria if c.rule == "ccm.two_chronic_conditions"] == [True]
