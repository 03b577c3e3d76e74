"""Coded values used across the model.

Every code is an :class:`enum.Enum` whose ``value`` is the wire spelling used
in carecore JSON, the billing scenario files (docs/how-to/evaluate-a-scenario.md)
and the month-close CSV format.

>>> ServiceFamily("CCM") is ServiceFamily.CCM
True
>>> Credential.NP.is_billing_practitioner
True
>>> MdmLevel.HIGH > MdmLevel.MODERATE
True
"""

from __future__ import annotations

import enum
import functools

__all__ = [
    "AdministrativeSex",
    "AdtEventKind",
    "AssessmentDomain",
    "BhAddon",
    "CarePlanStatus",
    "CareSetting",
    "CareTeamRole",
    "CodeEnum",
    "CodeSystem",
    "Comparator",
    "ConsentMethod",
    "ContactMode",
    "Credential",
    "DenialReason",
    "DisenrollmentReason",
    "EnrollmentStatus",
    "EpisodeCloseKind",
    "EpisodeStatus",
    "GoalAchievement",
    "GoalLifecycle",
    "InterventionKind",
    "MdmLevel",
    "PatientClass",
    "ReferralStatus",
    "RoleClass",
    "RtmSystem",
    "ServiceFamily",
    "SocialNeed",
    "SupervisionLevel",
    "TaskStatus",
    "VisitKind",
]


class CodeEnum(enum.Enum):
    """Base of carecore's code enums.

    Members are singletons compared by identity, so hashing by identity (in C)
    is consistent with equality, and much cheaper than ``Enum``'s default of
    hashing the member's name in Python. Codes are dictionary keys on every
    hot path (month close, registries).
    """

    __hash__ = object.__hash__


class ServiceFamily(CodeEnum):
    """A CMS care-management code family (one program kind).

    The billing documentation has a page per family (docs/billing).
    """

    CCM = "CCM"  #: chronic care management
    PCM = "PCM"  #: principal care management
    BHI = "BHI"  #: general behavioral health integration
    COCM = "COCM"  #: psychiatric collaborative care
    TCM = "TCM"  #: transitional care management
    RPM = "RPM"  #: remote physiologic monitoring
    RTM = "RTM"  #: remote therapeutic monitoring
    APCM = "APCM"  #: advanced primary care management (2025+)
    CHI = "CHI"  #: community health integration (2024+)
    PIN = "PIN"  #: principal illness navigation (2024+)
    ACP = "ACP"  #: advance care planning


class Credential(CodeEnum):
    """A person's professional credential."""

    MD = "MD"
    DO = "DO"
    NP = "NP"
    PA = "PA"
    CNS = "CNS"  #: clinical nurse specialist
    CNM = "CNM"  #: certified nurse-midwife
    CP = "CP"  #: clinical psychologist
    LCSW = "LCSW"  #: licensed clinical social worker
    LPC = "LPC"  #: licensed professional counselor
    MFT = "MFT"  #: marriage and family therapist
    MHC = "MHC"  #: mental health counselor
    PT = "PT"  #: physical therapist
    OT = "OT"  #: occupational therapist
    SLP = "SLP"  #: speech-language pathologist
    RN = "RN"
    LPN = "LPN"
    MA = "MA"  #: medical assistant
    PHARMD = "PHARMD"
    CHW = "CHW"  #: community health worker
    NAVIGATOR = "NAVIGATOR"  #: trained patient navigator
    PEER_SPECIALIST = "PEER_SPECIALIST"  #: certified peer support specialist
    NONE = "NONE"  #: no clinical credential (scheduler, receptionist)

    @property
    def is_billing_practitioner(self) -> bool:
        """Whether this credential can bill the physician/NPP care-management codes.

        Physicians and the non-physician practitioners CMS lists for CCM
        (NP, PA, CNS, CNM); sources S1, S2, S15.
        """
        return self in _BILLING


_BILLING = frozenset(
    {
        Credential.MD,
        Credential.DO,
        Credential.NP,
        Credential.PA,
        Credential.CNS,
        Credential.CNM,
    }
)


