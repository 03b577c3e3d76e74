from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pendulum
import pytest
from click.testing import CliRunner

from carecore._demo import build_demo, summarize
from carecore.cli import make_app
from carecore.model import RoleClass, ServicePeriod


@pytest.fixture
def app(carecore_pm, tmp_path, monkeypatch):
    # The demo's default store is ./carecore-demo.db: keep it out of the checkout.
    monkeypatch.chdir(tmp_path)
    return make_app(carecore_pm)


def test_demo_summary_matches_the_model_values(app):
    result = CliRunner().invoke(
        app, ["demo", "--month", "2026-03", "--patients", "20", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    # Recompute the totals straight from the values the demo builds.
    period = ServicePeriod.month(2026, 3)
    practice = build_demo(patients=20, seed=3, period=period)
    in_month = [e for e in practice.time_entries if period.start <= e.service_date <= period.end]
    staff = sum(e.minutes for e in in_month if e.role_class is RoleClass.CLINICAL_STAFF)
    non_clinical = sum(e.minutes for e in in_month if e.role_class is RoleClass.NON_CLINICAL)
    assert f"clinical staff {staff}," in result.output
    assert f"non-clinical (never counted) {non_clinical}" in result.output
    assert "20 patients" in result.output
    assert result.output.count("\np-00") == 20
    assert "service month 2026-03-01..2026-03-31" in result.output


def test_demo_keeps_its_practice_in_sqlite_by_default(app, tmp_path):
    from carecore._demo import bill
    from carecore.model import ClaimLine, Patient
    from carecore.storage import open_store

    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--month", "2026-03"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "carecore-demo.db").exists()
    again = runner.invoke(app, ["demo", "--month", "2026-03"])
    assert "store: sqlite:///carecore-demo.db: 0 records added" in again.output
    check = runner.invoke(app, ["db", "check", "sqlite:///carecore-demo.db"])
    assert check.exit_code == 0, check.output
    assert "consistent" in check.output
    period = ServicePeriod.month(2026, 3)
    practice = build_demo(patients=12, seed=7, period=period)
    expected = sorted(
        (line.patient_id, line.code, line.units)
        for _pid, r in bill(practice, period)
        for line in r.claim_lines
    )
    store = open_store("sqlite:///carecore-demo.db")
    try:
        with store.transaction(actor="test", reason="check the demo", at=pendulum.now("UTC")) as tx:
            patients = tx.all(Patient)
            lines = tx.all(ClaimLine)
    finally:
        store.close()
    assert patients == sorted(practice.patients, key=lambda p: p.id)
    assert sorted((line.patient_id, line.code, line.units) for line in lines) == expected


def test_demo_json_is_consistent(app):
    result = CliRunner().invoke(app, ["demo", "--month", "2026-03", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 12
    for row in rows:
        # Eligibility in the demo is two or more active chronic conditions.
        assert row["eligible"] == (row["chronic_conditions"] >= 2)
        if not row["enrolled"]:
            assert row["staff_minutes"] == row["practitioner_minutes"] == 0
    rows_again = summarize(
        build_demo(patients=12, seed=7, period=ServicePeriod.month(2026, 3)),
        ServicePeriod.month(2026, 3),
    )
    assert [r["patient_id"] for r in rows] == [r.patient_id for r in rows_again]


def test_demo_is_reproducible_and_seed_matters(app):
    runner = CliRunner()
    args = ["demo", "--month", "2026-03", "--db", "memory://"]
    first = runner.invoke(app, [*args, "--seed", "1"]).output
    again = runner.invoke(app, [*args, "--seed", "1"]).output
    other = runner.invoke(app, [*args, "--seed", "2"]).output
    assert first == again
    assert first != other


@pytest.mark.parametrize("month", ["2026-13", "March", "2026-3"])
def test_bad_month_is_a_clear_error(app, month):
    result = CliRunner().invoke(app, ["demo", "--month", month])
    assert result.exit_code == 1
    assert "--month" in result.output
    assert repr(month) in result.output
    assert "Traceback" not in result.output


def test_plugins_command_lists_builtins(app):
    result = CliRunner().invoke(app, ["plugins", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = [p["name"] for p in data["plugins"]]
    assert names == [
        "carecore._builtin.cms_rules",
        "carecore._builtin.commands",
        "carecore._builtin.console_channel",
        "carecore._builtin.instruments",
        "carecore._builtin.stores",
    ]
    assert data["provided"]["rule_sets"] == {
        f"cms-{year}": "carecore._builtin.cms_rules" for year in (2024, 2025, 2026)
    }
    assert data["provided"]["channels"] == {"console": "carecore._builtin.console_channel"}


def test_installed_console_script_runs_the_demo(tmp_path):
    script = shutil.which("carecore") or str(
        __import__("pathlib").Path(sys.executable).with_name("carecore")
    )
    done = subprocess.run(
        [script, "demo", "--month", "2026-01"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("carecore demo: Chronic care management (CCM)")
    assert (tmp_path / "carecore-demo.db").is_file()
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    from carecore import __version__

    assert __version__ in version.stdout


def test_demo_bills_the_month_with_the_engine(app):
    from collections import Counter

    from carecore._demo import bill

    result = CliRunner().invoke(
        app, ["demo", "--month", "2026-03", "--patients", "30", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    period = ServicePeriod.month(2026, 3)
    results = bill(build_demo(patients=30, seed=4, period=period), period)
    units = Counter()
    for _pid, evaluated in results:
        for line in evaluated.claim_lines:
            units[line.code] += line.units
    expected = ", ".join(f"{code} x{count}" for code, count in sorted(units.items()))
    assert f"billing (cms-2026): {expected} for" in result.output
    later = CliRunner().invoke(app, ["demo", "--month", "2031-01"])
    assert "no CMS rule set for 2031" in later.output
