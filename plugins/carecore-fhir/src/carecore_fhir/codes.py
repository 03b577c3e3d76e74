"""Code systems, value sets and code maps between FHIR R4 and carecore.

``fhir.resources`` checks structure, not code values, so the required codes
carecore reads and writes are checked here, against the R4 value sets
(hl7.org/fhir/R4/valueset-*.html) named in each constant.

>>> REQUIRED[("CarePlan", "status")] >= {"draft", "active", "completed"}
True
>>> CARE_PLAN_STATUS_IN["on-hold"].value
'on-hold'
"""

from __future__ import annotations

from carecore.model import (
    AdministrativeSex,
    CarePlanStatus,
    CareSetting,
    CareTeamRole,
    Credential,
    EnrollmentStatus,
    GoalAchievement,
    GoalLifecycle,
    InterventionKind,
    TaskStatus,
)

__all__ = [
    "CARECORE",
    "CARE_PLAN_STATUS_IN",
    "DISPOSITIONS",
    "EPISODE_STATUS",
    "GOAL_LIFECYCLE_IN",
    "LOINC",
    "PATIENT_ID",
    "REQUIRED",
    "SNOMED",
    "TIMEZONE_EXTENSION",
]

#: carecore's own code systems and extensions live under this URL.
CARECORE = "https://carecore.dev/fhir"
#: The identifier system under which an export names a patient's carecore id.
PATIENT_ID = f"{CARECORE}/patient-id"
#: The identifier system under which an export gives an inpatient stay's visit number.
VISIT_NUMBER = f"{CARECORE}/visit-number"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
#: Language tags (US Core Patient.communication.language).
BCP47 = "urn:ietf:bcp:47"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
#: The FHIR core extension for a person's IANA time zone (R5 core, usable in R4 as an extension).
TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
US_CORE_CAREPLAN_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"
V2_0360 = "http://terminology.hl7.org/CodeSystem/v2-0360|2.7"
NUBC_DISPOSITION = "http://www.nubc.org/patient-discharge"
HL7_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
FAMILY_SYSTEM = f"{CARECORE}/CodeSystem/service-family"
ROLE_SYSTEM = f"{CARECORE}/CodeSystem/care-team-role"
CREDENTIAL_SYSTEM = f"{CARECORE}/CodeSystem/credential"
INTERVENTION_SYSTEM = f"{CARECORE}/CodeSystem/intervention-kind"
CONSENT_METHOD_SYSTEM = f"{CARECORE}/CodeSystem/consent-method"

