from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pendulum
import pytest

from carecore import errors
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CarePlan,
    CarePlanStatus,
    ClaimLine,
    ContactMode,
    Credential,
    Denial,
    DenialReason,
    DeviceReadingDay,
    InteractiveContact,
    PatientClass,
    RoleClass,
    RtmSystem,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)


def entry(**changes: object) -> TimeEntry:
    fields: dict[str, object] = {
        "id": "t1",
        "patient_id": "p1",
        "performer_id": "rn1",
        "credential": Credential.RN,
        "role_class": RoleClass.CLINICAL_STAFF,
        "minutes": 20,
        "family": ServiceFamily.CCM,
        "activity": "call",
        "service_date": pendulum.Date(2026, 1, 7),
        "billing_practitioner_id": "dr1",
    }
    fields.update(changes)
    return TimeEntry(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("minutes", [0, -5, 1441, 12.5, True, "20"])
def test_minutes_are_whole_positive_numbers(minutes):
    with pytest.raises(errors.InvalidValue) as caught:
        entry(minutes=minutes)
    assert caught.value.field == "minutes"
    assert caught.value.value == minutes


def test_role_must_fit_credential():
    with pytest.raises(errors.InvalidValue, match="physician"):
        entry(role_class=RoleClass.PHYSICIAN)  # an RN cannot log physician time
    with pytest.raises(errors.InvalidValue, match="non-clinical"):
        entry(credential=Credential.NONE)
    scheduling = entry(credential=Credential.NONE, role_class=RoleClass.NON_CLINICAL)
    assert not scheduling.counts_as_clinical
    assert entry(credential=Credential.MD, role_class=RoleClass.PHYSICIAN).counts_as_clinical


def test_naive_datetime_refused_aware_stdlib_accepted():
    fields = {
        "id": "c",
        "patient_id": "p",
        "mode": ContactMode.PHONE,
        "successful": True,
        "role_class": RoleClass.CLINICAL_STAFF,
        "performer_id": "rn",
        "family": ServiceFamily.TCM,
        "billing_practitioner_id": "dr",
    }
    with pytest.raises(errors.NaiveDatetime) as caught:
        InteractiveContact(at=dt.datetime(2026, 1, 5, 10), **fields)  # type: ignore[arg-type]  # noqa: DTZ001
    assert caught.value.field == "at"
    aware = InteractiveContact(at=dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC), **fields)  # type: ignore[arg-type]
    assert isinstance(aware.at, pendulum.DateTime)
    assert aware.at == pendulum.datetime(2026, 1, 5, 10, tz="UTC")


def test_device_days_need_system_for_rtm_only():
    with pytest.raises(errors.InvalidValue, match="RTM device days"):
        DeviceReadingDay(
            patient_id="p",
            family=ServiceFamily.RTM,
            device="inhaler",
            on=pendulum.Date(2026, 1, 1),
        )
    with pytest.raises(errors.InvalidValue, match="RPM or RTM"):
        DeviceReadingDay(
            patient_id="p",
            family=ServiceFamily.CCM,
            device="x",
            on=pendulum.Date(2026, 1, 1),
        )
    day = DeviceReadingDay(
        patient_id="p",
        family=ServiceFamily.RTM,
        device="inhaler",
        on=pendulum.Date(2026, 1, 1),
        rtm_system=RtmSystem.RESPIRATORY,
    )
    assert day.rtm_system is RtmSystem.RESPIRATORY


def test_discharge_needs_time_after_admission():
    base = {
        "id": "a",
        "source_key": "M1",
        "patient_id": "p",
        "kind": AdtEventKind.DISCHARGE,
        "occurred_at": pendulum.datetime(2026, 1, 5, tz="UTC"),
        "patient_class": PatientClass.INPATIENT,
    }
    with pytest.raises(errors.InvalidValue, match="discharge time"):
        AdtEvent(**base)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidValue, match="before the admission"):
        AdtEvent(
            **base,  # type: ignore[arg-type]
            admitted_at=pendulum.datetime(2026, 1, 6, tz="UTC"),
            discharged_at=pendulum.datetime(2026, 1, 5, tz="UTC"),
        )
    late_evening = AdtEvent(
        **base,  # type: ignore[arg-type]
        discharged_at=pendulum.datetime(2026, 1, 6, 3, tz="UTC"),
    )
    # 03:00 UTC on Jan 6 is still Jan 5 in Chicago: the practice's date is what counts.
    assert late_evening.discharge_date("America/Chicago") == pendulum.Date(2026, 1, 5)
    assert late_evening.discharge_date("UTC") == pendulum.Date(2026, 1, 6)


