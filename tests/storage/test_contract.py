"""The store contract against the built-in stores: a SQLite file, and ``memory://``.

``memory://`` is the same SQL store over an in-memory SQLite database, so it
runs the contract without other processes (it is private to its process).
PostgreSQL runs the durable contract in its plugin's tests.
"""

from __future__ import annotations

import pytest

from carecore.storage import open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing.contracts import DurableStoreContract, StoreContract


class TestMemoryUrl(StoreContract):
    # The same SQL store as TestSqliteStore, which loads the full million rows: here a
    # tenth is enough to hold the in-memory URL to the contract.
    BULK_ROWS = 100_000

    @pytest.fixture
    def store(self):
        store = open_store("memory://")
        assert isinstance(store, SqliteStore)
        assert store.url == "memory://"
        yield store
        store.close()


class TestSqliteStore(DurableStoreContract):
    @pytest.fixture
    def store_url(self, tmp_path):
        return f"sqlite:///{tmp_path / 'contract.db'}"

    @pytest.fixture
    def store(self, store_url):
        store = open_store(store_url)
        yield store
        store.close()
