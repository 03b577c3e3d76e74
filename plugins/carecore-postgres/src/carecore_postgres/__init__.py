"""carecore on PostgreSQL: ``carecore_open_store`` for ``postgresql://`` URLs.

>>> from carecore_postgres import redact
>>> redact("postgresql://u:pw@127.0.0.1/db")
'postgresql://u@127.0.0.1/db'
"""

from __future__ import annotations

from carecore_postgres.store import PostgresStore, redact

__all__ = ["PostgresStore", "redact"]
