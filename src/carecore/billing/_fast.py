"""A fast path for month close: time-only CCM, PCM and BHI patient-months.

Most patient-months in a care-management practice are nothing but logged
minutes. For those, the reference engine's decision depends on the minutes
*per (family, role, credential, interactive)* and on a handful of patient
facts (is consent on file by the month's end, do the conditions qualify, is
there a care plan, is the initiating-visit rule met) — and on the entry dates
only through each line's date of service.

So the fast path collapses a patient-month into that canonical form, asks the
**reference engine** once per distinct form (a cache), and re-dates the lines
from the patient's own entries. No billing rule is written twice: the rules
live only in the engine and the primitives it shares
(:mod:`carecore.billing.primitives`): whose minutes count toward which code,
thresholds, the date of service and the monthly prerequisites are read
there. What lives here is the proof obligation that the canonical form loses
nothing, which
``tests/billing/test_fast_path.py`` checks with hypothesis against the
reference engine on random eligible patient-months.

Anything else (visits, discharges, device data, other practitioners,
RHC/FQHC settings, families outside CCM/PCM/BHI) goes to the reference engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pendulum

from carecore import errors
from carecore.billing._engine import (
    CCM_INITIATING,
    EvaluationResult,
    condition_groups,
    evaluate,
    line_diagnoses,
)
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    CarePlanFact,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
    VisitFact,
)
from carecore.billing.primitives import (
    care_plan_established,
    consent_in_force,
    countable_window,
    counts_toward,
    date_of_service,
    duration_thresholds,
    initiating_visit_met,
    initiating_years,
    minute_class,
    personal_codes,
    threshold_minutes,
    time_families,
    time_track,
)
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from collections.abc import Iterable

    from carecore.billing.rules import RuleSet, Switches
    from carecore.model.period import ServicePeriod

__all__ = ["FAST_FAMILIES", "FAST_SETTING", "FastClose"]

#: Families the fast path takes (time-only months): those whose codes are the
#: engine's time tracks (primitives.TIME_TRACKS).
FAST_FAMILIES = time_families()
#: The setting the fast path evaluates in (others go to the reference engine).
FAST_SETTING = Setting.PHYSICIAN_OFFICE

#: (date, minutes, role, family, credential, interactive) of one time entry.
Entry = tuple[pendulum.Date, int, RoleClass, ServiceFamily, Credential | None, bool]


class FastClose:
    """Evaluate time-only patient-months through a cache of reference results.

    >>> from carecore.billing.cms import cms_rule_set
    >>> from carecore.model import ServicePeriod
    >>> fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
    >>> patient = PatientFacts(id="p1", conditions=[ChronicCondition(icd10="E11.65", significant_risk=True),
    ...     ChronicCondition(icd10="I10", significant_risk=True)],
    ...     consent_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)},
    ...     care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)}, last_visit=pendulum.Date(2025, 6, 1))
    >>> pr = BillingPractitioner(id="dr1", credential=Credential.MD)
    >>> entry = (pendulum.Date(2026, 3, 4), 25, RoleClass.CLINICAL_STAFF, ServiceFamily.CCM, Credential.RN, False)
    >>> fast.evaluate(patient, pr, [entry]).billable
    [('99490', 1)]
    """

    def __init__(self, rules: RuleSet, period: ServicePeriod) -> None:
        from carecore.billing.rules import RuleSet  # noqa: PLC0415
        from carecore.model.period import ServicePeriod  # noqa: PLC0415

        if not isinstance(rules, RuleSet):
            raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
        if not isinstance(period, ServicePeriod):
            raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
        self.rules = rules
        self.period = period
        #: The setting it evaluates in (:data:`FAST_SETTING`).
        self.setting = FAST_SETTING
        self.cache: dict[tuple[object, ...], EvaluationResult] = {}
        self._patients: dict[tuple[object, ...], PatientFacts] = {}
        self._by_raw: dict[tuple[object, ...], PatientFacts] = {}
        self._need: dict[tuple[str, int], int] = {}
        self._condition_shapes: dict[tuple[ChronicCondition, ...], tuple[object, ...] | None] = {}
        # A role whose minutes the engine counts as each class, per family (no credential).
        self._stand_in: dict[tuple[ServiceFamily, int], RoleClass] = {}
        for family in _FAMILY_ORDER:
            for role in RoleClass:
                kind = minute_class(rules.switches, family, role, None)
                self._stand_in.setdefault((family, int(kind)), role)
        self.hits = 0
        self.misses = 0

    def evaluate(
        self, patient: PatientFacts, practitioner: BillingPractitioner, entries: list[Entry]
    ) -> EvaluationResult:
        """The reference result for this time-only patient-month (physician office)."""
        if not isinstance(patient, PatientFacts):
            raise errors.InvalidValue("must be PatientFacts", field="patient", value=patient)
        if not isinstance(practitioner, BillingPractitioner):
            raise errors.InvalidValue(
                "must be a BillingPractitioner", field="practitioner", value=practitioner
            )
        start, end = self.period.start, self.period.end
        inside = [e for e in entries if start <= e[0] <= end]
        if not self.takes(patient, inside):
            return self._reference(patient, practitioner, entries)
        # For CCM, PCM and BHI the engine reads time only as sums per role group:
        # the practitioner personally, other countable staff, and time that never counts.
        switches = self.rules.switches
        totals: dict[tuple[ServiceFamily, int], int] = {}
        for _day, minutes, role, family, credential, _interactive in inside:
            group = (family, role_group(switches, family, role, credential))
            totals[group] = totals.get(group, 0) + minutes
        template = self._template(self._canonical_patient(patient), practitioner, totals)
        return self._personalise(template, patient, practitioner.id, inside)

    def evaluate_facts(self, facts: BillingFacts) -> EvaluationResult | None:
        """The reference result for a store's time-only month, or None when the engine must decide.

        A month from records (:func:`carecore.billing.facts_and_gaps`)
        is time-only when, in the physician office and with one billing
        practitioner, its events are that practitioner's time entries of the
        fast families, besides visits and care-plan events dated before the
        month. Those earlier events decide only the initiating-visit and
        care-plan prerequisites, which the canonical form reads through the
        engine's own primitives (:func:`~carecore.billing.primitives.initiating_visit_met`,
        :func:`~carecore.billing.primitives.care_plan_established`).
        """
        form = self._form(facts)
        if form is None:
            return None
        practitioner, inside, shape = form
        patient = facts.patient
        switches = self.rules.switches
        totals: dict[tuple[ServiceFamily, int], int] = {}
        for _day, minutes, role, family, credential, _interactive in inside:
            group = (family, role_group(switches, family, role, credential))
            totals[group] = totals.get(group, 0) + minutes
        canonical = self._patients.get(shape)
        if canonical is None:
            canonical = self._patients[shape] = self._build_patient(shape)
        template = self._template(canonical, practitioner, totals)
        return self._personalise(template, patient, practitioner.id, inside)

    def shape_of(self, facts: BillingFacts) -> tuple[object, ...] | None:
        """The canonical shape (:meth:`shape`) :meth:`evaluate_facts` reads of *facts*, or None.

        None when :meth:`evaluate_facts` would decline the month (the engine
        decides it). Months with one shape, one practitioner credential and
        the same minutes per role group get one answer, so a caller may keep
        answers by it; this is the check without the evaluation.
        """
        form = self._form(facts)
        return None if form is None else form[2]

    def _form(
        self, facts: BillingFacts
    ) -> tuple[BillingPractitioner, list[Entry], tuple[object, ...]] | None:
        """The practitioner, the month's entries and the shape of a month this path takes, else None."""
        practitioner = self._sole_practitioner(facts)
        if practitioner is None:
            return None
        start = self.period.start
        split = _time_only(facts.events, practitioner.id, start)
        if split is None:
            return None
        entries, visits, plan_events = split
        inside = [e for e in entries if start <= e[0] <= self.period.end]
        if not self.takes(facts.patient, inside):
            return None
        return practitioner, inside, self.shape(facts.patient, practitioner.id, visits, plan_events)

    def _sole_practitioner(self, facts: BillingFacts) -> BillingPractitioner | None:
        """The one billing practitioner of an office month of this close's period, else None."""
        if not isinstance(facts, BillingFacts):
            raise errors.InvalidValue("must be BillingFacts", field="facts", value=facts)
        if (
            facts.period != self.period
            or facts.setting is not FAST_SETTING
            or len(facts.practitioners) != 1
        ):
            return None
        return facts.practitioners[0]

    def takes(self, patient: PatientFacts, inside: list[Entry]) -> bool:
        """Whether the canonical form decides this month (else the reference engine does).

        Not when a minute of the month falls before consent or after the date
        of death (the refusal names those dates), when the patient died by the
        month's end (the date of service is bounded by death), or when the
        conditions are not one billable code per disease (the refusal names the codes).
        """
        if self._condition_shape(patient.conditions) is None:
            return False
        if not inside:
            return True
        death = patient.date_of_death
        if death is not None and death <= self.period.end:
            return False
        for family in _FAMILY_ORDER:
            first, _last = countable_window(patient, family, self.period)
            if any(e[3] is family and e[0] < first for e in inside):
                return False
        return True

    def _condition_shape(
        self, conditions: tuple[ChronicCondition, ...]
    ) -> tuple[object, ...] | None:
        found = self._condition_shapes.get(conditions, False)
        if found is False:
            found = condition_shape(conditions, self.rules.switches)
            if len(self._condition_shapes) < _RAW_CACHE_LIMIT:
                self._condition_shapes[conditions] = found
        return found  # type: ignore[return-value]

    def _reference(
        self, patient: PatientFacts, practitioner: BillingPractitioner, entries: list[Entry]
    ) -> EvaluationResult:
        return evaluate(
            BillingFacts(
                period=self.period,
                setting=FAST_SETTING,
                practitioners=[practitioner],
                patient=patient,
                events=[
                    TimeFact(
                        date=day,
                        minutes=minutes,
                        role=role,
                        practitioner=practitioner.id,
                        family=family,
                        credential=credential,
                        interactive=interactive,
                    )
                    for day, minutes, role, family, credential, interactive in entries
                ],
            ),
            self.rules,
        )

    def template(
        self,
        shape: tuple[object, ...],
        practitioner: BillingPractitioner,
        totals: dict[tuple[ServiceFamily, int], int],
    ) -> EvaluationResult:
        """The cached reference result for a canonical patient-month, before ids and dates are set.

        *shape* is the patient's canonical shape (see :meth:`shape`), *totals*
        the minutes per (family, role group) counted in the month. A columnar
        close computes both for many patients at once and asks here once per
        distinct month.

        >>> from carecore.billing.cms import cms_rule_set
        >>> from carecore.model import ServicePeriod
        >>> fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
        >>> patient = PatientFacts(id="p1", conditions=[ChronicCondition(icd10="E11.65", significant_risk=True),
        ...     ChronicCondition(icd10="I10", significant_risk=True)],
        ...     consent_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)},
        ...     care_plan_on={ServiceFamily.CCM: pendulum.Date(2025, 6, 1)}, last_visit=pendulum.Date(2025, 6, 1))
        >>> pr = BillingPractitioner(id="dr1", credential=Credential.MD)
        >>> fast.template(fast.shape(patient), pr, {(ServiceFamily.CCM, 1): 25}).billable
        [('99490', 1)]
        """
        found = self._patients.get(shape)
        if found is None:
            found = self._patients[shape] = self._build_patient(shape)
        return self._template(found, practitioner, totals)

    def _template(
        self,
        canonical: PatientFacts,
        practitioner: BillingPractitioner,
        totals: dict[tuple[ServiceFamily, int], int],
    ) -> EvaluationResult:
        key = (
            id(canonical),
            practitioner.credential,
            practitioner.primary_care_focal_point,
            tuple(sorted(totals.items(), key=_total_order)),
        )
        template = self.cache.get(key)
        if template is None:
            self.misses += 1
            template = evaluate(self._facts(canonical, practitioner, totals), self.rules)
            self.cache[key] = template
        else:
            self.hits += 1
        return template

    # -- the canonical form ------------------------------------------------------

    def _canonical_patient(self, patient: PatientFacts) -> PatientFacts:
        """Patient facts with every date replaced by one that decides the same way."""
        raw = (
            patient.conditions,
            patient.consent_on,
            patient.care_plan_on,
            patient.established,
            patient.last_visit,
            patient.qmb,
            patient.date_of_death,
        )
        found = self._by_raw.get(raw)
        if found is not None:
            return found
        shape = self.shape(patient)
        found = self._patients.get(shape)
        if found is None:
            found = self._patients[shape] = self._build_patient(shape)
        if len(self._by_raw) < _RAW_CACHE_LIMIT:
            self._by_raw[raw] = found
        return found

    def shape(
        self,
        patient: PatientFacts,
        practitioner: str = "~",
        visits: Iterable[VisitFact] = (),
        plan_events: Iterable[CarePlanFact] = (),
    ) -> tuple[object, ...]:
        """What the rules read of the patient for a time-only month (its canonical shape).

        Per family (BHI, CCM, PCM): consent by the month's end, the
        initiating-visit rule (from the patient facts, or *visits* with the
        billing *practitioner*), and a care plan by then (from the patient
        facts or *plan_events*); the conditions per disease (see
        :func:`condition_shape`); QMB; died by then.

        >>> from carecore.billing.cms import cms_rule_set
        >>> from carecore.model import ServicePeriod
        >>> fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
        >>> fast.shape(PatientFacts(id="p1", conditions=[ChronicCondition(icd10="F33.1", significant_risk=True)]))
        (((False, False, False), (False, False, False), (False, False, False)), (((True, False, None),),), False, False)
        """
        end, period = self.period.end, self.period
        visits, plan_events = tuple(visits), tuple(plan_events)
        flags = []
        for family in _FAMILY_ORDER:
            consented = consent_in_force(patient, family, period)
            # The fast families' initiating visits are CCM's kinds (engine.CCM_INITIATING).
            visit_ok = consented and initiating_visit_met(
                patient, family, period, practitioner, visits, CCM_INITIATING
            )
            planned = care_plan_established(patient, family, period, plan_events)
            flags.append((consented, visit_ok, planned))
        conditions = self._condition_shape(patient.conditions)
        died = patient.date_of_death is not None and patient.date_of_death <= end
        return (tuple(flags), conditions, patient.qmb, died)

    def _build_patient(self, shape: tuple[object, ...]) -> PatientFacts:
        flags, conditions, qmb, died = shape
        anchor = self.period.start
        # The engine asks only: consent by the month's end; a care plan by then; and
        # a visit within the family's initiating years before the consent. With the
        # canonical last visit a year more than that before the month, a consent on
        # that day meets the visit rule and a consent on the first of the month does not.
        last_visit = anchor.subtract(years=max(initiating_years(f) for f in _FAMILY_ORDER) + 1)
        consent: dict[ServiceFamily, pendulum.Date] = {}
        plans: dict[ServiceFamily, pendulum.Date] = {}
        for family, (consented, visit_ok, planned) in zip(_FAMILY_ORDER, flags, strict=True):  # type: ignore[call-overload]
            if consented:
                consent[family] = last_visit if visit_ok else anchor
            if planned:
                plans[family] = anchor
        return PatientFacts(
            id="~",
            conditions=[
                ChronicCondition(
                    icd10=code,
                    significant_risk=risk,
                    behavioral=behavioral,
                    expected_duration_months=months,
                )
                for code, group in zip(_CANONICAL_CODES, conditions or (), strict=False)  # type: ignore[call-overload]
                for risk, behavioral, months in group
            ],
            consent_on=consent,
            care_plan_on=plans,
            established=True,
            last_visit=last_visit,
            qmb=qmb,  # type: ignore[arg-type]
            date_of_death=anchor if died else None,
        )

    def _facts(
        self,
        patient: PatientFacts,
        practitioner: BillingPractitioner,
        totals: dict[tuple[ServiceFamily, int], int],
    ) -> BillingFacts:
        events = [
            TimeFact(
                date=self.period.start,
                minutes=minutes,
                role=self._stand_in[family, group],
                practitioner="~",
                family=family,
            )
            for (family, group), minutes in totals.items()
        ]
        return BillingFacts(
            period=self.period,
            setting=FAST_SETTING,
            practitioners=[attrs.evolve(practitioner, id="~")],
            patient=patient,
            events=events,
        )

    def _personalise(
        self,
        template: EvaluationResult,
        patient: PatientFacts,
        practitioner_id: str,
        entries: list[Entry],
    ) -> EvaluationResult:
        patient_id = patient.id
        switches = self.rules.switches
        # Only ids and dates change: attrs.evolve copies the template's values and
        # checks the changed ones (and the whole value) with its validators.
        ordered = sorted(entries, key=_first) if template.claim_lines else entries
        lines = tuple(
            attrs.evolve(
                line,
                patient_id=patient_id,
                billing_practitioner_id=practitioner_id,
                date_of_service=self._date_of_service(line.code, line.units, line.family, ordered),
                diagnoses=line_diagnoses(patient.conditions, line.family, switches),
            )
            for line in template.claim_lines
        )
        denials = tuple(
            attrs.evolve(d, patient_id=patient_id, practitioner_id=practitioner_id)
            for d in template.denials
        )
        hints = tuple(attrs.evolve(h, practitioner=practitioner_id) for h in template.hints)
        return attrs.evolve(
            template, patient_id=patient_id, claim_lines=lines, denials=denials, hints=hints
        )

    def _date_of_service(
        self, code: str, units: int, family: ServiceFamily, ordered: list[Entry]
    ) -> pendulum.Date:
        """The day the running total of the track's minutes reached this line (as the engine does)."""
        switches = self.rules.switches
        track = time_track(code)
        if track is None:  # pragma: no cover - the fast families bill time-track codes only
            raise errors.InvalidValue("is not a time-track code", field="code", value=code)
        counted = (
            (day, minutes)
            for day, minutes, role, fam, credential, _interactive in ordered
            if fam is family
            and counts_toward(track, minute_class(switches, family, role, credential))
        )
        return date_of_service(switches, self.period, counted, self.need(code, units))

    def need(self, code: str, units: int) -> int:
        """Minutes of the line's track that a line of *code* x *units* needs.

        Its date of service is the day the running total reaches them.

        >>> from carecore.billing.cms import cms_rule_set
        >>> from carecore.model import ServicePeriod
        >>> FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3)).need("99439", 2)
        60
        """
        need = self._need.get((code, units))
        if need is None:
            track = time_track(code)
            if track is None:
                raise errors.InvalidValue("is not a time-track code", field="code", value=code)
            base = self.rules.rule(track.base)
            add_on = None if code == track.base else self.rules.rule(code)
            need = self._need[(code, units)] = threshold_minutes(base, add_on, units)
        return need


