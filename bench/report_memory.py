"""Peak memory of ``carecore report`` over SQLite stores of growing size, and its slope.

For each size the synthetic month of ``gen_close.py`` is generated and
loaded into a SQLite store by ``store_close.load_store`` (patients with
about 5 time entries each, their conditions, consents, enrollments, care
plans, visits and device readings), once, and kept in *work* for the next
run. Then ``/usr/bin/time -v carecore report --db sqlite:///STORE --to
2026-03 --as-of 2026-03-31 --out DIR`` runs in a process of its own
(default partitions, no executor), and the bench prints its peak RSS
(maximum resident set size), its CPU seconds (user + system), its wall
seconds and the load average before and after. The slope per 1,000
patients is the least-squares line through the peaks, and the 1,000,000
figure extends it.

Run: ``python bench/report_memory.py --patients 20000 50000 100000``
(with ``--source DIR``, the ``carecore`` package is imported from *DIR*,
e.g. an older tree unpacked with ``git archive``, to compare).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIELDS = {
    "peak_kb": r"Maximum resident set size \(kbytes\): (\d+)",
    "user": r"User time \(seconds\): ([\d.]+)",
    "system": r"System time \(seconds\): ([\d.]+)",
    "wall": r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)",
}


def _seconds(text: str) -> float:
    total = 0.0
    for part in text.split(":"):
        total = total * 60 + float(part)
    return total


def build(work: Path, patients: int) -> Path:
    """The store of *patients* in *work*, generated and loaded unless it is there already."""
    store, loaded = work / f"store-{patients}.db", work / f"store-{patients}.loaded"
    if loaded.exists():
        return store
    data = work / f"data-{patients}"
    subprocess.run(
        [sys.executable, str(HERE / "gen_close.py"), str(data), "--patients", str(patients)],
        check=True,
    )
    sys.path.insert(0, str(HERE))
    from store_close import load_store

    counts = load_store(data, store)
    loaded.write_text(f"{counts}\n", encoding="utf-8")
    shutil.rmtree(data)
    return store


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])


def measure(store: Path, out: Path, source: Path | None) -> dict[str, float | str]:
    """One ``carecore report`` of *store* under ``/usr/bin/time -v``: its figures."""
    carecore = Path(sys.executable).with_name("carecore")
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    shutil.rmtree(out, ignore_errors=True)
    before = _load()
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-v",
            str(carecore),
            "report",
            "--db",
            f"sqlite:///{store}",
            "--to",
            "2026-03",
            "--as-of",
            "2026-03-31",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    after = _load()
    if done.returncode != 0:
        raise SystemExit(f"carecore report failed ({done.returncode}):\n{done.stderr[-2000:]}")
    found: dict[str, float | str] = {}
    for name, pattern in FIELDS.items():
        match = re.search(pattern, done.stderr)
        if match is None:
            raise SystemExit(f"no {name} in /usr/bin/time's output")
        found[name] = _seconds(match.group(1)) if name == "wall" else float(match.group(1))
    found["load"] = f"{before} -> {after}"
    return found


def slope(points: list[tuple[int, float]]) -> tuple[float, float]:
    """The least-squares line through (patients, MB): MB per 1,000 patients, and MB at none."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    per = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return per * 1000, mean_y - per * mean_x


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, nargs="+", default=[20_000, 50_000, 100_000])
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-report-memory"
    )
    parser.add_argument("--source", type=Path, help="import carecore from this folder")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    points = []
    print("patients | peak RSS | CPU (user + system) | wall | load average before -> after")
    for patients in args.patients:
        store = build(args.work, patients)
        got = measure(store, args.work / f"report-{patients}", args.source)
        peak = float(got["peak_kb"]) / 1024
        cpu = float(got["user"]) + float(got["system"])
        points.append((patients, peak))
        print(
            f"{patients:,} | {peak:,.0f} MB | {cpu:,.1f} s | {float(got['wall']):,.1f} s | "
            f"{got['load']}",
            flush=True,
        )
    if len(points) > 1:
        per, base = slope(points)
        print(
            f"slope {per:.2f} MB per 1,000 patients; at 1,000,000 patients "
            f"{base + per * 1000:,.0f} MB"
        )


if __name__ == "__main__":
    main()
