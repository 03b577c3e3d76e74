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
  them (one such plan is built per shape of conditions, families and day,
  and each patient's is made from it with the patient's ids, every part
  validated again; the first of each shape is checked equal to one built in
  full);
- the ``last_visit`` as an office E/M visit with the practitioner;
- each time entry as itself (clinical staff: an RN performer; physician:
  the practitioner), and each RPM reading row as one reading day per day
  with data from the period's first day.

On PostgreSQL the load may run in several processes (``load_store(...,
workers=2)``), each loading every kind for its share of the patients.
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
import concurrent.futures
import csv
import functools
import gc
import multiprocessing
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
    from collections.abc import Callable, Iterator

HERE = Path(__file__).parent
MONTH = "2026-03"
ZONE = "America/Chicago"
#: Rows per bulk load (each load is one transaction and one audit entry).
CHUNK = 50_000


@functools.cache
def _date(text: str) -> Any:
    # Cached: a month's rows share a few hundred dates (dates are immutable).
    import pendulum

    return pendulum.Date.fromisoformat(text)


@functools.cache
def _day_after(text: str, days: int) -> Any:
    return _date(text).add(days=days)


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


#: Who a plan shape's template is drafted for and agreed by (see _PlanShapes).
_SOMEONE, _SOMEDOCTOR = "bench-template-patient", "bench-template-doctor"


class _PlanShapes:
    """Each patient's agreed plan, made from one agreed template per plan shape.

    A shape is the conditions, families and day a plan is drafted from. Its
    template is :func:`_agreed_plan` for stand-ins; a patient's plan is the
    template with the patient's and the practitioner's ids put in where the
    stand-ins' are (the plan's id and patient, the parts' ids and references,
    task owners, the responsible practitioner), each changed part and the
    plan made again through their classes, so every validator runs. The
    first patient of each shape gets a plan built in full as well, and the
    two must be equal (else that shape's plans are all built in full).
    """

    def __init__(self, conditions: Callable[[str, str], list[Any]]) -> None:
        self._conditions = conditions
        self._recipes: dict[tuple[Any, ...], Any] = {}

    def plan(self, pid: str, codes: str, families: list[Any], on: Any, doctor: str) -> Any:
        from carecore.careplans import completeness

        key = (codes, tuple(families), on)
        recipe = self._recipes.get(key, _UNSEEN)
        if recipe is _UNSEEN:
            full = _agreed_plan(pid, self._conditions(pid, codes), families, on, doctor)
            if not completeness(full).complete:
                msg = f"bench plan of {pid} is not CMS-complete"
                raise RuntimeError(msg)
            template = _agreed_plan(
                _SOMEONE, self._conditions(_SOMEONE, codes), families, on, _SOMEDOCTOR
            )
            recipe = _recipe(template)
            if recipe is not None and _from_recipe(recipe, pid, doctor) != full:
                recipe = None
            self._recipes[key] = recipe
            return full
        if recipe is None:
            return _agreed_plan(pid, self._conditions(pid, codes), families, on, doctor)
        return _from_recipe(recipe, pid, doctor)


_UNSEEN = object()


def _mentions(value: object) -> bool:
    text = repr(value)
    return _SOMEONE in text or _SOMEDOCTOR in text


def _recipe(template: Any) -> Any:
    """What of *template* names a stand-in: (template, [(field, how, parts)]), or None if too deep."""
    import attrs

    steps: list[tuple[str, str, Any]] = []
    for field in attrs.fields(type(template)):
        value = getattr(template, field.name)
        if not _mentions(value):
            continue
        if isinstance(value, str):
            steps.append((field.name, "text", None))
        elif isinstance(value, tuple) and all(isinstance(v, str) for v in value):
            steps.append((field.name, "texts", None))
        elif isinstance(value, tuple) and all(attrs.has(type(v)) for v in value):
            parts = [(part, _changed_fields(part)) for part in value]
            if any(changed is None for _part, changed in parts):
                return None
            steps.append((field.name, "parts", tuple(parts)))
        else:
            return None
    return template, tuple(steps)


def _changed_fields(part: Any) -> tuple[tuple[str, bool], ...] | None:
    """The fields of a plan's *part* naming a stand-in (and whether each is a tuple), or None."""
    import attrs

    changed = []
    for inner in attrs.fields(type(part)):
        item = getattr(part, inner.name)
        if not _mentions(item):
            continue
        if isinstance(item, str):
            changed.append((inner.name, False))
        elif isinstance(item, tuple) and all(isinstance(v, str) for v in item):
            changed.append((inner.name, True))
        else:
            return None
    return tuple(changed)


def _from_recipe(recipe: Any, pid: str, doctor: str) -> Any:
    import attrs

    template, steps = recipe

    def swap(text: str) -> str:
        return text.replace(_SOMEONE, pid).replace(_SOMEDOCTOR, doctor)

    changes: dict[str, Any] = {}
    for name, how, parts in steps:
        value = getattr(template, name)
        if how == "text":
            changes[name] = swap(value)
        elif how == "texts":
            changes[name] = tuple(swap(v) for v in value)
        else:
            changes[name] = tuple(
                attrs.evolve(
                    part,
                    **{
                        f: tuple(swap(v) for v in getattr(part, f))
                        if many
                        else swap(getattr(part, f))
                        for f, many in changed
                    },
                )
                if changed
                else part
                for part, changed in parts
            )
    return attrs.evolve(template, **changes)


