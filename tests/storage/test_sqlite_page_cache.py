"""A SQLite store's page cache can be enlarged for a bulk job (a month close's workers, issue 15)."""

from __future__ import annotations

import pytest

from carecore import errors
from carecore.storage.sqlite import SqliteStore


def test_page_cache_sets_the_connections_cache(tmp_path):
    store = SqliteStore(f"sqlite:///{tmp_path / 'cache.db'}")
    store.initialize()
    try:
        before = store._connection().execute("PRAGMA cache_size").fetchone()[0]
        store.page_cache(64)
        assert store._connection().execute("PRAGMA cache_size").fetchone()[0] == -64 * 1024
        assert before != -64 * 1024
    finally:
        store.close()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "64"])
def test_page_cache_refuses_what_is_not_a_size(tmp_path, bad):
    store = SqliteStore(f"sqlite:///{tmp_path / 'cache.db'}")
    store.initialize()
    try:
        with pytest.raises(errors.InvalidValue) as refused:
            store.page_cache(bad)
        assert refused.value.field == "mebibytes"
    finally:
        store.close()
