"""Records in on PostgreSQL: a mixed import is one transaction per patient, and the EHR-source contract holds."""

from __future__ import annotations

import pendulum
import pytest

from carecore.model import AdministrativeSex, Coding, Condition, Patient
from carecore.service import CareProgram, ImportRefusal
from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples


def patient(pid):
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )


def condition(cid, pid):
    return Condition(id=cid, patient_id=pid, coding=Coding.icd10cm("E11.9"))


def test_a_patient_that_cannot_be_stored_is_rolled_back_whole(postgres_url):
    with CareProgram.open(postgres_url, actor="test") as program:
        refused: list[ImportRefusal] = []
        records = [
            condition("c1", "p1"),
            patient("p1"),
            condition("c2\x00", "p1"),  # no store keeps a NUL
            patient("p2"),
            condition("c3", "p2"),
            condition("c9", "nobody"),
        ]
        result = program.import_records(records, reason="ehr", refused=refused)
        assert result.added == 2
        assert sorted(r.where for r in refused) == ["patient nobody", "patient p1"]
        with program.transaction("check") as tx:
            assert [p.id for p in tx.all(Patient)] == ["p2"]
            assert [c.id for c in tx.all(Condition)] == ["c3"]


def test_records_of_one_kind_are_refused_by_patient_and_the_others_stored(postgres_url):
    with CareProgram.open(postgres_url, actor="test") as program:
        program.import_records([patient("p1")], reason="ehr")
        refused: list[ImportRefusal] = []
        records = [condition("c9", "nobody"), condition("c1", "p1")]
        result = program.import_records(records, reason="ehr", refused=refused)
        assert (result.added, [r.where for r in refused]) == (1, ["patient nobody"])
        with program.transaction("check") as tx:
            assert [c.id for c in tx.all(Condition)] == ["c1"]


class ListSource:
    def __init__(self, data):
        self.data = data

    @property
    def id(self):
        return "memo"

    def can_read(self, location):
        return location in self.data

    def read(self, location):
        yield from self.data[location]


class TestTheContractOnPostgres(EhrSourceContract):
    @pytest.fixture
    def source(self):
        return ListSource(
            {
                "all": [patient("p1"), condition("c1", "p1"), patient("p2")],
                "twice": [patient("p1"), condition("c1", "p1"), condition("c1", "p1")],
                "bad": [patient("p1"), ImportRefusal(where="row 2", reason="no code")],
            }
        )

    @pytest.fixture
    def samples(self):
        return EhrSourceSamples(
            paged="all", paged_values=3, duplicated="twice", bad="bad", bad_refusals=1
        )

    @pytest.fixture
    def program(self, postgres_url):
        with CareProgram.open(postgres_url, actor="contract") as program:
            yield program
