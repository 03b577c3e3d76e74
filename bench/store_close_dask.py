"""Month close from PostgreSQL on Dask (2 workers) against the CSV columnar close of the same month.

The synthetic month of ``gen_close.py`` (about 5 time entries a patient)
is loaded into an empty PostgreSQL database through the store's bulk API,
whose loads are ``COPY``s (``store_close.load_store``, in two processes
that each load every kind for half of the patients, ``--load-workers``;
the load is timed apart from the closes: wall, and CPU of the loading
processes). The database is on a throwaway PostgreSQL server started from the
installed binaries (``carecore_postgres.testing``), or on the server at
``--server postgresql://user@host:port/db``.

Then, in one run:

- the CSV close of the month (``carecore billing close --patients ...
  --events ...``, the columnar engine as the CLI chooses it) is the
  baseline;
- ``carecore billing close --db URL --executor dask --workers 2`` closes
  the month on a local Dask cluster of two single-threaded worker
  processes, each reading its partitions from PostgreSQL and storing them
  back (the month's first close: it writes every claim line and denial);
- ``carecore report --db URL`` writes the program report over the store.

Reported: wall seconds (and their ratio, target at most 2), the peak PSS
of the busiest single process of the Dask close's process tree (a worker;
target at most 1 GB) and of the whole tree, and the report's peak PSS
(target at most 2 GB). The two closes' lines per code are compared.

Run alone: ``python bench/store_close_dask.py --patients 100000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _measure import run_measured_cpu
from store_close import MONTH, lines_per_code, load_store

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).parent


def _pss_by_process(pid: int) -> dict[int, float]:
    """PSS in MB of *pid* and each of its descendants."""
    out: dict[int, float] = {}
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    out[current] = int(line.split()[1]) / 1024
                    break
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return out


def run_per_process(command: list[str]) -> tuple[float, float, float, float]:
    """Run *command*: wall seconds, peak PSS MB of its busiest descendant and of the tree, CPU seconds.

    The CPU seconds are user plus system time of the command and every
    process it waited for (Dask's nannies wait for their workers).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    worker_peak = tree_peak = 0.0
    while child.poll() is None:
        sizes = _pss_by_process(child.pid)
        tree_peak = max(tree_peak, sum(sizes.values()))
        others = [mb for pid, mb in sizes.items() if pid != child.pid]
        worker_peak = max(worker_peak, *others, 0.0)
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        msg = f"{command[:6]} failed with status {child.returncode}"
        raise RuntimeError(msg)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, worker_peak, tree_peak, cpu


def _cpu_seconds() -> float:
    """User plus system seconds of this process and the children it waited for."""
    own, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextlib.contextmanager
def _database(server: str | None) -> Iterator[str]:
    """An empty database on *server*, or on a throwaway server."""
    from carecore_postgres.testing import fresh_database, throwaway_cluster

    with contextlib.ExitStack() as stack:
        base = server or stack.enter_context(throwaway_cluster())
        yield stack.enter_context(fresh_database(base))


def bench_store_close_dask(
    patients: int,
    work: Path,
    server: str | None = None,
    *,
    report: bool = True,
    load_workers: int = 2,
) -> dict[str, Any]:
    """The Dask close over PostgreSQL against the CSV close of the same month (one run each)."""
    data = work / f"close-{patients}"
    if not (data / "events.csv").exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_close.py"), str(data), "--patients", str(patients)],
            check=True,
        )
    with _database(server) as url:
        started, cpu_before = time.perf_counter(), _cpu_seconds()
        counts = load_store(data, url, workers=load_workers)
        load_s, load_cpu = time.perf_counter() - started, _cpu_seconds() - cpu_before
        print(f"loaded {counts} in {load_s:.0f} s (CPU {load_cpu:.0f} s)", file=sys.stderr)
        cli = [sys.executable, "-m", "carecore.cli"]
        csv_out, dask_out = data / "out-csv", data / "out-dask"
        csv_s, csv_peak, csv_cpu = run_measured_cpu(
            [
                *cli,
                "billing",
                "close",
                "--month",
                MONTH,
                "--patients",
                str(data / "patients.csv"),
                "--events",
                str(data / "events.csv"),
                "--out",
                str(csv_out),
                "--no-progress",
            ],
            ok=frozenset({0}),
        )
        dask_s, worker_peak, tree_peak, dask_cpu = run_per_process(
            [
                *cli,
                "billing",
                "close",
                "--month",
                MONTH,
                "--db",
                url,
                "--executor",
                "dask",
                "--workers",
                "2",
                "--out",
                str(dask_out),
                "--no-progress",
            ]
        )
        report_s = report_peak = 0.0
        if report:
            report_s, report_peak, _cpu = run_measured_cpu(
                [
                    *cli,
                    "report",
                    "--db",
                    url,
                    "--to",
                    MONTH,
                    "--out",
                    str(data / "out-report"),
                ],
                ok=frozenset({0}),
            )
    csv_codes = lines_per_code(csv_out / "claims.csv")
    dask_codes = lines_per_code(dask_out / "claims.csv")
    return {
        "patients": patients,
        "time_entries": counts.get("time_entries", 0),
        "load_s": load_s,
        "load_cpu_s": load_cpu,
        "load_workers": load_workers,
        "baseline_s": csv_s,
        "baseline_peak_mb": csv_peak,
        "candidate_s": dask_s,
        "ratio": dask_s / csv_s,
        "baseline_cpu_s": csv_cpu,
        "candidate_cpu_s": dask_cpu,
        "cpu_ratio": dask_cpu / csv_cpu,
        "worker_peak_mb": worker_peak,
        "close_tree_peak_mb": tree_peak,
        "report_s": report_s,
        "report_peak_mb": report_peak,
        "same_lines_per_code": csv_codes == dask_codes,
        "lines_per_code": dask_codes,
    }


def describe(r: dict[str, Any]) -> str:
    """One line of figures."""
    return (
        f"(Dask close {r['candidate_s']:.1f} s, CPU {r['candidate_cpu_s']:.1f} s, against CSV"
        f" {r['baseline_s']:.1f} s, CPU {r['baseline_cpu_s']:.1f} s (CPU ratio {r['cpu_ratio']:.2f});"
        f" busiest worker peak {r['worker_peak_mb']:.0f} MB, close tree {r['close_tree_peak_mb']:.0f}"
        f" MB; report {r['report_s']:.1f} s, peak {r['report_peak_mb']:.0f} MB;"
        f" {r['patients']:,} patients, {r['time_entries']:,} time entries;"
        f" same lines per code: {r['same_lines_per_code']};"
        f" load {r['load_s']:.0f} s, CPU {r['load_cpu_s']:.0f} s in {r['load_workers']} processes)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    parser.add_argument(
        "--server", default=None, help="a PostgreSQL server URL (default: throwaway)"
    )
    parser.add_argument("--no-report", action="store_true", help="skip carecore report")
    parser.add_argument(
        "--load-workers", type=int, default=2, help="processes loading the store (default 2)"
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = bench_store_close_dask(
        args.patients,
        args.work,
        args.server,
        report=not args.no_report,
        load_workers=args.load_workers,
    )
    print(json.dumps(result, indent=2))
    print(f"ratio {result['ratio']:.2f} {describe(result)}")


if __name__ == "__main__":
    main()
