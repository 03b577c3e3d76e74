"""A month closed from stored records reads the month's state: enrollment, plan history, coverage, devices.

Each defect test here was written before the fix and failed on the old close.
"""

from __future__ import annotations

from collections.abc import Iterator

import pendulum
import pytest
from attrs import evolve
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords, close_records, evaluate_records
from carecore.billing.facts import ProgramMonthFact, Setting
from carecore.careplans import draft_plan
from carecore.clock import FixedClock
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    CarePlan,
    CarePlanStatus,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Coverage,
    CoveragePlan,
    Credential,
    DeviceReadingDay,
    DisenrollmentReason,
    Enrollment,
    EnrollmentStatus,
    FaceToFaceVisit,
    MdmLevel,
    Patient,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    VisitKind,
)
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

JAN, MARCH, APRIL = (ServicePeriod.month(2026, m) for m in (1, 3, 4))
DR = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
ZONE = "America/Chicago"


def at(year: int, month: int, day: int) -> FixedClock:
    return FixedClock(pendulum.datetime(year, month, day, 17, tz=ZONE))


def conditions(pid: str = "p1") -> list[Condition]:
    return [
        Condition(
            id=f"{pid}-c{i}",
            patient_id=pid,
            coding=Coding.icd10cm(code),
            chronic=True,
            significant_risk=True,
            onset=pendulum.Date(2019, 1, 1),
        )
        for i, code in enumerate(("E11.65", "I50.22"))
    ]


def consent(family: ServiceFamily = ServiceFamily.CCM, pid: str = "p1") -> Consent:
    return Consent(
        id=f"{pid}-k-{family.value}",
        patient_id=pid,
        family=family,
        method=ConsentMethod.VERBAL,
        obtained_on=pendulum.Date(2026, 1, 5),
        obtained_by="dr1",
        billing_practitioner_id="dr1",
        cost_sharing_explained=True,
    )


def staff_minutes(n: int, day: pendulum.Date, amount: int, pid: str = "p1") -> TimeEntry:
    return TimeEntry(
        id=f"{pid}-t{n}",
        patient_id=pid,
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=amount,
        family=ServiceFamily.CCM,
        activity="check-in call",
        service_date=day,
        billing_practitioner_id="dr1",
    )


JAN_5 = pendulum.Date(2026, 1, 5)


def complete_draft(pid: str = "p1", on: pendulum.Date = JAN_5) -> CarePlan:
    """A plan with every CMS element, still a draft (not yet agreed with the patient)."""
    draft = draft_plan(f"{pid}-cp", pid, conditions=conditions(pid), on=on, responsible_id="dr1")
    return evolve(
        draft,
        expected_outcome="Stable",
        shared_with_patient_on=on,
        assessments=[
            AssessmentNote(domain=d, summary="done")
            for d in (
                AssessmentDomain.FUNCTIONAL,
                AssessmentDomain.ENVIRONMENTAL,
                AssessmentDomain.CAREGIVER,
            )
        ],
    )


