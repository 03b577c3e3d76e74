"""Property: whatever a scenario file holds, reading it fails only with carecore errors.

Valid public cases are mutated (a key dropped, a value replaced by one of the
wrong type, null, a huge number or nested garbage, an unknown key added), then
read with the library and run through ``carecore billing evaluate``. The
library raises only :mod:`carecore.errors` types; the command exits 0 or 2,
never 1, and never prints a traceback.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import cms_rule_set, evaluate
from carecore.billing.scenarios import read_scenarios
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

from .test_scenarios import CASES

APP = make_app(get_plugin_manager(entry_points=False))

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**15, max_value=10**40),
    st.integers(min_value=-(10**40), max_value=-1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "2026-02-30",
            "0001-01-01",
            "9999-12-31",
            "2026-03-01T10:00",
            "CCM",
            "MD",
            "receptionist",
            "physician",
            "time_entry",
            "99490",
            "2026-03",
        ]
    ),
)
garbage = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=8), inner, max_size=3),
    ),
    max_leaves=8,
)
#: Replacement values: null and huge numbers often, other garbage otherwise.
replacements = st.one_of(st.none(), st.just(10**30), garbage)


def _paths(node: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON tree (the root is the empty path)."""
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out.extend(_paths(value, (*path, index)))
    return out


def _at(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@st.composite
def mutated_cases(draw: st.DrawFn) -> dict[str, Any]:
    case = copy.deepcopy(draw(st.sampled_from(CASES)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(case)))
        target = _at(case, path)
        action = draw(st.sampled_from(["drop", "replace", "add_key"]))
        if action == "add_key" and isinstance(target, dict):
            target[draw(st.text(min_size=1, max_size=10))] = draw(garbage)
        elif action == "drop" and path:
            parent = _at(case, path[:-1])
            del parent[path[-1]]
        elif path:
            _at(case, path[:-1])[path[-1]] = draw(replacements)
    return case


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(mutated_cases())
def test_library_raises_only_carecore_errors(case):
    try:
        scenarios = read_scenarios(case)
    except errors.InvalidInput as exc:
        assert exc.problems, "an InvalidInput names at least one problem"
        assert all(p.path.startswith("$") for p in exc.problems)
        return
    for scenario in scenarios:
        try:
            rules = cms_rule_set(scenario.year)
        except errors.CarecoreError:
            continue
        evaluate(scenario.facts, rules)


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "case.json"


@SETTINGS
@given(case=mutated_cases(), wrap=st.booleans())
def test_cli_exits_0_or_2_without_a_traceback(scenario_file, case, wrap):
    document = {"cases": [copy.deepcopy(CASES[0]), case]} if wrap else case
    scenario_file.write_text(json.dumps(document))
    result = CliRunner().invoke(APP, ["billing", "evaluate", str(scenario_file)])
    assert result.exit_code in {0, 2}, (result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stdout == ""
        assert "$" in result.stderr or "rule set" in result.stderr
