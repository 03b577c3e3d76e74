"""Hypothesis strategies for every public carecore value.

Every strategy builds *valid* values by construction and shrinks toward the
simplest realistic one (the earliest date, the fewest members). Arguments are
keyword-only and checked up front. The strategies are also registered for
``st.from_type`` through the ``hypothesis`` entry point, so
``st.builds(MyRecord)`` works when a field is a carecore type.

>>> from hypothesis import given
>>> @given(time_entries(min_minutes=20))
... def test_long_entries(entry):
...     assert entry.minutes >= 20
>>> test_long_entries()
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'carecore.testing needs hypothesis and pytest: pip install ".[testing]" '
        "(in the carecore clone)"
    ) from exc

import attrs
import pendulum

from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    ApcmAddon,
    Appointment,
    AppointmentDue,
    AppointmentStatus,
    AssessmentDomain,
    AssessmentNote,
    AssessmentResult,
    Barrier,
    BhAddon,
    BillingIdentity,
    CarePlan,
    CarePlanRevised,
    CarePlanStatus,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ClaimLine,
    ClinicalService,
    CodeSystem,
    Coding,
    Comparator,
    Condition,
    Consent,
    ConsentMethod,
    ContactMode,
    ContactPreferences,
    Coverage,
    CoveragePlan,
    Credential,
    DeadLetter,
    Decision,
    DeliveryReceipt,
    Denial,
    DenialReason,
    DeviceReadingDay,
    DeviceSetup,
    DischargeReceived,
    DiscrepancyKind,
    DisenrollmentReason,
    DomainEvent,
    Enrollment,
    EnrollmentChanged,
    EnrollmentStatus,
    EpisodeStatus,
    ExternalClaim,
    FaceToFaceVisit,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Identifier,
    InteractiveContact,
    InterventionKind,
    ItemAnswer,
    MdmAssessment,
    MdmLevel,
    MedicareBeneficiaryId,
    MedicationFill,
    MedicationReconciliation,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Observation,
    OutboundMessage,
    OutreachDue,
    Patient,
    PatientAddress,
    PatientClass,
    PatientLink,
    PostalAddress,
    PracticeSetting,
    Practitioner,
    Problem,
    Program,
    ProgramElection,
    ReadingLimit,
    ReconciliationItem,
    Referral,
    ReferralStatus,
    ReviewSchedule,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    ServiceKind,
    ServicePeriod,
    SocialNeed,
    StatusChange,
    SupervisionLevel,
    SymptomActionPlan,
    Target,
    Task,
    TaskOverdue,
    TaskStatus,
    ThresholdReached,
    TimeEntry,
    TimeRecorded,
    TransitionEpisode,
    VisitKind,
    ZoneAction,
)
from carecore.model.activity import ROLE_CREDENTIALS
from carecore.model.validators import npi_checksum_ok

__all__ = [
    "adt_events",
    "apcm_addons",
    "appointments",
    "assessment_notes",
    "assessment_results",
    "barriers",
    "billing_facts",
    "billing_identities",
    "care_plans",
    "care_team_members",
    "care_teams",
    "claim_lines",
    "clinical_services",
    "codings",
    "conditions",
    "consents",
    "contact_preferences",
    "coverages",
    "dates",
    "dead_letters",
    "delivery_receipts",
    "denials",
    "device_reading_days",
    "device_setups",
    "domain_events",
    "enrollments",
    "external_claims",
    "face_to_face_visits",
    "goals",
    "identifiers",
    "instants",
    "interactive_contacts",
    "item_answers",
    "mdm_assessments",
    "medicare_beneficiary_ids",
    "medication_fills",
    "medication_reconciliations",
    "medication_statements",
    "observations",
    "outbound_messages",
    "patient_addresses",
    "patient_links",
    "patients",
    "postal_addresses",
    "practice_settings",
    "practitioners",
    "problems",
    "program_elections",
    "programs",
    "reading_limits",
    "reconciliation_items",
    "referrals",
    "review_schedules",
    "service_periods",
    "status_changes",
    "symptom_action_plans",
    "targets",
    "tasks",
    "time_entries",
    "time_zones",
    "transition_episodes",
    "zone_actions",
]

T = TypeVar("T")

#: Real, billable ICD-10-CM codes of common chronic conditions (CMS FY2026 tables).
CHRONIC_ICD10CM = (
    "E11.9",  # type 2 diabetes without complications
    "E11.65",  # type 2 diabetes with hyperglycemia
    "I10",  # essential hypertension
    "I50.22",  # chronic systolic heart failure
    "J44.1",  # COPD with acute exacerbation
    "N18.4",  # chronic kidney disease, stage 4
    "F33.1",  # major depressive disorder, recurrent, moderate
    "G30.9",  # Alzheimer's disease, unspecified
    "I25.10",  # atherosclerotic heart disease
    "E66.01",  # morbid obesity due to excess calories
)
#: SNOMED CT concepts for the same kinds of conditions (as Synthea codes them).
CHRONIC_SNOMED = (
    "44054006",
    "38341003",
    "88805009",
    "185086009",
    "433144002",
    "26929004",
)
US_TIME_ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "UTC",
)

_EARLIEST = dt.date(2000, 1, 1)
_LATEST = dt.date(2035, 12, 31)

_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: s.strip("-") == s
)
_words = (
    st.text(
        alphabet=st.characters(categories=("Lu", "Ll", "Nd"), max_codepoint=0x24F) | st.just(" "),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


def _check_range(name_low: str, low: Any, name_high: str, high: Any) -> None:
    if low > high:
        raise InvalidArgument(f"{name_low}={low!r} must not exceed {name_high}={high!r}")


# -- scalars ----------------------------------------------------------------


def time_zones() -> st.SearchStrategy[str]:
    """IANA time zone names of the United States (and UTC)."""
    return st.sampled_from(US_TIME_ZONES)


def dates(
    *, min_value: dt.date = _EARLIEST, max_value: dt.date = _LATEST
) -> st.SearchStrategy[pendulum.Date]:
    """Local calendar dates as ``pendulum.Date``, shrinking toward *min_value*."""
    _check_range("min_value", min_value, "max_value", max_value)
    low = dt.date(min_value.year, min_value.month, min_value.day)
    high = dt.date(max_value.year, max_value.month, max_value.day)
    return st.dates(min_value=low, max_value=high).map(
        lambda d: pendulum.Date(d.year, d.month, d.day)
    )


def instants(
    *, min_value: dt.date = _EARLIEST, max_value: dt.date = _LATEST
) -> st.SearchStrategy[pendulum.DateTime]:
    """Time-zone-aware instants (whole seconds) in a US time zone, never in a DST gap or the repeated hour."""
    _check_range("min_value", min_value, "max_value", max_value)
    utc = st.datetimes(
        min_value=dt.datetime(min_value.year, min_value.month, min_value.day),  # noqa: DTZ001
        max_value=dt.datetime(max_value.year, max_value.month, max_value.day, 23, 59, 59),  # noqa: DTZ001
    )
    # Draw in UTC and then move to a zone: every instant exists. The repeated hour
    # when clocks go back is left out: Python never finds an instant in it equal to
    # the same instant in another zone (PEP 495), so a value read back from a store
    # (which keeps the offset, not the zone name) would compare unequal.
    return (
        st.tuples(utc, time_zones())
        .map(
            lambda pair: pendulum.instance(pair[0].replace(microsecond=0), tz="UTC").in_timezone(
                pair[1]
            )
        )
        .filter(lambda d: d.utcoffset() == d.replace(fold=1 - d.fold).utcoffset())
    )


def service_periods(
    *,
    min_start: dt.date = _EARLIEST,
    max_start: dt.date = _LATEST,
    max_days: int = 62,
) -> st.SearchStrategy[ServicePeriod]:
    """Service periods: whole calendar months, or runs of 1 to *max_days* days."""
    _check_range("min_start", min_start, "max_start", max_start)
    if max_days < 1:
        raise InvalidArgument(f"max_days={max_days!r} must be at least 1")
    months = dates(min_value=min_start, max_value=max_start).map(
        lambda d: ServicePeriod.month(d.year, d.month)
    )
    runs = st.builds(
        ServicePeriod.days_from,
        dates(min_value=min_start, max_value=max_start),
        st.integers(1, max_days),
    )
    return months | runs


# -- people -----------------------------------------------------------------


def identifiers() -> st.SearchStrategy[Identifier]:
    """Identifiers in another system (an MRN, a payer member id)."""
    return st.builds(
        Identifier,
        system=st.sampled_from(("urn:mrn:general-hospital", "urn:payer:medicare", "urn:ehr:acme")),
        value=_ids,
    )


@st.composite
def patients(draw: st.DrawFn, *, max_identifiers: int = 3) -> Patient:
    """Patients born 1920-2010, some of whom have died."""
    if max_identifiers < 0:
        raise InvalidArgument(f"max_identifiers={max_identifiers!r} must be at least 0")
    birth = draw(dates(min_value=dt.date(1920, 1, 1), max_value=dt.date(2010, 12, 31)))
    death = draw(st.none() | dates(min_value=birth, max_value=_LATEST))
    return Patient(
        id=draw(_ids),
        given_name=draw(_words),
        family_name=draw(_words),
        birth_date=birth,
        sex=draw(st.sampled_from(AdministrativeSex)),
        time_zone=draw(time_zones()),
        identifiers=draw(st.lists(identifiers(), max_size=max_identifiers)),
        date_of_death=death,
    )


def _npis() -> st.SearchStrategy[str]:
    def with_check_digit(first9: str) -> str:
        return next(first9 + d for d in "0123456789" if npi_checksum_ok(first9 + d))

    return (
        st.text(alphabet="0123456789", min_size=9, max_size=9)
        .filter(lambda s: s[0] in "12")
        .map(with_check_digit)
    )


def practitioners(
    *, credentials: tuple[Credential, ...] | None = None
) -> st.SearchStrategy[Practitioner]:
    """Practitioners and staff, with a valid NPI or none."""
    pool = credentials if credentials is not None else tuple(Credential)
    if not pool:
        raise InvalidArgument("credentials must not be empty")
    return st.builds(
        Practitioner,
        id=_ids,
        name=_words,
        credential=st.sampled_from(pool),
        npi=st.none() | _npis(),
    )


def care_team_members() -> st.SearchStrategy[CareTeamMember]:
    """Care team members without a supervisor (see :func:`care_teams` for supervision)."""
    return st.builds(CareTeamMember, practitioner_id=_ids, role=st.sampled_from(CareTeamRole))


@st.composite
def care_teams(draw: st.DrawFn, *, max_staff: int = 5) -> CareTeam:
    """Care teams: one billing practitioner and up to *max_staff* people they supervise."""
    if max_staff < 0:
        raise InvalidArgument(f"max_staff={max_staff!r} must be at least 0")
    lead = draw(_ids)
    staff_ids = draw(st.lists(_ids.filter(lambda s: s != lead), max_size=max_staff, unique=True))
    roles = [r for r in CareTeamRole if r is not CareTeamRole.BILLING_PRACTITIONER]
    members = [CareTeamMember(practitioner_id=lead, role=CareTeamRole.BILLING_PRACTITIONER)]
    members += [
        CareTeamMember(
            practitioner_id=pid,
            role=draw(st.sampled_from(roles)),
            supervisor_id=lead,
            supervision=draw(st.sampled_from(SupervisionLevel)),
        )
        for pid in staff_ids
    ]
    return CareTeam(id=draw(_ids), patient_id=draw(_ids), members=members)


# -- conditions -------------------------------------------------------------


def codings() -> st.SearchStrategy[Coding]:
    """Real ICD-10-CM and SNOMED CT codings of chronic conditions."""
    icd = st.sampled_from(CHRONIC_ICD10CM).map(Coding.icd10cm)
    snomed = st.sampled_from(CHRONIC_SNOMED).map(
        lambda c: Coding(system=CodeSystem.SNOMEDCT, code=c)
    )
    return icd | snomed


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    """Conditions with consistent onset and abatement dates."""
    onset = draw(st.none() | dates())
    abatement = draw(st.none() | dates(min_value=onset or _EARLIEST))
    return Condition(
        id=draw(_ids),
        patient_id=draw(_ids),
        coding=draw(codings()),
        onset=onset,
        abatement=abatement,
        expected_duration_months=draw(st.none() | st.integers(1, 1200)),
        chronic=draw(st.booleans()),
        significant_risk=draw(st.booleans()),
        behavioral=draw(st.booleans()),
    )


# -- enrollment -------------------------------------------------------------


def programs() -> st.SearchStrategy[Program]:
    """Programs of every service family."""
    return st.builds(
        Program,
        id=_ids,
        name=_words,
        family=st.sampled_from(ServiceFamily),
        time_zone=time_zones(),
    )


@st.composite
def consents(draw: st.DrawFn) -> Consent:
    """Consents, some of them revoked after they were obtained."""
    obtained = draw(dates())
    return Consent(
        id=draw(_ids),
        patient_id=draw(_ids),
        family=draw(st.sampled_from(ServiceFamily)),
        method=draw(st.sampled_from(ConsentMethod)),
        obtained_on=obtained,
        obtained_by=draw(_ids),
        billing_practitioner_id=draw(_ids),
        cost_sharing_explained=draw(st.booleans()),
        revoked_on=draw(st.none() | dates(min_value=obtained)),
    )


def status_changes() -> st.SearchStrategy[StatusChange]:
    """Single status changes (a disenrollment always has its reason)."""
    plain = st.builds(
        StatusChange,
        status=st.sampled_from((EnrollmentStatus.ENROLLED, EnrollmentStatus.PAUSED)),
        on=dates(),
    )
    leaving = st.builds(
        StatusChange,
        status=st.just(EnrollmentStatus.DISENROLLED),
        on=dates(),
        reason=st.sampled_from(DisenrollmentReason),
    )
    return plain | leaving


@st.composite
def enrollments(draw: st.DrawFn, *, max_changes: int = 4) -> Enrollment:
    """Enrollments with a valid, dated status history of up to *max_changes* changes."""
    if max_changes < 0:
        raise InvalidArgument(f"max_changes={max_changes!r} must be at least 0")
    enrollment = Enrollment.start(
        id=draw(_ids),
        patient_id=draw(_ids),
        program_id=draw(_ids),
        family=draw(st.sampled_from(ServiceFamily)),
        billing_practitioner_id=draw(_ids),
        on=draw(dates(max_value=dt.date(2030, 1, 1))),
    )
    for _ in range(draw(st.integers(0, max_changes))):
        on = enrollment.history[-1].on.add(days=draw(st.integers(0, 120)))
        if enrollment.status is EnrollmentStatus.DISENROLLED:
            break
        if enrollment.status is EnrollmentStatus.PAUSED:
            enrollment = enrollment.resume(on)
        elif draw(st.booleans()):
            enrollment = enrollment.pause(on)
        else:
            enrollment = enrollment.disenroll(on, draw(st.sampled_from(DisenrollmentReason)))
    return enrollment


# -- activity ---------------------------------------------------------------


def _role_and_credential() -> st.SearchStrategy[tuple[RoleClass, Credential]]:
    def credentials_for(
        role: RoleClass,
    ) -> st.SearchStrategy[tuple[RoleClass, Credential]]:
        allowed = ROLE_CREDENTIALS.get(role)
        pool = (
            sorted(allowed, key=lambda c: c.value)
            if allowed
            else [
                c for c in Credential if c is not Credential.NONE or role is RoleClass.NON_CLINICAL
            ]
        )
        return st.sampled_from(pool).map(lambda c: (role, c))

    return st.sampled_from(RoleClass).flatmap(credentials_for)


@st.composite
def time_entries(
    draw: st.DrawFn,
    *,
    min_minutes: int = 1,
    max_minutes: int = 120,
    families: tuple[ServiceFamily, ...] | None = None,
    period: ServicePeriod | None = None,
) -> TimeEntry:
    """Time entries of *min_minutes* to *max_minutes* minutes, in *period* when given."""
    if not 1 <= min_minutes <= max_minutes <= 24 * 60:
        raise InvalidArgument(
            f"need 1 <= min_minutes ({min_minutes}) <= max_minutes ({max_minutes}) <= 1440"
        )
    if families is not None and not families:
        raise InvalidArgument("families must not be empty")
    role, credential = draw(_role_and_credential())
    day = draw(dates(min_value=period.start, max_value=period.end) if period else dates())
    return TimeEntry(
        id=draw(_ids),
        patient_id=draw(_ids),
        performer_id=draw(_ids),
        credential=credential,
        role_class=role,
        minutes=draw(st.integers(min_minutes, max_minutes)),
        family=draw(st.sampled_from(families or tuple(ServiceFamily))),
        activity=draw(_words),
        service_date=day,
        billing_practitioner_id=draw(_ids),
        interactive=draw(st.booleans()),
    )


def interactive_contacts() -> st.SearchStrategy[InteractiveContact]:
    """Contacts and attempts by phone, portal, video or in person."""
    return st.builds(
        InteractiveContact,
        id=_ids,
        patient_id=_ids,
        at=instants(),
        mode=st.sampled_from(ContactMode),
        successful=st.booleans(),
        role_class=st.sampled_from(RoleClass),
        performer_id=_ids,
        family=st.sampled_from(ServiceFamily),
        billing_practitioner_id=_ids,
    )


_HCPCS = st.sampled_from(
    (
        "99490",
        "99439",
        "99491",
        "99487",
        "99495",
        "99496",
        "99457",
        "G0556",
        "G0019",
        "99497",
        "99214",
    )
)


def face_to_face_visits() -> st.SearchStrategy[FaceToFaceVisit]:
    """Face-to-face visits of every kind and MDM level."""
    return st.builds(
        FaceToFaceVisit,
        id=_ids,
        patient_id=_ids,
        on=dates(),
        kind=st.sampled_from(VisitKind),
        mdm=st.sampled_from(MdmLevel),
        billing_practitioner_id=_ids,
        em_code=st.none() | st.sampled_from(("99213", "99214", "99215", "G0439")),
    )


def device_reading_days() -> st.SearchStrategy[DeviceReadingDay]:
    """Device days for RPM (no system) and RTM (with its system)."""
    rpm = st.builds(
        DeviceReadingDay,
        patient_id=_ids,
        family=st.just(ServiceFamily.RPM),
        device=_words,
        on=dates(),
    )
    rtm = st.builds(
        DeviceReadingDay,
        patient_id=_ids,
        family=st.just(ServiceFamily.RTM),
        device=_words,
        on=dates(),
        rtm_system=st.sampled_from(RtmSystem),
    )
    return rpm | rtm


def device_setups() -> st.SearchStrategy[DeviceSetup]:
    """Device set-ups for RPM or RTM, with or without the device's name."""
    return st.builds(
        DeviceSetup,
        id=_ids,
        patient_id=_ids,
        family=st.sampled_from((ServiceFamily.RPM, ServiceFamily.RTM)),
        on=dates(),
        billing_practitioner_id=_ids,
        device=st.none() | _words,
    )


