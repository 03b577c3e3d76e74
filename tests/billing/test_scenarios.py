"""Every public scenario, through the same code path as ``carecore billing evaluate``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carecore.cli import make_app

from ..inputs import SCENARIOS

DOCUMENT = json.loads(SCENARIOS.read_text())
CASES = DOCUMENT["cases"]


def test_all_public_cases_are_here():
    assert len(CASES) == 33


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Run the CLI once on the whole document and index its JSON by case id."""
    from carecore.plugins import get_plugin_manager

    path = tmp_path_factory.mktemp("scenarios") / "scenarios.json"
    path.write_text(json.dumps(DOCUMENT))
    result = CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)),
        ["billing", "evaluate", str(path), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    return {r["id"]: r for r in json.loads(result.output)["results"]}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_public_scenario(case, cli_results):
    got = cli_results[case["id"]]
    expected = case["expected"]
    assert sorted((b["code"], b["units"]) for b in got["billable"]) == sorted(
        (b["code"], b["units"]) for b in expected["billable"]
    )
    for want in expected["billable"]:
        lines = [b for b in got["billable"] if b["code"] == want["code"]]
        if "practitioner" in want:
            assert {b["practitioner"] for b in lines} == {want["practitioner"]}
        if "date_of_service" in want:
            assert {b["date_of_service"] for b in lines} == {want["date_of_service"]}
    billed = {b["code"] for b in got["billable"]}
    denied = {d["code"] for d in got["not_billable"]}
    for trap in expected["not_billable"]:
        assert trap["code"] not in billed
        # The engine says why, too: every trap code carries a denial.
        assert trap["code"] in denied, trap
    for denial in got["not_billable"]:
        assert denial["reason"].endswith(".")
        assert denial["rule"]


def test_single_case_file_and_table_format(tmp_path):
    from carecore.plugins import get_plugin_manager

    path = tmp_path / "one.json"
    path.write_text(json.dumps(CASES[0]))
    result = CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)), ["billing", "evaluate", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("CCM-01  cms-2024")
    assert "bill 99490 x1  dr_pcp" in result.output
    assert "not  99439  [below_threshold]" in result.output
