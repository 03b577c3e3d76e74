"""The REST client and sink against the project's own FHIR server on 127.0.0.1 (tests/fhir_server.py).

The same client is tested against a published server, sekmet-fhir, in test_rest_sekmet.py.
These tests stay on the own server because they need what a real server cannot give on cue:
injected 429/502/503 answers and ``Retry-After`` (retries, backoff, giving up), a server that
claims another FHIR version, a token the test changes mid-run, and a log of the requests the
client sent (the ``_count`` of every page, the ``Authorization`` header). The paging,
conditional-write, source and sink tests are kept here as well, since the request log lets
them check what was sent, not only what came back.
"""

from __future__ import annotations

import json

import pendulum
import pytest
from carecore_fhir.export import careplan_resources, export_patient
from carecore_fhir.mapping import Options
from carecore_fhir.plugin import carecore_export_careplan
from carecore_fhir.rest import FhirClient, FhirSink
from carecore_fhir.source import FhirSource
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.model import (
    AdtEvent,
    CarePlan,
    Condition,
    Observation,
    Patient,
    Practitioner,
    ServiceFamily,
)


def patient(n):
    return {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:mrn", "value": f"m{n}"}],
        "gender": "female",
        "birthDate": "1950-01-01",
        "name": [{"family": f"F{n}", "given": ["A"]}],
    }


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def client(fhir_server):
    with FhirClient(
        fhir_server.base, insecure=True, sleep=Sleeps(), backoff=0.01, max_backoff=0.05
    ) as c:
        yield c


def test_search_follows_next_links_page_by_page(client, fhir_server):
    for n in range(7):
        client.create(patient(n))
    fhir_server.store.requests.clear()
    found = list(client.search("Patient", page_size=3))
    assert sorted(r["name"][0]["family"] for r in found) == [f"F{n}" for n in range(7)]
    assert len(fhir_server.store.requests) == 3  # pages of 3, 3 and 1
    assert all("_count=3" in path for _, path, _ in fhir_server.store.requests)


def test_conditional_create_creates_once(client, fhir_server):
    first = client.create(patient(1), if_none_exist="identifier=urn:mrn|m1")
    second = client.create(patient(1), if_none_exist="identifier=urn:mrn|m1")
    assert first.created
    assert not second.created
    assert second.id == first.id
    assert len(fhir_server.store.current("Patient")) == 1


def test_update_with_a_stale_version_is_refused_and_changes_nothing(client, fhir_server):
    made = client.create(patient(1))
    doc, version = client.read("Patient", made.id)
    assert version == "1"
    doc["gender"] = "male"
    updated = client.update(doc, if_match=version)
    assert updated.version == "2"
    doc["gender"] = "other"
    with pytest.raises(errors.ConflictError):
        client.update(doc, if_match=version)  # still "1": someone else wrote version 2
    current, now = client.read("Patient", made.id)
    assert (current["gender"], now) == ("male", "2")


def test_429_and_503_are_retried_with_backoff(client, fhir_server):
    fhir_server.store.faults = [(429, {"Retry-After": "0"}), (503, {}), (502, {})]
    made = client.create(patient(1))
    assert made.created
    assert len(client.sleep) == 3
    assert client.sleep[0] == 0.0  # Retry-After: 0 is obeyed
    assert 0.01 <= client.sleep[1] <= 0.02  # attempt 1: between half and all of 0.01 * 2
    assert 0.02 <= client.sleep[2] <= 0.04  # attempt 2: between half and all of 0.01 * 4


def test_retries_give_up_with_a_typed_error(fhir_server):
    fhir_server.store.faults = [(503, {})] * 3
    with (
        FhirClient(fhir_server.base, insecure=True, retries=2, sleep=Sleeps()) as c,
        pytest.raises(errors.StoreUnavailable) as caught,
    ):
        c.read("Patient", "x")
    assert "503" in str(caught.value)
    assert "3 tries" in str(caught.value)


JITTER = [0.0]
DELAYS = FhirClient("https://127.0.0.1:1", backoff=0.25, max_backoff=4.0, jitter=lambda: JITTER[0])


@given(attempt=st.integers(0, 12), jitter=st.floats(0, 1))
def test_delay_is_capped_exponential_with_equal_jitter(attempt, jitter):
    JITTER[0] = jitter
    ceiling = min(4.0, 0.25 * 2**attempt)
    assert ceiling / 2 <= DELAYS.delay(attempt) <= ceiling


