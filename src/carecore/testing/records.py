"""Ready-made records for tests, the same wherever a test needs them.

A change to the model is then made in one place.

Home readings: a plugin that imports readings (FHIR, a device feed) or
delivers their alerts (mail, a chat) needs a patient whose care plan says
what reading is urgent:

>>> from carecore.testing.records import blood_pressure_plan
>>> plan = blood_pressure_plan()
>>> (zones,) = plan.symptom_plans
>>> zones.red.limits[0].loinc, zones.red.limits[0].comparator.value, zones.red.limits[0].value
('8480-6', '>=', Decimal('180'))

The plan is active from 1 March 2026, for CCM, and names no care team;
add a :class:`~carecore.model.CareTeam` with a care manager for the alert
to have someone to reach.

Attested significant risk: :func:`attestation_month` is a small CCM
practice whose March 2026 bills differently when significant risk must be
attested by a clinician than when the condition table's answer counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pendulum

from carecore.careplans import draft_plan
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    CarePlan,
    CarePlanStatus,
    Coding,
    Comparator,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Enrollment,
    FaceToFaceVisit,
    MdmLevel,
    Patient,
    Practitioner,
    ReadingLimit,
    RoleClass,
    ServiceFamily,
    SymptomActionPlan,
    Task,
    TimeEntry,
    VisitKind,
    ZoneAction,
)
from carecore.testing._store_contract import make_patient

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "PracticeRecord",
    "attestation_month",
    "blood_pressure_plan",
    "blood_pressure_zones",
    "systolic_limit",
]

SYSTOLIC = "8480-6"
"""LOINC code of systolic blood pressure."""


def systolic_limit(value: str = "180", comparator: Comparator = Comparator.GE) -> ReadingLimit:
    """A limit on systolic blood pressure in mm[Hg] (LOINC 8480-6), at or above *value* by default.

    >>> systolic_limit("160").value
    Decimal('160')
    """
    return ReadingLimit(
        measure="Systolic blood pressure",
        loinc=SYSTOLIC,
        comparator=comparator,
        value=value,
        unit="mm[Hg]",
    )


def blood_pressure_zones(
    red: ReadingLimit | None = None, *, alerts: Iterable[ReadingLimit] = ()
) -> SymptomActionPlan:
    """Green, yellow and red zones for blood pressure; the red zone holds *red*.

    *red* defaults to :func:`systolic_limit` (180 or above). *alerts* are
    limits outside the zones (a weight gain, say) that also make a reading
    urgent.

    >>> blood_pressure_zones().red.signs
    ('180 or above',)
    """
    return SymptomActionPlan(
        id="s1",
        problem_id="pr1",
        title="Blood pressure",
        green=ZoneAction(signs=["under 140"], actions=["keep going"]),
        yellow=ZoneAction(signs=["140 to 179"], actions=["call the care manager"]),
        red=ZoneAction(
            signs=["180 or above"], actions=["call now"], limits=[red or systolic_limit()]
        ),
        alerts=list(alerts),
    )


def blood_pressure_plan(
    patient_id: str = "p1",
    *,
    plan_id: str = "cp1",
    zones: SymptomActionPlan | None = None,
    tasks: Iterable[Task] = (),
) -> CarePlan:
    """An active CCM care plan for *patient_id* holding *zones* (default :func:`blood_pressure_zones`).

    >>> blood_pressure_plan("p7").patient_id
    'p7'
    """
    return CarePlan(
        id=plan_id,
        patient_id=patient_id,
        title="Plan",
        families={ServiceFamily.CCM},
        created_on=pendulum.Date(2026, 3, 1),
        status=CarePlanStatus.ACTIVE,
        symptom_plans=[zones or blood_pressure_zones()],
        tasks=list(tasks),
    )


#: A record :func:`attestation_month` gives (each is added to a store as it is).
PracticeRecord = (
    Practitioner
    | Patient
    | Condition
    | Consent
    | FaceToFaceVisit
    | CarePlan
    | Enrollment
    | TimeEntry
)

#: The day the practice's CCM patients consented, were seen, agreed their plan and were enrolled.
_CCM_START = pendulum.Date(2026, 1, 5)


def attestation_month() -> list[PracticeRecord]:
    """A CCM practice whose March 2026 turns on whether significant risk must be attested.

    The records, in the order to add them: the billing practitioner ``dr1``
    (MD), then three patients with the same three chronic conditions
    (E11.65, I50.22 and F33.1, which the condition table places at
    significant risk):

    - ``p1``: consent to CCM, an office visit, an agreed care plan and a CCM
      enrollment, all on 5 January 2026, and 12 clinical-staff minutes on
      2 March; no condition attested at significant risk;
    - ``p2``: the same, each condition attested (``significant_risk=True``);
    - ``p3``: the patient and its conditions, none attested; not enrolled.

    Where the table's answer counts, p1 and p2 are each 8 minutes short of
    99490 and p3 may be enrolled. Where only an attestation counts, p2
    alone is, and p3 needs an attestation rather than an enrollment.

    >>> records = attestation_month()
    >>> records[0].id, sorted({r.id for r in records if isinstance(r, Patient)})
    ('dr1', ['p1', 'p2', 'p3'])
    >>> sorted({(r.patient_id, r.significant_risk) for r in records if isinstance(r, Condition)})
    [('p1', False), ('p2', True), ('p3', False)]
    >>> [(r.patient_id, r.minutes, r.service_date.isoformat()) for r in records if isinstance(r, TimeEntry)]
    [('p1', 12, '2026-03-02'), ('p2', 12, '2026-03-02')]
    >>> [r.patient_id for r in records if isinstance(r, Enrollment)]
    ['p1', 'p2']
    """
    out: list[PracticeRecord] = [Practitioner(id="dr1", name="Dr. dr1", credential=Credential.MD)]
    for pid, attested in (("p1", False), ("p2", True)):
        out += [make_patient(pid), *_chronic_conditions(pid, attested=attested)]
        out += _ccm_enrolled(pid, "dr1")
        out.append(
            TimeEntry(
                id=f"{pid}-t1",
                patient_id=pid,
                performer_id=f"{RoleClass.CLINICAL_STAFF.value}-1",
                credential=Credential.RN,
                role_class=RoleClass.CLINICAL_STAFF,
                minutes=12,
                family=ServiceFamily.CCM,
                activity="care coordination",
                service_date=pendulum.Date(2026, 3, 2),
                billing_practitioner_id="dr1",
            )
        )
    out += [make_patient("p3"), *_chronic_conditions("p3", attested=False)]
    return out


def _chronic_conditions(patient_id: str, *, attested: bool) -> list[Condition]:
    """Diabetes, heart failure and depression since 2020 (F33.1 behavioral)."""
    return [
        Condition(
            id=f"{patient_id}-c{i}",
            patient_id=patient_id,
            coding=Coding.icd10cm(code),
            chronic=True,
            significant_risk=attested,
            behavioral=code.startswith("F"),
            onset=pendulum.Date(2020, 1, 1),
        )
        for i, code in enumerate(("E11.65", "I50.22", "F33.1"))
    ]


def _ccm_enrolled(patient_id: str, practitioner_id: str) -> list[PracticeRecord]:
    """What CCM needs besides conditions and time: consent, a visit, an agreed plan, the enrollment."""
    on, ccm = _CCM_START, ServiceFamily.CCM
    plan = draft_plan(
        f"{patient_id}-cp",
        patient_id,
        conditions=[
            Condition(
                id=f"{patient_id}-pc",
                patient_id=patient_id,
                coding=Coding.icd10cm("E11.65"),
                chronic=True,
            )
        ],
        on=on,
        responsible_id=practitioner_id,
        families=[ccm],
    )
    agreed = attrs.evolve(
        plan,
        expected_outcome="A1c at goal within 6 months; prognosis good with support",
        assessments=(
            AssessmentNote(domain=AssessmentDomain.FUNCTIONAL, summary="Independent"),
            AssessmentNote(domain=AssessmentDomain.ENVIRONMENTAL, summary="Lives alone"),
            AssessmentNote(domain=AssessmentDomain.CAREGIVER, summary="Daughter helps"),
        ),
        shared_with_patient_on=on,
    ).activate()
    return [
        Consent(
            id=f"{patient_id}-k",
            patient_id=patient_id,
            family=ccm,
            method=ConsentMethod.VERBAL,
            obtained_on=on,
            obtained_by=practitioner_id,
            billing_practitioner_id=practitioner_id,
            cost_sharing_explained=True,
        ),
        FaceToFaceVisit(
            id=f"{patient_id}-v",
            patient_id=patient_id,
            on=on,
            kind=VisitKind.OFFICE_EM,
            mdm=MdmLevel.MODERATE,
            billing_practitioner_id=practitioner_id,
            em_code="99214",
        ),
        agreed,
        Enrollment.start(
            id=f"{patient_id}-ccm",
            patient_id=patient_id,
            program_id="ccm",
            family=ccm,
            billing_practitioner_id=practitioner_id,
            on=on,
        ),
    ]
