"""Hook implementations of carecore-postgres (registered as the ``postgres`` entry point)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import hookimpl

if TYPE_CHECKING:
    from carecore.protocols import Store

_SCHEMES = ("postgresql://", "postgres://")


@hookimpl
def carecore_open_store(url: str) -> Store | None:
    """Open ``postgresql://`` (and ``postgres://``) URLs."""
    if not url.startswith(_SCHEMES):
        return None
    from carecore_postgres.store import PostgresStore  # noqa: PLC0415 - psycopg loads only when used

    return PostgresStore(url)
