"""A panel of real patients for a study: from records (a store's snapshot) or from an EHR source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from attrs import field, frozen

from carecore import errors
from carecore.billing.facts import ChronicCondition
from carecore.conditions import at_significant_risk, billing_code, counted_code, is_chronic
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    Condition,
    Coverage,
    Patient,
)
from carecore.model import validators as v
from carecore.model.validators import check_date
from carecore.registry import coverage_criterion
from carecore.risk import Tier, stratify_all

if TYPE_CHECKING:
    import pendulum
    import pluggy

    from carecore.metrics import ProgramData

__all__ = ["PanelPatient", "PatientPanel", "panel_from_ehr", "panel_from_records"]

_TIERS = {Tier.LOW: 0, Tier.MODERATE: 1, Tier.HIGH: 2}


@frozen(kw_only=True, field_transformer=v.name_errors)
class PanelPatient:
    """One patient of a panel: the chronic conditions billing sees, Medicare Part B or not, and a risk tier.

    ``risk_tier`` is 0 (low), 1 (moderate) or 2 (high). ``age`` and ``sex``
    are needed only to order outreach by CMS-HCC score.
    """

    id: str = field(validator=v.not_blank)
    conditions: tuple[ChronicCondition, ...] = field(default=(), converter=v.to_tuple)
    medicare: bool = field(default=True, validator=v.is_bool)
    risk_tier: int = field(default=1, validator=v.int_between(0, 2))
    age: int | None = field(default=None, validator=v.optional(v.int_between(0, 130)))
    sex: AdministrativeSex = field(
        default=AdministrativeSex.UNKNOWN, validator=v.one_of(AdministrativeSex)
    )


@frozen(kw_only=True, field_transformer=v.name_errors)
class PatientPanel:
    """A study's population given patient by patient (instead of generated).

    The patients' traits are fixed; everything else (who enrolls, the
    minutes, the events) is still drawn for each replication.
    """

    patients: tuple[PanelPatient, ...] = field(converter=v.to_tuple)

    @patients.validator
    def _some(self, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        if not value:
            raise errors.InvalidValue(
                "a panel needs at least one patient", field=attribute.name, value=value
            )
        for index, item in enumerate(value):
            if not isinstance(item, PanelPatient):
                raise errors.InvalidValue(
                    "is not a PanelPatient", field=f"{attribute.name}[{index}]", value=item
                )

    @property
    def size(self) -> int:
        """How many patients."""
        return len(self.patients)


def _panel(
    patients: list[Patient],
    conditions: list[Condition],
    coverages: list[Coverage] | None,
    adt_events: list[AdtEvent],
    *,
    as_of: pendulum.Date,
    time_zone: str,
) -> PatientPanel:
    day = check_date(as_of, "as_of")
    alive = [p for p in patients if p.date_of_death is None or p.date_of_death > day]
    tiers = {
        s.patient_id: _TIERS[s.tier]
        for s in stratify_all(alive, adt_events, as_of=day, time_zone=time_zone)
    }
    by_patient: dict[str, list[Condition]] = {}
    for c in conditions:
        # As the month close reads a record (carecore.conditions): chronic by its flag or
        # the table, by the ICD-10-CM code it is billed by, at significant risk by the
        # table or an attestation (the default switch).
        if is_chronic(c) and counted_code(c.coding) is not None and c.active_on(day):
            by_patient.setdefault(c.patient_id, []).append(c)
    covered_by: dict[str, list[Coverage]] = {}
    for coverage in coverages or ():
        covered_by.setdefault(coverage.patient_id, []).append(coverage)
    out = []
    for p in sorted(alive, key=lambda p: p.id):
        chronic = tuple(
            ChronicCondition(
                icd10=billing_code(c.coding),
                expected_duration_months=c.expected_duration_months,
                significant_risk=at_significant_risk(c),
                behavioral=c.behavioral,
            )
            for c in sorted(by_patient.get(p.id, ()), key=lambda c: (c.coding.code, c.id))
        )
        out.append(
            PanelPatient(
                id=p.id,
                conditions=chronic,
                # The registry's coverage criterion, patient by patient: an active
                # Part B coverage is met, coverage records without one are not, and
                # no record (none given, or none on file) is unknown, which does not
                # exclude (as the registry's eligible); no coverages given and none
                # on file are one case.
                medicare=coverage_criterion(p, day, covered_by.get(p.id, [])).met is not False,
                risk_tier=tiers.get(p.id, 1),
                age=p.age_on(day),
                sex=p.sex,
            )
        )
    return PatientPanel(patients=out)


def panel_from_records(
    data: ProgramData, *, as_of: pendulum.Date, time_zone: str = "UTC"
) -> PatientPanel:
    """The patients alive on *as_of* in a records snapshot, as a panel.

    *data* is a :class:`carecore.metrics.ProgramData`, such as
    :meth:`carecore.service.CareProgram.program_data` reads from a store.
    Conditions are the chronic ones active on *as_of*, read as the month
    close reads them (:mod:`carecore.conditions`): by the ICD-10-CM code they
    are billed by (a SNOMED CT concept by its table row; one with no row is
    left out), at significant risk by the table or an attestation (the
    default switch); Medicare is decided as the registry's coverage
    criterion decides it (:func:`carecore.registry.eligibility`), patient by
    patient: an active Part B coverage counts, coverage records without one
    do not, and a patient with no coverage record counts (unknown coverage
    does not exclude), whether *data* has ``coverages=None`` or an empty
    tuple (a store with no coverage records gives that);
    the risk tier is :func:`carecore.risk.stratify_all`'s, from the ADT events.

    >>> import pendulum
    >>> from carecore.metrics import ProgramData
    >>> panel_from_records(ProgramData(), as_of=pendulum.Date(2026, 1, 1))
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: patients=(): a panel needs at least one patient
    """
    return _panel(
        list(data.patients),
        list(data.conditions),
        None if data.coverages is None else list(data.coverages),
        list(data.adt_events),
        as_of=as_of,
        time_zone=time_zone,
    )


def panel_from_ehr(
    location: str,
    *,
    as_of: pendulum.Date,
    pm: pluggy.PluginManager,
    time_zone: str = "UTC",
) -> PatientPanel:
    """A panel from what an installed EHR source reads at *location* (FHIR bundles with carecore-fhir).

    The sources are found through the ``carecore_ehr_sources`` hook: of those
    that can read *location* (a folder may suit several), the first that
    yields a patient is used, as ``carecore import --source NAME`` would
    read it. Patients, conditions, coverages and ADT events are kept; other
    records are ignored. When none yields a patient but one refused a file
    (not JSON, not a bundle), the error names that file, never its text.
    """
    from carecore.plugins import Hooks  # noqa: PLC0415 - the edge: plugins are looked up here

    sources = Hooks(pm).ehr_sources()
    capable = [s for s in sources.values() if s.can_read(location)]
    if not capable:
        raise errors.NotFound(
            f"no installed EHR source reads it (sources: {', '.join(sorted(sources)) or 'none'})",
            field="location",
            value=location,
        )
    refused: list[tuple[str, Any]] = []
    for source in capable:
        patients, conditions, coverages, events = _panel_records(source, location, refused)
        if patients:
            break
    if not patients and refused:
        source_id, first = refused[0]
        raise errors.InvalidValue(
            f"the {source_id} source cannot read it, and no patient was read from {location!r}",
            field="location",
            value=first.where,
        )
    return _panel(patients, conditions, coverages, events, as_of=as_of, time_zone=time_zone)


def _panel_records(
    source: Any, location: str, refused: list[tuple[str, Any]]
) -> tuple[list[Patient], list[Condition], list[Coverage], list[AdtEvent]]:
    """The patients, conditions, coverages and ADT events *source* reads; its refusals to *refused*."""
    from carecore.service import ImportRefusal  # noqa: PLC0415 - the service imports this module

    patients: list[Patient] = []
    conditions: list[Condition] = []
    coverages: list[Coverage] = []
    events: list[AdtEvent] = []
    for item in source.read(location):
        if isinstance(item, Patient):
            patients.append(item)
        elif isinstance(item, Condition):
            conditions.append(item)
        elif isinstance(item, Coverage):
            coverages.append(item)
        elif isinstance(item, AdtEvent):
            events.append(item)
        elif isinstance(item, ImportRefusal):
            refused.append((source.id, item))
    return patients, conditions, coverages, events
