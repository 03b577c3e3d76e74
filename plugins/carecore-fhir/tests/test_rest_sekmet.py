"""The REST client, source, sink and ``carecore fhir pull`` against a published FHIR server.

The server is sekmet-fhir 0.1.1 (PyPI; FastAPI, SQLite storage, FHIR R4 4.0.1), started on
127.0.0.1 by the ``sekmet`` fixtures in conftest.py (tests/sekmet_server.py); why this server
is in docs/explanation/fhir.md. Retries after 429/503 and ``Retry-After`` stay in test_rest.py
on the project's own server: a real server cannot be made to answer 429 or 503 on cue.
"""

from __future__ import annotations

import json
import uuid

import attrs
import pytest
from carecore_fhir.export import export_patient
from carecore_fhir.rest import FhirClient, FhirSink
from carecore_fhir.source import FhirSource, import_from_server

from carecore import errors
from carecore.model import CarePlan, Condition, Observation, Patient, Practitioner

CONSUMED = {
    "Patient",
    "Practitioner",
    "Condition",
    "Encounter",
    "Observation",
    "CarePlan",
    "Goal",
    "Organization",
}


def _bearer(token):
    def hook(*, refresh):
        return token

    return hook


def _client(server, **kwargs):
    return FhirClient(
        server.base, insecure=True, token=_bearer(server.token), backoff=0.01, **kwargs
    )


@pytest.fixture
def client(sekmet):
    with _client(sekmet) as c:
        yield c


@pytest.fixture
def system():
    """An identifier system of this test's own: the session's server is shared."""
    return f"urn:carecore-test:{uuid.uuid4().hex}"


def patient(system, n):
    return {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": f"m{n}"}],
        "gender": "female",
        "birthDate": "1950-01-01",
        "name": [{"family": f"F{n}", "given": ["A"]}],
    }


def _load(client, path, kinds):
    """Put a Synthea bundle's resources on the server under their ids, references made relative."""
    entries = json.loads(path.read_bytes())["entry"]
    text = path.read_text()
    for e in entries:
        ref = f"{e['resource']['resourceType']}/{e['resource']['id']}"
        text = text.replace(f'"{e["fullUrl"]}"', f'"{ref}"')
    for entry in json.loads(text)["entry"]:
        if entry["resource"]["resourceType"] in kinds:
            client.update(entry["resource"])


