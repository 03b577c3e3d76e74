"""The nouns of care management as frozen, keyword-only attrs values.

Values hold no I/O and read no clock. They check themselves when built and
raise :mod:`carecore.errors` types naming the field and the value. State
changes return new values (``attrs.evolve``), so the checks run again.

>>> import pendulum
>>> from carecore.model import Practitioner, Credential
>>> Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD).credential.value
'MD'
"""

from __future__ import annotations

from carecore.model.activity import (
    DeviceReadingDay,
    FaceToFaceVisit,
    InteractiveContact,
    TimeEntry,
)
from carecore.model.careplan import CarePlan
from carecore.model.codes import (
    AdministrativeSex,
    AdtEventKind,
    CarePlanStatus,
    CareSetting,
    CareTeamRole,
    CodeSystem,
    ConsentMethod,
    ContactMode,
    Credential,
    DenialReason,
    DisenrollmentReason,
    EnrollmentStatus,
    EpisodeStatus,
    MdmLevel,
    PatientClass,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    SocialNeed,
    SupervisionLevel,
    VisitKind,
)
from carecore.model.conditions import Coding, Condition
from carecore.model.enrollment import Consent, Enrollment, Program, StatusChange
from carecore.model.events import (
    DischargeReceived,
    DomainEvent,
    EnrollmentChanged,
    TimeRecorded,
)
from carecore.model.messages import DeliveryReceipt, OutboundMessage
from carecore.model.money import ClaimLine, Denial
from carecore.model.people import (
    CareTeam,
    CareTeamMember,
    Identifier,
    Patient,
    PatientId,
    Practitioner,
    PractitionerId,
)
from carecore.model.period import ServicePeriod
from carecore.model.transitions import AdtEvent, TransitionEpisode

__all__ = [
    "AdministrativeSex",
    "AdtEvent",
    "AdtEventKind",
    "CarePlan",
    "CarePlanStatus",
    "CareSetting",
    "CareTeam",
    "CareTeamMember",
    "CareTeamRole",
    "ClaimLine",
    "CodeSystem",
    "Coding",
    "Condition",
    "Consent",
    "ConsentMethod",
    "ContactMode",
    "Credential",
    "DeliveryReceipt",
    "Denial",
    "DenialReason",
    "DeviceReadingDay",
    "DischargeReceived",
    "DisenrollmentReason",
    "DomainEvent",
    "Enrollment",
    "EnrollmentChanged",
    "EnrollmentStatus",
    "EpisodeStatus",
    "FaceToFaceVisit",
    "Identifier",
    "InteractiveContact",
    "MdmLevel",
    "OutboundMessage",
    "Patient",
    "PatientClass",
    "PatientId",
    "Practitioner",
    "PractitionerId",
    "Program",
    "RoleClass",
    "RtmSystem",
    "ServiceFamily",
    "ServicePeriod",
    "SocialNeed",
    "StatusChange",
    "SupervisionLevel",
    "TimeEntry",
    "TimeRecorded",
    "TransitionEpisode",
    "VisitKind",
]

#: Every public value class, in a stable order (used by the converter's tests
#: and the hypothesis strategies).
VALUE_TYPES: tuple[type, ...] = (
    Identifier,
    Patient,
    Practitioner,
    CareTeamMember,
    CareTeam,
    Coding,
    Condition,
    Program,
    Consent,
    StatusChange,
    Enrollment,
    TimeEntry,
    InteractiveContact,
    FaceToFaceVisit,
    DeviceReadingDay,
    AdtEvent,
    TransitionEpisode,
    ServicePeriod,
    ClaimLine,
    Denial,
    CarePlan,
    DischargeReceived,
    TimeRecorded,
    EnrollmentChanged,
    OutboundMessage,
    DeliveryReceipt,
)
