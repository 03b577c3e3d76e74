"""One simulation run for bench/simulate.py (a file, so Dask's spawned workers can import it safely).

Usage: python bench/_simulate_run.py PATIENTS MONTHS REPLICATIONS EXECUTOR WORKERS OUT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import attrs

from carecore.executors import get_executor
from carecore.simulation import load_study, run_study


def main() -> None:
    patients, months, reps, executor, workers, out = sys.argv[1:7]
    study = load_study("primary-care-2026")
    study = attrs.evolve(
        study,
        months=int(months),
        population=attrs.evolve(study.population, size=int(patients)),
    )
    with get_executor(executor, workers=int(workers) if workers != "0" else None) as ex:
        result = run_study(study, replications=int(reps), seed=1, executor=ex)
    enrolled = sum(t["enrolled_months"] for t in result.totals())
    Path(out).write_text(json.dumps({"enrolled_months": enrolled, "rows": len(result.rows)}))


if __name__ == "__main__":
    main()