def test_bearer_token_hook_refreshes_after_401(fhir_server):
    fhir_server.store.token = "fresh"
    calls = []

    def token(*, refresh):
        calls.append(refresh)
        return "fresh" if refresh else "stale"

    with FhirClient(fhir_server.base, insecure=True, token=token) as c:
        assert c.create(patient(1)).created
    assert calls == [False, True]
    assert fhir_server.store.requests[-1][2]["Authorization"] == "Bearer fresh"


def test_a_server_of_another_fhir_version_is_refused(client, fhir_server):
    fhir_server.store.fhir_version = "5.0.0"
    with pytest.raises(errors.InvalidValue) as caught:
        client.capabilities()
    assert "wrong FHIR version" in str(caught.value)
    assert caught.value.value == "5.0.0"


def test_not_found_is_typed(client):
    with pytest.raises(errors.NotFound):
        client.read("Patient", "nope")


def _load(client, path, kinds=None):
    """Put a Synthea bundle's resources on the server, urn:uuid references made relative."""
    entries = json.loads(path.read_bytes())["entry"]
    uuid_refs = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries
    }
    text = path.read_text()
    for url, ref in uuid_refs.items():
        text = text.replace(f'"{url}"', f'"{ref}"')
    for entry in json.loads(text)["entry"]:
        if kinds is None or entry["resource"]["resourceType"] in kinds:
            client.update(entry["resource"])


