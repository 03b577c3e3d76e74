"""The store contract against the built-in stores (PostgreSQL runs it in its plugin's tests)."""

from __future__ import annotations

import pytest

from carecore.storage import open_store
from carecore.testing.contracts import DurableStoreContract, StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        store = open_store("memory://")
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
