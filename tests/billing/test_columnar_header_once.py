"""The columnar close reads each file's header line once, and still refuses patients.csv's first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("polars")

from carecore import errors
from carecore.billing import _columnar as columnar
from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

MONTH = ServicePeriod.month(2026, 1)
PATIENTS = (
    "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
    "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    "p2,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
)
EVENTS = (
    "patient_id,date,type,minutes,role,family\n"
    "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n"
    "p2,2026-01-07,time_entry,45,clinical_staff,CCM\n"
)


def counted_headers(monkeypatch: Any) -> list[str]:
    """The names of the files whose header the columnar close reads, a name per read."""
    reads: list[str] = []
    read_header = columnar._read_header

    def counting(file: Path, *args: Any) -> Any:
        reads.append(file.name)
        return read_header(file, *args)

    monkeypatch.setattr(columnar, "_read_header", counting)
    return reads


def test_each_header_is_read_once(tmp_path: Path, monkeypatch: Any) -> None:
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "events.csv").write_text(EVENTS)
    reads = counted_headers(monkeypatch)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        MONTH,
        cms_rule_set(2026),
        tmp_path / "c",
    )
    assert closed is not None
    assert (closed[0].patients_evaluated, closed[0].patients_billed) == (2, 2)
    assert sorted(reads) == ["events.csv", "patients.csv"]
    # The files are the reference close's.
    close_files(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        MONTH,
        cms_rule_set(2026),
        tmp_path / "r",
        engine="reference",
    )
    written = files(tmp_path / "r")
    assert written
    assert written == files(tmp_path / "c")
    for name in written:
        assert (tmp_path / "c" / name).read_bytes() == (tmp_path / "r" / name).read_bytes()


def files(folder: Path) -> list[str]:
    """The files written under *folder* (but the summary, which may hold timings)."""
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and p.name != "summary.json"
    )


@pytest.mark.parametrize(
    "patients_header",
    [
        "patient_id,practitioner,conditions,shoe_size",  # a column no one reads
        "patient_id,conditions",  # a required column missing
    ],
)
def test_a_refused_patients_header_comes_before_a_refused_events_header(
    tmp_path: Path, patients_header: str
) -> None:
    (tmp_path / "patients.csv").write_text(f"{patients_header}\np1,dr1,E11.65\n")
    (tmp_path / "events.csv").write_text("patient_id,typo_date,type\np1,2026-01-06,time_entry\n")
    said = {}
    for engine in ("reference", "columnar"):
        with pytest.raises(errors.CarecoreError) as caught:
            close_files(
                tmp_path / "patients.csv",
                tmp_path / "events.csv",
                MONTH,
                cms_rule_set(2026),
                tmp_path / engine,
                engine=engine,
            )
        said[engine] = str(caught.value)
    assert "patients.csv" in said["reference"]
    assert said["columnar"] == said["reference"]
