"""Conditions and the codes that name them."""

from __future__ import annotations

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors, icd
from carecore.model import _validators as v
from carecore.model.codes import CodeSystem
from carecore.model.people import PatientId

__all__ = ["Coding", "Condition"]

_SCTID_MIN, _SCTID_MAX = 6, 18  # SNOMED CT concept ids are 6 to 18 digits


@frozen(kw_only=True, field_transformer=v.name_errors)
class Coding:
    """A code in a code system.

    ICD-10-CM codes are checked against the CMS tables and must be in their
    dotted, upper-case form (use :meth:`icd10cm` to normalise). Other systems,
    such as SNOMED CT, are accepted as given.

    >>> Coding.icd10cm("e119").code
    'E11.9'
    >>> Coding(system=CodeSystem.SNOMEDCT, code="44054006").system.name
    'SNOMEDCT'
    """

    system: CodeSystem = field(validator=v.one_of(CodeSystem))
    code: str = field(validator=v.not_blank)
    display: str | None = field(default=None, validator=v.optional(v.not_blank))

    @code.validator
    def _check_code(self, attribute: attrs.Attribute[object], value: str) -> None:
        if self.system is CodeSystem.ICD10CM:
            if icd.normalize(value) != value:
                raise errors.InvalidCode(
                    f"write ICD-10-CM codes as {icd.normalize(value)!r}",
                    field=attribute.name,
                    value=value,
                )
            if not icd.is_valid(value):
                raise errors.InvalidCode(
                    f"not an ICD-10-CM code ({icd.release()})",
                    field=attribute.name,
                    value=value,
                )
        elif self.system is CodeSystem.SNOMEDCT and not (
            value.isdigit() and _SCTID_MIN <= len(value) <= _SCTID_MAX
        ):
            raise errors.InvalidCode(
                "a SNOMED CT concept id is 6 to 18 digits",
                field=attribute.name,
                value=value,
            )

    @classmethod
    def icd10cm(cls, code: str, display: str | None = None) -> Coding:
        """An ICD-10-CM coding, normalising the spelling first.

        >>> Coding.icd10cm("I5022").code
        'I50.22'
        """
        return cls(system=CodeSystem.ICD10CM, code=icd.normalize(code), display=display)

    @property
    def billable(self) -> bool:
        """Whether this is a billable (leaf) ICD-10-CM code; False for other systems.

        >>> Coding.icd10cm("E11").billable
        False
        """
        return self.system is CodeSystem.ICD10CM and icd.is_billable(self.code)


@frozen(kw_only=True, field_transformer=v.name_errors)
class Condition:
    """A condition on a patient's problem list.

    ``expected_duration_months`` is how long the condition is expected to last
    (None means until death); ``chronic`` and ``significant_risk`` are what
    the billing practitioner attests for CCM and PCM (S1, S30).

    >>> c = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9"),
    ...               onset=pendulum.Date(2019, 5, 1), chronic=True)
    >>> c.active_on(pendulum.Date(2026, 1, 1))
    True
    """

    id: str = field(validator=v.not_blank)
    patient_id: PatientId = field(validator=v.not_blank)
    coding: Coding = field(validator=v.instance_of(Coding, "a Coding"))
    onset: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    abatement: pendulum.Date | None = field(default=None, converter=v.to_optional_date)
    expected_duration_months: int | None = field(
        default=None, validator=v.optional(v.int_between(1, 1200))
    )
    chronic: bool = field(default=False, validator=v.is_bool)
    significant_risk: bool = field(default=False, validator=v.is_bool)
    behavioral: bool = field(default=False, validator=v.is_bool)

    @abatement.validator
    def _abatement_after_onset(
        self, attribute: attrs.Attribute[object], value: pendulum.Date | None
    ) -> None:
        if value is not None and self.onset is not None and value < self.onset:
            raise errors.InvalidValue("is before the onset", field=attribute.name, value=value)

    def active_on(self, day: pendulum.Date) -> bool:
        """Whether the condition was present on *day* (onset unknown counts as present).

        >>> Condition(id="c", patient_id="p", coding=Coding.icd10cm("I10"),
        ...           abatement=pendulum.Date(2020, 1, 1)).active_on(pendulum.Date(2021, 1, 1))
        False
        """
        started = self.onset is None or self.onset <= day
        ended = self.abatement is not None and self.abatement < day
        return started and not ended
