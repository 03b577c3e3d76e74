"""One replication of a study: a generated panel, month by month, through the real engines.

Random numbers are drawn up front in fixed shapes (per patient, and per
patient and month), so a replication's stream gives the same numbers
whatever the policy does with them: two policies run on one seed meet the
same patients with the same luck (common random numbers).
"""

from __future__ import annotations

import bisect
import functools
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs
import pendulum
from attrs import frozen

from carecore import errors
from carecore.billing._engine import CONFLICTS, evaluate, tcm_clock
from carecore.billing._fast import FAST_FAMILIES, FastClose, condition_shape
from carecore.billing.cms import cms_rule_set
from carecore.billing.facts import (
    AdmissionFact,
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    ContactFact,
    DeviceReadingsFact,
    DeviceSetupFact,
    DischargeFact,
    Event,
    PatientFacts,
    ProgramMonthFact,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.billing.primitives import threshold_minutes
from carecore.billing.rules import RuleSet, Switches, TimeRule
from carecore.conditions import SignificantRisk, at_significant_risk
from carecore.metrics import Measure
from carecore.model import (
    AdministrativeSex,
    CareSetting,
    ClaimLine,
    Coding,
    Condition,
    ContactMode,
    Coverage,
    CoveragePlan,
    Credential,
    DisenrollmentReason,
    Enrollment,
    MdmLevel,
    Patient,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    VisitKind,
)
from carecore.registry import eligibility
from carecore.risk import HccModel, HccVersion, hcc_score
from carecore.simulation._model import (
    ContactModel,
    OutreachOrder,
    Priority,
    ProgramPolicy,
    Study,
)
from carecore.simulation._panel import PanelPatient, PatientPanel
from carecore.transitions import TransitionRules, readmission_window

if TYPE_CHECKING:
    from carecore.billing._engine import EvaluationResult

__all__ = [
    "CareMonth",
    "Outreach",
    "Recording",
    "Replication",
    "Stay",
    "billing_facts",
    "policy_rules",
    "run_replication",
    "simulated_bill",
]

#: The billing practitioner of the simulated practice.
PRACTITIONER = "dr1"
_DR = BillingPractitioner(id=PRACTITIONER, credential=Credential.MD)
_TIER_LOW, _TIER_MID, _TIER_HIGH = 0, 1, 2


def _numpy() -> Any:
    try:
        import numpy as np  # noqa: PLC0415 - optional: the simulation extra
    except ImportError as exc:  # pragma: no cover - numpy comes with the report extra
        raise errors.MissingDependency(
            extra="simulation", package="numpy", feature="simulations"
        ) from exc
    return np


@frozen(kw_only=True)
class Outreach:
    """A patient approached in a month (``YYYY-MM``), and whether they agreed to enroll."""

    patient: int
    month: str
    agreed: bool


@frozen(kw_only=True)
class CareMonth:
    """An enrolled patient-month of one family: the minutes of each contact the staff made (none when not served).

    A patient in several families at once (``concurrent_families``) has one
    per family and month.
    """

    patient: int
    month: str
    minutes: tuple[int, ...]
    family: ServiceFamily | None = None


@frozen(kw_only=True)
class Stay:
    """An admission: its day, the discharge home (None: the patient died in it) and what followed.

    ``readmitted`` is the day of a readmission within 30 days (None: none).
    When TCM is offered and the patient has Medicare, ``tcm_contact`` is the
    day of the interactive contact (None: no staff time left for it) and
    ``tcm_visit`` and ``tcm_mdm`` the face-to-face visit (None: none).
    """

    patient: int
    admitted: pendulum.Date
    discharged: pendulum.Date | None
    readmitted: pendulum.Date | None = None
    tcm_contact: pendulum.Date | None = None
    tcm_visit: pendulum.Date | None = None
    tcm_mdm: MdmLevel | None = None


@frozen(kw_only=True)
class Recording:
    """What happened to each patient of a recorded replication, to write as records.

    Patients are numbered as in the replication (``p0``, ``p1``...):
    ``patients`` gives each one's traits (generated, or the panel's), and
    the other fields what the replication drew for them: outreach, the
    minutes of each enrolled month, admissions, and the months of an
    emergency visit (``ed_visits``) or of death (``deaths``), as
    ``(patient, YYYY-MM)``.
    """

    patients: tuple[PanelPatient, ...] = ()
    outreach: tuple[Outreach, ...] = ()
    care: tuple[CareMonth, ...] = ()
    stays: tuple[Stay, ...] = ()
    ed_visits: tuple[tuple[int, str], ...] = ()
    deaths: tuple[tuple[int, str], ...] = ()


@frozen(kw_only=True)
class Replication:
    """What one replication gives: a value per month and measure, and study-level counts.

    ``months`` holds, for each month (``YYYY-MM``), the measures in a fixed
    order; ``totals`` holds counts over the whole study that a month alone
    does not give (ED visits before and after enrollment, say).
    """

    index: int
    months: tuple[tuple[str, tuple[tuple[str, float], ...]], ...]
    totals: tuple[tuple[str, float], ...]
    #: With ``record=True``: the replication's enrollments and monthly claim lines as
    #: model values (patients ``p0``, ``p1``...), for :mod:`carecore.metrics`.
    enrollments: tuple[Enrollment, ...] = ()
    claim_lines: tuple[ClaimLine, ...] = ()
    #: With ``record=True``: each patient's traits and what happened to them.
    recording: Recording | None = None


# -- rules and billing ------------------------------------------------------------


@functools.cache
def _rules(
    year: int, codes: frozenset[str] | None, fees: tuple[tuple[str, Decimal], ...]
) -> RuleSet:
    """The policy's rule set: the CMS year, only *codes* in effect (None: all), *fees* replacing amounts.

    A code left out stays in the rule set (the engine looks its rule up) but
    is in effect on no day of the study, so the engine never bills it.
    """
    rules = cms_rule_set(year)
    prices = dict(fees)
    never = pendulum.Date(1990, 1, 1)
    kept = []
    for rule in rules.codes:
        changed = rule
        if codes is not None and rule.code not in codes:
            changed = attrs.evolve(changed, available_from=never, available_to=never)
        if rule.code in prices:
            changed = attrs.evolve(changed, amount=prices[rule.code])
        kept.append(changed)
    return attrs.evolve(rules, codes=tuple(kept), id=f"{rules.id}-simulated")


def policy_rules(policy: ProgramPolicy) -> RuleSet:
    """The rule set a policy bills by (its year, its codes, its fees)."""
    return _rules(policy.rule_year, policy.codes, policy.fees)


def _family_facts(  # noqa: PLR0917 - the month and one family's share of it
    events: list[Event],
    consent: dict[ServiceFamily, pendulum.Date],
    period: ServicePeriod,
    start: pendulum.Date,
    credential: Credential,
    family_time: tuple[ServiceFamily, int, int],
) -> None:
    """Add one monthly family's consent, minutes and (APCM) service elements to a month's facts."""
    family, minutes, contacts = family_time
    consent[family] = start
    day = min(period.start.add(days=14), period.end)
    if minutes > 0:
        events.append(
            TimeFact(
                date=day,
                minutes=minutes,
                role=RoleClass.CLINICAL_STAFF,
                practitioner=PRACTITIONER,
                family=family,
                credential=credential,
                interactive=True,
            )
        )
    if family is ServiceFamily.APCM and contacts > 0:
        events.append(
            ProgramMonthFact(
                date=day,
                family=family,
                month=f"{period.start.year:04d}-{period.start.month:02d}",
                practitioner=PRACTITIONER,
            )
        )


def billing_facts(
    *,
    period: ServicePeriod,
    conditions: tuple[ChronicCondition, ...],
    family: ServiceFamily | None = None,
    start: pendulum.Date | None = None,
    minutes: int = 0,
    contacts: int = 0,
    credential: Credential = Credential.RN,
    device_days: int | None = None,
    device_setup: bool = False,
    concurrent: tuple[tuple[ServiceFamily, int, int], ...] = (),
    tcm: tuple[
        pendulum.Date,
        pendulum.Date | None,
        bool,
        pendulum.Date | None,
        MdmLevel | None,
        pendulum.Date | None,
    ]
    | None = None,
) -> BillingFacts:
    """The facts of one simulated patient-month (or discharge): what the engine is given.

    *conditions* are what the billing practitioner attests; *family*
    and *start* say which monthly family the patient is enrolled in and
    since when (consent, the care plan and the initiating visit are dated
    that day); *minutes* of clinical staff time are logged on the 15th
    (or the period's last day when earlier); APCM's service elements count as
    furnished when there was at least one contact. For RPM, *device_days*
    (None: no reading) are the days with data of the device period, taken as
    the calendar month, and with *device_setup* the device is set up on
    *start* when it falls in the month. *concurrent* gives the
    ``(family, minutes, contacts)`` of further monthly families the patient
    is enrolled in the same month since *start* (the device's days go to
    whichever is RPM): one set of facts with every family's time, for the
    engine to decide what is billed together. *tcm* is ``(discharge,
    contact day, contact successful, visit day, visit MDM, readmission day)``.
    """
    events: list[Event] = []
    consent: dict[ServiceFamily, pendulum.Date] = {}
    if family is not None and start is not None:
        for each in ((family, minutes, contacts), *concurrent):
            _family_facts(events, consent, period, start, credential, each)
        if device_days is not None and ServiceFamily.RPM in consent:
            events.append(
                DeviceReadingsFact(
                    date=period.end,
                    period_start=period.start,
                    period_end=period.end,
                    days_with_data=device_days,
                    device="simulated",
                    family=ServiceFamily.RPM,
                    practitioner=PRACTITIONER,
                )
            )
            if device_setup and period.start <= start <= period.end:
                events.append(
                    DeviceSetupFact(date=start, family=ServiceFamily.RPM, practitioner=PRACTITIONER)
                )
    if tcm is not None:
        discharge, contact_day, successful, visit_day, mdm, readmitted = tcm
        events.append(
            DischargeFact(
                date=discharge,
                from_setting=CareSetting.INPATIENT_ACUTE,
                to_setting=CareSetting.HOME,
            )
        )
        if contact_day is not None:
            events.append(
                ContactFact(
                    date=contact_day,
                    mode=ContactMode.PHONE,
                    successful=successful,
                    role=RoleClass.CLINICAL_STAFF,
                    practitioner=PRACTITIONER,
                    family=ServiceFamily.TCM,
                )
            )
        if visit_day is not None and mdm is not None:
            events.append(
                VisitFact(
                    date=visit_day, kind=VisitKind.TCM_F2F, mdm=mdm, practitioner=PRACTITIONER
                )
            )
        if readmitted is not None:
            events.append(AdmissionFact(date=readmitted, setting=CareSetting.INPATIENT_ACUTE))
    return BillingFacts(
        period=period,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=(_DR,),
        patient=PatientFacts(
            id="simulated",
            conditions=conditions,
            consent_on=consent,
            care_plan_on=consent,
            last_visit=start,
        ),
        events=events,
    )


#: Engine decisions by the facts that decide them (see :func:`simulated_bill`).
_BILLS: dict[tuple[object, ...], tuple[tuple[str, int, Decimal], ...]] = {}
_BILL_LIMIT = 500_000
_KEPT: dict[int, RuleSet] = {}


def _bill_lines(result: EvaluationResult) -> tuple[tuple[str, int, Decimal], ...]:
    return tuple(
        sorted((line.code, line.units, line.amount or Decimal(0)) for line in result.claim_lines)
    )


def simulated_bill(
    rules: RuleSet, key: tuple[object, ...], **facts: Any
) -> tuple[tuple[str, int, Decimal], ...]:
    """``(code, units, amount)`` of the lines the engine bills for the facts :func:`billing_facts` builds.

    The engine's answer is remembered under *key*, which must hold every
    argument the facts are built from that can change the lines (the rule set
    is part of it): facts with one key get the engine's one answer. ``tests/simulation`` holds this equal
    to calling :func:`carecore.billing.evaluate` on sampled patient-months.
    """
    if not isinstance(rules, RuleSet):
        raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
    _KEPT.setdefault(id(rules), rules)  # held, so its id is never reused for another rule set
    full = (id(rules), *key)
    found = _BILLS.get(full)
    if found is None:
        found = _bill_lines(evaluate(billing_facts(**facts), rules))
        if len(_BILLS) >= _BILL_LIMIT:
            _BILLS.clear()
        _BILLS[full] = found
    return found


#: The month close's fast path, per rule set and month (see :func:`_month_bill`).
_FAST: dict[tuple[int, pendulum.Date], FastClose] = {}
#: A patient-month's canonical shape by what the facts are built from (None: the engine decides).
_SHAPES: dict[tuple[object, ...], tuple[object, ...] | None] = {}
_UNSEEN = object()
#: The fast path's reading of a patient's conditions, per rule set (see :func:`_fast_shape`).
_CLASSES: dict[tuple[int, tuple[ChronicCondition, ...]], object] = {}


def _fast_shape(rules: RuleSet, facts: dict[str, Any]) -> tuple[object, ...] | None:
    """The canonical shape the month close's fast path reads of these facts; None if it declines them.

    Remembered by what the facts are built from, whether or not minutes were
    logged (the fast path reads the entries' days and families, not their minutes, to
    decide whether it takes a month), with the conditions as the fast path reads
    them (:func:`carecore.billing._fast.condition_shape`, the shape's own part,
    which decides also whether it takes the month): the shape reads the
    conditions through it alone, and patients with other codes of the same
    classes share one entry. Keyed by the codes themselves, a study of 10,000
    patients kept about nine times as many entries, filled a replication at a
    time, each a set of facts built and read; every Dask worker filled its own.
    """
    period: ServicePeriod = facts["period"]
    conditions = facts["conditions"]
    classes = _CLASSES.get((id(rules), conditions), _UNSEEN)
    if classes is _UNSEEN:
        classes = condition_shape(conditions, rules.switches)
        if len(_CLASSES) >= _BILL_LIMIT:
            _CLASSES.clear()
        _CLASSES[id(rules), conditions] = classes
    seen = (
        id(rules),
        period.start,
        classes,
        facts["family"],
        facts["start"],
        facts["credential"],
        facts["minutes"] > 0,
    )
    shape = _SHAPES.get(seen, _UNSEEN)
    if shape is _UNSEEN:
        fast = _FAST.get((id(rules), period.start))
        if fast is None:
            fast = _FAST[id(rules), period.start] = FastClose(rules, period)
        shape = fast.shape_of(billing_facts(**facts))
        if len(_SHAPES) >= _BILL_LIMIT:
            _SHAPES.clear()
        _SHAPES[seen] = shape
    return shape  # type: ignore[return-value]


#: The minute counts at which a family's time codes reach a unit, per rule set (see :func:`_minute_floor`).
_THRESHOLDS: dict[tuple[int, ServiceFamily], tuple[int, ...]] = {}
#: Minutes up to which :func:`_minute_floor` lists the thresholds (more are kept exact).
_FLOOR_LIMIT = 600


def _thresholds(rules: RuleSet, family: ServiceFamily) -> tuple[int, ...]:
    """Every minute count at which a time code of *family* in *rules* reaches a unit, and 1.

    Read from the rule set through the engine's own arithmetic
    (:func:`carecore.billing.primitives.threshold_minutes`): each time-based
    code's first unit and each unit of the add-on codes that name it
    (``add_on_to``) up to their cap, under the code's own time rule and under
    every time rule the rule set's switches set (an uncapped add-on's units
    up to :data:`_FLOOR_LIMIT` minutes). 1 is one: whether any minute was
    logged at all.
    """
    found = _THRESHOLDS.get((id(rules), family))
    if found is not None:
        return found
    overrides: set[TimeRule | None] = {None}
    overrides.update(
        value
        for value in attrs.asdict(rules.switches, recurse=False).values()
        if isinstance(value, TimeRule)
    )
    reached = {1}
    for base in rules.codes:
        if base.family is not family or base.minutes is None:
            continue
        for override in overrides:
            reached.add(threshold_minutes(base, None, 1, override))
            for add_on in rules.codes:
                if add_on.add_on_to != base.code or add_on.minutes is None:
                    continue
                units = 1
                while add_on.max_units is None or units <= add_on.max_units:
                    minutes = threshold_minutes(base, add_on, units, override)
                    if minutes > _FLOOR_LIMIT:
                        break
                    reached.add(minutes)
                    units += 1
    found = _THRESHOLDS[id(rules), family] = tuple(sorted(reached))
    return found


def _minute_floor(rules: RuleSet, family: ServiceFamily, minutes: int) -> int:
    """*minutes* of *family* brought down to the last threshold of :func:`_thresholds` they reach.

    Minutes between two thresholds reach the same units of every time code
    of the family, so the engine bills them alike; the memo asks it once per
    band, with the band's lowest minutes. Above :data:`_FLOOR_LIMIT` minutes
    are kept as they are.
    """
    if minutes <= 0 or minutes > _FLOOR_LIMIT:
        return minutes
    found = _thresholds(rules, family)
    return found[bisect.bisect_right(found, minutes) - 1]


#: Which of a rule set's codes are in effect on a month's first and last days (see _codes_in_effect).
_IN_EFFECT: dict[tuple[int, pendulum.Date], tuple[bool, ...]] = {}


def _codes_in_effect(rules: RuleSet, period: ServicePeriod) -> tuple[bool, ...]:
    """Whether each code of *rules* is in effect on *period*'s first and last days.

    What a fast-path month's lines read of the month beyond its canonical
    shape (which is itself relative to the month: consent, visit and care
    plan by the month's end): the codes the engine may bill in it. Months of
    a rule set whose codes are in effect alike share the engine's answer for
    one shape, family, credential and minutes.
    """
    key = (id(rules), period.start)
    found = _IN_EFFECT.get(key)
    if found is None:
        found = _IN_EFFECT[key] = tuple(
            flag
            for rule in rules.codes
            for flag in (rule.in_effect(period.start), rule.in_effect(period.end))
        )
    return found


def _month_bill(  # noqa: PLR0917 - the facts of one patient-month
    rules: RuleSet,
    period: ServicePeriod,
    conditions: tuple[ChronicCondition, ...],
    family: ServiceFamily,
    start: pendulum.Date,
    minutes: int,
    contacts: int,
    credential: Credential,
    device_days: int | None = None,
    device_setup: bool = False,  # noqa: FBT001, FBT002 - one of the month's facts
    concurrent: tuple[tuple[ServiceFamily, int, int], ...] = (),
) -> tuple[tuple[str, int, Decimal], ...]:
    """The lines of a monthly patient-month, shared by every month the fast path reads alike.

    For the time families (CCM, PCM) the month close's fast path
    (:class:`carecore.billing.FastClose`) decides a time-only month from its
    canonical shape (what the rules read of the patient: consent, the
    initiating visit, the care plan, the conditions per disease) and the
    minutes: patients with other condition codes or enrollment months but the
    same shape get the one answer it gets from the engine. The memo's key is
    that shape, which codes are in effect in the month
    (:func:`_codes_in_effect`: the lines keep no dates, and the shape is read
    relative to the month, so months with the same codes in effect share an
    answer), the family, the staff's credential and the minutes (*contacts*
    builds no fact of these families). A month the fast
    path does not take (conditions it declines, an APCM or RPM month) is
    remembered whole, as :func:`simulated_bill` does, the device's days and
    set-up included, and so is a month of several families (*concurrent* as
    :func:`billing_facts` takes it), with each family's minutes and whether
    it had a contact. Each family's minutes are first brought down to the
    last of its codes' unit thresholds they reach (:func:`_minute_floor`):
    the lines (codes, units, amounts) are the same across a band, and the
    minutes the table reports are the patient's own, not these.
    ``tests/simulation`` holds this equal to the engine on generated months
    and on every minute count at and around the thresholds.
    """
    _KEPT.setdefault(id(rules), rules)  # held, so its id is never reused for another rule set
    minutes = _minute_floor(rules, family, minutes)
    concurrent = tuple((f, _minute_floor(rules, f, m), c) for f, m, c in concurrent)
    facts: dict[str, Any] = {
        "period": period,
        "conditions": conditions,
        "family": family,
        "start": start,
        "minutes": minutes,
        "contacts": contacts,
        "credential": credential,
        "device_days": device_days,
        "device_setup": device_setup,
    }
    if concurrent:
        facts["concurrent"] = concurrent
    fast = family in FAST_FAMILIES and device_days is None and not device_setup and not concurrent
    shape = _fast_shape(rules, facts) if fast else None
    if shape is None:
        key = (
            "month",
            period.start,
            conditions,
            family,
            start,
            minutes,
            contacts > 0,
            credential,
            device_days,
            device_setup,
            tuple((f, m, c > 0) for f, m, c in concurrent),
        )
        return simulated_bill(rules, key, **facts)
    full = (id(rules), "fast", _codes_in_effect(rules, period), shape, family, credential, minutes)
    found = _BILLS.get(full)
    if found is None:
        result = _FAST[id(rules), period.start].evaluate_facts(billing_facts(**facts))
        if result is None:  # pragma: no cover - its shape says the fast path takes it
            result = evaluate(billing_facts(**facts), rules)
        if len(_BILLS) >= _BILL_LIMIT:
            _BILLS.clear()
        found = _BILLS[full] = _bill_lines(result)
    return found


def _tcm_bill(
    rules: RuleSet,
    period: ServicePeriod,
    conditions: tuple[ChronicCondition, ...],
    tcm: tuple[
        pendulum.Date,
        pendulum.Date | None,
        bool,
        pendulum.Date | None,
        MdmLevel | None,
        pendulum.Date | None,
    ],
) -> tuple[tuple[str, int, Decimal], ...]:
    """The lines of a discharge's TCM period (*tcm* as :func:`billing_facts` takes it).

    The memo's key is the episode without the patient's conditions: no TCM
    rule reads them (only the lines' diagnoses do, which the table does not
    keep), so patients with other conditions and the same episode share the
    engine's one answer. The episode is keyed by days from the discharge:
    the period's and the contact's, visit's and readmission's days, with the
    deadlines of the engine's own TCM clock for that discharge
    (:func:`carecore.billing.tcm_clock` under the rule set's calendar and
    day counting, so weekends and holidays stay in the key) and whether each
    of the rule set's TCM codes is in effect on the visit's day and on the
    period's last. Discharges on other dates with the same days share one answer.
    ``tests/simulation`` holds this equal to the engine on generated
    episodes and condition sets and on discharges on every day of a year.
    """
    discharge, contact_day, successful, visit_day, mdm, readmitted = tcm

    origin = discharge.toordinal()

    def days(day: pendulum.Date | None) -> int | None:
        # Ordinals, not pendulum's subtraction (it builds an Interval): this runs for
        # every TCM period of every replication.
        return None if day is None else day.toordinal() - origin

    switches = rules.switches
    clock = tcm_clock(
        discharge, calendar=switches.business_days, day_counting=switches.tcm_day_counting
    )
    visit_on = period.end if visit_day is None else visit_day
    key = (
        "tcm",
        days(period.start),
        days(period.end),
        days(contact_day),
        successful,
        days(visit_day),
        mdm,
        days(readmitted),
        days(clock.contact_due),
        days(clock.visit_due_7),
        days(clock.visit_due_14),
        days(clock.period.start),
        days(clock.period.end),
        clock.day_offset,
        tuple(
            (rule.code, rule.in_effect(visit_on), rule.in_effect(period.end))
            for rule in rules.codes
            if rule.family is ServiceFamily.TCM
        ),
    )
    return simulated_bill(rules, key, period=period, conditions=conditions, tcm=tcm)


# -- eligibility and transitions ----------------------------------------------------


def _registry_eligible(
    conditions: tuple[ChronicCondition, ...],
    medicare: bool,  # noqa: FBT001 - as _eligible takes it
    family: ServiceFamily,
    as_of: pendulum.Date,
    switches: Switches,
) -> bool:
    """The registry's answer for a patient with *conditions* (and Medicare Part B or not)."""
    patient = Patient(
        id="simulated",
        given_name="Simulated",
        family_name="Patient",
        birth_date=pendulum.Date(1950, 1, 1),
        sex=AdministrativeSex.UNKNOWN,
        time_zone="UTC",
    )
    conds = [
        Condition(
            id=f"c{i}",
            patient_id="simulated",
            coding=Coding.icd10cm(c.icd10),
            chronic=True,
            expected_duration_months=c.expected_duration_months,
            significant_risk=c.significant_risk,
            behavioral=c.behavioral,
        )
        for i, c in enumerate(conditions)
    ]
    plan = CoveragePlan.MEDICARE_PART_B if medicare else CoveragePlan.COMMERCIAL
    coverage = Coverage(id="cov", patient_id="simulated", payer="simulated", plan=plan)
    return eligibility(
        patient,
        family,
        as_of=as_of,
        conditions=conds,
        coverages=[coverage],
        switches=switches,
    ).eligible


#: The registry's answers by the conditions' shape (see :func:`_eligible`).
_ELIGIBLE: dict[tuple[object, ...], bool] = {}


def _eligible(
    conditions: tuple[ChronicCondition, ...],
    medicare: bool,  # noqa: FBT001 - positional, as the callers pass it
    family: ServiceFamily,
    as_of: pendulum.Date,
    switches: Switches,
) -> bool:
    """The registry's answer for a patient with *conditions*, remembered by their shape.

    The registry reads a patient's conditions by disease
    (:func:`carecore.billing.condition_groups`), each with its behavioral
    flag, its expected duration against the rules' thresholds and whether it
    places the patient at significant risk, which it decides from the flag
    or, under ``SignificantRisk.TABLE``, from the code's group in the table
    (:func:`carecore.conditions.at_significant_risk`). The key is
    :func:`carecore.billing._fast.condition_shape` of the conditions with
    that decision made first (:func:`_registry_risk`), so patients whose
    conditions read alike share one answer, asked of the registry for the
    first of them; conditions the shape declines (a code that counts for
    nothing, a disease of several codes) are remembered by themselves. A
    replication of a 10,000-patient study asked the registry about 370 times
    when keyed by the conditions themselves, 27 times by their shape, and
    each Dask worker asks for itself. A property test holds the remembered
    answer equal to the registry's for generated condition sets.
    """
    source = switches.significant_risk_from
    read = tuple(
        c
        if c.significant_risk is (risk := _registry_risk(c.icd10, c.significant_risk, source))
        else attrs.evolve(c, significant_risk=risk)
        for c in conditions
    )
    shape = condition_shape(read, switches)
    key = (conditions if shape is None else shape, medicare, family, as_of, switches)
    found = _ELIGIBLE.get(key)
    if found is None:
        found = _registry_eligible(conditions, medicare, family, as_of, switches)
        if len(_ELIGIBLE) >= _BILL_LIMIT:
            _ELIGIBLE.clear()
        _ELIGIBLE[key] = found
    return found


@functools.cache
def _registry_risk(code: str, flag: bool, source: SignificantRisk) -> bool:  # noqa: FBT001 - a cache key
    """Whether the registry counts a chronic condition of *code* (attested or not: *flag*) at significant risk."""
    condition = Condition(
        id="c",
        patient_id="p",
        coding=Coding.icd10cm(code),
        chronic=True,
        significant_risk=flag,
    )
    return at_significant_risk(condition, source)


def _offered(
    conditions: tuple[ChronicCondition, ...],
    medicare: bool,  # noqa: FBT001 - as _eligible takes it
    family: ServiceFamily,
    as_of: pendulum.Date,
    policy: ProgramPolicy,
) -> bool:
    """Whether a patient with *conditions* may enroll in *family*.

    The registry's answer for the families it checks; for RPM, which it does
    not, Medicare Part B and one of the policy's RPM conditions.
    """
    if family is ServiceFamily.RPM:
        wanted = set(policy.rpm.conditions)
        return medicare and any(c.icd10 in wanted for c in conditions)
    return _eligible(conditions, medicare, family, as_of, policy_rules(policy).switches)


def _billed_together(first: ServiceFamily, second: ServiceFamily) -> bool:
    """Whether the billing engine bills *first* and *second* for one patient in one month.

    Its same-practitioner conflicts (:data:`carecore.billing._engine.CONFLICTS`:
    CCM, PCM and APCM exclude each other, general BHI excludes CoCM, TCM excludes
    APCM) are the pairs it does not; every other pair it bills together when
    each meets its own rules.
    """
    return (first, second) not in CONFLICTS and (second, first) not in CONFLICTS


def _families_taken(
    conditions: tuple[ChronicCondition, ...],
    medicare: bool,  # noqa: FBT001 - positional: a cache key
    as_of: pendulum.Date,
    policy: ProgramPolicy,
) -> tuple[int, ...]:
    """The indices (in ``policy.monthly_families``) of the families a patient takes.

    The first family offered that the patient may enroll in; with
    ``policy.concurrent_families`` also each later one they may enroll in
    that the engine bills together with every family already taken.
    """
    taken: list[int] = []
    monthly = policy.monthly_families
    for index, family in enumerate(monthly):
        if not _offered(conditions, medicare, family, as_of, policy):
            continue
        if all(_billed_together(monthly[k], family) for k in taken):
            taken.append(index)
            if not policy.concurrent_families:
                break
    return tuple(taken)


@functools.cache
def _hcc(
    age: int,
    female: bool,  # noqa: FBT001 - positional: a cache key
    conditions: tuple[ChronicCondition, ...],
    year: int,
    as_of: pendulum.Date,
) -> float:
    """The CMS-HCC V28 score (:func:`carecore.risk.hcc_score`) of a patient of *age* and sex."""
    try:
        model = HccModel(version=HccVersion.V28, year=year)
    except errors.InvalidValue as exc:
        raise errors.InvalidValue(exc.reason, field="policy.hcc_model_year", value=year) from exc
    patient = Patient(
        id="simulated",
        given_name="Simulated",
        family_name="Patient",
        birth_date=as_of.subtract(years=age),
        sex=AdministrativeSex.FEMALE if female else AdministrativeSex.MALE,
        time_zone="UTC",
    )
    conds = [
        Condition(id=f"c{i}", patient_id="simulated", coding=Coding.icd10cm(c.icd10), chronic=True)
        for i, c in enumerate(conditions)
    ]
    return float(hcc_score(patient, conds, model=model, as_of=as_of).score)


@functools.cache
def _episode(
    discharge: pendulum.Date, rules: TransitionRules
) -> tuple[pendulum.Date, pendulum.Date, pendulum.Date, pendulum.Date]:
    """(contact due, 7-day visit due, 14-day visit due, period end) of a discharge home on *discharge*.

    The transitions module's clock (:meth:`TransitionRules.clock
    <carecore.transitions.TransitionRules.clock>`), the one an episode opened
    from a stored discharge gets its deadlines from.
    """
    clock = rules.clock(discharge)
    return clock.contact_due, clock.visit_due_7, clock.visit_due_14, clock.period.end


@functools.lru_cache(maxsize=4096)
def _readmission_days(discharge: pendulum.Date) -> tuple[int, int]:
    """(ordinal of the first day, number of days) of the readmission window of a discharge."""
    window = readmission_window(discharge)
    return window.start.toordinal(), window.days


def _readmission_day(discharge: pendulum.Date, u: float) -> pendulum.Date:
    """The readmission day that the uniform draw *u* (0 <= u < 1) picks in the discharge's window.

    The window is :func:`carecore.transitions.readmission_window`, the days
    on which a stored admission flags a readmission. Day arithmetic on
    ordinals: pendulum's ``add`` ran for every simulated discharge and was
    about a twelfth of a replication's time.
    """
    first, days = _readmission_days(discharge)
    return pendulum.Date.fromordinal(first + min(int(u * days), days - 1))


# -- the replication ----------------------------------------------------------------


def _measure(name: str, numerator: float, denominator: float, scale: int = 1) -> float:
    """A rate through :class:`carecore.metrics.Measure` (NaN when there is nothing to divide by)."""
    value = Measure(
        name=name,
        numerator=Decimal(repr(float(numerator))),
        denominator=Decimal(repr(float(denominator))),
        unit="",
        period=ServicePeriod.month(2026, 1),
        definition="",
        scale=scale,
    ).value
    return float("nan") if value is None else float(value)


#: The families that draw their staff time from a stream of their own (its spawn key).
_OWN_STREAM = {ServiceFamily.BHI: 1, ServiceFamily.RPM: 2}


def _contact_draws(rng: Any, model: ContactModel, tier: Any, months: int) -> tuple[Any, Any, Any]:
    """(contacts, minutes of each contact, minutes wanted) per month and patient, drawn from *rng*."""
    np = _numpy()
    n = len(tier)
    lam = np.array(model.contacts_per_month)[tier]
    contacts = np.minimum(model.min_contacts + rng.poisson(lam, (months, n)), model.max_contacts)
    per_contact = np.clip(
        np.rint(rng.normal(model.minutes_mean, model.minutes_sd, (months, n, model.max_contacts))),
        model.minutes_min,
        model.minutes_max,
    ).astype(np.int64)
    slot = np.arange(model.max_contacts)
    wanted = (per_contact * (slot[None, None, :] < contacts[:, :, None])).sum(axis=2)
    return contacts, per_contact, wanted


def _family_draws(  # noqa: PLR0917 - a replication's stream and what it is drawn for
    rng: Any,
    seed: int,
    index: int,
    family: ServiceFamily,
    policy: ProgramPolicy,
    tier: Any,
    days: Any,
    drawn: dict[int, tuple[Any, Any, Any, Any]],
) -> tuple[Any, Any, Any, Any]:
    """(contacts, minutes of each contact, minutes wanted, device days) of *family* per month and patient.

    Every monthly family is drawn here. CCM, PCM and APCM take ``policy.contacts``
    from the replication's stream *rng*, drawn once (kept in *drawn* under
    spawn key 0) at the place in the stream where the first of them asks;
    BHI and RPM take their own contact model from a stream of their own
    (``SeedSequence(seed, spawn_key=(index, key))``), so offering them leaves
    every other draw as it was. RPM also draws its device days, a binomial
    over each month's *days* (None for the other families).
    """
    np = _numpy()
    stream = _OWN_STREAM.get(family, 0)
    if stream not in drawn:
        own = (
            rng
            if stream == 0
            else np.random.default_rng(
                np.random.SeedSequence(entropy=seed, spawn_key=(index, stream))
            )
        )
        contacts, per_contact, wanted = _contact_draws(
            own, policy.contacts_for(family), tier, len(days)
        )
        device = None
        if family is ServiceFamily.RPM:
            device = own.binomial(
                days[:, None], policy.rpm.transmit_probability, (len(days), len(tier))
            )
        drawn[stream] = (contacts, per_contact, wanted, device)
    return drawn[stream]


def run_replication(study: Study, seed: int, index: int, *, record: bool = False) -> Replication:  # noqa: C901, PLR0912, PLR0915 - one month, step by step
    """Replication *index* of *study*, on the stream spawned for it from *seed*.

    The stream is ``numpy.random.SeedSequence(seed).spawn(...)[index]``, so
    replication *index* is the same whichever process runs it. With *record*
    the replication also keeps its enrollments and the claim lines of its
    monthly families as model values (each patient-month then goes to the
    engine itself, not the memo), so :mod:`carecore.metrics` can measure it,
    and its :class:`Recording`: each patient's traits, outreach, minutes and
    admissions, enough to write the year as records (what ``carecore demo``
    does). Recording draws no extra random numbers: the table is the same.
    """
    np = _numpy()
    stream = np.random.SeedSequence(entropy=seed, spawn_key=(index,))
    rng = np.random.default_rng(stream)
    pop, policy, out = study.population, study.policy, study.outcomes
    n, months = pop.size, study.months

    # -- the patients: generated, or a panel's ------------------------------------------
    sets: dict[tuple[ChronicCondition, ...], int] = {}
    if isinstance(pop, PatientPanel):
        medicare = np.array([p.medicare for p in pop.patients], dtype=bool)
        age = np.array([-1 if p.age is None else p.age for p in pop.patients], dtype=np.int64)
        female = np.array([p.sex is AdministrativeSex.FEMALE for p in pop.patients], dtype=bool)
        known_sex = np.array(
            [p.sex in {AdministrativeSex.FEMALE, AdministrativeSex.MALE} for p in pop.patients],
            dtype=bool,
        )
        tier = np.array([p.risk_tier for p in pop.patients], dtype=np.int64)
        cond_id = np.array(
            [sets.setdefault(p.conditions, len(sets)) for p in pop.patients], dtype=np.int64
        )
    else:
        k = len(pop.conditions)
        age = np.clip(np.rint(rng.normal(pop.age_mean, pop.age_sd, n)), pop.age_min, pop.age_max)
        female = rng.random(n) < pop.female_share
        medicare = rng.random(n) < pop.medicare_share
        shares = np.array(pop.risk_tier_shares) / sum(pop.risk_tier_shares)
        tier = rng.choice(3, size=n, p=shares)
        prevalence = np.array([c.prevalence for c in pop.conditions], dtype=float)
        has = rng.random((n, k)) < prevalence
        masks = (has * (1 << np.arange(k, dtype=np.int64))).sum(axis=1)
        # Significant risk as the month close and the registry read it (the rule set's
        # switch significant_risk_from): the spec's attestation, or the table's group.
        risk_from = policy_rules(policy).switches.significant_risk_from
        table = tuple(
            ChronicCondition(
                icd10=c.icd10,
                significant_risk=at_significant_risk(
                    Condition(
                        id="c",
                        patient_id="p",
                        coding=Coding.icd10cm(c.icd10),
                        chronic=True,
                        significant_risk=c.significant_risk,
                    ),
                    risk_from,
                ),
                behavioral=c.behavioral,
            )
            for c in pop.conditions
        )
        unique, cond_id = np.unique(masks, return_inverse=True)
        for mask in unique:
            chosen = tuple(c for bit, c in enumerate(table) if int(mask) >> bit & 1)
            sets[chosen] = len(sets)
    cond_sets = list(sets)
    n_conditions = np.array([len(c) for c in cond_sets], dtype=np.int64)[cond_id]

    order_key = rng.random(n)
    consent_u = rng.random(n)
    stay = (
        rng.geometric(out.disenrollment, n)
        if out.disenrollment > 0
        else np.full(n, months + 1, dtype=np.int64)
    )
    events_u = rng.random((months, n, 3))  # ED visit, admission, death
    admit_day = rng.integers(1, 29, (months, n))
    # CCM, PCM and APCM time comes from the replication's stream, here (drawn even when
    # no such family is offered, so the draws after it stay where they are).
    days = np.array(
        [ServicePeriod.month(*study.month(t)).days for t in range(months)], dtype=np.int64
    )
    drawn: dict[int, tuple[Any, Any, Any, Any]] = {}
    _family_draws(rng, seed, index, ServiceFamily.CCM, policy, tier, days, drawn)
    tcm_u = rng.random((months, n, 4))  # contact, visit, readmission, its day

    # -- who may enroll in what (the registry's rules) ---------------------------------
    start_day = pendulum.Date(study.start_year, study.start_month, 1)
    monthly = policy.monthly_families
    family_of = np.full(n, -1, dtype=np.int64)  # the first family a patient takes
    takes = np.zeros((len(monthly), n), dtype=bool)  # each family a patient takes
    fams_of: list[tuple[int, ...]] = [()] * n  # the indices of a patient's families
    for set_index, is_medicare in {
        (int(c), bool(m)) for c, m in zip(cond_id, medicare, strict=True)
    }:
        taken = _families_taken(cond_sets[set_index], is_medicare, start_day, policy)
        if not taken:
            continue
        group = (cond_id == set_index) & (medicare == is_medicare)
        family_of[group] = taken[0]
        takes[list(taken)] |= group
        for patient in np.flatnonzero(group):
            fams_of[patient] = taken
    # Each family's staff time (and RPM's device days), through one function; a patient
    # wants the time of each family they take (CCM, PCM and APCM share one draw, but no
    # patient takes two of them: the engine does not bill them together).
    per_family = [
        _family_draws(rng, seed, index, fam, policy, tier, days, drawn) for fam in monthly
    ]
    contacts = np.zeros((months, n), dtype=np.int64)
    wanted = np.zeros((months, n), dtype=np.int64)
    device = np.zeros((months, n), dtype=np.int64)
    for fam_index, (fam_contacts, _per_contact, fam_wanted, fam_device) in enumerate(per_family):
        mine = takes[fam_index][None, :]
        contacts += np.where(mine, fam_contacts, 0)
        wanted += np.where(mine, fam_wanted, 0)
        if fam_device is not None:
            device = np.where(mine, fam_device, device)
    candidates = np.flatnonzero(family_of >= 0)
    if policy.outreach_order is OutreachOrder.RANDOM:
        ranked = candidates[np.argsort(order_key[candidates], kind="stable")]
    elif policy.outreach_order is OutreachOrder.RISK_TIER:
        ranked = candidates[np.lexsort((order_key[candidates], -tier[candidates]))]
    elif policy.outreach_order is OutreachOrder.CONDITION_COUNT:
        count = n_conditions[candidates]
        ranked = candidates[np.lexsort((order_key[candidates], -count))]
    else:
        if isinstance(pop, PatientPanel) and not all(
            age[i] >= 0 and known_sex[i] for i in candidates
        ):
            raise errors.InvalidValue(
                "the HCC order needs every eligible panel patient's age and sex (female or male)",
                field="policy.outreach_order",
                value=policy.outreach_order,
            )
        scores = np.array(
            [
                _hcc(
                    int(age[i]),
                    bool(female[i]),
                    cond_sets[int(cond_id[i])],
                    policy.hcc_model_year,
                    start_day,
                )
                for i in candidates
            ],
            dtype=float,
        )
        ranked = candidates[np.lexsort((order_key[candidates], -scores))]

    # -- state -------------------------------------------------------------------------
    rules = policy_rules(policy)
    code_family = {rule.code: rule.family for rule in rules.codes}
    takes_rpm = takes[monthly.index(ServiceFamily.RPM)] if ServiceFamily.RPM in monthly else None
    transition_rules = TransitionRules.from_rule_set(rules)
    offers_tcm = ServiceFamily.TCM in policy.families
    credential = policy.staff[0].credential if policy.staff else Credential.RN
    cap = (
        None
        if policy.caseload_cap_per_fte is None
        else int(policy.caseload_cap_per_fte * policy.fte)
    )
    capacity = policy.capacity_minutes
    staff_cost = float(policy.monthly_staff_cost)
    alive = np.ones(n, dtype=bool)
    enrolled = np.zeros(n, dtype=bool)
    started = np.full(n, -1, dtype=np.int64)  # month index of enrollment
    seq = np.full(n, -1, dtype=np.int64)  # order of enrollment
    done = np.zeros(n, dtype=np.int64)  # months enrolled so far
    ever = np.zeros(n, dtype=bool)
    waiting: list[int] = []
    kept: dict[tuple[int, int], Enrollment] = {}  # by patient and family position
    lines_kept: list[ClaimLine] = []
    pointer = 0
    next_seq = 0
    pending: list[tuple[int, pendulum.Date, Any]] = []  # (patient, discharge, episode)
    ed_by_month = np.zeros((months, n), dtype=np.int64)
    enrolled_by_month = np.zeros((months, n), dtype=bool)
    alive_by_month = np.zeros((months, n), dtype=bool)
    rows: list[tuple[str, tuple[tuple[str, float], ...]]] = []
    p_ed = np.array(out.ed_visit)[tier]
    p_adm = np.array(out.admission)[tier]
    p_death = np.array(out.death)[tier]
    readmit_total = discharges_total = 0
    outreach_kept: list[Outreach] = []
    care_kept: list[CareMonth] = []
    stays_kept: list[Stay] = []
    ed_kept: list[tuple[int, str]] = []
    deaths_kept: list[tuple[int, str]] = []

    def tcm_bill(
        patient: int, discharge: pendulum.Date, episode: Any
    ) -> tuple[tuple[str, int, Decimal], ...]:
        contact_day, successful, visit_day, mdm, readmitted = episode
        due = _episode(discharge, transition_rules)
        period = ServicePeriod(start=discharge, end=due[3])
        tcm = (discharge, contact_day, successful, visit_day, mdm, readmitted)
        return _tcm_bill(rules, period, cond_sets[int(cond_id[patient])], tcm)

    for t in range(months):
        year, month = study.month(t)
        period = ServicePeriod.month(year, month)
        key_month = f"{year:04d}-{month:02d}"
        values: dict[str, float] = {}
        revenue: dict[str, float] = {}

        # 1. leaving: the drawn stay is over, or death last month
        leaving = enrolled & ((done >= stay) | ~alive)
        enrolled &= ~leaving
        if record:
            last_day = period.start.subtract(days=1)
            for patient in np.flatnonzero(leaving):
                p = int(patient)
                reason = (
                    DisenrollmentReason.DECEASED
                    if not alive[p]
                    else DisenrollmentReason.PATIENT_REQUEST
                )
                for k in range(len(fams_of[p])):
                    kept[p, k] = kept[p, k].disenroll(last_day, reason)
        # 2. outreach and enrollment (first come, first served under the cap)
        reach = policy.outreach_per_month
        while reach > 0 and pointer < len(ranked):
            patient = int(ranked[pointer])
            pointer += 1
            if not alive[patient]:
                continue
            reach -= 1
            agreed = bool(consent_u[patient] < policy.enrollment_probability)
            if agreed:
                waiting.append(patient)
            if record:
                outreach_kept.append(Outreach(patient=patient, month=key_month, agreed=agreed))
        waiting = [p for p in waiting if alive[p]]
        room = len(waiting) if cap is None else max(0, cap - int(enrolled.sum()))
        for patient in waiting[:room]:
            enrolled[patient] = True
            ever[patient] = True
            started[patient] = t
            if record:
                for k, fam_index in enumerate(fams_of[patient]):
                    fam = monthly[fam_index]
                    kept[patient, k] = Enrollment.start(
                        id=f"e{patient}" if k == 0 else f"e{patient}-{fam.value.lower()}",
                        patient_id=f"p{patient}",
                        program_id=fam.value.lower(),
                        family=fam,
                        billing_practitioner_id=PRACTITIONER,
                        on=period.start,
                    )
            seq[patient] = next_seq
            next_seq += 1
        waiting = waiting[room:]
        enrolled_by_month[t] = enrolled
        alive_by_month[t] = alive

        # 3. outcomes this month
        effect_ed = np.where(enrolled, out.ed_visit_effect, 1.0)
        effect_adm = np.where(enrolled, out.admission_effect, 1.0)
        effect_death = np.where(enrolled, out.death_effect, 1.0)
        ed = alive & (events_u[t, :, 0] < np.minimum(p_ed * effect_ed, 1))
        admitted = alive & (events_u[t, :, 1] < np.minimum(p_adm * effect_adm, 1))
        dies = alive & (events_u[t, :, 2] < np.minimum(p_death * effect_death, 1))
        ed_by_month[t] = ed

        # 4. transitions: admissions, readmissions, discharges home, TCM follow-up
        remaining = capacity
        tcm_minutes = 0
        readmissions = discharges = 0
        for patient in np.flatnonzero(admitted):
            p = int(patient)
            day = pendulum.Date(year, month, int(admit_day[t, p]))
            discharge = day.add(days=policy.tcm.length_of_stay_days)
            if dies[p]:
                if record:
                    stays_kept.append(Stay(patient=p, admitted=day, discharged=None))
                continue
            discharges += 1
            p_back = min(out.readmission * (out.readmission_effect if enrolled[p] else 1.0), 1)
            readmitted = (
                _readmission_day(discharge, float(tcm_u[t, p, 3]))
                if tcm_u[t, p, 2] < p_back
                else None
            )
            if readmitted is not None:
                readmissions += 1
            if not (offers_tcm and medicare[p]):
                if record:
                    stays_kept.append(
                        Stay(patient=p, admitted=day, discharged=discharge, readmitted=readmitted)
                    )
                continue
            contact_due, visit_7, visit_14, _end = _episode(discharge, transition_rules)
            minutes = policy.tcm.contact_minutes
            if remaining >= minutes:
                remaining -= minutes
                tcm_minutes += minutes
                on_time = tcm_u[t, p, 0] < policy.tcm.contact_probability
                contact_day = (
                    contact_due if on_time else contact_due.add(days=policy.tcm.late_contact_days)
                )
                successful = True
            else:
                contact_day, successful = None, False
            u = tcm_u[t, p, 1]
            if u < policy.tcm.visit_7_probability:
                visit, mdm = visit_7, MdmLevel.HIGH
            elif u < policy.tcm.visit_7_probability + policy.tcm.visit_14_probability:
                visit, mdm = visit_14, MdmLevel.MODERATE
            else:
                visit, mdm = None, None
            pending.append((p, discharge, (contact_day, successful, visit, mdm, readmitted)))
            if record:
                stays_kept.append(
                    Stay(
                        patient=p,
                        admitted=day,
                        discharged=discharge,
                        readmitted=readmitted,
                        tcm_contact=contact_day,
                        tcm_visit=visit,
                        tcm_mdm=mdm,
                    )
                )
        readmit_total += readmissions
        discharges_total += discharges
        # TCM is billed once its 30-day period is over (or the study ends)
        still: list[tuple[int, pendulum.Date, Any]] = []
        for p, discharge, episode in pending:
            end = _episode(discharge, transition_rules)[3]
            if end > period.end and t < months - 1:
                still.append((p, discharge, episode))
                continue
            for code, _units, amount in tcm_bill(p, discharge, episode):
                revenue[code] = revenue.get(code, 0.0) + float(amount)
        pending = still

        # 5. staff time: who is called when the minutes wanted exceed the capacity
        members = np.flatnonzero(enrolled)
        draw_month = done[members].clip(max=months - 1)
        want = wanted[draw_month, members]
        calls = contacts[draw_month, members]
        if policy.priority is Priority.RISK:
            order = np.lexsort((seq[members], -tier[members]))
        else:
            order = np.argsort(seq[members], kind="stable")
        used = np.cumsum(want[order])
        served_sorted = used <= remaining
        served = np.zeros(len(members), dtype=bool)
        served[order] = served_sorted
        logged = int(want[served].sum())

        # 6. billing through the engine
        billable = 0
        billed_minutes = 0
        for i, patient in enumerate(members):
            p = int(patient)
            mine = fams_of[p]
            fam = monthly[mine[0]]
            month_drawn = int(draw_month[i])
            if len(mine) == 1:
                family_time: tuple[tuple[ServiceFamily, int, int], ...] = (
                    (fam, int(want[i]), int(calls[i])),
                )
            else:
                family_time = tuple(
                    (
                        monthly[k],
                        int(per_family[k][2][month_drawn, p]),
                        int(per_family[k][0][month_drawn, p]),
                    )
                    for k in mine
                )
            if not served[i]:  # a patient's month is served whole or not at all
                family_time = tuple((f, 0, 0) for f, _minutes, _count in family_time)
            _first, minutes, count = family_time[0]
            if record:
                for (each, _minutes, each_count), k in zip(family_time, mine, strict=True):
                    spent = per_family[k][1][month_drawn, p, :each_count]
                    care_kept.append(
                        CareMonth(
                            patient=p,
                            month=key_month,
                            minutes=tuple(int(m) for m in spent),
                            family=each,
                        )
                    )
            start = pendulum.Date(*study.month(int(started[p])), 1)
            conds = cond_sets[int(cond_id[p])]
            facts: dict[str, Any] = {
                "period": period,
                "conditions": conds,
                "family": fam,
                "start": start,
                "minutes": minutes,
                "contacts": count,
                "credential": credential,
            }
            if len(family_time) > 1:
                facts["concurrent"] = family_time[1:]
            if takes_rpm is not None and takes_rpm[p]:
                facts["device_days"] = int(device[t, p])
                facts["device_setup"] = policy.rpm.device_setup and int(started[p]) == t
            if record:
                result = evaluate(billing_facts(**facts), rules)
                lines_kept.extend(
                    attrs.evolve(line, patient_id=f"p{p}") for line in result.claim_lines
                )
                lines = _bill_lines(result)
            else:
                lines = _month_bill(rules, **facts)
            if lines:
                billable += 1
                if len(family_time) == 1:
                    billed_minutes += minutes
                else:  # the minutes of the families the engine billed a line of
                    billed = {code_family.get(code) for code, _units, _amount in lines}
                    billed_minutes += sum(m for f, m, _count in family_time if f in billed)
            for code, _units, amount in lines:
                revenue[code] = revenue.get(code, 0.0) + float(amount)
        done[members] += 1

        # 7. the month's measures
        enrolled_months = len(members)
        total_revenue = sum(revenue.values())
        values["enrolled_patients"] = float(enrolled_months)
        values["billable_months"] = float(billable)
        values["billable_rate"] = _measure("billable_rate", billable, enrolled_months)
        values["minutes_wanted"] = float(want.sum()) + tcm_minutes
        values["minutes_logged"] = float(logged + tcm_minutes)
        values["minutes_billed"] = float(billed_minutes)
        values["capacity_minutes"] = float(capacity)
        values["staff_utilisation"] = _measure("staff_utilisation", logged + tcm_minutes, capacity)
        values["revenue"] = round(total_revenue, 2)
        for code in sorted(revenue):
            values[f"revenue_{code}"] = round(revenue[code], 2)
        values["staff_cost"] = staff_cost
        values["staff_time_cost"] = round((logged + tcm_minutes) * policy.cost_per_minute, 2)
        values["net_revenue"] = round(total_revenue - staff_cost, 2)
        values["ed_visits"] = float(ed.sum())
        values["admissions"] = float(admitted.sum() + readmissions)
        values["ed_visits_enrolled"] = float((ed & enrolled).sum())
        values["admissions_enrolled"] = float((admitted & enrolled).sum())
        values["deaths"] = float(dies.sum())
        values["discharges"] = float(discharges)
        values["readmissions"] = float(readmissions)
        values["member_months"] = float(alive.sum())
        rows.append((key_month, tuple(values.items())))
        if record:
            ed_kept.extend((int(p), key_month) for p in np.flatnonzero(ed))
            deaths_kept.extend((int(p), key_month) for p in np.flatnonzero(dies))
        alive &= ~dies

    # -- study-level counts: utilisation before and after enrollment --------------------
    month_index = np.arange(months)[:, None]
    before = alive_by_month & ever[None, :] & (month_index < started[None, :])
    totals = (
        ("patients", float(n)),
        ("eligible_patients", float(len(candidates))),
        ("ever_enrolled", float(ever.sum())),
        ("months_before_enrollment", float(before.sum())),
        ("ed_visits_before_enrollment", float((ed_by_month * before).sum())),
        ("enrolled_months", float(enrolled_by_month.sum())),
        ("ed_visits_while_enrolled", float((ed_by_month * enrolled_by_month).sum())),
        ("readmissions", float(readmit_total)),
        ("discharges", float(discharges_total)),
    )
    recording = None
    if record:
        if isinstance(pop, PatientPanel):
            traits = pop.patients
        else:
            sexes = (AdministrativeSex.MALE, AdministrativeSex.FEMALE)
            traits = tuple(
                PanelPatient(
                    id=f"p{i}",
                    conditions=cond_sets[int(cond_id[i])],
                    medicare=bool(medicare[i]),
                    risk_tier=int(tier[i]),
                    age=int(age[i]),
                    sex=sexes[int(female[i])],
                )
                for i in range(n)
            )
        recording = Recording(
            patients=traits,
            outreach=tuple(outreach_kept),
            care=tuple(care_kept),
            stays=tuple(stays_kept),
            ed_visits=tuple(ed_kept),
            deaths=tuple(deaths_kept),
        )
    return Replication(
        index=index,
        months=tuple(rows),
        totals=totals,
        enrollments=tuple(kept[key] for key in sorted(kept)),
        claim_lines=tuple(lines_kept),
        recording=recording,
    )
