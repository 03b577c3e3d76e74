"""Medications, fills, medication reconciliations and care-gap evidence.

The pure logic over these values is in :mod:`carecore.medications` and
:mod:`carecore.gaps`; these are the nouns only.
"""

from __future__ import annotations

import re

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.codes import CodeEnum
from carecore.model.people import PatientId

__all__ = [
    "ClinicalService",
    "Decision",
    "DiscrepancyKind",
    "MedicationFill",
    "MedicationReconciliation",
    "MedicationSource",
    "MedicationStatement",
    "MedicationStatus",
    "ReconciliationItem",
    "ServiceKind",
    "medication_key",
]


class MedicationSource(CodeEnum):
    """Where a medication list comes from."""

    EHR = "ehr"  #: the practice's own list
    DISCHARGE_SUMMARY = "discharge_summary"
    PATIENT_REPORTED = "patient_reported"  #: what the patient or a caregiver says is taken
    PHARMACY_FILL = "pharmacy_fill"
    RECONCILIATION = "reconciliation"  #: the list a reconciliation settled on


class MedicationStatus(CodeEnum):
    """Where a medication statement stands (FHIR MedicationStatement.status, in part)."""

    ACTIVE = "active"
    STOPPED = "stopped"  #: the source says the drug is stopped
    COMPLETED = "completed"
    ON_HOLD = "on_hold"


class DiscrepancyKind(CodeEnum):
    """A difference between medication lists (see the medications explanation page)."""

    OMISSION = "omission"
    COMMISSION = "commission"
    INGREDIENT_DUPLICATION = "ingredient_duplication"
    DOSE_CHANGE = "dose_change"
    STOPPED_STILL_TAKEN = "stopped_still_taken"


class Decision(CodeEnum):
    """What a reconciliation decided about one medication."""

    CONTINUE = "continue"
    STOP = "stop"
    CHANGE = "change"
    ASK_PRESCRIBER = "ask_prescriber"


class ServiceKind(CodeEnum):
    """What kind of clinical record closes a care gap."""

    IMMUNIZATION = "immunization"
    PROCEDURE = "procedure"
    LAB = "lab"
    OBSERVATION = "observation"


_SPACES = re.compile(r"\s+")


def medication_key(rxnorm: str | None, text: str) -> str:
    """The key medications on different lists are matched by: the RxNorm code, else the text.

    >>> medication_key("197361", "Amlodipine 5 MG Oral Tablet")
    'rxnorm:197361'
    >>> medication_key(None, "  Amlodipine   5 mg ")
    'text:amlodipine 5 mg'
    """
    if rxnorm:
        return f"rxnorm:{rxnorm}"
    return "text:" + _SPACES.sub(" ", text.strip().lower())


