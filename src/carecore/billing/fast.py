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
live only in :mod:`carecore.billing.engine`; what lives here is the proof
obligation that the canonical form loses nothing, which
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
from carecore.billing.engine import (
    PERSONAL_ROLES,
    STAFF_ROLES,
    EvaluationResult,
    evaluate,
    first_unit,
    minutes_for_units,
)
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
)
from carecore.billing.rules import DateOfService
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from carecore.billing.rules import RuleSet
    from carecore.model.period import ServicePeriod

__all__ = ["FAST_FAMILIES", "FastClose"]

#: Families the fast path takes (time-only months).
FAST_FAMILIES = frozenset({ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI})
#: Codes attained by the practitioner's personal time; the others by staff time.
_PERSONAL_CODES = frozenset({"99491", "99437", "99424", "99425", "G0323"})

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
        self.cache: dict[tuple[object, ...], EvaluationResult] = {}
        self._patients: dict[tuple[object, ...], PatientFacts] = {}
        self._by_raw: dict[tuple[object, ...], PatientFacts] = {}
        self._need: dict[tuple[str, int], int] = {}
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
        # As the engine does: minutes before consent do not count.
        after = {family: patient.consent(family) for family in _FAMILY_ORDER}
        inside = [
            e
            for e in entries
            if start <= e[0] <= end and (after[e[3]] is None or e[0] >= after[e[3]])  # type: ignore[operator]
        ]
        # For CCM, PCM and BHI the engine reads time only as sums per role group:
        # the practitioner personally, other countable staff, and time that never counts.
        totals: dict[tuple[ServiceFamily, int], int] = {}
        for _day, minutes, role, family, _credential, _interactive in inside:
            group = (family, _ROLE_GROUP[role])
            totals[group] = totals.get(group, 0) + minutes
        template = self._template(self._canonical_patient(patient), practitioner, totals)
        return self._personalise(template, patient.id, practitioner.id, inside)

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

    def shape(self, patient: PatientFacts) -> tuple[object, ...]:
        """What the rules read of the patient for a time-only month (its canonical shape).

        Per family (BHI, CCM, PCM): consent by the month's end, the
        initiating-visit rule, and a care plan by then; the conditions as
        (significant risk, behavioral, duration class), sorted; QMB; died by then.

        >>> from carecore.billing.cms import cms_rule_set
        >>> from carecore.model import ServicePeriod
        >>> fast = FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))
        >>> fast.shape(PatientFacts(id="p1", conditions=[ChronicCondition(icd10="F33.1", significant_risk=True)]))
        (((False, False, False), (False, False, False), (False, False, False)), ((True, False, None),), False, False)
        """
        end = self.period.end
        flags = []
        for family in _FAMILY_ORDER:
            given = patient.consent(family)
            consented = given is not None and given <= end
            last = patient.last_visit
            visit_ok = (
                consented
                and patient.established
                and last is not None
                and given is not None
                and last >= given.subtract(years=1)
            )
            plan = patient.care_plan(family)
            flags.append((consented, visit_ok, plan is not None and plan <= end))
        conditions = tuple(
            sorted(
                (
                    (c.significant_risk, c.behavioral, _duration_class(c.expected_duration_months))
                    for c in patient.conditions
                ),
                key=repr,
            )
        )
        died = patient.date_of_death is not None and patient.date_of_death <= end
        return (tuple(flags), conditions, patient.qmb, died)

    def _build_patient(self, shape: tuple[object, ...]) -> PatientFacts:
        flags, conditions, qmb, died = shape
        anchor = self.period.start
        # The engine asks only: consent by the month's end; a care plan by then; and
        # a visit within a year before the consent. With the canonical last visit two
        # years before the month, a consent on that day meets the visit rule and a
        # consent on the first of the month does not.
        last_visit = anchor.subtract(years=2)
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
                    icd10="~",
                    significant_risk=risk,
                    behavioral=behavioral,
                    expected_duration_months=months,
                )
                for risk, behavioral, months in conditions  # type: ignore[attr-defined]
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
                role=_GROUP_ROLE[group],
                practitioner="~",
                family=family,
            )
            for (family, group), minutes in totals.items()
        ]
        return BillingFacts(
            period=self.period,
            setting=Setting.PHYSICIAN_OFFICE,
            practitioners=[attrs.evolve(practitioner, id="~")],
            patient=patient,
            events=events,
        )

    def _personalise(
        self,
        template: EvaluationResult,
        patient_id: str,
        practitioner_id: str,
        entries: list[Entry],
    ) -> EvaluationResult:
        # Only ids and dates change: attrs.evolve copies the template's values and
        # checks the changed ones (and the whole value) with its validators.
        ordered = sorted(entries, key=_first) if template.claim_lines else entries
        lines = tuple(
            attrs.evolve(
                line,
                patient_id=patient_id,
                billing_practitioner_id=practitioner_id,
                date_of_service=self._date_of_service(line.code, line.units, line.family, ordered),
            )
            for line in template.claim_lines
        )
        denials = tuple(attrs.evolve(d, patient_id=patient_id) for d in template.denials)
        hints = tuple(attrs.evolve(h, practitioner=practitioner_id) for h in template.hints)
        return attrs.evolve(
            template, patient_id=patient_id, claim_lines=lines, denials=denials, hints=hints
        )

    def _date_of_service(
        self, code: str, units: int, family: ServiceFamily, ordered: list[Entry]
    ) -> pendulum.Date:
        """The day the running total of the track's minutes reached this line (as the engine does)."""
        if self.rules.switches.date_of_service is DateOfService.PERIOD_END:
            return self.period.end
        need = self.need(code, units)
        roles = PERSONAL_ROLES if code in _PERSONAL_CODES else STAFF_ROLES
        total = 0
        for day, minutes, role, fam, _credential, _interactive in ordered:
            if fam is family and role in roles:
                total += minutes
                if total >= need:
                    return day
        return self.period.end

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
            rule = self.rules.rule(code)
            if rule.add_on_to is None:
                need = first_unit(rule)
            else:
                need = minutes_for_units(self.rules.rule(rule.add_on_to).minutes or 0, rule, units)
            self._need[(code, units)] = need
        return need


