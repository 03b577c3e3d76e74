"""The month close's worker runner: tasks in forked processes, or inline, over one state per process.

:class:`WorkerRunner` builds its state with ``make_state(*args)`` in the
calling process and, with workers, once in each worker process through the
pool's *initializer*: the state travels as the initializer's arguments
(inherited by ``fork``, never pickled), not through module globals set by
the caller. A task is a function called as ``fn(state, *args)``.

>>> runner = WorkerRunner(1, dict, a=1)
>>> runner.submit(lambda state, key: state[key], "a")()
1
>>> runner.close()
"""

from __future__ import annotations

import multiprocessing
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["WorkerRunner"]

S = TypeVar("S")

#: The state of this worker process, set by the pool's initializer (see :func:`_initialize`).
_PROCESS_STATE: list[Any] = []


def _initialize(
    make_state: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    _PROCESS_STATE[:] = [make_state(*args, **kwargs)]


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    return fn(_PROCESS_STATE[0], *args)


class WorkerRunner(Generic[S]):
    """Runs ``fn(state, *args)`` tasks in *workers* forked processes, or inline for one worker.

    *state* is this process's own state (the inline tasks use it, and so may
    the caller). Where ``fork`` is not available the tasks run inline.
    """

    def __init__(
        self, workers: int, make_state: Callable[..., S], *args: Any, **kwargs: Any
    ) -> None:
        self.state: S = make_state(*args, **kwargs)
        self.pool: Any = None
        if workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            self.pool = multiprocessing.get_context("fork").Pool(
                workers, initializer=_initialize, initargs=(make_state, args, kwargs)
            )

    @property
    def parallel(self) -> bool:
        """Whether tasks run in worker processes."""
        return self.pool is not None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Callable[..., Any]:
        """Start ``fn(state, *args)``; returns its result's getter (inline: runs when asked).

        The getter takes an optional timeout in seconds (workers only), after
        which it raises :class:`multiprocessing.TimeoutError`.
        """
        if self.pool is None:
            return lambda timeout=None: fn(self.state, *args)  # noqa: ARG005
        pending = self.pool.apply_async(_call, (fn, args))
        return pending.get  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the workers and close the state (its ``close()`` when it has one)."""
        closer = getattr(self.state, "close", None)
        if callable(closer):
            closer()
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None

    def __enter__(self) -> WorkerRunner[S]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
