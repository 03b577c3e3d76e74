"""The same seed gives the same table in process, in a process pool and on Dask."""

from __future__ import annotations

import pytest

from carecore import errors
from carecore.executors import (
    ExecutorSpec,
    LocalExecutor,
    available_executors,
    get_executor,
    partition_of,
)
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.simulation import PopulationSpec, Study, run_study

pytest.importorskip("numpy")

_STUDY = Study(months=2, population=PopulationSpec(size=60))


def test_same_table_in_process_and_in_a_process_pool():
    local = run_study(_STUDY, replications=4, seed=9)
    with get_executor("process", workers=2) as pool:
        pooled = run_study(_STUDY, replications=4, seed=9, executor=pool)
    assert pooled.rows == local.rows


def test_same_table_on_a_dask_local_cluster():
    pytest.importorskip("distributed")
    local = run_study(_STUDY, replications=3, seed=9)
    with get_executor("dask", workers=2) as cluster:
        assert cluster.workers == 2
        on_dask = run_study(_STUDY, replications=3, seed=9, executor=cluster)
    assert on_dask.rows == local.rows


def test_results_come_back_in_task_order_with_progress():
    seen: list[int] = []
    with get_executor("process", workers=2) as pool:
        assert pool.map(abs, [-3, 1, -2], on_done=seen.append) == [3, 1, 2]
    assert sorted(seen) == [0, 1, 2]


def test_unknown_executor_and_bad_workers_are_refused():
    with pytest.raises(errors.NotFound) as caught:
        get_executor("slurm")
    assert caught.value.field == "executor"
    with pytest.raises(errors.InvalidValue) as bad:
        get_executor("process", workers=0)
    assert bad.value.field == "workers"
    with pytest.raises(errors.InvalidValue):
        get_executor("local", scheduler="tcp://127.0.0.1:1")


class _Plugin:
    @hookimpl
    def carecore_executors(self):
        return [ExecutorSpec(name="inline", summary="a plugin's executor", create=LocalExecutor)]


def test_a_plugin_adds_an_executor():
    pm = get_plugin_manager(entry_points=False)
    pm.register(_Plugin(), name="acme-exec")
    assert "inline" in available_executors(pm)
    with get_executor("inline", pm=pm) as ex:
        assert ex.map(str, [1, 2]) == ["1", "2"]


def test_partitions_are_stable_and_spread():
    counts = [0] * 4
    for i in range(400):
        counts[partition_of(f"p{i}", 4)] += 1
    assert all(60 < c < 140 for c in counts)
    assert partition_of("p1", 4) == partition_of("p1", 4)


class _OtherPlugin:
    @hookimpl
    def carecore_executors(self):
        return [ExecutorSpec(name="inline", summary="another", create=LocalExecutor)]


class _BadPlugin:
    @hookimpl
    def carecore_executors(self):
        return ["not a spec"]


def test_two_plugins_giving_one_executor_name_is_refused():
    pm = get_plugin_manager(entry_points=False)
    pm.register(_Plugin(), name="acme-exec")
    pm.register(_OtherPlugin(), name="other-exec")
    with pytest.raises(errors.DuplicateRegistration):
        available_executors(pm)
    bad = get_plugin_manager(entry_points=False)
    bad.register(_BadPlugin(), name="bad-exec")
    with pytest.raises(errors.PluginError) as caught:
        available_executors(bad)
    assert caught.value.value == "bad-exec"
