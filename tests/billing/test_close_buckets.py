"""The month close in buckets (carecore.billing.buckets) gives the unbucketed close's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

MONTH = ServicePeriod.month(2026, 1)
RULES = cms_rule_set(2026)

PATIENT_HEADER = "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
EVENT_HEADER = "patient_id,date,type,minutes,role,family\n"


def write(folder: Path, patients: str, events: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "patients.csv").write_text(patients, encoding="utf-8")
    (folder / "events.csv").write_text(events, encoding="utf-8")
    return folder / "patients.csv", folder / "events.csv"


@pytest.mark.parametrize("engine", ["reference", "columnar"])
def test_a_row_with_the_wrong_number_of_cells_keeps_the_patients_other_rows(tmp_path, engine):
    # The short row on line 3 used to be read as a row of no patient: it split p1's rows and
    # the close dropped line 4 (15 minutes) in silence, refusing 99490 for 10 minutes.
    patients, events = write(
        tmp_path,
        PATIENT_HEADER + "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n",
        EVENT_HEADER
        + "p1,2026-01-06,time_entry,10,clinical_staff,CCM\n"
        + "p1,2026-01-07,time_entry\n"
        + "p1,2026-01-08,time_entry,15,clinical_staff,CCM\n",
    )
    summary, refused = close_files(patients, events, MONTH, RULES, None, engine=engine)
    assert summary.claim_lines == 1
    assert [(p.line, p.message, p.value) for p in refused] == [(3, "wrong number of cells", "3")]
