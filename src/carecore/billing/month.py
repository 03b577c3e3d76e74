"""Closing a month from what a program recorded: every patient, through the reference engine.

:func:`close_records` takes the records of a store (read by
:meth:`carecore.service.CareProgram.close_month`, or built in a notebook),
groups them by patient, turns each patient's month into billing facts with
:func:`carecore.billing.bridge.facts_from_model`, and evaluates them. It reads
no clock and touches no store.

What the bridge needs that no single record says is derived here:

- the practitioners evaluated for a patient are those named as billing
  practitioner by the patient's enrollments, consents, time entries,
  contacts and visits (the engine evaluates each, one per period); a
  patient none names is left out;
- discharges for TCM are the transition episodes that qualify and were not
  cancelled (every discharge the program receives opens one), and a TCM
  whose discharge falls in the 30 days of a TCM billed in an earlier month
  is refused (docs/billing/tcm.md; S18, S20), from the earlier closes' claim lines;
- the initiating visit is left to the engine, which looks for a qualifying
  visit with each billing practitioner within a year of the program start;
- care plans count when they are active and CMS-complete
  (:func:`carecore.careplans.billing_care_plans`).

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

from collections import defaultdict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from carecore import errors
from carecore.billing.bridge import facts_from_model
from carecore.billing.engine import EvaluationResult, evaluate
from carecore.billing.rules import RuleSet
from carecore.model import (
    CarePlan,
    ClaimLine,
    Condition,
    Consent,
    Denial,
    DenialReason,
    Enrollment,
    EpisodeStatus,
    FaceToFaceVisit,
    InteractiveContact,
    Patient,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    TransitionEpisode,
)
from carecore.model import _validators as v

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import pendulum

    from carecore.billing.facts import BillingFacts

__all__ = ["MonthRecords", "close_records", "evaluate_records"]


def _plans(
    value: Mapping[str, Mapping[ServiceFamily, pendulum.Date]] | Iterable[CarePlan],
) -> tuple[CarePlan, ...] | dict[str, dict[ServiceFamily, pendulum.Date]]:
    if isinstance(value, Mapping):
        return {str(k): dict(d) for k, d in value.items()}
    return tuple(value)


@attrs.frozen(kw_only=True)
class MonthRecords:
    """The records a month close reads (any order; other patients' and months' records are ignored).

    *care_plans* is either the stored :class:`~carecore.model.CarePlan`
    values or, for a quick model, ``{patient_id: {family: established_on}}``.
    """

    patients: tuple[Patient, ...] = attrs.field(converter=v.to_tuple)
    practitioners: tuple[Practitioner, ...] = attrs.field(converter=v.to_tuple)
    conditions: tuple[Condition, ...] = attrs.field(default=(), converter=v.to_tuple)
    consents: tuple[Consent, ...] = attrs.field(default=(), converter=v.to_tuple)
    enrollments: tuple[Enrollment, ...] = attrs.field(default=(), converter=v.to_tuple)
    care_plans: Any = attrs.field(default=(), converter=_plans)
    time_entries: tuple[TimeEntry, ...] = attrs.field(default=(), converter=v.to_tuple)
    contacts: tuple[InteractiveContact, ...] = attrs.field(default=(), converter=v.to_tuple)
    visits: tuple[FaceToFaceVisit, ...] = attrs.field(default=(), converter=v.to_tuple)
    episodes: tuple[TransitionEpisode, ...] = attrs.field(default=(), converter=v.to_tuple)
    #: Claim lines of earlier closes (the one-TCM-per-30-days rule looks back).
    claim_lines: tuple[ClaimLine, ...] = attrs.field(default=(), converter=v.to_tuple)

    @patients.validator
    def _check(self, _attribute: object, _value: object) -> None:
        kinds: tuple[tuple[str, type], ...] = (
            ("patients", Patient),
            ("practitioners", Practitioner),
            ("conditions", Condition),
            ("consents", Consent),
            ("enrollments", Enrollment),
            ("time_entries", TimeEntry),
            ("contacts", InteractiveContact),
            ("visits", FaceToFaceVisit),
            ("episodes", TransitionEpisode),
            ("claim_lines", ClaimLine),
        )
        if isinstance(self.care_plans, tuple):
            kinds = (*kinds, ("care_plans", CarePlan))
        for name, cls in kinds:
            for index, item in enumerate(getattr(self, name)):
                if not isinstance(item, cls):
                    raise errors.InvalidValue(
                        f"must be a {cls.__name__}", field=f"{name}[{index}]", value=item
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
) -> list[EvaluationResult]:
    """Evaluate every patient's *period* from *records* with *rules*; one result per patient, by id.

    A patient with nothing to bill still gets a result (its denials say
    why), unless no record names a billing practitioner for them: then no
    one could bill, and there is no result. *progress* is called with the
    number of patients done so far.
    """
    return [
        result for _facts, result in evaluate_records(records, period, rules, progress=progress)
    ]


def evaluate_records(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[BillingFacts, EvaluationResult]]:
    """As :func:`close_records`, with each patient's billing facts beside the result (for audit packets)."""
    if not isinstance(records, MonthRecords):
        raise errors.InvalidValue("must be MonthRecords", field="records", value=records)
    if not isinstance(period, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
    if not isinstance(rules, RuleSet):
        raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
    v.check_callable(progress, "progress")
    return _evaluate(records, period, rules, progress)


def _evaluate(
    records: MonthRecords,
    period: ServicePeriod,
    rules: RuleSet,
    progress: Callable[[int], None] | None,
) -> Iterator[tuple[BillingFacts, EvaluationResult]]:
    staff = {p.id: p for p in records.practitioners}
    groups = {
        name: _by_patient(getattr(records, name))
        for name in (
            "conditions",
            "consents",
            "enrollments",
            "time_entries",
            "contacts",
            "visits",
            "episodes",
            "claim_lines",
        )
    }
    plans = records.care_plans
    plan_groups = _by_patient(plans) if isinstance(plans, tuple) else {}
    for done, patient in enumerate(sorted(records.patients, key=lambda p: p.id), start=1):
        mine = {name: group.get(patient.id, []) for name, group in groups.items()}
        named = {
            getattr(item, "billing_practitioner_id", None)
            for name in ("consents", "enrollments", "time_entries", "contacts", "visits")
            for item in mine[name]
        }
        practitioners = [staff[i] for i in sorted(i for i in named if i in staff)]
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
        facts = facts_from_model(
            patient=patient,
            practitioners=practitioners,
            period=period,
            conditions=mine["conditions"],
            consents=mine["consents"],
            care_plans=plan_groups.get(patient.id, [])
            if isinstance(plans, tuple)
            else plans.get(patient.id, {}),
            time_entries=[t for t in mine["time_entries"] if t.service_date in period],
            contacts=mine["contacts"],
            # The engine finds the initiating visit itself: one with the billing
            # practitioner, of a qualifying kind, within a year of the start.
            visits=mine["visits"],
            episodes=followed,
        )
        yield facts, _one_tcm_per_30_days(evaluate(facts, rules), mine["claim_lines"], period)


def _one_tcm_per_30_days(
    result: EvaluationResult, earlier: list[ClaimLine], period: ServicePeriod
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
