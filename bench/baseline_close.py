"""Baseline for the billing-close benchmark: load events.csv into in-memory SQLite, sum minutes per patient.

Usage: python bench/baseline_close.py EVENTS_CSV
"""

from __future__ import annotations

import csv
import sqlite3
import sys
from pathlib import Path


def run(path: str) -> int:
    db = sqlite3.connect(":memory:")
    db.execute(
        "create table events (patient_id text, date text, type text, minutes integer, role text, family text)"
    )
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        cols = [
            header.index(c) for c in ("patient_id", "date", "type", "minutes", "role", "family")
        ]
        db.executemany(
            "insert into events values (?, ?, ?, ?, ?, ?)",
            (
                (
                    r[cols[0]],
                    r[cols[1]],
                    r[cols[2]],
                    int(r[cols[3]]) if r[cols[3]] else None,
                    r[cols[4]],
                    r[cols[5]],
                )
                for r in reader
            ),
        )
    rows = db.execute("select patient_id, sum(minutes) from events group by patient_id").fetchall()
    return len(rows)


if __name__ == "__main__":
    print(run(sys.argv[1]), "patients")
