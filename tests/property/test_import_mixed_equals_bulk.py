"""Two paths that must agree: a mixed import (one transaction per patient) stores what per-kind bulk loads store."""

from __future__ import annotations

import random

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.model import Condition, Patient, Practitioner
from carecore.service import CareProgram
from carecore.testing import strategies as cs


@st.composite
def records(draw):
    people = draw(st.lists(cs.patients(), max_size=4, unique_by=lambda p: p.id))
    conditions = []
    for n, person in enumerate(people):
        for c in draw(st.lists(cs.conditions(), max_size=3)):
            conditions.append(
                attrs.evolve(c, id=f"{person.id}-c{n}-{len(conditions)}", patient_id=person.id)
            )
    staff = draw(st.lists(cs.practitioners(), max_size=2, unique_by=lambda p: p.id))
    return people, conditions, staff


def stored(program):
    with program.transaction("read") as tx:
        return (
            sorted(tx.all(Patient), key=lambda p: p.id),
            sorted(tx.all(Condition), key=lambda c: c.id),
            sorted(tx.all(Practitioner), key=lambda p: p.id),
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=records(), seed=st.integers(0, 2**16))
def test_a_mixed_import_in_any_order_stores_what_bulk_loads_store(data, seed):
    people, conditions, staff = data
    bulk = CareProgram.open("memory://")
    for kind in (people, staff, conditions):
        if kind:
            bulk.import_records(kind, reason="bulk")
    mixed = CareProgram.open("memory://")
    shuffled = [*people, *conditions, *staff]
    random.Random(seed).shuffle(shuffled)
    first = mixed.import_records(shuffled, reason="mixed")
    assert stored(mixed) == stored(bulk)
    assert first.added == len(shuffled)
    again = mixed.import_records(shuffled, reason="mixed")
    assert (again.added, again.skipped) == (0, len(shuffled))
