from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from carecore.cli import make_app


@pytest.fixture
def app(carecore_pm, tmp_path, monkeypatch):
    # The demo's default store is ./carecore-demo.db: keep it out of the checkout.
    monkeypatch.chdir(tmp_path)
    return make_app(carecore_pm)


def test_plugins_command_lists_builtins(app):
    result = CliRunner().invoke(app, ["plugins", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = [p["name"] for p in data["plugins"]]
    assert names == [
        "carecore._builtin.cms_rules",
        "carecore._builtin.commands",
        "carecore._builtin.console_channel",
        "carecore._builtin.instruments",
        "carecore._builtin.stores",
    ]
    assert data["provided"]["rule_sets"] == {
        f"cms-{year}": "carecore._builtin.cms_rules" for year in (2024, 2025, 2026)
    }
    assert data["provided"]["channels"] == {"console": "carecore._builtin.console_channel"}


def test_installed_console_script_runs(tmp_path):
    script = shutil.which("carecore") or str(
        __import__("pathlib").Path(sys.executable).with_name("carecore")
    )
    version = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    from carecore import __version__

    assert __version__ in version.stdout
    listing = subprocess.run(
        [script, "--help"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "demo" in listing.stdout
