from __future__ import annotations

import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.service import CareProgram

pytest_plugins = ["carecore.testing.pytest_plugin"]


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
