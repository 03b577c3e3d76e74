"""Store and service code a user would write, checked by mypy --strict (never run)."""

from __future__ import annotations

import attrs
import pendulum

from carecore.model import CarePlan, Patient, TimeEntry
from carecore.protocols import Store, Transaction
from carecore.service import CareProgram
from carecore.storage import AuditEntry, BulkResult, CheckReport, open_store

store: Store = open_store("sqlite:///practice.db")
store.initialize()
at = pendulum.now("UTC")
with store.transaction(actor="rn:ana", reason="chart review", at=at) as tx:
    checked: Transaction = tx
    patient: Patient = tx.get(Patient, "p1")
    entries: list[TimeEntry] = tx.find(TimeEntry, patient_id=patient.id)
    minutes: int = sum(e.minutes for e in entries)
    log: list[AuditEntry] = tx.audit_entries(patient_id="p1")
    first: bool = tx.claim_inbound("hl7", "MSG0001")
report: CheckReport = store.check()
ok: bool = report.ok

with CareProgram.open("memory://", actor="rn:ana") as program:
    loaded: BulkResult = program.import_records(entries, reason="EHR export")
    plan: CarePlan = program.revise_care_plan(
        "cp1", lambda p: attrs.evolve(p, title="Revised"), reason="after discharge"
    )
    version: int = plan.version
