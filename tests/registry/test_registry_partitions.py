"""`carecore registry` in hash partitions gives the answer of the whole store read at once.

Twenty patients with varied conditions and coverage are decided with 1, 3
and 7 partitions, in this process and on a process pool whose workers read
their partitions from the SQLite file themselves; every answer equals
:func:`carecore.registry.registry` over the whole store, patient by patient
in id order.
"""

from __future__ import annotations

import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore._cli_registry import eligibility_row, registry_rows
from carecore.cli import make_app
from carecore.executors import get_executor
from carecore.model import Coding, Condition, Coverage, CoveragePlan
from carecore.registry import PROGRAMS, registry
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

AS_OF = pendulum.Date(2026, 3, 1)
CODES = ("E11.9", "I50.9", "F33.1", "J44.9", "I10")


@pytest.fixture
def url(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    records: list[object] = []
    for n in range(20):
        pid = f"p{n:02d}"
        records.append(make_patient(pid))
        records += [
            Condition(
                id=f"{pid}-c{k}",
                patient_id=pid,
                coding=Coding.icd10cm(CODES[(n + k) % len(CODES)]),
                significant_risk=bool(n % 3),
                chronic=True,
            )
            for k in range(n % 4)
        ]
        if n % 5:
            records.append(
                Coverage(
                    id=f"{pid}-b",
                    patient_id=pid,
                    payer="Medicare",
                    plan=CoveragePlan.MEDICARE_PART_B,
                    start=pendulum.Date(2020, 1, 1),
                )
            )
    with CareProgram.open(url, actor="test", plugin_manager=carecore_pm) as program:
        program.import_records([r for r in records if type(r).__name__ == "Patient"], reason="load")
        program.import_records([r for r in records if type(r).__name__ != "Patient"], reason="load")
    return url


def _whole(program):
    data = program.program_data()
    people = {p.id: p for p in data.patients}
    verdicts = registry(
        data.patients,
        as_of=AS_OF,
        conditions=data.conditions,
        coverages=data.coverages,
        families=PROGRAMS,
    )
    return [eligibility_row(v, people[v.patient_id]) for v in verdicts]


def test_any_partition_count_and_executor_decide_as_the_whole_store(url):
    with CareProgram.open(url, actor="test", create=False) as program:
        expected = _whole(program)
        # No "needs attestation": the table places conditions at risk (the default switch).
        assert {r["status"] for r in expected} == {"eligible", "not eligible"}
        families = tuple(PROGRAMS)
        for count in (1, 3, 7):
            rows = registry_rows(program, as_of=AS_OF, families=families, partitions=count)
            assert rows == expected, count
        with get_executor("process", workers=2) as pool:
            rows = registry_rows(
                program, as_of=AS_OF, families=families, partitions=7, executor=pool
            )
        assert rows == expected


def test_the_command_s_partitions_and_executor_change_nothing(url):
    def run(*extra):
        result = CliRunner().invoke(
            make_app(),
            ["registry", "--db", url, "--as-of", "2026-03-01", "--format", "json", *extra],
        )
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    one = run("--partitions", "1")
    assert len(one) == 20 * len(PROGRAMS)
    assert run("--partitions", "5", "--executor", "process", "--workers", "2") == one
    assert run() == one
