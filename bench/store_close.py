"""Month close from a SQLite store (``billing close --db``) against the CSV close of the same month.

The synthetic month of ``gen_close.py`` (its patients.csv / events.csv pair)
is loaded as records into a SQLite store through the store's bulk API, one
kind per load (:meth:`carecore.service.CareProgram.import_records`):

- each patient, with the billing practitioner (400 MDs) as its care team's
  billing practitioner;
- each listed condition as a chronic, significant-risk ICD-10-CM condition
  (chapter F behavioral, as the CSV close reads them);
- each family's consent (``CCM=2025-03-14``) as a verbal consent with cost
  sharing explained, and an enrollment started that day;
- each family's care plan as one CMS-complete plan per patient covering its
  families, drafted from its conditions and agreed (activated) on the
  ``care_plan`` day, as the demo and ``billing evaluate --via store`` build
  them;
- the ``last_visit`` as an office E/M visit with the practitioner;
- each time entry as itself (clinical staff: an RN performer; physician:
  the practitioner), and each RPM reading row as one reading day per day
  with data from the period's first day.

Loading is not timed. Then, in one run, the CSV close (as the CLI chooses
its engine and workers) and ``carecore billing close --month 2026-03 --db
sqlite:///...`` each run *runs* times one after the other; the ratio is of
their medians. Each store close runs on a fresh copy of the loaded store, so
each is the month's first close (it writes every claim line and denial; a
close run again over unchanged records rewrites nothing). Peak memory is the PSS of the process and its workers,
sampled as the CSV close benchmark does. Both closes write their files, and
the bench counts the claim lines per code in each claims.csv: the two should
bill the same codes (the store reads the same month from records).

Run alone: ``python bench/store_close.py --patients 100000 --runs 3``.
"""

from __future__ import annotations

import argparse
import collections
import csv
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _measure import run_measured_cpu

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).parent
MONTH = "2026-03"
ZONE = "America/Chicago"
#: Rows per bulk load (each load is one transaction and one audit entry).
CHUNK = 50_000


def _date(text: str) -> Any:
    import pendulum

    return pendulum.Date.fromisoformat(text)


def _pairs(text: str) -> list[tuple[str, str]]:
    return [tuple(part.split("=", 1)) for part in text.split(";") if part]  # type: ignore[misc]


