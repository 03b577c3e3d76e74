"""Where partitioned work runs: in process, in a process pool, or on Dask distributed.

This is carecore's one layer of workers: the simulation's replications, the
store close's partitions and the CSV close's worker share all run through
it. An :class:`Executor` runs a picklable function on tasks:

- :meth:`Executor.map` gives the results **in task order**, whichever
  worker ran which task and in whatever order they finished;
- :meth:`Executor.submit` starts one task and gives a :class:`Pending`
  result (for work that streams, a few tasks in flight at a time);
- :meth:`Executor.pool` gives a :class:`Pool`: the same, over a *worker
  state* that each worker builds once with ``make_state(*args, **kwargs)``
  (rules, a month, caches, open files) instead of receiving it with every
  task. A task of a pool is called as ``fn(state, *args)``.

Work that is deterministic per task (a simulation replication with its own
random stream, the patients of one partition of a month close) therefore
gives the same answer on every executor and with any number of workers.

Three executors are built in; a plugin adds others (Ray, say) through the
``carecore_executors`` hook with an :class:`ExecutorSpec`, usually by
subclassing :class:`BaseExecutor` and writing its ``submit``:

======== ===============================================================
name     runs the tasks
======== ===============================================================
local    one after the other in this process (a submitted task runs
         when its result is asked for)
process  in a pool of worker processes on this machine (forked where
         the platform can fork)
dask     on Dask distributed (``pip install ".[dask]"`` in the carecore clone): a local
         cluster of single-threaded worker processes bound to 127.0.0.1,
         or the scheduler at an address
======== ===============================================================

>>> with get_executor("local") as ex:
...     ex.map(abs, [-2, 3, -1])
[2, 3, 1]
>>> with open_pool(1, dict, base=40) as pool:
...     pool.submit(lambda state, n: state["base"] + n, 2).result()
42
>>> partition_of("p-0001", 8) == partition_of("p-0001", 8)
True
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import importlib
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Protocol,
    TypeVar,
    cast,
    runtime_checkable,
)

from attrs import field, frozen

from carecore import errors
from carecore.model import validators as v

if TYPE_CHECKING:
    from types import TracebackType

    import pluggy

__all__ = [
    "BUILTIN_EXECUTORS",
    "BaseExecutor",
    "DaskExecutor",
    "Executor",
    "ExecutorSpec",
    "LocalExecutor",
    "Pending",
    "Pool",
    "ProcessExecutor",
    "available_executors",
    "get_executor",
    "open_pool",
    "partition_of",
]

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)


@runtime_checkable
class Pending(Protocol[R_co]):
    """A submitted task's result to come (a :class:`concurrent.futures.Future` is one)."""

    def result(self, timeout: float | None = None) -> R_co:
        """Wait for the task and give its result, or raise its error.

        With *timeout* (seconds), a task not done by then raises
        :class:`TimeoutError` and can be waited for again.
        """
        ...


@runtime_checkable
class Executor(Protocol):
    """Runs functions on tasks wherever its workers are; results come back in task order.

    Use it as a context manager (or call :meth:`close`) so that pools and
    clusters it started are shut down. :class:`BaseExecutor` implements
    everything but :meth:`submit` from :meth:`submit`.
    """

    #: The executor's registered name (``local``, ``process``, ``dask``, ...).
    name: str
    #: How many tasks can run at once.
    workers: int

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """Start ``fn(*args)`` on a worker; its :class:`Pending` result."""
        ...

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

    def pool(self, make_state: Callable[..., S], /, *args: Any, **kwargs: Any) -> Pool[S]:
        """A :class:`Pool` whose tasks get the state ``make_state(*args, **kwargs)`` built once per worker."""
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


# -- worker state ---------------------------------------------------------------------

#: The worker states this process built, by their pool's token.
_STATES: dict[str, Any] = {}