def mdm_assessments() -> st.SearchStrategy[MdmAssessment]:
    """MDM made outside a visit, for any family and level."""
    return st.builds(
        MdmAssessment,
        id=_ids,
        patient_id=_ids,
        family=st.sampled_from(ServiceFamily),
        level=st.sampled_from(MdmLevel),
        on=dates(),
        billing_practitioner_id=_ids,
    )


def apcm_addons() -> st.SearchStrategy[ApcmAddon]:
    """APCM behavioral-health add-ons of every kind."""
    return st.builds(
        ApcmAddon,
        id=_ids,
        patient_id=_ids,
        addon=st.sampled_from(BhAddon),
        on=dates(),
        billing_practitioner_id=_ids,
    )


def program_elections() -> st.SearchStrategy[ProgramElection]:
    """Family elections for any family."""
    return st.builds(
        ProgramElection,
        id=_ids,
        patient_id=_ids,
        prefer_family=st.sampled_from(ServiceFamily),
        on=dates(),
        billing_practitioner_id=_ids,
    )


# -- transitions ------------------------------------------------------------


@st.composite
def adt_events(draw: st.DrawFn, *, kinds: tuple[AdtEventKind, ...] | None = None) -> AdtEvent:
    """ADT events; discharges always carry their discharge time, after the admission."""
    if kinds is not None and not kinds:
        raise InvalidArgument("kinds must not be empty")
    kind = draw(st.sampled_from(kinds or tuple(AdtEventKind)))
    admitted = draw(st.none() | instants(max_value=dt.date(2035, 11, 30)))
    discharged = None
    if kind is AdtEventKind.DISCHARGE or draw(st.booleans()):
        stay_hours = draw(st.integers(0, 24 * 30))
        discharged = (admitted or draw(instants())).add(hours=stay_hours)
    return AdtEvent(
        id=draw(_ids),
        source_key=draw(_ids),
        patient_id=draw(_ids),
        kind=kind,
        occurred_at=discharged or admitted or draw(instants()),
        patient_class=draw(st.sampled_from(PatientClass)),
        admitted_at=admitted,
        discharged_at=discharged,
        from_setting=draw(st.none() | st.sampled_from(CareSetting)),
        to_setting=draw(st.none() | st.sampled_from(CareSetting)),
        facility=draw(st.none() | _words),
        visit_number=draw(st.none() | _ids),
    )