class RoleClass(CodeEnum):
    """Whose time a minute is, for the "whose time counts" rules (S8, S1)."""

    CLINICAL_STAFF = "clinical_staff"
    PHYSICIAN = "physician"
    QHP = "qhp"  #: other qualified health care professional (NP, PA, CNS, CNM)
    BH_CARE_MANAGER = "bh_care_manager"
    AUXILIARY = "auxiliary"  #: CHWs, navigators, peer specialists (CHI/PIN)
    NON_CLINICAL = "non_clinical"  #: scheduling, reception: never counts


class CareTeamRole(CodeEnum):
    """A member's role on a patient's care team."""

    BILLING_PRACTITIONER = "billing_practitioner"
    CARE_MANAGER = "care_manager"
    CLINICAL_STAFF = "clinical_staff"
    BH_CARE_MANAGER = "bh_care_manager"
    PSYCHIATRIC_CONSULTANT = "psychiatric_consultant"
    PHARMACIST = "pharmacist"
    COMMUNITY_HEALTH_WORKER = "community_health_worker"
    NAVIGATOR = "navigator"
    CAREGIVER = "caregiver"
    SCHEDULER = "scheduler"


class SupervisionLevel(CodeEnum):
    """CMS supervision levels (42 CFR 410.32(b)(3))."""

    GENERAL = "general"
    DIRECT = "direct"
    PERSONAL = "personal"


class CodeSystem(CodeEnum):
    """Code systems carecore recognises for conditions."""

    ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
    SNOMEDCT = "http://snomed.info/sct"


