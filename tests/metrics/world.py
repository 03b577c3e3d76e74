"""A small, hand-countable program for the metrics tests (every expected number is derived in the tests)."""

from __future__ import annotations

from decimal import Decimal

import pendulum

from carecore.metrics import ProgramData
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CarePlan,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ClaimLine,
    Coding,
    Comparator,
    Condition,
    Credential,
    DisenrollmentReason,
    Enrollment,
    EpisodeStatus,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Observation,
    PatientClass,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    SupervisionLevel,
    Target,
    TimeEntry,
    TransitionEpisode,
)
from carecore.testing._store_contract import make_patient

TZ = "America/Chicago"
CCM = ServiceFamily.CCM
Q1 = ServicePeriod(start=pendulum.Date(2026, 1, 1), end=pendulum.Date(2026, 3, 31))
D = pendulum.Date


def enrollments():
    p1 = Enrollment.start(
        id="e1",
        patient_id="p1",
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=D(2025, 12, 1),
    )
    p2 = Enrollment.start(
        id="e2",
        patient_id="p2",
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=D(2026, 2, 15),
    )
    p3 = Enrollment.start(
        id="e3",
        patient_id="p3",
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=D(2025, 6, 1),
    ).disenroll(D(2026, 1, 20), DisenrollmentReason.MOVED)
    p4 = Enrollment.identify(
        id="e4",
        patient_id="p4",
        program_id="ccm",
        family=CCM,
        billing_practitioner_id="dr1",
        on=D(2026, 1, 10),
    )
    return [p1, p2, p3, p4]


def entry(n, pid, minutes, day, role=RoleClass.CLINICAL_STAFF):
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
        family=CCM,
        activity="call",
        service_date=day,
        billing_practitioner_id="dr1",
    )


def time_entries():
    return [
        entry(1, "p1", 20, D(2026, 1, 10)),
        entry(2, "p1", 15, D(2026, 2, 3), RoleClass.PHYSICIAN),
        entry(3, "p1", 30, D(2026, 3, 5), RoleClass.NON_CLINICAL),
        entry(4, "p2", 10, D(2026, 1, 20)),
        entry(5, "p2", 25, D(2026, 3, 1)),
        entry(6, "p3", 12, D(2026, 1, 25)),
        entry(7, "p1", 40, D(2026, 4, 1)),
    ]


def line(pid, code, month, amount, *, units=1, family=CCM):
    period = ServicePeriod.month(2026, month)
    return ClaimLine(
        patient_id=pid,
        code=code,
        units=units,
        family=family,
        billing_practitioner_id="dr1",
        date_of_service=period.end,
        period=period,
        amount=None if amount is None else Decimal(amount),
    )


def claim_lines():
    return [
        line("p1", "99490", 1, "66.13"),
        line("p1", "99490", 2, "66.13"),
        line("p2", "99490", 3, "66.13"),
        line("p2", "99439", 3, "50.44"),
        line("p4", "99495", 2, "200.00", family=ServiceFamily.TCM),
    ]


def adt(n, kind, cls, day, *, pid, visit):
    at = pendulum.datetime(day.year, day.month, day.day, 10, tz=TZ)
    return AdtEvent(
        id=f"a{n}",
        source_key=f"M{n}",
        patient_id=pid,
        kind=kind,
        occurred_at=at,
        patient_class=cls,
        admitted_at=at,
        discharged_at=at.add(hours=4) if kind is AdtEventKind.DISCHARGE else None,
        visit_number=visit,
    )


def adt_events():
    return [
        adt(1, AdtEventKind.REGISTER, PatientClass.EMERGENCY, D(2026, 1, 15), pid="p1", visit="V1"),
        adt(2, AdtEventKind.REGISTER, PatientClass.EMERGENCY, D(2026, 1, 25), pid="p2", visit="V2"),
        adt(3, AdtEventKind.ADMIT, PatientClass.INPATIENT, D(2026, 3, 3), pid="p2", visit="V3"),
        adt(4, AdtEventKind.ADMIT, PatientClass.INPATIENT, D(2026, 2, 10), pid="p1", visit="V4"),
        adt(
            5, AdtEventKind.DISCHARGE, PatientClass.INPATIENT, D(2026, 2, 10), pid="p1", visit="V4"
        ),
    ]


