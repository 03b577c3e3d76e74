"""A month close hands no patient's records to another: nothing mutable is shared between patients."""

from __future__ import annotations

from collections.abc import MutableSequence
from typing import Any

import pendulum

from carecore.billing import _month, cms_rule_set
from carecore.billing._bridge import facts_and_gaps
from carecore.billing._month import MonthRecords, close_records
from carecore.model import (
    AdministrativeSex,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    FaceToFaceVisit,
    MdmLevel,
    Patient,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    VisitKind,
)

MARCH = ServicePeriod.month(2026, 3)
DR = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)

#: The record kinds the close hands to the bridge as it grouped them (not filtered first).
KINDS = (
    "conditions",
    "consents",
    "enrollments",
    "contacts",
    "visits",
    "device_readings",
    "mdm_assessments",
    "device_setups",
    "apcm_addons",
    "external_claims",
    "elections",
)


def patient(pid: str) -> Patient:
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        time_zone="America/Chicago",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
    )


def records() -> MonthRecords:
    pids = ("p1", "p2", "p3")
    return MonthRecords(
        patients=[patient(pid) for pid in pids],
        practitioners=[DR],
        conditions=[
            Condition(
                id=f"{pid}-c{i}",
                patient_id=pid,
                coding=Coding.icd10cm(code),
                chronic=True,
                significant_risk=True,
                onset=pendulum.Date(2020, 1, 1),
            )
            for pid in pids
            for i, code in enumerate(("E11.9", "I10"))
        ],
        consents=[
            Consent(
                id=f"{pid}-k",
                patient_id=pid,
                family=ServiceFamily.CCM,
                method=ConsentMethod.VERBAL,
                obtained_on=pendulum.Date(2026, 1, 10),
                obtained_by="dr1",
                billing_practitioner_id="dr1",
                cost_sharing_explained=True,
            )
            for pid in pids
        ],
        # Only p1 has a visit: p2 and p3 hold none of a kind another patient holds.
        visits=[
            FaceToFaceVisit(
                id="v1",
                patient_id="p1",
                on=pendulum.Date(2026, 1, 10),
                kind=VisitKind.OFFICE_EM,
                mdm=MdmLevel.MODERATE,
                billing_practitioner_id="dr1",
                em_code="99214",
            )
        ],
        time_entries=[
            TimeEntry(
                id=f"{pid}-t",
                patient_id=pid,
                performer_id="dr1",
                credential=Credential.MD,
                role_class=RoleClass.PHYSICIAN,
                minutes=32,
                family=ServiceFamily.CCM,
                activity="plan review",
                service_date=pendulum.Date(2026, 3, 9),
                billing_practitioner_id="dr1",
            )
            for pid in pids
        ],
        care_plans={pid: {ServiceFamily.CCM: pendulum.Date(2026, 1, 10)} for pid in pids},
    )


def test_no_patient_is_handed_a_list_another_patient_is_handed(monkeypatch: Any) -> None:
    # The records each patient's facts are built from, as handed over (the real bridge runs).
    handed: dict[str, dict[str, object]] = {}

    def recording(**kwargs: Any) -> Any:
        handed[kwargs["patient"].id] = {name: kwargs[name] for name in KINDS}
        return facts_and_gaps(**kwargs)

    monkeypatch.setattr(_month, "facts_and_gaps", recording)
    results = close_records(records(), MARCH, cms_rule_set(2026))

    assert [r.patient_id for r in results] == ["p1", "p2", "p3"]
    assert [r.billable for r in results] == [[("99491", 1)], [], []]
    assert len(handed["p1"]["visits"]) == 1  # type: ignore[arg-type]
    # A value two patients share (a kind both lack: one held by another patient, as the
    # visits, or by none, as the device readings) cannot be added to: what one patient's
    # month put in it would be read as the next patient's records.
    shared = sorted(
        (one, other, name)
        for one in handed
        for other in handed
        if one < other
        for name in KINDS
        if handed[one][name] is handed[other][name]
        and isinstance(handed[one][name], MutableSequence)
    )
    assert shared == []
    assert handed["p2"]["visits"] == () == handed["p3"]["device_readings"]
