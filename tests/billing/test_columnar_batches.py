"""The canonical months' results taken batch by batch: every chunk sees the rows and texts of all before."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("polars")

from carecore.billing import _columnar as columnar
from carecore.billing import cms_rule_set
from carecore.billing._close import read_patients, run_close
from carecore.model import ServicePeriod

MONTH = ServicePeriod.month(2026, 3)


def files(folder: Path) -> dict[str, bytes]:
    """The files written under *folder*, by path (but the summary, which may hold timings)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != "summary.json"
    }


@pytest.mark.parametrize(("batch", "chunk"), [(1, 5), (3, 11), (7, 60)])
def test_months_taken_in_many_batches_write_the_reference_files(
    tmp_path: Path, monkeypatch: Any, batch: int, chunk: int
) -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(bench), str(tmp_path), "--patients", "400", "--seed", "11"],
        check=True,
        capture_output=True,
    )
    taken: list[int] = []
    upto = columnar._Evaluated.upto

    def counted(self: Any, key: int | None) -> None:
        upto(self, key)
        taken.append(self.taken)

    monkeypatch.setattr(columnar._Evaluated, "upto", counted)
    monkeypatch.setattr(columnar, "_BATCH", batch)
    monkeypatch.setattr(columnar, "_CHUNK", chunk)
    rules = cms_rule_set(2026)
    closed = columnar.close_columnar(
        tmp_path / "patients.csv", tmp_path / "events.csv", MONTH, rules, tmp_path / "c"
    )
    patients, problems = read_patients(tmp_path / "patients.csv")
    summary, refused = run_close(
        patients,
        tmp_path / "events.csv",
        MONTH,
        rules,
        tmp_path / "r",
        extra_rejected=len(problems),
    )
    assert closed is not None
    assert closed[0] == summary
    assert [str(p) for p in closed[1]] == [str(p) for p in [*problems, *refused]]
    # Many batches, taken over several of the writer's chunks (some chunks took none).
    assert taken[-1] > 10
    assert len(set(taken)) > 3
    written = files(tmp_path / "c")
    assert "claims.csv" in written
    assert written == files(tmp_path / "r")