def episode(eid, pid, day, **kw):
    kw.setdefault("from_setting", CareSetting.INPATIENT_ACUTE)
    return TransitionEpisode(
        id=eid,
        patient_id=pid,
        discharge_event_id=f"adt-{eid}",
        discharged_at=pendulum.datetime(day.year, day.month, day.day, 12, tz=TZ),
        **kw,
    )


def episodes():
    return [
        episode("ep1", "p1", D(2026, 2, 14), readmitted=True),
        episode("ep2", "p2", D(2026, 3, 10)),
        episode("ep3", "p1", D(2026, 3, 1), from_setting=CareSetting.SKILLED_NURSING_FACILITY),
        episode("ep4", "p2", D(2026, 1, 5), status=EpisodeStatus.CANCELLED),
        episode("ep5", "p3", D(2025, 12, 20), readmitted=True),
    ]


def goal(gid, due, achievement, lifecycle=GoalLifecycle.ACTIVE, target=True):
    return Goal(
        id=gid,
        description="A1c below 8%",
        lifecycle=lifecycle,
        achievement=achievement,
        target=Target(measure="A1c", comparator=Comparator.LT, value="8.0", unit="%", due=due)
        if target
        else None,
    )


def care_plans():
    old = CarePlan(
        id="cp1",
        patient_id="p1",
        title="t",
        families=[CCM],
        created_on=D(2025, 12, 1),
        goals=[goal("g2", D(2026, 3, 15), GoalAchievement.ACHIEVED)],
    )
    new = CarePlan(
        id="cp1",
        patient_id="p1",
        title="t",
        families=[CCM],
        created_on=D(2025, 12, 1),
        version=2,
        goals=[
            goal("g1", D(2026, 2, 1), GoalAchievement.ACHIEVED),
            goal("g2", D(2026, 3, 15), GoalAchievement.NOT_ACHIEVED),
            goal("g3", D(2026, 3, 20), GoalAchievement.IN_PROGRESS, GoalLifecycle.CANCELLED),
            goal("g4", D(2026, 3, 20), GoalAchievement.ACHIEVED, target=False),
            goal("g5", D(2026, 5, 1), GoalAchievement.ACHIEVED),
        ],
    )
    other = CarePlan(
        id="cp2",
        patient_id="p2",
        title="t",
        families=[CCM],
        created_on=D(2026, 2, 15),
        goals=[goal("g1", D(2026, 1, 31), GoalAchievement.SUSTAINING)],
    )
    return [old, new, other]


def obs(oid, pid, day, value, *, loinc="4548-4", measure="Hemoglobin A1c"):
    return Observation(
        id=oid, patient_id=pid, measure=measure, loinc=loinc, value=value, unit="%", on=day
    )


def observations():
    return [
        obs("o1", "p1", D(2025, 4, 15), "9.0"),
        obs("o2", "p1", D(2025, 10, 1), "8.2"),
        obs("o3", "p1", D(2026, 3, 1), "7.6"),
        obs("o4", "p2", D(2026, 1, 10), "8.0"),
        obs("o5", "p2", D(2026, 3, 1), "7.0"),
        obs("o6", "p3", D(2025, 3, 1), "10.0"),
        obs("o7", "p3", D(2025, 6, 1), "9.5", loinc=None, measure="HbA1c"),
        obs("o8", "p3", D(2026, 2, 1), "9.9", loinc=None, measure="HbA1c"),
        obs("o9", "p1", D(2026, 2, 1), "180", loinc="2345-7", measure="Glucose"),
    ]


def conditions():
    out = []
    for pid, codes in {
        "p1": ("E11.9", "I50.22"),
        "p2": ("E11.9", "I10"),
        "p3": ("J44.9", "I10"),
        "p4": ("N18.4", "I10"),
        "p5": ("E11.9",),
    }.items():
        out += [
            Condition(
                id=f"{pid}-{c}",
                patient_id=pid,
                coding=Coding.icd10cm(c),
                chronic=True,
                significant_risk=True,
            )
            for c in codes
        ]
    return out


def care_teams():
    return [
        CareTeam(
            id="team1",
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
    ]


def data():
    return ProgramData(
        patients=[make_patient(f"p{i}") for i in range(1, 6)],
        practitioners=[Practitioner(id="dr1", name="Dr. One", credential=Credential.MD)],
        conditions=conditions(),
        enrollments=enrollments(),
        care_teams=care_teams(),
        care_plans=care_plans(),
        time_entries=time_entries(),
        adt_events=adt_events(),
        episodes=episodes(),
        claim_lines=claim_lines(),
        observations=observations(),
    )
