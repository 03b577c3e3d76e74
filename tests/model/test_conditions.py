from __future__ import annotations

import pendulum
import pytest

from carecore import errors, icd
from carecore.model import CodeSystem, Coding, Condition


def test_icd10cm_codes_are_normalised_and_checked():
    assert Coding.icd10cm("e1165").code == "E11.65"
    assert Coding.icd10cm("I10").billable
    assert not Coding.icd10cm("I50").billable  # a category, not a billable leaf


def test_unknown_icd10cm_code_is_refused_with_release():
    with pytest.raises(errors.InvalidCode) as caught:
        Coding.icd10cm("Z99.99")
    assert caught.value.field == "code"
    assert caught.value.value == "Z99.99"
    assert icd.release() in str(caught.value)


def test_non_canonical_spelling_is_refused_with_the_fix():
    with pytest.raises(errors.InvalidCode, match=r"'E11\.9'"):
        Coding(system=CodeSystem.ICD10CM, code="E119")


def test_snomed_accepted_as_system_and_code():
    coding = Coding(system=CodeSystem.SNOMEDCT, code="44054006", display="Diabetes mellitus type 2")
    assert coding.system is CodeSystem.SNOMEDCT
    assert not coding.billable
    with pytest.raises(errors.InvalidCode):
        Coding(system=CodeSystem.SNOMEDCT, code="E11.9")


def test_condition_activity_window():
    c = Condition(
        id="c",
        patient_id="p",
        coding=Coding.icd10cm("I10"),
        onset=pendulum.Date(2020, 1, 1),
        abatement=pendulum.Date(2022, 1, 1),
        chronic=True,
    )
    assert not c.active_on(pendulum.Date(2019, 12, 31))
    assert c.active_on(pendulum.Date(2021, 6, 1))
    assert c.active_on(pendulum.Date(2022, 1, 1))
    assert not c.active_on(pendulum.Date(2022, 1, 2))


def test_condition_validators():
    with pytest.raises(errors.InvalidValue, match="before the onset"):
        Condition(
            id="c",
            patient_id="p",
            coding=Coding.icd10cm("I10"),
            onset=pendulum.Date(2020, 1, 1),
            abatement=pendulum.Date(2019, 1, 1),
        )
    with pytest.raises(errors.InvalidValue) as caught:
        Condition(id="c", patient_id="p", coding=Coding.icd10cm("I10"), chronic=1)  # type: ignore[arg-type]
    assert caught.value.field == "chronic"
    with pytest.raises(errors.InvalidValue) as caught:
        Condition(
            id="c",
            patient_id="p",
            coding=Coding.icd10cm("I10"),
            expected_duration_months=0,
        )
    assert caught.value.field == "expected_duration_months"


def test_icd_lookups():
    assert icd.normalize(" i5022 ") == "I50.22"
    assert icd.describe("I50.22") == "Chronic systolic (congestive) heart failure"
    assert not icd.is_valid("E08-E13")  # a block, not a code
    with pytest.raises(errors.InvalidCode):
        icd.describe("nonsense")
