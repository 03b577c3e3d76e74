"""carecore benchmarks: each reported as a ratio against a baseline measured in the same run.

Usage: ``nox -s bench`` (or ``python bench/run.py [--repeat N]`` with carecore installed).
Results are printed and written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = {
        "import_carecore_vs_bare_python": bench_import(args.repeat),
        "json_round_trip_vs_stdlib_json": bench_json_round_trip(args.repeat),
    }
    for name, r in results.items():
        extra = f"  (+{r['extra_ms']:.0f} ms)" if "extra_ms" in r else ""
        print(f"{name:<36} ratio {r['ratio']:6.2f}{extra}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