@frozen(kw_only=True, field_transformer=v.name_errors)
class MedicationStatement:
    """One medication as one source reports it.

    ``stop`` is the first day it is no longer taken (exclusive), so the list as
    of a day holds the statements with ``start <= day < stop``.

    >>> s = MedicationStatement(id="m1", patient_id="p1", rxnorm="197361",
    ...     text="Amlodipine 5 MG Oral Tablet", dose="5 mg", frequency="daily",
    ...     start=pendulum.Date(2026, 1, 1), source=MedicationSource.EHR)
    >>> s.active_on(pendulum.Date(2026, 2, 1)), s.key
    (True, 'rxnorm:197361')
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    text: str = field(validator=v.not_blank)
    source: MedicationSource = field(validator=v.one_of(MedicationSource))
    rxnorm: str | None = field(
        default=None, validator=v.optional(v.matches(r"[0-9]{1,12}", "an RxNorm code (digits)"))
    )
    dose: str | None = field(default=None, validator=v.optional(v.not_blank))
    route: str | None = field(default=None, validator=v.optional(v.not_blank))
    frequency: str | None = field(default=None, validator=v.optional(v.not_blank))
    start: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    stop: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    prescriber_id: str | None = field(default=None, validator=v.optional(v.not_blank))
    status: MedicationStatus = field(
        default=MedicationStatus.ACTIVE, validator=v.one_of(MedicationStatus)
    )
    ingredients: tuple[str, ...] = field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(v.not_blank)
    )
    drug_class: str | None = field(default=None, validator=v.optional(v.not_blank))
    recorded_on: pendulum.Date | None = field(default=None, converter=v.to_optional_date)

    @stop.validator
    def _after_start(self, attribute: attrs.Attribute[object], value: pendulum.Date | None) -> None:
        if value is not None and self.start is not None and value < self.start:
            raise errors.InvalidValue("is before the start", field=attribute.name, value=value)

    @property
    def key(self) -> str:
        """What this medication is matched by on other lists (see :func:`medication_key`)."""
        return medication_key(self.rxnorm, self.text)

    def active_on(self, day: pendulum.Date) -> bool:
        """Whether the medication was being taken on *day*, as this statement says."""
        day = v.check_date(day, "day")
        if self.start is not None and day < self.start:
            return False
        if self.stop is not None:
            return day < self.stop
        return self.status is MedicationStatus.ACTIVE


@frozen(kw_only=True, field_transformer=v.name_errors)
class MedicationFill:
    """A pharmacy fill (a FHIR MedicationDispense, a claims row): the basis of adherence.

    >>> MedicationFill(id="f1", patient_id="p1", text="Lisinopril 10 MG", drug_class="RASA",
    ...     filled_on=pendulum.Date(2026, 1, 3), days_supply=30).days_supply
    30
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    text: str = field(validator=v.not_blank)
    filled_on: pendulum.Date = field(converter=v.to_date)
    days_supply: int = field(validator=v.int_between(1, 365))
    drug_class: str | None = field(default=None, validator=v.optional(v.not_blank))
    rxnorm: str | None = field(
        default=None, validator=v.optional(v.matches(r"[0-9]{1,12}", "an RxNorm code (digits)"))
    )
    quantity: str | None = field(default=None, validator=v.optional(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class ReconciliationItem:
    """One medication in a reconciliation: where it was found, what differed, what was decided.

    ``statement_ids`` are the statements (of any source) that name this
    medication; ``dose`` and ``frequency`` are the reconciled ones (for
    ``change``, the new ones).
    """

    key: str = field(validator=v.not_blank)
    text: str = field(validator=v.not_blank)
    statement_ids: tuple[str, ...] = field(converter=v.to_tuple, validator=v.tuple_of(v.not_blank))
    sources: frozenset[MedicationSource] = field(converter=v.to_frozenset)
    discrepancies: frozenset[DiscrepancyKind] = field(default=frozenset(), converter=v.to_frozenset)
    decision: Decision = field(validator=v.one_of(Decision))
    rxnorm: str | None = field(default=None, validator=v.optional(v.not_blank))
    dose: str | None = field(default=None, validator=v.optional(v.not_blank))
    frequency: str | None = field(default=None, validator=v.optional(v.not_blank))
    note: str | None = field(default=None, validator=v.optional(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class MedicationReconciliation:
    """A medication reconciliation: the lists compared, an item per medication, who and when.

    Built by :func:`carecore.medications.reconcile`; it meets a transition
    episode's medication-reconciliation deadline when ``episode_id`` names it.
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    reconciled_by: str = field(validator=v.not_blank)
    sources: frozenset[MedicationSource] = field(converter=v.to_frozenset)
    items: tuple[ReconciliationItem, ...] = field(
        converter=v.to_tuple,
        validator=v.tuple_of(v.instance_of(ReconciliationItem, "a ReconciliationItem")),
    )
    episode_id: str | None = field(default=None, validator=v.optional(v.not_blank))

    @sources.validator
    def _two_or_more(
        self, attribute: attrs.Attribute[object], value: frozenset[MedicationSource]
    ) -> None:
        if len(value) < 2:  # noqa: PLR2004 - a reconciliation compares two lists or more
            raise errors.InvalidValue(
                "a reconciliation compares two or more source lists",
                field=attribute.name,
                value=sorted(s.value for s in value),
            )

    def item(self, key: str) -> ReconciliationItem:
        """The item of the medication with *key*."""
        for found in self.items:
            if found.key == key:
                return found
        raise errors.NotFound("no such medication in this reconciliation", field="key", value=key)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ClinicalService:
    """A coded clinical record that can close a care gap: an immunization, a procedure, a lab.

    ``system`` is the code system's short name (``CVX``, ``CPT``, ``HCPCS``,
    ``SNOMED``, ``LOINC``).

    >>> ClinicalService(id="i1", patient_id="p1", kind=ServiceKind.IMMUNIZATION, system="CVX",
    ...     code="140", on=pendulum.Date(2025, 10, 1)).code
    '140'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    kind: ServiceKind = field(validator=v.one_of(ServiceKind))
    system: str = field(
        validator=v.matches(r"CVX|CPT|HCPCS|SNOMED|LOINC", "CVX, CPT, HCPCS, SNOMED or LOINC")
    )
    code: str = field(validator=v.not_blank)
    on: pendulum.Date = field(converter=v.to_date)
    text: str | None = field(default=None, validator=v.optional(v.not_blank))