def _patient_id(path):
    return next(
        e["resource"]["id"]
        for e in json.loads(path.read_bytes())["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )


def _by_id(values, cls):
    return sorted((v for v in values if isinstance(v, cls)), key=lambda v: v.id)


def test_the_server_speaks_r4(client):
    assert client.capabilities()["fhirVersion"] == "4.0.1"


def test_search_follows_next_links_across_pages(client, system):
    made = [client.create(patient(system, n)).id for n in range(7)]
    pages = []
    client.http.event_hooks["response"].append(
        lambda r: pages.append(r.read() and len(r.json().get("entry", ())))
    )
    found = list(client.search("Patient", {"identifier": f"{system}|"}, page_size=3))
    assert pages == [3, 3, 1]  # the server paged by _count and the client followed "next"
    assert sorted(r["id"] for r in found) == sorted(made)  # each of the 7 exactly once
    assert len(found) == 7


def test_conditional_create_twice_makes_one_resource(client, system):
    condition = f"identifier={system}|m1"
    first = client.create(patient(system, 1), if_none_exist=condition)
    second = client.create(patient(system, 1), if_none_exist=condition)
    assert first.created
    assert not second.created
    assert second.id == first.id
    assert [r["id"] for r in client.search("Patient", {"identifier": f"{system}|m1"})] == [first.id]


def test_conditional_create_matching_several_is_refused(client, system):
    client.create(patient(system, 1))
    client.create(patient(system, 2))
    with pytest.raises(errors.ConflictError) as caught:
        client.create(patient(system, 3), if_none_exist=f"identifier={system}|")
    assert "412" in str(caught.value)
    assert "matched 2" in str(caught.value)  # the server's diagnostics are passed on
    assert len(list(client.search("Patient", {"identifier": f"{system}|"}))) == 2


def test_update_with_if_match(client, system):
    made = client.create(patient(system, 1))
    doc, version = client.read("Patient", made.id)
    assert version == "1"
    doc["gender"] = "male"
    updated = client.update(doc, if_match=version)
    assert (updated.id, updated.version, updated.created) == (made.id, "2", False)
    doc["gender"] = "other"
    with pytest.raises(errors.ConflictError) as caught:
        client.update(doc, if_match=version)  # still "1": version 2 was written meanwhile
    assert f"Patient/{made.id}" in str(caught.value)
    assert "412" in str(caught.value)
    current, now = client.read("Patient", made.id)
    assert (current["gender"], now) == ("male", "2")


def test_no_token_is_a_typed_error(sekmet):
    with FhirClient(sekmet.base, insecure=True) as c, pytest.raises(errors.InvalidValue) as caught:
        c.read("Patient", "anything")
    assert "401" in str(caught.value)
    assert caught.value.field == "Authorization"
    assert "no bearer token" in str(caught.value)


def test_a_wrong_token_is_refreshed_once_then_a_typed_error(sekmet):
    calls = []

    def token(*, refresh):
        calls.append(refresh)
        return "wrong"

    with (
        FhirClient(sekmet.base, insecure=True, token=token) as c,
        pytest.raises(errors.InvalidValue) as caught,
    ):
        c.search("Patient").__next__()
    assert calls == [False, True]
    assert "401" in str(caught.value)
    assert caught.value.field == "Authorization"
    assert "refused the bearer token" in str(caught.value)


def test_the_token_hook_refreshes_after_401(sekmet, system):
    calls = []

    def token(*, refresh):
        calls.append(refresh)
        return sekmet.token if refresh else "expired"

    with FhirClient(sekmet.base, insecure=True, token=token) as c:
        assert c.create(patient(system, 1)).created
    assert calls == [False, True]


def test_not_found_is_typed(client):
    with pytest.raises(errors.NotFound):
        client.read("Patient", uuid.uuid4().hex)


def test_the_source_reads_the_server_like_the_bundle(empty_sekmet, synthea_paths):
    path = synthea_paths[0]
    with _client(empty_sekmet) as client:
        _load(client, path, CONSUMED)
        values = list(FhirSource(client=client).read(empty_sekmet.base))
        by_patient = list(
            FhirSource(client=client).read(f"{empty_sekmet.base}/Patient/{_patient_id(path)}")
        )
    from_file = list(FhirSource().read(str(path)))
    for cls in (Condition, CarePlan, Observation, Practitioner):
        assert _by_id(values, cls) == _by_id(from_file, cls), cls.__name__
        assert _by_id(by_patient, cls) == _by_id(from_file, cls), cls.__name__
    assert _by_id(values, CarePlan)  # the comparison is not of two empty lists
    (server_patient,) = _by_id(values, Patient)
    assert server_patient.identifiers[0].system == empty_sekmet.base


def test_cli_pull_imports_one_patient_into_sqlite(
    sekmet, client, synthea_paths, tmp_path, monkeypatch
):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.service import CareProgram

    first, second = synthea_paths[1:3]
    _load(client, first, CONSUMED)
    _load(client, second, {"Patient", "Condition"})  # another patient, not to be pulled
    monkeypatch.setenv("EHR_TOKEN", sekmet.token)
    db = f"sqlite:///{tmp_path / 'pull.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", db]).exit_code == 0
    args = ["fhir", "pull", sekmet.base, "--insecure", "--db", db, "--patient", _patient_id(first)]
    result = CliRunner().invoke(make_app(), [*args, "--token-env", "EHR_TOKEN"])
    assert result.exit_code == 0, result.output
    assert "CarePlan" in result.output
    entries = json.loads(first.read_bytes())["entry"]
    conditions = sum(e["resource"]["resourceType"] == "Condition" for e in entries)
    with CareProgram.open(db) as program, program.transaction("check") as tx:
        (pulled,) = tx.all(Patient)
        assert pulled.id == _patient_id(first)
        assert len(tx.all(Condition)) == conditions
    unauthorised = CliRunner().invoke(make_app(), args)  # no token: refused, exit status 1
    assert unauthorised.exit_code == 1, unauthorised.output
    assert "401" in unauthorised.output