def _patient_rows(data: Path) -> Iterator[dict[str, str]]:
    with (data / "patients.csv").open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _event_rows(data: Path) -> Iterator[dict[str, str]]:
    with (data / "events.csv").open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _agreed_plan(pid: str, conditions: list[Any], families: list[Any], on: Any, doctor: str) -> Any:
    """A plan drafted from the patient's conditions and agreed on *on*, as the demo builds them.

    The demo's completion step writes the CMS elements the draft left open
    (assessments, a measurable goal, a symptom plan, interventions, review)
    and activates the plan (version 2).
    """
    from carecore._demo import _complete  # the demo's agreed plans
    from carecore.careplans import draft_plan

    draft = draft_plan(
        f"{pid}-plan", pid, conditions=conditions, on=on, responsible_id=doctor, families=families
    )
    return _complete(draft, on, doctor)


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load_store(data: Path, db: Path | str) -> dict[str, int]:  # noqa: C901 - one loop per kind
    """Load the CSV pair in *data* as records into a fresh SQLite store at *db*; counts per kind.

    *db* may also be a store URL (an empty PostgreSQL database, whose bulk
    loads are COPYs).
    """
    import pendulum

    from carecore.careplans import completeness
    from carecore.clock import FixedClock
    from carecore.model import (
        AdministrativeSex,
        CareTeam,
        CareTeamMember,
        CareTeamRole,
        Coding,
        Condition,
        Consent,
        ConsentMethod,
        Credential,
        DeviceReadingDay,
        Enrollment,
        FaceToFaceVisit,
        MdmLevel,
        Patient,
        Practitioner,
        RoleClass,
        ServiceFamily,
        TimeEntry,
        VisitKind,
    )
    from carecore.service import CareProgram

    url = db if isinstance(db, str) else f"sqlite:///{db}"
    if not isinstance(db, str):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    counts: collections.Counter[str] = collections.Counter()
    rows = list(_patient_rows(data))
    doctors = sorted({r["practitioner"] for r in rows})
    clock = FixedClock(pendulum.datetime(2026, 4, 1, 12, tz="UTC"))
    with CareProgram.open(url, actor="bench loader", clock=clock) as program:

        def load(records: Iterator[Any], kind: str) -> None:
            for batch in _chunks(records):
                counts[kind] += program.import_records(batch, reason=f"bench: {kind}").added

        load(
            (Practitioner(id=d, name=f"Dr. {d}", credential=Credential.MD) for d in doctors),
            "practitioners",
        )
        load(
            (
                Patient(
                    id=r["patient_id"],
                    given_name="Pat",
                    family_name=r["patient_id"],
                    birth_date=pendulum.Date(1950, 1, 1),
                    sex=AdministrativeSex.UNKNOWN,
                    time_zone=ZONE,
                )
                for r in rows
            ),
            "patients",
        )
        load(
            (
                CareTeam(
                    id=f"{r['patient_id']}-team",
                    patient_id=r["patient_id"],
                    members=[
                        CareTeamMember(
                            practitioner_id=r["practitioner"],
                            role=CareTeamRole.BILLING_PRACTITIONER,
                        )
                    ],
                )
                for r in rows
            ),
            "care_teams",
        )

        def conditions(r: dict[str, str]) -> list[Condition]:
            return [
                Condition(
                    id=f"{r['patient_id']}-c{n}",
                    patient_id=r["patient_id"],
                    coding=Coding.icd10cm(code),
                    chronic=True,
                    significant_risk=True,
                    behavioral=code.startswith("F"),
                )
                for n, code in enumerate(c for c in r["conditions"].split(";") if c)
            ]

        load((c for r in rows for c in conditions(r)), "conditions")
        load(
            (
                Consent(
                    id=f"{r['patient_id']}-consent-{family}",
                    patient_id=r["patient_id"],
                    family=ServiceFamily(family),
                    method=ConsentMethod.VERBAL,
                    obtained_on=_date(day),
                    obtained_by=r["practitioner"],
                    billing_practitioner_id=r["practitioner"],
                    cost_sharing_explained=True,
                )
                for r in rows
                for family, day in _pairs(r["consent"])
            ),
            "consents",
        )
        load(
            (
                Enrollment.start(
                    id=f"{r['patient_id']}-{family}",
                    patient_id=r["patient_id"],
                    program_id=family.lower(),
                    family=ServiceFamily(family),
                    billing_practitioner_id=r["practitioner"],
                    on=_date(day),
                )
                for r in rows
                for family, day in _pairs(r["consent"])
            ),
            "enrollments",
        )

        def plans() -> Iterator[Any]:
            for r in rows:
                days = {_date(day) for _family, day in _pairs(r["care_plan"])}
                if not days:
                    continue
                families = [ServiceFamily(f) for f, _day in _pairs(r["care_plan"])]
                plan = _agreed_plan(
                    r["patient_id"], conditions(r), families, min(days), r["practitioner"]
                )
                if not completeness(plan).complete:
                    msg = f"bench plan of {r['patient_id']} is not CMS-complete"
                    raise RuntimeError(msg)
                yield plan

        load(plans(), "care_plans")
        load(
            (
                FaceToFaceVisit(
                    id=f"{r['patient_id']}-last-visit",
                    patient_id=r["patient_id"],
                    on=_date(r["last_visit"]),
                    kind=VisitKind.OFFICE_EM,
                    mdm=MdmLevel.MODERATE,
                    billing_practitioner_id=r["practitioner"],
                    em_code="99214",
                )
                for r in rows
                if r["last_visit"]
            ),
            "visits",
        )
        doctor_of = {r["patient_id"]: r["practitioner"] for r in rows}
        rows.clear()

        def entries() -> Iterator[TimeEntry]:
            for n, e in enumerate(_event_rows(data)):
                if e["type"] != "time_entry":
                    continue
                role = RoleClass(e["role"])
                doctor = doctor_of[e["patient_id"]]
                yield TimeEntry(
                    id=f"te-{n:08d}",
                    patient_id=e["patient_id"],
                    performer_id=doctor if role is RoleClass.PHYSICIAN else f"rn-{doctor}",
                    credential=Credential(e["credential"]),
                    role_class=role,
                    minutes=int(e["minutes"]),
                    family=ServiceFamily(e["family"]),
                    activity="care management",
                    service_date=_date(e["date"]),
                    billing_practitioner_id=doctor,
                    interactive=e["interactive"] == "true",
                )

        load(entries(), "time_entries")

        def readings() -> Iterator[DeviceReadingDay]:
            for e in _event_rows(data):
                if e["type"] != "device_readings":
                    continue
                start = _date(e["period_start"])
                for n in range(int(e["days_with_data"])):
                    yield DeviceReadingDay(
                        patient_id=e["patient_id"],
                        family=ServiceFamily(e["family"]),
                        device=e["device"],
                        on=start.add(days=n),
                    )

        load(readings(), "device_readings")
    return dict(counts)


def lines_per_code(claims_csv: Path) -> dict[str, int]:
    """Claim lines per code in a close's claims.csv."""
    with claims_csv.open(newline="", encoding="utf-8") as handle:
        return dict(
            sorted(collections.Counter(row["code"] for row in csv.DictReader(handle)).items())
        )