def _chunks(items: Iterator[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load_store(data: Path, db: Path | str, *, workers: int = 1) -> dict[str, int]:
    """Load the CSV pair in *data* as records into a fresh SQLite store at *db*; counts per kind.

    *db* may also be a store URL (an empty PostgreSQL database, whose bulk
    loads are COPYs). With *workers* above 1 (a database that takes
    concurrent writers, not SQLite), that many processes each load every
    kind for their share of the patients (every *workers*-th patient), each
    through its own program and bulk loads; the practitioners are loaded
    first, once.
    """
    import pendulum

    from carecore.clock import FixedClock
    from carecore.model import Credential, Practitioner
    from carecore.service import CareProgram

    url = db if isinstance(db, str) else f"sqlite:///{db}"
    if not isinstance(db, str):
        if workers > 1:
            msg = "a SQLite store takes one writer at a time: load it with workers=1"
            raise ValueError(msg)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    with (data / "patients.csv").open(newline="", encoding="utf-8") as handle:
        doctors = sorted({r["practitioner"] for r in csv.DictReader(handle)})
    clock = FixedClock(pendulum.datetime(2026, 4, 1, 12, tz="UTC"))
    with CareProgram.open(url, actor="bench loader", clock=clock) as program:
        added = program.import_records(
            [Practitioner(id=d, name=f"Dr. {d}", credential=Credential.MD) for d in doctors],
            reason="bench: practitioners",
        ).added
    counts: collections.Counter[str] = collections.Counter(practitioners=added)
    if workers <= 1:
        counts.update(_load_share(data, url, 0, 1))
        return dict(counts)
    # Forked, not spawned: the workers share the modules imported already.
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        shares = [pool.submit(_load_share, data, url, n, workers) for n in range(workers)]
        for share in shares:
            counts.update(share.result())
    return dict(counts)


def _load_share(data: Path, url: str, share: int, shares: int) -> dict[str, int]:  # noqa: C901, PLR0915 - one load per kind
    """Load every kind for every *shares*-th patient from the *share*-th on, in this process."""
    import pendulum

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
        RoleClass,
        ServiceFamily,
        TimeEntry,
        VisitKind,
    )
    from carecore.service import CareProgram

    counts: collections.Counter[str] = collections.Counter()
    rows = [r for n, r in enumerate(_patient_rows(data)) if n % shares == share]
    family_of = {f.value: f for f in ServiceFamily}
    role_of = {r.value: r for r in RoleClass}
    credential_of = {c.value: c for c in Credential}
    clock = FixedClock(pendulum.datetime(2026, 4, 1, 12, tz="UTC"))
    # The load's records hold no reference cycles: the collector would only walk the
    # million rows kept in memory again and again. It is back on (and run) afterwards.
    gc.disable()
    try:
        with CareProgram.open(url, actor="bench loader", clock=clock) as program:

            def load(records: Iterator[Any], kind: str) -> None:
                for batch in _chunks(records):
                    counts[kind] += program.import_records(batch, reason=f"bench: {kind}").added

            birth = pendulum.Date(1950, 1, 1)
            load(
                (
                    Patient(
                        id=r["patient_id"],
                        given_name="Pat",
                        family_name=r["patient_id"],
                        birth_date=birth,
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

            def conditions(pid: str, codes: str) -> list[Condition]:
                return [
                    Condition(
                        id=f"{pid}-c{n}",
                        patient_id=pid,
                        coding=Coding.icd10cm(code),
                        chronic=True,
                        significant_risk=True,
                        behavioral=code.startswith("F"),
                    )
                    for n, code in enumerate(c for c in codes.split(";") if c)
                ]

            load(
                (c for r in rows for c in conditions(r["patient_id"], r["conditions"])),
                "conditions",
            )
            load(
                (
                    Consent(
                        id=f"{r['patient_id']}-consent-{family}",
                        patient_id=r["patient_id"],
                        family=family_of[family],
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
                        family=family_of[family],
                        billing_practitioner_id=r["practitioner"],
                        on=_date(day),
                    )
                    for r in rows
                    for family, day in _pairs(r["consent"])
                ),
                "enrollments",
            )

            def plans() -> Iterator[Any]:
                shapes = _PlanShapes(conditions)
                for r in rows:
                    pairs = _pairs(r["care_plan"])
                    if not pairs:
                        continue
                    yield shapes.plan(
                        r["patient_id"],
                        r["conditions"],
                        [family_of[f] for f, _day in pairs],
                        min(_date(day) for _family, day in pairs),
                        r["practitioner"],
                    )

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
            #: This share's reading rows, kept from the one pass over the events for time.
            reading_rows: list[dict[str, str]] = []

            def entries() -> Iterator[TimeEntry]:
                # Ids number every event row of the file, so each share names its own.
                for n, e in enumerate(_event_rows(data)):
                    doctor = doctor_of.get(e["patient_id"])
                    if doctor is None:
                        continue
                    if e["type"] != "time_entry":
                        if e["type"] == "device_readings":
                            reading_rows.append(e)
                        continue
                    role = role_of[e["role"]]
                    yield TimeEntry(
                        id=f"te-{n:08d}",
                        patient_id=e["patient_id"],
                        performer_id=doctor if role is RoleClass.PHYSICIAN else f"rn-{doctor}",
                        credential=credential_of[e["credential"]],
                        role_class=role,
                        minutes=int(e["minutes"]),
                        family=family_of[e["family"]],
                        activity="care management",
                        service_date=_date(e["date"]),
                        billing_practitioner_id=doctor,
                        interactive=e["interactive"] == "true",
                    )

            load(entries(), "time_entries")

            def readings() -> Iterator[DeviceReadingDay]:
                for e in reading_rows:
                    for n in range(int(e["days_with_data"])):
                        yield DeviceReadingDay(
                            patient_id=e["patient_id"],
                            family=family_of[e["family"]],
                            device=e["device"],
                            on=_day_after(e["period_start"], n),
                        )

            load(readings(), "device_readings")
    finally:
        gc.enable()
        gc.collect()
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
