"""Claim lines and denials: what month close produces."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v
from carecore.model.activity import HCPCS_PATTERN
from carecore.model.codes import DenialReason, ServiceFamily
from carecore.model.people import PatientId, PractitionerId
from carecore.model.period import ServicePeriod

__all__ = ["ClaimLine", "Denial", "ExternalClaim"]

_MODIFIER = r"[0-9A-Z]{2}"
#: An ICD-10-CM code in its dotted form (E11.65, I10).
_ICD10CM = r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?"
#: Diagnosis pointers a claim line may carry (the 837P and CMS-1500 allow four).
MAX_LINE_DIAGNOSES = 4
_SOURCE_TAG = re.compile(r"S[0-9]{1,3}")


def _at_most_four(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if len(value) > MAX_LINE_DIAGNOSES:
        raise errors.InvalidValue(
            f"a claim line points at {MAX_LINE_DIAGNOSES} diagnoses at most",
            field=attribute.name,
            value=value,
        )
    if len(set(value)) != len(value):
        raise errors.InvalidValue("lists a diagnosis twice", field=attribute.name, value=value)


_diagnosis_codes = v.tuple_of(v.matches(_ICD10CM, "an ICD-10-CM code such as 'E11.65'"))
#: Diagnosis lists already found valid: a close builds the same few lists over and over.
_VALID_DIAGNOSES: set[tuple[str, ...]] = set()


def _valid_diagnoses(inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    """ICD-10-CM codes, at most four, none twice (each distinct list of plain strings checked once)."""
    try:
        known = value in _VALID_DIAGNOSES and all(type(code) is str for code in value)
    except TypeError:  # an unhashable item: the checks below name it
        known = False
    if known:
        return
    _diagnosis_codes(inst, attribute, value)
    _at_most_four(inst, attribute, value)
    if len(_VALID_DIAGNOSES) < 65536:  # noqa: PLR2004 - a bound, not a rule
        _VALID_DIAGNOSES.add(value)


@frozen(kw_only=True, field_transformer=v.name_errors)
class ClaimLine:
    """One billable line: a code, its units and who bills it, for one service period.

    ``diagnoses`` are the billable ICD-10-CM codes the line points at, the
    first one primary (at most four, as on a CMS-1500 or 837P line).

    >>> line = ClaimLine(patient_id="p1", code="99439", units=2, family=ServiceFamily.CCM,
    ...     billing_practitioner_id="dr1", date_of_service=pendulum.Date(2026, 1, 31),
    ...     period=ServicePeriod.month(2026, 1), amount=Decimal("94.12"))
    >>> line.amount
    Decimal('94.12')
    """

    patient_id: PatientId = field(validator=v.not_blank)
    code: str = field(validator=v.matches(HCPCS_PATTERN, "a 5-character CPT/HCPCS code"))
    units: int = field(validator=v.int_between(1, 99))
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
    date_of_service: pendulum.Date = field(converter=v.to_date)
    period: ServicePeriod = field(validator=v.instance_of(ServicePeriod, "a ServicePeriod"))
    modifiers: tuple[str, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=v.tuple_of(v.matches(_MODIFIER, "a 2-character modifier")),
    )
    amount: Decimal | None = field(default=None, validator=v.optional(v.money))
    diagnoses: tuple[str, ...] = field(
        default=(),
        converter=v.to_tuple,
        validator=_valid_diagnoses,
    )

    @period.validator
    def _dos_in_period(self, _attribute: attrs.Attribute[object], value: ServicePeriod) -> None:
        if isinstance(value, ServicePeriod) and self.date_of_service not in value:
            raise errors.InvalidValue(
                f"is outside the service period {value}",
                field="date_of_service",
                value=self.date_of_service,
            )


def _source_tags(_inst: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for index, tag in enumerate(value):
        if not isinstance(tag, str) or not _SOURCE_TAG.fullmatch(tag):
            raise errors.InvalidValue(
                "must be a source tag such as 'S21' (see carecore.billing.sources)",
                field=f"{attribute.name}[{index}]",
                value=tag,
            )


@frozen(kw_only=True, field_transformer=v.name_errors)
class Denial:
    """Why a code was not billed: a machine-readable reason, one human sentence, and the rule behind it.

    ``practitioner_id`` names the billing practitioner whose code it is (None
    when the denial is not about one practitioner's claim).

    >>> d = Denial(patient_id="p1", code="99490", family=ServiceFamily.CCM,
    ...     reason=DenialReason.BELOW_THRESHOLD, message="18 of the 20 clinical-staff minutes were logged.",
    ...     rule="ccm.99490.threshold", sources=("S1", "S10"), period=ServicePeriod.month(2026, 1))
    >>> d.reason.value
    'below_threshold'
    """

    patient_id: PatientId = field(validator=v.not_blank)
    code: str = field(validator=v.matches(HCPCS_PATTERN, "a 5-character CPT/HCPCS code"))
    family: ServiceFamily = field(validator=v.one_of(ServiceFamily))
    reason: DenialReason = field(validator=v.one_of(DenialReason))
    message: str = field(validator=v.not_blank)
    rule: str = field(
        validator=v.matches(
            r"[a-z0-9_]+(\.[a-z0-9_]+)*",
            "a dotted rule id such as 'ccm.99490.threshold'",
        )
    )
    period: ServicePeriod = field(validator=v.instance_of(ServicePeriod, "a ServicePeriod"))
    sources: tuple[str, ...] = field(default=(), converter=v.to_tuple, validator=_source_tags)
    practitioner_id: PractitionerId | None = field(default=None, validator=v.optional(v.not_blank))


@frozen(kw_only=True, field_transformer=v.name_errors)
class ExternalClaim:
    """A code billed for the patient outside carecore: by another practitioner, or by another system.

    Month closes read these where a rule depends on what else was billed: a
    TCM another practitioner reported for the same discharge, a set-up code
    billed once per episode, G0506 once per patient, codes that bar CCM.
    ``on`` is the date of service.

    >>> ExternalClaim(id="x1", patient_id="p1", code="99495", on=pendulum.Date(2024, 4, 11),
    ...     billing_practitioner_id="dr_cardio").code
    '99495'
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    code: str = field(validator=v.matches(HCPCS_PATTERN, "a 5-character CPT/HCPCS code"))
    on: pendulum.Date = field(converter=v.to_date)
    billing_practitioner_id: PractitionerId = field(validator=v.not_blank)
