"""FastClose.canonical_facts refuses what is not a canonical month, by name."""

from __future__ import annotations

import pytest

from carecore import errors
from carecore.billing import FastClose
from carecore.billing.cms import cms_rule_set
from carecore.billing.facts import BillingPractitioner, ChronicCondition, PatientFacts
from carecore.model import ServicePeriod
from carecore.model.codes import Credential, ServiceFamily


@pytest.fixture
def fast() -> FastClose:
    return FastClose(cms_rule_set(2026), ServicePeriod.month(2026, 3))


def _patient(fast: FastClose) -> PatientFacts:
    conditions = [ChronicCondition(icd10="F33.1", significant_risk=True)]
    return fast.canonical_patient(fast.shape(PatientFacts(id="p1", conditions=conditions)))


DOCTOR = BillingPractitioner(id="dr1", credential=Credential.MD)


def test_a_canonical_month_holds_its_minutes_as_stand_in_entries(fast: FastClose) -> None:
    facts = fast.canonical_facts(_patient(fast), DOCTOR, {(ServiceFamily.BHI, 1): 3000})
    assert sorted(e.minutes for e in facts.events) == [120, 1440, 1440]
    assert {e.practitioner for e in facts.events} == {"~"}


@pytest.mark.parametrize("minutes", [-5, -1, 2.5, True, "25", None])
def test_minutes_that_are_not_a_whole_number_of_at_least_zero_are_refused(
    fast: FastClose, minutes: object
) -> None:
    # -5 was read as one stand-in entry of 1,435 minutes (divmod(-5, 1440) is (-1, 1435)).
    with pytest.raises(errors.InvalidValue) as raised:
        fast.canonical_facts(_patient(fast), DOCTOR, {(ServiceFamily.BHI, 1): minutes})  # type: ignore[dict-item]
    assert raised.value.field == "totals[BHI, 1]"
    assert raised.value.value == minutes


@pytest.mark.parametrize("key", [(ServiceFamily.BHI, 9), (ServiceFamily.TCM, 1)])
def test_a_family_or_role_group_the_fast_path_does_not_cache_is_refused(
    fast: FastClose, key: tuple[ServiceFamily, int]
) -> None:
    # Such keys raised a bare KeyError.
    with pytest.raises(errors.InvalidValue) as raised:
        fast.canonical_facts(_patient(fast), DOCTOR, {key: 25})
    assert raised.value.field == "totals"
    assert raised.value.value == key