class AdministrativeSex(CodeEnum):
    """FHIR administrative gender."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class ConsentMethod(CodeEnum):
    """How consent was obtained (CMS accepts verbal or written, documented)."""

    VERBAL = "verbal"
    WRITTEN = "written"
    ELECTRONIC = "electronic"


class EnrollmentStatus(CodeEnum):
    """Where a patient stands in a program, from being identified to leaving it."""

    IDENTIFIED = "identified"  #: found eligible by a registry or a clinician
    OUTREACH = "outreach"  #: being contacted about the program
    CONSENTED = "consented"  #: consent recorded, enrollment not yet started
    ENROLLED = "enrolled"
    PAUSED = "paused"
    DISENROLLED = "disenrolled"


class DisenrollmentReason(CodeEnum):
    """Why a patient left a program."""

    PATIENT_REQUEST = "patient_request"
    DECEASED = "deceased"
    MOVED = "moved"
    CHANGED_PRACTITIONER = "changed_practitioner"
    NO_LONGER_ELIGIBLE = "no_longer_eligible"
    UNREACHABLE = "unreachable"
    ENTERED_HOSPICE = "entered_hospice"
    DECLINED = "declined"  #: said no during outreach


class ContactMode(CodeEnum):
    """How an interactive contact was made."""

    PHONE = "phone"
    PORTAL = "portal"
    VIDEO = "video"
    IN_PERSON = "in_person"


class VisitKind(CodeEnum):
    """Kinds of face-to-face visit, as the billing scenario format spells them."""

    OFFICE_EM = "office_em"
    AWV = "awv"  #: annual wellness visit
    IPPE = "ippe"  #: initial preventive physical examination
    TCM_F2F = "tcm_f2f"
    EM_99211_STAFF = "em_99211_staff"


@functools.total_ordering
class MdmLevel(CodeEnum):
    """Medical decision-making complexity, ordered from least to most complex."""

    STRAIGHTFORWARD = "straightforward"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, MdmLevel):
            return NotImplemented
        return _MDM_ORDER[self] < _MDM_ORDER[other]


_MDM_ORDER = {level: rank for rank, level in enumerate(MdmLevel)}


class CareSetting(CodeEnum):
    """Where a patient is discharged from or to (TCM settings; S6, S21, S108)."""

    INPATIENT_ACUTE = "inpatient_acute"
    INPATIENT_PSYCHIATRIC = "inpatient_psychiatric"
    LONG_TERM_CARE_HOSPITAL = "ltch"
    SKILLED_NURSING_FACILITY = "snf"
    INPATIENT_REHABILITATION = "irf"
    OBSERVATION = "observation"
    PARTIAL_HOSPITALIZATION = "partial_hospitalization"
    CMHC_PARTIAL_HOSPITALIZATION = "cmhc_partial_hospitalization"
    EMERGENCY_DEPARTMENT = "emergency_department"
    HOME = "home"
    DOMICILIARY = "domiciliary"
    REST_HOME = "rest_home"
    ASSISTED_LIVING = "assisted_living"
    NURSING_FACILITY = "nursing_facility"
    HOSPICE = "hospice"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


class PatientClass(CodeEnum):
    """HL7 v2 PV1-2 patient class, as carecore uses it."""

    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"
    EMERGENCY = "emergency"
    OBSERVATION = "observation"
    PREADMIT = "preadmit"
    RECURRING = "recurring"
    UNKNOWN = "unknown"


class AdtEventKind(CodeEnum):
    """What an ADT event reports (HL7 v2 trigger events in the comments)."""

    ADMIT = "admit"  #: A01
    TRANSFER = "transfer"  #: A02
    DISCHARGE = "discharge"  #: A03
    REGISTER = "register"  #: A04
    UPDATE = "update"  #: A08
    CANCEL_ADMIT = "cancel_admit"  #: A11
    CANCEL_DISCHARGE = "cancel_discharge"  #: A13


class BhAddon(CodeEnum):
    """A behavioral-health add-on furnished in an APCM month (2026 on; docs/billing/apcm.md)."""

    GENERAL_BHI = "general_bhi"  #: G0570
    COCM_INITIAL = "cocm_initial"  #: G0568
    COCM_SUBSEQUENT = "cocm_subsequent"  #: G0569


class RtmSystem(CodeEnum):
    """RTM device systems (S47)."""

    RESPIRATORY = "respiratory"
    MUSCULOSKELETAL = "musculoskeletal"
    CBT = "cbt"


class DenialReason(CodeEnum):
    """Machine-readable reasons a code was not billed."""

    BELOW_THRESHOLD = "below_threshold"
    UNIT_CAP = "unit_cap"
    NO_CONSENT = "no_consent"
    NO_INITIATING_VISIT = "no_initiating_visit"
    NO_CARE_PLAN = "no_care_plan"
    TOO_FEW_CONDITIONS = "too_few_conditions"
    TIME_NOT_COUNTABLE = "time_not_countable"
    TIME_BEFORE_CONSENT = "time_before_consent"  #: all the period's minutes precede consent
    EXCLUSIVE_TRACK = "exclusive_track"
    OTHER_PRACTITIONER_BILLED = "other_practitioner_billed"
    CROSS_FAMILY_EXCLUSION = "cross_family_exclusion"
    ALREADY_BILLED_IN_PERIOD = "already_billed_in_period"
    NOT_ESTABLISHED_PATIENT = "not_established_patient"
    SETTING_NOT_QUALIFYING = "setting_not_qualifying"
    CONTACT_NOT_TIMELY = "contact_not_timely"
    VISIT_NOT_TIMELY = "visit_not_timely"
    MDM_TOO_LOW = "mdm_too_low"
    MED_REC_NOT_TIMELY = "med_rec_not_timely"  #: TCM: no medication reconciliation by the visit
    PATIENT_DECEASED = "patient_deceased"
    TOO_FEW_DEVICE_DAYS = "too_few_device_days"
    NOT_IN_EFFECT = "not_in_effect"
    NOT_A_BILLING_PRACTITIONER = "not_a_billing_practitioner"
    NOT_FOCAL_POINT = "not_focal_point"
    NO_INTERACTIVE_CONTACT = "no_interactive_contact"
    NOT_COVERED = "not_covered"  #: the patient's coverage is not the payer the rule set bills
    NOT_ENROLLED = "not_enrolled"  #: paused or disenrolled for the whole period


class CarePlanStatus(CodeEnum):
    """FHIR R4 request-status values used for care plans."""

    DRAFT = "draft"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    REVOKED = "revoked"
    COMPLETED = "completed"


class EpisodeStatus(CodeEnum):
    """Where a transition-of-care episode stands."""

    OPEN = "open"  #: deadlines running
    COMPLETED = "completed"  #: contact and visit done
    CLOSED = "closed"  #: ended without billing (missed deadline, readmission, death)
    CANCELLED = "cancelled"  #: the discharge was cancelled (A13)


class EpisodeCloseKind(CodeEnum):
    """Why a transition-of-care episode ended without completing (its ``close_kind``).

    The episode's ``close_reason`` says it in words for people; this says it
    for code: only an ``expired`` episode takes documentation of what was done
    inside its period (documented late).
    """

    EXPIRED = "expired"  #: the 30-day period ended with work undone
    DIED = "died"  #: the patient died inside the period
    NOT_QUALIFYING = "not-qualifying"  #: the discharge settings do not qualify for TCM
    DISCHARGE_CANCELLED = "discharge-cancelled"  #: the discharge was cancelled (A13)


class SocialNeed(CodeEnum):
    """A health-related social need (the CMS AHC HRSN core domains)."""

    HOUSING_INSTABILITY = "housing-instability"
    HOUSING_QUALITY = "housing-quality"
    FOOD_INSECURITY = "food-insecurity"
    TRANSPORTATION = "transportation"
    UTILITIES = "utilities"
    INTERPERSONAL_SAFETY = "interpersonal-safety"


class GoalLifecycle(CodeEnum):
    """Where a goal is in its life (FHIR Goal.lifecycleStatus, the values care teams use)."""

    PROPOSED = "proposed"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class GoalAchievement(CodeEnum):
    """How a goal is going, separate from its lifecycle (FHIR Goal.achievementStatus)."""

    IN_PROGRESS = "in-progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no-change"
    ACHIEVED = "achieved"
    SUSTAINING = "sustaining"
    NOT_ACHIEVED = "not-achieved"


class Comparator(CodeEnum):
    """How an observed value is compared with a goal's target value."""

    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "="


