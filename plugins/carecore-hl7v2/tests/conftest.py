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
