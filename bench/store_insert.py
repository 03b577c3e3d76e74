"""Bulk insert of time entries: each store against its raw driver, in the same run.

Both sides write the same rows into the same table (created by the store's own
schema, so the same primary key, index and foreign key), in one transaction,
starting from an empty table:

- SQLite: ``SqliteStore.bulk_add(entries)`` against ``sqlite3.executemany`` of
  the rows (foreign keys on for both, as the store runs them).
- PostgreSQL: ``PostgresStore.bulk_add(entries)`` against psycopg ``COPY ...
  FROM STDIN`` of the rows, on a throwaway cluster with fsync on.

The baseline is handed ready-made row tuples; the store is handed model values
and pays for turning them into rows, for skipping stored keys and for its
audit entry. Run alone: ``python bench/store_insert.py --rows 1000000``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pendulum

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

AT = pendulum.datetime(2026, 1, 31, 23, tz="UTC")
PATIENTS = 20_000


def _entries(rows: int) -> list[Any]:
    from carecore.model import Credential, RoleClass, ServiceFamily, TimeEntry

    dates = [pendulum.Date(2026, 1, 1 + d) for d in range(28)]
    template = TimeEntry(
        id="t",
        patient_id="p0",
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=5,
        family=ServiceFamily.CCM,
        activity="care coordination call",
        service_date=dates[0],
        billing_practitioner_id="dr1",
    )
    # Copies of a checked template with valid ids, minutes and dates: building a
    # million through the validators would time the model, not the stores.
    names = [a.name for a in template.__attrs_attrs__]
    out = []
    for i in range(rows):
        entry = object.__new__(TimeEntry)
        for name in names:
            object.__setattr__(entry, name, getattr(template, name))
        object.__setattr__(entry, "id", f"te-{i:07d}")
        object.__setattr__(entry, "patient_id", f"p{i % PATIENTS}")
        object.__setattr__(entry, "minutes", 1 + i % 40)
        object.__setattr__(entry, "service_date", dates[i % 28])
        out.append(entry)
    return out


def _patients() -> list[Any]:
    from carecore.model import AdministrativeSex, Patient

    return [
        Patient(
            id=f"p{i}",
            given_name="Pat",
            family_name=f"Doe{i}",
            birth_date=pendulum.Date(1950, 1, 1),
            sex=AdministrativeSex.UNKNOWN,
            time_zone="America/Chicago",
        )
        for i in range(PATIENTS)
    ]


def _timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@contextlib.contextmanager
def _fresh_sqlite(folder: Path, name: str) -> Iterator[tuple[Any, str]]:
    from carecore.storage import open_store

    path = folder / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    store = open_store(url)
    store.initialize()
    store.bulk_add(_patients(), actor="bench", reason="patients", at=AT)
    try:
        yield store, str(path)
    finally:
        store.close()


def bench_sqlite(entries: list[Any], folder: Path) -> dict[str, float]:
    """SqliteStore.bulk_add against sqlite3.executemany of the same rows."""
    from carecore.storage import kind_for

    kind = kind_for(type(entries[0]))
    rows = [kind.to_row(e) for e in entries]
    columns = ", ".join(f'"{c}"' for c in kind.column_names)
    marks = ", ".join("?" for _ in kind.column_names)
    sql = f"INSERT INTO time_entries ({columns}) VALUES ({marks})"  # noqa: S608 - fixed names

    with _fresh_sqlite(folder, "raw") as (store, path):
        store.close()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")

        def raw() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")

        baseline = _timed(raw)
        assert conn.execute("SELECT count(*) FROM time_entries").fetchone()[0] == len(rows)
        conn.close()
    with _fresh_sqlite(folder, "store") as (store, _path):
        candidate = _timed(lambda: store.bulk_add(entries, actor="bench", reason="bench", at=AT))
        assert store.check().counts["time_entries"] == len(rows)
    return {
        "rows": len(rows),
        "baseline_s": baseline,
        "candidate_s": candidate,
        "ratio": candidate / baseline,
    }


def bench_postgres(entries: list[Any]) -> dict[str, float] | None:
    """PostgresStore.bulk_add against psycopg COPY of the same rows (None without the plugin)."""
    try:
        import psycopg
        from carecore_postgres.testing import fresh_database, throwaway_cluster
    except ImportError:
        return None
    from carecore.storage import kind_for, open_store

    kind = kind_for(type(entries[0]))
    rows = [kind.to_row(e) for e in entries]
    columns = ", ".join(f'"{c}"' for c in kind.column_names)
    with throwaway_cluster(durable=True) as server:
        with fresh_database(server) as url:
            store = open_store(url)
            store.initialize()
            store.bulk_add(_patients(), actor="bench", reason="patients", at=AT)
            store.close()
            with psycopg.connect(url) as conn:

                def raw() -> None:
                    with (
                        conn.cursor() as cur,
                        cur.copy(f"COPY time_entries ({columns}) FROM STDIN") as copy,
                    ):
                        for row in rows:
                            copy.write_row(row)
                    conn.commit()

                baseline = _timed(raw)
        with fresh_database(server) as url:
            store = open_store(url)
            store.initialize()
            store.bulk_add(_patients(), actor="bench", reason="patients", at=AT)
            candidate = _timed(
                lambda: store.bulk_add(entries, actor="bench", reason="bench", at=AT)
            )
            assert store.check().counts["time_entries"] == len(rows)
            store.close()
    return {
        "rows": len(rows),
        "baseline_s": baseline,
        "candidate_s": candidate,
        "ratio": candidate / baseline,
    }


def bench_store_inserts(rows: int, folder: Path) -> dict[str, dict[str, float]]:
    """Both store benchmarks on the same generated entries."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = _entries(rows)
    results = {"store_insert_sqlite_vs_executemany": bench_sqlite(entries, folder)}
    pg = bench_postgres(entries)
    if pg is not None:
        results["store_insert_postgres_vs_copy"] = pg
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    for name, r in bench_store_inserts(args.rows, args.work).items():
        print(
            f"{name:<40} ratio {r['ratio']:5.2f}  (store {r['candidate_s']:.2f} s, "
            f"raw driver {r['baseline_s']:.2f} s, {r['rows']:,} rows)"
        )


if __name__ == "__main__":
    main()
