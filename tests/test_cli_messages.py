"""The command line as a user meets it: ``python -m carecore`` and error messages without class names."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from carecore.__about__ import __version__
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager


def test_python_dash_m_carecore_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "carecore", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert __version__ in done.stdout


def test_bad_input_message_names_no_python_class() -> None:
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app, ["report", "--db", "sqlite:///nowhere.db", "--out", "x", "--hcc", "V99"]
    )
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "--hcc" in message
    assert "VERSION:YEAR" in message
    assert "InvalidValue" not in message
    assert message.startswith("Error: ")


def test_bad_month_message_names_the_option_not_the_class() -> None:
    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(
        app, ["report", "--db", "sqlite:///x.db", "--out", "o", "--to", "2026-13"]
    )
    assert result.exit_code == 2
    assert "InvalidValue" not in result.output
    assert "--to" in result.output