def test_service_periods():
    assert ServicePeriod.month(2024, 2).days == 29
    tcm = ServicePeriod.days_from(pendulum.Date(2026, 1, 20), 30)
    assert tcm.end == pendulum.Date(2026, 2, 18)
    assert pendulum.Date(2026, 2, 18) in tcm
    assert dt.date(2026, 2, 19) not in tcm
    assert pendulum.datetime(2026, 1, 25, tz="UTC") not in tcm  # an instant is not a date
    with pytest.raises(errors.InvalidValue) as caught:
        ServicePeriod.month(2026, 13)
    assert caught.value.field == "month"
    with pytest.raises(errors.InvalidValue, match="before the start"):
        ServicePeriod(start=pendulum.Date(2026, 2, 1), end=pendulum.Date(2026, 1, 1))


def test_claim_line_money_and_period():
    jan = ServicePeriod.month(2026, 1)
    line = {
        "patient_id": "p",
        "code": "99490",
        "units": 1,
        "family": ServiceFamily.CCM,
        "billing_practitioner_id": "dr",
        "period": jan,
    }
    with pytest.raises(errors.InvalidValue, match="Decimal") as caught:
        ClaimLine(date_of_service=pendulum.Date(2026, 1, 31), amount=64.02, **line)  # type: ignore[arg-type]
    assert caught.value.field == "amount"
    with pytest.raises(errors.InvalidValue, match="outside the service period") as caught:
        ClaimLine(date_of_service=pendulum.Date(2026, 2, 1), **line)  # type: ignore[arg-type]
    assert caught.value.field == "date_of_service"
    with pytest.raises(errors.InvalidValue, match="modifier") as caught:
        ClaimLine(date_of_service=pendulum.Date(2026, 1, 31), modifiers=["GTX"], **line)  # type: ignore[arg-type]
    assert caught.value.field == "modifiers[0]"
    with pytest.raises(errors.InvalidValue):
        ClaimLine(date_of_service=pendulum.Date(2026, 1, 31), amount=Decimal("NaN"), **line)  # type: ignore[arg-type]
    ok = ClaimLine(date_of_service=pendulum.Date(2026, 1, 31), amount=Decimal("64.02"), **line)  # type: ignore[arg-type]
    assert ok.amount == Decimal("64.02")


def test_denial_carries_rule_and_sources():
    with pytest.raises(errors.InvalidValue, match="source tag") as caught:
        Denial(
            patient_id="p",
            code="99490",
            family=ServiceFamily.CCM,
            reason=DenialReason.NO_CONSENT,
            message="No CCM consent on file.",
            rule="ccm.consent",
            period=ServicePeriod.month(2026, 1),
            sources=("CMS-FAQ",),
        )
    assert caught.value.field == "sources[0]"


def test_care_plan_versions_and_transitions():
    plan = CarePlan(
        id="cp",
        patient_id="p",
        title="Diabetes",
        families=[ServiceFamily.CCM],
        created_on=pendulum.Date(2026, 1, 5),
    )
    active = plan.activate()
    assert (active.status, active.version) == (CarePlanStatus.ACTIVE, 2)
    done = active.complete()
    assert done.version == 3
    with pytest.raises(errors.InvalidTransition):
        done.activate()
    with pytest.raises(errors.InvalidCode):
        CarePlan(
            id="cp",
            patient_id="p",
            title="x",
            families=["CCM"],
            created_on=pendulum.Date(2026, 1, 5),
        )  # type: ignore[list-item]