def ccm_patient(program: CareProgram, pid: str = "p1", *, agreed: bool = True) -> None:
    with program.transaction("setup") as tx:
        if not tx.all(Practitioner):
            tx.add(DR)
        tx.add(make_patient(pid))
        for c in conditions(pid):
            tx.add(c)
        tx.add(consent(pid=pid))
        tx.add(
            FaceToFaceVisit(
                id=f"{pid}-v",
                patient_id=pid,
                on=pendulum.Date(2026, 1, 5),
                kind=VisitKind.OFFICE_EM,
                mdm=MdmLevel.MODERATE,
                billing_practitioner_id="dr1",
                em_code="99214",
            )
        )
        plan = complete_draft(pid)
        tx.add(plan.activate() if agreed else plan)


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path) -> Iterator[CareProgram]:
    """A program over each built-in store: the plan history and audit log are read from both."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'store.db'}"
    prog = CareProgram.open(url, actor="test", clock=at(2026, 1, 5))
    yield prog
    prog.close()


def codes(results: list, pid: str = "p1") -> list[str]:
    return [code for r in results if r.patient_id == pid for code, _ in r.billable]


def reasons(results: list, pid: str = "p1") -> set[str]:
    return {d.reason.value for r in results if r.patient_id == pid for d in r.denials}


# -- enrollment, day by day ---------------------------------------------------------------


def test_a_patient_disenrolled_before_the_month_is_not_billed_for_it(program):
    ccm_patient(program)
    with program.transaction("enroll") as tx:
        tx.add(
            Enrollment.start(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=pendulum.Date(2026, 1, 5),
            )
        )
    program.change_enrollment(
        "e1",
        lambda e: e.disenroll(pendulum.Date(2026, 3, 31), DisenrollmentReason.MOVED),
        reason="moved away",
    )
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 4, 8), 25))
    results = program.close_month(APRIL)
    assert codes(results) == []
    messages = [d.message for r in results for d in r.denials if d.code == "99490"]
    assert any("disenrolled" in m and "2026-03-31" in m for m in messages), messages


def test_time_after_a_disenrollment_in_the_month_does_not_count(program):
    ccm_patient(program)
    enrollment = Enrollment.start(
        id="e1",
        patient_id="p1",
        program_id="ccm",
        family=ServiceFamily.CCM,
        billing_practitioner_id="dr1",
        on=pendulum.Date(2026, 1, 5),
    ).disenroll(pendulum.Date(2026, 3, 15), DisenrollmentReason.MOVED)
    with program.transaction("records") as tx:
        tx.add(enrollment)
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 10), 12))
        tx.add(staff_minutes(2, pendulum.Date(2026, 3, 20), 12))
    results = program.close_month(MARCH)
    assert codes(results) == []  # 12 countable minutes, not 24
    hints = [h.message for r in results for h in r.hints]
    assert any("12 CCM minutes" in h and "2026-03-15" in h for h in hints), hints


def test_a_pause_leaves_the_days_around_it_countable(program):
    ccm_patient(program)
    enrollment = (
        Enrollment.start(
            id="e1",
            patient_id="p1",
            program_id="ccm",
            family=ServiceFamily.CCM,
            billing_practitioner_id="dr1",
            on=pendulum.Date(2026, 1, 5),
        )
        .pause(pendulum.Date(2026, 3, 5))
        .resume(pendulum.Date(2026, 3, 12))
    )
    with program.transaction("records") as tx:
        tx.add(enrollment)
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 3), 10))
        tx.add(staff_minutes(2, pendulum.Date(2026, 3, 8), 30))
        tx.add(staff_minutes(3, pendulum.Date(2026, 3, 20), 10))
    assert codes(program.close_month(MARCH)) == ["99490"]  # 10 + 10 counted, not the paused 30


# -- the care plan as of the month --------------------------------------------------------


def test_a_plan_agreed_in_march_does_not_make_january_billable(program):
    ccm_patient(program, agreed=False)  # drafted Jan 5
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 1, 20), 25))
        tx.add(staff_minutes(2, pendulum.Date(2026, 3, 22), 25))
    program.clock = at(2026, 3, 20)
    program.revise_care_plan("p1-cp", lambda p: p.activate(), reason="agreed with the patient")
    program.clock = at(2026, 3, 31)
    january = program.close_month(JAN)
    assert codes(january) == []
    assert "no_care_plan" in reasons(january)
    assert codes(program.close_month(MARCH)) == ["99490"]


def test_closing_the_plan_later_does_not_undo_the_months_it_covered(program):
    ccm_patient(program, agreed=False)
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 22), 25))
    program.clock = at(2026, 3, 20)
    program.revise_care_plan("p1-cp", lambda p: p.activate(), reason="agreed")
    program.clock = at(2026, 5, 2)
    program.close_care_plan("p1-cp")
    assert codes(program.close_month(MARCH)) == ["99490"]
    with program.transaction("time") as tx:
        tx.add(staff_minutes(3, pendulum.Date(2026, 6, 3), 25))
    june = program.close_month(ServicePeriod.month(2026, 6))
    assert codes(june) == []
    assert "no_care_plan" in reasons(june)


# -- coverage -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "payer"),
    [(CoveragePlan.MEDICARE_ADVANTAGE, "Acme Advantage"), (CoveragePlan.COMMERCIAL, "Acme Health")],
)
def test_only_part_b_fee_for_service_is_billed_under_cms_rules(program, plan, payer):
    ccm_patient(program)
    with program.transaction("coverage") as tx:
        tx.add(
            Coverage(
                id="cov", patient_id="p1", payer=payer, plan=plan, start=pendulum.Date(2020, 1, 1)
            )
        )
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25))
    results = program.close_month(MARCH)
    assert codes(results) == []
    refused = [d for r in results for d in r.denials if d.code == "99490"]
    assert [d.reason.value for d in refused] == ["not_covered"]
    assert plan.value in refused[0].message
    assert payer in refused[0].message


def test_part_b_coverage_is_billed_and_a_missing_record_is_assumed_part_b(program):
    ccm_patient(program)
    ccm_patient(program, "p2")
    with program.transaction("coverage") as tx:
        tx.add(
            Coverage(
                id="cov",
                patient_id="p1",
                payer="Medicare",
                plan=CoveragePlan.MEDICARE_PART_B,
                start=pendulum.Date(2020, 1, 1),
            )
        )
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25))
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25, pid="p2"))
    results = program.close_month(MARCH)
    assert codes(results, "p1") == codes(results, "p2") == ["99490"]
    strict = program.close_month(MARCH, require_coverage=True)
    assert codes(strict, "p1") == ["99490"]
    assert codes(strict, "p2") == []
    assert reasons(strict, "p2") >= {"not_covered"}


def test_coverage_that_ended_before_the_month_does_not_count(program):
    ccm_patient(program)
    with program.transaction("coverage") as tx:
        tx.add(
            Coverage(
                id="old",
                patient_id="p1",
                payer="Medicare",
                plan=CoveragePlan.MEDICARE_PART_B,
                start=pendulum.Date(2020, 1, 1),
                end=pendulum.Date(2025, 12, 31),
            )
        )
        tx.add(
            Coverage(
                id="new",
                patient_id="p1",
                payer="Acme Advantage",
                plan=CoveragePlan.MEDICARE_ADVANTAGE,
                start=pendulum.Date(2026, 1, 1),
            )
        )
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25))
    assert reasons(program.close_month(MARCH)) >= {"not_covered"}


# -- death, devices, setting --------------------------------------------------------------


def test_the_date_of_death_reaches_the_facts(program):
    ccm_patient(program)
    with program.transaction("death") as tx:
        patient = tx.get(Patient, "p1")
        tx.replace(evolve(patient, date_of_death=pendulum.Date(2026, 3, 10)))
    seen = []
    program.close_month(MARCH, each=lambda facts, _result: seen.append(facts))
    assert [f.patient.date_of_death for f in seen] == [pendulum.Date(2026, 3, 10)]


def test_device_reading_days_bill_the_device_supply(program):
    ccm_patient(program)
    with program.transaction("rpm") as tx:
        tx.add(consent(ServiceFamily.RPM))
        for day in range(1, 17):
            tx.add(
                DeviceReadingDay(
                    patient_id="p1",
                    family=ServiceFamily.RPM,
                    device="bp-cuff",
                    on=pendulum.Date(2026, 3, day),
                )
            )
    results = program.close_month(MARCH)
    assert "99454" in codes(results)
    line = next(line for r in results for line in r.claim_lines if line.code == "99454")
    assert line.period == ServicePeriod(
        start=pendulum.Date(2026, 3, 1), end=pendulum.Date(2026, 3, 30)
    )


def test_the_practice_setting_is_passed_to_the_rules(program):
    ccm_patient(program)
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25))
    seen = []
    program.close_month(MARCH, each=lambda facts, _r: seen.append(facts.setting))
    program.close_month(
        MARCH, setting=Setting.RHC, each=lambda facts, _r: seen.append(facts.setting)
    )
    assert seen == [Setting.PHYSICIAN_OFFICE, Setting.RHC]


def test_month_records_take_the_new_kinds_by_name():
    records = MonthRecords(
        patients=[make_patient("p1")],
        practitioners=[DR],
        coverages=[
            Coverage(
                id="cov",
                patient_id="p1",
                payer="Acme",
                plan=CoveragePlan.COMMERCIAL,
                start=pendulum.Date(2020, 1, 1),
            )
        ],
        consents=[consent()],
        conditions=conditions(),
        time_entries=[staff_minutes(1, pendulum.Date(2026, 3, 9), 25)],
    )
    results = close_records(records, MARCH, cms_rule_set(2026))
    assert "not_covered" in reasons(results)


# -- closing again later ------------------------------------------------------------------

_LATER = st.sampled_from(
    [
        "april_minutes",
        "other_patient",
        "plan_review",
        "later_coverage",
        "disenroll_in_may",
        "may_device_days",
        "later_consent_revocation",
        "clock_moves",
        "plan_closed",
    ]
)


def _apply_later(program: CareProgram, change: str, n: int) -> None:  # noqa: C901, PLR0912
    """A change that says nothing about March (after it, or about someone else)."""
    program.clock = at(2026, 5, 1 + n % 27)
    if change == "april_minutes":
        with program.transaction("later time") as tx:
            tx.add(staff_minutes(100 + n, pendulum.Date(2026, 4, 1 + n % 28), 30))
    elif change == "other_patient":
        with program.transaction("another patient") as tx:
            if not tx.find(Patient, patient_id="p9"):
                tx.add(make_patient("p9"))
            tx.add(staff_minutes(200 + n, pendulum.Date(2026, 3, 10), 40, pid="p9"))
    elif change == "plan_review":
        with program.transaction("read") as tx:
            open_plan = tx.get(CarePlan, "p1-cp").status is CarePlanStatus.ACTIVE
        if open_plan:
            program.review_care_plan("p1-cp")
    elif change == "plan_closed":
        with program.transaction("read") as tx:
            open_plan = tx.get(CarePlan, "p1-cp").status is CarePlanStatus.ACTIVE
        if open_plan:
            program.close_care_plan("p1-cp")
    elif change == "later_coverage":
        with program.transaction("coverage") as tx:
            tx.add(
                Coverage(
                    id=f"cov-{n}",
                    patient_id="p1",
                    payer="Acme Advantage",
                    plan=CoveragePlan.MEDICARE_ADVANTAGE,
                    start=pendulum.Date(2026, 6, 1),
                )
            )
    elif change == "disenroll_in_may":
        with program.transaction("enrollment") as tx:
            if not tx.find(Enrollment, patient_id="p1"):
                tx.add(
                    Enrollment.start(
                        id="e-later",
                        patient_id="p1",
                        program_id="ccm",
                        family=ServiceFamily.CCM,
                        billing_practitioner_id="dr1",
                        on=pendulum.Date(2026, 1, 5),
                    )
                )
        with program.transaction("read") as tx:
            current = tx.get(Enrollment, "e-later")
        if current.status is not EnrollmentStatus.DISENROLLED:
            program.change_enrollment(
                "e-later",
                lambda e: e.disenroll(pendulum.Date(2026, 5, 20), DisenrollmentReason.MOVED),
                reason="moved",
            )
    elif change == "may_device_days":
        with program.transaction("devices") as tx:
            day = pendulum.Date(2026, 5, 1 + n % 28)
            known = {d.on for d in tx.find(DeviceReadingDay, patient_id="p1")}
            if day not in known:
                tx.add(
                    DeviceReadingDay(
                        patient_id="p1", family=ServiceFamily.RPM, device="cuff", on=day
                    )
                )
    elif change == "later_consent_revocation":
        with program.transaction("revoke") as tx:
            stored = tx.get(Consent, "p1-k-CCM")
            if stored.revoked_on is None:
                tx.replace(stored.revoke(pendulum.Date(2026, 4, 10)))


def _outcome(results: list) -> list:
    return [
        (r.patient_id, r.claim_lines, r.denials, r.hints)
        for r in sorted(results, key=lambda r: r.patient_id)
        if r.patient_id == "p1"
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(_LATER, max_size=5), minutes=st.integers(5, 70))
def test_closing_again_after_unrelated_later_changes_gives_the_same_answer(changes, minutes):
    program = CareProgram.open("memory://", actor="test", clock=at(2026, 1, 5))
    ccm_patient(program, agreed=False)
    program.clock = at(2026, 2, 10)
    program.revise_care_plan("p1-cp", lambda p: p.activate(), reason="agreed")
    with program.transaction("march") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), minutes))
        tx.add(
            Coverage(
                id="cov-b",
                patient_id="p1",
                payer="Medicare",
                plan=CoveragePlan.MEDICARE_PART_B,
                start=pendulum.Date(2020, 1, 1),
                end=pendulum.Date(2026, 5, 31),
            )
        )
    program.clock = at(2026, 4, 2)
    first = _outcome(program.close_month(MARCH))
    for n, change in enumerate(changes):
        _apply_later(program, change, n)
    assert _outcome(program.close_month(MARCH)) == first


def test_plan_actions_come_from_the_plans_history(program):
    ccm_patient(program, agreed=False)
    program.clock = at(2026, 3, 4)
    program.revise_care_plan("p1-cp", lambda p: p.activate(), reason="agreed")
    program.clock = at(2026, 3, 18)
    program.review_care_plan("p1-cp", by="dr1")
    program.clock = at(2026, 3, 25)
    program.update_goal_progress("p1-cp")  # progress is not a revision
    seen = []
    program.close_month(MARCH, each=lambda facts, _r: seen.append(facts))
    actions = [
        (e.action.value, e.date)
        for f in seen
        for e in f.events
        if type(e).__name__ == "CarePlanFact"
    ]
    assert actions == [
        ("established", pendulum.Date(2026, 3, 4)),
        ("monitored", pendulum.Date(2026, 3, 18)),
    ]


def test_a_medicaid_qmb_coverage_beside_part_b_makes_the_patient_qmb(program):
    ccm_patient(program)
    ccm_patient(program, "p2")
    with program.transaction("coverage") as tx:
        for pid in ("p1", "p2"):
            tx.add(
                Coverage(
                    id=f"{pid}-qmb",
                    patient_id=pid,
                    payer="Medicaid",
                    plan=CoveragePlan.MEDICAID_QMB,
                    start=pendulum.Date(2020, 1, 1),
                )
            )
        tx.add(
            Coverage(
                id="p1-b",
                patient_id="p1",
                payer="Medicare",
                plan=CoveragePlan.MEDICARE_PART_B,
                start=pendulum.Date(2020, 1, 1),
            )
        )
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25))
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 9), 25, pid="p2"))
    seen = {}
    results = program.close_month(MARCH, each=lambda f, _r: seen.update({f.patient.id: f}))
    assert seen["p1"].patient.qmb
    assert codes(results, "p1") == ["99490"]
    # QMB without a Part B record: nothing to bill Medicare for.
    assert codes(results, "p2") == []
    assert "not_covered" in reasons(results, "p2")


def test_apcm_and_cocm_months_come_from_enrollments():
    def enrolled(family: ServiceFamily, day: pendulum.Date) -> Enrollment:
        return Enrollment.start(
            id=f"e-{family.value}",
            patient_id="p1",
            program_id=family.value.lower(),
            family=family,
            billing_practitioner_id="dr1",
            on=day,
        )

    records = MonthRecords(
        patients=[make_patient("p1")],
        practitioners=[DR],
        enrollments=[
            enrolled(ServiceFamily.COCM, pendulum.Date(2026, 1, 10)),
            enrolled(ServiceFamily.APCM, pendulum.Date(2026, 3, 12)),
        ],
    )
    seen = []
    for facts, _result in evaluate_records(records, MARCH, cms_rule_set(2026)):
        seen += [
            (e.family.value, e.date, e.month, e.episode_month)
            for e in facts.events
            if isinstance(e, ProgramMonthFact)
        ]
    assert sorted(seen) == [
        ("APCM", pendulum.Date(2026, 3, 12), "2026-03", None),
        ("COCM", pendulum.Date(2026, 3, 1), "2026-03", 3),
    ]
