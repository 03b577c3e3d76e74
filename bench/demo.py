"""How long ``carecore demo`` takes: elapsed and CPU seconds of the whole command, run after run.

Usage: ``python bench/demo.py [--repeat N]`` with carecore and the demo's plugins installed.
Each run builds the default demo (150 patients, 12 months) in a new SQLite file in a
temporary folder, as ``carecore demo --db sqlite:///... --fresh`` does. CPU seconds (user +
system of the command and its children) are what the demo itself needs; elapsed seconds
also count waiting for the disk and for whatever else the machine runs, so the load
average is printed beside them. Whether Python may cache compiled modules is printed too:
with ``PYTHONDONTWRITEBYTECODE`` set and no cache, every run compiles carecore and its
dependencies from source (2 to 3 s of CPU); an installed package has its cache.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _carecore() -> str:
    return shutil.which("carecore") or str(Path(sys.executable).with_name("carecore"))


def run_once(folder: Path) -> tuple[float, float]:
    """One demo in *folder*: (elapsed seconds, CPU seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [_carecore(), "demo", "--db", f"sqlite:///{folder / 'demo.db'}", "--fresh",
         "--no-progress", "--out", str(folder / "report")],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("bytecode cache: not written (PYTHONDONTWRITEBYTECODE is set)")
    else:
        where = os.environ.get("PYTHONPYCACHEPREFIX") or "__pycache__ folders"
        print(f"bytecode cache: written and used ({where}; the first run fills it)")
    runs = []
    for n in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="carecore-bench-demo-") as folder:
            elapsed, cpu = run_once(Path(folder))
        load = os.getloadavg()[0]
        runs.append((elapsed, cpu))
        print(f"run {n + 1}: {elapsed:.1f} s elapsed, {cpu:.1f} s CPU (load average {load:.1f})")
    print(
        f"median: {statistics.median(r[0] for r in runs):.1f} s elapsed, "
        f"{statistics.median(r[1] for r in runs):.1f} s CPU on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