class TaskStatus(CodeEnum):
    """A task's status (the FHIR Task states a care team uses)."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in-progress"
    ON_HOLD = "on-hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ReferralStatus(CodeEnum):
    """Where a referral is in its closed loop."""

    DRAFT = "draft"
    SENT = "sent"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class InterventionKind(CodeEnum):
    """What kind of work an intervention is (used by the CMS completeness check)."""

    EDUCATION = "education"
    MONITORING = "monitoring"
    MEDICATION = "medication"
    COORDINATION = "coordination"
    COMMUNITY = "community"
    BEHAVIORAL = "behavioral"
    SELF_MANAGEMENT = "self-management"


class AssessmentDomain(CodeEnum):
    """What an assessment looked at (the CMS care-plan assessment elements)."""

    COGNITIVE = "cognitive"
    FUNCTIONAL = "functional"
    ENVIRONMENTAL = "environmental"
    CAREGIVER = "caregiver"
    PSYCHOSOCIAL = "psychosocial"
    SOCIAL_NEEDS = "social-needs"


class CoveragePlan(CodeEnum):
    """The kind of health coverage a patient has, as care-management billing sees it."""

    MEDICARE_PART_B = "medicare-part-b"  #: Original (fee-for-service) Medicare
    MEDICARE_ADVANTAGE = "medicare-advantage"  #: Part C: the plan's own rules apply
    MEDICAID = "medicaid"
    #: Medicaid's Qualified Medicare Beneficiary program: pays the Part B cost sharing
    MEDICAID_QMB = "medicaid-qmb"
    COMMERCIAL = "commercial"
    OTHER = "other"


class AppointmentStatus(CodeEnum):
    """Where an appointment stands (a subset of FHIR ``Appointment.status``)."""

    BOOKED = "booked"
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"
    NO_SHOW = "noshow"
