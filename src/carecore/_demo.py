"""The demo practice: a small CCM program built from model values, and its month summary.

Everything here is ordinary carecore values and pure functions; the CLI's
``carecore demo`` prints what :func:`summarize` computes.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING

import pendulum
from attrs import frozen

from carecore import errors
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Enrollment,
    EnrollmentStatus,
    Patient,
    PatientClass,
    Practitioner,
    Program,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    SupervisionLevel,
    TimeEntry,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.billing.engine import EvaluationResult
    from carecore.service import CareProgram

PRACTICE_TZ = "America/Chicago"
MAX_PATIENTS = 10_000

# Real ICD-10-CM codes; the chronic flag is what a billing practitioner would attest.
_CONDITIONS: tuple[tuple[str, bool], ...] = (
    ("E11.9", True),
    ("E11.65", True),
    ("I10", True),
    ("I50.22", True),
    ("J44.9", True),
    ("N18.4", True),
    ("F33.1", True),
    ("E78.5", True),
    ("M17.11", True),
    ("J06.9", False),  # acute upper respiratory infection
    ("S93.401A", False),  # ankle sprain
)
_GIVEN = (
    "Ada",
    "Luis",
    "Mei",
    "Samuel",
    "Grace",
    "Omar",
    "Ruth",
    "Kwame",
    "Elena",
    "Frank",
)
_FAMILY = (
    "Okafor",
    "Ramirez",
    "Chen",
    "Brooks",
    "Novak",
    "Haddad",
    "Klein",
    "Mensah",
    "Ortiz",
)
_ACTIVITIES = (
    "medication reconciliation",
    "care plan review by phone",
    "coordination with cardiology",
    "symptom check-in",
    "education on home glucose monitoring",
)


@frozen(kw_only=True)
class DemoPractice:
    """Everything the demo builds."""

    program: Program
    practitioners: tuple[Practitioner, ...]
    patients: tuple[Patient, ...]
    conditions: tuple[Condition, ...]
    consents: tuple[Consent, ...]
    enrollments: tuple[Enrollment, ...]
    care_teams: tuple[CareTeam, ...]
    time_entries: tuple[TimeEntry, ...]
    adt_events: tuple[AdtEvent, ...]


@frozen(kw_only=True)
class PatientMonth:
    """One patient's month in the program."""

    patient_id: str
    name: str
    chronic_conditions: int
    eligible: bool
    enrolled: bool
    staff_minutes: int
    practitioner_minutes: int
    non_clinical_minutes: int

    @property
    def countable_minutes(self) -> int:
        """Minutes by clinical staff and practitioners (non-clinical time excluded)."""
        return self.staff_minutes + self.practitioner_minutes


