"""Every public CareProgram method that touches patient data leaves audit rows naming the patient.

The methods are read from the class, so a public method added later and not
classified below fails :func:`test_every_public_method_is_classified` with a
message saying where to classify it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import attrs
import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.hookspecs import ExportTarget
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Coding,
    Condition,
    Credential,
    DomainEvent,
    Enrollment,
    MedicationSource,
    Observation,
    Patient,
    PatientClass,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 20, 15, tz="UTC")
DAY = pendulum.Date(2026, 3, 4)
PHQ9_URGENT = {
    "44250-9": 2,
    "44255-8": 2,
    "44259-0": 1,
    "44254-1": 2,
    "44251-7": 1,
    "44258-2": 1,
    "44252-5": 1,
    "44253-3": 0,
    "44260-8": 1,
}


def _period() -> ServicePeriod:
    return ServicePeriod.month(2026, 3)


def _entry(entry_id: str) -> TimeEntry:
    return TimeEntry(
        id=entry_id,
        patient_id="p1",
        performer_id="rn-1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=25,
        family=ServiceFamily.CCM,
        activity="care coordination",
        service_date=DAY,
        billing_practitioner_id="dr-1",
    )


def _discharge() -> AdtEvent:
    when = pendulum.datetime(2026, 3, 18, 15, tz="UTC")
    return AdtEvent(
        id="adt-1",
        source_key="adt-1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=when,
        discharged_at=when,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
        visit_number="V1",
    )


def _receive_in(program: CareProgram) -> object:
    with program.transaction("feed") as tx:
        return program.receive_in(tx, _discharge(), source="hl7")


def _emit(program: CareProgram) -> object:
    with program.transaction("emit") as tx:
        return program.emit(tx, DomainEvent(patient_id="p1", occurred_at=NOW))


class _Outbox:
    """An exporter that takes care plans for ``outbox://`` targets (the EHR a write-back reaches)."""

    def __init__(self) -> None:
        self.plans: list[str] = []

    @hookimpl
    def carecore_export_careplan(self, plan: object, target: ExportTarget | None) -> str | None:
        if target is None or not target.url.startswith("outbox://"):
            return None
        self.plans.append(plan.id)  # type: ignore[attr-defined]
        return f"ehr-{plan.id}"  # type: ignore[attr-defined]


def _write_back(program: CareProgram) -> object:
    pm = get_plugin_manager(entry_points=False)
    pm.register(_Outbox(), name="outbox-exporter")
    sender = CareProgram(
        program.store, clock=program.clock, actor=program.identity, plugin_manager=pm
    )
    return sender.write_back_care_plan("cp1", ExportTarget(url="outbox://ehr"))


def _correct_readings(program: CareProgram) -> object:
    reading = Observation(
        id="o7", patient_id="p1", measure="weight", value="80.0", unit="kg", on=DAY
    )
    CareProgram(program.store, clock=program.clock, actor="loader").record_reading(reading)
    return program.correct_readings([attrs.evolve(reading, value="81.0")])


