"""The report: its CSV and HTML numbers are the metrics API's; the CLI writes the expected files."""

from __future__ import annotations

import csv
import re
import sys
from decimal import Decimal

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.metrics import program_report
from carecore.plugins import get_plugin_manager
from carecore.report import PLOTS, PRACTICE_PLOTS, write_report
from carecore.report._labels import label, measure_value
from carecore.service import CareProgram

from . import world
from .world import Q1, TZ, D


@pytest.fixture(scope="module")
def report():
    return program_report(
        world.data(),
        period=Q1,
        time_zone=TZ,
        expected_pmpm={"2026Q1": Decimal("45.00")},
        intervention=D(2026, 2, 1),
        comparison_months=1,
    )


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_and_html_carry_the_api_numbers(report, tmp_path):
    files = write_report(report, tmp_path)
    assert {name for name, _ in PLOTS + PRACTICE_PLOTS} == {p.name for p in files.png}
    for png in files.png:
        assert png.read_bytes().startswith(b"\x89PNG")
    rows = {r["measure"]: r for r in read_csv(tmp_path / "measures.csv")}
    assert set(rows) == {m.name for m in report.measures}
    for m in report.measures:
        assert rows[m.name]["value"] == ("" if m.value is None else str(m.value))
        assert rows[m.name]["numerator"] == str(m.numerator)
    # the hand-counted values, as the CSV writes them
    assert rows["minutes_per_patient_month"]["value"] == "12.0000"
    assert rows["expected_revenue"]["value"] == "248.83"
    pmpm = read_csv(tmp_path / "pmpm.csv")
    assert pmpm == [
        {
            "quarter": "2026Q1",
            "member_months": "6",
            "observed_total": "248.83",
            "observed_pmpm": "41.47",
            "expected_pmpm": "45.00",
            "difference": "-3.53",
            "source": "care-management revenue (CCM claim lines)",
        }
    ]
    before_after = {r["measure"]: r for r in read_csv(tmp_path / "before_after.csv")}
    assert before_after["minutes_per_patient_month"]["change"] == "-8.5000"
    assert [r["care_manager"] for r in read_csv(tmp_path / "caseload.csv")] == ["dr1", "rn1"]
    assert [r["change"] for r in read_csv(tmp_path / "a1c.csv")] == ["-1.4", "0.4"]
    work = read_csv(tmp_path / "worklist.csv")
    assert len(work) == sum(len(w.items) for w in report.worklists)
    assert {
        "owner": "rn1",
        "priority": "today",  # due at the month's end, which is the as-of day
        "due": "2026-03-31",
        "overdue_since": "",
        "kind": "minutes-to-threshold",
        "patient_id": "p1",
        "action": "Log care time (CCM: 20 more clinical-staff minutes reach 99490; "
        "the month would still be refused: No CCM consent is on file for this period.)",
        "detail": "CCM: 20 more clinical-staff minutes reach 99490; "
        "the month would still be refused: No CCM consent is on file for this period.",
    } in work
    html = files.index.read_text(encoding="utf-8")
    # every measure row of the HTML table equals the API's value
    table = re.search(r'<table data-table="measures">(.*?)</table>', html, re.DOTALL)
    assert table is not None
    for m in report.measures:
        cells = re.search(
            rf"<tr><td>{re.escape(label(m.name))}</td><td[^>]*>([^<]*)</td>", table.group(1)
        )
        assert cells is not None, m.name
        assert cells.group(1) == measure_value(m)
    # the labels a reader sees, not the API's names or raw fractions
    assert "ED visits per 1,000" in table.group(1)
    assert "ed_visits_per_1000" not in table.group(1)
    assert "50.0%" in table.group(1)  # the billable rate, 0.5000 in the API
    for name in re.findall(r'<img src="([^"]+)"', html):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")


def test_out_must_be_a_folder(report, tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(errors.InvalidValue) as info:
        write_report(report, target)
    assert info.value.field == "out"


def test_missing_matplotlib_names_the_extra(report, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(errors.MissingDependency) as info:
        write_report(report, tmp_path)
    assert 'pip install ".[report]"' in str(info.value)


def test_cli_report_from_a_store(tmp_path):
    url = f"sqlite:///{tmp_path / 'program.db'}"
    d = world.data()
    with CareProgram.open(url) as program:
        for group in (
            d.patients,
            d.conditions,
            d.enrollments,
            d.care_teams,
            d.time_entries,
            d.adt_events,
            d.episodes,
            d.claim_lines,
            d.observations,
        ):
            program.import_records(group, reason="test world")
        with program.transaction("plans") as tx:
            tx.add(d.care_plans[2])
    (tmp_path / "expected.csv").write_text("quarter,expected_pmpm\n2026Q1,45.00\n")
    out = tmp_path / "report"
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--db",
            url,
            "--out",
            str(out),
            "--from",
            "2026-01",
            "--to",
            "2026-03",
            "--time-zone",
            TZ,
            "--expected-pmpm",
            str(tmp_path / "expected.csv"),
            "--intervention",
            "2026-02-01",
            "--months",
            "1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    import json

    printed = json.loads(result.output)
    assert printed["measures"]["minutes_per_patient_month"] == "12.0000"
    assert printed["measures"]["enrollment_rate"] == "0.5000"
    assert printed["measures"]["billable_rate"] == "0.5000"
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "measures.csv", "pmpm.csv", "before_after.csv", "a1c.csv"} <= names
    assert {name for name, _ in PLOTS} <= names
    rows = {r["measure"]: r["value"] for r in read_csv(out / "measures.csv")}
    assert rows == printed["measures"] | {
        k: "" for k, v in printed["measures"].items() if v is None
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "2026-13"], "--to='2026-13'"),
        (["--from", "2026-05", "--to", "2026-03"], "--from='2026-05'"),
        (["--as-of", "2026-02-30"], "--as-of='2026-02-30'"),
        (["--hcc", "V99:2026"], "--hcc='V99:2026'"),
        (["--hcc", "V24:2027"], "year=2027"),
    ],
)
def test_cli_bad_options_name_the_option(tmp_path, args, message):
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app, ["report", "--db", "memory://", "--out", str(tmp_path / "r"), *args]
    )
    assert result.exit_code != 0
    assert message in result.output
