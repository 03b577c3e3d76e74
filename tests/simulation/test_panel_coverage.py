"""A panel's Medicare flag is the registry's coverage rule: the same patients are eligible alike.

A store with no coverage records gives ``coverages=()``, bundles with none
give ``None``; the registry decides both alike (coverage unknown does not
exclude), and so must the simulation, whichever way the patients came.
"""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.metrics import ProgramData
from carecore.model import (
    AdministrativeSex,
    Coding,
    Condition,
    Coverage,
    CoveragePlan,
    Patient,
    ServiceFamily,
)
from carecore.registry import registry
from carecore.simulation import ProgramPolicy, Study, panel_from_records, run_study

pytest.importorskip("numpy")

_DAY = pendulum.Date(2026, 1, 1)


def _patient(pid: str) -> Patient:
    return Patient(
        id=pid,
        given_name="Test",
        family_name=pid.upper(),
        birth_date=pendulum.Date(1950, 5, 1),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
    )


def _conditions(pid: str) -> list[Condition]:
    return [
        Condition(
            id=f"{pid}-c{n}",
            patient_id=pid,
            coding=Coding.icd10cm(code),
            chronic=True,
            significant_risk=True,
        )
        for n, code in enumerate(("E11.9", "I50.9"))
    ]


_PATIENTS = [_patient(p) for p in ("p1", "p2", "p3")]
_CONDITIONS = [c for p in ("p1", "p2", "p3") for c in _conditions(p)]
_MIXED = [  # p1 Part B, p2 commercial only, p3 no coverage record at all
    Coverage(id="v1", patient_id="p1", payer="Medicare", plan=CoveragePlan.MEDICARE_PART_B),
    Coverage(id="v2", patient_id="p2", payer="Acme", plan=CoveragePlan.COMMERCIAL),
]


def _simulated_eligible(data: ProgramData) -> int:
    panel = panel_from_records(data, as_of=_DAY)
    study = Study(
        months=1,
        population=panel,
        policy=ProgramPolicy(families=(ServiceFamily.CCM,), outreach_per_month=0),
    )
    (totals,) = run_study(study, replications=1, seed=1).totals()
    return int(totals["eligible_patients"])


def _registry_eligible(coverages: list[Coverage] | None) -> int:
    answers = registry(
        _PATIENTS,
        as_of=_DAY,
        conditions=_CONDITIONS,
        coverages=coverages,
        families=(ServiceFamily.CCM,),
    )
    return sum(e.eligible for e in answers)


@pytest.mark.parametrize(
    "coverages",
    [None, (), _MIXED],
    ids=["coverage-not-given", "no-coverage-records", "some-coverage-records"],
)
def test_the_panel_decides_coverage_as_the_registry_does(coverages):
    data = ProgramData(patients=_PATIENTS, conditions=_CONDITIONS, coverages=coverages)
    expected = _registry_eligible(None if coverages is None else list(coverages))
    assert _simulated_eligible(data) == expected


def test_no_coverage_records_and_coverage_not_given_are_the_same_panel():
    given = ProgramData(patients=_PATIENTS, conditions=_CONDITIONS, coverages=None)
    empty = ProgramData(patients=_PATIENTS, conditions=_CONDITIONS, coverages=())
    assert panel_from_records(given, as_of=_DAY) == panel_from_records(empty, as_of=_DAY)
    flags = {p.id: p.medicare for p in panel_from_records(given, as_of=_DAY).patients}
    assert flags == {"p1": True, "p2": True, "p3": True}


def test_a_patient_without_coverage_records_beside_covered_ones_is_not_excluded():
    data = ProgramData(patients=_PATIENTS, conditions=_CONDITIONS, coverages=_MIXED)
    flags = {p.id: p.medicare for p in panel_from_records(data, as_of=_DAY).patients}
    # p3 has no coverage on file: the registry leaves it unknown, which does not exclude.
    assert flags == {"p1": True, "p2": False, "p3": True}


def _synthea_files() -> list[str]:
    import carecore

    folder = Path(carecore.__file__).parent / "_demo_data" / "synthea"
    return sorted(str(p) for p in folder.glob("*.json.gz"))


def _eligible_from(app, location: str) -> float:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "primary-care-2026",
            "--replications",
            "1",
            "--population-from",
            location,
            "--format",
            "json",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    measures = json.loads(result.output)["measures"]
    assert measures["revenue"]["mean"] > 0
    eligible: float = measures["eligible_patients"]["mean"]
    return eligible


def test_a_store_bundles_and_the_registry_agree_on_the_imported_patients(tmp_path, monkeypatch):
    pytest.importorskip("carecore_fhir")
    monkeypatch.chdir(tmp_path)
    app = make_app()
    url = f"sqlite:///{tmp_path / 'g.db'}"
    runner = CliRunner()
    init = runner.invoke(app, ["db", "init", url, "--time-zone", "America/Chicago"])
    assert init.exit_code == 0, init.output
    imported = runner.invoke(app, ["fhir", "import", *_synthea_files(), "--db", url])
    assert imported.exit_code in {0, 1}, imported.output  # 1: some resources refused
    answers = runner.invoke(
        app,
        ["registry", "--db", url, "--program", "CCM", "--as-of", "2026-01-01", "--format", "json"],
    )
    assert answers.exit_code == 0, answers.output
    registry_eligible = sum(row["eligible"] for row in json.loads(answers.output))
    assert registry_eligible > 0
    from_store = _eligible_from(app, url)
    from_bundles = _eligible_from(app, str(Path(_synthea_files()[0]).parent))
    assert from_store == from_bundles == registry_eligible
