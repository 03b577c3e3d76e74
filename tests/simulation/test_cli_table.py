"""``carecore simulate``'s table, page and plots: numbers shown with sensible precision."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

pytest.importorskip("numpy")

#: The rows of the table by the kind of number they show (labels as printed).
DOLLARS = ("revenue ($)", "staff cost ($)", "net revenue ($)", "per enrolled patient-year ($)")
SHARES = ("billable rate", "staff utilisation", "30-day readmission rate")
COUNTS = (
    "break-even enrollment per FTE",
    "enrolled patients (last month)",
    "minutes logged",
    "ED visits per 1,000 member-years",
    "admissions per 1,000 member-years",
)
NUMBER = re.compile(r"-?[\d,]+(?:\.\d+)?%?|n/a")


def _run(tmp_path, replications, *extra):
    # Small enough that dollars stay under $100 for some rows and counts are fractional means.
    config = tmp_path / "small.json"
    config.write_text(json.dumps({"name": "small", "months": 2, "population": {"size": 60}}))
    app = make_app(get_plugin_manager(entry_points=False))
    args = ["simulate", str(config), "--replications", str(replications), "--seed", "3"]
    result = CliRunner().invoke(app, [*args, "--no-progress", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def _rows(output):
    """Each measure row: its label and the numbers printed after it."""
    rows = {}
    for line in output.splitlines()[2:]:
        match = re.match(r"(.+?)\s{2,}(\S.*)$", line)
        if match:
            rows[match.group(1).strip()] = NUMBER.findall(match.group(2))
    return rows


def _decimals(number):
    text = number.rstrip("%")
    return len(text.split(".")[1]) if "." in text else 0


def test_the_table_shows_dollars_counts_and_shares_with_sensible_precision(tmp_path):
    output = _run(tmp_path, 4)
    assert output.splitlines()[0].startswith("small: 4 replications, seed 3")
    rows = _rows(output)
    assert len(rows) == 13, output
    for label, numbers in rows.items():
        assert numbers, (label, output)
        shown = [n for n in numbers if n != "n/a"]
        if any(label.endswith(d) for d in DOLLARS):
            assert {_decimals(n) for n in shown} <= {0, 2}, (label, numbers)
            assert len({_decimals(n) for n in shown}) <= 1, (label, numbers)  # one row, one way
        elif label in SHARES:
            assert all(n.endswith("%") and _decimals(n) == 1 for n in shown), (label, numbers)
        else:
            assert label in COUNTS, label
            assert all(_decimals(n) <= 1 for n in shown), (label, numbers)
        assert all(_decimals(n) != 3 for n in shown), (label, numbers)  # was 77.676, 50.500
        for number in shown:
            whole = number.rstrip("%").split(".")[0].lstrip("-")
            if len(whole.replace(",", "")) > 3:
                assert "," in whole, (label, number)  # thousands separators


def test_one_replication_says_it_has_no_interval_instead_of_a_degenerate_one(tmp_path):
    output = _run(tmp_path, 1)
    assert output.splitlines()[0].startswith("small: 1 replication, seed 3"), output
    assert "replications," not in output.splitlines()[0]
    for label, numbers in _rows(output).items():
        assert numbers[1:] == ["n/a"], (label, numbers)  # was "108,599 to 108,599"
    assert "needs at least 2 replications" in output


def test_the_page_says_one_replication_and_no_interval(tmp_path):
    out = tmp_path / "out"
    _run(tmp_path, 1, "--out", str(out))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "1 replication from seed 3" in page
    assert "needs at least 2 replications" in page
    cells = re.findall(r"<td>([^<]*)</td>", page)
    intervals = [cells[i] for i in range(2, len(cells), 3)]
    assert intervals
    assert set(intervals) == {"n/a"}, intervals


@pytest.mark.parametrize("replications", [1, 2, 7])
def test_the_histogram_counts_whole_replications(tmp_path, monkeypatch, replications):
    pytest.importorskip("matplotlib")
    from carecore.report import _plots

    figures = []
    real = _plots._png

    def keep(figure):
        figures.append(figure)
        return real(figure)

    monkeypatch.setattr(_plots, "_png", keep)
    _run(tmp_path, replications, "--out", str(tmp_path / "out"))
    histogram = figures[-1].axes[0]
    assert histogram.get_ylabel() == "replications"
    ticks = [t for t in histogram.get_yticks() if histogram.get_ylim()[0] <= t]
    assert ticks
    assert all(float(t).is_integer() for t in ticks), ticks  # was 0.2, 0.4, ...
    labels = [t.get_text() for t in histogram.get_xticklabels()]
    assert len(set(labels)) == len(labels), labels  # no tick label repeated
