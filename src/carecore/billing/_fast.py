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

import bisect
import operator
import re
from typing import TYPE_CHECKING, Any, TypeVar

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
    TIME_TRACKS,
    MinuteClass,
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
from carecore.billing.rules import TimeRule
from carecore.model.activity import MAX_ENTRY_MINUTES
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

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
        #: Per canonical month: the engine's result, and the texts of :func:`_texts` for
        #: this month's minutes when they differ from the result's own (see _Band).
        self.cache: dict[tuple[object, ...], Filled] = {}
        self._patients: dict[tuple[object, ...], PatientFacts] = {}
        self._by_raw: dict[tuple[object, ...], PatientFacts] = {}
        self._need: dict[tuple[str, int], int] = {}
        self._condition_shapes: dict[tuple[ChronicCondition, ...], tuple[object, ...] | None] = {}
        # Results per band of minutes (see _band_key), and each family's tracks' band edges.
        self._bands: dict[tuple[object, ...], _Band] = {}
        self._edges: dict[ServiceFamily, tuple[tuple[frozenset[int], tuple[int, ...]], ...]] = {}
        # A role whose minutes the engine counts as each class, per family (no credential).
        self._stand_in: dict[tuple[ServiceFamily, int], RoleClass] = {}
        # The init arguments of the cached values copied for each patient (see _evolve).
        self._arguments: dict[int, tuple[Any, dict[str, Any]]] = {}
        for family in _FAMILY_ORDER:
            for role in RoleClass:
                kind = minute_class(rules.switches, family, role, None)
                self._stand_in.setdefault((family, int(kind)), role)
        #: Months the cache answered, months it could not, and the engine's evaluations
        #: (a new band of minutes takes one per role group besides its own; see _band_key).
        self.hits = 0
        self.misses = 0
        self.evaluations = 0

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
        template, texts = self._template(self._canonical_patient(patient), practitioner, totals)
        return self._personalise(template, texts, patient, practitioner.id, inside)

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
        template, texts = self._template(self.canonical_patient(shape), practitioner, totals)
        return self._personalise(template, texts, patient, practitioner.id, inside)

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
        template, texts = self._template(self.canonical_patient(shape), practitioner, totals)
        return template if texts is None else _with_texts(template, texts)

    def _template(
        self,
        canonical: PatientFacts,
        practitioner: BillingPractitioner,
        totals: dict[tuple[ServiceFamily, int], int],
    ) -> Filled:
        """The cached result for a canonical month, and the texts its minutes give (None: its own)."""
        items = tuple(sorted(totals.items(), key=_total_order))
        key = (id(canonical), practitioner.credential, practitioner.primary_care_focal_point, items)
        found = self.cache.get(key)
        if found is not None:
            self.hits += 1
            return found
        band = self._band_key(items)
        if band is not None:
            band_key = (*key[:3], band)
            known = self._bands.get(band_key)
            if known is None:  # the engine's result here starts the band
                known = self._bands[band_key] = self._new_band(canonical, practitioner, items, band)
                found = self.cache[key] = (known.result, None)
                return found
            texts = known.fill(items)
            if texts is not None:
                self.hits += 1
                found = self.cache[key] = (known.result, texts)
                return found
        self.misses += 1
        self.evaluations += 1
        template = evaluate(self.canonical_facts(canonical, practitioner, dict(items)), self.rules)
        found = self.cache[key] = (template, None)
        return found

    # -- minute bands ------------------------------------------------------------------

    def _band_key(self, items: tuple[tuple[tuple[ServiceFamily, int], int], ...]) -> object:
        """Which band of every time track's minutes *items* fall in, or None (kept exact).

        A band is bounded by every minute count at which a code of the track
        reaches a unit (:func:`~carecore.billing.primitives.threshold_minutes`,
        add-on units past their cap included) and the count a minute before
        it (where a hint says "1 more minute"), so that the engine bills
        every month of a band alike. Whether each role group logged no
        minute, one, or more is part of the key: a text quoting a group's
        minutes (or a family's, when only one group logged any) says "1 PCM
        minute was" but "5 PCM minutes were", which no shift of the number
        turns one into the other. Tracks past :data:`_BAND_LIMIT` minutes,
        and minutes of a family outside :data:`FAST_FAMILIES` (a columnar
        close's RPM time, say), are kept exact.
        """
        key: list[tuple[object, ...]] = []
        for (family, group), minutes in items:
            if family not in FAST_FAMILIES:  # minutes the time tracks do not bound (RPM's, say)
                return None
            key.append((family, group, min(minutes, 2)))  # none, one, or more
        for family, tracks in self._family_tracks(tuple(f for (f, _g), _m in items)):
            for groups, edges in tracks:
                total = sum(m for (f, g), m in items if f is family and g in groups)
                if total > _BAND_LIMIT:
                    return None
                key.append((family, groups, bisect.bisect_right(edges, total)))
        return tuple(key)

    def _family_tracks(
        self, families: tuple[ServiceFamily, ...]
    ) -> list[tuple[ServiceFamily, tuple[tuple[frozenset[int], tuple[int, ...]], ...]]]:
        found = []
        for family in dict.fromkeys(families):
            tracks = self._edges.get(family)
            if tracks is None:
                tracks = self._edges[family] = _track_edges(self.rules, family)
            found.append((family, tracks))
        return found

    def _new_band(
        self,
        canonical: PatientFacts,
        practitioner: BillingPractitioner,
        items: tuple[tuple[tuple[ServiceFamily, int], int], ...],
        band: object,
    ) -> _Band:
        """The engine's result at *items* and at one minute more (or less) of each role group."""
        self.misses += 1
        self.evaluations += 1
        anchor = dict(items)
        results = [evaluate(self.canonical_facts(canonical, practitioner, anchor), self.rules)]
        steps: list[tuple[tuple[ServiceFamily, int], int]] = []
        for group, minutes in items:
            for step in (1, -1):
                moved = {**anchor, group: minutes + step}
                if moved[group] < 0:
                    continue
                if self._band_key(tuple(sorted(moved.items(), key=_total_order))) != band:
                    continue
                self.evaluations += 1
                results.append(
                    evaluate(self.canonical_facts(canonical, practitioner, moved), self.rules)
                )
                steps.append((group, step))
                break
        return _Band.fit(anchor, results, steps)

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
        found = self.canonical_patient(self.shape(patient))
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

    def canonical_patient(self, shape: tuple[object, ...]) -> PatientFacts:
        """The canonical patient of *shape* (see :meth:`shape`), built once per shape."""
        found = self._patients.get(shape)
        if found is None:
            found = self._patients[shape] = self._build_patient(shape)
        return found

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

    def canonical_facts(
        self,
        patient: PatientFacts,
        practitioner: BillingPractitioner,
        totals: dict[tuple[ServiceFamily, int], int],
        extra: Iterable[object] = (),
    ) -> BillingFacts:
        """The facts of a canonical month, for the engine: the month the cached results are of.

        *patient* is a canonical patient (see :meth:`canonical_patient`),
        possibly with more the caller decides on (a remote-monitoring close
        adds RPM consent); *totals* the minutes per (family, role group), each
        given as stand-in time entries on the month's first day; *extra* more
        events (remote-monitoring time and readings), after the time. The
        practitioner is *practitioner* with the stand-in id ``~``, in the
        physician office.

        >>> from carecore.billing.cms import cms_rule_set
        >>> from carecore.model import ServicePeriod
        >>> fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
        >>> patient = fast.canonical_patient(fast.shape(PatientFacts(id="p1",
        ...     conditions=[ChronicCondition(icd10="F33.1", significant_risk=True)])))
        >>> pr = BillingPractitioner(id="dr1", credential=Credential.MD)
        >>> facts = fast.canonical_facts(patient, pr, {(ServiceFamily.BHI, 1): 25})
        >>> [(e.date.isoformat(), e.minutes, e.family.value) for e in facts.events]
        [('2026-03-01', 25, 'BHI')]
        >>> facts.practitioners[0].id
        '~'

        A key the fast path does not cache (a family or role group it does not
        reduce) or a minute count that is not a whole number of at least zero
        is refused with :class:`~carecore.errors.InvalidValue` naming
        ``totals``.
        """
        for key, minutes in totals.items():
            if key not in self._stand_in:
                raise errors.InvalidValue(
                    "must be a (family, role group) of a time track the fast path caches",
                    field="totals",
                    value=key,
                )
            if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
                raise errors.InvalidValue(
                    "must be a whole number of minutes, at least 0",
                    field=f"totals[{key[0].value}, {key[1]}]",
                    value=minutes,
                )
        events: list[object] = [
            TimeFact(
                date=self.period.start,
                minutes=piece,
                role=self._stand_in[family, group],
                practitioner="~",
                family=family,
            )
            for (family, group), minutes in totals.items()
            for piece in stand_in_pieces(minutes)
        ]
        events.extend(extra)
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
        texts: list[str] | None,
        patient: PatientFacts,
        practitioner_id: str,
        entries: list[Entry],
    ) -> EvaluationResult:
        """*template* for this patient: ids, dates of service, diagnoses, and *texts* when given."""
        patient_id = patient.id
        switches = self.rules.switches
        # Only ids, dates and the texts' minutes change: _evolve copies the template's
        # values and checks the changed ones (and the whole value) with its validators.
        known = self._arguments
        ordered = sorted(entries, key=_first) if template.claim_lines else entries
        lines = tuple(
            _evolve(
                line,
                known,
                patient_id=patient_id,
                billing_practitioner_id=practitioner_id,
                date_of_service=self._date_of_service(line.code, line.units, line.family, ordered),
                diagnoses=line_diagnoses(patient.conditions, line.family, switches),
            )
            for line in template.claim_lines
        )
        if texts is None:
            denials = tuple(
                _evolve(d, known, patient_id=patient_id, practitioner_id=practitioner_id)
                for d in template.denials
            )
            hints = tuple(_evolve(h, known, practitioner=practitioner_id) for h in template.hints)
        else:
            at, count = len(template.denials), len(template.hints)
            denials = tuple(
                _evolve(
                    d, known, patient_id=patient_id, practitioner_id=practitioner_id, message=text
                )
                for d, text in zip(template.denials, texts, strict=False)
            )
            hints = tuple(
                _evolve(
                    h,
                    known,
                    practitioner=practitioner_id,
                    message=text,
                    minutes_needed=None if need == "" else int(need),
                )
                for h, text, need in zip(
                    template.hints, texts[at : at + count], texts[at + count :], strict=True
                )
            )
        return _evolve(
            template, known, patient_id=patient_id, claim_lines=lines, denials=denials, hints=hints
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


class _Band:
    """The engine's results over one band of minutes: one result, with its numbers as minutes move.

    Built from the engine's result at one point of the band (the anchor) and
    at a minute more or less of each role group, where that stays in the
    band. Within a band the engine bills alike and words alike; only the
    minutes its texts quote (and a hint's ``minutes_needed``) move, one for
    one with the minutes logged. :meth:`fit` reads, for each number of
    each text, how much it moves per minute of each group; the results must
    otherwise be equal, else the band is kept exact (:attr:`exact`).
    ``tests/billing/test_fast_path.py`` holds :meth:`fill` equal to the
    engine on generated months and on every minute count around the thresholds.
    """

    __slots__ = ("anchor", "exact", "moves", "result", "texts")

    def __init__(
        self,
        anchor: dict[tuple[ServiceFamily, int], int],
        result: EvaluationResult,
        texts: list[tuple[list[str], list[dict[tuple[ServiceFamily, int], int]]]],
        moves: frozenset[tuple[ServiceFamily, int]],
        *,
        exact: bool,
    ) -> None:
        self.anchor = anchor
        self.result = result
        #: Per text of the result (denial messages, then hint messages and minutes needed):
        #: its pieces (numbers at odd positions) and how each number moves per group's minute.
        self.texts = texts
        #: The groups whose moves are known.
        self.moves = moves
        self.exact = exact

    @classmethod
    def fit(
        cls,
        anchor: dict[tuple[ServiceFamily, int], int],
        results: list[EvaluationResult],
        steps: list[tuple[tuple[ServiceFamily, int], int]],
    ) -> _Band:
        """The band read from *results*: the anchor's, then one per step of *steps*."""
        first = results[0]
        frame = _frame(first)
        pieces = [_NUMBER.split(text) for text in _texts(first)]
        texts: list[tuple[list[str], list[dict[tuple[ServiceFamily, int], int]]]] = [
            (split, [{} for _ in split[1::2]]) for split in pieces
        ]
        for result, (group, step) in zip(results[1:], steps, strict=True):
            if _frame(result) != frame:
                return cls(anchor, first, [], frozenset(), exact=True)
            moved = [_NUMBER.split(text) for text in _texts(result)]
            for (split, slopes), other in zip(texts, moved, strict=True):
                if other[0::2] != split[0::2]:
                    return cls(anchor, first, [], frozenset(), exact=True)
                for at, (mine, theirs) in enumerate(zip(split[1::2], other[1::2], strict=True)):
                    slope = (int(theirs) - int(mine)) * step
                    if slope:
                        if mine != str(int(mine)):  # a number spelled with leading zeros
                            return cls(anchor, first, [], frozenset(), exact=True)
                        slopes[at][group] = slope
        return cls(anchor, first, texts, frozenset(group for group, _ in steps), exact=False)

    def fill(self, items: tuple[tuple[tuple[ServiceFamily, int], int], ...]) -> list[str] | None:
        """The texts (:func:`_texts`) of the engine's result for the minutes *items* of this band.

        None when the band cannot tell them; :attr:`result` with these texts
        is the engine's result.
        """
        if self.exact:
            return None
        anchor = self.anchor
        moved = {
            group: minutes - anchor[group] for group, minutes in items if minutes != anchor[group]
        }
        if not moved:
            return ["".join(split) for split, _slopes in self.texts]
        if not moved.keys() <= self.moves:
            return None
        filled: list[str] = []
        for split, slopes in self.texts:
            pieces = list(split)
            for at, slope in enumerate(slopes):
                if slope:
                    value = int(split[2 * at + 1]) + sum(
                        by * moved.get(group, 0) for group, by in slope.items()
                    )
                    if value < 0:
                        return None
                    pieces[2 * at + 1] = str(value)
            filled.append("".join(pieces))
        return filled


#: A cached month's result and, when its minutes' texts differ from the result's own, those texts.
Filled = tuple[EvaluationResult, "list[str] | None"]

_V = TypeVar("_V")
#: Per attrs class: its init arguments' names and a getter of their values (see _evolve).
_REBUILD: dict[type[Any], tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]] = {}


