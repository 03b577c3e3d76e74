"""The same seed gives the same table in process, in a process pool and on Dask."""

from __future__ import annotations

import operator
import os
import time

import pytest

from carecore import errors
from carecore.executors import (
    BaseExecutor,
    ExecutorSpec,
    LocalExecutor,
    available_executors,
    get_executor,
    open_pool,
    partition_of,
)
from carecore.model import ServiceFamily
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.simulation import PopulationSpec, ProgramPolicy, Study, run_study

pytest.importorskip("numpy")

_STUDY = Study(months=2, population=PopulationSpec(size=60))
#: BHI and RPM draw from streams of their own: the same table whatever the executor too.
_BHI_RPM = Study(
    months=2,
    population=PopulationSpec(size=120),
    policy=ProgramPolicy(families=(ServiceFamily.BHI, ServiceFamily.RPM, ServiceFamily.CCM)),
)
#: A patient in CCM and BHI at once: the engine bills the month with both families' time.
_CONCURRENT = Study(
    months=2,
    population=PopulationSpec(size=120),
    policy=ProgramPolicy(families=(ServiceFamily.CCM, ServiceFamily.BHI), concurrent_families=True),
)
_STUDIES = pytest.mark.parametrize(
    "study", [_STUDY, _BHI_RPM, _CONCURRENT], ids=["ccm", "bhi-rpm", "ccm-with-bhi"]
)


@_STUDIES
def test_same_table_in_process_and_in_a_process_pool(study):
    local = run_study(study, replications=4, seed=9)
    with get_executor("process", workers=2) as pool:
        pooled = run_study(study, replications=4, seed=9, executor=pool)
    assert pooled.rows == local.rows
    if study is _BHI_RPM:  # the study bills both families
        billed = {name for _r, _m, name, value in local.rows if value > 0}
        assert {"revenue_99484", "revenue_99454"} <= billed


@_STUDIES
def test_same_table_on_a_dask_local_cluster(study):
    pytest.importorskip("distributed")
    local = run_study(study, replications=3, seed=9)
    with get_executor("dask", workers=2) as cluster:
        assert cluster.workers == 2
        on_dask = run_study(study, replications=3, seed=9, executor=cluster)
    assert on_dask.rows == local.rows


def test_same_table_whatever_the_number_of_workers_and_chunks():
    """The same table with a task per replication (3 workers: 23 tasks) or chunks (2 workers: 20)."""
    local = run_study(_STUDY, replications=23, seed=4)
    for workers in (3, 2):
        seen: list[int] = []
        with get_executor("process", workers=workers) as pool:
            pooled = run_study(_STUDY, replications=23, seed=4, executor=pool, on_done=seen.append)
        assert pooled.rows == local.rows
        assert sorted(seen) == list(range(23))


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


# -- pools: a worker state built once per worker -------------------------------------------


def _state_of_this_process(state: dict[str, int], extra: int) -> tuple[int, int]:
    return os.getpid(), state["base"] + extra


def test_a_pool_s_worker_state_comes_from_the_pool_initializer():
    from carecore import executors as executors_module

    with open_pool(2, dict, base=40) as pool:
        assert pool.parallel
        pid, value = pool.submit(_state_of_this_process, 2).result()
        # The caller set no module state: only the workers' initializer did.
        assert executors_module._STATES == {}
        assert pool.state == {"base": 40}
    assert pid != os.getpid()
    assert value == 42
    with open_pool(1, dict, base=1) as inline:
        assert not inline.parallel
        assert inline.submit(_state_of_this_process, 1).result() == (os.getpid(), 2)


def test_a_local_pool_runs_a_task_when_its_result_is_asked_for():
    ran: list[int] = []
    with open_pool(1, dict) as pool:
        pending = pool.submit(lambda _state, n: ran.append(n), 7)
        assert ran == []
        pending.result()
        pending.result()
    assert ran == [7]


def test_a_pool_maps_in_task_order_on_every_executor():
    expected = [(41 + n) for n in range(5)]
    for name in ("local", "process"):
        with get_executor(name, workers=2) as ex, ex.pool(dict, base=41) as pool:
            got = pool.map(_plus_base, list(range(5)))
        assert got == expected, name


def _sleep_with_state(state: dict[str, int], seconds: float) -> None:
    time.sleep(seconds)


def _plus_base(state: dict[str, int], n: int) -> int:
    return state["base"] + n


def test_a_pool_on_dask_builds_its_state_once_per_worker():
    pytest.importorskip("distributed")
    import itertools

    # The state is a counter from 5; each task takes its next value (``next(state, n)``).
    # Built once per worker, a worker's tasks get 5, 6, 7...; built per task, all would get 5.
    # (The workers cannot import this test module, so the functions are importable ones.)
    with get_executor("dask", workers=2) as cluster, cluster.pool(itertools.count, 5) as pool:
        got = pool.map(next, [0] * 6)
        assert pool.state is not None
    assert len(got) == 6
    assert got.count(5) <= 2
    assert max(got) >= 7


