"""Hostile input gets a carecore.errors type naming the path or field and the limit; the CLI exits 2."""

from __future__ import annotations

import pickle

import pendulum
import pytest
from click.testing import CliRunner

from carecore import errors, limits
from carecore.cli import make_app
from carecore.convert import from_json
from carecore.model import CarePlan, Patient, ServiceFamily
from tests.billing.test_close import EVENTS, PATIENTS, write


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("[" * 5000, "json_depth=100"),  # was RecursionError
        ('{"id": [' * 150 + "]}" * 150, "json_depth=100"),
        ('{"id": ' + "9" * 5000 + "}", "json_number_digits=100"),  # was ValueError
        ('{"id": 1.' + "5" * 500 + "}", "json_number_digits=100"),
    ],
)
def test_from_json_refuses_beyond_the_limits_by_name(text, limit):
    with pytest.raises(errors.InvalidInput) as info:
        from_json(text, Patient)
    assert limit in str(info.value)
    assert info.value.problems[0].path.startswith("$")


def test_the_limits_are_configurable_and_read_from_the_environment(monkeypatch):
    monkeypatch.setenv(limits.ENV_VAR, "json_depth=3, csv_cell=50")
    monkeypatch.setattr(limits, "_active", None)
    assert (limits.current().json_depth, limits.current().csv_cell) == (3, 50)
    with pytest.raises(errors.InvalidInput, match="json_depth=3"):
        limits.load_json("[[[[1]]]]", what="x")
    monkeypatch.setenv(limits.ENV_VAR, "json_depth=deep")
    monkeypatch.setattr(limits, "_active", None)
    with pytest.raises(errors.InvalidValue) as info:
        limits.current()
    assert info.value.field == limits.ENV_VAR
    monkeypatch.setattr(limits, "_active", None)


def test_a_deep_scenario_file_exits_2(tmp_path):
    file = tmp_path / "deep.json"
    file.write_text('{"cases": ' + "[" * 5000 + "]" * 5000 + "}")
    result = CliRunner().invoke(make_app(), ["billing", "evaluate", str(file)])
    assert result.exit_code == 2, result.output
    assert "json_depth=100" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("engine", ["reference", "auto"])
@pytest.mark.parametrize("which", ["patients", "events"])
def test_a_csv_cell_past_the_limit_exits_2_naming_file_line_and_limit(tmp_path, engine, which):
    """A cell over 131,072 characters raised _csv.Error."""
    huge = "x" * 140_000
    patients, events = PATIENTS, EVENTS
    if which == "patients":
        patients = patients.replace("p2,dr1,MD,E11.65,", f'p2,dr1,MD,"E11.65{huge}",')
    else:
        events = events.replace("45,clinical_staff,CCM,RN", f'45,clinical_staff,CCM,"{huge}"')
    p, e = write(tmp_path, patients, events)
    result = CliRunner().invoke(
        make_app(),
        [
            "billing", "close", "--patients", str(p), "--events", str(e), "--month", "2026-01",
            "--out", str(tmp_path / "out"), "--engine", engine, "--no-progress",
        ],
    )  # fmt: skip
    if engine == "auto" and result.exit_code != 2:
        pytest.importorskip("polars")  # the columnar engine reads the cell and refuses the row
        assert result.exit_code in {0, 1}, result.output
        return
    assert result.exit_code == 2, result.output
    assert f"{which}.csv" in result.output
    assert "line 3" in result.output or "line 4" in result.output
    assert "csv_cell=131072" in result.output


@pytest.mark.parametrize("part", ["tasks", "barriers", "symptom_plans", "referrals", "goals"])
def test_a_care_plan_part_of_the_wrong_type_is_refused_by_name(part):
    """None among tasks, barriers, symptom plans or referrals raised AttributeError."""
    with pytest.raises(errors.InvalidValue) as info:
        CarePlan(
            id="cp1",
            patient_id="p1",
            title="Plan",
            families=frozenset({ServiceFamily.CCM}),
            created_on=pendulum.date(2026, 1, 5),
            **{part: [None]},
        )
    assert info.value.field == f"{part}[0]"


def test_a_refusal_keeps_its_problems_through_a_process_pool():
    """A refusal from a worker process showed '(got <object object ...>)' for 'no value'."""
    err = errors.InvalidInput("events.csv", problems=[errors.Problem(path="line 4", message="m")])
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # noqa: S301 - our own value
