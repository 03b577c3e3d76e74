"""Closing a month from what a program recorded: every patient, through the reference engine.

:func:`close_records` takes the records of a store (read by
:meth:`carecore.service.CareProgram.close_month`, or built in a notebook),
groups them by patient, turns each patient's month into billing facts with
:func:`carecore.billing.facts_from_model`, and evaluates them. It reads
no clock and touches no store.

What the bridge needs that no single record says is derived here:

- the practitioners evaluated for a patient are those named as billing
  practitioner by the patient's care teams, enrollments, consents, time
  entries, contacts, visits, device set-ups and MDM assessments (the engine
  evaluates each, one per period); a patient none names is left out. They
  are evaluated in order: the care teams' billing practitioners first (teams
  by id, members in their order), then the others by id. The order decides
  which practitioner keeps a family that only one may bill in a period, and
  the order of the denials;
- discharges for TCM are the transition episodes that qualify and were not
  cancelled (every discharge the program receives opens one), and a TCM
  whose discharge falls in the 30 days of a TCM billed in an earlier month
  is refused (docs/billing/tcm.md; S18, S20), from the earlier closes' claim lines;
- the initiating visit is left to the engine, which looks for a qualifying
  visit with each billing practitioner within a year of the program start;
- care plans count for the months they were in force: from the day they
  first became active and CMS-complete to the day they were completed or
  revoked (:func:`carecore.careplans.established_span`, read from the plans'
  histories by :meth:`~carecore.service.CareProgram.close_month`); given as
  current plans only, :func:`carecore.careplans.billing_care_plans` applies;
- consent and enrollment are read day by day (see
  :func:`carecore.billing.facts_from_model`); minutes left out on days
  the patient was paused or disenrolled are named in a hint, and a family the
  patient was out of for the whole period is refused as ``not_enrolled``;
- under a CMS rule set only Medicare Part B fee-for-service patients are
  billed: a patient whose coverage in the period is Medicare Advantage,
  Medicaid, commercial or other gets each would-be line refused as
  ``not_covered``, naming the payer and plan. A patient with no coverage
  record is assumed to have Part B (stores fed without coverage keep
  billing); ``require_coverage=True`` refuses them instead;
- the patient is QMB when a Medicaid QMB coverage (``medicaid-qmb``) is in
  force in the period, beside Part B; the patient is established when any
  visit falls in the three years up to
  the period's end (RPM needs an established patient); the initiating visit
  is looked for among the visits, with each billing practitioner;
- device days become 30-day device periods, and the practice's *setting*
  (physician office, RHC, FQHC) is passed through;
- MDM made outside a visit, device set-ups, APCM behavioral-health add-ons,
  codes billed outside carecore and family elections are passed to the engine
  (see :func:`carecore.billing.facts_from_model`); a device set-up or an
  MDM assessment names a practitioner to evaluate, a code billed outside
  carecore does not (that practitioner billed elsewhere).

>>> import pendulum
>>> from carecore.model import (AdministrativeSex, Coding, Condition, Consent, ConsentMethod,
...     Credential, FaceToFaceVisit, MdmLevel, Patient, Practitioner, RoleClass, ServiceFamily,
...     ServicePeriod, TimeEntry, VisitKind)
>>> march = ServicePeriod.month(2026, 3)
>>> ada = Patient(id="p1", given_name="Ada", family_name="Okafor", time_zone="America/Chicago",
...     birth_date=pendulum.Date(1948, 3, 2), sex=AdministrativeSex.FEMALE)
>>> dr = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
>>> conditions = [Condition(id=f"c{i}", patient_id="p1", coding=Coding.icd10cm(code), chronic=True,
...     significant_risk=True, onset=pendulum.Date(2020, 1, 1)) for i, code in enumerate(["E11.9", "I10"])]
>>> consent = Consent(id="k1", patient_id="p1", family=ServiceFamily.CCM, method=ConsentMethod.VERBAL,
...     obtained_on=pendulum.Date(2026, 1, 10), obtained_by="dr1", billing_practitioner_id="dr1",
...     cost_sharing_explained=True)
>>> visit = FaceToFaceVisit(id="v1", patient_id="p1", on=pendulum.Date(2026, 1, 10),
...     kind=VisitKind.OFFICE_EM, mdm=MdmLevel.MODERATE, billing_practitioner_id="dr1", em_code="99214")
>>> minutes = TimeEntry(id="t1", patient_id="p1", performer_id="dr1", credential=Credential.MD,
...     role_class=RoleClass.PHYSICIAN, minutes=32, family=ServiceFamily.CCM, activity="plan review",
...     service_date=pendulum.Date(2026, 3, 9), billing_practitioner_id="dr1")
>>> records = MonthRecords(patients=[ada], practitioners=[dr], conditions=conditions,
...     consents=[consent], visits=[visit], time_entries=[minutes],
...     care_plans={"p1": {ServiceFamily.CCM: pendulum.Date(2026, 1, 10)}})
>>> from carecore.billing import cms_rule_set
>>> [r.billable for r in close_records(records, march, cms_rule_set(2026))]
[[('99491', 1)]]
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from carecore import errors
from carecore.billing._bridge import ProgramGap, facts_and_gaps
from carecore.billing._engine import EvaluationResult, Hint, evaluate
from carecore.billing.facts import Setting
from carecore.billing.rules import RuleSet
from carecore.careplans import PlanSpan
from carecore.model import (
    ApcmAddon,
    CarePlan,
    CareTeam,
    CareTeamRole,
    ClaimLine,
    Condition,
    Consent,
    Coverage,
    CoveragePlan,
    Denial,
    DenialReason,
    DeviceReadingDay,
    DeviceSetup,
    Enrollment,
    EpisodeStatus,
    ExternalClaim,
    FaceToFaceVisit,
    InteractiveContact,
    MdmAssessment,
    Patient,
    Practitioner,
    ProgramElection,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)
from carecore.model import validators as v

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import pendulum

    from carecore.billing.facts import BillingFacts

__all__ = ["MonthRecords", "close_records", "evaluate_records"]


def _plans(
    value: Mapping[str, Mapping[ServiceFamily, pendulum.Date]] | Iterable[CarePlan | PlanSpan],
) -> tuple[CarePlan | PlanSpan, ...] | dict[str, dict[ServiceFamily, pendulum.Date]]:
    if isinstance(value, Mapping):
        return {str(k): dict(d) for k, d in value.items()}
    return tuple(value)


@attrs.frozen(kw_only=True)
class MonthRecords:
    """The records a month close reads (any order; other patients' and months' records are ignored).

    *care_plans* is the spans read from the plans' histories
    (:class:`~carecore.careplans.PlanSpan`), the stored
    :class:`~carecore.model.CarePlan` values (their current state only) or,
    for a quick model, ``{patient_id: {family: established_on}}``. The
    billing practitioners of *care_teams* are evaluated for their patients
    even when no other record names them.
    """

    patients: tuple[Patient, ...] = attrs.field(converter=v.to_tuple)
    practitioners: tuple[Practitioner, ...] = attrs.field(converter=v.to_tuple)
    conditions: tuple[Condition, ...] = attrs.field(default=(), converter=v.to_tuple)
    consents: tuple[Consent, ...] = attrs.field(default=(), converter=v.to_tuple)
    enrollments: tuple[Enrollment, ...] = attrs.field(default=(), converter=v.to_tuple)
    coverages: tuple[Coverage, ...] = attrs.field(default=(), converter=v.to_tuple)
    care_teams: tuple[CareTeam, ...] = attrs.field(default=(), converter=v.to_tuple)
    care_plans: Any = attrs.field(default=(), converter=_plans)
    time_entries: tuple[TimeEntry, ...] = attrs.field(default=(), converter=v.to_tuple)
    contacts: tuple[InteractiveContact, ...] = attrs.field(default=(), converter=v.to_tuple)
    visits: tuple[FaceToFaceVisit, ...] = attrs.field(default=(), converter=v.to_tuple)
    device_readings: tuple[DeviceReadingDay, ...] = attrs.field(default=(), converter=v.to_tuple)
    episodes: tuple[TransitionEpisode, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: Claim lines of earlier closes (the one-TCM-per-30-days rule looks back).
    claim_lines: tuple[ClaimLine, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: Medical decision-making made outside a visit (complex CCM, TCM).
    mdm_assessments: tuple[MdmAssessment, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: RPM and RTM device set-ups.
    device_setups: tuple[DeviceSetup, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: Behavioral-health add-ons furnished in APCM months.
    apcm_addons: tuple[ApcmAddon, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: Codes billed outside carecore (another practitioner's TCM, an E/M, a set-up).
    external_claims: tuple[ExternalClaim, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: The family a practice chooses when two conflict for a practitioner.
    elections: tuple[ProgramElection, ...] = attrs.field(default=(), converter=v.to_tuple)

    @patients.validator
    def _check(self, _attribute: object, _value: object) -> None:
        kinds: tuple[tuple[str, type], ...] = (
            ("patients", Patient),
            ("practitioners", Practitioner),
            ("conditions", Condition),
            ("consents", Consent),
            ("enrollments", Enrollment),
            ("coverages", Coverage),
            ("care_teams", CareTeam),
            ("time_entries", TimeEntry),
            ("contacts", InteractiveContact),
            ("visits", FaceToFaceVisit),
            ("device_readings", DeviceReadingDay),
            ("episodes", TransitionEpisode),
            ("claim_lines", ClaimLine),
            ("mdm_assessments", MdmAssessment),
            ("device_setups", DeviceSetup),
            ("apcm_addons", ApcmAddon),
            ("external_claims", ExternalClaim),
            ("elections", ProgramElection),
        )
        for name, cls in kinds:
            for index, item in enumerate(getattr(self, name)):
                if not isinstance(item, cls):
                    raise errors.InvalidValue(
                        f"must be a {cls.__name__}", field=f"{name}[{index}]", value=item
                    )
        if isinstance(self.care_plans, tuple):
            for index, item in enumerate(self.care_plans):
                if not isinstance(item, (CarePlan, PlanSpan)):
                    raise errors.InvalidValue(
                        "must be a CarePlan or a PlanSpan", field=f"care_plans[{index}]", value=item
                    )


def _by_patient(items: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for item in items:
        out[item.patient_id].append(item)
    return out


def close_records(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    *,
    progress: Callable[[int], None] | None = None,
    setting: Setting = Setting.PHYSICIAN_OFFICE,
    require_coverage: bool = False,
) -> list[EvaluationResult]:
    """Evaluate every patient's *period* from *records* with *rules*; one result per patient, by id.

    A patient with nothing to bill still gets a result (its denials say
    why), unless no record names a billing practitioner for them: then no
    one could bill, and there is no result. *progress* is called with the
    number of patients done so far. *setting* is where the practice bills
    from; with *require_coverage* a patient without a coverage record in
    force in the period is refused rather than assumed to have Part B.
    """
    return [
        result
        for _facts, result in evaluate_records(
            records,
            period,
            rules,
            progress=progress,
            setting=setting,
            require_coverage=require_coverage,
        )
    ]


def evaluate_records(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    *,
    progress: Callable[[int], None] | None = None,
    setting: Setting = Setting.PHYSICIAN_OFFICE,
    require_coverage: bool = False,
    engine: Callable[[BillingFacts, RuleSet], EvaluationResult] | None = None,
) -> Iterator[tuple[BillingFacts, EvaluationResult]]:
    """As :func:`close_records`, with each patient's billing facts beside the result (for audit packets).

    *engine* evaluates one patient's facts (default: the reference engine's
    :func:`~carecore.billing.evaluate`); the store close passes its
    fast path, which gives the engine's result and falls back to it.
    """
    if not isinstance(records, MonthRecords):
        raise errors.InvalidValue("must be MonthRecords", field="records", value=records)
    if not isinstance(period, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
    if not isinstance(rules, RuleSet):
        raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
    if not isinstance(setting, Setting):
        raise errors.InvalidValue("must be a billing Setting", field="setting", value=setting)
    v.check_callable(progress, "progress")
    v.check_callable(engine, "engine")
    if not isinstance(require_coverage, bool):
        raise errors.InvalidValue(
            "must be True or False", field="require_coverage", value=require_coverage
        )
    options = _Options(setting, require_coverage, evaluate if engine is None else engine)
    return _evaluate(records, period, rules, progress, options)


@attrs.frozen
class _Options:
    setting: Setting
    require_coverage: bool
    #: Evaluates one patient's facts with the rules (as engine.evaluate).
    engine: Any = evaluate


def _evaluate(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    progress: Callable[[int], None] | None,
    options: _Options,
) -> Iterator[tuple[BillingFacts, EvaluationResult]]:
    staff = {p.id: p for p in records.practitioners}
    groups = {
        name: _by_patient(getattr(records, name))
        for name in (
            "conditions",
            "consents",
            "enrollments",
            "coverages",
            "time_entries",
            "contacts",
            "visits",
            "device_readings",
            "episodes",
            "claim_lines",
            "mdm_assessments",
            "device_setups",
            "apcm_addons",
            "external_claims",
            "elections",
        )
    }
    # The billing practitioners of a patient's care teams, in the teams' order (by team
    # id, then member order): the engine evaluates practitioners in the order given.
    teams: dict[str, dict[str, None]] = defaultdict(dict)
    for team in sorted(records.care_teams, key=lambda t: t.id):
        for m in team.members:
            if m.role is CareTeamRole.BILLING_PRACTITIONER:
                teams[team.patient_id].setdefault(m.practitioner_id)
    plans = records.care_plans
    plan_groups = _by_patient(plans) if isinstance(plans, tuple) else {}
    # A kind no patient has (most practices keep no RPM setups or elections) is the
    # same empty tuple for every patient: only the kinds read are looked up per patient.
    held = {name: group for name, group in groups.items() if group}
    nobody = {name: _NONE for name in groups if name not in held}
    naming = [name for name in _NAMING if name in held]
    for done, patient in enumerate(sorted(records.patients, key=lambda p: p.id), start=1):
        pid = patient.id
        mine = {**nobody, **{name: group.get(pid, _NONE) for name, group in held.items()}}
        named = {
            getattr(item, "billing_practitioner_id", None) for name in naming for item in mine[name]
        }
        on_teams = list(teams.get(patient.id, {}))
        order = on_teams + sorted(i for i in named if i not in on_teams and i is not None)
        practitioners = [staff[i] for i in order if i in staff]
        if progress is not None:
            progress(done)
        if not practitioners:
            continue  # no one could bill for this patient: nothing to evaluate
        # Discharges for TCM: the episodes that qualify and were not cancelled
        # (every discharge the program received opened one; the engine takes the
        # month's first discharge, so one that can never qualify must not hide a
        # later one that does).
        followed = [
            e for e in mine["episodes"] if e.qualifies and e.status is not EpisodeStatus.CANCELLED
        ]
        facts, gaps = facts_and_gaps(
            patient=patient,
            practitioners=practitioners,
            period=period,
            setting=options.setting,
            conditions=mine["conditions"],
            consents=mine["consents"],
            enrollments=mine["enrollments"],
            care_plans=plan_groups.get(patient.id, [])
            if isinstance(plans, tuple)
            else plans.get(patient.id, {}),
            time_entries=[t for t in mine["time_entries"] if t.service_date in period],
            contacts=mine["contacts"],
            # The engine finds the initiating visit itself: one with the billing
            # practitioner, of a qualifying kind, within a year of the start.
            visits=mine["visits"],
            device_readings=mine["device_readings"],
            episodes=followed,
            mdm_assessments=mine["mdm_assessments"],
            device_setups=mine["device_setups"],
            apcm_addons=mine["apcm_addons"],
            external_claims=mine["external_claims"],
            elections=mine["elections"],
            established=_established(mine["visits"], period),
            qmb=any(
                c.plan is CoveragePlan.MEDICAID_QMB for c in _in_force(mine["coverages"], period)
            ),
            significant_risk_from=rules.switches.significant_risk_from,
        )
        result = _one_tcm_per_30_days(options.engine(facts, rules), mine["claim_lines"], period)
        result = _program_gaps(result, gaps)
        if rules.payer == "cms":
            result = _part_b_only(result, mine["coverages"], period, rules, options)
        yield facts, result


#: The kinds whose records name a billing practitioner the close may evaluate a patient for.
_NAMING = (
    "consents",
    "enrollments",
    "time_entries",
    "contacts",
    "visits",
    "device_setups",
    "mdm_assessments",
)

#: A patient's records of a kind they hold none of: one value handed to every such patient,
#: so it is a tuple (nothing can add to it; the lists handed on are read, and copied where
#: filtered).
_NONE: tuple[Any, ...] = ()


def _one_tcm_per_30_days(
    result: EvaluationResult, earlier: Sequence[ClaimLine], period: ServicePeriod
) -> EvaluationResult:
    """Refuse a TCM line whose discharge falls inside the 30 days of a TCM billed in an earlier month.

    TCM (S18, S20): no second TCM for a further discharge within those 30
    days. One month's evaluation sees only its own discharges, so the close
    looks back at the TCM lines it stored before.
    """
    before = [
        line
        for line in earlier
        if line.family is ServiceFamily.TCM and line.period.start < period.start
    ]
    keep, refused = [], []
    for line in result.claim_lines:
        covering = next(
            (
                b
                for b in before
                if line.family is ServiceFamily.TCM and line.period.start in b.period
            ),
            None,
        )
        if covering is None:
            keep.append(line)
            continue
        refused.append(
            Denial(
                patient_id=line.patient_id,
                code=line.code,
                family=line.family,
                reason=DenialReason.ALREADY_BILLED_IN_PERIOD,
                message=(
                    f"The discharge on {line.period.start} falls within the 30 days of the TCM "
                    f"({covering.code}) billed for the discharge on {covering.period.start}; "
                    "only one TCM is paid in those 30 days."
                ),
                rule="tcm.one_per_30_days",
                period=line.period,
                sources=("S18", "S20"),
            )
        )
    if not refused:
        return result
    return attrs.evolve(result, claim_lines=tuple(keep), denials=(*result.denials, *refused))


#: A patient seen by the practice within this many years is an established patient.
ESTABLISHED_YEARS = 3


def _established(visits: Sequence[FaceToFaceVisit], period: ServicePeriod) -> bool:
    """Whether any visit falls in the three years up to the period's end."""
    since = _established_since(period)
    return any(since <= v_.on <= period.end for v_ in visits)