def build_demo(*, patients: int, seed: int, period: ServicePeriod) -> DemoPractice:
    """Build a practice of *patients* patients with one month of CCM activity in *period*."""
    if (
        isinstance(patients, bool)
        or not isinstance(patients, int)
        or not 1 <= patients <= MAX_PATIENTS
    ):
        raise errors.InvalidValue("must be 1 to 10000", field="patients", value=patients)
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not security
    program = Program(
        id="ccm",
        name="Chronic care management",
        family=ServiceFamily.CCM,
        time_zone=PRACTICE_TZ,
    )
    doctor = Practitioner(
        id="dr-ruiz", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893"
    )
    nurse = Practitioner(id="rn-park", name="Jin Park, RN", credential=Credential.RN)
    assistant = Practitioner(id="ma-diaz", name="Rosa Diaz, MA", credential=Credential.MA)
    scheduler = Practitioner(id="sch-lee", name="Tom Lee", credential=Credential.NONE)
    staff = (doctor, nurse, assistant, scheduler)

    people: list[Patient] = []
    conditions: list[Condition] = []
    consents: list[Consent] = []
    enrollments: list[Enrollment] = []
    teams: list[CareTeam] = []
    entries: list[TimeEntry] = []
    for index in range(patients):
        pid = f"p-{index + 1:04d}"
        patient = Patient(
            id=pid,
            given_name=rng.choice(_GIVEN),
            family_name=rng.choice(_FAMILY),
            birth_date=pendulum.Date(
                rng.randint(1935, 1960), rng.randint(1, 12), rng.randint(1, 28)
            ),
            sex=rng.choice((AdministrativeSex.FEMALE, AdministrativeSex.MALE)),
            time_zone=PRACTICE_TZ,
        )
        people.append(patient)
        for n, (code, chronic) in enumerate(rng.sample(_CONDITIONS, rng.randint(0, 4))):
            conditions.append(
                Condition(
                    id=f"{pid}-c{n}",
                    patient_id=patient.id,
                    coding=Coding.icd10cm(code),
                    onset=period.start.subtract(months=rng.randint(13, 120)),
                    chronic=chronic,
                    significant_risk=chronic,
                )
            )
        chronic_count = sum(1 for c in conditions if c.patient_id == pid and c.chronic)
        if chronic_count < 2 or rng.random() < 0.25:  # noqa: PLR2004 - some eligible patients decline
            continue
        enrolled_on = period.start.subtract(days=rng.randint(1, 200))
        consents.append(
            Consent(
                id=f"{pid}-consent",
                patient_id=patient.id,
                family=ServiceFamily.CCM,
                method=rng.choice((ConsentMethod.VERBAL, ConsentMethod.WRITTEN)),
                obtained_on=enrolled_on,
                obtained_by=nurse.id,
                billing_practitioner_id=doctor.id,
                cost_sharing_explained=True,
            )
        )
        enrollments.append(
            Enrollment.start(
                id=f"{pid}-ccm",
                patient_id=patient.id,
                program_id=program.id,
                family=ServiceFamily.CCM,
                billing_practitioner_id=doctor.id,
                on=enrolled_on,
            )
        )
        teams.append(
            CareTeam(
                id=f"{pid}-team",
                patient_id=patient.id,
                members=[
                    CareTeamMember(
                        practitioner_id=doctor.id,
                        role=CareTeamRole.BILLING_PRACTITIONER,
                    ),
                    CareTeamMember(
                        practitioner_id=nurse.id,
                        role=CareTeamRole.CARE_MANAGER,
                        supervisor_id=doctor.id,
                        supervision=SupervisionLevel.GENERAL,
                    ),
                ],
            )
        )
        entries.extend(_month_of_time(rng, pid, period, (doctor, nurse, assistant, scheduler)))

    admitted = pendulum.datetime(period.start.year, period.start.month, 3, 22, tz=PRACTICE_TZ)
    discharge = AdtEvent(
        id=f"adt-{period.start.year}{period.start.month:02d}",
        source_key=f"DEMO-A03-{period.start.year}{period.start.month:02d}",
        patient_id=people[0].id,
        kind=AdtEventKind.DISCHARGE,
        occurred_at=admitted.add(days=3, hours=13),
        patient_class=PatientClass.INPATIENT,
        admitted_at=admitted,
        discharged_at=admitted.add(days=3, hours=13),
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
        facility="Riverbend General Hospital",
    )
    return DemoPractice(
        program=program,
        practitioners=staff,
        patients=tuple(people),
        conditions=tuple(conditions),
        consents=tuple(consents),
        enrollments=tuple(enrollments),
        care_teams=tuple(teams),
        time_entries=tuple(entries),
        adt_events=(discharge,),
    )


def _month_of_time(
    rng: random.Random, pid: str, period: ServicePeriod, staff: Sequence[Practitioner]
) -> list[TimeEntry]:
    doctor, nurse, assistant, scheduler = staff
    out = []
    for n in range(rng.randint(0, 5)):
        who, role = rng.choice(
            (
                (nurse, RoleClass.CLINICAL_STAFF),
                (nurse, RoleClass.CLINICAL_STAFF),
                (assistant, RoleClass.CLINICAL_STAFF),
                (doctor, RoleClass.PHYSICIAN),
                (scheduler, RoleClass.NON_CLINICAL),
            )
        )
        activity = "scheduling" if role is RoleClass.NON_CLINICAL else rng.choice(_ACTIVITIES)
        out.append(
            TimeEntry(
                # The month is in the id, so a later month's run adds its own entries.
                id=f"{pid}-{period.start.year}{period.start.month:02d}-t{n}",
                patient_id=pid,
                performer_id=who.id,
                credential=who.credential,
                role_class=role,
                minutes=rng.randint(3, 25),
                family=ServiceFamily.CCM,
                activity=activity,
                service_date=period.start.add(days=rng.randint(0, period.days - 1)),
                billing_practitioner_id=doctor.id,
            )
        )
    return out