def bench_store_close(patients: int, work: Path, runs: int = 3) -> dict[str, Any]:
    """The store close of *patients* against the CSV close of the same month (medians of *runs*)."""
    data = work / f"close-{patients}"
    if not (data / "events.csv").exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen_close.py"), str(data), "--patients", str(patients)],
            check=True,
        )
    from carecore.storage.sql import SCHEMA_VERSION

    db = work / f"store-close-{patients}.db"
    # The store is loaded again when the data or carecore's schema changed since.
    marker = work / f"store-close-{patients}.schema-{SCHEMA_VERSION}.loaded"
    if not marker.exists() or marker.stat().st_mtime < (data / "events.csv").stat().st_mtime:
        started = time.perf_counter()
        counts = load_store(data, db)
        marker.write_text(repr(counts))
        print(f"loaded {counts} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    close = [sys.executable, "-m", "carecore.cli", "billing", "close", "--month", MONTH]
    csv_out, store_out = data / "out-csv", data / "out-store"
    csv_command = [
        *close,
        "--patients",
        str(data / "patients.csv"),
        "--events",
        str(data / "events.csv"),
        "--out",
        str(csv_out),
        "--no-progress",
    ]
    # Each store close runs on a fresh copy of the loaded store (copied untimed), so every
    # run is a month's first close: it writes every claim line and denial.
    scratch = work / f"store-close-{patients}.run.db"
    store_command = [
        *close,
        "--db",
        f"sqlite:///{scratch}",
        "--out",
        str(store_out),
        "--no-progress",
    ]
    csv_runs, store_runs = [], []
    for _ in range(max(runs, 1)):
        csv_runs.append(run_measured_cpu(csv_command, ok=frozenset({0})))
        for suffix in ("-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(db, scratch)
        store_runs.append(run_measured_cpu(store_command, ok=frozenset({0})))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{scratch}{suffix}").unlink(missing_ok=True)
    csv_s = statistics.median(s for s, _, _ in csv_runs)
    store_s = statistics.median(s for s, _, _ in store_runs)
    csv_cpu = statistics.median(c for _, _, c in csv_runs)
    store_cpu = statistics.median(c for _, _, c in store_runs)
    csv_codes = lines_per_code(csv_out / "claims.csv")
    store_codes = lines_per_code(store_out / "claims.csv")
    return {
        "patients": patients,
        "runs": len(store_runs),
        "baseline_s": csv_s,
        "baseline_runs_s": [s for s, _, _ in csv_runs],
        "baseline_peak_mb": max(mb for _, mb, _ in csv_runs),
        "baseline_cpu_s": csv_cpu,
        "candidate_s": store_s,
        "candidate_runs_s": [s for s, _, _ in store_runs],
        "candidate_peak_mb": max(mb for _, mb, _ in store_runs),
        "candidate_cpu_s": store_cpu,
        "ratio": store_s / csv_s,
        "cpu_ratio": store_cpu / csv_cpu,
        "csv_lines_per_code": csv_codes,
        "store_lines_per_code": store_codes,
        "same_lines_per_code": csv_codes == store_codes,
    }


def describe(r: dict[str, Any]) -> str:
    """One line of figures, and the lines per code (and whether the closes agree)."""
    text = (
        f"(median of {r['runs']}: store {r['candidate_s']:.1f} s, CPU {r['candidate_cpu_s']:.1f} s,"
        f" peak {r['candidate_peak_mb']:.0f} MB;"
        f" CSV {r['baseline_s']:.1f} s, CPU {r['baseline_cpu_s']:.1f} s,"
        f" peak {r['baseline_peak_mb']:.0f} MB;"
        f" CPU ratio {r['cpu_ratio']:.2f}; {r['patients']:,} patients)"
    )
    codes = sorted(set(r["csv_lines_per_code"]) | set(r["store_lines_per_code"]))
    per_code = ", ".join(
        f"{c} {r['store_lines_per_code'].get(c, 0)}"
        + (
            ""
            if r["store_lines_per_code"].get(c, 0) == r["csv_lines_per_code"].get(c, 0)
            else f" (CSV {r['csv_lines_per_code'].get(c, 0)})"
        )
        for c in codes
    )
    same = "same lines per code" if r["same_lines_per_code"] else "lines per code DIFFER"
    return f"{text}\n{'':<36} {same}: {per_code}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "carecore-bench")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    r = bench_store_close(args.patients, args.work, args.runs)
    print(f"{'billing_close_store_vs_csv':<36} ratio {r['ratio']:6.2f}  {describe(r)}")


if __name__ == "__main__":
    main()
