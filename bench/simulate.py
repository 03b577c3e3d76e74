"""Simulation throughput: patient-months per second against the columnar month close's, same run.

Usage: python bench/simulate.py [--patients 10000] [--months 12] [--replications 20]
       [--close-patients 100000] [--work DIR]

Runs the primary-care-2026 study (its population resized) with the local
executor, a Dask LocalCluster of 1 worker and one of 2 workers, each in its
own process so that its peak memory (PSS of the process tree) is measured;
and the columnar month close of --close-patients synthetic patients. Reports
patient-months per second of each and the ratios. A simulated patient-month
counts every patient of the panel; only the enrolled ones are billed through
the engine (the others are outcome draws), so the enrolled patient-months per
second are reported too: those are the months comparable with the close's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _measure import run_measured

HERE = Path(__file__).parent


def _children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes and their descendants."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _simulate(
    patients: int, months: int, reps: int, executor: str, workers: int
) -> tuple[float, float, float, float]:
    """(seconds, peak MB, enrolled patient-months, CPU seconds) of one study run in its own process.

    On a machine whose cores are busy with other work, wall seconds say little
    about a second worker; the CPU seconds show whether the work itself grew.
    """
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run.json"
        command = [
            sys.executable,
            str(HERE / "_simulate_run.py"),
            str(patients),
            str(months),
            str(reps),
            executor,
            str(workers),
            str(out),
        ]
        before = _children_cpu()
        seconds, peak = run_measured(command, ok=frozenset({0}))
        cpu = _children_cpu() - before
        enrolled = float(json.loads(out.read_text())["enrolled_months"])
    return seconds, peak, enrolled, cpu


def bench_simulate(
    patients: int, months: int, reps: int, close_patients: int, work: Path
) -> dict[str, Any]:
    """Simulated patient-months/s (local, Dask 1 and 2 workers) and the columnar close's, same run."""
    data = work / f"close-{close_patients}"
    if not (data / "events.csv").exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen_close.py"),
                str(data),
                "--patients",
                str(close_patients),
            ],
            check=True,
        )
    close = [
        sys.executable, "-m", "carecore.cli", "billing", "close", "--month", "2026-03",
        "--patients", str(data / "patients.csv"), "--events", str(data / "events.csv"),
        "--out", str(data / "out"), "--no-progress", "--engine", "columnar", "--workers", "1",
    ]  # fmt: skip
    close_s, close_peak_mb = run_measured(close)
    pm = patients * months * reps
    local_s, local_mb, enrolled, local_cpu = _simulate(patients, months, reps, "local", 0)
    dask1_s, dask1_mb, _same, dask1_cpu = _simulate(patients, months, reps, "dask", 1)
    dask2_s, dask2_mb, _same, dask2_cpu = _simulate(patients, months, reps, "dask", 2)
    close_rate = close_patients / close_s
    return {
        "patients": patients,
        "months": months,
        "replications": reps,
        "patient_months": pm,
        "close_patients": close_patients,
        "close_s": close_s,
        "close_peak_mb": close_peak_mb,
        "close_patient_months_per_s": close_rate,
        "local_s": local_s,
        "local_patient_months_per_s": pm / local_s,
        "enrolled_patient_months": enrolled,
        "local_enrolled_patient_months_per_s": enrolled / local_s,
        "enrolled_ratio": (enrolled / local_s) / close_rate,
        "local_peak_mb": local_mb,
        "local_cpu_s": local_cpu,
        "dask_1_worker_cpu_s": dask1_cpu,
        "dask_2_workers_cpu_s": dask2_cpu,
        "load_average_1min": os.getloadavg()[0],
        "dask_1_worker_s": dask1_s,
        "dask_1_worker_peak_mb": dask1_mb,
        "dask_2_workers_s": dask2_s,
        "dask_2_workers_peak_mb": dask2_mb,
        "dask_2_workers_peak_mb_per_worker": dask2_mb / 2,
        "dask_speedup_2_vs_1": dask1_s / dask2_s,
        "ratio": (pm / local_s) / close_rate,
    }


def describe(r: dict[str, Any]) -> str:
    """One line of the figures."""
    return (
        f"(simulation {r['local_patient_months_per_s']:,.0f} patient-months/s in process,"
        f" of which {r['local_enrolled_patient_months_per_s']:,.0f} enrolled (billed through"
        f" the engine; ratio {r['enrolled_ratio']:.2f});"
        f" columnar close {r['close_patient_months_per_s']:,.0f}/s;"
        f" Dask 1 worker {r['dask_1_worker_s']:.1f} s, 2 workers {r['dask_2_workers_s']:.1f} s,"
        f" speed-up {r['dask_speedup_2_vs_1']:.2f}x; CPU {r['local_cpu_s']:.0f} s in process,"
        f" {r['dask_1_worker_cpu_s']:.0f} s and {r['dask_2_workers_cpu_s']:.0f} s on Dask;"
        f" load average {r['load_average_1min']:.1f}; peak {r['local_peak_mb']:.0f} MB in process,"
        f" {r['dask_2_workers_peak_mb']:.0f} MB for the 2-worker cluster with its scheduler)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--close-patients", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    r = bench_simulate(
        args.patients, args.months, args.replications, args.close_patients, args.work
    )
    print(json.dumps(r, indent=2))
    print(f"simulation_vs_columnar_close ratio {r['ratio']:.2f}  {describe(r)}")


if __name__ == "__main__":
    main()
