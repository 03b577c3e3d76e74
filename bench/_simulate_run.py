"""One simulation run for bench/simulate.py (a file, so Dask's spawned workers can import it safely).

Usage: python bench/_simulate_run.py PATIENTS MONTHS REPLICATIONS EXECUTOR WORKERS OUT_JSON

EXECUTOR is ``local``, ``dask`` (a ``LocalCluster`` this process starts) or
``dask-sessions``: a scheduler and WORKERS single-threaded worker processes
started as separate ``dask scheduler`` / ``dask worker`` commands on
127.0.0.1, each in a session of its own, as a cluster's services run. On
Linux with session-based scheduling (autogroup) every session gets an even
share of a busy machine's CPU, so a LocalCluster's workers, in the session of
the process that started them, share one session's share among them.

Writes OUT_JSON with the start-up and the run measured apart:

- ``startup_s``: starting the executor (a Dask ``LocalCluster``: its
  scheduler and worker processes) and warming every worker up (imports, the
  rule set, the ICD-10-CM tables, the TCM holiday calendar: one month of the
  same study with 20 patients, run on each worker); the in-process run warms
  up the same way.
- ``run_s`` and ``run_cpu_s``: the study itself on the started, warmed
  executor, wall seconds and CPU seconds (this process, which holds the
  local cluster's scheduler, plus every worker process).
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from carecore.executors import DaskExecutor, get_executor
from carecore.simulation import load_study, run_study

if TYPE_CHECKING:
    from collections.abc import Iterator


def _cpu(ex: object) -> dict[str, float]:
    """CPU seconds so far of this process (``main``) and, on Dask, of each worker process."""
    own = {"main": time.process_time()}
    if isinstance(ex, DaskExecutor):
        return own | ex.client.run(time.process_time)
    return own


@contextlib.contextmanager
def _own_sessions(workers: int) -> Iterator[str]:
    """A scheduler and *workers* worker processes on 127.0.0.1, each in its own session; its address."""
    dask = str(Path(sys.executable).with_name("dask"))
    with tempfile.TemporaryDirectory() as folder:
        address_file = Path(folder) / "scheduler.json"
        scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        scheduler += ["--scheduler-file", str(address_file)]
        started = [subprocess.Popen(scheduler, start_new_session=True, stderr=subprocess.DEVNULL)]
        try:
            while not address_file.exists():
                time.sleep(0.1)
            time.sleep(0.2)  # written whole
            address = json.loads(address_file.read_text())["address"]
            worker = [dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1"]
            worker += ["--nworkers", "1", "--no-nanny", "--no-dashboard"]
            started += [
                subprocess.Popen(worker, start_new_session=True, stderr=subprocess.DEVNULL)
                for _ in range(workers)
            ]
            yield address
        finally:
            for process in reversed(started):
                process.terminate()
            for process in started:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def main() -> None:
    patients, months, reps, executor, workers, out = sys.argv[1:7]
    study = load_study("primary-care-2026")
    study = attrs.evolve(
        study,
        months=int(months),
        population=attrs.evolve(study.population, size=int(patients)),
    )
    # The same study in miniature: its pool's state readies the worker for this policy.
    miniature = attrs.evolve(study, months=1, population=attrs.evolve(study.population, size=20))
    warm = functools.partial(run_study, miniature, replications=1, seed=0)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        count = int(workers) if workers != "0" else None
        if executor == "dask-sessions":
            address = stack.enter_context(_own_sessions(count or 2))
            ex = stack.enter_context(get_executor("dask", workers=count, scheduler=address))
        else:
            ex = stack.enter_context(get_executor(executor, workers=count))
        if isinstance(ex, DaskExecutor):
            ex.client.run(warm)  # every worker, once
        else:
            warm()
        startup = time.perf_counter() - started
        cpu_before = _cpu(ex)
        begun = time.perf_counter()
        result = run_study(study, replications=int(reps), seed=1, executor=ex)
        run_s = time.perf_counter() - begun
        cpu_after = _cpu(ex)
        used = {key: cpu_after[key] - cpu_before[key] for key in cpu_before}
    enrolled = sum(t["enrolled_months"] for t in result.totals())
    Path(out).write_text(
        json.dumps(
            {
                "enrolled_months": enrolled,
                "rows": len(result.rows),
                "startup_s": startup,
                "run_s": run_s,
                "run_cpu_s": sum(used.values()),
                "run_cpu_main_s": used["main"],
                "run_cpu_workers_s": sorted(v for k, v in used.items() if k != "main"),
                "workers": ex.workers,
            }
        )
    )


if __name__ == "__main__":
    main()
