"""``carecore simulate --out``: a folder it cannot write exits 2 naming --out, before the study runs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

pytest.importorskip("numpy")


def _invoke(tmp_path, out, monkeypatch=None):
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"months": 1, "population": {"size": 20}}))
    app = make_app(get_plugin_manager(entry_points=False))
    args = ["simulate", str(config), "--replications", "1", "--no-progress", "--out", str(out)]
    return CliRunner().invoke(app, args)


def _never_run(monkeypatch):
    import carecore.simulation

    def refuse(*_args, **_kwargs):
        raise AssertionError("the study ran before --out was checked")

    monkeypatch.setattr(carecore.simulation, "run_study", refuse)


def test_an_out_folder_in_a_folder_that_does_not_exist_exits_2_and_writes_nothing(
    tmp_path, monkeypatch
):
    # The reference's exit-status table: an --out in a folder that does not exist
    # exits 2 and writes nothing. It made the folder tree and exited 0.
    _never_run(monkeypatch)
    out = tmp_path / "no-such-folder" / "deeper" / "x"
    result = _invoke(tmp_path, out)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --out="), result.output
    assert "does not exist" in result.output
    assert "no-such-folder" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "no-such-folder").exists()


def test_an_out_folder_under_a_file_exits_2_before_the_study_runs(tmp_path, monkeypatch):
    _never_run(monkeypatch)
    (tmp_path / "a-file").write_text("not a folder")
    result = _invoke(tmp_path, tmp_path / "a-file" / "out")
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: --out="), result.output
    assert "is a file, not a folder" in result.output
    assert "Traceback" not in result.output


def test_an_out_folder_whose_parent_exists_is_made(tmp_path):
    out = tmp_path / "results"
    result = _invoke(tmp_path, out)
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} >= {"results.csv", "summary.json", "index.html"}
    assert out.stat().st_mode & 0o777 == 0o700


def test_one_replication_s_summary_json_gives_the_mean_and_no_interval(tmp_path):
    # An interval of one value was written as low == high == the mean.
    out = tmp_path / "one"
    assert _invoke(tmp_path, out).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    figures = next(v for v in summary.values() if isinstance(v, dict) and v)
    some = next(iter(figures.values()))
    assert set(some) == {"mean", "low", "high"}
    assert all(f["low"] is None and f["high"] is None for f in figures.values())
    assert any(f["mean"] is not None for f in figures.values())