def dead_letters() -> st.SearchStrategy[DeadLetter]:
    """Refused inbound messages with their reasons."""
    return st.builds(
        DeadLetter,
        id=_ids,
        source=st.sampled_from(("hl7", "fhir")),
        # Any text a store keeps: every character but NUL, which stores refuse alike.
        raw=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200),
        reason=_words,
        received_at=instants(),
        key=st.none() | _ids,
    )


def transition_episodes() -> st.SearchStrategy[TransitionEpisode]:
    """Transition episodes with any status and version."""
    return st.builds(
        TransitionEpisode,
        to_setting=st.none() | st.sampled_from(CareSetting),
        qualifies=st.booleans(),
        visit_due_7=st.none() | dates(),
        med_rec_due=st.none() | dates(),
        period_end=st.none() | dates(),
        contact_attempts=st.lists(dates(), max_size=3).map(tuple),
        contact_made_on=st.none() | dates(),
        visit_on=st.none() | dates(),
        med_rec_on=st.none() | dates(),
        readmitted=st.booleans(),
        readmission_event_id=st.none() | _ids,
        close_reason=st.none() | _words,
        disposition_unknown=st.booleans(),
        id=_ids,
        patient_id=_ids,
        discharge_event_id=_ids,
        discharged_at=instants(),
        from_setting=st.sampled_from(CareSetting),
        contact_due=st.none() | dates(),
        visit_due=st.none() | dates(),
        status=st.sampled_from(EpisodeStatus),
        version=st.integers(1, 50),
    )


