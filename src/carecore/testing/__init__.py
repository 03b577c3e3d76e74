"""What carecore ships for testing programs and plugins built on it.

Install with ``pip install ".[testing]"`` in the carecore clone. It holds hypothesis
strategies for every public value (:mod:`carecore.testing.strategies`), the
contract suites vendors run against their plugins
(:mod:`carecore.testing.contracts`), and an opt-in pytest plugin
(:mod:`carecore.testing.pytest_plugin`).

>>> from carecore.testing import FixedClock, registered
>>> import pendulum
>>> FixedClock(pendulum.datetime(2026, 1, 5, tz="UTC")).now().year
2026
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

from carecore.clock import FixedClock

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pluggy

__all__ = ["FixedClock", "registered"]


@contextmanager
def registered(pm: pluggy.PluginManager, plugin: object, name: str | None = None) -> Iterator[str]:
    """Register *plugin* on *pm* for the duration of a ``with`` block.

    The plugin is unregistered afterwards even if the block fails, so one
    test's plugin never leaks into the next.

    >>> from carecore.plugins import get_plugin_manager
    >>> class Extra:
    ...     pass
    >>> pm = get_plugin_manager(entry_points=False)
    >>> with registered(pm, Extra(), name="extra") as plugin_name:
    ...     pm.has_plugin(plugin_name)
    True
    >>> pm.has_plugin("extra")
    False
    """
    plugin_name = pm.register(plugin, name=name)
    if plugin_name is None:
        from carecore import errors  # noqa: PLC0415

        raise errors.PluginError("is blocked or already registered", field="plugin", value=name)
    try:
        yield plugin_name
    finally:
        pm.unregister(plugin, name=plugin_name)
