"""FHIR import: carecore's whole import of the 9 Synthea R4 bundles into SQLite, against
``fhir.resources.R4B`` validating the same bundles (``Bundle.model_validate_json``), in one run.

The target is a ratio at or below 1: carecore's import (parse, map, validate the resources it
consumes, write, open transition episodes) no slower than the validation alone. Each side is
run once to warm up (imports, model classes), then best of ``--repeat``.

The bundles are the nine carecore ships (``carecore/_demo_data/synthea``, gzip-compressed),
unpacked in memory before either side runs, so neither side times the decompression.

Run alone: ``python bench/fhir_import.py`` (needs carecore-fhir).
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from importlib import resources
from pathlib import Path


def synthea_bundles() -> list[tuple[str, bytes]]:
    """(file name, JSON bytes) of the nine Synthea bundles carecore ships, by name."""
    shipped = resources.files("carecore") / "_demo_data" / "synthea"
    return [
        (item.name.removesuffix(".gz"), gzip.decompress(item.read_bytes()))
        for item in sorted(shipped.iterdir(), key=lambda p: p.name)
        if item.name.endswith(".json.gz")
    ]


def bench_fhir(repeat: int, folder: Path) -> dict[str, float]:
    """Seconds for carecore's import of the 9 bundles and for R4B validation of them alone."""
    from carecore_fhir import import_bundle
    from fhir.resources.R4B.bundle import Bundle

    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    bundles = synthea_bundles()
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
