"""Reading scenario files strictly: unknown keys, nulls, credentials (issue 15, item 4)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.billing import cms_rule_set, evaluate
from carecore.billing.facts import TimeFact
from carecore.billing.scenarios import load_scenarios, read_scenarios
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

from .test_scenarios import CASES, DOCUMENT

ROOT = Path(__file__).parents[2]
VALID_FILES = [
    ROOT / "tests" / "billing" / "data" / "more_scenarios.json",
    ROOT / "docs" / "how-to" / "my-scenarios.json",
]


def _case(case_id: str) -> dict:
    return copy.deepcopy(next(c for c in CASES if c["id"] == case_id))


def _event(case: dict, kind: str) -> dict:
    return next(e for e in case["events"] if e["type"] == kind)


@pytest.fixture(scope="module")
def app():
    return make_app(get_plugin_manager(entry_points=False))


def cli(app, tmp_path, document):
    path = tmp_path / "case.json"
    path.write_text(json.dumps(document))
    return CliRunner().invoke(app, ["billing", "evaluate", str(path), "--format", "json"])


def problems(document) -> list[errors.Problem]:
    with pytest.raises(errors.InvalidInput) as caught:
        read_scenarios(document)
    return caught.value.problems


# -- valid documents keep loading ---------------------------------------------


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_valid_files_still_load(path):
    assert load_scenarios(path)


def test_public_document_still_loads():
    assert len(read_scenarios(DOCUMENT)) == len(CASES)


def test_annotation_keys_are_allowed_everywhere():
    case = _case("CCM-01")
    case["notes"] = "free text"
    case["patient"]["notes"] = "the second condition was added in 2023"
    case["patient"]["chronic_conditions"][0]["source"] = ["S1"]
    case["practitioners"][0]["description"] = "the PCP"
    case["evaluation_period"]["comment"] = "March"
    case["events"][1]["notes"] = "logged late"
    case["expected"]["notes"] = "why"
    case["expected"]["billable"][0]["notes"] = "one unit"
    document = {"schema_version": "1.0", "notes": "mine", "cases": [case]}
    [scenario] = read_scenarios(document)
    assert scenario.facts.events[1].minutes == 10


# -- unknown keys -------------------------------------------------------------


def test_typo_in_significant_risk_is_refused_with_its_path():
    # Today's reader drops the misspelt flag, so the condition silently loses
    # its significant risk and the decision changes.
    document = {"cases": copy.deepcopy(CASES[:4])}
    condition = document["cases"][3]["patient"]["chronic_conditions"][0]
    condition["significant-risk"] = condition.pop("significant_risk")
    found = problems(document)
    assert [p.path for p in found] == ["$.cases[3].patient.chronic_conditions[0].significant-risk"]
    assert "unknown field" in found[0].message
    assert "significant_risk" in found[0].message  # the suggestion


@pytest.mark.parametrize(
    ("case_id", "where", "path"),
    [
        ("CCM-01", lambda c: c, "$.cases[0].setings"),
        ("CCM-01", lambda c: c["evaluation_period"], "$.cases[0].evaluation_period.setings"),
        ("CCM-01", lambda c: c["practitioners"][0], "$.cases[0].practitioners[0].setings"),
        ("CCM-01", lambda c: c["patient"], "$.cases[0].patient.setings"),
        ("CCM-01", lambda c: c["expected"], "$.cases[0].expected.setings"),
        (
            "CCM-01",
            lambda c: c["expected"]["billable"][0],
            "$.cases[0].expected.billable[0].setings",
        ),
        (
            "CCM-01",
            lambda c: c["expected"]["not_billable"][0],
            "$.cases[0].expected.not_billable[0].setings",
        ),
    ],
)
def test_unknown_key_is_refused(case_id, where, path):
    case = _case(case_id)
    where(case)["setings"] = "x"
    found = problems({"cases": [case]})
    assert [p.path for p in found] == [path]
    assert "unknown field" in found[0].message


EVENT_CASES = {}
for _c in CASES:
    for _e in _c["events"]:
        EVENT_CASES.setdefault(_e["type"], _c["id"])


@pytest.mark.parametrize(("kind", "case_id"), sorted(EVENT_CASES.items()))
def test_unknown_key_in_each_event_type_is_refused(kind, case_id):
    case = _case(case_id)
    index = next(i for i, e in enumerate(case["events"]) if e["type"] == kind)
    case["events"][index]["familly"] = "CCM"
    found = problems(case)
    assert [p.path for p in found] == [f"$.events[{index}].familly"]


def test_unknown_top_level_key_is_refused():
    found = problems({"schema_verison": "1.0", "cases": copy.deepcopy(CASES[:1])})
    assert [p.path for p in found] == ["$.schema_verison"]


def test_unknown_key_exits_2_with_case_and_path(app, tmp_path):
    document = {"cases": copy.deepcopy(CASES[:4])}
    condition = document["cases"][3]["patient"]["chronic_conditions"][0]
    condition["significant-risk"] = condition.pop("significant_risk")
    result = cli(app, tmp_path, document)
    assert result.exit_code == 2
    assert f"scenario {document['cases'][3]['id']}" in result.output
    assert "$.cases[3].patient.chronic_conditions[0].significant-risk" in result.output
    assert "Traceback" not in result.output


# -- missing and null values ----------------------------------------------------


@pytest.mark.parametrize("value", [[], None], ids=["empty", "null"])
def test_no_practitioners_exits_2(app, tmp_path, value):
    case = _case("CCM-01")
    case["practitioners"] = value
    result = cli(app, tmp_path, case)
    assert result.exit_code == 2, result.output
    assert "scenario CCM-01" in result.output
    assert "$.practitioners" in result.output


@pytest.mark.parametrize("value", ["drop", None], ids=["missing", "null"])
def test_event_without_family_exits_2(app, tmp_path, value):
    case = _case("CCM-01")
    if value == "drop":
        del case["events"][1]["family"]
    else:
        case["events"][1]["family"] = None
    result = cli(app, tmp_path, case)
    assert result.exit_code == 2, result.output
    assert "$.events[1].family" in result.output
    assert "Traceback" not in result.output


def test_null_minutes_exits_2(app, tmp_path):
    case = _case("CCM-01")
    case["events"][1]["minutes"] = None
    result = cli(app, tmp_path, case)
    assert result.exit_code == 2, result.output
    assert "$.events[1].minutes: required" in result.output


@pytest.mark.parametrize(("kind", "case_id"), sorted(EVENT_CASES.items()))
def test_null_in_any_event_field_is_a_typed_error(kind, case_id):
    case = _case(case_id)
    index = next(i for i, e in enumerate(case["events"]) if e["type"] == kind)
    for key in case["events"][index]:
        mutated = copy.deepcopy(case)
        mutated["events"][index][key] = None
        try:
            read_scenarios(mutated)
        except errors.InvalidInput as exc:
            assert all(p.path.startswith(f"$.events[{index}].") for p in exc.problems), key
        # A null optional field reads as absent: no error is fine too.


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (
            lambda c: c["patient"]["chronic_conditions"][0].update(expected_duration_months=10**30),
            "$.patient.chronic_conditions[0].expected_duration_months",
        ),
        (lambda c: c["patient"]["consent_on"].update(CCM="0001-01-01"), "$.patient.consent_on.CCM"),
        (lambda c: c["patient"].update(id=None), "$.patient.id"),
        (lambda c: c["practitioners"][0].update(id=None), "$.practitioners[0].id"),
        (lambda c: c.update(description={"a": 1}), "$.description"),
    ],
)
def test_out_of_range_values_exit_2(app, tmp_path, mutate, path):
    case = _case("CCM-01")
    mutate(case)
    result = cli(app, tmp_path, case)
    assert result.exit_code == 2, result.output
    assert path in result.output


# -- credentials ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinical_staff", "non_clinical", "auxiliary", "bh_care_manager"])
@pytest.mark.parametrize("text", ["receptionist", "Unit clerk"])
def test_unknown_credential_is_kept_where_counting_does_not_use_it(role, text):
    case = _case("CCM-01")
    case["events"][1].update(role=role, credential=text)
    [scenario] = read_scenarios(case)
    entry = scenario.facts.events[1]
    assert isinstance(entry, TimeFact)
    assert entry.credential is None
    assert entry.credential_text == text


def test_unknown_staff_credential_counts_like_any_staff_time():
    case = _case("CCM-01")
    case["events"][1]["credential"] = "receptionist at the desk"
    [scenario] = read_scenarios(case)
    assert evaluate(scenario.facts, cms_rule_set(scenario.year)).billable == [("99490", 1)]


def test_known_spelling_keeps_its_raw_text():
    case = _case("CCM-01")
    case["events"][1]["credential"] = "CMA"
    [scenario] = read_scenarios(case)
    entry = scenario.facts.events[1]
    assert entry.credential is not None
    assert entry.credential.value == "MA"
    assert entry.credential_text == "CMA"


@pytest.mark.parametrize("role", ["physician", "qhp"])
def test_unknown_credential_is_refused_where_counting_uses_it(role):
    case = _case("CCM-01")
    case["events"][1].update(role=role, credential="receptionist")
    [found] = problems(case)
    assert found.path == "$.events[1].credential"
    assert found.value == "receptionist"
    assert "MD" in found.message
    assert "NP" in found.message


def test_unknown_practitioner_credential_is_refused_with_the_known_ones(app, tmp_path):
    case = _case("CCM-01")
    case["practitioners"][0]["credential"] = "receptionist"
    result = cli(app, tmp_path, case)
    assert result.exit_code == 2
    assert "$.practitioners[0].credential" in result.output
    assert "MD, DO, NP" in result.output
