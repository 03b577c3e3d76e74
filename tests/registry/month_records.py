"""One patient's complete CCM records (consent, conditions, visit, agreed plan, enrollment), for worklist tests."""

from __future__ import annotations

import re

import pendulum
from attrs import evolve

from carecore.careplans import draft_plan
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Enrollment,
    FaceToFaceVisit,
    MdmLevel,
    Practitioner,
    RoleClass,
    ServiceFamily,
    TimeEntry,
    VisitKind,
)
from carecore.testing._store_contract import make_patient

START = pendulum.Date(2026, 1, 5)
CCM = ServiceFamily.CCM

#: Credentials that may log time in each role (one is picked per entry).
ROLE_CREDENTIALS = {
    RoleClass.CLINICAL_STAFF: (Credential.RN, Credential.LPN, Credential.MA),
    RoleClass.PHYSICIAN: (Credential.MD, Credential.DO),
    RoleClass.QHP: (Credential.NP, Credential.PA),
    RoleClass.BH_CARE_MANAGER: (Credential.LCSW, Credential.RN),
    RoleClass.AUXILIARY: (Credential.CHW, Credential.NAVIGATOR, Credential.PEER_SPECIALIST),
    RoleClass.NON_CLINICAL: (Credential.NONE,),
}


def practitioner(pid: str = "dr1", credential: Credential = Credential.MD) -> Practitioner:
    return Practitioner(id=pid, name=f"Dr. {pid}", credential=credential)


def agreed_plan(pid: str, on: pendulum.Date = START, family: ServiceFamily = CCM):
    conditions = [
        Condition(id=f"{pid}-pc", patient_id=pid, coding=Coding.icd10cm("E11.65"), chronic=True)
    ]
    plan = draft_plan(
        f"{pid}-cp", pid, conditions=conditions, on=on, responsible_id="dr1", families=[family]
    )
    return evolve(
        plan,
        expected_outcome="A1c at goal within 6 months; prognosis good with support",
        assessments=(
            AssessmentNote(domain=AssessmentDomain.FUNCTIONAL, summary="Independent"),
            AssessmentNote(domain=AssessmentDomain.ENVIRONMENTAL, summary="Lives alone"),
            AssessmentNote(domain=AssessmentDomain.CAREGIVER, summary="Daughter helps"),
        ),
        shared_with_patient_on=on,
    ).activate()


def ccm_records(pid: str, dr: str = "dr1", family: ServiceFamily = CCM) -> dict[str, list]:
    """Everything *family* (CCM, PCM, BHI) needs besides time: billable once the minutes are there."""
    return {
        "patients": [make_patient(pid)],
        "conditions": [
            Condition(
                id=f"{pid}-c{i}",
                patient_id=pid,
                coding=Coding.icd10cm(code),
                chronic=True,
                significant_risk=True,
                behavioral=code.startswith("F"),
                onset=pendulum.Date(2020, 1, 1),
            )
            for i, code in enumerate(("E11.65", "I50.22", "F33.1"))
        ],
        "consents": [
            Consent(
                id=f"{pid}-k",
                patient_id=pid,
                family=family,
                method=ConsentMethod.VERBAL,
                obtained_on=START,
                obtained_by=dr,
                billing_practitioner_id=dr,
                cost_sharing_explained=True,
            )
        ],
        "visits": [
            FaceToFaceVisit(
                id=f"{pid}-v",
                patient_id=pid,
                on=START,
                kind=VisitKind.OFFICE_EM,
                mdm=MdmLevel.MODERATE,
                billing_practitioner_id=dr,
                em_code="99214",
            )
        ],
        "care_plans": [agreed_plan(pid, family=family)],
        "enrollments": [
            Enrollment.start(
                id=f"{pid}-{family.value.lower()}",
                patient_id=pid,
                program_id=family.value.lower(),
                family=family,
                billing_practitioner_id=dr,
                on=START,
            )
        ],
    }


def time_entry(
    tid: str,
    pid: str,
    minutes: int,
    day: pendulum.Date,
    *,
    role: RoleClass = RoleClass.CLINICAL_STAFF,
    credential: Credential | None = None,
    family: ServiceFamily = CCM,
    dr: str = "dr1",
) -> TimeEntry:
    return TimeEntry(
        id=tid,
        patient_id=pid,
        performer_id=f"{role.value}-1",
        credential=credential or ROLE_CREDENTIALS[role][0],
        role_class=role,
        minutes=minutes,
        family=family,
        activity="care coordination",
        service_date=day,
        billing_practitioner_id=dr,
    )


_ADVICE = re.compile(r"\b(\d+) more\b.*?\b([0-9A-Z][0-9]{3}[0-9A-Z])\b")


def advice(detail: str) -> tuple[int, str]:
    """``(minutes, code)`` from a minutes-to-threshold item's detail."""
    found = _ADVICE.search(detail)
    assert found is not None, detail
    return int(found.group(1)), found.group(2)
