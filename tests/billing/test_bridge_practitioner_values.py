"""The engine's practitioner values the bridge shares: each is the value its id, credential and flag make."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pendulum
import pytest

from carecore import errors
from carecore.billing import facts_and_gaps
from carecore.billing.facts import BillingPractitioner
from carecore.model import AdministrativeSex, Credential, Patient, Practitioner, ServicePeriod

MARCH = ServicePeriod.month(2026, 3)
ADA = Patient(
    id="p1",
    given_name="Ada",
    family_name="Okafor",
    time_zone="America/Chicago",
    birth_date=pendulum.Date(1948, 3, 2),
    sex=AdministrativeSex.FEMALE,
)


def practitioners_of(practitioner: Practitioner, focal: object) -> tuple[BillingPractitioner, ...]:
    facts, _gaps = facts_and_gaps(
        patient=ADA,
        practitioners=[practitioner],
        period=MARCH,
        primary_care_focal_point=focal,  # type: ignore[arg-type]
    )
    return facts.practitioners


def test_each_value_is_made_of_its_id_credential_and_flag() -> None:
    md = Practitioner(id="pv-dr1", name="Dr. Ruiz", credential=Credential.MD)
    # The same id with another credential (another close's staff list, say).
    np_ = Practitioner(id="pv-dr1", name="Dr. Ruiz", credential=Credential.NP)
    expected = {
        (md, True): BillingPractitioner(
            id="pv-dr1", credential=Credential.MD, primary_care_focal_point=True
        ),
        (md, False): BillingPractitioner(
            id="pv-dr1", credential=Credential.MD, primary_care_focal_point=False
        ),
        (np_, True): BillingPractitioner(
            id="pv-dr1", credential=Credential.NP, primary_care_focal_point=True
        ),
        (np_, False): BillingPractitioner(
            id="pv-dr1", credential=Credential.NP, primary_care_focal_point=False
        ),
    }
    for _round in range(2):
        for (practitioner, focal), value in expected.items():
            assert practitioners_of(practitioner, focal) == (value,)
    # Made once: every month naming them shares the one value.
    assert practitioners_of(md, True)[0] is practitioners_of(md, True)[0]


def test_a_flag_that_is_not_a_bool_is_refused_after_the_bool_it_equals() -> None:
    md = Practitioner(id="pv-dr2", name="Dr. Ruiz", credential=Credential.MD)
    assert practitioners_of(md, True)[0].primary_care_focal_point is True
    assert practitioners_of(md, False)[0].primary_care_focal_point is False
    for focal in (1, 0, "yes", None):  # 1 == True and 0 == False, but neither is a flag
        with pytest.raises(errors.InvalidValue) as refused:
            practitioners_of(md, focal)
        assert refused.value.field == "primary_care_focal_point"


def test_months_built_on_threads_get_their_own_flag() -> None:
    staff = [
        Practitioner(id=f"pv-t{n}", name="Dr. Ruiz", credential=Credential.MD) for n in range(40)
    ]

    def build(n: int) -> tuple[int, BillingPractitioner]:
        return n, practitioners_of(staff[n % len(staff)], n % 3 == 0)[0]

    with ThreadPoolExecutor(8) as pool:
        built = list(pool.map(build, range(4000)))
    assert all(
        value
        == BillingPractitioner(
            id=f"pv-t{n % len(staff)}",
            credential=Credential.MD,
            primary_care_focal_point=n % 3 == 0,
        )
        for n, value in built
    )
