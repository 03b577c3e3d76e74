"""Where partitioned work runs: in process, in a process pool, or on Dask distributed.

An :class:`Executor` maps a picklable function over a sequence of tasks and
returns the results **in task order**, whichever worker ran which task and in
whatever order they finished. Work that is deterministic per task (a
simulation replication with its own random stream, the patients of one
partition of a month close) therefore gives the same answer on every
executor and with any number of workers.

Three executors are built in; a plugin adds others (Ray, say) through the
``carecore_executors`` hook with an :class:`ExecutorSpec`:

======== ===============================================================
name     runs the tasks
======== ===============================================================
local    one after the other in this process
process  in a pool of worker processes on this machine
dask     on Dask distributed (``pip install ".[dask]"`` in the carecore clone): a local
         cluster bound to 127.0.0.1, or the scheduler at an address
======== ===============================================================

>>> with get_executor("local") as ex:
...     ex.map(abs, [-2, 3, -1])
[2, 3, 1]
>>> partition_of("p-0001", 8) == partition_of("p-0001", 8)
True
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    import pluggy

__all__ = [
    "BUILTIN_EXECUTORS",
    "Executor",
    "ExecutorSpec",
    "available_executors",
    "get_executor",
    "partition_of",
]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Executor(Protocol):
    """Runs a function over tasks and gives the results back in task order.

    Use it as a context manager (or call :meth:`close`) so that pools and
    clusters it started are shut down.
    """

    #: The executor's registered name (``local``, ``process``, ``dask``, ...).
    name: str
    #: How many tasks can run at once.
    workers: int

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """``[fn(t) for t in tasks]``, computed wherever this executor runs work.

        *on_done* is called in the calling process with the index of each
        task as it completes (for a progress bar). The first task that
        raises makes ``map`` raise that error.
        """
        ...

    def close(self) -> None:
        """Release the workers this executor started (a no-op for the others)."""
        ...

    def __enter__(self) -> Executor: ...  # noqa: PYI034 - a protocol's implementations return themselves

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class _Base:
    name = "base"
    workers = 1

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Executor:
        return self  # type: ignore[return-value]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class LocalExecutor(_Base):
    """Runs every task in this process, in order."""

    name = "local"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        _check_workers(workers)
        if scheduler is not None:
            raise errors.InvalidValue(
                "only the dask executor takes a scheduler address",
                field="scheduler",
                value=scheduler,
            )
        self.workers = 1

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Run the tasks one after the other."""
        out = []
        for index, task in enumerate(tasks):
            out.append(fn(task))
            if on_done is not None:
                on_done(index)
        return out


class ProcessExecutor(_Base):
    """Runs the tasks in a pool of *workers* processes (default: the CPU count)."""

    name = "process"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        _check_workers(workers)
        if scheduler is not None:
            raise errors.InvalidValue(
                "only the dask executor takes a scheduler address",
                field="scheduler",
                value=scheduler,
            )
        self.workers = workers or os.cpu_count() or 1
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task to the pool; gather the results in task order."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.workers)
        futures = {self._pool.submit(fn, task): index for index, task in enumerate(tasks)}
        out: dict[int, R] = {}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            out[index] = future.result()
            if on_done is not None:
                on_done(index)
        return [out[i] for i in range(len(tasks))]

    def close(self) -> None:
        """Shut the pool down."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class DaskExecutor(_Base):
    """Runs the tasks on Dask distributed.

    With no *scheduler* address it starts a ``LocalCluster`` of *workers*
    single-threaded worker processes bound to 127.0.0.1 (default: the CPU
    count) and stops it on :meth:`close`; with an address (``tcp://host:8786``)
    it connects to that scheduler and leaves it running.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        _check_workers(workers)
        try:
            distributed = _distributed()
        except ImportError as exc:
            raise errors.MissingDependency(
                extra="dask", package="distributed", feature="the dask executor"
            ) from exc
        self._cluster: Any = None
        if scheduler is None:
            self._cluster = distributed.LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self._client: Any = distributed.Client(self._cluster)
        else:
            self._client = distributed.Client(scheduler)
        self.workers = max(1, sum(self._client.nthreads().values()))

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task to the cluster; gather the results in task order."""
        distributed = _distributed()
        futures = [self._client.submit(fn, task, pure=False) for task in tasks]
        where = {future.key: index for index, future in enumerate(futures)}
        for future in distributed.as_completed(futures):
            future.result()  # raise the task's error here
            if on_done is not None:
                on_done(where[future.key])
        results: list[R] = self._client.gather(futures)
        return results

    def close(self) -> None:
        """Close the client, and the local cluster when this executor started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _distributed() -> Any:
    """The ``distributed`` module (typed Any: it is optional, and untyped)."""
    return importlib.import_module("distributed")


def _check_workers(workers: int | None) -> None:
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="workers", value=workers
        )