# -- money ------------------------------------------------------------------


@st.composite
def claim_lines(draw: st.DrawFn) -> ClaimLine:
    """Claim lines whose date of service lies inside their period."""
    period = draw(service_periods())
    return ClaimLine(
        patient_id=draw(_ids),
        code=draw(_HCPCS),
        units=draw(st.integers(1, 3)),
        family=draw(st.sampled_from(ServiceFamily)),
        billing_practitioner_id=draw(_ids),
        date_of_service=draw(dates(min_value=period.start, max_value=period.end)),
        period=period,
        modifiers=draw(
            st.lists(st.sampled_from(("25", "95", "GT", "FQ", "CG")), max_size=2, unique=True)
        ),
        amount=draw(
            st.none()
            | st.decimals(
                min_value=0,
                max_value=10_000,
                places=2,
                allow_nan=False,
                allow_infinity=False,
            )
        ),
    )


def external_claims() -> st.SearchStrategy[ExternalClaim]:
    """Codes billed outside carecore (care-management codes, E/M visits, AWV)."""
    return st.builds(
        ExternalClaim,
        id=_ids,
        patient_id=_ids,
        code=_HCPCS | st.sampled_from(("G0439", "G0506", "99453", "G0181")),
        on=dates(),
        billing_practitioner_id=_ids,
    )


def denials() -> st.SearchStrategy[Denial]:
    """Denials with a reason, a sentence, a rule id and source tags."""
    return st.builds(
        Denial,
        patient_id=_ids,
        code=_HCPCS,
        family=st.sampled_from(ServiceFamily),
        reason=st.sampled_from(DenialReason),
        message=_words,
        rule=st.sampled_from(("ccm.99490.threshold", "ccm.99439.unit_cap", "tcm.contact.timely")),
        period=service_periods(),
        sources=st.lists(st.integers(1, 120).map(lambda n: f"S{n}"), max_size=3),
    )


# -- care plans and events --------------------------------------------------


def problems() -> st.SearchStrategy[Problem]:
    """Care-plan problems: a condition, a social need, or neither."""
    return st.builds(
        Problem,
        id=_ids,
        description=_words,
        condition_id=st.none() | _ids,
        need=st.none() | st.sampled_from(SocialNeed),
    )


def targets() -> st.SearchStrategy[Target]:
    """Measurable targets with a decimal value."""
    return st.builds(
        Target,
        measure=_words,
        comparator=st.sampled_from(Comparator),
        value=st.decimals(
            min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False
        ),
        unit=st.sampled_from(("%", "mm[Hg]", "kg", "mg/dL", "{score}")),
        due=dates(),
        loinc=st.none() | st.sampled_from(("4548-4", "8480-6", "29463-7")),
    )


