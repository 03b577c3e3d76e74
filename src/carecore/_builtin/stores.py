"""The built-in stores: ``sqlite:///path`` and ``memory://``, both served by the SQLite store.

``memory://`` is a private in-memory SQLite database (see
:mod:`carecore.storage.sqlite`): the same SQL store as a file, so it keeps
the same promises, but it lives only as long as the store that opened it and
only in that process. They answer ``carecore_open_store`` with
``trylast=True``, so an installed plugin may take over either scheme.
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
    if url.startswith(("memory://", "sqlite:")):
        from carecore.storage.sqlite import SqliteStore  # noqa: PLC0415 - load a store only when opened

        return SqliteStore(url)
    return None
