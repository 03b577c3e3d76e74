"""``carecore simulate``'s error messages name what the user typed or wrote, in their words."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager
from carecore.simulation import load_study, study_from_mapping

pytest.importorskip("numpy")


def _invoke(*args):
    app = make_app(get_plugin_manager(entry_points=False))
    return CliRunner().invoke(app, ["simulate", *args])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--workers", "0"], "Error: --workers=0: "),
        (["--executor", "process", "--workers", "-1"], "Error: --workers=-1: "),
        (["--executor", "ray"], "Error: --executor='ray': no such executor"),
    ],
    ids=["workers-0", "workers-negative", "unknown-executor"],
)
def test_options_are_named_as_typed_like_replications_and_seed(args, expected):
    result = _invoke("demo-practice", "--replications", "1", "--no-progress", *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith(expected), result.output
    # As --replications=0 and --seed=-1 are named: the option, not the Python argument.
    assert "Error: workers=" not in result.output
    assert "Error: executor=" not in result.output


def test_a_decimal_setting_is_shown_as_written_not_as_a_python_repr(tmp_path):
    config = tmp_path / "neg.toml"
    config.write_text("[[policy.staff]]\nloaded_cost_per_hour = -5\n")
    result = _invoke(str(config))
    assert result.exit_code == 2, result.output
    assert "policy.staff[0].loaded_cost_per_hour=-5: " in result.output, result.output
    assert "Decimal(" not in result.output
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping({"policy": {"staff": [{"loaded_cost_per_hour": -2.5}]}})
    assert str(caught.value).startswith("policy.staff[0].loaded_cost_per_hour=-2.5: ")


def test_an_unknown_top_level_key_lists_start_as_the_shipped_configs_write_it():
    with pytest.raises(errors.InvalidValue) as caught:
        study_from_mapping({"bogus": 1})
    text = str(caught.value)
    known = text.split("known: ", 1)[1].rstrip(")").split(", ")
    assert "start" in known, text
    assert "start_year" not in known, text
    assert "start_month" not in known, text
    assert {"months", "name", "policy", "population", "outcomes", "time_zone"} <= set(known)
    # Every listed key is one a config may hold.
    for key in known:
        value = {"start": "2026-03", "months": 2, "name": "x", "time_zone": "UTC"}.get(key, {})
        study_from_mapping({key: value})


def test_a_folder_given_as_config_is_called_a_folder(tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    with pytest.raises(errors.InvalidValue) as caught:
        load_study(folder)
    assert caught.value.field == "config"
    assert "is a folder" in caught.value.reason
    assert "no such file" not in caught.value.reason
    result = _invoke(str(folder))
    assert result.exit_code == 2, result.output
    assert "is a folder" in result.output
    missing = _invoke(str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2
    assert "no such file" in missing.output
