"""A PHQ-9 or AUDIT-C given through carecore closes the depression or alcohol screening gap."""

from __future__ import annotations

import pendulum

from carecore.clock import FixedClock
from carecore.gaps import GapStatus
from carecore.model import AdministrativeSex, AssessmentResult, Patient
from carecore.service import CareProgram

D = pendulum.Date


def test_a_stored_assessment_is_evidence_for_its_screening_gap(tmp_path, carecore_pm):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'gaps.db'}",
        actor="test",
        clock=FixedClock(pendulum.datetime(2026, 3, 9, 15, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=D(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="UTC",
            )
        )
        tx.add(
            AssessmentResult(
                id="a1",
                patient_id="p1",
                instrument_id="phq-9",
                on=D(2025, 11, 3),
                answers=(),
                total=4,
            )
        )
        tx.add(
            AssessmentResult(
                id="a2",
                patient_id="p1",
                instrument_id="audit-c",
                on=D(2024, 11, 3),
                answers=(),
                total=1,
            )
        )
    found = {g.rule_id: g for g in program.care_gaps(on=D(2026, 3, 9))}
    program.close()
    depression = found["depression-screening"]
    assert (depression.status, depression.closed_by) == (GapStatus.CLOSED, ("a1",))
    assert "PHQ-9" in depression.explanation
    alcohol = found["unhealthy-alcohol-use-screening"]  # a year and more ago: due again
    assert alcohol.open
    assert "stopped counting on 2025-11-03" in alcohol.explanation