def _evolve(value: _V, known: dict[int, tuple[Any, dict[str, Any]]], /, **changes: Any) -> _V:
    """``attrs.evolve(value, **changes)``: a new value of the class, every init argument checked.

    The same call attrs.evolve makes (each init field's value, by its alias,
    then *changes*), with the values read by one getter made once per class,
    and once per value: a cached template's lines, denials and hints are
    copied for thousands of patients, so *known* (a fast path's, by the
    value's id, the value kept beside them so that its id stays its own)
    holds each one's arguments.
    """
    found = known.get(id(value))
    if found is None or found[0] is not value:
        cls = type(value)
        rebuild = _REBUILD.get(cls)
        if rebuild is None:
            fields = [a for a in attrs.fields(cls) if a.init]  # type: ignore[arg-type]
            many = operator.attrgetter(*(a.name for a in fields))
            names = tuple(a.alias for a in fields)
            get: Callable[[Any], tuple[Any, ...]] = (
                many if len(names) > 1 else (lambda v: (many(v),))
            )
            rebuild = _REBUILD[cls] = (names, get)
        names, get = rebuild
        found = (value, dict(zip(names, get(value), strict=True)))
        if len(known) >= _ARGUMENTS_LIMIT:
            known.clear()
        known[id(value)] = found
    return type(value)(**{**found[1], **changes})


