"""Records in on PostgreSQL: a mixed import is one transaction per patient, and the EHR-source contract holds."""

from __future__ import annotations

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import AdministrativeSex, Coding, Condition, Patient
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.service import CareProgram, ImportRefusal
from carecore.testing import registered
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


class Plugin:
    @hookimpl
    def carecore_ehr_sources(self):
        return [
            ListSource(
                {
                    "a": [patient("p1")],
                    # A file whose Patient the source refused: the refusal and its condition.
                    "orphan": [
                        ImportRefusal(where="Patient/px1", reason="bad birth date"),
                        condition("cx", "px1"),
                    ],
                    "c": [patient("p3")],
                }
            )
        ]


def test_carecore_import_names_a_refused_patient_and_imports_later_locations(postgres_url):
    pm = get_plugin_manager()
    with registered(pm, Plugin(), name="memo-source"):
        app = make_app(pm)
        assert CliRunner().invoke(app, ["db", "init", postgres_url]).exit_code == 0
        done = CliRunner().invoke(
            app, ["import", "--source", "memo", "--db", postgres_url, "a", "orphan", "c"]
        )
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    assert lines[1:3] == [
        "orphan: 0 added, 0 already stored, 2 refused",
        "  refused Patient/px1: bad birth date",
    ]
    assert lines[3].startswith("  refused patient px1: InvalidValue: patient_id='px1'")
    assert lines[4] == "c: 1 added, 0 already stored, 0 refused"
    with CareProgram.open(postgres_url, actor="t") as program, program.transaction("check") as tx:
        assert sorted(p.id for p in tx.all(Patient)) == ["p1", "p3"]
