"""Care-plan revisions on PostgreSQL under contention: writers back off and none gives up."""

from __future__ import annotations

import threading

import attrs
import pendulum

from carecore import errors
from carecore.model import AdministrativeSex, CarePlan, Patient, ServiceFamily
from carecore.service import CareProgram

WRITERS, REVISIONS = 4, 20


def _seed(url):
    with CareProgram.open(url, actor="seed") as program, program.transaction("seed") as tx:
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
                id="cp1",
                patient_id="p1",
                title="Plan",
                families=frozenset({ServiceFamily.CCM}),
                created_on=pendulum.date(2026, 1, 5),
            )
        )


def test_four_writers_on_one_plan_all_land(postgres_url):
    """Before (5 attempts, no wait) a quarter of such calls gave up at 4 writers."""
    _seed(postgres_url)
    start = threading.Barrier(WRITERS)
    gave_up, failures = [], []

    def write(name):
        with CareProgram.open(postgres_url, actor=name) as program:
            start.wait()
            for n in range(REVISIONS):
                try:
                    program.revise_care_plan(
                        "cp1", lambda p, n=n: attrs.evolve(p, title=f"{name} {n}"), reason="r"
                    )
                except errors.ConflictError:
                    gave_up.append(name)
                except Exception as exc:  # noqa: BLE001 - the test counts every failure
                    failures.append(exc)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert gave_up == []
    with CareProgram.open(postgres_url, actor="check") as program, program.transaction("c") as tx:
        plan = tx.get(CarePlan, "cp1")
        assert plan.version == 1 + WRITERS * REVISIONS
        assert len(tx.history(CarePlan, "cp1")) == plan.version