#: Required bindings carecore checks itself (R4 value sets; fhir.resources does not check them).
REQUIRED: dict[tuple[str, str], frozenset[str]] = {
    # hl7.org/fhir/R4/valueset-request-status.html
    ("CarePlan", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    # valueset-care-plan-intent.html
    ("CarePlan", "intent"): frozenset({"proposal", "plan", "order", "option"}),
    # valueset-goal-status.html
    ("Goal", "lifecycleStatus"): frozenset(
        {
            "proposed",
            "planned",
            "accepted",
            "active",
            "on-hold",
            "completed",
            "cancelled",
            "entered-in-error",
            "rejected",
        }
    ),
    # valueset-task-status.html
    ("Task", "status"): frozenset(
        {
            "draft",
            "requested",
            "received",
            "accepted",
            "rejected",
            "ready",
            "cancelled",
            "in-progress",
            "on-hold",
            "failed",
            "completed",
            "entered-in-error",
        }
    ),
    # valueset-task-intent.html
    ("Task", "intent"): frozenset(
        {
            "unknown",
            "proposal",
            "plan",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    # valueset-request-status.html / valueset-request-intent.html
    ("ServiceRequest", "status"): frozenset(
        {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}
    ),
    ("ServiceRequest", "intent"): frozenset(
        {
            "proposal",
            "plan",
            "directive",
            "order",
            "original-order",
            "reflex-order",
            "filler-order",
            "instance-order",
            "option",
        }
    ),
    # valueset-care-team-status.html
    ("CareTeam", "status"): frozenset(
        {"proposed", "active", "suspended", "inactive", "entered-in-error"}
    ),
    # valueset-consent-state-codes.html
    ("Consent", "status"): frozenset(
        {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
    ),
    # valueset-episode-of-care-status.html
    ("EpisodeOfCare", "status"): frozenset(
        {"planned", "waitlist", "active", "onhold", "finished", "cancelled", "entered-in-error"}
    ),
    # valueset-questionnaire-answers-status.html
    ("QuestionnaireResponse", "status"): frozenset(
        {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
    ),
    # valueset-observation-status.html
    ("Observation", "status"): frozenset(
        {
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    # valueset-encounter-status.html
    ("Encounter", "status"): frozenset(
        {
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        }
    ),
    # valueset-condition-clinical.html (a CodeableConcept; its code is checked)
    ("Condition", "clinicalStatus"): frozenset(
        {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
    ),
    # valueset-administrative-gender.html
    ("Patient", "gender"): frozenset({"male", "female", "other", "unknown"}),
}

#: Required category codes of exported resources: (resource, system) -> allowed codes.
REQUIRED_CATEGORY: dict[str, tuple[str, frozenset[str]]] = {
    # US Core CarePlan: category slice assess-plan (required).
    "CarePlan": (US_CORE_CAREPLAN_CATEGORY, frozenset({"assess-plan"})),
}

GENDER = {
    "male": AdministrativeSex.MALE,
    "female": AdministrativeSex.FEMALE,
    "other": AdministrativeSex.OTHER,
    "unknown": AdministrativeSex.UNKNOWN,
}

CARE_PLAN_STATUS_IN: dict[str, CarePlanStatus] = {s.value: s for s in CarePlanStatus}

#: Goal.lifecycleStatus (R4) to carecore; entered-in-error is skipped on import.
GOAL_LIFECYCLE_IN: dict[str, GoalLifecycle] = {
    "proposed": GoalLifecycle.PROPOSED,
    "planned": GoalLifecycle.PROPOSED,
    "accepted": GoalLifecycle.ACTIVE,
    "active": GoalLifecycle.ACTIVE,
    "on-hold": GoalLifecycle.ON_HOLD,
    "completed": GoalLifecycle.COMPLETED,
    "cancelled": GoalLifecycle.CANCELLED,
    "rejected": GoalLifecycle.CANCELLED,
}
GOAL_ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"
GOAL_ACHIEVEMENT_IN: dict[str, GoalAchievement] = {a.value: a for a in GoalAchievement}

#: CarePlan.activity.detail.status (valueset-care-plan-activity-status) to a task status.
ACTIVITY_STATUS_IN: dict[str, TaskStatus] = {
    "not-started": TaskStatus.REQUESTED,
    "scheduled": TaskStatus.ACCEPTED,
    "in-progress": TaskStatus.IN_PROGRESS,
    "on-hold": TaskStatus.ON_HOLD,
    "completed": TaskStatus.COMPLETED,
    "cancelled": TaskStatus.CANCELLED,
    "stopped": TaskStatus.CANCELLED,
    "unknown": TaskStatus.REQUESTED,
}
#: Task.status to carecore; draft/received/ready fold into requested/accepted.
TASK_STATUS_IN: dict[str, TaskStatus] = {
    **{s.value: s for s in TaskStatus},
    "draft": TaskStatus.REQUESTED,
    "received": TaskStatus.REQUESTED,
    "ready": TaskStatus.ACCEPTED,
    "rejected": TaskStatus.CANCELLED,
}

#: CarePlan.activity.detail.kind to an intervention kind (carecore's own code wins when given).
ACTIVITY_KIND_IN: dict[str, InterventionKind] = {
    "MedicationRequest": InterventionKind.MEDICATION,
    "NutritionOrder": InterventionKind.SELF_MANAGEMENT,
    "CommunicationRequest": InterventionKind.COORDINATION,
    "Appointment": InterventionKind.COORDINATION,
    "ServiceRequest": InterventionKind.COORDINATION,
    "DeviceRequest": InterventionKind.MONITORING,
    "Task": InterventionKind.COORDINATION,
}

#: Degrees and licences in HL7 v2 table 0360 (Practitioner.qualification.code) carecore knows.
QUALIFICATION_IN: dict[str, Credential] = {
    "MD": Credential.MD,
    "DO": Credential.DO,
    "NP": Credential.NP,
    "PA": Credential.PA,
    "RN": Credential.RN,
    "LPN": Credential.LPN,
    "CNS": Credential.CNS,
    "CNM": Credential.CNM,
    "MSW": Credential.LCSW,
    "PharmD": Credential.PHARMD,
    "PHARMD": Credential.PHARMD,
    "MA": Credential.MA,
}

#: Discharge dispositions: NUBC UB-04 FL17 codes (also HL7 v2 table 0112) and the HL7
#: discharge-disposition code system, to the setting the patient went to.
DISPOSITIONS: dict[str, CareSetting] = {
    "01": CareSetting.HOME,
    "02": CareSetting.INPATIENT_ACUTE,
    "03": CareSetting.SKILLED_NURSING_FACILITY,
    "04": CareSetting.NURSING_FACILITY,
    "06": CareSetting.HOME,
    "07": CareSetting.HOME,
    "20": CareSetting.EXPIRED,
    "50": CareSetting.HOSPICE,
    "51": CareSetting.HOSPICE,
    "61": CareSetting.SKILLED_NURSING_FACILITY,
    "62": CareSetting.INPATIENT_REHABILITATION,
    "63": CareSetting.LONG_TERM_CARE_HOSPITAL,
    "64": CareSetting.NURSING_FACILITY,
    "65": CareSetting.INPATIENT_PSYCHIATRIC,
    "home": CareSetting.HOME,
    "alt-home": CareSetting.HOME,
    "other-hcf": CareSetting.UNKNOWN,
    "hosp": CareSetting.HOSPICE,
    "long": CareSetting.LONG_TERM_CARE_HOSPITAL,
    "aadvice": CareSetting.HOME,
    "exp": CareSetting.EXPIRED,
    "psy": CareSetting.INPATIENT_PSYCHIATRIC,
    "rehab": CareSetting.INPATIENT_REHABILITATION,
    "snf": CareSetting.SKILLED_NURSING_FACILITY,
    "oth": CareSetting.UNKNOWN,
}
#: The NUBC code carecore writes for each setting.
DISPOSITION_OUT: dict[CareSetting, str] = {
    CareSetting.HOME: "01",
    CareSetting.INPATIENT_ACUTE: "02",
    CareSetting.SKILLED_NURSING_FACILITY: "03",
    CareSetting.NURSING_FACILITY: "04",
    CareSetting.EXPIRED: "20",
    CareSetting.HOSPICE: "50",
    CareSetting.INPATIENT_REHABILITATION: "62",
    CareSetting.LONG_TERM_CARE_HOSPITAL: "63",
    CareSetting.INPATIENT_PSYCHIATRIC: "65",
}

#: Enrollment status to EpisodeOfCare.status.
EPISODE_STATUS: dict[EnrollmentStatus, str] = {
    EnrollmentStatus.IDENTIFIED: "planned",
    EnrollmentStatus.OUTREACH: "planned",
    EnrollmentStatus.CONSENTED: "waitlist",
    EnrollmentStatus.ENROLLED: "active",
    EnrollmentStatus.PAUSED: "onhold",
    EnrollmentStatus.DISENROLLED: "finished",
}

#: Care-team roles carecore writes as its own codes; other roles default to clinical staff.
ROLE_IN: dict[str, CareTeamRole] = {r.value: r for r in CareTeamRole}

#: Observations carecore reads: LOINC code -> (measure name).
OBSERVATION_MEASURES: dict[str, str] = {
    "4548-4": "Hemoglobin A1c",
    "17856-6": "Hemoglobin A1c (HPLC)",
    "29463-7": "Body weight",
    "8480-6": "Systolic blood pressure",
    "8462-4": "Diastolic blood pressure",
}
#: The blood-pressure panel US Core and the R4 vital-signs profile fix: 85354-9 (all
#: children optional); https://hl7.org/fhir/R4/bp.html.
BP_PANEL = "85354-9"
#: Blood-pressure panels read: 85354-9; 85354-6, which carecore wrote before; and 55284-4
#: (systolic and diastolic), which Synthea writes.
BP_PANELS = frozenset({BP_PANEL, "85354-6", "55284-4"})
BP_COMPONENTS = ("8480-6", "8462-4")

#: LOINC codes of published instrument total scores (score Observations on export).
SCORE_LOINC: dict[str, tuple[str, str]] = {
    "phq-9": ("44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"),
    "phq-2": ("55758-7", "Patient Health Questionnaire 2 item (PHQ-2) total score [Reported]"),
    "gad-7": ("70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"),
}
