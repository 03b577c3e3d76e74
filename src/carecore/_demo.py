"""The demo practice: a year of a chronic-care-management program, end to end.

``carecore demo`` runs :func:`run_demo`. The year itself comes from
:mod:`carecore.simulation`: one recorded replication of the shipped study
``demo-practice`` (:func:`demo_study`; its population, outreach, enrollment
probability, staffing, minutes per contact, outcome model and TCM policy are
that config's stated settings) gives who the patients are, who is approached
and enrolls, each enrolled month's minutes, emergency visits, admissions,
discharges and their TCM follow-up, deaths and disenrollments. The demo
writes that year into the store as records, in bulk, with the details a
simulation does not draw (names, days and hours, PHQ-9 answers, A1c results)
from a generator seeded with the same seed.

The parts that show carecore's real paths are kept: Synthea FHIR bundles
shipped with the package are imported by the ``carecore-fhir`` plugin's
``fhir`` EHR source; a PHQ-9 is scored for each enrolled patient and a care
plan drafted from their conditions; the hospital's events go through the
intake the HL7 listener uses, and one admission and discharge (and a resend)
are sent over MLLP to the ``carecore-hl7v2`` plugin's listener on 127.0.0.1;
each month is closed by the billing engine; the program report is written.
The plugins are reached only through hooks (``carecore_ehr_sources`` and
``carecore_listeners``): this module imports no plugin. Nothing happens after
the last simulated day, which must be before the clock's today, and the
summary's figures are the metrics' and the month closes'.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import tempfile
import threading
import time
import zlib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pendulum
from attrs import evolve, frozen

from carecore import careplans, errors, transitions
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
    ClinicalService,
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
    Enrollment,
    EnrollmentStatus,
    FaceToFaceVisit,
    Goal,
    GoalAchievement,
    GoalLifecycle,
    Identifier,
    InteractiveContact,
    InterventionKind,
    MdmLevel,
    MedicationFill,
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
    ServiceKind,
    ServicePeriod,
    SupervisionLevel,
    SymptomActionPlan,
    Target,
    Task,
    TaskStatus,
    TimeEntry,
    TransitionEpisode,
    VisitKind,
    ZoneAction,
)
from carecore.registry import urgent_findings
from carecore.report import ReportFiles

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pluggy

    from carecore.hookspecs import Listener
    from carecore.metrics import Measure
    from carecore.protocols import EhrSource, Transaction
    from carecore.service import CareProgram
    from carecore.simulation import Replication, Study

__all__ = ["DemoResult", "DemoSettings", "demo_study", "run_demo"]

PRACTICE_TZ = "America/Chicago"

#: A chronic condition's usual drug (ICD-10-CM prefixes; text, RxNorm, adherence class), for
#: the demo's pharmacy fills.
_CHRONIC_DRUGS: tuple[tuple[tuple[str, ...], tuple[str, str, str]], ...] = (
    (("E78", "E11", "I25"), ("Atorvastatin 20 MG Oral Tablet", "617312", "statins")),
    (("I10", "I50", "N18"), ("Lisinopril 10 MG Oral Tablet", "314076", "ras antagonists")),
    (("E11",), ("Metformin hydrochloride 500 MG Oral Tablet", "861007", "diabetes (non-insulin)")),
)
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
    "simulating the year (carecore.simulation)",
    "practice and FHIR import",
    "outreach and enrollment",
    "assessments and care plans",
    "the months: care, hospital stays, month closes",
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
    #: Gap closure and adherence by drug class, as (what, result) rows of the summary.
    care: tuple[tuple[str, str], ...] = ()

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


#: The shipped Synthea bundles the demo's practice imports (all nine ship for the FHIR
#: how-to): living patients of Medicare age with two or more chronic conditions and
#: inpatient stays (see _demo_data/SOURCES.md).
DEMO_BUNDLES = (
    "Adalberto_Hartmann_44ec4447-9e2c-4eb9-bd4f-0bdb416b806e.json.gz",
    "Renea_Quigley_4f3dd2db-ca68-4d9d-a06b-f145db0b0453.json.gz",
    "Tommy_Friesen_dc0e6a8c-6c31-4d75-966f-ac682f486756.json.gz",
)


def _bundles() -> list[tuple[str, bytes]]:
    folder = resources.files("carecore") / "_demo_data" / "synthea"
    return [
        (name.removesuffix(".gz"), gzip.decompress((folder / name).read_bytes()))
        for name in DEMO_BUNDLES
    ]


def demo_study(settings: DemoSettings) -> Study:
    """The study ``carecore demo`` runs: the shipped ``demo-practice`` example, sized by *settings*.

    The demo's patients, months and last month replace the example's
    population size, months and start; its rule year is the last month's.
    """
    from carecore.simulation import load_study  # noqa: PLC0415

    study = load_study("demo-practice")
    first = settings.period.start
    return evolve(
        study,
        start_year=first.year,
        start_month=first.month,
        months=settings.months,
        population=evolve(study.population, size=settings.patients),  # type: ignore[arg-type]
        policy=evolve(study.policy, rule_year=settings.last.start.year),
    )


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
    from carecore.simulation import run_replication  # noqa: PLC0415

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
    report = progress or (lambda _stage, _done, _total: None)
    study = demo_study(settings)
    year = run_replication(study, settings.seed, 0, record=True)
    report(_STAGES[0], 1, 1)
    practice = _Practice(program, settings, plugins, year, report)
    practice.stay_days = study.policy.tcm.length_of_stay_days
    practice.import_fhir()
    practice.add_patients()
    practice.enroll()
    practice.plan_care()
    months = practice.months
    over_mllp = months[max(0, len(months) - 3)]
    for done, month in enumerate(months, start=1):
        practice.add_care(month)
        practice.add_hospital_stays(month)
        if month == over_mllp:
            practice.receive_over_mllp(month)
        _close_month(program, month)
        report(_STAGES[4], done, len(months))
    practice.rescreen()
    practice.update_goals()
    practice.record_fills()
    practice.record_prevention()
    files, measures, care = practice.write_report(out)
    result = practice.result(files, measures, time.perf_counter() - started)
    return evolve(result, care=care)


def _close_month(program: CareProgram, month: ServicePeriod) -> None:
    """Close the month's billing through the engine, the clock at the month's end."""
    program.clock = FixedClock(
        pendulum.datetime(month.end.year, month.end.month, month.end.day, 23, tz=PRACTICE_TZ)
    )
    program.close_month(month, reason="carecore demo: month close")


class _Practice:
    """Writes the simulated year into the store, with what a simulation does not draw.

    The year (who the patients are, who is approached and enrolls, each
    month's minutes, emergency visits, admissions, discharges and TCM
    follow-up, deaths and disenrollments) is the simulation's recording. The
    rest is the demo's own detail, from one generator seeded with the demo's
    seed: names, addresses, the days and hours of a month's contacts and
    visits, PHQ-9 answers and A1c results (the pharmacy fills and the
    preventive care have generators of their own). Nothing is dated after the
    last simulated day.
    """

    def __init__(
        self,
        program: CareProgram,
        settings: DemoSettings,
        plugins: _Plugins,
        year: Replication,
        progress: Callable[[str, int, int], None],
    ) -> None:
        if year.recording is None:  # pragma: no cover - run_demo records it
            raise errors.InvalidValue("must be recorded", field="year", value=year.index)
        self.program = program
        self.settings = settings
        self.plugins = plugins
        self.year = year
        self.recording = year.recording
        self.progress = progress
        self.rng = random.Random(settings.seed)  # noqa: S311 - reproducible demo details
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
        self.ccm = Program(
            id="ccm",
            name="Chronic care management",
            family=ServiceFamily.CCM,
            time_zone=PRACTICE_TZ,
        )
        self.patients: list[Patient] = []
        self.from_fhir = 0
        #: The simulation's patient number -> the demo's patient id.
        self.ids = [f"p-{n + 1:04d}" for n in range(len(self.recording.patients))]
        self.conditions: dict[str, list[Condition]] = {}
        self.enrolled_on: dict[str, pendulum.Date] = {}
        self.manager: dict[str, str] = {}
        self.teams: dict[str, CareTeam] = {}
        self.plans: dict[str, str] = {}
        self.diabetic: set[str] = set()
        self.died: dict[str, pendulum.Date] = {}
        #: Enrolled patient -> the day they left the program (death or disenrollment).
        self.left: dict[str, pendulum.Date] = {}
        #: The PHQ-9 results with an urgent finding: (result id, patient id, day scored).
        self.findings: list[tuple[str, str, pendulum.Date]] = []
        self.adt_sent = 0
        self.acks: list[str] = []
        #: Days in hospital of a readmission (the study's length of stay).
        self.stay_days = 4
        self._events: dict[tuple[int, int], list[AdtEvent]] | None = None

    def _clock(self, day: pendulum.Date, hour: int = 17) -> None:
        self.program.clock = FixedClock(
            pendulum.datetime(day.year, day.month, day.day, hour, tz=PRACTICE_TZ)
        )

    def _month(self, text: str) -> ServicePeriod:
        year, month = (int(x) for x in text.split("-"))
        return ServicePeriod.month(year, month)

    def _day_in(self, month: ServicePeriod, after: pendulum.Date | None = None) -> pendulum.Date:
        """A day of *month* (on or after *after*), never after the last simulated day."""
        start = max(month.start, after) if after is not None else month.start
        end = min(month.end, self.period.end)
        return start.add(days=self.rng.randint(0, max(0, (end - start).days)))

    # -- 1. the practice and its FHIR patients ----------------------------------------------

    def import_fhir(self) -> None:
        stage = _STAGES[1]
        self._clock(self.first.subtract(days=1))
        bundles = _bundles()
        total = len(bundles) + 1
        self.program.import_records(
            [self.doctor, *self.nurses, self.ccm, _BILLING],
            reason="carecore demo: the practice, its staff and its program",
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
        self.from_fhir = len(imported)
        self.patients = list(imported)
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
        self.progress(stage, total, total)

    # -- 2. the simulated panel as patients ---------------------------------------------------

    def add_patients(self) -> None:
        """The simulation's patients (age, sex, conditions, coverage) as the practice's records."""
        rng, start = self.rng, self.first
        deaths = {p: self._month(m).end for p, m in self.recording.deaths}
        people, conditions, coverages, prefs, visits = [], [], [], [], []
        for index, traits in enumerate(self.recording.patients):
            pid = self.ids[index]
            age = traits.age if traits.age is not None else 75
            born = start.subtract(years=age, days=rng.randint(1, 364))
            died = deaths.get(index)
            if died is not None:
                self.died[pid] = died
            people.append(
                Patient(
                    id=pid,
                    given_name=rng.choice(_GIVEN),
                    family_name=rng.choice(_FAMILY),
                    birth_date=born,
                    sex=traits.sex,
                    time_zone=PRACTICE_TZ,
                    date_of_death=died,
                )
            )
            mine = [
                Condition(
                    id=f"{pid}-c{n}",
                    patient_id=pid,
                    coding=Coding.icd10cm(c.icd10),
                    onset=start.subtract(months=rng.randint(13, 120)),
                    chronic=True,
                    expected_duration_months=c.expected_duration_months,
                    significant_risk=c.significant_risk,
                    behavioral=c.behavioral,
                )
                for n, c in enumerate(traits.conditions)
            ]
            conditions += mine
            self.conditions[pid] = mine
            if any(c.icd10.startswith("E11") for c in traits.conditions):
                self.diabetic.add(pid)
            plan = (
                CoveragePlan.MEDICARE_PART_B
                if traits.medicare
                else rng.choice((CoveragePlan.MEDICARE_ADVANTAGE, CoveragePlan.COMMERCIAL))
            )
            coverages.append(
                Coverage(
                    id=f"{pid}-cov",
                    patient_id=pid,
                    payer="Acme Health" if plan is CoveragePlan.COMMERCIAL else "Medicare",
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
        reason = "carecore demo: the simulated panel"
        homes = [_home(p.id, n) for n, p in enumerate(people)]
        for group in (people, conditions, coverages, prefs, visits, homes):
            self.program.import_records(group, reason=reason)
        self.patients += people

    # -- 3. outreach and enrollment ----------------------------------------------------------

    def enroll(self) -> None:
        """The simulation's outreach and enrollments, with consent, care team and initiating visit."""
        stage = _STAGES[2]
        spans = {int(e.patient_id[1:]): e for e in self.year.enrollments}
        consents, enrollments, teams, new_visits = [], [], [], []
        total = len(self.recording.outreach)
        for done, reached in enumerate(self.recording.outreach, start=1):
            pid = self.ids[reached.patient]
            day = self._month(reached.month).start
            record = Enrollment.identify(
                id=f"{pid}-ccm",
                patient_id=pid,
                program_id=self.ccm.id,
                family=ServiceFamily.CCM,
                billing_practitioner_id=self.doctor.id,
                on=day,
            ).reach_out(day)
            simulated = spans.get(reached.patient)
            if not reached.agreed or simulated is None:
                enrollments.append(record)
                continue
            # The simulation enrolls on the first day of a month; consent the same day.
            on = simulated.history[0].on
            record = record.consent(on).enroll(on)
            for change in simulated.history[1:]:
                if change.status is EnrollmentStatus.DISENROLLED and change.reason is not None:
                    record = record.disenroll(change.on, change.reason)
                    self.left[pid] = change.on
            enrollments.append(record)
            self.enrolled_on[pid] = on
            manager = self.nurses[len(self.enrolled_on) % 2]
            self.manager[pid] = manager.id
            consents.append(
                Consent(
                    id=f"{pid}-consent",
                    patient_id=pid,
                    family=ServiceFamily.CCM,
                    method=self.rng.choice((ConsentMethod.VERBAL, ConsentMethod.WRITTEN)),
                    obtained_on=on,
                    obtained_by=manager.id,
                    billing_practitioner_id=self.doctor.id,
                    cost_sharing_explained=True,
                )
            )
            self.teams[pid] = CareTeam(
                id=f"{pid}-team",
                patient_id=pid,
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
            teams.append(self.teams[pid])
            # The enrollment visit with the billing physician initiates CCM.
            new_visits.append(
                FaceToFaceVisit(
                    id=f"{pid}-v-enroll",
                    patient_id=pid,
                    on=on,
                    kind=VisitKind.OFFICE_EM,
                    mdm=MdmLevel.MODERATE,
                    billing_practitioner_id=self.doctor.id,
                    em_code="99214",
                )
            )
            self.progress(stage, done, total)
        reason = "carecore demo: outreach and enrollment with consent"
        for group in (enrollments, consents, teams, new_visits):
            self.program.import_records(group, reason=reason)
        self.progress(stage, total, total)

    # -- 4. assessments and care plans --------------------------------------------------------

    def plan_care(self) -> None:
        """A PHQ-9 for each enrolled patient (scored, urgent findings raised) and an agreed care plan."""
        stage = _STAGES[3]
        items, codes = _PHQ9_ITEMS, _PHQ9_ANSWERS
        total = len(self.enrolled_on)
        plans = []
        for done, (pid, on) in enumerate(sorted(self.enrolled_on.items()), start=1):
            self._clock(on)
            answers = {item: codes[min(3, int(self.rng.expovariate(1.4)))] for item in items}
            result = self.program.assess(
                pid,
                "phq-9",
                answers,
                result_id=f"{pid}-phq9",
                on=on,
                performer_id=self.manager[pid],
            )
            draft = careplans.draft_plan(
                f"{pid}-cp",
                pid,
                conditions=self.conditions.get(pid, ()),
                assessments=(result,),
                on=on,
                responsible_id=self.doctor.id,
                care_team=self.teams[pid],
            )
            plans.append(_complete(draft, on, self.manager[pid]))
            self.plans[pid] = draft.id
            if urgent_findings(result):
                self.findings.append((result.id, pid, on))
            self.progress(stage, done, total)
        self.program.import_records(plans, reason="carecore demo: care plans agreed with patients")
        self.acknowledge_findings()

    def acknowledge_findings(self) -> None:
        """The care manager acknowledges each urgent finding the next morning, as its owner.

        Through :meth:`~carecore.service.CareProgram.acknowledge_finding`, so
        the store's audit log names the care manager. A finding scored on the
        last simulated day waits (nothing happens after it).
        """
        for result_id, pid, on in self.findings:
            seen = on.add(days=1)
            if seen > self.period.end:
                continue
            self._clock(seen, hour=9)
            self.program.as_actor(self.manager[pid]).acknowledge_finding(
                result_id, reason="carecore demo: the care manager called the patient"
            )

    def rescreen(self) -> None:
        """A repeat PHQ-9 in the last week for the last patient whose first one was urgent.

        Left unacknowledged: the last simulated day's worklist has an urgent finding on top,
        as a real day might.
        """
        end = self.period.end
        day = end.subtract(days=3)
        candidates = [
            (on, pid)
            for _rid, pid, on in self.findings
            if pid not in self.left and on < day and pid not in self.died
        ]
        if not candidates:
            return
        _on, pid = max(candidates)
        self._clock(day, hour=11)
        self.program.assess(
            pid,
            "phq-9",
            {**_PHQ9_CALM, "44260-8": "LA6569-3"},
            result_id=f"{pid}-phq9-{day:%Y%m%d}",
            on=day,
            performer_id=self.manager[pid],
            reason="carecore demo: repeat PHQ-9",
        )

    # -- 5. the months of care management -------------------------------------------------------

    def add_care(self, month: ServicePeriod) -> None:
        """The month's contacts as time entries and a call, A1c results, follow-up visits."""
        rng = self.rng
        entries: list[TimeEntry] = []
        contacts: list[InteractiveContact] = []
        observations: list[Observation] = []
        appointments: list[Appointment] = []
        text = f"{month.start.year:04d}-{month.start.month:02d}"
        for care in self.recording.care:
            if care.month != text:
                continue
            pid = self.ids[care.patient]
            tag = f"{month.start.year}{month.start.month:02d}"
            since = self.enrolled_on.get(pid, month.start)
            manager = self.manager.get(pid, self.nurses[0].id)
            days = sorted(self._day_in(month, since) for _ in care.minutes)
            for n, (minutes, day) in enumerate(zip(care.minutes, days, strict=True)):
                entries.append(
                    TimeEntry(
                        id=f"{pid}-{tag}-t{n}",
                        patient_id=pid,
                        performer_id=manager,
                        credential=Credential.RN,
                        role_class=RoleClass.CLINICAL_STAFF,
                        minutes=minutes,
                        family=ServiceFamily.CCM,
                        activity=rng.choice(_ACTIVITIES),
                        service_date=day,
                        billing_practitioner_id=self.doctor.id,
                    )
                )
            if days:  # the month's check-in call, the first contact
                contacts.append(
                    InteractiveContact(
                        id=f"{pid}-{tag}-call",
                        patient_id=pid,
                        at=pendulum.datetime(
                            days[0].year, days[0].month, days[0].day, 11, tz=PRACTICE_TZ
                        ),
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
        self._clock(month.end, hour=18)
        reason = f"carecore demo: care management in {text}"
        for group in (entries, contacts, observations, appointments):
            if group:
                self.program.import_records(group, reason=reason)
        self._do_tasks(month)

    def _do_tasks(self, month: ServicePeriod) -> None:
        """At the month's end, the care managers do the month's plan work: tasks and goal reviews.

        They complete most tasks that fell due in the month: every fifth task
        (by its place on the plan, :data:`_LEFT_OPEN_EVERY`) waits
        :data:`_LATE_MONTHS` months, so the last day's worklist has the late
        work a real day has. They review each
        measurable goal whose target date falls in the month or the first
        week of the next (or earlier, when the review was late) with the
        patient (:func:`_review_goals`); one
        in :data:`_REVIEW_LATE_EVERY` waits until the next month. Nothing is
        done for a patient after they died or left the program.
        """

        def done(task: Task) -> Task:
            started = task.moved(TaskStatus.IN_PROGRESS)
            return started.moved(TaskStatus.COMPLETED, outcome="Done with the patient")

        late = month.start.subtract(months=_LATE_MONTHS - 1)  # late work due before it is done

        def due_now(task: Task, n: int, pid: str) -> bool:
            gone = [d for d in (self.left.get(pid), self.died.get(pid)) if d is not None]
            return (
                task.open
                and task.due is not None
                and task.due <= month.end
                and all(task.due < d for d in gone)
                and (task.due < late or (n + 1) % _LEFT_OPEN_EVERY != 0)
            )

        def goal_due(goal: Goal, pid: str) -> bool:
            target, left = goal.target, self.left.get(pid)
            return (
                goal.open
                and target is not None
                and target.due.subtract(days=_REVIEW_AHEAD_DAYS) <= month.end
                and (left is None or target.due < left)
                and (
                    target.due.subtract(days=_REVIEW_AHEAD_DAYS) < month.start or not _late(goal.id)
                )
            )

        with self.program.transaction("carecore demo: plans with work due") as tx:
            plans = [tx.get(CarePlan, plan_id) for plan_id in sorted(self.plans.values())]
            reviewed = {
                p.patient_id for p in plans if any(goal_due(g, p.patient_id) for g in p.goals)
            }
            results = {pid: tx.find(Observation, patient_id=pid) for pid in sorted(reviewed)}
        for plan in plans:
            pid = plan.patient_id
            tasks = any(due_now(t, n, pid) for n, t in enumerate(plan.tasks))
            if not tasks and pid not in reviewed:
                continue
            self.program.revise_care_plan(
                plan.id,
                lambda current: evolve(
                    current,
                    tasks=[
                        done(t) if due_now(t, n, current.patient_id) else t
                        for n, t in enumerate(current.tasks)
                    ],
                    goals=_review_goals(
                        current.goals,
                        results.get(current.patient_id, ()),
                        lambda g: goal_due(g, current.patient_id),
                        month.end,
                    ),
                ),
                reason="carecore demo: care-plan tasks done and goals reviewed this month",
            )

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
            on=self._day_in(month),
            loinc=A1C_LOINC,
        )

    # -- 6. emergency visits, admissions and TCM follow-up --------------------------------------

    def add_hospital_stays(self, month: ServicePeriod) -> None:
        """The month's emergency visits and stays as ADT events (the listener's intake path).

        The events are taken in by :meth:`CareProgram.receive_in`, the intake
        the MLLP listener uses, in time order, in one transaction; then the
        TCM contact and visit the simulation drew are recorded on the
        episodes the month's discharges opened.
        """
        if self._events is None:
            self._events = self._hospital_events()
        batch = self._events.get((month.start.year, month.start.month), [])
        self._clock(month.end, hour=23)
        wanted = {
            (self.ids[s.patient], s.discharged): s
            for s in self.recording.stays
            if s.discharged is not None
            and s.tcm_contact is not None
            and month.start <= s.discharged <= month.end
        }
        with self.program.transaction(f"carecore demo: ADT events {month}") as tx:
            for event in batch:
                self.program.receive_in(tx, event, source="demo-feed")
            for (pid, day), stay in sorted(wanted.items()):
                for ep in tx.find(TransitionEpisode, patient_id=pid):
                    if ep.qualifies and ep.contact_made_on is None and ep.discharge_date == day:
                        self._follow_up(tx, ep, stay.tcm_contact, stay.tcm_visit, self.period.end)

    def _hospital_events(self) -> dict[tuple[int, int], list[AdtEvent]]:
        """The year's ADT events by month, in time order (none after the last day, or a death)."""
        rng, last = self.rng, self.period.end
        events: list[AdtEvent] = []
        for patient, text in self.recording.ed_visits:
            pid = self.ids[patient]
            month = self._month(text)
            end = self.died.get(pid, month.end)
            day = self._day_in(ServicePeriod(start=month.start, end=min(end, month.end)))
            at = pendulum.datetime(day.year, day.month, day.day, rng.randint(8, 18), tz=PRACTICE_TZ)
            events.append(
                _event(
                    f"{pid}-{day.isoformat()}-ed", pid, AdtEventKind.DISCHARGE, at, at.add(hours=5)
                )
            )
        for stay in self.recording.stays:
            pid = self.ids[stay.patient]
            stays = [(stay.admitted, stay.discharged, "")]
            if stay.readmitted is not None and stay.discharged is not None:
                back = stay.readmitted.add(days=self.stay_days)
                stays.append((stay.readmitted, back, "-re"))
            died = self.died.get(pid, last)
            for admitted, discharged, suffix in stays:
                if admitted > min(last, died):
                    continue
                key = f"{pid}-{admitted.isoformat()}{suffix}"
                at = pendulum.datetime(
                    admitted.year, admitted.month, admitted.day, rng.randint(8, 20), tz=PRACTICE_TZ
                )
                events.append(_event(f"{key}-a", pid, AdtEventKind.ADMIT, at, None))
                if discharged is not None and discharged <= min(last, died):
                    out = pendulum.datetime(
                        discharged.year, discharged.month, discharged.day, 11, tz=PRACTICE_TZ
                    )
                    events.append(_event(key, pid, AdtEventKind.DISCHARGE, at, out))
        events.sort(key=lambda e: (e.occurred_at, e.id))
        by_month: dict[tuple[int, int], list[AdtEvent]] = {}
        for event in events:
            local = event.occurred_at.in_timezone(PRACTICE_TZ)
            by_month.setdefault((local.year, local.month), []).append(event)
        return by_month

    def _follow_up(
        self,
        tx: Transaction,
        ep: TransitionEpisode,
        contact: pendulum.Date | None,
        visit: pendulum.Date | None,
        last: pendulum.Date,
    ) -> None:
        """Record a TCM contact (and visit, with medication reconciliation) on *ep*, if by *last*."""
        if contact is None or contact > last:
            return
        pid = ep.patient_id
        called = transitions.record_contact(ep, on=contact, successful=True)
        tx.replace(called)
        tx.add(
            InteractiveContact(
                id=f"{ep.id}-contact",
                patient_id=pid,
                at=pendulum.datetime(contact.year, contact.month, contact.day, 10, tz=PRACTICE_TZ),
                mode=ContactMode.PHONE,
                successful=True,
                role_class=RoleClass.CLINICAL_STAFF,
                performer_id=self.manager.get(pid, self.nurses[0].id),
                family=ServiceFamily.TCM,
                billing_practitioner_id=self.doctor.id,
            )
        )
        if visit is None or visit > last:
            return
        seen = transitions.record_visit(called, on=visit)
        tx.replace(seen)
        tx.replace(transitions.record_med_rec(seen, on=visit))
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

    # -- 7. one discharge over HL7 v2 ------------------------------------------------------------

    def receive_over_mllp(self, month: ServicePeriod) -> None:
        """Send an admission and a discharge in *month* for an enrolled patient through the real listener."""
        # A patient enrolled before the month (the earliest one if need be).
        alive = [p for p in self.enrolled_on if p not in self.died]
        candidates = sorted(alive, key=lambda p: (self.enrolled_on[p] >= month.start, p))
        # With no one enrolled (a tiny practice), any living patient: the exchange is still shown.
        candidates += sorted(p.id for p in self.patients if p.id not in self.died)
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
        day = discharged.date()
        with self.program.transaction("carecore demo: TCM follow-up") as tx:
            for ep in tx.find(TransitionEpisode, patient_id=pid):
                if ep.qualifies and ep.contact_made_on is None and ep.discharge_date == day:
                    self._follow_up(tx, ep, day.add(days=1), day.add(days=6), self.period.end)

    # -- 8. goals and the report -------------------------------------------------------------------

    def update_goals(self) -> None:
        """Goal progress from the year's results: each plan whose patient had an A1c."""
        self._clock(self.period.end, hour=18)
        with self.program.transaction("carecore demo: who had results") as tx:
            measured = {o.patient_id for o in tx.all(Observation) if o.loinc == A1C_LOINC}
        for pid in sorted(measured & set(self.plans)):
            self.program.update_goal_progress(
                self.plans[pid], reason="carecore demo: goal progress from the year's results"
            )

    def record_fills(self) -> None:
        """Pharmacy fills of the enrolled patients' chronic medications, for adherence (PDC).

        Each chronic condition brings its usual drug (a statin, an ACE inhibitor,
        metformin), filled 30 days at a time from just before the year starts until the
        last day (or death). Most patients refill on time, a day or two either way; about
        one in five waits one to three weeks between fills and falls under 80%. The fills
        go in as ``carecore meds import-fills`` stores them; a seeded generator of their
        own keeps the rest of the year as it was.
        """
        rng = random.Random(f"{self.settings.seed}-fills")  # noqa: S311 - reproducible demo
        self._clock(self.period.end, hour=19)
        fills = []
        for pid in sorted(self.enrolled_on):
            codes = {c.coding.code for c in self.conditions.get(pid, ())}
            drugs = [
                d for prefixes, d in _CHRONIC_DRUGS if any(c.startswith(prefixes) for c in codes)
            ]
            last = min(self.period.end, self.died.get(pid, self.period.end))
            for text, rxnorm, drug_class in dict.fromkeys(drugs):
                late = rng.random() < 0.2  # noqa: PLR2004 - one in five waits between fills
                day = self.first.subtract(days=rng.randint(0, 29))
                n = 0
                while day <= last:
                    fills.append(
                        MedicationFill(
                            id=f"{pid}-fill-{rxnorm}-{n}",
                            patient_id=pid,
                            text=text,
                            rxnorm=rxnorm,
                            drug_class=drug_class,
                            filled_on=day,
                            days_supply=30,
                            quantity="30 tablets",
                        )
                    )
                    n += 1
                    day = day.add(days=30 + (rng.randint(7, 21) if late else rng.randint(-3, 2)))
        self.program.import_records(fills, reason="pharmacy fills")

    def record_prevention(self) -> None:
        """The year's vaccines, screenings and diabetes checks, coded as the gap rules count them.

        A practice running a care-management program gives most of its patients
        their influenza vaccine in the autumn and some a COVID-19, pneumococcal,
        shingles (two doses) or RSV vaccine; it screens older patients for
        falls, offers FIT kits and mammograms, and sends patients with diabetes
        for a retinal exam and a kidney-health evaluation (eGFR and urine
        albumin-creatinine ratio). Enrolled patients, whose care managers track
        these, get each one more often than the rest (:data:`_OFFERS`). Every
        record falls inside the year and before a patient's death; they go in
        as a FHIR import stores Immunization, Procedure and Observation
        resources. A seeded generator of their own keeps the rest of the year
        as it was.
        """
        rng = random.Random(f"{self.settings.seed}-prevention")  # noqa: S311 - reproducible demo
        self._clock(self.period.end, hour=20)
        season = _season_days(self.period)
        services: list[ClinicalService] = []
        labs: list[ClinicalService] = []
        for patient in sorted(self.patients, key=lambda p: p.id):
            pid = patient.id
            died = patient.date_of_death or self.died.get(pid)
            last = self.period.end if died is None else min(self.period.end, died.subtract(days=1))
            codes = {c.coding.code for c in self.conditions.get(pid, ())}
            who = _Who(
                age=_age_on(patient.birth_date, self.period.end),
                female=patient.sex is AdministrativeSex.FEMALE,
                diabetic=any(c.startswith(("E08", "E09", "E10", "E11", "E13")) for c in codes),
            )
            enrolled = pid in self.enrolled_on
            for offer in _OFFERS:
                share = offer.enrolled if enrolled else offer.others
                if not offer.is_for(who) or rng.random() >= share:
                    continue
                days = season if offer.seasonal else (self.first, self.period.end)
                on = None if days is None else _draw_day(rng, days[0], min(days[1], last))
                dates = [] if on is None else [on]
                if offer.doses == 2 and on is not None:  # noqa: PLR2004 - the second 2 to 6 months on
                    second = _draw_day(rng, on.add(months=2), min(on.add(months=6), last))
                    dates += [] if second is None else [second]
                services += [
                    ClinicalService(
                        id=f"{pid}-{offer.key}-{n}",
                        patient_id=pid,
                        kind=offer.kind,
                        system=offer.system,
                        code=offer.code,
                        on=day,
                        text=offer.text,
                    )
                    for n, day in enumerate(dates, start=1)
                ]
            share = _KIDNEY_HEALTH[0] if enrolled else _KIDNEY_HEALTH[1]
            if who.diabetic and who.age <= 85 and rng.random() < share:  # noqa: PLR2004
                on = _draw_day(rng, self.first, last)
                if on is not None:
                    labs += _kidney_labs(pid, on, rng)
        reason = "carecore demo: immunizations, screenings and diabetes checks"
        for group in (services, labs):
            if group:
                self.program.import_records(group, reason=reason)

    def write_report(
        self, out: Path
    ) -> tuple[ReportFiles, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
        from carecore.report._build import build_report, care_summary  # noqa: PLC0415

        stage = _STAGES[5]
        report, files, tables = build_report(
            self.program,
            out,
            period=self.period,
            as_of=self.period.end,
            reason="carecore demo: the program report",
            time_zone=PRACTICE_TZ,
            intervention=self.months[len(self.months) // 2].start,
        )
        measures = tuple((m.name, _fmt(m)) for m in report.measures)
        self.progress(stage, 1, 1)
        return files, measures, _care_rows(care_summary(tables))

    def result(
        self, files: ReportFiles, measures: tuple[tuple[str, str], ...], seconds: float
    ) -> DemoResult:
        from carecore.model import ClaimLine  # noqa: PLC0415

        with self.program.transaction("carecore demo: summary") as tx:
            # The program's lines (CCM), as the report's expected_revenue measure counts them.
            lines = [line for line in tx.all(ClaimLine) if line.family is self.ccm.family]
        money = revenue(lines)  # lines with no listed fee are counted apart, never as $0
        totals = dict(self.year.totals)
        return DemoResult(
            settings=self.settings,
            store_url=self.program.store.url,
            patients=len(self.patients),
            from_fhir=self.from_fhir,
            eligible=int(totals.get("eligible_patients", 0)),
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


@frozen
class _Who:
    """What decides which preventive services a patient is offered."""

    age: int
    female: bool
    diabetic: bool


@frozen
class _Offer:
    """A preventive service, who it is for, and the share of them who get it in the year."""

    key: str
    kind: ServiceKind
    system: str
    code: str
    text: str
    enrolled: float  #: the share of enrolled patients who get it
    others: float  #: the share of the practice's other patients
    min_age: int = 18
    max_age: int = 200
    female: bool = False  #: for women only
    diabetic: bool = False  #: for patients with diabetes only
    seasonal: bool = False  #: given in the respiratory season's vaccine months
    doses: int = 1

    def is_for(self, who: _Who) -> bool:
        """Whether the service is for a patient like *who*."""
        return (
            self.min_age <= who.age <= self.max_age
            and (who.female or not self.female)
            and (who.diabetic or not self.diabetic)
        )


_SHOT, _TEST = ServiceKind.IMMUNIZATION, ServiceKind.PROCEDURE
_LAB, _OBS = ServiceKind.LAB, ServiceKind.OBSERVATION

#: The preventive services of the demo's year, in the codes the gap rules count as evidence.
_OFFERS = (
    _Offer(key="flu", kind=_SHOT, system="CVX", code="150",
           text="Influenza, injectable, quadrivalent, preservative free",
           enrolled=0.72, others=0.45, seasonal=True),
    _Offer(key="covid", kind=_SHOT, system="CVX", code="309", text="COVID-19, mRNA vaccine",
           min_age=65, enrolled=0.45, others=0.25, seasonal=True),
    _Offer(key="pcv20", kind=_SHOT, system="CVX", code="216",
           text="Pneumococcal conjugate vaccine, 20-valent",
           min_age=50, enrolled=0.30, others=0.12),
    _Offer(key="rzv", kind=_SHOT, system="CVX", code="187", text="Zoster vaccine, recombinant",
           min_age=50, enrolled=0.20, others=0.08, doses=2),
    _Offer(key="rsv", kind=_SHOT, system="CVX", code="305", text="RSV vaccine, bivalent, protein subunit",
           min_age=75, enrolled=0.30, others=0.15, seasonal=True),
    _Offer(key="falls", kind=_TEST, system="CPT", code="1101F",
           text="Fall-risk screening: no falls, or one without injury, in the past year",
           min_age=65, enrolled=0.70, others=0.30),
    _Offer(key="fit", kind=_LAB, system="LOINC", code="57905-2",
           text="Fecal immunochemical test",
           min_age=45, max_age=75, enrolled=0.35, others=0.15),
    _Offer(key="mammogram", kind=_TEST, system="CPT", code="77067", text="Screening mammography",
           min_age=40, max_age=74, female=True, enrolled=0.55, others=0.35),
    _Offer(key="eye", kind=_TEST, system="CPT", code="2023F",
           text="Dilated retinal eye exam reviewed, no retinopathy",
           diabetic=True, enrolled=0.62, others=0.35),
    _Offer(key="tdap", kind=_SHOT, system="CVX", code="115", text="Tdap",
           min_age=19, enrolled=0.10, others=0.05),
    _Offer(key="hcv", kind=_LAB, system="LOINC", code="13955-0",
           text="Hepatitis C virus antibody", min_age=18, max_age=79, enrolled=0.15, others=0.06),
    _Offer(key="dxa", kind=_TEST, system="CPT", code="77080", text="Bone density scan (DXA)",
           min_age=65, female=True, enrolled=0.25, others=0.10),
    _Offer(key="audit-c", kind=_OBS, system="LOINC", code="75626-2",
           text="AUDIT-C total score", enrolled=0.60, others=0.20),
    _Offer(key="bp", kind=_OBS, system="CPT", code="3074F",
           text="Systolic blood pressure below 130 at an office visit",
           min_age=40, enrolled=0.85, others=0.60),
)  # fmt: skip

#: The share of patients with diabetes (18 to 85) who have a kidney-health evaluation in the
#: year: enrolled, others.
_KIDNEY_HEALTH = (0.65, 0.40)


def _kidney_labs(pid: str, on: pendulum.Date, rng: random.Random) -> list[ClinicalService]:
    """An eGFR (CKD-EPI 2021) and a urine albumin-creatinine ratio, drawn the same day.

    Stored as the FHIR import stores a gap-closing lab: a lab service with its LOINC
    code (the result's value is not what closes the gap), so an exported patient
    imports back the same.
    """
    rng.randint(38, 96), rng.randint(4, 140)  # the values' draws, kept so later draws stay put
    return [
        ClinicalService(
            id=f"{pid}-egfr-{on:%Y%m%d}",
            patient_id=pid,
            kind=_LAB,
            system="LOINC",
            code="98979-8",
            on=on,
            text="eGFR (CKD-EPI 2021)",
        ),
        ClinicalService(
            id=f"{pid}-uacr-{on:%Y%m%d}",
            patient_id=pid,
            kind=_LAB,
            system="LOINC",
            code="9318-7",
            on=on,
            text="Urine albumin-creatinine ratio",
        ),
    ]


def _draw_day(
    rng: random.Random, first: pendulum.Date, last: pendulum.Date
) -> pendulum.Date | None:
    """A day from *first* to *last* (None when there is none)."""
    return None if last < first else first.add(days=rng.randint(0, (last - first).days))


def _season_days(period: ServicePeriod) -> tuple[pendulum.Date, pendulum.Date] | None:
    """The days of *period* in its last respiratory season's vaccine months.

    Doses are given from September to November; a year that ends before an
    autumn has the season's late doses (December to February) instead. None
    when the period has neither.
    """
    end = period.end
    year = end.year if (end.month, end.day) >= (8, 1) else end.year - 1
    for start, stop in (
        (pendulum.Date(year, 9, 1), pendulum.Date(year, 11, 30)),
        (pendulum.Date(year, 12, 1), pendulum.Date(year + 1, 3, 1).subtract(days=1)),
    ):
        first, last = max(start, period.start), min(stop, end)
        if first <= last:
            return first, last
    return None


def _age_on(birth: pendulum.Date, on: pendulum.Date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _care_rows(care: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The summary's rows for gap closure and adherence by drug class."""
    from carecore.report._build import class_label  # noqa: PLC0415
    from carecore.report._labels import percent  # noqa: PLC0415

    rows = []
    gaps = care.get("gap_closure")
    if gaps is not None:
        rate = gaps["closure_rate"]
        shown = "n/a" if rate is None else percent(Decimal(rate), 1)
        rows.append(
            (
                "Gaps in care closed",
                f"{shown} ({gaps['closed_by_end']:,} of {gaps['open_at_start']:,})",
            )
        )
    for c in care.get("adherence", ()):
        mean = "n/a" if c["mean_pdc"] is None else percent(Decimal(c["mean_pdc"]), 1)
        rows.append(
            (
                f"Adherence (PDC), {class_label(c['drug_class'])}",
                f"{mean} mean; {c['under_80_percent']:,} of {c['patients']:,} under 80%",
            )
        )
    return tuple(rows)


def _event(
    key: str,
    pid: str,
    kind: AdtEventKind,
    admitted: pendulum.DateTime,
    discharged: pendulum.DateTime | None,
) -> AdtEvent:
    """An ADT event from the hospital's feed: an emergency visit (key ending -ed) or a stay."""
    emergency = key.endswith("-ed")
    cls = PatientClass.EMERGENCY if emergency else PatientClass.INPATIENT
    setting = CareSetting.EMERGENCY_DEPARTMENT if emergency else CareSetting.INPATIENT_ACUTE
    when = discharged or admitted
    return AdtEvent(
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


#: The PHQ-9's items (LOINC), item 9 last, and its answers from "not at all" to "nearly every day".
_PHQ9_ITEMS: tuple[str, ...] = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7")
_PHQ9_ITEMS += ("44258-2", "44252-5", "44253-3", "44260-8")
_PHQ9_ANSWERS = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
#: A mild PHQ-9: low mood and poor sleep on several days, nothing else.
_PHQ9_CALM = {item: _PHQ9_ANSWERS[item in {"44250-9", "44259-0"}] for item in _PHQ9_ITEMS}

#: The demo's care managers do every this-many-th task of a plan late...
_LEFT_OPEN_EVERY = 5
#: ...at the end of the month this many months after the one it fell due in.
_LATE_MONTHS = 2
#: About one goal review in this many is done a month late (chosen by the goal's id).
_REVIEW_LATE_EVERY = 8
#: Goals due up to this many days into the next month are reviewed at the month's end.
_REVIEW_AHEAD_DAYS = 7
#: How long a goal not met at its review is given again.
_RENEW_MONTHS = 6


def _late(goal_id: str) -> bool:
    """Whether the goal's review waits a month (the same goals on every run)."""
    return zlib.crc32(goal_id.encode()) % _REVIEW_LATE_EVERY == 0


def _review_goals(
    goals: tuple[Goal, ...],
    results: Iterable[Observation],
    due: Callable[[Goal], bool],
    month_end: pendulum.Date,
) -> tuple[Goal, ...]:
    """*goals* after their reviews: each *due* goal is closed as met or not met by its date.

    A goal is judged on the results up to the review (the month's end). A goal not met is renewed with the patient: a new
    goal, the same target due :data:`_RENEW_MONTHS` months on (its id
    ``-r1``, ``-r2``...), so the missed one still counts in the goal
    measure.
    """
    out: list[Goal] = []
    for goal in goals:
        target = goal.target
        if target is None or not due(goal):
            out.append(goal)
            continue
        seen = [o for o in results if o.on <= month_end]
        progress = careplans.goal_progress(goal, seen, on=max(month_end, target.due).add(days=1))
        if progress.met:
            out.append(
                evolve(goal, lifecycle=GoalLifecycle.COMPLETED, achievement=progress.achievement)
            )
            continue
        out.append(
            evolve(
                goal, lifecycle=GoalLifecycle.COMPLETED, achievement=GoalAchievement.NOT_ACHIEVED
            )
        )
        stem, _, n = goal.id.rpartition("-r")
        again = f"{stem}-r{int(n) + 1}" if stem and n.isdigit() else f"{goal.id}-r1"
        out.append(
            evolve(
                goal,
                id=again,
                target=evolve(target, due=target.due.add(months=_RENEW_MONTHS)),
                achievement=GoalAchievement.IN_PROGRESS,
            )
        )
    return tuple(out)


def _complete(plan: CarePlan, on: pendulum.Date, owner: str) -> CarePlan:
    """The plan once agreed with the patient: the CMS elements a draft left open, then active.

    Drafts from conditions with a template already have goals, symptom plans
    and interventions (their tasks given to the care manager by the draft,
    from the care team); for the others the care manager (*owner*) writes
    general ones.
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
