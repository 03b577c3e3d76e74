"""Care-plan revisions retry a conflict with backoff and jitter; the attempts are configurable."""

from __future__ import annotations

import random

import attrs
import pendulum
import pytest

from carecore import errors
from carecore.careplans import RevisionRetry
from carecore.model import AdministrativeSex, CarePlan, Patient, ServiceFamily
from carecore.service import CareProgram

NO_WAIT = RevisionRetry(attempts=3, base_seconds=0, max_seconds=0)


@pytest.fixture
def program(tmp_path):
    program = CareProgram.open(f"sqlite:///{tmp_path / 'plans.db'}", actor="test")
    with program.transaction("seed") as tx:
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
    yield program
    program.close()


class Collides:
    """A change that finds the plan revised by someone else its first *times* calls."""

    def __init__(self, times):
        self.times = times
        self.calls = 0

    def __call__(self, plan):
        self.calls += 1
        if self.calls <= self.times:
            raise errors.ConflictError("stale version", field="version", value=plan.version)
        return attrs.evolve(plan, title=f"revised after {self.times} collisions")


def test_a_revision_retries_until_it_lands(program):
    change = Collides(2)
    plan = program.revise_care_plan("cp1", change, reason="r", retry=NO_WAIT)
    assert (change.calls, plan.version, plan.title) == (3, 2, "revised after 2 collisions")


@pytest.mark.parametrize("attempts", [1, 4])
def test_the_attempts_are_configurable_per_call(program, attempts):
    change = Collides(100)
    with pytest.raises(errors.ConflictError) as info:
        program.revise_care_plan("cp1", change, reason="r", attempts=attempts, retry=NO_WAIT)
    assert change.calls == attempts
    assert f"after {attempts} attempts" in str(info.value)
    assert info.value.field == "plan_id"


def test_the_attempts_are_configurable_per_program(program):
    program.revision_retry = RevisionRetry(attempts=2, base_seconds=0, max_seconds=0)
    change = Collides(100)
    with pytest.raises(errors.ConflictError):
        program.revise_care_plan("cp1", change, reason="r")
    assert change.calls == 2


def test_a_bad_retry_is_refused_by_name(program):
    with pytest.raises(errors.InvalidValue) as info:
        program.revise_care_plan("cp1", lambda p: p, reason="r", retry=5)
    assert info.value.field == "retry"
    with pytest.raises(errors.InvalidValue) as info:
        program.revise_care_plan("cp1", lambda p: p, reason="r", attempts=0)
    assert info.value.field == "attempts"


def test_waits_grow_and_are_jittered():
    retry = RevisionRetry()
    rng = random.Random(21)
    ceilings = [retry.ceiling(n) for n in range(1, retry.attempts)]
    assert ceilings == sorted(ceilings)
    assert ceilings[0] < ceilings[-1] <= retry.max_seconds
    waits = [retry.delay(3, rng) for _ in range(200)]
    assert all(0 <= w <= retry.ceiling(3) for w in waits)
    assert len(set(waits)) == 200  # random, so rivals do not retry in step
