"""Generate a synthetic month for the billing-close benchmark: ``patients.csv`` and
``events.csv``, the two files ``carecore billing close`` reads (see the how-to
"Close a billing month").

Usage: python bench/gen_close.py OUT_DIR --patients N [--seed S] [--month YYYY-MM]
Rows are written grouped by patient, as EHR reports usually are.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

CONDITIONS = ["E11.65", "I10", "I50.22", "J44.9", "N18.4", "E78.5", "F33.1", "M17.11"]


def generate(out: Path, patients: int, seed: int, month: str) -> int:
    rng = random.Random(seed)
    year, mon = (int(x) for x in month.split("-"))
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    with (
        (out / "patients.csv").open("w", newline="") as p_handle,
        (out / "events.csv").open("w", newline="") as e_handle,
    ):
        pw, ew = csv.writer(p_handle), csv.writer(e_handle)
        pw.writerow(
            [
                "patient_id",
                "practitioner",
                "credential",
                "conditions",
                "consent",
                "care_plan",
                "established",
                "last_visit",
            ]
        )
        ew.writerow(
            [
                "patient_id",
                "date",
                "type",
                "minutes",
                "role",
                "credential",
                "family",
                "interactive",
                "days_with_data",
                "period_start",
                "period_end",
                "device",
            ]
        )
        for i in range(patients):
            pid = f"p-{i:07d}"
            doctor = f"dr{i % 400:03d}"
            conds = ";".join(rng.sample(CONDITIONS, rng.choice((1, 2, 2, 3))))
            families = (
                ["CCM"]
                if rng.random() < 0.8
                else rng.choice((["PCM"], ["CCM", "RPM"], ["BHI"], ["RPM"]))
            )
            consent = ";".join(
                f"{f}={year - 1}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                for f in families
                if rng.random() < 0.95
            )
            care_plan = ";".join(f"{f}={year - 1}-06-01" for f in families)
            pw.writerow([pid, doctor, "MD", conds, consent, care_plan, "true", f"{year - 1}-09-15"])
            for _ in range(rng.randint(3, 7)):
                family = rng.choice(families)
                role, credential = (
                    ("physician", "MD") if rng.random() < 0.1 else ("clinical_staff", "RN")
                )
                ew.writerow(
                    [
                        pid,
                        f"{year}-{mon:02d}-{rng.randint(1, 28):02d}",
                        "time_entry",
                        rng.randint(3, 25),
                        role,
                        credential,
                        family,
                        "true" if rng.random() < 0.5 else "false",
                        "",
                        "",
                        "",
                        "",
                    ]
                )
                rows += 1
            if "RPM" in families:
                ew.writerow(
                    [
                        pid,
                        f"{year}-{mon:02d}-28",
                        "device_readings",
                        "",
                        "",
                        "",
                        "RPM",
                        "",
                        rng.randint(5, 28),
                        f"{year}-{mon:02d}-01",
                        f"{year}-{mon:02d}-28",
                        "bp_cuff",
                    ]
                )
                rows += 1
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--month", default="2026-03")
    args = parser.parse_args()
    rows = generate(args.out, args.patients, args.seed, args.month)
    print(f"{args.patients} patients, {rows} event rows in {args.out}")


if __name__ == "__main__":
    main()