def goals() -> st.SearchStrategy[Goal]:
    """Goals in any lifecycle and achievement status."""
    return st.builds(
        Goal,
        id=_ids,
        description=_words,
        problem_ids=st.lists(_ids, max_size=2).map(tuple),
        target=st.none() | targets(),
        lifecycle=st.sampled_from(GoalLifecycle),
        achievement=st.sampled_from(GoalAchievement),
        confidence=st.none() | st.integers(0, 10),
    )


def barriers() -> st.SearchStrategy[Barrier]:
    """Barriers to goals."""
    return st.builds(
        Barrier,
        id=_ids,
        description=_words,
        goal_ids=st.lists(_ids, max_size=2).map(tuple),
        plan=st.none() | _words,
    )


def tasks() -> st.SearchStrategy[Task]:
    """Tasks in any status (done ones carry an outcome)."""

    def build(status: TaskStatus, outcome: str | None, **kw: Any) -> Task:
        if status in {TaskStatus.COMPLETED, TaskStatus.FAILED} and outcome is None:
            outcome = "done"
        return Task(status=status, outcome=outcome, **kw)

    return st.builds(
        build,
        id=_ids,
        description=_words,
        owner=_ids,
        kind=st.sampled_from(InterventionKind),
        due=st.none() | dates(),
        status=st.sampled_from(TaskStatus),
        outcome=st.none() | _words,
        goal_ids=st.lists(_ids, max_size=2).map(tuple),
    )


def reading_limits() -> st.SearchStrategy[ReadingLimit]:
    """Limits on a home reading (a red zone's, or an alert threshold)."""
    return st.builds(
        ReadingLimit,
        measure=_words,
        comparator=st.sampled_from(Comparator),
        value=st.decimals(
            min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False
        ),
        unit=st.sampled_from(("mm[Hg]", "kg", "mg/dL", "[lb_av]")),
        loinc=st.none() | st.sampled_from(("8480-6", "29463-7", "2339-0")),
    )


def zone_actions() -> st.SearchStrategy[ZoneAction]:
    """One zone of a symptom action plan."""
    return st.builds(
        ZoneAction,
        signs=st.lists(_words, min_size=1, max_size=3).map(tuple),
        actions=st.lists(_words, max_size=3).map(tuple),
        call=st.none() | _words,
        limits=st.lists(reading_limits(), max_size=2).map(tuple),
    )


def symptom_action_plans() -> st.SearchStrategy[SymptomActionPlan]:
    """Green, yellow and red zones for one problem."""
    return st.builds(
        SymptomActionPlan,
        id=_ids,
        problem_id=_ids,
        title=_words,
        green=zone_actions(),
        yellow=zone_actions(),
        red=zone_actions(),
        alerts=st.lists(reading_limits(), max_size=2).map(tuple),
    )


def referrals() -> st.SearchStrategy[Referral]:
    """Referrals at any point of their loop."""
    return st.builds(
        Referral,
        id=_ids,
        to=_words,
        reason=_words,
        need=st.none() | st.sampled_from(SocialNeed),
        status=st.sampled_from(ReferralStatus),
        sent_on=st.none() | dates(),
        closed_on=st.none() | dates(),
        status_reason=st.none() | _words,
    )


def review_schedules() -> st.SearchStrategy[ReviewSchedule]:
    """Review schedules."""
    return st.builds(
        ReviewSchedule,
        every_days=st.integers(1, 366),
        next_review=dates(),
        follow_up=st.none() | _words,
    )


def assessment_notes() -> st.SearchStrategy[AssessmentNote]:
    """Assessment summaries by domain."""
    return st.builds(
        AssessmentNote,
        domain=st.sampled_from(AssessmentDomain),
        summary=_words,
        result_id=st.none() | _ids,
    )


#: What can be acknowledged: a home reading's findings, an assessment result's.
_Acknowledged = TypeVar("_Acknowledged", Observation, AssessmentResult)


def _acknowledged(values: st.SearchStrategy[_Acknowledged]) -> st.SearchStrategy[_Acknowledged]:
    """*values* unacknowledged, or acknowledged by someone at an instant (both or neither)."""
    return st.tuples(values, st.none() | st.tuples(_ids, instants())).map(
        lambda pair: (
            pair[0]
            if pair[1] is None
            else attrs.evolve(pair[0], acknowledged_by=pair[1][0], acknowledged_at=pair[1][1])
        )
    )


def observations() -> st.SearchStrategy[Observation]:
    """Observations with decimal values, some with urgent findings, acknowledged or not."""
    return _acknowledged(
        st.builds(
            Observation,
            id=_ids,
            patient_id=_ids,
            measure=_words,
            value=st.decimals(
                min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False
            ),
            unit=_words,
            on=dates(),
            loinc=st.none() | st.sampled_from(("4548-4", "8480-6", "29463-7")),
            findings=st.lists(
                st.sampled_from(("red-zone", "alert-threshold")), max_size=2, unique=True
            ).map(tuple),
        )
    )


def item_answers() -> st.SearchStrategy[ItemAnswer]:
    """Answered items (one or more codes or numbers as text)."""
    return st.builds(
        ItemAnswer, item=_ids, values=st.lists(_ids, min_size=1, max_size=3).map(tuple)
    )


def assessment_results() -> st.SearchStrategy[AssessmentResult]:
    """Assessment results (not necessarily consistent with an instrument's scoring), acknowledged or not."""
    return _acknowledged(
        st.builds(
            AssessmentResult,
            id=_ids,
            patient_id=_ids,
            instrument_id=st.sampled_from(("phq-9", "gad-7", "ahc-hrsn")),
            on=dates(),
            answers=st.lists(item_answers(), max_size=4).map(tuple),
            total=st.none() | st.integers(0, 27),
            band=st.none() | _words,
            positive=st.none() | st.booleans(),
            flags=st.lists(_ids, max_size=2).map(tuple),
            needs=st.frozensets(st.sampled_from(SocialNeed), max_size=3),
            performer_id=st.none() | _ids,
        )
    )


def _unique(strategy: st.SearchStrategy[Any], max_size: int) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=max_size, unique_by=lambda part: part.id).map(tuple)


