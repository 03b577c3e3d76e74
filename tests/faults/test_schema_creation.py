"""Schema creation is one transaction, and concurrent creators all succeed."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from carecore import errors
from carecore.storage import SCHEMA_VERSION
from carecore.storage.sqlite import SqliteStore


class DiesAtStep(SqliteStore):
    """A store whose schema creation fails part way, as a killed process would stop."""

    def __init__(self, url, step):
        super().__init__(url)
        self.step = step

    def _migration(self, version):
        if version == self.step:
            raise KeyboardInterrupt  # not a carecore error: an interruption
        return super()._migration(version)


@pytest.mark.parametrize("step", [2, 5, SCHEMA_VERSION])
def test_a_creation_stopped_part_way_leaves_an_empty_database(tmp_path, step):
    """Before, migrations 1..n-1 stayed and every command refused the store until db migrate."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    broken = DiesAtStep(url, step)
    with pytest.raises(KeyboardInterrupt):
        broken.initialize()
    broken.close()
    store = SqliteStore(url)
    try:
        assert store.schema_version() == 0
        store.initialize()
        assert store.created_schema
        assert store.schema_version() == SCHEMA_VERSION
        assert store.check().ok
    finally:
        store.close()


def test_eight_creators_at_once_all_succeed_and_one_creates(tmp_path):
    url = f"sqlite:///{tmp_path / 'race.db'}"
    start = threading.Barrier(8)
    created, failures = [], []

    def create():
        store = SqliteStore(url)
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


def test_concurrent_db_init_commands_exit_0(tmp_path):
    """Four `carecore db init` at once: one creates, three report it already initialised."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", "from carecore.cli import main; main()", "db", "init", url],
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
    outputs = sorted(out for _, out, _ in results)
    assert sum("created schema version" in o for o in outputs) == 1, outputs
    assert sum("already initialised" in o for o in outputs) == 3, outputs


def test_a_migration_another_process_applied_is_skipped(tmp_path):
    """Two `db migrate` of one old database: the second finds the steps done."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=7)
    old.close()
    first, second = SqliteStore(url), SqliteStore(url)
    try:
        assert second.schema_version() == 7
        assert first.migrate()[-1] == SCHEMA_VERSION
        # `second` read version 7 before `first` migrated: it must not apply 8 again.
        second._apply(range(8, SCHEMA_VERSION + 1))
        assert second.schema_version() == SCHEMA_VERSION
        with pytest.raises(errors.InvalidValue):
            second.migrate(target=3)
    finally:
        first.close()
        second.close()