#: The most values whose arguments one fast path keeps (see _evolve).
_ARGUMENTS_LIMIT = 20_000


#: A run of digits (the numbers a result's texts quote).
_NUMBER = re.compile(r"(\d+)")


def _texts(result: EvaluationResult) -> list[str]:
    """The texts of *result* that quote minutes: denial messages, then hints' messages and needs."""
    return [
        *(d.message for d in result.denials),
        *(h.message for h in result.hints),
        *("" if h.minutes_needed is None else str(h.minutes_needed) for h in result.hints),
    ]


def _frame(result: EvaluationResult) -> EvaluationResult:
    """*result* without the texts of :func:`_texts`."""
    return _with_texts(result, None)


def _with_texts(result: EvaluationResult, texts: list[str] | None) -> EvaluationResult:
    """*result* with the texts of :func:`_texts` replaced by *texts* (None: blanked)."""
    denials, hints = result.denials, result.hints
    if texts is None:
        texts = ["-"] * (len(denials) + 2 * len(hints))
        needs: list[int | None] = [None] * len(hints)
    else:
        needs = [None if text == "" else int(text) for text in texts[len(denials) + len(hints) :]]
    at = len(denials)
    return attrs.evolve(
        result,
        denials=tuple(
            attrs.evolve(d, message=text) for d, text in zip(denials, texts, strict=False)
        ),
        hints=tuple(
            attrs.evolve(h, message=text, minutes_needed=need)
            for h, text, need in zip(hints, texts[at:], needs, strict=False)
        ),
    )


