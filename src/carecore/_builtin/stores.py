"""The built-in stores: ``memory://`` and ``sqlite:///path``.

They answer ``carecore_open_store`` with ``trylast=True``, so an installed
plugin may take over either scheme.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from carecore.protocols import Store

__all__ = ["carecore_open_store"]


@hookimpl(trylast=True)
def carecore_open_store(url: str) -> Store | None:
    """Open ``memory://`` and ``sqlite:///`` URLs; leave every other scheme to plugins."""
    if url == "memory://" or url.startswith("memory://"):
        from carecore.storage.memory import MemoryStore  # noqa: PLC0415 - load a store only when opened

        return MemoryStore(url)
    if url.startswith("sqlite:"):
        from carecore.storage.sqlite import SqliteStore  # noqa: PLC0415

        return SqliteStore(url)
    return None
