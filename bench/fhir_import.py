"""FHIR import: carecore's whole import of the 9 Synthea R4 bundles into SQLite, against
``fhir.resources.R4B`` validating the same bundles (``Bundle.model_validate_json``), in one run.

The target is a ratio at or below 1: carecore's import (parse, map, validate the resources it
consumes, write, open transition episodes) no slower than the validation alone. Each side is
run once to warm up (imports, model classes), then best of ``--repeat``.

Run alone: ``python bench/fhir_import.py`` (needs carecore-fhir and the sample Synthea R4
bundles: set ``CARECORE_SHARED_DIR`` to the folder whose ``data/synthea_r4`` holds them).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def synthea_dir() -> Path:
    root = Path(__file__).resolve().parents[1]
    for candidate in (
        os.environ.get("CARECORE_SHARED_DIR"),
        root.parent / "shared",
        "/work/shared",
    ):
        if candidate and (Path(candidate) / "data" / "synthea_r4").is_dir():
            return Path(candidate) / "data" / "synthea_r4"
    msg = "the Synthea bundles were not found; set CARECORE_SHARED_DIR"
    raise FileNotFoundError(msg)


def bench_fhir(repeat: int, folder: Path) -> dict[str, float]:
    """Seconds for carecore's import of the 9 bundles and for R4B validation of them alone."""
    from carecore_fhir import import_bundle
    from fhir.resources.R4B.bundle import Bundle

    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    bundles = [(p.name, p.read_bytes()) for p in sorted(synthea_dir().glob("*.json"))]
    pm = get_plugin_manager(entry_points=False)
    folder.mkdir(parents=True, exist_ok=True)

    def validate_all() -> None:
        for _, data in bundles:
            Bundle.model_validate_json(data)

    runs = [0]

    def import_all() -> None:
        runs[0] += 1
        db = folder / f"fhir-bench-{runs[0]}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        with CareProgram.open(f"sqlite:///{db}", actor="bench", plugin_manager=pm) as program:
            for name, data in bundles:
                report = import_bundle(program, data, source=name)
                assert not report.refused, report.refused[:1]
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)

    def best(fn: object) -> float:
        fn()  # type: ignore[operator]  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    baseline = best(validate_all)
    candidate = best(import_all)
    return {
        "bundles": len(bundles),
        "megabytes": sum(len(d) for _, d in bundles) / 1e6,
        "baseline_s": baseline,
        "candidate_s": candidate,
        "ratio": candidate / baseline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    r = bench_fhir(args.repeat, args.work)
    print(
        f"FHIR import of {r['bundles']} Synthea bundles ({r['megabytes']:.1f} MB) into SQLite: "
        f"{r['candidate_s']:.3f} s; fhir.resources R4B validation alone: {r['baseline_s']:.3f} s; "
        f"ratio {r['ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