def care_plans() -> st.SearchStrategy[CarePlan]:
    """Care plans in any status, at any version, with all their parts."""
    return st.builds(
        CarePlan,
        id=_ids,
        patient_id=_ids,
        title=_words,
        families=st.frozensets(st.sampled_from(ServiceFamily), min_size=1, max_size=3),
        created_on=dates(),
        status=st.sampled_from(CarePlanStatus),
        version=st.integers(1, 50),
        problems=_unique(problems(), 3),
        goals=_unique(goals(), 3),
        barriers=_unique(barriers(), 2),
        tasks=_unique(tasks(), 3),
        symptom_plans=_unique(symptom_action_plans(), 2),
        referrals=_unique(referrals(), 2),
        assessments=st.lists(assessment_notes(), max_size=3).map(tuple),
        expected_outcome=st.none() | _words,
        medication_management=st.none() | _words,
        review=st.none() | review_schedules(),
        responsible_id=st.none() | _ids,
        contributors=st.lists(_ids, max_size=3).map(tuple),
        shared_with_patient_on=st.none() | dates(),
        last_reviewed_on=st.none() | dates(),
    )


def _event_strategies() -> dict[type[DomainEvent], st.SearchStrategy[Any]]:
    return {
        DischargeReceived: st.builds(
            DischargeReceived,
            patient_id=_ids,
            occurred_at=instants(),
            adt_event=adt_events(kinds=(AdtEventKind.DISCHARGE,)),
        ),
        TimeRecorded: st.builds(
            TimeRecorded, patient_id=_ids, occurred_at=instants(), entry=time_entries()
        ),
        EnrollmentChanged: st.builds(
            EnrollmentChanged,
            patient_id=_ids,
            occurred_at=instants(),
            enrollment_id=_ids,
            family=st.sampled_from(ServiceFamily),
            status=st.sampled_from(EnrollmentStatus),
        ),
        CarePlanRevised: st.builds(
            CarePlanRevised,
            patient_id=_ids,
            occurred_at=instants(),
            plan_id=_ids,
            version=st.integers(1, 50),
        ),
        OutreachDue: st.builds(
            OutreachDue,
            patient_id=_ids,
            occurred_at=instants(),
            kind=st.sampled_from(("ccm-check-in", "tcm-contact", "enrollment-outreach")),
            owner=_ids,
            due=dates(),
            detail=_ids,
        ),
        ThresholdReached: st.builds(
            ThresholdReached,
            patient_id=_ids,
            occurred_at=instants(),
            family=st.sampled_from(ServiceFamily),
            code=st.sampled_from(("99490", "99439", "99426")),
            minutes=st.integers(0, 200),
            month=dates().map(lambda d: f"{d.year:04d}-{d.month:02d}"),
        ),
        AppointmentDue: st.builds(
            AppointmentDue,
            patient_id=_ids,
            occurred_at=instants(),
            appointment_id=_ids,
            starts_at=instants(),
            time_zone=st.sampled_from(("UTC", "America/Chicago", "America/New_York")),
            location=st.none() | _words,
            practitioner_id=st.none() | _ids,
        ),
        TaskOverdue: st.builds(
            TaskOverdue,
            patient_id=_ids,
            occurred_at=instants(),
            plan_id=_ids,
            task_id=_ids,
            owner=_ids,
            due=dates(),
        ),
    }


def domain_events() -> st.SearchStrategy[DomainEvent]:
    """Domain events of every kind."""
    return st.one_of(*_event_strategies().values())


def outbound_messages() -> st.SearchStrategy[OutboundMessage]:
    """Outbound messages for any channel."""
    return st.builds(
        OutboundMessage,
        id=_ids,
        idempotency_key=_ids,
        channel=st.sampled_from(("console", "email", "sms", "webhook")),
        recipient=_words,
        subject=_words,
        body=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=200),
        created_at=instants(),
        patient_id=st.none() | _ids,
        audience=st.sampled_from(("care-team", "patient")),
    )


def contact_preferences() -> st.SearchStrategy[ContactPreferences]:
    """Contact preferences, quiet hours included."""
    times = st.none() | st.times()
    return st.builds(
        ContactPreferences,
        patient_id=_ids,
        channels=st.lists(
            st.sampled_from(("sms", "email", "console")), unique=True, max_size=3
        ).map(tuple),
        opted_out=st.frozensets(st.sampled_from(("sms", "email")), max_size=2),
        language=st.sampled_from(("en", "es")),
        quiet_start=times,
        quiet_end=times,
        health_details_in_sms=st.booleans(),
        phone=st.none() | st.from_regex(r"\+1[2-9][0-9]{9}", fullmatch=True),
        email=st.none() | st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.org", fullmatch=True),
    )


def coverages() -> st.SearchStrategy[Coverage]:
    """Coverage spans, open-ended or closed, of every plan kind."""
    return st.tuples(dates(), st.none() | st.integers(0, 3650)).flatmap(
        lambda span: st.builds(
            Coverage,
            id=_ids,
            patient_id=_ids,
            payer=_words,
            plan=st.sampled_from(CoveragePlan),
            member_id=st.none() | _ids,
            start=st.just(span[0]),
            end=st.just(None if span[1] is None else span[0].add(days=span[1])),
        )
    )


def medicare_beneficiary_ids() -> st.SearchStrategy[MedicareBeneficiaryId]:
    """MBIs in the CMS format (letters other than S, L, O, I, B and Z)."""
    letter = st.sampled_from("ACDEFGHJKMNPQRTUVWXY")
    digit = st.sampled_from("0123456789")
    either = letter | digit
    parts = (st.sampled_from("123456789"), letter, either, digit, letter, either, digit)
    rest = (letter, letter, digit, digit)
    return st.tuples(*parts, *rest).map(lambda cs: MedicareBeneficiaryId(value="".join(cs)))


def postal_addresses(*, zip_digits: int | None = None) -> st.SearchStrategy[PostalAddress]:
    """US postal addresses; *zip_digits* (5 or 9) fixes the ZIP code's length."""
    if zip_digits not in {None, 5, 9}:
        msg = f"zip_digits={zip_digits!r}: expected None, 5 or 9"
        raise InvalidArgument(msg)
    lengths = st.sampled_from((5, 9)) if zip_digits is None else st.just(zip_digits)
    return st.builds(
        PostalAddress,
        line1=_words,
        city=_words,
        state=st.from_regex(r"[A-Z]{2}", fullmatch=True),
        postal_code=lengths.flatmap(
            lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
        ),
        line2=st.none() | _words,
    )


def practice_settings() -> st.SearchStrategy[PracticeSetting]:
    """The practice's settings (its time zone)."""
    return st.builds(PracticeSetting, name=st.just("time-zone"), value=time_zones())


def patient_links() -> st.SearchStrategy[PatientLink]:
    """Outside identifiers linked to carecore patients."""
    return st.builds(PatientLink, system=_ids, value=_ids, patient_id=_ids)