def personal_code(code: str) -> bool:
    """Whether *code* is attained by the practitioner's personal time (else by staff time).

    >>> personal_code("99491"), personal_code("99490")
    (True, False)
    """
    return code in _PERSONAL_CODES


#: Role groups the engine tells apart for CCM/PCM/BHI, and a role standing for each.
_ROLE_GROUP = {
    RoleClass.PHYSICIAN: 0,
    RoleClass.QHP: 0,
    RoleClass.CLINICAL_STAFF: 1,
    RoleClass.BH_CARE_MANAGER: 1,
    RoleClass.AUXILIARY: 2,
    RoleClass.NON_CLINICAL: 2,
}
_GROUP_ROLE = {0: RoleClass.PHYSICIAN, 1: RoleClass.CLINICAL_STAFF, 2: RoleClass.NON_CLINICAL}
_FAMILY_ORDER = tuple(sorted(FAST_FAMILIES, key=lambda f: f.value))
_FAMILY_INDEX = {family: index for index, family in enumerate(_FAMILY_ORDER)}


_RAW_CACHE_LIMIT = 1_000_000


def _first(entry: Entry) -> pendulum.Date:
    return entry[0]


def _total_order(item: tuple[tuple[ServiceFamily, int], int]) -> tuple[int, int]:
    (family, group), _minutes = item
    return _FAMILY_INDEX[family], group


def _duration_class(months: int | None) -> int | None:
    """Expected durations the rules tell apart: until death, 12+, 3-11, under 3 months."""
    if months is None:
        return None
    if months >= 12:  # noqa: PLR2004
        return 12
    return 3 if months >= 3 else 0  # noqa: PLR2004
