"""More cases in the scenario format, written by hand (each case lists the source tags of its rules)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

FILE = Path(__file__).parent / "data" / "more_scenarios.json"
CASES = json.loads(FILE.read_text())["cases"]


@pytest.fixture(scope="module")
def results():
    run = CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)),
        ["billing", "evaluate", str(FILE), "--format", "json"],
    )
    assert run.exit_code == 0, run.output
    return {r["id"]: r for r in json.loads(run.output)["results"]}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case, results):
    got = sorted((b["code"], b["units"]) for b in results[case["id"]]["billable"])
    want = sorted((b["code"], b["units"]) for b in case["expected"]["billable"])
    assert got == want, case["description"]
