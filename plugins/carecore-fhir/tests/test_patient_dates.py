"""A Patient born after the import's clock says today, or dead before the birth, is refused.

The refusal names Patient.birthDate (or Patient.deceasedDateTime), never
the date: it is personal data. Today is the import clock's date in the
patient's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

import pendulum
import pytest
from carecore_fhir.importer import import_bundle
from carecore_fhir.mapping import Options, map_patient
from click.testing import CliRunner
from test_phi_in_errors import patient

from carecore import errors
from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import Patient
from carecore.service import CareProgram


def _patient(pid: str, **changes: object) -> str:
    return json.dumps(patient(pid, **changes))


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


@pytest.mark.parametrize(
    "now",
    [
        pendulum.datetime(2026, 3, 5, 5, tz="UTC"),
        dt.datetime(2026, 3, 5, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 5, 5, tzinfo=zoneinfo.ZoneInfo("America/Chicago")),
    ],
    ids=["pendulum", "stdlib-utc", "stdlib-zoneinfo"],
)
def test_options_take_an_aware_datetime_as_now(now):
    # An aware stdlib datetime used to reach map_patient as it was and fail there with an
    # AttributeError (in_timezone); it is now read as the same instant.
    options = Options(now=now)
    assert isinstance(options.now, pendulum.DateTime)
    assert options.now == now
    patient = json.loads(_patient("p5", birthDate="2026-03-06"))
    with pytest.raises(errors.InvalidValue, match=r"Patient/p5\.birthDate"):
        map_patient(patient, None, options)


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2026, 3, 5, 5),  # noqa: DTZ001 - the naive datetime refused
        pendulum.naive(2026, 3, 5, 5),
        dt.date(2026, 3, 5),
        "2026-03-05T05:00:00Z",
        1772686800,
    ],
    ids=["stdlib-naive", "pendulum-naive", "date", "text", "number"],
)
def test_options_refuse_a_now_that_is_not_an_aware_datetime(now):
    with pytest.raises(errors.InvalidValue) as raised:
        Options(now=now)
    assert raised.value.field == "now"


def _open_on(monkeypatch, clock):
    """Every ``CareProgram.open`` (what both import commands call) on *clock*."""
    opened = CareProgram.open.__func__

    def on_clock(cls, url, **kwargs):
        return opened(cls, url, **{**kwargs, "clock": clock})

    monkeypatch.setattr(CareProgram, "open", classmethod(on_clock))


@pytest.mark.parametrize(
    "command",
    [["fhir", "import", "--no-progress"], ["import", "--source", "fhir"]],
    ids=["fhir-import", "import-source-fhir"],
)
def test_both_import_commands_check_birth_dates_on_the_program_clock(
    tmp_path, monkeypatch, command
):
    # carecore import --source fhir checked birth dates against the system clock, so a
    # program on a fixed clock in the past took a Patient that fhir import refuses.
    monkeypatch.delenv("CARECORE_TIME_ZONE", raising=False)
    monkeypatch.chdir(tmp_path)  # no carecore.toml
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    _open_on(monkeypatch, FixedClock(pendulum.datetime(2024, 1, 10, 12, tz="UTC")))
    born = pendulum.today("UTC").subtract(days=400).date()  # before today, after the clock's
    assert born > pendulum.date(2024, 1, 10)
    path = tmp_path / "p.json"
    path.write_text(_patient("p6", birthDate=born.isoformat()))
    result = runner.invoke(make_app(), [*command, "--db", url, str(path)])
    assert result.exit_code == 1, result.output
    assert "Patient/p6.birthDate" in result.output + result.stderr
    assert born.isoformat() not in result.output + result.stderr
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        assert tx.all(Patient) == []