@functools.lru_cache(maxsize=64)
def _established_since(period: ServicePeriod) -> pendulum.Date:
    """The first day of the years before the period's end in which a visit makes a patient established."""
    return period.end.subtract(years=ESTABLISHED_YEARS)


def _program_gaps(result: EvaluationResult, gaps: tuple[ProgramGap, ...]) -> EvaluationResult:
    """Say what the days out of a program left out: a hint per practitioner, a refusal for a whole period."""
    if not gaps:
        return result
    hints = list(result.hints)
    denials = list(result.denials)
    for gap in gaps:
        name = gap.family.value
        for practitioner, minutes in gap.minutes:
            hints.append(
                Hint(
                    code="",
                    family=gap.family,
                    practitioner=practitioner,
                    message=(
                        f"{minutes} {name} minutes on days the patient was out of the program "
                        f"({gap.cause}) are not counted."
                    ),
                )
            )
        if gap.whole:
            denials = [
                attrs.evolve(
                    d,
                    reason=DenialReason.NOT_ENROLLED,
                    message=(
                        f"The patient was out of {name} for the whole period ({gap.cause}): "
                        "no day of it can be billed."
                    ),
                    rule=f"{name.lower()}.enrollment",
                )
                if d.family is gap.family and d.reason is DenialReason.NO_CONSENT
                else d
                for d in denials
            ]
    return attrs.evolve(result, hints=tuple(hints), denials=tuple(denials))


