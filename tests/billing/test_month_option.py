"""``billing close --month`` reads the month as every other command does (one parser).

It had a regex of its own: a year before 1900 was refused naming ``year``,
not the option, and its message differed from ``billing claims --month``.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager


def _run(*args):
    return CliRunner().invoke(make_app(get_plugin_manager(entry_points=False)), list(args))


def _close(month):
    return _run("billing", "close", "--month", month, "--db", "sqlite:///nowhere/x.db")


def _claims(month, out):
    return _run("billing", "claims", "--month", month, "--db", "sqlite:///x.db", "--out", out)


def _refusal(result):
    """The line naming --month, whatever prefix the command puts before it."""
    lines = [line for line in result.output.splitlines() if "--month" in line]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.output
    return lines[0][lines[0].index("--month") :]


@pytest.mark.parametrize("month", ["1800-01", "2026-13", "2026-00", "26-01", "2026-1", "march"])
def test_a_bad_month_exits_2_naming_the_option_and_the_value(month):
    result = _close(month)
    assert _refusal(result).startswith(f"--month={month!r}: ")


@settings(max_examples=60, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}\Z"),
        st.text(alphabet="0123456789-x", max_size=8),
    )
)
def test_close_and_claims_refuse_the_same_months_the_same_way(tmp_path_factory, month):
    close = _close(month)
    claims = _claims(month, str(tmp_path_factory.mktemp("c") / "out"))
    if "--month" in close.output or "--month" in claims.output:
        assert _refusal(close) == _refusal(claims)