def test_a_pool_on_dask_maps_a_batch_in_task_order_and_raises_a_task_s_error():
    pytest.importorskip("distributed")

    # Builtins only: the workers cannot import this test module.
    seen: list[int] = []
    with get_executor("dask", workers=2) as cluster, cluster.pool(dict, a=1, b=2) as pool:
        got = pool.map(operator.getitem, ["b", "a", "b", "a"], on_done=seen.append)
        with pytest.raises(KeyError):
            pool.map(operator.getitem, ["a", "missing"])
    assert got == [2, 1, 2, 1]
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_task_cancelled_on_dask_raises_instead_of_coming_back_as_its_result():
    pytest.importorskip("distributed")
    import threading

    # Restarting the cluster cancels the running tasks and loses every pool's state on the
    # workers: map must raise, not hand the cancellations back as the tasks' results.
    with get_executor("dask", workers=1) as cluster:
        with cluster.pool(dict, a=1) as pool:
            assert pool.map(operator.getitem, ["a"]) == [1]
            restart = threading.Timer(1.5, cluster.client.restart)
            restart.start()
            try:
                with pytest.raises(Exception, match=r"(?i)cancel") as running:
                    cluster.map(time.sleep, [60, 60])
            finally:
                restart.join()
            with pytest.raises(Exception, match=r"(?i)cancel") as state_lost:
                pool.map(operator.getitem, ["a", "a"])
        for caught in (running, state_lost):
            assert "Cancel" in type(caught.value).__name__
        with pytest.raises(errors.InvalidValue, match="closed"):
            pool.map(operator.getitem, ["a"])


def test_the_local_dask_cluster_s_workers_do_not_sample_a_profile(monkeypatch):
    """No dashboard shows it, so the workers skip Dask's profiler (a stack sample every 10 ms).

    On pure-Python tasks such as replications that sampling cost about a tenth of each
    worker's CPU time, and the event loops' health check every 20 ms about 3% of a core
    on the idle cluster (docs/explanation/simulation.md, How fast).
    """
    pytest.importorskip("distributed")
    import dask

    # What a Dask cluster started earlier with Dask's defaults leaves in this process's
    # environment (its nanny's os.environ.update): the workers must not inherit it.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with get_executor("dask", workers=2) as cluster:
        enabled = cluster.client.run(dask.config.get, "distributed.worker.profile.enabled")
        tick = cluster.client.run(dask.config.get, "distributed.admin.tick.interval")
        memory = cluster.client.run(dask.config.get, "distributed.worker.memory.monitor-interval")
        trim = cluster.client.run(os.getenv, "MALLOC_TRIM_THRESHOLD_")
        threads = cluster.client.run(os.getenv, "OMP_NUM_THREADS")
    assert list(enabled.values()) == [False, False]
    assert list(tick.values()) == ["1s", "1s"]
    assert list(memory.values()) == ["1s", "1s"]
    # glibc's own malloc trim threshold, not Dask's 64 KiB (which made replications
    # about 12% slower in a worker); the numeric libraries' one thread each stays.
    assert list(trim.values()) == [None, None]
    assert list(threads.values()) == ["1", "1"]
    # The settings are the cluster's own: this process's configuration is left as it was.
    assert dask.config.get("distributed.worker.profile.enabled") is True
    assert dask.config.get("distributed.admin.tick.interval") == "20ms"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"  # put back as it was


def test_open_pool_refuses_what_is_not_an_executor():
    with pytest.raises(errors.InvalidValue) as caught:
        open_pool("dask", dict)  # type: ignore[arg-type]
    assert caught.value.field == "executor"
    with pytest.raises(errors.InvalidValue):
        open_pool(0, dict)


class _Threads(BaseExecutor):
    """A plugin's executor written as the docs say: only ``submit`` (and ``close``)."""

    name = "threads"

    def __init__(self, workers=None, scheduler=None):
        import concurrent.futures

        self.workers = workers or 2
        self._threads = concurrent.futures.ThreadPoolExecutor(self.workers)

    def submit(self, fn, /, *args):
        return self._threads.submit(fn, *args)

    def close(self):
        self._threads.shutdown()


def test_a_plugin_executor_with_only_submit_runs_maps_pools_and_studies():
    with _Threads() as threads:
        assert threads.map(abs, [-1, 2, -3]) == [1, 2, 3]
        with threads.pool(dict, base=1) as pool:
            assert pool.parallel
            assert pool.map(_plus_base, [1, 2]) == [2, 3]
        on_threads = run_study(_STUDY, replications=3, seed=2, executor=threads)
    assert on_threads.rows == run_study(_STUDY, replications=3, seed=2).rows


def test_a_pool_on_other_workers_builds_the_caller_s_state_only_when_asked():
    """The caller's own state waits until it is read: tasks start without waiting for it."""
    built: list[int] = []

    def make(base: int) -> dict[str, int]:
        built.append(base)
        return {"base": base}

    with _Threads(workers=2) as threads, threads.pool(make, 1) as pool:
        assert built == []  # opening the pool built nothing here
        assert pool.map(_plus_base, [1, 2]) == [2, 3]
        assert built == [1]  # the one state of the threads' process, for its tasks
        assert pool.state == {"base": 1}
        assert built == [1, 1]  # the caller's, on first read, once
        assert pool.state is pool.state
    with _Threads(workers=2) as threads, threads.pool(make, 2):
        pass  # never read, never built, nothing to close
    assert built == [1, 1]
