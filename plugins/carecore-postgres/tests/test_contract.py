"""The store contract (with other processes and SIGKILL) on a real PostgreSQL server."""

from __future__ import annotations

import pytest
from carecore_postgres import plugin

from carecore.storage import open_store
from carecore.testing.contracts import DurableStoreContract, PluginContract


class TestPostgresStore(DurableStoreContract):
    @pytest.fixture
    def store_url(self, postgres_url):
        return postgres_url

    @pytest.fixture
    def store(self, store_url):
        store = open_store(store_url)
        yield store
        store.close()


class TestPostgresPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return plugin