def summarize(practice: DemoPractice, period: ServicePeriod) -> list[PatientMonth]:
    """One row per patient: chronic conditions, eligibility, enrollment and minutes in *period*."""
    chronic = Counter(
        c.patient_id for c in practice.conditions if c.chronic and c.active_on(period.end)
    )
    enrolled = {
        e.patient_id
        for e in practice.enrollments
        if e.status_on(period.end) is EnrollmentStatus.ENROLLED
    }
    minutes: dict[str, Counter[RoleClass]] = {}
    for entry in practice.time_entries:
        if entry.service_date in period:
            minutes.setdefault(entry.patient_id, Counter())[entry.role_class] += entry.minutes
    return [
        PatientMonth(
            patient_id=p.id,
            name=f"{p.given_name} {p.family_name}",
            chronic_conditions=chronic[p.id],
            eligible=chronic[p.id] >= 2,  # noqa: PLR2004 - CCM: two or more chronic conditions
            enrolled=p.id in enrolled,
            staff_minutes=minutes.get(p.id, Counter())[RoleClass.CLINICAL_STAFF],
            practitioner_minutes=minutes.get(p.id, Counter())[RoleClass.PHYSICIAN]
            + minutes.get(p.id, Counter())[RoleClass.QHP],
            non_clinical_minutes=minutes.get(p.id, Counter())[RoleClass.NON_CLINICAL],
        )
        for p in practice.patients
    ]


def bill(practice: DemoPractice, period: ServicePeriod) -> list[tuple[str, EvaluationResult]]:
    """Evaluate each enrolled patient's month with the CMS rules of the period's year.

    Returns ``(patient_id, EvaluationResult)`` pairs; an empty list when no
    CMS rule set covers the year.
    """
    from carecore.billing import CMS_YEARS, cms_rule_set, evaluate  # noqa: PLC0415
    from carecore.billing.bridge import facts_from_model  # noqa: PLC0415

    if period.start.year not in CMS_YEARS:
        return []
    rules = cms_rule_set(period.start.year)
    doctor = next(
        p for p in practice.practitioners if p.credential in {Credential.MD, Credential.DO}
    )
    out: list[tuple[str, EvaluationResult]] = []
    for enrollment in practice.enrollments:
        if enrollment.status_on(period.end) is not EnrollmentStatus.ENROLLED:
            continue
        patient = next(p for p in practice.patients if p.id == enrollment.patient_id)
        started = enrollment.enrolled_on or period.start  # enrolled at the period's end, so set
        facts = facts_from_model(
            patient=patient,
            practitioners=[doctor],
            period=period,
            time_zone=practice.program.time_zone,
            conditions=[c for c in practice.conditions if c.patient_id == patient.id],
            consents=[c for c in practice.consents if c.patient_id == patient.id],
            care_plans={ServiceFamily.CCM: started},
            time_entries=[t for t in practice.time_entries if t.patient_id == patient.id],
            last_visit=started,
        )
        out.append((patient.id, evaluate(facts, rules)))
    return out


def save(program: CareProgram, practice: DemoPractice) -> tuple[int, int]:
    """Write the practice to the program's store, one bulk load per kind.

    Records already stored (a re-run on the same database) are skipped.
    Returns ``(added, skipped)``.
    """
    added = skipped = 0
    groups: tuple[Sequence[object], ...] = (
        (practice.program,),
        practice.practitioners,
        practice.patients,
        practice.conditions,
        practice.consents,
        practice.enrollments,
        practice.care_teams,
        practice.time_entries,
        practice.adt_events,
    )
    for group in groups:
        result = program.import_records(group, reason="carecore demo: generated practice")
        added += result.added
        skipped += result.skipped
    return added, skipped


def load(program: CareProgram, program_id: str = "ccm") -> DemoPractice:
    """Read the demo practice back from the program's store (every stored record)."""
    with program.transaction("carecore demo: monthly summary") as tx:
        stored_program = tx.get(Program, program_id)
        return DemoPractice(
            program=stored_program,
            practitioners=tuple(tx.all(Practitioner)),
            patients=tuple(tx.all(Patient)),
            conditions=tuple(tx.all(Condition)),
            consents=tuple(tx.all(Consent)),
            enrollments=tuple(tx.all(Enrollment)),
            care_teams=tuple(tx.all(CareTeam)),
            time_entries=tuple(tx.all(TimeEntry)),
            adt_events=tuple(tx.all(AdtEvent)),
        )
