"""Schema creation on PostgreSQL: one transaction, and concurrent creators all succeed."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from carecore.storage import SCHEMA_VERSION, open_store


def test_eight_creators_at_once_all_succeed_and_one_creates(postgres_url):
    """Before, every concurrent creator but the first failed on a duplicate table."""
    start = threading.Barrier(8)
    created, failures = [], []

    def create():
        store = open_store(postgres_url)
        try:
            start.wait()
            store.initialize()
            created.append(store.created_schema)
        except Exception as exc:  # noqa: BLE001 - the test counts every failure
            failures.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(created) == [False] * 7 + [True]


def test_a_creation_stopped_part_way_leaves_an_empty_database(postgres_url):
    store = open_store(postgres_url)
    real = store._migration

    def dies_at_five(version):
        if version == 5:
            raise KeyboardInterrupt
        return real(version)

    store._migration = dies_at_five
    with pytest.raises(KeyboardInterrupt):
        store.initialize()
    store.close()
    store = open_store(postgres_url)
    try:
        assert store.schema_version() == 0
        store.initialize()
        assert store.created_schema
        assert store.check().ok
    finally:
        store.close()


def test_concurrent_db_init_commands_exit_0(postgres_url):
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from carecore.cli import main; main()",
                "db",
                "init",
                postgres_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(run.wait(timeout=120), run.stdout.read(), run.stderr.read()) for run in runs]
    for run in runs:
        run.stdout.close()
        run.stderr.close()
    assert [code for code, _, _ in results] == [0, 0, 0, 0], results
    outputs = [out for _, out, _ in results]
    assert sum(f"created schema version {SCHEMA_VERSION}" in o for o in outputs) == 1, outputs
    assert sum("already initialised" in o for o in outputs) == 3, outputs
