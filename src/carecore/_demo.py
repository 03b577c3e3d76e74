"""The demo practice: a year of a chronic-care-management program, end to end.

``carecore demo`` runs :func:`run_demo`: it builds a practice from Synthea
FHIR bundles shipped with the package (imported by the ``carecore-fhir``
plugin) and generated patients (seeded), finds who is eligible with the
registry, reaches out and enrolls them with consent, runs assessments and
creates care plans, receives a discharge over HL7 v2 ADT through the MLLP
listener of the ``carecore-hl7v2`` plugin on 127.0.0.1, simulates a year of
monthly care management (minutes, check-in calls, A1c results, goal
progress, emergency visits, admissions and their transitions of care,
disenrollments), closes each month's billing, and writes the program report.

Every step goes through the public API (the service, the registry, the
billing engine, the metrics); the randomness comes from one seeded
generator, so a seed gives the same practice and the same report. The
plugins are reached only through hooks (the ``fhir`` source of
``carecore_ehr_sources`` and the ``mllp`` listener of ``carecore_listeners``):
this module imports no plugin. Nothing happens after the last simulated day,
which must be before the clock's today, and the summary's figures are the
metrics' and the month closes'.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import tempfile
import threading
import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pendulum
from attrs import evolve, frozen

from carecore import errors, transitions
from carecore._cli_import import import_location
from carecore.billing.fees import Revenue, revenue
from carecore.clock import FixedClock
from carecore.metrics import A1C_LOINC, months_of
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    Appointment,
    AssessmentDomain,
    AssessmentNote,
    BillingIdentity,
    CarePlan,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
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
    DisenrollmentReason,
    Enrollment,
    EnrollmentStatus,
    FaceToFaceVisit,
    Goal,
    Identifier,
    InteractiveContact,
    InterventionKind,
    MdmLevel,
    Observation,
    Patient,
    PatientAddress,
    PatientClass,
    PostalAddress,
    Practitioner,
    Program,
    ReviewSchedule,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    SupervisionLevel,
    SymptomActionPlan,
    Target,
    Task,
    TimeEntry,
    TransitionEpisode,
    VisitKind,
    ZoneAction,
)
from carecore.report import ReportFiles

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pluggy

    from carecore.hookspecs import Listener
    from carecore.metrics import Measure
    from carecore.protocols import EhrSource
    from carecore.service import CareProgram

__all__ = ["DemoResult", "DemoSettings", "run_demo"]

PRACTICE_TZ = "America/Chicago"
MAX_PATIENTS = 5_000

#: Real ICD-10-CM codes; the chronic flag is what the billing practitioner attests.
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
    ("I48.91", True),
    ("J06.9", False),  # acute upper respiratory infection
    ("S93.401A", False),  # ankle sprain
)
_GIVEN = ("Ada", "Luis", "Mei", "Samuel", "Grace", "Omar", "Ruth", "Kwame", "Elena", "Frank")
_FAMILY = ("Okafor", "Ramirez", "Chen", "Brooks", "Novak", "Haddad", "Klein", "Mensah", "Ortiz")
_STREETS = ("Elm", "Oak", "Maple", "Cedar", "Lake", "Park", "Hill", "River")
#: The demo practice as it bills claims (a made-up group NPI with a valid check digit,
#: TIN and phone; the payer is the practice's Medicare Part B contractor).
_BILLING = BillingIdentity(
    id="demo-practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(
        line1="100 N Lake St", city="Chicago", state="IL", postal_code="606011234"
    ),
    phone="3125550100",
    payer_id="06102",
    payer_name="MEDICARE PART B",
    taxonomy="207Q00000X",
)


def _demo_mbi(index: int) -> str:
    """A made-up MBI in the CMS format, different for each index below 100,000."""
    d = f"{index:05d}"
    return f"1E{d[0]}{d[1]}TE{d[2]}MK{d[3]}{d[4]}"


def _home(patient_id: str, index: int) -> PatientAddress:
    """A made-up Chicago address for the demo's claims."""
    street = _STREETS[index % len(_STREETS)]
    return PatientAddress(
        patient_id=patient_id,
        address=PostalAddress(
            line1=f"{100 + index} {street} St",
            city="Chicago",
            state="IL",
            postal_code=f"606{index % 50 + 1:02d}",
        ),
    )


_ACTIVITIES = (
    "medication reconciliation",
    "care plan review by phone",
    "coordination with cardiology",
    "symptom check-in",
    "education on home glucose monitoring",
)
_STAGES = (
    "practice and FHIR import",
    "registry and enrollment",
    "assessments and care plans",
    "HL7 ADT over MLLP",
    "a year of care management",
    "report",
)


def _default_last_month() -> ServicePeriod:
    from carecore.billing import CMS_YEARS  # noqa: PLC0415

    last = pendulum.now(PRACTICE_TZ).date().start_of("month").subtract(months=1)
    newest = pendulum.Date(max(CMS_YEARS), 12, 1)
    last = min(last, newest)
    return ServicePeriod.month(last.year, last.month)


