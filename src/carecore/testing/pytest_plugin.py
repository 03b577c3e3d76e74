"""An opt-in pytest plugin with carecore fixtures.

Enable it in a ``conftest.py``::

    pytest_plugins = ["carecore.testing.pytest_plugin"]

Fixtures:

``carecore_pm``
    a fresh plugin manager with the built-ins only (no installed plugins),
    so a test sees exactly the plugins it registers.
``carecore_clock``
    a :class:`~carecore.clock.FixedClock` at Monday 2026-01-05 09:00 in
    America/Chicago. Override the fixture to choose another instant.
``carecore_converter``
    a new carecore converter, so hooks a test registers do not leak.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pendulum
import pytest

from carecore.clock import FixedClock
from carecore.convert import make_converter
from carecore.plugins import get_plugin_manager

if TYPE_CHECKING:
    import cattrs
    import pluggy

__all__ = ["carecore_clock", "carecore_converter", "carecore_pm"]


@pytest.fixture
def carecore_pm() -> pluggy.PluginManager:
    """A plugin manager with carecore's built-ins and nothing installed."""
    return get_plugin_manager(entry_points=False)


@pytest.fixture
def carecore_clock() -> FixedClock:
    """A clock fixed at 2026-01-05 09:00 America/Chicago (a Monday)."""
    return FixedClock(pendulum.datetime(2026, 1, 5, 9, tz="America/Chicago"))


@pytest.fixture
def carecore_converter() -> cattrs.Converter:
    """A fresh carecore converter."""
    return make_converter()
