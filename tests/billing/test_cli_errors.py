from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from carecore.cli import make_app

from .test_scenarios import CASES


def run(tmp_path, document, *args):
    path = tmp_path / "case.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    from carecore.plugins import get_plugin_manager

    return CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)), ["billing", "evaluate", str(path), *args]
    )


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [
        (
            lambda c: c["events"][0].update(minutes="ten"),
            "$.cases[1].events[0].minutes",
            "whole number",
        ),
        (
            lambda c: c["events"][0].update(date="2024-02-30"),
            "$.cases[1].events[0].date",
            "YYYY-MM-DD",
        ),
        (
            lambda c: c["events"][0].update(role="janitor"),
            "$.cases[1].events[0].role",
            "expected one of",
        ),
        (
            lambda c: c["events"][0].update(type="telepathy"),
            "$.cases[1].events[0].type",
            "unknown event type",
        ),
        (lambda c: c.pop("evaluation_period"), "$.cases[1].evaluation_period", "required"),
        (
            lambda c: c["patient"]["consent_on"].update(CCM="soon"),
            "$.cases[1].patient.consent_on.CCM",
            "YYYY-MM-DD",
        ),
        (lambda c: c.update(year="2024"), "$.cases[1].year", "whole number"),
    ],
)
def test_malformed_case_exits_2_naming_case_and_path(tmp_path, mutate, path, message):
    document = {"cases": copy.deepcopy(CASES[:3])}
    mutate(document["cases"][1])
    result = run(tmp_path, document, "--format", "json")
    assert result.exit_code == 2
    assert "scenario CCM-02" in result.output
    assert path in result.output
    assert message in result.output
    # Nothing partial: the good first case is not printed as a result.
    assert '"results"' not in result.output
    assert "CCM-01" not in result.output


def test_every_problem_in_a_case_is_listed(tmp_path):
    case = copy.deepcopy(CASES[0])
    case["events"][1]["minutes"] = -3
    case["events"][2]["family"] = "XYZ"
    result = run(tmp_path, case)
    assert result.exit_code == 2
    assert "2 problems" in result.output
    assert "$.events[1].minutes" in result.output
    assert "$.events[2].family" in result.output


def test_bad_json_and_missing_rule_set(tmp_path):
    result = run(tmp_path, "{not json")
    assert result.exit_code == 2
    assert "not valid JSON" in result.output
    case = copy.deepcopy(CASES[0])
    case["year"] = 2019
    result = run(tmp_path, case)
    assert result.exit_code == 2
    assert "cms-2019" in result.output
    assert "cms-2024" in result.output  # the message lists what is installed


def test_nothing_billable_still_exits_0(tmp_path):
    result = run(tmp_path, CASES[1])  # CCM-02: 19 minutes
    assert result.exit_code == 0
    assert "billable: nothing" in result.output


def test_year_without_rule_set_names_case_and_path(tmp_path):
    document = {"cases": copy.deepcopy(CASES[:2])}
    document["cases"][1]["year"] = 2019
    result = run(tmp_path, document)
    assert result.exit_code == 2
    assert "scenario CCM-02" in result.output
    assert "$.cases[1].year" in result.output
    assert "cms-2019" in result.output


def test_rule_refusing_facts_exits_2_naming_the_case(tmp_path, monkeypatch):
    from carecore import errors
    from carecore.billing import _engine as engine

    def refuse(facts, rules):
        raise errors.InvalidValue(field="minutes", value=0, reason="must be positive")

    monkeypatch.setattr(engine, "evaluate", refuse)
    result = run(tmp_path, {"cases": copy.deepcopy(CASES[:1])})
    assert result.exit_code == 2, result.output
    assert "scenario CCM-01" in result.output
    assert "$.cases[0]" in result.output
    assert "Traceback" not in result.output