@frozen(kw_only=True, field_transformer=v.name_errors)
class ExecutorSpec:
    """An executor a plugin offers: its name, one line about it, and how to start one.

    ``create(workers, scheduler)`` returns an :class:`Executor`; *workers* and
    *scheduler* may be None (the executor's defaults).
    """

    name: str = field(validator=v.not_blank)
    summary: str = field(validator=v.not_blank)
    create: Callable[[int | None, str | None], Executor]


#: The executors carecore ships.
BUILTIN_EXECUTORS: tuple[ExecutorSpec, ...] = (
    ExecutorSpec(
        name="local", summary="one task after the other, in this process", create=LocalExecutor
    ),
    ExecutorSpec(
        name="process", summary="a pool of worker processes on this machine", create=ProcessExecutor
    ),
    ExecutorSpec(
        name="dask",
        summary="Dask distributed: a local cluster on 127.0.0.1, or a scheduler address "
        f"({errors.MissingDependency.install_command('dask')})",
        create=DaskExecutor,
    ),
)


def available_executors(pm: pluggy.PluginManager | None = None) -> dict[str, ExecutorSpec]:
    """The executors by name: the built-in ones, then those plugins give (which may replace them).

    Two plugins giving the same name is a :class:`~carecore.errors.DuplicateRegistration`.

    >>> sorted(available_executors())
    ['dask', 'local', 'process']
    """
    found = {spec.name: spec for spec in BUILTIN_EXECUTORS}
    if pm is None:
        return found
    given_by: dict[str, str] = {}
    for impl in pm.hook.carecore_executors.get_hookimpls():
        given = cast("Sequence[object]", impl.function() or ())
        for spec in given:
            if not isinstance(spec, ExecutorSpec):
                raise errors.PluginError(
                    f"carecore_executors returned {spec!r}, which is not an ExecutorSpec",
                    field="plugin",
                    value=impl.plugin_name,
                )
            previous = given_by.get(spec.name)
            if previous is not None:
                raise errors.DuplicateRegistration(
                    kind="executor", item_id=spec.name, plugins=(previous, impl.plugin_name)
                )
            given_by[spec.name] = impl.plugin_name
            found[spec.name] = spec
    return found


def get_executor(
    name: str = "local",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    pm: pluggy.PluginManager | None = None,
) -> Executor:
    """Start the executor called *name* (see :func:`available_executors`).

    >>> get_executor("slurm")
    Traceback (most recent call last):
    ...
    carecore.errors.NotFound: executor='slurm': no such executor (known: dask, local, process)
    """
    known = available_executors(pm)
    spec = known.get(name)
    if spec is None:
        raise errors.NotFound(
            f"no such executor (known: {', '.join(sorted(known))})", field="executor", value=name
        )
    return spec.create(workers, scheduler)


def partition_of(key: str, partitions: int) -> int:
    """The partition (0 to *partitions* - 1) of *key*, from a stable hash.

    The same key lands in the same partition in every process and on every
    machine (Python's own ``hash`` of a string changes from run to run).

    >>> [partition_of(k, 4) for k in ("p1", "p2", "p3")]
    [1, 0, 3]
    """
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="partitions", value=partitions
        )
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions
