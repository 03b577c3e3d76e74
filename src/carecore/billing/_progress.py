"""Where a month stands against the next time threshold, as the engine itself reports it.

Worklists, reminders and reports ask "how many more minutes reach which
code?". The answer is not computed here: :func:`month_progress` evaluates the
month so far with :func:`carecore.billing.evaluate` and reads the engine's
hints, so whose minutes count (roles, credentials, the consent date, the
billing practitioner) and where the thresholds lie are decided in one place.

>>> import pendulum
>>> from carecore.billing import cms_rule_set
>>> from carecore.billing.facts import (BillingFacts, BillingPractitioner, PatientFacts,
...     Setting, TimeFact)
>>> from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod
>>> def minutes(day, n, role):
...     return TimeFact(date=pendulum.Date(2026, 3, day), minutes=n, role=role,
...         practitioner="dr1", family=ServiceFamily.CCM)
>>> facts = BillingFacts(period=ServicePeriod.month(2026, 3), setting=Setting.PHYSICIAN_OFFICE,
...     practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
...     patient=PatientFacts(id="p1"),
...     events=[minutes(2, 12, RoleClass.CLINICAL_STAFF), minutes(4, 5, RoleClass.AUXILIARY)])
>>> (p,) = month_progress(facts, cms_rule_set(2026))
>>> p.code, p.minutes_needed
('99490', 8)
>>> p.message
'8 more clinical-staff minutes reach 99490'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from carecore import errors
from carecore.billing._engine import EvaluationResult, evaluate
from carecore.billing.facts import TimeFact
from carecore.model import Credential, DenialReason, RoleClass, ServiceFamily, TimeEntry

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    import pendulum

    from carecore.billing._month import MonthRecords
    from carecore.billing.facts import BillingFacts
    from carecore.billing.rules import RuleSet
    from carecore.model import ServicePeriod

__all__ = [
    "NEAR_MINUTES",
    "TimeProgress",
    "counted_minutes",
    "month_progress",
    "records_progress",
    "time_progress",
]


#: A month this many minutes or fewer from the engine's next code is *near* it: one
#: call away (the program report counts these patients; the worklist lists every one).
NEAR_MINUTES = 5


@frozen(kw_only=True)
class TimeProgress:
    """The next time-based code one practitioner can reach for one family, and how far it is.

    ``message`` is the engine's own sentence, which says whose minutes
    count ("8 more clinical-staff minutes reach 99490"). ``refusal`` is set
    when the month close was asked (:func:`records_progress`) and would still
    refuse the code once the minutes are logged: the close's reasons, in its
    words (a practitioner who may not bill the family, a missing care plan).

    >>> TimeProgress(patient_id="p1", practitioner="dr1", family=ServiceFamily.CCM,
    ...     code="99439", minutes_needed=13, message="13 more clinical-staff minutes reach 99439").code
    '99439'
    """

    patient_id: str
    practitioner: str
    family: ServiceFamily
    code: str
    minutes_needed: int
    message: str
    refusal: str | None = None


def time_progress(result: EvaluationResult) -> tuple[TimeProgress, ...]:
    """The nearest next time code per practitioner and family, read from *result*'s hints.

    Only hints that name a number of minutes are read. When the engine gives
    more than one for a practitioner and family (PCM below its threshold
    names both tracks), the one needing the fewest minutes is taken, the
    engine's first on a tie. A family the engine gives no such hint for
    (every unit reached, or a month more minutes would not make billable)
    has no entry.
    """
    if not isinstance(result, EvaluationResult):
        raise errors.InvalidValue("must be an EvaluationResult", field="result", value=result)
    best: dict[tuple[str, ServiceFamily], TimeProgress] = {}
    for hint in result.hints:
        needed = hint.minutes_needed
        if needed is None or needed <= 0:
            continue
        key = (hint.practitioner, hint.family)
        known = best.get(key)
        if known is None or needed < known.minutes_needed:
            best[key] = TimeProgress(
                patient_id=result.patient_id,
                practitioner=hint.practitioner,
                family=hint.family,
                code=hint.code,
                minutes_needed=needed,
                message=hint.message,
            )
    return tuple(best[key] for key in sorted(best, key=lambda k: (k[0], k[1].value)))


def month_progress(
    facts: BillingFacts,
    rules: RuleSet,
    *,
    expected: Iterable[tuple[str, ServiceFamily]] = (),
    result: EvaluationResult | None = None,
) -> tuple[TimeProgress, ...]:
    """Evaluate *facts* (a month so far) under *rules* and return :func:`time_progress` of it.

    *result* is the evaluation of *facts* when the caller has made it
    already (a month close hands out both); it is not made again.

    The engine names no next code for a family no one has logged countable
    time for yet (it says nothing, or refuses the month because no minute
    counts). So for each ``(practitioner, family)`` in *expected* (the
    enrollments being followed) without a hint, the engine is asked about the
    same month with one clinical-staff minute added (on the period's first
    day, or the consent day when later): its answer, plus that minute, is the
    progress. A month the engine has decided (every unit reached, or refused
    for a reason more minutes do not change) gives no hint with that minute
    either, and so no entry; nor does a family whose minutes clinical staff
    cannot count toward.

    >>> import pendulum
    >>> from carecore.billing import cms_rule_set
    >>> from carecore.billing.facts import BillingFacts, BillingPractitioner, PatientFacts, Setting
    >>> from carecore.model import Credential, ServicePeriod
    >>> empty = BillingFacts(period=ServicePeriod.month(2026, 3), setting=Setting.PHYSICIAN_OFFICE,
    ...     practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
    ...     patient=PatientFacts(id="p1"), events=[])
    >>> month_progress(empty, cms_rule_set(2026))
    ()
    >>> [(p.code, p.minutes_needed, p.message)
    ...  for p in month_progress(empty, cms_rule_set(2026), expected=[("dr1", ServiceFamily.CCM)])]
    [('99490', 20, '20 more clinical-staff minutes reach 99490')]
    """
    if result is None:
        result = evaluate(facts, rules)
    elif not isinstance(result, EvaluationResult):
        raise errors.InvalidValue("must be an EvaluationResult", field="result", value=result)
    found = {(p.practitioner, p.family): p for p in time_progress(result)}
    known = {p.id for p in facts.practitioners}
    for practitioner, family in dict.fromkeys(expected):
        if (practitioner, family) in found or practitioner not in known:
            continue
        first = _probe(facts, rules, practitioner, family)
        if first is not None:
            found[practitioner, family] = first
    return tuple(found[key] for key in sorted(found, key=lambda k: (k[0], k[1].value)))


def _probe(
    facts: BillingFacts, rules: RuleSet, practitioner: str, family: ServiceFamily
) -> TimeProgress | None:
    day = facts.period.start
    consent = facts.patient.consent(family)
    if consent is not None and consent > day:
        day = consent
    if day > facts.period.end:
        return None
    minute = TimeFact(
        date=day,
        minutes=1,
        role=RoleClass.CLINICAL_STAFF,
        practitioner=practitioner,
        family=family,
        credential=Credential.RN,
    )
    probed = evaluate(attrs.evolve(facts, events=(*facts.events, minute)), rules)
    answer = next(
        (p for p in time_progress(probed) if (p.practitioner, p.family) == (practitioner, family)),
        None,
    )
    if answer is None:
        return None
    needed = answer.minutes_needed + 1
    return attrs.evolve(
        answer,
        minutes_needed=needed,
        message=f"{needed} more clinical-staff minutes reach {answer.code}",
    )


def counted_minutes(
    facts: BillingFacts, rules: RuleSet, *, practitioner: str, family: ServiceFamily
) -> int | None:
    """The minutes the engine counts toward *practitioner*'s next *family* code in *facts*.

    Found by asking the engine about the month without each of that
    practitioner's *family* time entries in turn: an entry counts when
    leaving it out changes the engine's answer (:func:`month_progress`).
    None when the engine names no next code (every unit reached, or the
    month decided), where leaving one out may change nothing.

    >>> import pendulum
    >>> from carecore.billing import cms_rule_set
    >>> from carecore.billing.facts import BillingFacts, BillingPractitioner, PatientFacts, Setting
    >>> from carecore.model import ServicePeriod
    >>> def minutes(day, n, role):
    ...     return TimeFact(date=pendulum.Date(2026, 3, day), minutes=n, role=role,
    ...         practitioner="dr1", family=ServiceFamily.CCM)
    >>> facts = BillingFacts(period=ServicePeriod.month(2026, 3), setting=Setting.PHYSICIAN_OFFICE,
    ...     practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
    ...     patient=PatientFacts(id="p1"), events=[minutes(2, 12, RoleClass.CLINICAL_STAFF),
    ...     minutes(3, 5, RoleClass.PHYSICIAN), minutes(4, 5, RoleClass.AUXILIARY)])
    >>> counted_minutes(facts, cms_rule_set(2026), practitioner="dr1", family=ServiceFamily.CCM)
    17
    """
    if not isinstance(family, ServiceFamily):
        raise errors.InvalidValue("must be a ServiceFamily", field="family", value=family)
    wanted = [(practitioner, family)]

    def answer(f: BillingFacts) -> tuple[str, int] | None:
        found = [
            p
            for p in month_progress(f, rules, expected=wanted)
            if (p.practitioner, p.family) == wanted[0]
        ]
        return None if not found else (found[0].code, found[0].minutes_needed)

    now = answer(facts)
    if now is None:
        return None
    total = 0
    events = facts.events
    for index, event in enumerate(events):
        if not (
            isinstance(event, TimeFact)
            and event.practitioner == practitioner
            and event.family is family
        ):
            continue
        without = attrs.evolve(facts, events=(*events[:index], *events[index + 1 :]))
        if answer(without) != now:
            total += event.minutes
    return total


def records_progress(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    *,
    expected: Mapping[str, Iterable[tuple[str, ServiceFamily]]] | None = None,
    on: pendulum.Date | None = None,
    check: bool = True,
) -> Iterator[tuple[BillingFacts, EvaluationResult, tuple[TimeProgress, ...]]]:
    """Each patient's month closed from *records* (as a month close does), with its time progress.

    The results are those of :func:`carecore.billing.evaluate_records`
    (so a refusal the close adds, such as coverage other than Medicare
    Part B, counts). For each ``(practitioner, family)`` that *expected*
    lists for a patient without a next code, the close is run again with one
    clinical-staff minute added to the records (on the period's first day,
    or the consent day when later), as :func:`month_progress` asks the
    engine: its answer plus that minute is the progress, and a month decided
    either way gives none (when that minute does not count toward the code
    the engine names, its answer stands as it is). Minutes asked about are
    logged on *on* (default:
    the period's first day), or on the consent day when that is later.

    With *check*, each expected pair's advice is followed: the close is run
    again with the advised minutes added, by clinical staff and else by the
    practitioner personally. When neither reaches the code, the progress
    carries the close's ``refusal``.

    >>> import pendulum
    >>> from carecore.billing import cms_rule_set
    >>> from carecore.billing._month import MonthRecords
    >>> from carecore.model import (AdministrativeSex, Credential, Enrollment, Patient,
    ...     Practitioner, ServicePeriod)
    >>> ada = Patient(id="p1", given_name="Ada", family_name="Okafor", time_zone="America/Chicago",
    ...     birth_date=pendulum.Date(1948, 3, 2), sex=AdministrativeSex.FEMALE)
    >>> dr = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
    >>> ccm = Enrollment.start(id="e1", patient_id="p1", program_id="ccm",
    ...     family=ServiceFamily.CCM, billing_practitioner_id="dr1", on=pendulum.Date(2026, 1, 5))
    >>> records = MonthRecords(patients=[ada], practitioners=[dr], enrollments=[ccm])
    >>> [(f.patient.id, [(p.code, p.minutes_needed) for p in progress])
    ...  for f, _, progress in records_progress(records, ServicePeriod.month(2026, 3),
    ...      cms_rule_set(2026), expected={"p1": [("dr1", ServiceFamily.CCM)]})]
    [('p1', [('99490', 20)])]
    """
    from carecore.billing._month import MonthRecords, evaluate_records  # noqa: PLC0415

    if not isinstance(records, MonthRecords):
        raise errors.InvalidValue("must be MonthRecords", field="records", value=records)
    wanted = {pid: list(dict.fromkeys(pairs)) for pid, pairs in (expected or {}).items()}
    start = period.start if on is None else on
    per_patient: _PerPatient | None = None
    for facts, result in evaluate_records(records, period, rules):
        found = {(p.practitioner, p.family): p for p in time_progress(result)}
        known = {p.id for p in facts.practitioners}
        if facts.patient.id in wanted and per_patient is None:
            per_patient = _PerPatient(records)
        mine = records if per_patient is None else per_patient.of(facts.patient.id)
        ask = _Asking(mine, facts, period, rules, start)
        for practitioner, family in wanted.get(facts.patient.id, ()):
            if practitioner not in known:
                continue
            if (practitioner, family) not in found:
                first = ask.first_minute(practitioner, family)
                if first is None:
                    continue
                found[practitioner, family] = first
            if check:
                found[practitioner, family] = ask.follow(found[practitioner, family], result)
        ordered = sorted(found, key=lambda k: (k[0], k[1].value))
        yield facts, result, tuple(found[key] for key in ordered)


class _Asking:
    """Runs one patient's close again with minutes added: what the engine says then.

    *records* are that patient's (and the practitioners).
    """

    def __init__(
        self,
        records: MonthRecords,
        facts: BillingFacts,
        period: ServicePeriod,
        rules: RuleSet,
        start: pendulum.Date,
    ) -> None:
        self.records = records
        self.facts = facts
        self.period = period
        self.rules = rules
        self.start = start

    def _day(self, family: ServiceFamily) -> pendulum.Date | None:
        day = self.start
        consent = self.facts.patient.consent(family)
        if consent is not None and consent > day:
            day = consent
        return day if self.period.start <= day <= self.period.end else None

    def _close(self, entry: TimeEntry) -> EvaluationResult | None:
        from carecore.billing._month import evaluate_records  # noqa: PLC0415

        more = attrs.evolve(self.records, time_entries=[*self.records.time_entries, entry])
        for _facts, result in evaluate_records(more, self.period, self.rules):
            return result
        return None

    def _minutes(
        self, practitioner: str, family: ServiceFamily, minutes: int, *, personal: bool
    ) -> TimeEntry | None:
        day = self._day(family)
        if day is None:
            return None
        role, credential = RoleClass.CLINICAL_STAFF, Credential.RN
        if personal:
            credential = self.facts.practitioner(practitioner).credential
            role = RoleClass.PHYSICIAN if credential in _PHYSICIANS else RoleClass.QHP
        try:
            return TimeEntry(
                id="carecore-progress-question",
                patient_id=self.facts.patient.id,
                performer_id=practitioner if personal else "carecore-progress-question",
                credential=credential,
                role_class=role,
                minutes=minutes,
                family=family,
                activity="minutes asked about",
                service_date=day,
                billing_practitioner_id=practitioner,
            )
        except errors.InvalidValue:
            return None  # a credential that cannot log personal time

    def first_minute(self, practitioner: str, family: ServiceFamily) -> TimeProgress | None:
        """The engine's next code once clinical staff log one minute (plus that minute, if it counts).

        A second question (two minutes) tells whether the minute counts
        toward that code: when it does not (a code for the practitioner's own
        time), the engine's answer stands as it is, in its own words.
        """
        one, two = (self._answer(practitioner, family, n) for n in (1, 2))
        if one is None:
            return None
        if two is not None and (two.code, two.minutes_needed) == (one.code, one.minutes_needed):
            return one  # clinical-staff minutes do not count toward it
        needed = one.minutes_needed + 1
        return attrs.evolve(
            one,
            minutes_needed=needed,
            message=f"{needed} more clinical-staff minutes reach {one.code}",
        )

    def _answer(
        self, practitioner: str, family: ServiceFamily, minutes: int
    ) -> TimeProgress | None:
        entry = self._minutes(practitioner, family, minutes, personal=False)
        result = None if entry is None else self._close(entry)
        if result is None:
            return None
        return next(
            (
                p
                for p in time_progress(result)
                if (p.practitioner, p.family) == (practitioner, family)
            ),
            None,
        )

    def follow(self, progress: TimeProgress, now: EvaluationResult) -> TimeProgress:
        """*progress*, with the close's refusal when logging its minutes would not bill its code."""
        before = _units(now, progress)
        reasons: list[str] = []
        for personal in (False, True):
            entry = self._minutes(
                progress.practitioner, progress.family, progress.minutes_needed, personal=personal
            )
            result = None if entry is None else self._close(entry)
            if result is None:
                continue
            if _units(result, progress) > before:
                return progress
            if not personal:
                reasons = [
                    d.message
                    for d in result.denials
                    if d.family is progress.family and d.reason is not DenialReason.BELOW_THRESHOLD
                ]
        refusal = " ".join(dict.fromkeys(reasons)) or f"the close does not bill {progress.code}"
        return attrs.evolve(progress, refusal=refusal)


_PHYSICIANS = frozenset({Credential.MD, Credential.DO})


class _PerPatient:
    """*records* cut down to one patient's at a time (practitioners are kept), grouped in one pass."""

    def __init__(self, records: MonthRecords) -> None:
        self.records = records
        self.groups: dict[str, dict[str, list[object]]] = {}
        self.mappings: dict[str, dict[str, object]] = {}
        for field in attrs.fields(type(records)):
            value = getattr(records, field.name)
            if isinstance(value, dict):
                self.mappings[field.name] = value
            elif isinstance(value, tuple) and field.name != "practitioners":
                grouped: dict[str, list[object]] = {}
                for item in value:
                    key = item.id if field.name == "patients" else getattr(item, "patient_id", None)
                    grouped.setdefault(str(key), []).append(item)
                self.groups[field.name] = grouped

    def of(self, patient_id: str) -> MonthRecords:
        """The records of *patient_id* only."""
        changes: dict[str, object] = {
            name: grouped.get(patient_id, []) for name, grouped in self.groups.items()
        }
        changes.update(
            {
                name: {k: d for k, d in value.items() if k == patient_id}
                for name, value in self.mappings.items()
            }
        )
        return attrs.evolve(self.records, **changes)  # type: ignore[arg-type]


def _units(result: EvaluationResult, progress: TimeProgress) -> int:
    return sum(
        line.units
        for line in result.claim_lines
        if line.code == progress.code and line.billing_practitioner_id == progress.practitioner
    )
