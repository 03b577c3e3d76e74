"""The report's per-patient rows on disk while a store's report is built in partitions.

``carecore report`` reads a store one partition of patients at a time
(:func:`carecore.report._build.program_parts`). What the files need of
every patient (every program's eligibility, the risk tiers, the minutes to
the next code, the A1c changes, the worklists' items, the eligibility
page's rows) is written to disk as each partition is done, in sorted runs
(:class:`Runs`: one file a partition, sorted by the order the files list the
rows in), and read back merged (:func:`heapq.merge`) when the files are
written. Only counts, sums and the first place of each eligibility rule
stay in memory (:class:`ReportSpool`).

The runs live in one private temporary folder (0700, files 0600) made by
:func:`report_spool`. It is removed when the report is written, when
building it fails, on Ctrl-C (``KeyboardInterrupt``), on ``SIGTERM`` and
``SIGHUP`` (the folder is removed, then the signal does what it did before)
and at the interpreter's exit. Only ``SIGKILL`` (which no process can
handle) leaves it behind. A child forked meanwhile (a process pool's
worker) leaves it alone, whatever ends it.

>>> with report_spool() as spool:
...     runs = spool.runs("numbers", key=lambda n: n)
...     runs.add([1, 4, 9]); runs.add([2, 3])
...     list(runs), len(runs), os.path.isdir(spool.folder)
([1, 2, 3, 4, 9], 5, True)
>>> os.path.exists(spool.folder)
False
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import os
import pickle
import shutil
import signal
import tempfile
import threading
from typing import TYPE_CHECKING, Any, TypeVar

from carecore._files import FileSequence, FileValues

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
    from types import FrameType

__all__ = ["ReportSpool", "Runs", "report_spool"]

_T = TypeVar("_T")

#: Rows a chunk of a run holds: while runs are merged, one chunk of each is in memory.
CHUNK = 256
#: Runs of one level merged into one of the next: at most this many of each level are read at once.
FAN_IN = 16

#: The folders of the spools alive, each with the process that made it (removed at
#: its exit or on a signal; a forked child inherits the set but never removes them).
_LIVE: dict[str, int] = {}
#: The handlers the spools replaced, by signal number, while any spool is alive.
_REPLACED: dict[int, Any] = {}
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_lock = threading.Lock()


def _remove_live() -> None:
    me = os.getpid()
    for folder, owner in list(_LIVE.items()):
        if owner == me:
            shutil.rmtree(folder, ignore_errors=True)
            del _LIVE[folder]


atexit.register(_remove_live)


def _restore() -> None:
    for signum, handler in _REPLACED.items():
        signal.signal(signum, handler)
    _REPLACED.clear()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """Remove every live spool folder, then let the signal do what it did before."""
    _remove_live()
    previous = _REPLACED.get(signum, signal.SIG_DFL)
    _restore()
    if callable(previous):
        previous(signum, frame)
        return
    os.kill(os.getpid(), signum)  # the default action (end the process), now reinstated


def _watch() -> None:
    """Catch SIGTERM and SIGHUP while a spool is alive (main thread only; ignored ones stay so)."""
    if threading.current_thread() is not threading.main_thread() or _REPLACED:
        return
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current is signal.SIG_IGN or current is None:
            continue
        _REPLACED[signum] = current
        signal.signal(signum, _on_signal)


class Runs(FileValues[_T]):
    """Rows on disk in sorted runs, read back merged: a sequence that is never all in memory.

    Each :meth:`add` writes one run (rows already sorted by *key*) to a file
    of its own (0600), pickled in chunks of :data:`CHUNK` rows; a chunk
    holds one *group*'s rows only, and the file's chunks of each group are
    noted, so :meth:`group` merges one group's rows without reading the
    others'. Iterating merges every run in *key* order; it iterates as often
    as asked, ``len`` is known, and it equals any sequence of the same rows.
    """

    def __init__(
        self,
        folder: str,
        name: str,
        *,
        key: Callable[[_T], Any],
        group: Callable[[_T], Hashable] | None = None,
    ) -> None:
        self._folder = folder
        self._name = name
        self._key = key
        self._group = group
        #: Each run: its level (how many merges made it), its file, its chunks' offsets by group.
        self._files: list[tuple[int, str, dict[Hashable, list[int]]]] = []
        self._made = 0
        self._counts: dict[Hashable, int] = {}
        self._count = 0

    def add(self, rows: Iterable[_T]) -> None:
        """Write one run: *rows* in *key* order (and so grouped).

        When :data:`FAN_IN` runs of one level are on disk, they are merged into
        one run of the next level (their files removed), so a merge never
        reads more than a few times :data:`FAN_IN` runs at once.
        """
        counts = self._write(rows, 0)
        for group, n in counts.items():
            self._counts[group] = self._counts.get(group, 0) + n
            self._count += n
        level = 0
        while True:
            same = [f for f in self._files if f[0] == level]
            if len(same) < FAN_IN:
                return
            merged = heapq.merge(
                *(self._read(path, _every(chunks)) for _, path, chunks in same), key=self._key
            )
            self._write(merged, level + 1)
            for run in same:
                self._files.remove(run)
                os.unlink(run[1])  # noqa: PTH108
            level += 1

    def _write(self, rows: Iterable[_T], level: int) -> dict[Hashable, int]:
        """Write *rows* (in *key* order) as a run of *level*; how many rows of each group."""
        path = os.path.join(self._folder, f"{self._name}-{self._made}.pickle")  # noqa: PTH118
        self._made += 1
        chunks: dict[Hashable, list[int]] = {}
        counts: dict[Hashable, int] = {}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            chunk: list[_T] = []
            at: Hashable = None

            def flush() -> None:
                if chunk:
                    chunks.setdefault(at, []).append(handle.tell())
                    pickle.dump(tuple(chunk), handle, protocol=pickle.HIGHEST_PROTOCOL)
                    counts[at] = counts.get(at, 0) + len(chunk)
                    chunk.clear()

            for row in rows:
                group = None if self._group is None else self._group(row)
                if group != at or len(chunk) >= CHUNK:
                    flush()
                    at = group
                chunk.append(row)
            flush()
        if chunks:
            self._files.append((level, path, chunks))
        else:
            os.unlink(path)  # noqa: PTH108
        return counts

    @staticmethod
    def _read(path: str, offsets: list[int]) -> Iterator[_T]:
        with open(path, "rb") as handle:  # noqa: PTH123
            for offset in offsets:
                handle.seek(offset)
                yield from pickle.load(handle)  # noqa: S301 - this process wrote it

    def _merged(self, group: Hashable, *, every: bool) -> Iterator[_T]:
        streams = []
        for _, path, chunks in self._files:
            offsets = _every(chunks) if every else chunks.get(group, [])
            if offsets:
                streams.append(self._read(path, offsets))
        return heapq.merge(*streams, key=self._key)

    def group(self, group: Hashable) -> Sequence[_T]:
        """The rows of one *group*, merged in *key* order (a sequence read from disk)."""
        return _Group(self, group)

    def size(self, group: Hashable) -> int:
        """How many rows *group* has."""
        return self._counts.get(group, 0)

    def __iter__(self) -> Iterator[_T]:
        return self._merged(None, every=True)

    def __len__(self) -> int:
        return self._count


def _every(chunks: dict[Hashable, list[int]]) -> list[int]:
    """Every chunk of a run, in the file's order (its rows' order)."""
    return sorted(offset for offsets in chunks.values() for offset in offsets)


class _Group(FileSequence[_T]):
    """One group of a :class:`Runs`, read from disk each time it is iterated."""

    def __init__(self, runs: Runs[_T], group: Hashable) -> None:
        self._runs = runs
        self._name = group

    def __iter__(self) -> Iterator[_T]:
        return self._runs._merged(self._name, every=False)  # noqa: SLF001 - its own runs

    def __len__(self) -> int:
        return self._runs.size(self._name)


class Mapped(FileSequence[_T]):
    """*rows* (a sequence read from disk) with *make* applied to each as it is read."""

    def __init__(self, rows: Sequence[Any], make: Callable[[Any], _T]) -> None:
        self._rows = rows
        self._make = make

    def __iter__(self) -> Iterator[_T]:
        return map(self._make, self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class ReportSpool:
    """The private folder a report's runs are written to (see :func:`report_spool`)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def runs(
        self,
        name: str,
        *,
        key: Callable[[_T], Any],
        group: Callable[[_T], Hashable] | None = None,
    ) -> Runs[_T]:
        """New runs in this folder, named *name*."""
        return Runs(self.folder, name, key=key, group=group)


@contextlib.contextmanager
def report_spool() -> Iterator[ReportSpool]:
    """A private temporary folder for a report's runs, removed however the block ends.

    The folder (0700) is removed when the block ends, by an exception too;
    on SIGTERM or SIGHUP (then the signal's previous handling goes on) and
    at the interpreter's exit if the block never ends.
    """
    folder = tempfile.mkdtemp(prefix="carecore-report-")
    with _lock:
        _LIVE[folder] = os.getpid()
        _watch()
    owner = os.getpid()
    try:
        yield ReportSpool(folder)
    finally:
        with _lock:
            if os.getpid() == owner:
                shutil.rmtree(folder, ignore_errors=True)
                _LIVE.pop(folder, None)
            if not _LIVE and threading.current_thread() is threading.main_thread():
                _restore()