def patient_addresses() -> st.SearchStrategy[PatientAddress]:
    """Where patients live."""
    return st.builds(PatientAddress, patient_id=_ids, address=postal_addresses())


def billing_identities() -> st.SearchStrategy[BillingIdentity]:
    """Practices' billing identities (group NPI, EIN, nine-digit ZIP code)."""
    edi = st.from_regex(r"[0-9A-Z]{2,15}", fullmatch=True)
    return st.builds(
        BillingIdentity,
        id=_ids,
        name=_words,
        npi=_npis(),
        tin=st.text(alphabet="0123456789", min_size=9, max_size=9),
        address=postal_addresses(zip_digits=9),
        phone=st.text(alphabet="0123456789", min_size=10, max_size=10),
        payer_id=edi,
        payer_name=_words,
        contact_name=st.none() | _words,
        taxonomy=st.none() | st.from_regex(r"[0-9A-Z]{9}X", fullmatch=True),
        submitter_id=st.none() | edi,
        receiver_name=st.none() | _words,
        receiver_id=st.none() | edi,
        place_of_service=st.from_regex(r"[0-9]{2}", fullmatch=True),
    )


def appointments() -> st.SearchStrategy[Appointment]:
    """Appointments in any status."""
    return st.builds(
        Appointment,
        id=_ids,
        patient_id=_ids,
        starts_at=instants(),
        status=st.sampled_from(AppointmentStatus),
        practitioner_id=st.none() | _ids,
        location=st.none() | _words,
        reason=st.none() | _words,
    )


def delivery_receipts() -> st.SearchStrategy[DeliveryReceipt]:
    """Delivery receipts, accepted or refused."""
    return st.builds(
        DeliveryReceipt,
        message_id=_ids,
        channel=st.sampled_from(("console", "email", "sms", "webhook")),
        accepted=st.booleans(),
        at=instants(),
        provider_id=st.none() | _ids,
        detail=st.none()
        | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=80),
    )


# -- billing facts ----------------------------------------------------------


_BILLING_PRACTITIONERS = ("dr1", "dr2")


@st.composite
def billing_facts(
    draw: st.DrawFn,
    *,
    years: tuple[int, ...] = (2024, 2025, 2026),
    families: tuple[ServiceFamily, ...] | None = None,
    max_events: int = 12,
) -> Any:
    """Billing facts for one calendar month: a patient, one or two practitioners, any events.

    Facts are valid values but not necessarily billable: consent may be
    missing, minutes may fall short, events may conflict. That is the point:
    the engine must handle all of it.
    """
    from carecore.billing import facts as bf  # noqa: PLC0415 - keeps the import of this module light

    if not years:
        raise InvalidArgument("years must not be empty")
    if max_events < 0:
        raise InvalidArgument(f"max_events={max_events!r} must be at least 0")
    pool = families or tuple(ServiceFamily)
    year = draw(st.sampled_from(years))
    period = ServicePeriod.month(year, draw(st.integers(1, 12)))
    in_period = dates(min_value=period.start, max_value=period.end)
    around = dates(min_value=period.start.subtract(years=4), max_value=period.end)
    practitioners = [
        bf.BillingPractitioner(
            id=pid,
            credential=draw(
                st.sampled_from((Credential.MD, Credential.NP, Credential.LCSW, Credential.PT))
            ),
            primary_care_focal_point=draw(st.booleans()),
        )
        for pid in draw(
            st.lists(st.sampled_from(_BILLING_PRACTITIONERS), min_size=1, max_size=2, unique=True)
        )
    ]
    who = st.sampled_from([p.id for p in practitioners])
    family = st.sampled_from(pool)
    patient = bf.PatientFacts(
        id=draw(_ids),
        conditions=draw(
            st.lists(
                st.builds(
                    bf.ChronicCondition,
                    icd10=st.sampled_from(CHRONIC_ICD10CM),
                    expected_duration_months=st.none() | st.integers(0, 36),
                    significant_risk=st.booleans(),
                    behavioral=st.booleans(),
                ),
                max_size=3,
            )
        ),
        consent_on=draw(st.dictionaries(family, st.none() | around, max_size=4)),
        care_plan_on=draw(st.dictionaries(family, st.none() | around, max_size=4)),
        established=draw(st.booleans()),
        last_visit=draw(st.none() | around),
        qmb=draw(st.booleans()),
        date_of_death=draw(
            st.none() | dates(min_value=period.start, max_value=period.end.add(days=40))
        ),
    )
    event = st.one_of(
        st.builds(
            bf.TimeFact,
            date=in_period,
            minutes=st.integers(1, 90),
            role=st.sampled_from(RoleClass),
            practitioner=who,
            family=family,
            credential=st.none() | st.sampled_from(Credential),
            interactive=st.booleans(),
        ),
        st.builds(
            bf.ContactFact,
            date=in_period,
            mode=st.sampled_from(ContactMode),
            successful=st.booleans(),
            role=st.sampled_from(RoleClass),
            practitioner=who,
            family=family,
        ),
        st.builds(
            bf.VisitFact,
            date=around,
            kind=st.sampled_from(VisitKind),
            mdm=st.sampled_from(MdmLevel),
            practitioner=who,
            em_code=st.none() | st.sampled_from(("99213", "99214", "99211", "G0439")),
        ),
        st.builds(
            bf.DischargeFact,
            date=in_period,
            from_setting=st.sampled_from(CareSetting),
            to_setting=st.sampled_from(CareSetting),
            practitioner=st.none() | who,
        ),
        st.builds(bf.AdmissionFact, date=in_period, setting=st.sampled_from(CareSetting)),
        st.builds(
            lambda days, fam, pr, system: bf.DeviceReadingsFact(
                date=period.end,
                period_start=period.start,
                period_end=period.end,
                days_with_data=days,
                device="device",
                family=fam,
                practitioner=pr,
                rtm_system=system if fam is ServiceFamily.RTM else None,
            ),
            st.integers(0, 30),
            st.sampled_from((ServiceFamily.RPM, ServiceFamily.RTM)),
            who,
            st.sampled_from(RtmSystem),
        ),
        st.builds(
            bf.DeviceSetupFact,
            date=in_period,
            family=st.sampled_from((ServiceFamily.RPM, ServiceFamily.RTM)),
            practitioner=who,
        ),
        st.builds(
            bf.CarePlanFact,
            date=in_period,
            family=family,
            action=st.sampled_from(bf.CarePlanAction),
            practitioner=who,
        ),
        st.builds(
            bf.MdmFact,
            date=in_period,
            family=family,
            level=st.sampled_from(MdmLevel),
            practitioner=who,
        ),
        st.builds(
            lambda d, fam, pr, addon, ep: bf.ProgramMonthFact(
                date=d,
                family=fam,
                month=f"{period.start.year:04d}-{period.start.month:02d}",
                practitioner=pr,
                bh_addon=addon,
                episode_month=ep,
            ),
            in_period,
            st.sampled_from((ServiceFamily.APCM, ServiceFamily.COCM)),
            who,
            st.none() | st.sampled_from(bf.BhAddon),
            st.none() | st.integers(1, 8),
        ),
        st.builds(
            bf.OtherClaimFact,
            date=in_period,
            code=_HCPCS,
            practitioner=st.sampled_from(("dr1", "dr2", "dr3")),
        ),
        st.builds(bf.ElectionFact, date=in_period, prefer_family=family, practitioner=who),
    )
    return bf.BillingFacts(
        period=period,
        setting=draw(st.sampled_from(bf.Setting)),
        practitioners=practitioners,
        patient=patient,
        events=draw(st.lists(event, max_size=max_events)),
    )


