"""An urgent finding's acknowledgement on PostgreSQL: stored, read back, audited, off the worklist."""

from __future__ import annotations

import pendulum

from carecore import audit
from carecore.clock import FixedClock
from carecore.model import AssessmentResult
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

NOW = pendulum.datetime(2026, 3, 4, 9, tz="UTC")
PHQ9 = ("44250-9", "44255-8", "44259-0", "44254-1", "44251-7", "44258-2", "44252-5", "44253-3")


def test_acknowledging_a_finding_on_postgres(postgres_url):
    with CareProgram.open(postgres_url, clock=FixedClock(NOW), actor="rn-park") as program:
        with program.transaction("setup") as tx:
            tx.add(make_patient("p1"))
        program.assess(
            "p1", "phq-9", dict.fromkeys(PHQ9, 0) | {"44260-8": 1}, result_id="r1", on=NOW.date()
        )
        assert "urgent-finding" in {
            i.kind for wl in program.worklists(time_zone="UTC").values() for i in wl.items
        }
        program.acknowledge_finding("r1")
    with CareProgram.open(postgres_url) as again:
        with again.transaction("check") as tx:
            stored = tx.get(AssessmentResult, "r1")
            trail = audit.entries(tx, patient_id="p1", actor="rn-park")
        assert (stored.acknowledged_by, stored.acknowledged_at) == ("rn-park", NOW)
        assert ("update", "AssessmentResult", "r1") in {(e.action, e.kind, e.key) for e in trail}
        assert "urgent-finding" not in {
            i.kind for wl in again.worklists(time_zone="UTC").values() for i in wl.items
        }
