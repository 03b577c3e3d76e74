"""``carecore tcm list`` as a table: identifiers, names and settings are never cut unmarked."""

from __future__ import annotations

import pendulum
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Identifier,
    Patient,
    PatientClass,
)
from carecore.service import CareProgram

TZ = "America/Chicago"
FHIR_ID = "a6889c6d-6915-4fac-9d2f-fc6c42b3a82e"
HOSPITAL_ID = "c96ab841-48f4-42e4-bd46-f25c1490e422"
LONG_NAME = "Featherstonehaugh-Worthington, Maximiliana"


def _discharge(pid: str, visit: str, day: pendulum.Date) -> AdtEvent:
    at = pendulum.datetime(day.year, day.month, day.day, 10, tz=TZ)
    return AdtEvent(
        id=f"discharge-{visit}",
        source_key=f"discharge-{visit}",
        patient_id=pid,
        kind=AdtEventKind.DISCHARGE,
        occurred_at=at,
        discharged_at=at,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
        visit_number=visit,
    )


def _patient(pid: str, family: str, given: str, identifiers=()) -> Patient:
    return Patient(
        id=pid,
        given_name=given,
        family_name=family,
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone=TZ,
        identifiers=list(identifiers),
    )


def _table(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'tcm.db'}"
    day = pendulum.now(TZ).date().subtract(days=2)
    with CareProgram.open(url, actor="feed") as program:
        with program.transaction("registration") as tx:
            # A FHIR-only patient: the FHIR id under the import's system, a hospital's id.
            tx.add(
                _patient(
                    FHIR_ID,
                    "Featherstonehaugh-Worthington",
                    "Maximiliana",
                    [
                        Identifier(system="urn:carecore:fhir", value=FHIR_ID),
                        Identifier(system="http://hospital.smarthealthit.org", value=HOSPITAL_ID),
                    ],
                )
            )
            tx.add(_patient("p2", "Okafor", "Ada"))  # no identifier at all
        program.receive(_discharge(FHIR_ID, "V1", day), source="test", time_zone=TZ)
        program.receive(_discharge("p2", "V2", day), source="test", time_zone=TZ)
    result = CliRunner().invoke(make_app(), ["tcm", "list", "--db", url])
    assert result.exit_code == 0, result.output
    return result.output


def test_each_identifier_is_shown_whole_with_its_assigning_authority(tmp_path):
    table = _table(tmp_path)
    assert f"{FHIR_ID} (urn:carecore:fhir)" in table
    assert f"{HOSPITAL_ID} (hospital.smarthealthit.org)" in table


def test_a_long_name_is_shown_whole(tmp_path):
    assert LONG_NAME in _table(tmp_path)


def test_a_patient_without_identifiers_shows_the_carecore_id_labelled(tmp_path):
    table = _table(tmp_path)
    (row,) = [line for line in table.splitlines() if line.startswith("Okafor, Ada")]
    assert "p2 (carecore id)" in row


def test_the_columns_stay_aligned_under_the_header(tmp_path):
    lines = _table(tmp_path).splitlines()
    header = lines[0]
    start = header.index("discharged")
    rows = [line for line in lines[2:] if line[:1].strip()]  # rows, not continuation lines
    assert len(rows) == 2
    for row in rows:
        assert pendulum.parse(row[start : start + 10]), row