#: One strategy per public value type (used by ``st.from_type`` and by tests).

# -- medications (issue 18) --------------------------------------------------


def medication_statements() -> st.SearchStrategy[MedicationStatement]:
    """Medication statements from any source (stop, when given, on or after start)."""

    def build(start: pendulum.Date | None, days: int | None, **kw: Any) -> MedicationStatement:
        stop = None if days is None or start is None else start.add(days=days)
        return MedicationStatement(start=start, stop=stop, **kw)

    return st.builds(
        build,
        start=st.none() | dates(),
        days=st.none() | st.integers(0, 400),
        id=_ids,
        patient_id=_ids,
        text=_words,
        source=st.sampled_from(MedicationSource),
        rxnorm=st.none() | st.from_regex(r"[0-9]{3,7}", fullmatch=True),
        dose=st.none() | _words,
        frequency=st.none() | _words,
        status=st.sampled_from(MedicationStatus),
        ingredients=st.lists(_words, max_size=2).map(tuple),
        drug_class=st.none() | _words,
    )


def medication_fills() -> st.SearchStrategy[MedicationFill]:
    """Pharmacy fills."""
    return st.builds(
        MedicationFill,
        id=_ids,
        patient_id=_ids,
        text=_words,
        filled_on=dates(),
        days_supply=st.integers(1, 90),
        drug_class=st.none() | _words,
    )


def reconciliation_items() -> st.SearchStrategy[ReconciliationItem]:
    """Reconciliation items."""
    return st.builds(
        ReconciliationItem,
        key=_ids,
        text=_words,
        statement_ids=st.lists(_ids, min_size=1, max_size=3).map(tuple),
        sources=st.frozensets(st.sampled_from(MedicationSource), min_size=1),
        discrepancies=st.frozensets(st.sampled_from(DiscrepancyKind)),
        decision=st.sampled_from(Decision),
        dose=st.none() | _words,
    )


def medication_reconciliations() -> st.SearchStrategy[MedicationReconciliation]:
    """Medication reconciliations of two or more sources."""
    return st.builds(
        MedicationReconciliation,
        id=_ids,
        patient_id=_ids,
        on=dates(),
        reconciled_by=_ids,
        sources=st.frozensets(st.sampled_from(MedicationSource), min_size=2),
        items=st.lists(reconciliation_items(), max_size=3).map(tuple),
        episode_id=st.none() | _ids,
    )


def clinical_services() -> st.SearchStrategy[ClinicalService]:
    """Coded immunizations, procedures and labs."""
    return st.builds(
        ClinicalService,
        id=_ids,
        patient_id=_ids,
        kind=st.sampled_from(ServiceKind),
        system=st.sampled_from(("CVX", "CPT", "HCPCS", "SNOMED", "LOINC")),
        code=_ids,
        on=dates(),
    )


STRATEGIES: dict[type[Any], st.SearchStrategy[Any]] = {
    Identifier: identifiers(),
    Patient: patients(),
    Practitioner: practitioners(),
    CareTeamMember: care_team_members(),
    CareTeam: care_teams(),
    Coding: codings(),
    Condition: conditions(),
    Program: programs(),
    Consent: consents(),
    StatusChange: status_changes(),
    Enrollment: enrollments(),
    TimeEntry: time_entries(),
    InteractiveContact: interactive_contacts(),
    FaceToFaceVisit: face_to_face_visits(),
    DeviceReadingDay: device_reading_days(),
    AdtEvent: adt_events(),
    TransitionEpisode: transition_episodes(),
    DeadLetter: dead_letters(),
    ServicePeriod: service_periods(),
    ClaimLine: claim_lines(),
    Denial: denials(),
    CarePlan: care_plans(),
    Problem: problems(),
    Target: targets(),
    Goal: goals(),
    Barrier: barriers(),
    Task: tasks(),
    ReadingLimit: reading_limits(),
    ZoneAction: zone_actions(),
    SymptomActionPlan: symptom_action_plans(),
    Referral: referrals(),
    ReviewSchedule: review_schedules(),
    AssessmentNote: assessment_notes(),
    Observation: observations(),
    AssessmentResult: assessment_results(),
    ItemAnswer: item_answers(),
    **_event_strategies(),
    DomainEvent: domain_events(),
    OutboundMessage: outbound_messages(),
    DeliveryReceipt: delivery_receipts(),
    ContactPreferences: contact_preferences(),
    Coverage: coverages(),
    Appointment: appointments(),
    MdmAssessment: mdm_assessments(),
    DeviceSetup: device_setups(),
    ApcmAddon: apcm_addons(),
    ExternalClaim: external_claims(),
    ProgramElection: program_elections(),
    PostalAddress: postal_addresses(),
    PatientAddress: patient_addresses(),
    PracticeSetting: practice_settings(),
    PatientLink: patient_links(),
    MedicareBeneficiaryId: medicare_beneficiary_ids(),
    BillingIdentity: billing_identities(),
    MedicationStatement: medication_statements(),
    MedicationFill: medication_fills(),
    ReconciliationItem: reconciliation_items(),
    MedicationReconciliation: medication_reconciliations(),
    ClinicalService: clinical_services(),
}


def _register_type_strategies() -> None:
    """Register every strategy for ``st.from_type`` (also done by the hypothesis entry point)."""
    for cls, strategy in STRATEGIES.items():
        st.register_type_strategy(cls, strategy)


_register_type_strategies()
