"""carecore benchmarks: each reported as a ratio against a baseline measured in the same run.

Usage: ``nox -s bench`` (or ``python bench/run.py [--repeat N]`` with carecore installed).
Results are printed and written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _measure import run_measured

if TYPE_CHECKING:
    from collections.abc import Callable

RESULTS = Path(__file__).parent / "results"


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def python_startup(code: str) -> Callable[[], object]:
    return lambda: subprocess.run([sys.executable, "-c", code], check=True)


def bench_import(repeat: int) -> dict[str, float]:
    """``import carecore`` against a bare interpreter start (-X importtime aside)."""
    baseline = best_of(python_startup("pass"), repeat)
    candidate = best_of(python_startup("import carecore"), repeat)
    return {
        "baseline_s": baseline,
        "candidate_s": candidate,
        "ratio": candidate / baseline,
        "extra_ms": (candidate - baseline) * 1000,
    }


def bench_json_round_trip(repeat: int) -> dict[str, float]:
    """carecore JSON round trip of 2,000 time entries against stdlib json on the same dicts."""
    import pendulum

    from carecore.convert import from_json, to_json, to_primitive
    from carecore.model import Credential, RoleClass, ServiceFamily, TimeEntry

    entries = [
        TimeEntry(
            id=f"t{i}",
            patient_id=f"p{i % 300}",
            performer_id="rn1",
            credential=Credential.RN,
            role_class=RoleClass.CLINICAL_STAFF,
            minutes=5 + i % 30,
            family=ServiceFamily.CCM,
            activity="call",
            service_date=pendulum.Date(2026, 1, 1 + i % 28),
            billing_practitioner_id="dr1",
        )
        for i in range(2000)
    ]
    dicts = [to_primitive(e) for e in entries]

    def baseline() -> None:
        for d in dicts:
            json.loads(json.dumps(d))

    def candidate() -> None:
        for e in entries:
            from_json(to_json(e), TimeEntry)

    b = best_of(baseline, repeat)
    c = best_of(candidate, repeat)
    return {"baseline_s": b, "candidate_s": c, "ratio": c / b}


def bench_close(patients: int, work: Path, runs: int = 3) -> dict[str, Any]:
    """Month close of *patients* synthetic patients against the SQLite GROUP BY baseline.

    The baseline and the close as the CLI chooses (the columnar engine when
    polars is installed) run *runs* times, one after the other, and the
    ratio is of their medians (a busy machine moves single runs by several
    seconds). The close then runs once with one worker, once with
    ``--engine reference`` and once with ``--buckets 1`` (the files closed
    whole; the default ``auto`` closes an events.csv over 384 MB in buckets).
    """
    here = Path(__file__).parent
    data = work / f"close-{patients}"
    if not (data / "events.csv").exists():
        subprocess.run(
            [sys.executable, str(here / "gen_close.py"), str(data), "--patients", str(patients)],
            check=True,
        )
    baseline = [sys.executable, str(here / "baseline_close.py"), str(data / "events.csv")]
    command = [
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
        str(data / "out"),
        "--no-progress",
    ]
    base_runs, close_runs = [], []
    for _ in range(max(runs, 1)):
        base_runs.append(run_measured(baseline))
        close_runs.append(run_measured(command))
    base_s = statistics.median(s for s, _ in base_runs)
    close_s = statistics.median(s for s, _ in close_runs)
    single_s, single_mb = run_measured([*command, "--workers", "1"])
    reference_s, reference_mb = run_measured([*command, "--engine", "reference"])
    whole_s, whole_mb = run_measured([*command, "--buckets", "1"])
    return {
        "patients": patients,
        "runs": len(close_runs),
        "baseline_s": base_s,
        "baseline_runs_s": [s for s, _ in base_runs],
        "baseline_peak_mb": max(mb for _, mb in base_runs),
        "candidate_s": close_s,
        "candidate_runs_s": [s for s, _ in close_runs],
        "candidate_peak_mb": max(mb for _, mb in close_runs),
        "ratio": close_s / base_s,
        "one_worker_s": single_s,
        "one_worker_peak_mb": single_mb,
        "one_worker_ratio": single_s / base_s,
        "reference_engine_s": reference_s,
        "reference_engine_peak_mb": reference_mb,
        "reference_engine_ratio": reference_s / base_s,
        "whole_s": whole_s,
        "whole_peak_mb": whole_mb,
        "whole_ratio": whole_s / base_s,
    }


def main() -> None:  # noqa: C901, PLR0912, PLR0915 - one block per benchmark
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--close-patients", type=int, default=1_000_000, help="0 skips the close benchmark"
    )
    parser.add_argument(
        "--close-runs", type=int, default=3, help="runs of the baseline and the close (median)"
    )
    parser.add_argument(
        "--store-close-patients",
        type=int,
        default=100_000,
        help="0 skips the store close (billing close --db) against the CSV close of the same month",
    )
    parser.add_argument(
        "--store-close-runs", type=int, default=3, help="runs of the store and CSV closes (median)"
    )
    parser.add_argument(
        "--store-dask-patients",
        type=int,
        default=1_000_000,
        help="0 skips the close from PostgreSQL on Dask (2 workers) against the CSV close, "
        "and the report over the same store",
    )
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    parser.add_argument(
        "--store-rows", type=int, default=1_000_000, help="0 skips the store insert benchmarks"
    )
    parser.add_argument(
        "--hl7-messages", type=int, default=5000, help="0 skips the HL7 listener benchmark"
    )
    parser.add_argument(
        "--outbox-messages", type=int, default=1000, help="0 skips the outbox-to-SMTP benchmark"
    )
    parser.add_argument(
        "--fhir",
        type=int,
        default=1,
        help="0 skips the FHIR import benchmark (needs carecore-fhir)",
    )
    parser.add_argument(
        "--simulate-patients",
        type=int,
        default=10_000,
        help="0 skips the simulation (x 12 months x 20 replications) against the columnar close",
    )
    parser.add_argument(
        "--contention-revisions",
        type=int,
        default=100,
        help="0 skips the care-plan contention benchmark (revisions per writer, 2 and 4 writers)",
    )
    args = parser.parse_args()
    results = {
        "import_carecore_vs_bare_python": bench_import(args.repeat),
        "json_round_trip_vs_stdlib_json": bench_json_round_trip(args.repeat),
    }
    if args.close_patients:
        results["billing_close_vs_sqlite_group_by"] = bench_close(
            args.close_patients, args.work, args.close_runs
        )
    if args.store_close_patients:
        sys.path.insert(0, str(Path(__file__).parent))
        from store_close import bench_store_close

        args.work.mkdir(parents=True, exist_ok=True)
        results["billing_close_store_vs_csv"] = bench_store_close(
            args.store_close_patients, args.work, args.store_close_runs
        )
    if args.store_dask_patients:
        sys.path.insert(0, str(Path(__file__).parent))
        from store_close_dask import bench_store_close_dask

        args.work.mkdir(parents=True, exist_ok=True)
        results["billing_close_postgres_dask_vs_csv"] = bench_store_close_dask(
            args.store_dask_patients, args.work
        )
    if args.store_rows:
        sys.path.insert(0, str(Path(__file__).parent))
        from store_insert import bench_store_inserts

        results |= bench_store_inserts(args.store_rows, args.work)
    if args.hl7_messages:
        sys.path.insert(0, str(Path(__file__).parent))
        from hl7_listener import bench_hl7

        # The real sample ADT messages (the hl7v2 plugin's test data), as a live feed
        # sends them, and a minimal generated A03 (MSH, PID, PV1 only), where
        # parsing is cheapest and the per-message commit weighs most.
        samples = Path(__file__).resolve().parents[1] / "plugins/carecore-hl7v2/tests/data"
        if samples.is_dir():
            results["hl7_listener_vs_parse_only"] = bench_hl7(args.hl7_messages, args.work, samples)
        results["hl7_listener_vs_parse_only_minimal"] = bench_hl7(args.hl7_messages, args.work)
        # Eight senders at once, each waiting for its ACKs: the listener's group commit
        # stores what they sent together (one sender alone gains nothing from it).
        results["hl7_listener_vs_parse_only_minimal_8_senders"] = bench_hl7(
            args.hl7_messages, args.work, senders=8
        )
    if args.outbox_messages:
        sys.path.insert(0, str(Path(__file__).parent))
        from outbox_smtp import bench_outbox

        results["outbox_smtp_vs_smtplib"] = bench_outbox(args.outbox_messages, args.work)
    if args.fhir:
        sys.path.insert(0, str(Path(__file__).parent))
        from fhir_import import bench_fhir

        results["fhir_import_vs_r4b_validation"] = bench_fhir(args.repeat, args.work)
    if args.simulate_patients:
        sys.path.insert(0, str(Path(__file__).parent))
        from simulate import bench_simulate

        args.work.mkdir(parents=True, exist_ok=True)
        results["simulation_vs_columnar_close"] = bench_simulate(
            args.simulate_patients, 12, 20, 100_000, args.work
        )
    if args.contention_revisions:
        sys.path.insert(0, str(Path(__file__).parent))
        from careplan_contention import bench_contention

        results["careplan_give_ups_vs_no_backoff"] = bench_contention(
            args.contention_revisions, args.work
        )
    for name, r in results.items():
        extra = f"  (+{r['extra_ms']:.0f} ms)" if "extra_ms" in r else ""
        if "candidate_peak_mb" in r and "one_worker_s" in r:
            spread = (
                f"{min(r['candidate_runs_s']):.1f}-{max(r['candidate_runs_s']):.1f} s and"
                f" {min(r['baseline_runs_s']):.1f}-{max(r['baseline_runs_s']):.1f} s"
            )
            extra = (
                f"  (median of {r['runs']}: {r['candidate_s']:.1f} s, peak {r['candidate_peak_mb']:.0f} MB;"
                f" baseline {r['baseline_s']:.1f} s, peak {r['baseline_peak_mb']:.0f} MB; runs {spread};"
                f" one worker: {r['one_worker_s']:.1f} s, peak {r['one_worker_peak_mb']:.0f} MB,"
                f" ratio {r['one_worker_ratio']:.2f};"
                f" --engine reference: {r['reference_engine_s']:.1f} s,"
                f" peak {r['reference_engine_peak_mb']:.0f} MB, ratio {r['reference_engine_ratio']:.2f};"
                f" --buckets 1: {r['whole_s']:.1f} s, peak {r['whole_peak_mb']:.0f} MB,"
                f" ratio {r['whole_ratio']:.2f})"
            )
        if name == "billing_close_store_vs_csv":
            from store_close import describe

            extra = f"  {describe(r)}"
        if name == "billing_close_postgres_dask_vs_csv":
            from store_close_dask import describe as describe_dask

            extra = f"  {describe_dask(r)}"
        if name == "simulation_vs_columnar_close":
            from simulate import describe as describe_simulation

            extra = f"  {describe_simulation(r)}"
        if name == "careplan_give_ups_vs_no_backoff":
            from careplan_contention import describe as describe_contention

            extra = f"  {describe_contention(r)}"
        if name.startswith("outbox"):
            extra = (
                f"  (outbox {r['outbox_per_s']:.0f} msg/s, smtplib {r['smtplib_per_s']:.0f} msg/s)"
            )
        if name.startswith("hl7"):
            extra = (
                f"  (listener {r['listener_per_s']:.0f} msg/s from {r['senders']} sender(s),"
                f" parse only {r['parse_only_per_s']:.0f} msg/s)"
            )
        if name.startswith("fhir"):
            extra = f"  (import {r['candidate_s']:.2f} s, R4B validation {r['baseline_s']:.2f} s, {r['bundles']} bundles)"
        if name.startswith("store_insert"):
            extra = f"  (store {r['candidate_s']:.1f} s, raw driver {r['baseline_s']:.1f} s, {r['rows']:,} rows)"
        print(f"{name:<36} ratio {r['ratio']:6.2f}{extra}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
