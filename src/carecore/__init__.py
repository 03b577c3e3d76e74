"""carecore: care-management programs as a Python library.

The top-level namespace is small on purpose; the nouns live in
:mod:`carecore.model`, conversions in :mod:`carecore.convert`, errors in
:mod:`carecore.errors` and the plugin system in :mod:`carecore.plugins`.
Names below are loaded on first use, so ``import carecore`` stays cheap.

>>> import carecore
>>> carecore.__version__
'0.1.0'
>>> pm = carecore.get_plugin_manager(entry_points=False)
>>> pm.has_plugin("carecore._builtin.console_channel")
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from carecore.__about__ import __version__

if TYPE_CHECKING:
    from carecore.plugins import get_plugin_manager, hookimpl

__all__ = ["__version__", "get_plugin_manager", "hookimpl"]

_LAZY = {"get_plugin_manager": "carecore.plugins", "hookimpl": "carecore.plugins"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'carecore' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
