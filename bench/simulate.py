"""Simulation throughput: patient-months per second against the columnar month close's, same run.

Usage: python bench/simulate.py [--patients 10000] [--months 12] [--replications 20]
       [--close-patients 100000] [--work DIR]

Runs the primary-care-2026 study (its population resized) in one process
and on a Dask LocalCluster of 2 workers, each in its own process so that its
peak memory (PSS of the process tree) is measured, and on 2 Dask workers
started as separate processes each in its own session (see
_simulate_run.py: on a busy Linux machine a LocalCluster's workers share
one session's CPU share); the run is timed on the started, warmed-up
executor and the start-up is reported apart;
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


def _simulate(patients: int, months: int, reps: int, executor: str, workers: int) -> dict[str, Any]:
    """One study run in its own process: its figures (see ``_simulate_run.py``) and peak memory.

    ``startup_s`` (the executor started and its workers warmed up) is
    measured apart from ``run_s`` and ``run_cpu_s`` (the study on the started
    executor). On a machine whose cores are busy with other work, wall
    seconds say little about a second worker; the CPU seconds show whether
    the work itself grew.
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
        _seconds, peak = run_measured(command, ok=frozenset({0}))
        figures: dict[str, Any] = json.loads(out.read_text())
        figures["process_cpu_s"] = _children_cpu() - before
        figures["peak_mb"] = peak
    return figures


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose ``run_s`` is the median (the lower one of an even count)."""
    return sorted(runs, key=lambda r: r["run_s"])[(len(runs) - 1) // 2]


def bench_simulate(  # noqa: PLR0917 - the bench's settings
    patients: int, months: int, reps: int, close_patients: int, work: Path, repeat: int = 1
) -> dict[str, Any]:
    """Simulated patient-months/s (in process, Dask 2 workers) and the columnar close's, same run.

    With *repeat*, the three set-ups run that many times, one after the
    other in turn, and each reports its median run.
    """
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
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "dask": [], "dask-sessions": []}
    for _ in range(repeat):
        for executor, found in runs.items():
            found.append(
                _simulate(patients, months, reps, executor, 0 if executor == "local" else 2)
            )
    local, dask2, own = (_median_run(found) for found in runs.values())
    load_after = os.getloadavg()[0]
    local_s = local["run_s"]
    enrolled = float(local["enrolled_months"])
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
        "local_startup_s": local["startup_s"],
        "local_patient_months_per_s": pm / local_s,
        "enrolled_patient_months": enrolled,
        "local_enrolled_patient_months_per_s": enrolled / local_s,
        "enrolled_ratio": (enrolled / local_s) / close_rate,
        "local_peak_mb": local["peak_mb"],
        "local_cpu_s": local["run_cpu_s"],
        "dask_2_workers_s": dask2["run_s"],
        "dask_2_workers_startup_s": dask2["startup_s"],
        "dask_2_workers_cpu_s": dask2["run_cpu_s"],
        "dask_2_workers_cpu_per_worker_s": dask2["run_cpu_workers_s"],
        "dask_2_workers_cpu_main_s": dask2["run_cpu_main_s"],
        # What two idle cores would give: the single process's CPU seconds over the
        # cluster's spread over the 2 cores (the workers' and the calling process's, which
        # holds the scheduler), and over the workers' alone. The tasks are one replication
        # each, so a free worker takes the next one and the workers' shares even out.
        "dask_cpu_speedup_2_workers_vs_1_process": local["run_cpu_s"]
        / ((sum(dask2["run_cpu_workers_s"]) + dask2["run_cpu_main_s"]) / 2),
        "dask_cpu_speedup_2_workers_only_vs_1_process": local["run_cpu_s"]
        / (sum(dask2["run_cpu_workers_s"]) / 2),
        "dask_2_workers_own_sessions_s": own["run_s"],
        "dask_2_workers_own_sessions_startup_s": own["startup_s"],
        "dask_2_workers_own_sessions_cpu_s": own["run_cpu_s"],
        "dask_2_workers_own_sessions_cpu_per_worker_s": own["run_cpu_workers_s"],
        "dask_speedup_2_workers_own_sessions_vs_1_process": local_s / own["run_s"],
        "dask_2_workers_peak_mb": dask2["peak_mb"],
        "dask_2_workers_peak_mb_per_worker": dask2["peak_mb"] / 2,
        "dask_speedup_2_workers_vs_1_process": local_s / dask2["run_s"],
        "load_average_1min": [load_before, load_after],
        "run_s_each": {name: [r["run_s"] for r in found] for name, found in runs.items()},
        "ratio": (pm / local_s) / close_rate,
    }


def describe(r: dict[str, Any]) -> str:
    """One line of the figures."""
    return (
        f"(simulation {r['local_patient_months_per_s']:,.0f} patient-months/s in process,"
        f" of which {r['local_enrolled_patient_months_per_s']:,.0f} enrolled (billed through"
        f" the engine; ratio {r['enrolled_ratio']:.2f});"
        f" columnar close {r['close_patient_months_per_s']:,.0f}/s;"
        f" 1 process {r['local_s']:.1f} s, Dask 2 workers {r['dask_2_workers_s']:.1f} s on a"
        f" started cluster (start-up {r['dask_2_workers_startup_s']:.1f} s apart),"
        f" speed-up {r['dask_speedup_2_workers_vs_1_process']:.2f}x;"
        f" workers in sessions of their own {r['dask_2_workers_own_sessions_s']:.1f} s,"
        f" speed-up {r['dask_speedup_2_workers_own_sessions_vs_1_process']:.2f}x;"
        f" CPU {r['local_cpu_s']:.1f} s in process, {r['dask_2_workers_cpu_s']:.1f} s and"
        f" {r['dask_2_workers_own_sessions_cpu_s']:.1f} s on Dask"
        f" (CPU speed-up on 2 cores: {r['dask_cpu_speedup_2_workers_vs_1_process']:.2f}x,"
        f" workers only {r['dask_cpu_speedup_2_workers_only_vs_1_process']:.2f}x);"
        f" load average {r['load_average_1min'][0]:.1f} to {r['load_average_1min'][1]:.1f};"
        f" peak {r['local_peak_mb']:.0f} MB in process,"
        f" {r['dask_2_workers_peak_mb']:.0f} MB for the 2-worker cluster with its scheduler)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--replications", type=int, default=20)
    parser.add_argument("--close-patients", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each set-up (medians)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    r = bench_simulate(
        args.patients,
        args.months,
        args.replications,
        args.close_patients,
        args.work,
        args.repeat,
    )
    print(json.dumps(r, indent=2))
    print(f"simulation_vs_columnar_close ratio {r['ratio']:.2f}  {describe(r)}")


if __name__ == "__main__":
    main()
