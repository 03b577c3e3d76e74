"""A CSV close reads time-entry credentials like the scenario reader (issue 15, item 4)."""

from __future__ import annotations

import pytest

from .test_close import ENGINES, run_cli, write

PATIENTS = """patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit
p1,dr1,MD,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
p2,dr1,MD,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
"""
EVENTS = """patient_id,date,type,minutes,role,family,credential
p1,2026-01-06,time_entry,12,clinical_staff,CCM,receptionist
p1,2026-01-20,time_entry,10,clinical_staff,CCM,RN
p2,2026-01-06,time_entry,25,physician,CCM,receptionist
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_unknown_credential_counts_for_staff_and_is_refused_for_physicians(tmp_path, engine):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    out = tmp_path / "out"
    result = run_cli(
        "--engine",
        engine,
        "--month",
        "2026-01",
        "--patients",
        str(patients),
        "--events",
        str(events),
        "--out",
        str(out),
    )
    # The physician row is refused (exit 1: a row was refused), naming its column.
    assert result.exit_code == 1, result.output
    assert f"refused: {events}:4 column credential" in result.output
    assert ":2 column credential" not in result.output
    # p1's 22 staff minutes count, the receptionist's 12 among them.
    claims = (out / "claims.csv").read_text()
    assert "p1" in claims
    assert "99490" in claims
