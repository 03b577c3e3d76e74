"""A close's files name patients and their diagnoses: they are created for their owner only.

The output folder and its audit folder are created 0700 and every file 0600,
for both engines, whole or in buckets; a file left by an earlier close is made
0600 again when it is rewritten.
"""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

import pytest

from carecore.billing import close_files, cms_rule_set
from carecore.model import ServicePeriod

PATIENTS = (
    "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
    "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
)
EVENTS = (
    "patient_id,date,type,minutes,role,family\np1,2026-01-06,time_entry,25,clinical_staff,CCM\n"
)
FILES = ("claims.csv", "claims.json", "denials.csv", "summary.json", "audit/packets.jsonl")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    "engine",
    [
        "reference",
        pytest.param(
            "columnar",
            marks=pytest.mark.skipif(
                importlib.util.find_spec("polars") is None, reason="needs polars"
            ),
        ),
    ],
)
@pytest.mark.parametrize("buckets", [1, 2])
def test_close_outputs_are_private(tmp_path, engine, buckets):
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "events.csv").write_text(EVENTS)
    out = tmp_path / "out"
    out.mkdir()
    (out / "claims.csv").write_text("old\n")
    (out / "claims.csv").chmod(0o644)  # left by an earlier close, readable by all
    out.chmod(0o755)
    close_files(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        ServicePeriod.month(2026, 1),
        cms_rule_set(2026),
        out,
        engine=engine,
        buckets=buckets,
    )
    for name in FILES:
        assert _mode(out / name) == 0o600, (name, oct(_mode(out / name)))
    assert _mode(out / "audit") == 0o700
    assert (out / "claims.csv").read_text().count("99490") == 1


def test_a_new_output_folder_is_private(tmp_path):
    (tmp_path / "patients.csv").write_text(PATIENTS)
    (tmp_path / "events.csv").write_text(EVENTS)
    out = tmp_path / "new" / "out"
    close_files(
        tmp_path / "patients.csv",
        tmp_path / "events.csv",
        ServicePeriod.month(2026, 1),
        cms_rule_set(2026),
        out,
        engine="reference",
    )
    assert _mode(out) == 0o700
    assert _mode(out / "audit") == 0o700


def test_the_summary_table_writes_amounts_as_people_read_them(tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    rows = "".join(
        f"p{i},dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n" for i in range(20)
    )
    events = "".join(f"p{i},2026-01-06,time_entry,25,clinical_staff,CCM\n" for i in range(20))
    (tmp_path / "patients.csv").write_text(PATIENTS.splitlines(keepends=True)[0] + rows)
    (tmp_path / "events.csv").write_text(EVENTS.splitlines(keepends=True)[0] + events)
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app,
        [
            "billing",
            "close",
            "--month",
            "2026-01",
            "--patients",
            str(tmp_path / "patients.csv"),
            "--events",
            str(tmp_path / "events.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    # 20 x 99490 at $66.13: one format in the code rows and the total (it was "$1322.60").
    assert result.output.count("$1,322.60") == 2, result.output