def test_the_source_reads_a_server_like_a_bundle(fhir_server, client, program, synthea_paths):
    path = synthea_paths[0]
    _load(client, path, {"Patient", "Condition", "CarePlan", "Goal", "Encounter", "Organization"})
    patient_id = next(
        e["resource"]["id"]
        for e in json.loads(path.read_bytes())["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    by_patient = list(FhirSource(client=client).read(f"{fhir_server.base}/Patient/{patient_id}"))
    values = list(FhirSource(client=client).read(fhir_server.base))
    from_file = list(FhirSource().read(str(path)))
    conditions = sorted((v for v in values if isinstance(v, Condition)), key=lambda c: c.id)
    assert conditions == sorted(
        (v for v in from_file if isinstance(v, Condition)), key=lambda c: c.id
    )
    plans = sorted((v for v in values if isinstance(v, CarePlan)), key=lambda c: c.id)
    assert plans == sorted((v for v in from_file if isinstance(v, CarePlan)), key=lambda c: c.id)
    (server_patient,) = [v for v in values if isinstance(v, Patient)]
    assert server_patient.identifiers[0].system == fhir_server.base  # the server is the source
    assert (
        sorted((v for v in by_patient if isinstance(v, Condition)), key=lambda c: c.id)
        == conditions
    )
    assert sorted((v for v in by_patient if isinstance(v, CarePlan)), key=lambda c: c.id) == plans


def test_the_sink_writes_an_export_and_guards_versions(fhir_server, client, program, synthea_paths):
    from carecore_fhir import import_bundle

    path = synthea_paths[-1]
    assert import_bundle(program, path.read_bytes(), source=path.name).refused == ()
    with program.transaction("ids") as tx:
        (pid,) = [p.id for p in tx.all(Patient)]
    bundle = export_patient(program, pid)
    sink = FhirSink(client)
    first = sink.write_bundle(bundle)
    assert all(w.created for w in first)
    again = sink.write_bundle(bundle)
    assert all(not w.created and w.version == "2" for w in again)
    plan = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "CarePlan"
    )
    stored, version = client.read("CarePlan", plan["id"])
    assert version == "2"
    assert stored["status"] == plan["status"]


def test_export_careplan_hook_writes_to_the_configured_server(fhir_server, monkeypatch):
    plan = CarePlan(
        id="cp9",
        patient_id="p1",
        title="Heart failure",
        families=[ServiceFamily.CCM],
        created_on=pendulum.Date(2026, 1, 5),
    )
    assert carecore_export_careplan(plan, None) is None  # not configured
    monkeypatch.setenv("CARECORE_FHIR_URL", fhir_server.base)
    monkeypatch.setenv("CARECORE_FHIR_INSECURE", "1")  # the test server is on loopback
    assert carecore_export_careplan(plan, None) == "cp9"
    assert fhir_server.store.current("CarePlan")[0]["title"] == careplan_resources(plan)[0]["title"]
    assert carecore_export_careplan(plan, None) == "cp9"
    assert fhir_server.store.current("CarePlan")[0]["meta"]["versionId"] == "2"


def test_options_default_source_is_not_a_server():
    assert not Options().source.startswith("http")


def test_one_patient_is_imported_from_a_server_with_outcomes(
    fhir_server, client, make_program, synthea_paths
):
    from carecore_fhir import import_bundle
    from carecore_fhir.source import import_from_server

    first, second = synthea_paths[:2]
    consumed = {
        "Patient",
        "Practitioner",
        "Condition",
        "Encounter",
        "Observation",
        "CarePlan",
        "Goal",
        "Organization",
    }
    _load(client, first, consumed)
    _load(client, second, consumed)
    patient_id = next(
        e["resource"]["id"]
        for e in json.loads(first.read_bytes())["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    from_server = make_program("server")
    report = import_from_server(from_server, client, patient_id=patient_id)
    assert report.refused == ()
    assert {o.resource for o in report.outcomes if o.kind == "Patient"} == {f"Patient/{patient_id}"}
    from_file = make_program("file")
    import_bundle(from_file, first.read_bytes(), source=first.name)
    for cls in (Condition, CarePlan, Observation, AdtEvent, Practitioner):
        with from_server.transaction("check") as tx:
            got = sorted(tx.all(cls), key=lambda v: v.id)
        with from_file.transaction("check") as tx:
            want = sorted(tx.all(cls), key=lambda v: v.id)
        assert got == want, cls.__name__
    again = import_from_server(from_server, client, patient_id=patient_id)
    assert {o.status for o in again.outcomes} <= {"unchanged", "duplicate", "skipped"}


def test_an_unknown_patient_on_the_server_is_one_refused_outcome(client, program):
    from carecore_fhir.source import import_from_server

    report = import_from_server(program, client, patient_id="nobody")
    (outcome,) = report.outcomes
    assert outcome.status == "refused"
    assert outcome.resource == "Patient/nobody"


def test_cli_pull_imports_from_the_server(
    fhir_server, client, tmp_path, monkeypatch, synthea_paths
):
    from click.testing import CliRunner

    from carecore.cli import make_app

    path = synthea_paths[0]
    _load(client, path, {"Patient", "Condition", "CarePlan", "Goal"})
    fhir_server.store.token = "s3cret"
    monkeypatch.setenv("EHR_TOKEN", "s3cret")
    db = f"sqlite:///{tmp_path / 'pull.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", db]).exit_code == 0
    result = CliRunner().invoke(
        make_app(),
        ["fhir", "pull", fhir_server.base, "--insecure", "--db", db, "--token-env", "EHR_TOKEN"],
    )
    assert result.exit_code == 0, result.output
    assert "CarePlan" in result.output
    conditions = sum(
        e["resource"]["resourceType"] == "Condition" for e in json.loads(path.read_bytes())["entry"]
    )
    from carecore.service import CareProgram

    with CareProgram.open(db) as program, program.transaction("check") as tx:
        assert len(tx.all(Condition)) == conditions
    result = CliRunner().invoke(
        make_app(),
        [
            "fhir",
            "pull",
            fhir_server.base,
            "--insecure",
            "--db",
            db,
            "--token-env",
            "NOT_SET_ANYWHERE",
        ],
    )
    assert result.exit_code == 2
    assert "NOT_SET_ANYWHERE" in result.output


def test_an_unreachable_server_is_retried_then_a_typed_error():
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    url = f"http://127.0.0.1:{port}/fhir"
    with (
        FhirClient(url, insecure=True, retries=2, sleep=sleeps, backoff=0.01) as c,
        pytest.raises(errors.StoreUnavailable) as caught,
    ):
        c.read("Patient", "p1")
    assert "3 tries" in str(caught.value)
    assert len(sleeps) == 2


def test_a_refusal_carries_the_servers_diagnostics(client):
    with pytest.raises(errors.InvalidValue) as caught:
        client.update({"resourceType": "Patient", "id": "a", "gender": "male"} | {"id": "a/b"})
    assert "400" in str(caught.value)
    with pytest.raises(errors.InvalidValue) as caught:
        client.request("PUT", "Patient/x", json={"resourceType": "Patient", "id": "y"})
    assert "resourceType and id must match the URL" in str(caught.value)


def test_client_arguments_are_checked():
    with pytest.raises(errors.InvalidValue):
        FhirClient("ftp://ehr.example/fhir")
    with pytest.raises(errors.InvalidValue):
        FhirClient("https://127.0.0.1/fhir", retries=-1)