def _time_only(
    events: Iterable[object], practitioner: str, start: pendulum.Date
) -> tuple[list[Entry], list[VisitFact], list[CarePlanFact]] | None:
    """A month's events as fast-path entries, earlier visits and earlier care-plan events; None if not time-only."""
    entries: list[Entry] = []
    visits: list[VisitFact] = []
    plan_events: list[CarePlanFact] = []
    for event in events:
        if isinstance(event, TimeFact):
            if event.family not in FAST_FAMILIES or event.practitioner != practitioner:
                return None
            entries.append(
                (
                    event.date,
                    event.minutes,
                    event.role,
                    event.family,
                    event.credential,
                    event.interactive,
                )
            )
        elif isinstance(event, VisitFact) and event.date < start:
            visits.append(event)
        elif isinstance(event, CarePlanFact) and event.date < start:
            plan_events.append(event)
        else:
            return None
    return entries, visits, plan_events


def personal_code(code: str) -> bool:
    """Whether *code* is attained by the practitioner's personal time (else by staff time).

    >>> personal_code("99491"), personal_code("99490")
    (True, False)
    """
    return code in personal_codes()


def role_group(
    switches: Switches, family: ServiceFamily, role: RoleClass, credential: Credential | None
) -> int:
    """The role group of a minute: 0 the practitioner personally, 1 other countable staff, 2 neither.

    >>> from carecore.billing.rules import Switches
    >>> role_group(Switches(), ServiceFamily.CCM, RoleClass.QHP, Credential.LCSW)
    1
    """
    return int(minute_class(switches, family, role, credential))