#: Public methods that touch a patient's data: how to call each on the small store.
PATIENT_DATA: dict[str, Callable[[CareProgram], object]] = {
    "import_records": lambda p: p.import_records(
        [Condition(id="c9", patient_id="p1", coding=Coding.icd10cm("I10"), chronic=True)],
        reason="import",
    ),
    "attest_conditions": lambda p: p.attest_conditions(["c1", "c2"], by="dr-1"),
    "assess": lambda p: p.assess("p1", "phq-9", PHQ9_URGENT, result_id="r2", on=DAY),
    "acknowledge_finding": lambda p: p.acknowledge_finding("r1"),
    "create_care_plan": lambda p: p.create_care_plan("cp2", "p1", on=DAY),
    "review_care_plan": lambda p: p.review_care_plan("cp1"),
    "close_care_plan": lambda p: p.close_care_plan("cp1", completed=False),
    "update_goal_progress": lambda p: p.update_goal_progress("cp1"),
    "share_care_plan": lambda p: p.share_care_plan("cp1"),
    "write_back_care_plan": _write_back,
    "revise_care_plan": lambda p: p.revise_care_plan("cp1", lambda plan: plan, reason="revise"),
    "check_overdue_tasks": lambda p: p.check_overdue_tasks(),
    "record_time": lambda p: p.record_time(_entry("t2")),
    "record_reading": lambda p: p.record_reading(
        Observation(id="o9", patient_id="p1", measure="weight", value="80.0", unit="kg", on=DAY)
    ),
    "correct_readings": _correct_readings,
    "record_readings": lambda p: p.record_readings(
        [Observation(id="o8", patient_id="p1", measure="weight", value="80.0", unit="kg", on=DAY)]
    ),
    "worklists": lambda p: p.worklists(),
    "run_campaigns": lambda p: p.run_campaigns(),
    "change_enrollment": lambda p: p.change_enrollment(
        "e1", lambda e: e.consent(pendulum.Date(2026, 3, 10)), reason="consent"
    ),
    "receive": lambda p: p.receive(_discharge(), source="hl7"),
    "receive_in": _receive_in,
    "emit": _emit,
    "record_billing": lambda p: p.record_billing("p1", _period(), [], []),
    "close_month": lambda p: p.close_month(_period()),
    "evaluate_period": lambda p: p.evaluate_period(_period()),
    "reconcile_medications": lambda p: p.reconcile_medications(
        "p1",
        by="dr-1",
        on=DAY,
        lists={MedicationSource.EHR: [], MedicationSource.PATIENT_REPORTED: []},
    ),
    "medication_list": lambda p: p.medication_list("p1"),
    "care_gaps": lambda p: p.care_gaps(patient_id="p1"),
    "medication_adherence": lambda p: p.medication_adherence(
        start=pendulum.Date(2026, 1, 1), end=DAY, patient_id="p1"
    ),
    "program_data": lambda p: p.program_data(),
}

#: Public methods that touch no patient's data, and why.
NO_PATIENT_DATA: dict[str, str] = {
    "open": "opens a store; the operations done through the program are audited",
    "close": "closes the store",
    "as_actor": "a program acting as someone else; reads nothing",
    "transaction": "the operations done in it are audited, each under its patient",
    "practice_time_zone": "reads the practice's settings, no patient record",
    "record_dead_letter": "stores an unparsed inbound message, which names no patient id",
}


def public_methods() -> set[str]:
    return {
        name
        for name, value in inspect.getmembers(CareProgram)
        if not name.startswith("_") and callable(value) and not inspect.isclass(value)
    }


def test_every_public_method_is_classified():
    unclassified = public_methods() - set(PATIENT_DATA) - set(NO_PATIENT_DATA)
    assert not unclassified, (
        f"CareProgram.{', '.join(sorted(unclassified))}: add it to PATIENT_DATA (with a call "
        "whose audit rows are checked) or NO_PATIENT_DATA (with the reason) in "
        "tests/privacy/test_audit_completeness.py"
    )
    assert not (set(PATIENT_DATA) | set(NO_PATIENT_DATA)) - public_methods(), "stale entries"
    assert not set(PATIENT_DATA) & set(NO_PATIENT_DATA)


def small_program(url: str) -> CareProgram:
    program = CareProgram.open(url, actor="loader", clock=FixedClock(NOW))
    program.import_records(
        [
            Practitioner(id="rn-1", name="Nurse One", credential=Credential.RN),
            Practitioner(id="dr-1", name="Doctor One", credential=Credential.MD),
        ],
        reason="staff",
    )
    program.import_records(
        [
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=AdministrativeSex.FEMALE,
                time_zone="UTC",
            )
        ],
        reason="patients",
    )
    program.import_records(
        [
            Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.65"), chronic=True),
            Condition(id="c2", patient_id="p1", coding=Coding.icd10cm("I50.22"), chronic=True),
            Enrollment.identify(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr-1",
                on=pendulum.Date(2026, 2, 1),
            ),
        ],
        reason="records",
    )
    program.create_care_plan("cp1", "p1", responsible_id="dr-1", on=DAY)
    program.assess("p1", "phq-9", PHQ9_URGENT, result_id="r1", on=DAY)
    program.record_time(_entry("t1"))
    return program


@pytest.mark.parametrize("method", sorted(PATIENT_DATA))
def test_a_method_touching_patient_data_leaves_rows_naming_the_patient(method, tmp_path):
    with small_program(f"sqlite:///{tmp_path / 'audit.db'}") as program:
        with program.transaction("seq") as tx:
            last = tx.audit_entries()[-1].seq
        PATIENT_DATA[method](program.as_actor("rn:ana"))
        with program.transaction("check") as tx:
            rows = tx.audit_entries(patient_id="p1", after=last)
        assert [r for r in rows if r.actor == "rn:ana"], method
