"""A batch write of 50 rows or more is a COPY: it stores what an INSERT stores, and refuses alike."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import AdministrativeSex, Patient
from carecore.service import CareProgram


def _patient(n: int) -> Patient:
    return Patient(
        id=f"p{n:03d}",
        given_name="Test",
        family_name=f"Patient {n}",
        birth_date=pendulum.Date(1950, 1, 1),
        sex=AdministrativeSex.UNKNOWN,
        time_zone="UTC",
    )


def test_a_copied_batch_stores_every_row_and_a_stored_key_refuses_the_whole_batch(postgres_url):
    with CareProgram.open(postgres_url, actor="test") as program:
        with program.transaction("batch") as tx:
            tx.add_many([_patient(n) for n in range(60)])
        with program.transaction("look") as tx:
            assert [p.id for p in tx.all(Patient)] == [f"p{n:03d}" for n in range(60)]
            assert tx.get(Patient, "p042") == _patient(42)
        with pytest.raises(errors.ConflictError), program.transaction("again") as tx:
            tx.add_many([_patient(n) for n in range(59, 120)])
        with program.transaction("look") as tx:
            assert len(tx.all(Patient)) == 60