@frozen(kw_only=True)
class DemoSettings:
    """What the demo builds: *patients* generated patients, *months* simulated months ending with *last*."""

    patients: int = attrs.field(default=150)
    seed: int = attrs.field(default=7)
    months: int = attrs.field(default=12)
    last: ServicePeriod = attrs.field(factory=_default_last_month)

    @patients.validator
    def _patients(self, attribute: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PATIENTS:
            raise errors.InvalidValue(
                f"must be a whole number from 1 to {MAX_PATIENTS}",
                field=attribute.name,
                value=value,
            )

    @months.validator
    def _months(self, attribute: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 3 <= value <= 24:  # noqa: PLR2004
            raise errors.InvalidValue(
                "must be a whole number from 3 to 24", field=attribute.name, value=value
            )

    @seed.validator
    def _seed(self, attribute: Any, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidValue("must be a whole number", field=attribute.name, value=value)

    def __attrs_post_init__(self) -> None:
        from carecore.billing import CMS_YEARS  # noqa: PLC0415

        if not isinstance(self.last, ServicePeriod):
            raise errors.InvalidValue("must be a ServicePeriod", field="last", value=self.last)
        first, last = self.period.start.year, self.last.start.year
        if first < min(CMS_YEARS) or last > max(CMS_YEARS):
            raise errors.InvalidValue(
                f"must keep every simulated month in {min(CMS_YEARS)}-{max(CMS_YEARS)}, the years "
                f"with CMS rule sets (this run would cover {self.period})",
                field="last",
                value=self.last,
            )

    @property
    def period(self) -> ServicePeriod:
        """The simulated months, first day of the first to last day of *last*."""
        first = self.last.start.subtract(months=self.months - 1)
        return ServicePeriod(start=first, end=self.last.end)


@frozen(kw_only=True)
class DemoResult:
    """What the demo did, for its summary table."""

    settings: DemoSettings
    store_url: str
    patients: int
    from_fhir: int
    eligible: int
    enrolled: int
    adt_messages: int
    acks: tuple[str, ...]
    claim_lines: int
    expected_revenue: Decimal
    unpriced_lines: int
    report: ReportFiles
    measures: tuple[tuple[str, str], ...]
    seconds: float

    @property
    def revenue(self) -> Revenue:
        """The approximate revenue of the claim lines; lines with no listed fee are counted apart."""
        return Revenue(
            total=self.expected_revenue, lines=self.claim_lines, unpriced_lines=self.unpriced_lines
        )


#: The install command the demo names when a plugin it needs is missing (run from the repository).
_INSTALL = "pip install ./plugins/carecore-fhir ./plugins/carecore-hl7v2"


class _Plugins:
    """What the demo needs from plugins, found through hooks (the core never imports a plugin).

    The ``fhir`` EHR source (``carecore_ehr_sources``, from carecore-fhir) reads the
    Synthea bundles; the ``mllp`` listener (``carecore_listeners``, from carecore-hl7v2)
    receives the discharge. A missing one is :class:`~carecore.errors.MissingPlugin`.
    """

    def __init__(self, pm: pluggy.PluginManager | None) -> None:
        from carecore.plugins import Hooks, get_plugin_manager  # noqa: PLC0415

        pm = pm if pm is not None else get_plugin_manager()
        fhir = Hooks(pm).ehr_sources().get("fhir")
        if fhir is None:
            raise errors.MissingPlugin(
                plugin="carecore-fhir",
                needed_for="carecore demo imports Synthea FHIR bundles with its 'fhir' source and",
                install=_INSTALL,
            )
        mllp = next(
            (item for items in pm.hook.carecore_listeners() for item in items if item.id == "mllp"),
            None,
        )
        if mllp is None:
            raise errors.MissingPlugin(
                plugin="carecore-hl7v2",
                needed_for="carecore demo receives a discharge with its 'mllp' listener and",
                install=_INSTALL,
            )
        self.fhir: EhrSource = fhir
        self.mllp: Listener = mllp


def _bundles() -> list[tuple[str, bytes]]:
    folder = resources.files("carecore") / "_demo_data" / "synthea"
    return [
        (item.name.removesuffix(".gz"), gzip.decompress(item.read_bytes()))
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.endswith(".json.gz")
    ]


def run_demo(
    program: CareProgram,
    settings: DemoSettings,
    out: Path,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoResult:
    """Build and run the demo practice in *program*'s store and write the report to *out*.

    *progress* is called with (stage, done, total) as the stages advance.
    The store should be empty: the demo's ids are fixed, so records of an
    earlier run would clash.
    """
    started = time.perf_counter()
    plugins = _Plugins(program.plugin_manager)
    if not isinstance(settings, DemoSettings):
        raise errors.InvalidValue("must be DemoSettings", field="settings", value=settings)
    today = program.clock.now().in_timezone(PRACTICE_TZ).date()
    if settings.last.end >= today:
        raise errors.InvalidValue(
            f"must be a month that has ended (today is {today.isoformat()}): "
            "the demo simulates no day after today",
            field="last",
            value=f"{settings.last.start:%Y-%m}",
        )
    with program.transaction("carecore demo: is the store empty?") as tx:
        if tx.all(Patient):
            raise errors.InvalidValue(
                "already holds patients (an earlier or failed demo?): the demo needs an "
                "empty store; rerun with --fresh to start over in a SQLite file "
                "(without --db, carecore demo replaces its own file)",
                field="db",
                value=program.store.url,
            )
    sim = _Simulation(program, settings, plugins, progress)
    sim.build_practice()
    sim.enroll()
    sim.plan_care()
    sim.receive_over_mllp()
    sim.simulate_year()
    files, measures = sim.write_report(out)
    return sim.result(files, measures, time.perf_counter() - started)


class _Simulation:
    """The demo's steps, sharing one seeded generator and the practice's cast."""

    def __init__(
        self,
        program: CareProgram,
        settings: DemoSettings,
        plugins: _Plugins,
        progress: Callable[[str, int, int], None] | None,
    ) -> None:
        self.program = program
        self.settings = settings
        self.plugins = plugins
        self.progress = progress or (lambda _stage, _done, _total: None)
        self.rng = random.Random(settings.seed)  # noqa: S311 - reproducible demo data
        self.period = settings.period
        self.first = self.period.start
        self.months = list(months_of(self.period))
        self.doctor = Practitioner(
            id="dr-ruiz", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893"
        )
        self.nurses = (
            Practitioner(id="rn-park", name="Jin Park, RN", credential=Credential.RN),
            Practitioner(id="rn-silva", name="Maria Silva, RN", credential=Credential.RN),
        )
        self.assistant = Practitioner(id="ma-diaz", name="Rosa Diaz, MA", credential=Credential.MA)
        self.scheduler = Practitioner(id="sch-lee", name="Tom Lee", credential=Credential.NONE)
        self.ccm = Program(
            id="ccm",
            name="Chronic care management",
            family=ServiceFamily.CCM,
            time_zone=PRACTICE_TZ,
        )
        self.patients: list[Patient] = []
        self.from_fhir = 0
        self.eligible: list[str] = []
        self.enrolled_on: dict[str, pendulum.Date] = {}
        self.manager: dict[str, str] = {}
        self.plans: dict[str, str] = {}
        self.diabetic: set[str] = set()
        self.adt_sent = 0
        self.acks: list[str] = []

    def _clock(self, day: pendulum.Date, hour: int = 17) -> None:
        self.program.clock = FixedClock(
            pendulum.datetime(day.year, day.month, day.day, hour, tz=PRACTICE_TZ)
        )

    # -- 1. the practice -------------------------------------------------------------

    def build_practice(self) -> None:
        stage = _STAGES[0]
        self._clock(self.first.subtract(days=1))
        bundles = _bundles()
        total = len(bundles) + 1
        staff = (self.doctor, *self.nurses, self.assistant, self.scheduler)
        self.program.import_records(staff, reason="carecore demo: the practice's staff")
        self.program.import_records([self.ccm], reason="carecore demo: the program")
        self.program.import_records(
            [_BILLING], reason="carecore demo: the practice's billing identity"
        )
        source = self.plugins.fhir
        configured = getattr(source, "configured", None)
        if configured is not None:
            source = configured({"time_zone": PRACTICE_TZ})
        with tempfile.TemporaryDirectory(prefix="carecore-demo-") as folder:
            for done, (name, data) in enumerate(bundles, start=1):
                path = Path(folder) / name
                path.write_bytes(data)
                refused = import_location(self.program, source, str(path))["refused"]
                if refused:
                    raise errors.InvalidValue(
                        f"the shipped bundle did not import: {refused[0].reason}",
                        field=refused[0].where,
                        value=name,
                    )
                self.progress(stage, done, total)
        with self.program.transaction("carecore demo: imported patients") as tx:
            imported = tx.all(Patient)
            imported_conditions = tx.all(Condition)
        self.from_fhir = len(imported)
        # The bundles carry no Coverage: the practice's billing system knows who has Medicare.
        self.program.import_records(
            [
                Coverage(
                    id=f"{p.id}-cov",
                    patient_id=p.id,
                    payer="Medicare",
                    plan=CoveragePlan.MEDICARE_PART_B,
                    member_id=_demo_mbi(50_000 + n),
                    start=p.birth_date.add(years=65).start_of("month"),
                )
                for n, p in enumerate(imported)
                if p.age_on(self.first) >= 65  # noqa: PLR2004
            ],
            reason="carecore demo: Medicare coverage from the practice's billing system",
        )
        self.program.import_records(
            [_home(p.id, 50_000 + n) for n, p in enumerate(imported)],
            reason="carecore demo: addresses from the practice's billing system",
        )
        self.diabetic |= {c.patient_id for c in imported_conditions if "diabet" in _label(c)}
        generated = self._generate_patients()
        self.patients = [*imported, *generated]
        self.progress(stage, total, total)

    def _generate_patients(self) -> list[Patient]:
        rng, start = self.rng, self.first
        people, conditions, coverages, prefs, visits = [], [], [], [], []
        for index in range(self.settings.patients):
            pid = f"p-{index + 1:04d}"
            born = pendulum.Date(rng.randint(1932, 1961), rng.randint(1, 12), rng.randint(1, 28))
            people.append(
                Patient(
                    id=pid,
                    given_name=rng.choice(_GIVEN),
                    family_name=rng.choice(_FAMILY),
                    birth_date=born,
                    sex=rng.choice((AdministrativeSex.FEMALE, AdministrativeSex.MALE)),
                    time_zone=PRACTICE_TZ,
                )
            )
            for n, (code, chronic) in enumerate(rng.sample(_CONDITIONS, rng.randint(0, 4))):
                conditions.append(
                    Condition(
                        id=f"{pid}-c{n}",
                        patient_id=pid,
                        coding=Coding.icd10cm(code),
                        onset=start.subtract(months=rng.randint(13, 120)),
                        chronic=chronic,
                        significant_risk=chronic,
                    )
                )
                if code.startswith("E11"):
                    self.diabetic.add(pid)
            roll = rng.random()
            plan = (
                CoveragePlan.MEDICARE_PART_B
                if roll < 0.8  # noqa: PLR2004
                else CoveragePlan.MEDICARE_ADVANTAGE
                if roll < 0.92  # noqa: PLR2004
                else CoveragePlan.COMMERCIAL
            )
            coverages.append(
                Coverage(
                    id=f"{pid}-cov",
                    patient_id=pid,
                    payer="Medicare" if plan is not CoveragePlan.COMMERCIAL else "Acme Health",
                    plan=plan,
                    member_id=_demo_mbi(index),
                    start=born.add(years=65).start_of("month"),
                )
            )
            prefs.append(
                ContactPreferences(
                    patient_id=pid,
                    channels=("sms", "email"),
                    language="es" if rng.random() < 0.15 else "en",  # noqa: PLR2004
                    phone=f"+1312555{index % 10000:04d}",
                    quiet_start=pendulum.time(21),
                    quiet_end=pendulum.time(8),
                )
            )
            # The initiating visit: an office visit in the year before the program starts.
            visits.append(
                FaceToFaceVisit(
                    id=f"{pid}-v0",
                    patient_id=pid,
                    on=start.subtract(days=rng.randint(20, 300)),
                    kind=VisitKind.OFFICE_EM,
                    mdm=MdmLevel.MODERATE,
                    billing_practitioner_id=self.doctor.id,
                    em_code="99214",
                )
            )
        reason = "carecore demo: generated patients"
        homes = [_home(p.id, n) for n, p in enumerate(people)]
        for group in (people, conditions, coverages, prefs, visits, homes):
            self.program.import_records(group, reason=reason)
        return people

    # -- 2. registry and enrollment ----------------------------------------------------

    def enroll(self) -> None:
        from carecore import registry  # noqa: PLC0415

        stage = _STAGES[1]
        with self.program.transaction("carecore demo: the registry") as tx:
            conditions = tx.all(Condition)
            coverages = tx.all(Coverage)
            visits = tx.all(FaceToFaceVisit)
        seen = {v.patient_id for v in visits}
        rng = self.rng
        consents, enrollments, teams, new_visits = [], [], [], []
        total = len(self.patients)
        # One pass over the records (per-patient eligibility calls would scan them all each time).
        verdicts = {
            v.patient_id: v
            for v in registry.registry(
                self.patients,
                as_of=self.first,
                conditions=conditions,
                coverages=coverages,
                families=(ServiceFamily.CCM,),
            )
        }
        for done, patient in enumerate(self.patients, start=1):
            verdict = verdicts[patient.id]
            self.progress(stage, done, total)
            if not verdict.eligible or patient.date_of_death is not None:
                continue
            self.eligible.append(patient.id)
            identified = Enrollment.identify(
                id=f"{patient.id}-ccm",
                patient_id=patient.id,
                program_id=self.ccm.id,
                family=ServiceFamily.CCM,
                billing_practitioner_id=self.doctor.id,
                on=self.first,
            )
            # Outreach through the year; about three in four agree.
            month = rng.randint(0, max(0, len(self.months) - 4))
            day = self.months[month].start.add(days=rng.randint(0, 20))
            reached = identified.reach_out(day)
            if rng.random() > 0.75:  # noqa: PLR2004
                enrollments.append(reached)
                continue
            on = day.add(days=rng.randint(1, 7))
            enrollments.append(reached.consent(on).enroll(on))
            self.enrolled_on[patient.id] = on
            manager = self.nurses[len(self.enrolled_on) % 2]
            self.manager[patient.id] = manager.id
            consents.append(
                Consent(
                    id=f"{patient.id}-consent",
                    patient_id=patient.id,
                    family=ServiceFamily.CCM,
                    method=rng.choice((ConsentMethod.VERBAL, ConsentMethod.WRITTEN)),
                    obtained_on=on,
                    obtained_by=manager.id,
                    billing_practitioner_id=self.doctor.id,
                    cost_sharing_explained=True,
                )
            )
            teams.append(
                CareTeam(
                    id=f"{patient.id}-team",
                    patient_id=patient.id,
                    members=[
                        CareTeamMember(
                            practitioner_id=self.doctor.id, role=CareTeamRole.BILLING_PRACTITIONER
                        ),
                        CareTeamMember(
                            practitioner_id=manager.id,
                            role=CareTeamRole.CARE_MANAGER,
                            supervisor_id=self.doctor.id,
                            supervision=SupervisionLevel.GENERAL,
                        ),
                    ],
                )
            )
            # The enrollment visit with the billing physician initiates CCM (an
            # earlier office visit may be more than a year before the consent).
            new_visits.append(
                FaceToFaceVisit(
                    id=f"{patient.id}-v-enroll",
                    patient_id=patient.id,
                    on=on,
                    kind=VisitKind.OFFICE_EM if patient.id in seen else VisitKind.AWV,
                    mdm=MdmLevel.MODERATE,
                    billing_practitioner_id=self.doctor.id,
                    em_code="99214" if patient.id in seen else None,
                )
            )
        reason = "carecore demo: enrollment with consent"
        for group in (enrollments, consents, teams, new_visits):
            self.program.import_records(group, reason=reason)

    # -- 3. assessments and care plans --------------------------------------------------

    def plan_care(self) -> None:
        stage = _STAGES[2]
        items = ["44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2"]
        items += ["44252-5", "44253-3", "44260-8"]
        codes = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
        total = len(self.enrolled_on)
        for done, (pid, on) in enumerate(sorted(self.enrolled_on.items()), start=1):
            self._clock(on)
            answers = {item: codes[min(3, int(self.rng.expovariate(1.4)))] for item in items}
            self.program.assess(
                pid,
                "phq-9",
                answers,
                result_id=f"{pid}-phq9",
                on=on,
                performer_id=self.manager[pid],
            )
            plan = self.program.create_care_plan(
                f"{pid}-cp", pid, responsible_id=self.doctor.id, on=on
            )

            def agreed(
                draft: CarePlan, on: pendulum.Date = on, owner: str = self.manager[pid]
            ) -> CarePlan:
                return _complete(draft, on, owner)

            self.program.revise_care_plan(
                plan.id, agreed, reason="carecore demo: plan agreed with the patient"
            )
            self.plans[pid] = plan.id
            self.progress(stage, done, total)

    # -- 4. one discharge over HL7 v2 ---------------------------------------------------

    def receive_over_mllp(self) -> None:
        """Send an admission and a discharge for one enrolled patient through the real listener."""
        stage = _STAGES[3]
        # A month near the end, for a patient enrolled before it (the earliest one if need be).
        month = self.months[max(0, len(self.months) - 3)]
        candidates = sorted(self.enrolled_on, key=lambda p: (self.enrolled_on[p] >= month.start, p))
        if not candidates:
            self.progress(stage, 1, 1)
            return
        pid = candidates[0]
        admitted = pendulum.datetime(month.start.year, month.start.month, 6, 22, tz=PRACTICE_TZ)
        discharged = admitted.add(days=3, hours=13)
        self._clock(discharged.date(), hour=18)
        # The hospital knows the patient by its own MRN: PID-3 finds the patient through it.
        with self.program.transaction("demo: the hospital's medical record number") as tx:
            patient = tx.get(Patient, pid)
            mrn = Identifier(system="RGH", value=pid)
            if mrn not in patient.identifiers:
                tx.replace(attrs.evolve(patient, identifiers=(*patient.identifiers, mrn)))
        messages = [
            _adt("A01", "DEMO-A01-1", pid, admitted, admitted, None),
            _adt("A03", "DEMO-A03-1", pid, discharged, admitted, discharged),
            _adt("A03", "DEMO-A03-1", pid, discharged, admitted, discharged),  # a resend
        ]
        self.acks = _send_over_mllp(self.program, self.plugins, messages)
        self.adt_sent = len(messages)
        self._follow_up(pid, discharged.date())
        self.progress(stage, 1, 1)

    def _follow_up(self, pid: str, day: pendulum.Date) -> None:
        """The TCM contact within two business days and the visit within a week, when they happen."""
        if self.rng.random() < 0.2:  # noqa: PLR2004 - some patients are not reached in time
            return
        with self.program.transaction("carecore demo: TCM follow-up") as tx:
            episodes = [
                e
                for e in tx.find(TransitionEpisode, patient_id=pid)
                if e.qualifies and e.contact_made_on is None and e.discharge_date == day
            ]
            for ep in episodes:
                contact = day.add(days=1)
                visit = day.add(days=self.rng.randint(4, 12))
                if visit > self.period.end:
                    continue  # the demo makes nothing happen after its last simulated day
                # Each step is a new version of the episode, stored in turn.
                called = transitions.record_contact(ep, on=contact, successful=True)
                tx.replace(called)
                seen = transitions.record_visit(called, on=visit)
                tx.replace(seen)
                tx.replace(transitions.record_med_rec(seen, on=visit))
                tx.add(
                    InteractiveContact(
                        id=f"{ep.id}-contact",
                        patient_id=pid,
                        at=pendulum.datetime(
                            contact.year, contact.month, contact.day, 10, tz=PRACTICE_TZ
                        ),
                        mode=ContactMode.PHONE,
                        successful=True,
                        role_class=RoleClass.CLINICAL_STAFF,
                        performer_id=self.manager.get(pid, self.nurses[0].id),
                        family=ServiceFamily.TCM,
                        billing_practitioner_id=self.doctor.id,
                    )
                )
                tx.add(
                    FaceToFaceVisit(
                        id=f"{ep.id}-visit",
                        patient_id=pid,
                        on=visit,
                        kind=VisitKind.TCM_F2F,
                        mdm=MdmLevel.MODERATE,
                        billing_practitioner_id=self.doctor.id,
                    )
                )

    # -- 5. a year of care management ---------------------------------------------------

    def simulate_year(self) -> None:
        stage = _STAGES[4]
        total = len(self.months)
        for done, month in enumerate(self.months, start=1):
            self._simulate_month(month)
            self._clock(month.end, hour=23)
            self.program.close_month(month, reason="carecore demo: month close")
            self.progress(stage, done, total)

    def _enrolled_in(self, month: ServicePeriod) -> list[str]:
        with self.program.transaction("carecore demo: who is enrolled") as tx:
            enrollments = tx.all(Enrollment)
        return sorted(
            e.patient_id
            for e in enrollments
            if e.status_on(month.end) is EnrollmentStatus.ENROLLED
            or (e.enrolled_on is not None and month.start <= e.enrolled_on <= month.end)
        )

    def _simulate_month(self, month: ServicePeriod) -> None:
        rng = self.rng
        # Who leaves this month leaves first: no minutes after a disenrollment.
        self._churn(month, self._enrolled_in(month))
        enrolled = self._enrolled_in(month)
        entries: list[TimeEntry] = []
        contacts: list[InteractiveContact] = []
        observations: list[Observation] = []
        appointments: list[Appointment] = []
        tag = f"{month.start.year}{month.start.month:02d}"
        for pid in enrolled:
            start = max(month.start, self.enrolled_on.get(pid, month.start))
            days = (month.end - start).days + 1
            manager = self.manager.get(pid, self.nurses[0].id)
            for n in range(rng.randint(1, 5)):
                who, role = rng.choice(
                    (
                        (manager, RoleClass.CLINICAL_STAFF),
                        (manager, RoleClass.CLINICAL_STAFF),
                        (self.assistant.id, RoleClass.CLINICAL_STAFF),
                        (self.doctor.id, RoleClass.PHYSICIAN),
                        (self.scheduler.id, RoleClass.NON_CLINICAL),
                    )
                )
                credential = {
                    self.doctor.id: Credential.MD,
                    self.assistant.id: Credential.MA,
                    self.scheduler.id: Credential.NONE,
                }.get(who, Credential.RN)
                entries.append(
                    TimeEntry(
                        id=f"{pid}-{tag}-t{n}",
                        patient_id=pid,
                        performer_id=who,
                        credential=credential,
                        role_class=role,
                        minutes=rng.randint(4, 22),
                        family=ServiceFamily.CCM,
                        activity="scheduling"
                        if role is RoleClass.NON_CLINICAL
                        else rng.choice(_ACTIVITIES),
                        service_date=start.add(days=rng.randint(0, days - 1)),
                        billing_practitioner_id=self.doctor.id,
                    )
                )
            if rng.random() < 0.85:  # noqa: PLR2004 - the monthly check-in call
                day = start.add(days=rng.randint(0, days - 1))
                contacts.append(
                    InteractiveContact(
                        id=f"{pid}-{tag}-call",
                        patient_id=pid,
                        at=pendulum.datetime(day.year, day.month, day.day, 11, tz=PRACTICE_TZ),
                        mode=ContactMode.PHONE,
                        successful=True,
                        role_class=RoleClass.CLINICAL_STAFF,
                        performer_id=manager,
                        family=ServiceFamily.CCM,
                        billing_practitioner_id=self.doctor.id,
                    )
                )
            if pid in self.diabetic and month.start.month % 3 == self.first.month % 3:
                observations.append(self._a1c(pid, month))
            when = month.end.add(days=rng.randint(3, 25))
            # A follow-up visit next month (none past the last simulated day).
            if rng.random() < 0.3 and when <= self.period.end:  # noqa: PLR2004
                appointments.append(
                    Appointment(
                        id=f"{pid}-{tag}-appt",
                        patient_id=pid,
                        starts_at=pendulum.datetime(
                            when.year, when.month, when.day, 9, tz=PRACTICE_TZ
                        ),
                        practitioner_id=self.doctor.id,
                        location="Main St clinic",
                    )
                )
        reason = f"carecore demo: {month} activity"
        for group in (entries, contacts, observations, appointments):
            self.program.import_records(group, reason=reason)
        self._clock(month.end, hour=18)
        # Goal progress moves with a new result: only plans whose patient had an A1c this month.
        for pid in sorted({o.patient_id for o in observations}):
            if pid in self.plans:
                self.program.update_goal_progress(self.plans[pid], reason=reason)
        self._utilization(month, set(enrolled))

    def _a1c(self, pid: str, month: ServicePeriod) -> Observation:
        # A baseline near 8.6% that falls by about 0.12 a month once enrolled.
        since = self.enrolled_on.get(pid)
        months_in = 0 if since is None or since > month.end else (month.end - since).days // 30
        base = Decimal("8.6") + Decimal(self.rng.randint(-8, 8)) / 10
        value = max(Decimal("5.8"), base - Decimal("0.12") * min(months_in, 10))
        return Observation(
            id=f"{pid}-a1c-{month.start.year}{month.start.month:02d}",
            patient_id=pid,
            measure="Hemoglobin A1c",
            value=value.quantize(Decimal("0.1")),
            unit="%",
            on=month.start.add(days=self.rng.randint(0, 20)),
            loinc=A1C_LOINC,
        )

    def _utilization(self, month: ServicePeriod, enrolled: set[str]) -> None:
        """Emergency visits and admissions through the listener's code path (CareProgram.receive)."""
        rng = self.rng
        for patient in self.patients:
            if patient.date_of_death is not None:
                continue
            cared = patient.id in enrolled
            ed = 0.012 if cared else 0.03
            admit = 0.006 if cared else 0.015
            roll = rng.random()
            if roll >= ed + admit:
                continue
            day = month.start.add(days=rng.randint(0, month.days - 8))
            at = pendulum.datetime(day.year, day.month, day.day, rng.randint(8, 20), tz=PRACTICE_TZ)
            key = f"{patient.id}-{day.isoformat()}"
            if roll < ed:
                self._receive(
                    key,
                    patient.id,
                    AdtEventKind.DISCHARGE,
                    PatientClass.EMERGENCY,
                    at,
                    at.add(hours=5),
                )
                continue
            out = self._stay(key, patient.id, at)
            if cared:
                self._follow_up(patient.id, out.date())
            # Some come back within 30 days; fewer of those the program follows.
            if rng.random() < (0.08 if cared else 0.2):
                again = out.add(days=rng.randint(4, 25), hours=rng.randint(1, 9))
                if again.add(days=6).date() <= self.period.end:  # its stay ends by the last day
                    self._stay(f"{key}-re", patient.id, again)

    def _stay(self, key: str, pid: str, at: pendulum.DateTime) -> pendulum.DateTime:
        """An admission and its discharge a few days later; returns the discharge time."""
        out = at.add(days=self.rng.randint(2, 6))
        self._receive(key + "-a", pid, AdtEventKind.ADMIT, PatientClass.INPATIENT, at, None)
        self._receive(key, pid, AdtEventKind.DISCHARGE, PatientClass.INPATIENT, at, out)
        return out

    def _receive(  # noqa: PLR0917 - the ADT event's parts
        self,
        key: str,
        pid: str,
        kind: AdtEventKind,
        cls: PatientClass,
        admitted: pendulum.DateTime,
        discharged: pendulum.DateTime | None,
    ) -> None:
        setting = (
            CareSetting.EMERGENCY_DEPARTMENT
            if cls is PatientClass.EMERGENCY
            else CareSetting.INPATIENT_ACUTE
        )
        when = discharged or admitted
        self._clock(when.date(), hour=23)
        self.program.receive(
            AdtEvent(
                id=f"adt-{key}",
                source_key=key,
                patient_id=pid,
                kind=kind,
                occurred_at=when,
                patient_class=cls,
                admitted_at=admitted,
                discharged_at=discharged,
                from_setting=setting if discharged else None,
                to_setting=CareSetting.HOME if discharged else None,
                facility="Riverbend General Hospital",
                visit_number=f"V-{pid}-{admitted.date().isoformat()}",
            ),
            source="demo-feed",
        )

    def _churn(self, month: ServicePeriod, enrolled: Iterable[str]) -> None:
        for pid in enrolled:
            if self.enrolled_on.get(pid, month.start) >= month.start or self.rng.random() > 0.015:  # noqa: PLR2004
                continue
            day = month.start.add(days=self.rng.randint(0, month.days - 1))
            reason = self.rng.choice(
                (DisenrollmentReason.PATIENT_REQUEST, DisenrollmentReason.MOVED)
            )

            def leave(
                e: Enrollment, day: pendulum.Date = day, why: DisenrollmentReason = reason
            ) -> Enrollment:
                return e.disenroll(day, why)

            self.program.change_enrollment(
                f"{pid}-ccm", leave, reason="carecore demo: the patient left the program"
            )

    # -- 6. the report ------------------------------------------------------------------

    def write_report(self, out: Path) -> tuple[ReportFiles, tuple[tuple[str, str], ...]]:
        from carecore.metrics import program_report  # noqa: PLC0415
        from carecore.report import write_report  # noqa: PLC0415

        stage = _STAGES[5]
        data = self.program.program_data(reason="carecore demo: the program report")
        report = program_report(
            data,
            period=self.period,
            as_of=self.period.end,
            time_zone=PRACTICE_TZ,
            intervention=self.months[len(self.months) // 2].start,
        )
        files = write_report(report, out)
        measures = tuple((m.name, _fmt(m)) for m in report.measures)
        self.progress(stage, 1, 1)
        return files, measures

    def result(
        self, files: ReportFiles, measures: tuple[tuple[str, str], ...], seconds: float
    ) -> DemoResult:
        from carecore.model import ClaimLine  # noqa: PLC0415

        with self.program.transaction("carecore demo: summary") as tx:
            # The program's lines (CCM), as the report's expected_revenue measure counts them.
            lines = [line for line in tx.all(ClaimLine) if line.family is self.ccm.family]
        money = revenue(lines)  # lines with no listed fee are counted apart, never as $0
        return DemoResult(
            settings=self.settings,
            store_url=self.program.store.url,
            patients=len(self.patients),
            from_fhir=self.from_fhir,
            eligible=len(self.eligible),
            enrolled=len(self.enrolled_on),
            adt_messages=self.adt_sent,
            acks=tuple(self.acks),
            claim_lines=len(lines),
            expected_revenue=money.total,
            unpriced_lines=money.unpriced_lines,
            report=files,
            measures=measures,
            seconds=seconds,
        )


def _label(condition: Condition) -> str:
    return f"{condition.coding.code} {condition.coding.display or ''}".lower()


def _fmt(measure: Measure) -> str:
    """A measure for the summary: ratios as percentages (of what), counts whole, the rest to 2 places."""
    value, unit = measure.value, measure.unit
    if value is None:
        return "n/a (no denominator)"
    if unit == "ratio":
        counts = (measure.numerator, measure.denominator)
        if all(c is not None and c == c.to_integral_value() for c in counts):
            return f"{value * 100:.1f}% ({counts[0]:,.0f} of {counts[1]:,.0f})"
        return f"{value * 100:.1f}%"
    if value == value.to_integral_value():
        return f"{value:,.0f} {unit}"
    return f"{value:,.2f} {unit}"


def _complete(plan: CarePlan, on: pendulum.Date, owner: str) -> CarePlan:
    """The plan once agreed with the patient: the CMS elements a draft left open, then active.

    Drafts from conditions with a template already have goals, symptom plans
    and interventions; for the others the care manager writes general ones.
    """
    done = {note.domain for note in plan.assessments}
    notes = [
        AssessmentNote(domain=domain, summary=summary)
        for domain, summary in (
            (AssessmentDomain.FUNCTIONAL, "independent in ADLs; needs help with shopping"),
            (AssessmentDomain.ENVIRONMENTAL, "lives alone, second floor, no elevator"),
            (AssessmentDomain.CAREGIVER, "daughter visits weekly"),
        )
        if domain not in done
    ]
    first = plan.problems[0].id if plan.problems else None
    changes: dict[str, Any] = {
        "assessments": [*plan.assessments, *notes],
        "expected_outcome": plan.expected_outcome
        or "Stable symptoms at home; no avoidable admission",
        "shared_with_patient_on": plan.shared_with_patient_on or on,
    }
    if not any(g.measurable for g in plan.goals if g.open):
        changes["goals"] = [
            *plan.goals,
            Goal(
                id=f"{plan.id}-bp",
                description="Blood pressure under control",
                problem_ids=(first,) if first else (),
                target=Target(
                    measure="Systolic blood pressure",
                    comparator=Comparator.LE,
                    value=Decimal(140),
                    unit="mm[Hg]",
                    due=on.add(months=6),
                    loinc="8480-6",
                ),
            ),
        ]
    if not plan.symptom_plans and first:
        changes["symptom_plans"] = [
            SymptomActionPlan(
                id=f"{plan.id}-zones",
                problem_id=first,
                title="When you feel worse",
                green=ZoneAction(signs=("usual breathing and energy",), actions=("keep going",)),
                yellow=ZoneAction(
                    signs=("more tired or short of breath than usual",),
                    actions=("call the care manager today",),
                ),
                red=ZoneAction(
                    signs=("chest pain", "cannot catch your breath"), actions=("call 911",)
                ),
            )
        ]
    if not plan.tasks:
        changes["tasks"] = [
            Task(
                id=f"{plan.id}-medrec",
                description="Reconcile medications with the patient",
                owner=owner,
                kind=InterventionKind.MEDICATION,
                due=on.add(days=14),
            )
        ]
    if plan.review is None:
        changes["review"] = ReviewSchedule(every_days=90, next_review=on.add(days=90))
    return evolve(plan, **changes).activate()


def _adt(  # noqa: PLR0917 - the message's parts, in HL7 order
    trigger: str,
    control: str,
    pid: str,
    at: pendulum.DateTime,
    admitted: pendulum.DateTime,
    discharged: pendulum.DateTime | None,
) -> str:
    def ts(value: pendulum.DateTime) -> str:
        return value.format("YYYYMMDDHHmmssZZ")

    pv1 = ["PV1", "1", "I", "4W^412^A^RGH"] + [""] * 42
    pv1[19] = f"V-{pid}"
    pv1[36] = "01" if discharged else ""
    pv1[44] = ts(admitted)
    pv1[45] = ts(discharged) if discharged else ""
    return "\r".join(
        (
            f"MSH|^~\\&|ADT|RGH|CARECORE|DEMO|{ts(at)}||ADT^{trigger}^ADT_{trigger}|{control}|P|2.5",
            f"EVN|{trigger}|{ts(at)}",
            f"PID|1||{pid}^^^RGH^MR",
            "|".join(pv1),
        )
    )


def _send_over_mllp(program: CareProgram, plugins: _Plugins, messages: list[str]) -> list[str]:
    """Start the MLLP listener on 127.0.0.1, send *messages* one by one, return each ACK's code."""
    ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            state["loop"] = asyncio.get_running_loop()
            stop = asyncio.Event()
            state["stop"] = stop

            def bound(port: int) -> None:
                state["port"] = port
                ready.set()

            await plugins.mllp.serve(
                program, host="127.0.0.1", port=0, ready=bound, stop=stop, time_zone=PRACTICE_TZ
            )

        try:
            asyncio.run(main())
        except Exception as exc:  # noqa: BLE001 - reported to the caller below
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="carecore-demo-mllp", daemon=True)
    thread.start()
    if not ready.wait(10) or "error" in state:
        raise errors.StoreUnavailable(
            f"the MLLP listener did not start: {state.get('error')}",
            field="mllp",
            value="127.0.0.1",
        )
    codes = []
    try:
        with socket.create_connection(("127.0.0.1", state["port"]), timeout=10) as sock:
            for message in messages:
                sock.sendall(plugins.mllp.frame(message))
                reply = b""
                while not reply.endswith(b"\x1c\r"):
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    reply += chunk
                msa = next(
                    (
                        s
                        for s in reply.decode().strip("\x0b\x1c\r").split("\r")
                        if s.startswith("MSA")
                    ),
                    "MSA|??",
                )
                codes.append(msa.split("|")[1])
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
    return codes
