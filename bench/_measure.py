"""How the benchmarks measure a command: wall seconds and the peak memory of its process tree.

Peak memory is the proportional set size (PSS) of the process and every
descendant (the close's workers), sampled every 0.2 s, so pages shared by a
forked worker count once.
"""

from __future__ import annotations

import resource
import subprocess
import time
from pathlib import Path


def tree_pss_mb(pid: int) -> float:
    """Proportional set size of a process and its descendants, in MB."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_measured(command: list[str], ok: frozenset[int] = frozenset({0, 1})) -> tuple[float, float]:
    """Run *command*; (seconds, peak PSS in MB of it and its workers). A status outside *ok* raises."""
    seconds, peak, _cpu = run_measured_cpu(command, ok)
    return seconds, peak


def run_measured_cpu(
    command: list[str], ok: frozenset[int] = frozenset({0, 1})
) -> tuple[float, float, float]:
    """Run *command*; (wall seconds, peak PSS in MB, CPU seconds of it and its workers).

    The CPU seconds are user plus system time of the process and the workers
    it waited for: on a machine shared with other work, they move less than
    the wall clock.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, tree_pss_mb(child.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode not in ok:
        msg = f"{command[:6]} failed with status {child.returncode}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, peak, cpu