def _track_edges(
    rules: RuleSet, family: ServiceFamily
) -> tuple[tuple[frozenset[int], tuple[int, ...]], ...]:
    """Per time track of *family*: the role groups it counts, and the edges of its minute bands.

    The edges are 1, every minute count at which a code of the track reaches
    a unit under the rule set's time rules and every rule its switches set
    (:func:`~carecore.billing.primitives.threshold_minutes`; an add-on's
    units past its cap too, since a refusal quotes them, up to
    :data:`_BAND_LIMIT`), and the count one minute before each.
    """
    overrides: set[TimeRule | None] = {None}
    overrides.update(
        value
        for value in attrs.asdict(rules.switches, recurse=False).values()
        if isinstance(value, TimeRule)
    )
    found = []
    for track in TIME_TRACKS:
        if track.family is not family:
            continue
        groups = frozenset(int(kind) for kind in MinuteClass if counts_toward(track, kind))
        base = rules.by_code.get(track.base)
        add_on = None if track.add_on is None else rules.by_code.get(track.add_on)
        reached = {1}
        if base is not None:
            for override in overrides:
                reached.add(threshold_minutes(base, None, 1, override))
                if add_on is None or not add_on.minutes:
                    continue
                units = 1
                while (minutes := threshold_minutes(base, add_on, units, override)) <= _BAND_LIMIT:
                    reached.add(minutes)
                    units += 1
        edges = sorted(reached | {minutes - 1 for minutes in reached})
        found.append((groups, tuple(edges)))
    return tuple(found)


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


def stand_in_pieces(minutes: int) -> list[int]:
    """*minutes* of a canonical month's role group as stand-in entries of at most a day's minutes each.

    The engine reads a role group's time as its sum; one entry may hold no
    more than a day (1,440 minutes), so a month whose group logged more (two
    800-minute rows, say) is given as several entries of the same sum.

    >>> stand_in_pieces(25), stand_in_pieces(3000)
    ([25], [1440, 1440, 120])
    """
    whole, rest = divmod(minutes, MAX_ENTRY_MINUTES)
    return [MAX_ENTRY_MINUTES] * whole + ([rest] if rest else [])


#: Minutes of a track up to which months are cached by band (see FastClose._band_key).
_BAND_LIMIT = 600


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