def condition_shape(
    conditions: tuple[ChronicCondition, ...], switches: Switches
) -> tuple[tuple[tuple[bool, bool, int | None], ...], ...] | None:
    """What the rules read of the conditions: per disease, its codes' classes; None if the fast path declines.

    A class is (significant risk, behavioral, duration class). The fast path
    declines conditions whose refusal would name codes: a code that does not
    count, or a disease with more than one code.

    >>> from carecore.billing.rules import Switches
    >>> condition_shape((ChronicCondition(icd10="I10", significant_risk=True),), Switches())
    (((True, False, None),),)
    >>> condition_shape((ChronicCondition(icd10="E11"),), Switches()) is None
    True
    """
    groups, dropped = condition_groups(conditions, switches)
    if dropped or len(groups) > len(_CANONICAL_CODES):
        return None
    shape = []
    durations = duration_thresholds()
    for group in groups:
        if len({code for code, _ in group}) > 1:
            return None
        shape.append(
            tuple(
                sorted(
                    {
                        (
                            c.significant_risk,
                            c.behavioral,
                            _duration_class(c.expected_duration_months, durations),
                        )
                        for _, c in group
                    },
                    key=repr,
                )
            )
        )
    return tuple(sorted(shape, key=repr))


#: Billable ICD-10-CM codes of distinct categories: the canonical patient's diseases.
_CANONICAL_CODES = (
    "I10",
    "J44.9",
    "N18.4",
    "I50.22",
    "F33.1",
    "E11.9",
    "I48.91",
    "K21.9",
    "M17.11",
    "E03.9",
    "G47.33",
    "E66.9",
    "M81.0",
    "F41.1",
    "I25.10",
    "N40.0",
    "K58.9",
    "G43.909",
    "D64.9",
    "E78.5",
)

_FAMILY_ORDER = tuple(sorted(FAST_FAMILIES, key=lambda f: f.value))
_FAMILY_INDEX = {family: index for index, family in enumerate(_FAMILY_ORDER)}


_RAW_CACHE_LIMIT = 1_000_000


def _first(entry: Entry) -> pendulum.Date:
    return entry[0]


def _total_order(item: tuple[tuple[ServiceFamily, int], int]) -> tuple[int, int]:
    (family, group), _minutes = item
    return _FAMILY_INDEX[family], group


def _duration_class(months: int | None, durations: tuple[int, ...]) -> int | None:
    """The longest of *durations* (longest first) *months* reaches (0: none; None: until death)."""
    if months is None:
        return None
    return next((threshold for threshold in durations if months >= threshold), 0)
