from __future__ import annotations

from carecore_postgres import PostgresStore

from carecore.plugins import get_plugin_manager, plugin_table
from carecore.storage import open_store


def test_entry_point_is_wired(postgres_url):
    pm = get_plugin_manager()
    assert pm.has_plugin("postgres")
    row = next(r for r in plugin_table(pm) if r["name"] == "postgres")
    assert row["distribution"] == "carecore-postgres"
    assert row["hooks"] == ["carecore_open_store"]
    store = open_store(postgres_url, plugin_manager=pm)
    try:
        assert isinstance(store, PostgresStore)
        assert store.url == postgres_url
    finally:
        store.close()
