"""Every id carecore writes in FHIR matches FHIR's id rule; export works for every demo patient."""

from __future__ import annotations

import json
import re

import pendulum
from carecore_fhir import import_bundle
from carecore_fhir.export import export_patient
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import AdministrativeSex, Patient

# https://hl7.org/fhir/R4/datatypes.html#id
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def _ids(resource):
    """Every ``id`` and relative reference's id anywhere in *resource*."""
    found = []
    if isinstance(resource, dict):
        for key, value in resource.items():
            if key == "id" and isinstance(value, str):
                found.append(value)
            elif key == "reference" and isinstance(value, str) and "/" in value:
                found.append(value.rsplit("/", 1)[1])
            else:
                found += _ids(value)
    elif isinstance(resource, list):
        for item in resource:
            found += _ids(item)
    return found


def test_an_assessed_patient_exports_with_valid_ids(program):
    program.import_records(
        [
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        ],
        reason="test",
    )
    program.assess("p1", "phq-2", {"44250-9": 1, "44255-8": 2}, result_id="a1")
    bundle = export_patient(program, "p1")  # raised on Observation/a1:total.id
    ids = [i for e in bundle["entry"] for i in _ids(e["resource"])]
    assert ids
    assert [i for i in ids if not FHIR_ID.fullmatch(i)] == []
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Observation") == 1  # the stored total and the score are one resource


def test_ids_fhir_does_not_allow_are_mapped_the_same_everywhere(program):
    program.import_records(
        [
            Patient(
                id="p_1",  # "_" is not allowed in a FHIR id
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        ],
        reason="test",
    )
    program.assess("p_1", "phq-2", {"44250-9": 1, "44255-8": 2}, result_id="a:1")
    bundle = export_patient(program, "p_1")
    resources = [e["resource"] for e in bundle["entry"]]
    assert [i for r in resources for i in _ids(r) if not FHIR_ID.fullmatch(i)] == []
    have = {f"{r['resourceType']}/{r['id']}" for r in resources}
    refs = {r["reference"] for r in _refs(resources)}
    assert refs <= have  # every reference names a resource of the bundle


def _refs(value):
    if isinstance(value, dict):
        return ([value] if isinstance(value.get("reference"), str) else []) + [
            r for v in value.values() for r in _refs(v)
        ]
    if isinstance(value, list):
        return [r for v in value for r in _refs(v)]
    return []


def test_every_demo_patient_exports(demo_program, tmp_path):
    """The README's first command, then an export of each patient it made."""
    with demo_program.transaction("test") as tx:
        ids = sorted(p.id for p in tx.all(Patient))
    assert len(ids) > 100
    for pid in ids:
        bundle = export_patient(demo_program, pid)
        resources = [e["resource"] for e in bundle["entry"]]
        assert [i for r in resources for i in _ids(r) if not FHIR_ID.fullmatch(i)] == [], pid


def test_cli_exports_a_demo_patient_with_an_assessment(demo_db, tmp_path):
    out = tmp_path / "p.json"
    result = CliRunner().invoke(
        make_app(), ["fhir", "export", "p-0001", "--db", demo_db, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    kinds = {e["resource"]["resourceType"] for e in json.loads(out.read_text())["entry"]}
    assert {"QuestionnaireResponse", "Observation", "CarePlan"} <= kinds


def test_a_visit_number_fhir_does_not_allow_reads_back_as_it_was(program, make_program):
    from carecore.model import AdtEvent, AdtEventKind, CareSetting, PatientClass

    program.import_records(
        [
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        ],
        reason="test",
    )
    admitted = pendulum.datetime(2026, 1, 2, 9, tz="America/Chicago")
    discharged = pendulum.datetime(2026, 1, 5, 15, tz="America/Chicago")
    program.receive(
        AdtEvent(
            id="v1-discharge",
            source_key="hl7/v1",
            patient_id="p1",
            kind=AdtEventKind.DISCHARGE,
            occurred_at=discharged,
            patient_class=PatientClass.INPATIENT,
            admitted_at=admitted,
            discharged_at=discharged,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
            visit_number="V_2026/001",  # "_" and "/" are not allowed in a FHIR id
        ),
        source="test",
    )
    bundle = export_patient(program, "p1")
    (encounter,) = [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"
    ]
    assert FHIR_ID.fullmatch(encounter["id"])
    assert encounter["identifier"] == [
        {"system": "https://carecore.dev/fhir/visit-number", "value": "V_2026/001"}
    ]
    again = make_program("again")
    assert import_bundle(again, json.dumps(bundle), source="b.json").refused == ()
    with again.transaction("t") as tx:
        (event,) = tx.find(AdtEvent, patient_id="p1")
    assert event.visit_number == "V_2026/001"
    assert export_patient(again, "p1")["entry"] == bundle["entry"]
