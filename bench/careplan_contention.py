"""Care-plan revisions under contention: how many calls give up, at 2 and 4 writers.

Each writer is a process with its own connection that revises one shared care
plan ``--revisions`` times through ``CareProgram.revise_care_plan``. A call
that still finds the plan revised by others after its last attempt raises
``ConflictError`` and counts as given up. Two settings run on the same store:

- baseline: 5 attempts, no wait between them (how revisions retried before);
- candidate: the default :class:`carecore.careplans.RevisionRetry` (attempts
  with exponential backoff and full jitter).

On SQLite a revision's read and write share one ``BEGIN IMMEDIATE``
transaction, so writers queue and never collide; PostgreSQL (read committed)
is where revisions collide, and runs on a throwaway cluster when the
carecore-postgres plugin and the server binaries are installed.
Run alone: ``python bench/careplan_contention.py --revisions 100``.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum

if TYPE_CHECKING:
    from collections.abc import Iterator

AT = pendulum.datetime(2026, 3, 2, 15, tz="UTC")
PLAN = "cp-shared"


def _seed(url: str) -> None:
    from carecore.model import AdministrativeSex, CarePlan, Patient, ServiceFamily
    from carecore.service import CareProgram

    with CareProgram.open(url, actor="bench") as program, program.transaction("seed") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=pendulum.date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        )
        tx.add(
            CarePlan(
                id=PLAN,
                patient_id="p1",
                title="Shared plan",
                families=frozenset({ServiceFamily.CCM}),
                created_on=pendulum.date(2026, 1, 5),
            )
        )


def _writer(url: str, name: str, revisions: int, *, baseline: bool, start: Any, out: Any) -> None:
    import attrs

    from carecore import errors
    from carecore.careplans import RevisionRetry
    from carecore.service import CareProgram

    retry = RevisionRetry(attempts=5, base_seconds=0, max_seconds=0) if baseline else None
    gave_up = 0
    with CareProgram.open(url, actor=name, create=False) as program:
        start.wait()
        for n in range(revisions):
            try:
                program.revise_care_plan(
                    PLAN,
                    lambda p, n=n: attrs.evolve(p, title=f"{name} {n}"),
                    reason="contention bench",
                    retry=retry,
                )
            except errors.ConflictError:
                gave_up += 1
    out.put(gave_up)


def run(url: str, writers: int, revisions: int, *, baseline: bool) -> dict[str, Any]:
    """Give-ups of *writers* processes revising one plan *revisions* times each."""
    _seed(url)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer,
            args=(url, f"w{i}", revisions),
            kwargs={"baseline": baseline, "start": start, "out": out},
        )
        for i in range(writers)
    ]
    began = time.perf_counter()
    for p in procs:
        p.start()
    gave_up = sum(out.get(timeout=600) for _ in procs)
    for p in procs:
        p.join()
    calls = writers * revisions
    return {
        "calls": calls,
        "gave_up": gave_up,
        "rate": gave_up / calls,
        "seconds": time.perf_counter() - began,
    }


@contextlib.contextmanager
def _postgres() -> Iterator[Any]:
    try:
        from carecore_postgres.testing import NoServerBinaries, fresh_database, throwaway_cluster
    except ImportError:
        yield None
        return
    try:
        with throwaway_cluster() as server:
            yield lambda: fresh_database(server)
    except NoServerBinaries:
        yield None


def bench_contention(revisions: int, folder: Path) -> dict[str, Any]:
    """Give-up rates at 2 and 4 writers, baseline and candidate, SQLite and PostgreSQL."""
    folder.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for writers in (2, 4):
        for side in ("baseline", "candidate"):
            path = folder / f"contention-{writers}-{side}.db"
            path.unlink(missing_ok=True)
            results[f"sqlite_{writers}_{side}"] = run(
                f"sqlite:///{path}", writers, revisions, baseline=side == "baseline"
            )
    with _postgres() as databases:
        if databases is not None:
            for writers in (2, 4):
                for side in ("baseline", "candidate"):
                    with databases() as url:
                        results[f"postgres_{writers}_{side}"] = run(
                            url, writers, revisions, baseline=side == "baseline"
                        )
    store = "postgres" if "postgres_4_candidate" in results else "sqlite"
    baseline = results[f"{store}_4_baseline"]["gave_up"]
    candidate = results[f"{store}_4_candidate"]["gave_up"]
    # The ratio of give-ups at 4 writers (0 when the candidate gives up on none).
    results["ratio"] = candidate / baseline if baseline else float(candidate > 0)
    results["store"] = store
    return results


def describe(r: dict[str, Any]) -> str:
    """One line: the give-up rates by store and writers."""
    parts = []
    for key, value in r.items():
        if isinstance(value, dict):
            parts.append(f"{key} {value['gave_up']}/{value['calls']} ({value['rate']:.1%})")
    return "(gave up: " + ", ".join(parts) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revisions", type=int, default=100, help="revisions per writer")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    r = bench_contention(args.revisions, args.work)
    for key, value in r.items():
        if isinstance(value, dict):
            print(
                f"{key:<22} gave up {value['gave_up']:>4} of {value['calls']:>4} calls"
                f" ({value['rate']:6.1%}) in {value['seconds']:.1f} s"
            )
    print(
        f"ratio of give-ups at 4 writers on {r['store']} (candidate / baseline): {r['ratio']:.2f}"
    )


if __name__ == "__main__":
    main()