@frozen
class _StateSpec:
    """How a worker builds a pool's state: sent to the workers once (or with each task)."""

    token: str
    make_state: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def get(self) -> Any:
        """This process's state of the pool, built on first use."""
        try:
            return _STATES[self.token]
        except KeyError:
            state = _STATES[self.token] = self.make_state(*self.args, **self.kwargs)
            return state


def _install(
    token: str, make_state: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    """A process pool's initializer: build the pool's state in this worker."""
    _STATES[token] = make_state(*args, **kwargs)


def _with_token(token: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(_STATES[token], *args)


def _with_spec(spec: _StateSpec, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(spec.get(), *args)


def _forget(token: str) -> None:
    """Drop a pool's state from this worker (run on every worker when the pool closes)."""
    state = _STATES.pop(token, None)
    closer = getattr(state, "close", None)
    if callable(closer):
        closer()


class _Done(Generic[R]):
    """A result already there."""

    def __init__(self, value: R) -> None:
        self.value = value

    def result(self, timeout: float | None = None) -> R:  # noqa: ARG002 - nothing to wait for
        return self.value


class _Deferred(Generic[R]):
    """A task of the local executor: it runs, once, when its result is first asked for."""

    def __init__(self, fn: Callable[..., R], args: tuple[Any, ...]) -> None:
        self._call: tuple[Callable[..., R], tuple[Any, ...]] | None = (fn, args)
        self._value: R | None = None

    def result(self, timeout: float | None = None) -> R:  # noqa: ARG002 - runs now
        if self._call is not None:
            fn, args = self._call
            self._value = fn(*args)
            self._call = None
        return cast("R", self._value)


class _Later(Generic[S]):
    """A pool's state not built yet: ``make(*args, **kwargs)`` when first asked for."""

    def __init__(
        self, make: Callable[..., S], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.make, self.args, self.kwargs = make, args, kwargs

    def build(self) -> S:
        return self.make(*self.args, **self.kwargs)


#: How a pool sends a batch of tasks at once: ``(fn, each task's arguments, on_done)`` to the results in order.
_MapTasks = Callable[
    [Callable[..., Any], Sequence[tuple[Any, ...]], Callable[[int], None] | None], list[Any]
]


class Pool(Generic[S]):
    """Tasks ``fn(state, *args)`` over a state each worker builds once (see :meth:`Executor.pool`).

    :attr:`state` is this process's own state (the caller may use it; the
    local executor's tasks do). Where the tasks run elsewhere it is built
    the first time it is asked for, so a caller that never reads it does not
    wait for it before its tasks start. Closing the pool closes that state
    when it was built (its ``close()`` when it has one), drops the workers'
    states, and shuts down the executor when the pool was opened with a
    worker count (:func:`open_pool`).
    """

    def __init__(
        self,
        executor: Executor,
        state: S | _Later[S],
        submit: Callable[[Callable[..., Any], tuple[Any, ...]], Pending[Any]],
        release: Callable[[], None],
        *,
        owns_executor: bool = False,
        map_tasks: _MapTasks | None = None,
    ) -> None:
        self.executor = executor
        self._state = state
        self._submit = submit
        self._map_tasks = map_tasks
        self._release: Callable[[], None] | None = release
        self._owns = owns_executor

    @property
    def state(self) -> S:
        """This process's state (built now if it was not yet)."""
        if isinstance(self._state, _Later):
            self._state = self._state.build()
        return self._state

    @property
    def workers(self) -> int:
        """How many tasks can run at once."""
        return self.executor.workers

    @property
    def parallel(self) -> bool:
        """Whether the tasks run outside this process (on worker processes or a cluster)."""
        return self.executor.name != "local"

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """Start ``fn(state, *args)`` on a worker; its :class:`Pending` result."""
        self._check_open()
        return self._submit(fn, args)

    def _check_open(self) -> None:
        if self._release is None:
            raise errors.InvalidValue(
                "the pool is closed: open another to run tasks", field="pool", value="closed"
            )

    def map(
        self,
        fn: Callable[[S, T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """``[fn(state, t) for t in tasks]`` on the workers, in task order (see :meth:`Executor.map`)."""
        self._check_open()
        if self._map_tasks is not None:
            return self._map_tasks(fn, [(task,) for task in tasks], on_done)
        return _results_in_order([self.submit(fn, task) for task in tasks], on_done)

    def close(self) -> None:
        """Release the workers' states and this process's (and the executor, when owned)."""
        if self._release is None:
            return
        release, self._release = self._release, None
        try:
            release()
        finally:
            closer = (
                None if isinstance(self._state, _Later) else getattr(self._state, "close", None)
            )
            if callable(closer):
                closer()
            if self._owns:
                self.executor.close()

    def __enter__(self) -> Pool[S]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _results_in_order(
    pending: Sequence[Pending[R]], on_done: Callable[[int], None] | None
) -> list[R]:
    """Each pending task's result in submission order, telling ``on_done`` each index taken."""
    out = []
    for index, job in enumerate(pending):
        out.append(job.result())
        if on_done is not None:
            on_done(index)
    return out


class BaseExecutor:
    """A base for executors: :meth:`map` and :meth:`pool` built on the subclass's :meth:`submit`.

    A plugin's executor subclasses it, sets :attr:`name` and :attr:`workers`,
    and writes :meth:`submit` (and :meth:`close` when it starts workers).
    The generic :meth:`pool` sends the state's recipe with each task and
    each worker process builds the state once, on its first task.
    """

    name = "base"
    workers = 1

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """Start ``fn(*args)``; a subclass runs it on its workers."""
        raise NotImplementedError

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task, then take the results in task order."""
        return _results_in_order([self.submit(fn, task) for task in tasks], on_done)

    def pool(self, make_state: Callable[..., S], /, *args: Any, **kwargs: Any) -> Pool[S]:
        """A :class:`Pool` over ``make_state(*args, **kwargs)``, built once per worker process."""
        spec = _StateSpec(uuid.uuid4().hex, make_state, args, kwargs)
        state = _Later(make_state, args, kwargs)  # built here only if the caller asks for it

        def submit(fn: Callable[..., Any], task_args: tuple[Any, ...]) -> Pending[Any]:
            return self.submit(_with_spec, spec, fn, task_args)

        return Pool(cast("Executor", self), state, submit, lambda: _STATES.pop(spec.token, None))

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self) -> Executor:
        return cast("Executor", self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _no_scheduler(scheduler: str | None) -> None:
    if scheduler is not None:
        raise errors.InvalidValue(
            "only the dask executor takes a scheduler address", field="scheduler", value=scheduler
        )


class LocalExecutor(BaseExecutor):
    """Runs every task in this process; a submitted task runs when its result is asked for."""

    name = "local"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        _check_workers(workers)
        _no_scheduler(scheduler)
        self.workers = 1

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """``fn(*args)``, run when its result is first asked for."""
        return _Deferred(fn, args)

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

    def pool(self, make_state: Callable[..., S], /, *args: Any, **kwargs: Any) -> Pool[S]:
        """The tasks run here, over this process's state."""
        state = make_state(*args, **kwargs)

        def submit(fn: Callable[..., Any], task_args: tuple[Any, ...]) -> Pending[Any]:
            return _Deferred(fn, (state, *task_args))

        return Pool(cast("Executor", self), state, submit, lambda: None)


def _context() -> Any:
    """``fork`` where the platform has it (workers inherit what the caller built), else the default."""
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()  # pragma: no cover - not Linux


def _noop() -> None:
    """A first task: it makes a process pool start its workers."""


class ProcessExecutor(BaseExecutor):
    """Runs the tasks in a pool of *workers* processes (default: the CPU count).

    Where the platform can fork, the workers are forked: a pool's state
    recipe (:meth:`pool`) reaches them by inheritance, not pickled, and each
    worker builds its state once as it starts. A pool forks its workers
    when it is opened (before the caller starts threads of its own, as
    polars does).
    """

    name = "process"

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        _check_workers(workers)
        _no_scheduler(scheduler)
        self.workers = workers or os.cpu_count() or 1
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._pools: list[concurrent.futures.ProcessPoolExecutor] = []

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """Start ``fn(*args)`` in a worker process."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=self.workers, mp_context=_context()
            )
        return self._pool.submit(fn, *args)

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task to the pool; gather the results in task order."""
        futures = {
            cast("concurrent.futures.Future[R]", self.submit(fn, task)): index
            for index, task in enumerate(tasks)
        }
        out: dict[int, R] = {}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            out[index] = future.result()
            if on_done is not None:
                on_done(index)
        return [out[i] for i in range(len(tasks))]

    def pool(self, make_state: Callable[..., S], /, *args: Any, **kwargs: Any) -> Pool[S]:
        """Worker processes of their own, each building the state once as it starts."""
        token = uuid.uuid4().hex
        processes = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=_context(),
            initializer=_install,
            initargs=(token, make_state, args, kwargs),
        )
        processes.submit(_noop)  # start (fork) the workers now
        self._pools.append(processes)
        try:
            state = make_state(*args, **kwargs)
        except BaseException:
            self._stop(processes)
            raise

        def submit(fn: Callable[..., Any], task_args: tuple[Any, ...]) -> Pending[Any]:
            return processes.submit(_with_token, token, fn, task_args)

        return Pool(cast("Executor", self), state, submit, lambda: self._stop(processes))

    def _stop(self, processes: concurrent.futures.ProcessPoolExecutor) -> None:
        processes.shutdown(wait=True, cancel_futures=True)
        if processes in self._pools:
            self._pools.remove(processes)

    def close(self) -> None:
        """Shut the pools down."""
        for processes in list(self._pools):
            self._stop(processes)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_MAX_PORT = 65535


def _check_scheduler(scheduler: str, distributed: Any) -> None:
    """Refuse a scheduler *address* Dask could not connect to, before trying.

    The address is ``[scheme://]host:port`` with a scheme Dask knows (``tcp``
    by default); what Dask's own parser refuses (``notanaddress``: no port)
    is an :class:`~carecore.errors.InvalidValue` naming the address, not a
    ``ValueError`` from deep inside the client.
    """
    why = "is not a Dask scheduler address (tcp://host:8786)"
    comm = distributed.comm
    try:
        scheme, location = comm.parse_address(scheduler)
        comm.registry.get_backend(scheme)
        if scheme in {"tcp", "tls", "ws", "wss"}:
            host, port = comm.parse_host_port(location)
            if not host or not 0 < int(port) <= _MAX_PORT:
                raise ValueError(location)  # noqa: TRY301 - one message for every refusal
    except (ValueError, TypeError) as exc:
        raise errors.InvalidValue(why, field="scheduler", value=scheduler) from exc
    if scheme in {"tls", "wss"}:
        raise errors.InvalidValue(
            f"a {scheme}:// scheduler needs TLS security settings (certificates) carecore does "
            "not take; give a tcp:// address",
            field="scheduler",
            value=scheduler,
        )


def _connect(distributed: Any, scheduler: str) -> Any:
    """A client of the scheduler at *scheduler*, or an error naming the address.

    Dask tries for its connect timeout (``distributed.comm.timeouts.connect``)
    before giving up; the error says how long it tried.
    """
    timeout = importlib.import_module("dask").config.get("distributed.comm.timeouts.connect")
    try:
        return distributed.Client(scheduler, timeout=timeout)
    except OSError as exc:  # TimeoutError and refused connections alike
        raise errors.CarecoreError(
            f"no Dask scheduler answered at this address within the connect timeout "
            f"({timeout}; distributed.comm.timeouts.connect)",
            field="scheduler",
            value=scheduler,
        ) from exc


class DaskExecutor(BaseExecutor):
    """Runs the tasks on Dask distributed.

    With no *scheduler* address it starts a ``LocalCluster`` of *workers*
    worker processes of one thread each (so Python code in two workers never
    waits on one interpreter lock), bound to 127.0.0.1 (default: the CPU
    count), with no dashboard and so no profiler sampling the tasks, and
    stops it on :meth:`close`; with an address (``tcp://host:8786``) it
    connects to that scheduler (its workers keep their own settings) and
    leaves it running.
    A pool's state recipe is scattered to every worker once, not sent with
    each task; each result comes back once, as its task finishes.
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
            # No dashboard, so no use for the workers' profiler: its stack sample every
            # 10 ms cost about a tenth of a worker's CPU on pure-Python tasks. The event
            # loops' health check every second, not every 20 ms, still warns of a loop
            # blocked for 3 s; at 20 ms it cost the idle cluster about 3% of a core. The
            # memory check against the worker's limit every second (not 100 ms) and the
            # system monitor every 2 s (not 500 ms) wake the worker's loop, and take the
            # task's interpreter lock, less often: a worker's other threads used about
            # 0.05 CPU s instead of 0.2 on a 10-replication task. The nannies pass the
            # configuration they were created under to their workers.
            # The workers keep glibc's own malloc trim threshold: Dask's nanny sets
            # MALLOC_TRIM_THRESHOLD_=65536 so that freed memory goes back to the system
            # sooner, and with it ten replications (allocation-heavy Python) took 1.84 to
            # 1.92 CPU s in a worker, and 1.87 to 1.98 s in a plain process given the same
            # variable, against 1.66 to 1.74 s without it.
            with (
                _without_dask_trim(),
                importlib.import_module("dask").config.set(
                    {
                        "distributed.worker.profile.enabled": False,
                        "distributed.admin.tick.interval": "1s",
                        "distributed.worker.memory.monitor-interval": "1s",
                        "distributed.admin.system-monitor.interval": "2s",
                        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                    }
                ),
            ):
                self._cluster = distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    # The scheduler's HTTP routes (health, metrics) on a free port, not
                    # 8787: two local clusters at once would clash there.
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            self._client: Any = distributed.Client(self._cluster)
        else:
            _check_scheduler(scheduler, distributed)
            self._client = _connect(distributed, scheduler)
            if workers is not None:
                self._client.wait_for_workers(workers)
        self.workers = max(1, sum(self._client.nthreads().values()))

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` the tasks go through."""
        return self._client

    def submit(self, fn: Callable[..., R], /, *args: Any) -> Pending[R]:
        """Start ``fn(*args)`` on the cluster (never cached: the same call runs again)."""
        return cast("Pending[R]", self._client.submit(fn, *args, pure=False))

    def map(
        self,
        fn: Callable[[T], R],
        tasks: Sequence[T],
        *,
        on_done: Callable[[int], None] | None = None,
    ) -> list[R]:
        """Submit every task to the cluster; take each result once, as it finishes."""
        return _as_completed([self._client.submit(fn, task, pure=False) for task in tasks], on_done)

    def pool(self, make_state: Callable[..., S], /, *args: Any, **kwargs: Any) -> Pool[S]:
        """The state's recipe scattered to every worker once; each builds the state on first use."""
        spec = _StateSpec(uuid.uuid4().hex, make_state, args, kwargs)
        state = _Later(make_state, args, kwargs)  # built here only if the caller asks for it
        shared = self._client.scatter(spec, broadcast=True, hash=False, direct=True)
        client = self._client

        def submit(fn: Callable[..., Any], task_args: tuple[Any, ...]) -> Pending[Any]:
            return cast(
                "Pending[Any]", client.submit(_with_spec, shared, fn, task_args, pure=False)
            )

        def map_tasks(
            fn: Callable[..., Any],
            tasks: Sequence[tuple[Any, ...]],
            on_done: Callable[[int], None] | None,
        ) -> list[Any]:
            # One call for the batch: the scheduler takes every task in one graph update,
            # and the results come back as they finish. A future's result() per task, in
            # order, cost the calling process (client and scheduler) about twice the CPU.
            futures = client.map(
                _with_spec, [shared] * len(tasks), [fn] * len(tasks), list(tasks), pure=False
            )
            return _as_completed(futures, on_done)

        def release() -> None:
            shared.release()
            client.run(_forget, spec.token)

        return Pool(cast("Executor", self), state, submit, release, map_tasks=map_tasks)

    def close(self) -> None:
        """Close the client, and the local cluster when this executor started it."""
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


def _as_completed(futures: list[Any], on_done: Callable[[int], None] | None) -> list[Any]:
    """The results of Dask *futures* in their order, each taken once as it finishes."""
    where = {future.key: index for index, future in enumerate(futures)}
    out: dict[int, Any] = {}
    try:
        for future, result in _distributed().as_completed(futures, with_results=True):
            if future.status != "finished":
                # A task that raised is raised by as_completed, but a cancelled one (its
                # worker lost with what it needed, the pool closed) comes back as its
                # error, as if it were the result: raise it.
                if isinstance(result, BaseException):
                    raise result
                future.result()  # raises what ended it
            index = where[future.key]
            out[index] = result
            if on_done is not None:
                on_done(index)
    finally:
        for future in futures:
            future.release()
    return [out[i] for i in range(len(futures))]


#: The variable of the malloc trim threshold Dask's nanny sets in its workers.
_TRIM = "MALLOC_TRIM_THRESHOLD_"


@contextlib.contextmanager
def _without_dask_trim() -> Iterator[None]:
    """This process's environment without Dask's malloc trim threshold while workers start.

    A nanny writes its pre-spawn variables into the environment of the
    process that starts it (``os.environ.update``), so a Dask cluster
    started earlier with Dask's defaults leaves ``MALLOC_TRIM_THRESHOLD_=65536``
    here, and every later worker would inherit it. Dask's value is taken out
    while the local cluster's workers start and put back after; a value of
    the user's own (any other) is left alone.
    """
    # Dask's own value, read from its configuration before carecore's override unsets it.
    config = importlib.import_module("dask").config
    name, value = _TRIM, str(config.get(f"distributed.nanny.pre-spawn-environ.{_TRIM}"))
    dask_s = os.environ.get(name) == value
    if dask_s:
        del os.environ[name]
    try:
        yield
    finally:
        if dask_s:
            os.environ[name] = value


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


def open_pool(
    executor: Executor | int, make_state: Callable[..., S], /, *args: Any, **kwargs: Any
) -> Pool[S]:
    """A :class:`Pool` over ``make_state(*args, **kwargs)`` on *executor*, or on *executor* workers.

    Given a whole number, the pool runs its tasks in this process for 1 and
    in that many worker processes for more (the ``process`` executor, shut
    down with the pool); given an :class:`Executor`, the caller keeps it and
    closes it.

    >>> with open_pool(1, dict, base=1) as pool:
    ...     pool.parallel, pool.state
    (False, {'base': 1})
    """
    if isinstance(executor, int) and not isinstance(executor, bool):
        _check_workers(executor)
        owned: Executor = (
            cast("Executor", LocalExecutor()) if executor == 1 else ProcessExecutor(executor)
        )
        try:
            pool = owned.pool(make_state, *args, **kwargs)
        except BaseException:
            owned.close()
            raise
        pool._owns = True  # noqa: SLF001 - this function's own executor
        return pool
    if not isinstance(executor, Executor):
        raise errors.InvalidValue(
            "must be an Executor or a whole number of workers", field="executor", value=executor
        )
    return executor.pool(make_state, *args, **kwargs)


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
