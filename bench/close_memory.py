"""Memory and time of the CSV month close, whole and in buckets, against the SQLite GROUP BY baseline.

Usage: python bench/close_memory.py DATA_DIR [DATA_DIR ...] [--buckets auto] [--whole]

Each DATA_DIR holds a patients.csv / events.csv pair (``bench/gen_close.py
DIR --patients N`` writes one). For each, the baseline
(``bench/baseline_close.py``) and ``carecore billing close`` run once each,
one after the other; the close runs with ``--buckets`` as given and, with
``--whole``, again with ``--buckets 1`` (the files closed whole). Peak
memory is the proportional set size of the process and its workers, sampled
every 0.2 s (shared pages counted once), and the largest resident set of a
single process as ``/usr/bin/time -v`` would report it (``ru_maxrss``).
Results are printed and written to ``bench/results/close_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _measure import tree_pss_mb

HERE = Path(__file__).parent


def measure(command: list[str]) -> dict[str, float]:
    """Run *command*: seconds, peak tree PSS (MB) and the largest single-process max RSS (MB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, tree_pss_mb(child.pid))
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    if child.returncode not in {0, 1}:
        msg = f"{command[:4]} failed with status {child.returncode}"
        raise RuntimeError(msg)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest so far: only a new maximum is this run's.
    return {
        "seconds": seconds,
        "peak_pss_mb": peak,
        "max_rss_mb": after / 1024 if after > before else float("nan"),
    }


def close_command(data: Path, buckets: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "carecore.cli",
        "billing",
        "close",
        "--month",
        "2026-03",
        "--patients",
        str(data / "patients.csv"),
        "--events",
        str(data / "events.csv"),
        "--out",
        str(data / f"out-buckets-{buckets}"),
        "--no-progress",
        "--buckets",
        buckets,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path, nargs="+")
    parser.add_argument("--buckets", default="auto")
    parser.add_argument("--whole", action="store_true", help="also close each pair whole")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    for data in args.data:
        patients = sum(1 for _ in (data / "patients.csv").open(encoding="utf-8")) - 1
        baseline = measure(
            [sys.executable, str(HERE / "baseline_close.py"), str(data / "events.csv")]
        )
        row: dict[str, Any] = {"data": str(data), "patients": patients, "baseline": baseline}
        runs = [args.buckets, "1"] if args.whole else [args.buckets]
        for buckets in runs:
            measured = measure(close_command(data, buckets))
            measured["ratio"] = measured["seconds"] / baseline["seconds"]
            row[f"buckets={buckets}"] = measured
            print(
                f"{patients:>9,} patients  --buckets {buckets:<4}  {measured['seconds']:6.1f} s"
                f"  peak PSS {measured['peak_pss_mb']:6.0f} MB"
                f"  max RSS {measured['max_rss_mb']:6.0f} MB"
                f"  ratio {measured['ratio']:.2f} (baseline {baseline['seconds']:.1f} s,"
                f" {baseline['peak_pss_mb']:.0f} MB)",
                flush=True,
            )
        results.append(row)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "close_memory.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
