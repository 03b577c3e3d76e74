from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.service import CareProgram

pytest_plugins = ["carecore.testing.pytest_plugin"]
# carecore-postgres's fixtures, for the tests run on both stores (they skip without it).
if importlib.util.find_spec("carecore_postgres") is not None:
    pytest_plugins.append("carecore_postgres.testing")

# The tests share the loopback listener of test_listener.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def program(tmp_path, carecore_pm):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'hl7.db'}",
        actor="hl7-test",
        clock=FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    yield program
    program.close()


@pytest.fixture
def hl7_import(tmp_path):
    """Run `carecore hl7 import` on *text* in a new store: the table's result, then --format json's."""
    from click.testing import CliRunner

    from carecore.cli import make_app

    def run(text: str):
        url = f"sqlite:///{tmp_path / 'import.db'}"
        runner = CliRunner()
        assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
        path = tmp_path / "x.hl7"
        path.write_text(text, encoding="utf-8")
        args = ["hl7", "import", str(path), "--db", url, "--no-progress"]
        return runner.invoke(make_app(), args), runner.invoke(
            make_app(), [*args, "--format", "json"]
        )

    return run
