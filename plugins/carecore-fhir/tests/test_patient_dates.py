"""A Patient born after the import's clock says today, or dead before the birth, is refused.

The refusal names Patient.birthDate (or Patient.deceasedDateTime), never
the date: it is personal data. Today is the import clock's date in the
patient's time zone.
"""

from __future__ import annotations

import json

import pendulum
from carecore_fhir.importer import import_bundle
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import Patient
from carecore.service import CareProgram


def _patient(pid: str, **changes: object) -> str:
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": "1950-02-03",
        "name": [{"family": "Okafor", "given": ["Adaeze"]}],
    }
    return json.dumps({**resource, **changes})


def _statuses(report):
    return [(o.resource, o.status, o.reason) for o in report.outcomes]


def test_a_birth_date_after_today_is_refused_naming_the_element(program):
    report = import_bundle(program, _patient("p1", birthDate="2950-03-12"), source="p.json")
    ((resource, status, reason),) = _statuses(report)
    assert (resource, status) == ("Patient/p1", "refused")
    assert "Patient/p1.birthDate" in reason
    assert "2950" not in reason
    with program.transaction("check") as tx:
        assert tx.all(Patient) == []


def test_today_is_the_clock_date_in_the_patient_time_zone(tmp_path, carecore_pm):
    # 4 March 23:00 in Chicago is 5 March in UTC: born on 5 March in Chicago is not yet.
    clock = FixedClock(pendulum.datetime(2026, 3, 5, 5, tz="UTC"))
    with CareProgram.open(
        f"sqlite:///{tmp_path / 'c.db'}", actor="t", clock=clock, plugin_manager=carecore_pm
    ) as program:
        zone = {
            "url": "http://hl7.org/fhir/StructureDefinition/timezone",
            "valueCode": "America/Chicago",
        }
        late = _patient("p2", birthDate="2026-03-05", extension=[zone])
        today = _patient("p3", birthDate="2026-03-04", extension=[zone])
        assert _statuses(import_bundle(program, late, source="a.json"))[0][1] == "refused"
        assert _statuses(import_bundle(program, today, source="b.json"))[0][1] == "imported"


def test_a_death_before_the_birth_is_refused_naming_the_element(program):
    text = _patient("p4", deceasedDateTime="1949-12-31")
    ((_, status, reason),) = _statuses(import_bundle(program, text, source="p.json"))
    assert status == "refused"
    assert "Patient/p4.deceasedDateTime" in reason
    assert "1949" not in reason
    assert "1950" not in reason


def test_fhir_import_refuses_a_future_birth_date(tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    path = tmp_path / "p.json"
    path.write_text(_patient("p1", birthDate="2950-03-12"))
    result = runner.invoke(make_app(), ["fhir", "import", str(path), "--db", url, "--no-progress"])
    assert result.exit_code == 1, result.output
    assert "birthDate" in result.output + result.stderr
    assert "2950" not in result.output + result.stderr