def _in_force(coverages: Sequence[Coverage], period: ServicePeriod) -> list[Coverage]:
    """The coverages in force on any day of *period*, earliest first."""
    return sorted(
        (
            c
            for c in coverages
            if (c.start is None or c.start <= period.end)
            and (c.end is None or c.end >= period.start)
        ),
        key=lambda c: (c.start or period.start, c.id),
    )


def _part_b_only(
    result: EvaluationResult,
    coverages: Sequence[Coverage],
    period: ServicePeriod,
    rules: RuleSet,
    options: _Options,
) -> EvaluationResult:
    """Refuse every line of a patient whose coverage in the period is not Medicare Part B fee-for-service."""
    in_force = _in_force(coverages, period)
    advantage = [c for c in in_force if c.plan is CoveragePlan.MEDICARE_ADVANTAGE]
    part_b = [c for c in in_force if c.plan is CoveragePlan.MEDICARE_PART_B]
    if advantage:
        why = f"{advantage[0].payer} ({advantage[0].plan.value})"
    elif part_b:
        return result
    elif in_force:
        why = f"{in_force[0].payer} ({in_force[0].plan.value})"
    elif options.require_coverage:
        why = "not recorded"
    else:
        return result  # no coverage record: assumed Part B (documented default)
    message = (
        f"Not billed under {rules.id}: the patient's coverage in this period is {why}, "
        "not Medicare Part B fee-for-service. Bill that payer under its own rules."
    )
    # Every would-be line is refused; with none, each code the engine refused is
    # refused for the coverage too, so the patient's result names it.
    targets = [(line.code, line.family, line.period) for line in result.claim_lines] or [
        (d.code, d.family, d.period) for d in result.denials
    ]
    refused = [
        Denial(
            patient_id=result.patient_id,
            code=code,
            family=family,
            reason=DenialReason.NOT_COVERED,
            message=message,
            rule="coverage.part_b",
            period=when,
        )
        for code, family, when in dict.fromkeys(targets)
    ]
    if not refused:
        return result
    return attrs.evolve(result, claim_lines=(), denials=(*refused, *result.denials), hints=())