def test_the_sink_exports_a_care_plan_and_it_reads_back(empty_sekmet, synthea_paths, make_program):
    from carecore_fhir import import_bundle

    path = synthea_paths[-1]
    source = make_program("source")
    assert import_bundle(source, path.read_bytes(), source=path.name).refused == ()
    with source.transaction("ids") as tx:
        (pid,) = [p.id for p in tx.all(Patient)]
        plans = _by_id(tx.all(CarePlan), CarePlan)
        conditions = _by_id(tx.all(Condition), Condition)
    assert plans
    bundle = export_patient(source, pid)
    with _client(empty_sekmet) as client:
        sink = FhirSink(client)
        first = sink.write_bundle(bundle)
        assert all(w.created and w.version == "1" for w in first)
        for entry in bundle["entry"]:
            written = entry["resource"]
            stored, version = client.read(written["resourceType"], written["id"])
            assert version == "1"
            assert {k: v for k, v in stored.items() if k != "meta"} == {
                k: v for k, v in written.items() if k != "meta"
            }
        again = sink.write_bundle(bundle)  # read the version, update with If-Match
        assert all(not w.created and w.version == "2" for w in again)
        plan = next(
            e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"
        )
        stale = {**plan, "status": "revoked"}
        client.update(stale, if_match="2")  # someone else changes the plan on the server
        with pytest.raises(errors.ConflictError) as caught:
            client.update(plan, if_match="2")
        assert f"CarePlan/{plan['id']}" in str(caught.value)
        client.update(plan, if_match="3")
        # and back into carecore: the plans read from the server are the plans exported
        target = make_program("target")
        report = import_from_server(target, client, patient_id=pid)
    assert report.refused == ()
    with target.transaction("check") as tx:
        read_back = _by_id(tx.all(CarePlan), CarePlan)
        assert [p.id for p in read_back] == [p.id for p in plans]
        # A server keeps its own meta.versionId (4 after the writes above), which the import
        # reads as the plan's version: carecore's version does not survive a server round
        # trip (docs/explanation/fhir.md, "Not done yet"). Everything else does.
        changed = next(p for p in read_back if p.id == plan["id"])
        assert changed.version == 4
        assert [attrs.evolve(p, version=1) for p in read_back] == [
            attrs.evolve(p, version=1) for p in plans
        ]
        assert _by_id(tx.all(Condition), Condition) == conditions


def test_one_patients_fetch_leaves_out_other_patients(empty_sekmet, synthea_paths):
    from carecore_fhir.source import fetch

    first, second = synthea_paths[:2]
    with _client(empty_sekmet) as client:
        _load(client, first, {"Patient", "Condition", "Goal"})
        _load(client, second, {"Patient", "Condition", "Goal"})
        # sekmet-fhir 0.1.1 has no search parameters for Goal (nor CareTeam): it ignores
        # ?patient=, says so in an OperationOutcome entry, and answers every Goal it has
        everyone = list(client.search("Goal", {"patient": _patient_id(first)}))
        bundle = fetch(client, patient_id=_patient_id(first))
    others = {r["subject"]["reference"] for r in everyone}
    assert f"Patient/{_patient_id(second)}" in others  # the server's leniency is real
    about = {r["subject"]["reference"] for r in bundle.resources if r["resourceType"] != "Patient"}
    assert about == {f"Patient/{_patient_id(first)}"}
    goals = sum(
        e["resource"]["resourceType"] == "Goal" for e in json.loads(first.read_bytes())["entry"]
    )
    assert sum(r["resourceType"] == "Goal" for r in bundle.resources) == goals
