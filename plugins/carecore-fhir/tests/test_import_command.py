"""`carecore fhir import` and `carecore import --source fhir` on a store: zone, refusals, skips."""

from __future__ import annotations

import json
import sqlite3

import pytest
from carecore_fhir.source import FhirSource
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app


def patient(pid, birth="1950-01-02"):
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": birth,
        "name": [{"family": f"Family{pid}", "given": ["Given"]}],
    }


def condition(cid, pid):
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": f"Patient/{pid}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
    }


def claim(cid, pid):
    return {"resourceType": "Claim", "id": cid, "patient": {"reference": f"Patient/{pid}"}}


def bundle(path, resources):
    entries = [{"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return str(path)


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A SQLite store made with ``db init --time-zone America/Chicago``; no zone in the shell."""
    monkeypatch.delenv("CARECORE_TIME_ZONE", raising=False)
    monkeypatch.chdir(tmp_path)  # no carecore.toml
    path = tmp_path / "s.db"
    url = f"sqlite:///{path}"
    done = CliRunner().invoke(make_app(), ["db", "init", url, "--time-zone", "America/Chicago"])
    assert done.exit_code == 0, done.output
    return url, path


def import_one(tmp_path, command, url):
    """Run the import *command* on a bundle of one patient (``pa``) into the store at *url*."""
    file = bundle(tmp_path / "a.json", [patient("pa")])
    return CliRunner().invoke(make_app(), [*command, "--db", url, file])


def zones(path):
    with sqlite3.connect(path) as db:
        return dict(db.execute("select id, time_zone from patients").fetchall())


@pytest.mark.parametrize(
    "command",
    [["fhir", "import", "--no-progress"], ["import", "--source", "fhir"]],
    ids=["fhir-import", "import-source-fhir"],
)
def test_patients_without_a_zone_take_the_stored_practice_zone(store, tmp_path, command):
    url, path = store
    done = import_one(tmp_path, command, url)
    assert done.exit_code == 0, done.output
    assert set(zones(path).values()) == {"America/Chicago"}


@pytest.mark.parametrize(
    ("command", "zone"),
    [
        (["fhir", "import", "--no-progress", "--time-zone", "America/Denver"], "America/Denver"),
        (["import", "--source", "fhir", "-o", "time_zone=America/Denver"], "America/Denver"),
    ],
    ids=["fhir-import", "import-source-fhir"],
)
def test_an_option_overrides_the_stored_zone(store, tmp_path, command, zone):
    url, path = store
    done = import_one(tmp_path, command, url)
    assert done.exit_code == 0, done.output
    assert set(zones(path).values()) == {zone}


def test_without_a_stored_zone_patients_are_in_utc(tmp_path, monkeypatch):
    monkeypatch.delenv("CARECORE_TIME_ZONE", raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'u.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", url]).exit_code == 0
    done = import_one(tmp_path, ["import", "--source", "fhir"], url)
    assert done.exit_code == 0, done.output
    assert set(zones(tmp_path / "u.db").values()) == {"UTC"}


def test_a_refused_patient_and_its_dependants_are_named_and_later_files_import(store, tmp_path):
    url, path = store
    a = bundle(tmp_path / "a.json", [patient("pa")])
    bad = bundle(
        tmp_path / "bad.json", [patient("px1", birth="1950-13-45"), condition("cx", "px1")]
    )
    c = bundle(tmp_path / "c.json", [patient("pc")])
    done = CliRunner().invoke(
        make_app(), ["import", "--source", "fhir", "--db", url, "--format", "json", a, bad, c]
    )
    assert done.exit_code == 1, done.output
    rows = json.loads(done.output)
    assert [r["location"] for r in rows] == [a, bad, c]
    where = [x["where"] for x in rows[1]["refused"]]
    assert "Patient/px1" in where  # the real cause is named
    assert "patient px1" in where  # and its condition, which could not be stored without it
    assert rows[2]["added"] == 1
    assert len(zones(path)) == 2  # pa and pc


def test_carecore_import_reports_skipped_resources_by_reason(store, tmp_path):
    url, _ = store
    file = bundle(tmp_path / "a.json", [patient("pa"), claim("cl1", "pa"), claim("cl2", "pa")])
    done = CliRunner().invoke(make_app(), ["import", "--source", "fhir", "--db", url, file])
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].endswith("1 added, 0 already stored, 0 refused, 2 not used")
    assert any(line.startswith("  not used 2 Claim: ") for line in done.output.splitlines())
    as_json = CliRunner().invoke(
        make_app(), ["import", "--source", "fhir", "--db", url, "--format", "json", file]
    )
    (row,) = json.loads(as_json.output)
    (skip,) = row["not_used"]
    assert (skip["resource"], skip["count"]) == ("Claim", 2)
    assert skip["reason"]


@pytest.mark.parametrize(
    "command",
    [["fhir", "import", "--no-progress"], ["import", "--source", "fhir"]],
    ids=["fhir-import", "import-source-fhir"],
)
def test_the_shell_zone_comes_before_the_stored_one(store, tmp_path, monkeypatch, command):
    url, path = store
    monkeypatch.setenv("CARECORE_TIME_ZONE", "America/Denver")
    done = import_one(tmp_path, command, url)
    assert done.exit_code == 0, done.output
    assert set(zones(path).values()) == {"America/Denver"}


@pytest.mark.parametrize(
    "command",
    [
        ["fhir", "import", "--no-progress", "--time-zone", "Mars/Base"],
        ["import", "--source", "fhir", "-o", "time_zone=Mars/Base"],
    ],
    ids=["fhir-import", "import-source-fhir"],
)
def test_an_unknown_zone_is_refused_before_anything_is_read(store, tmp_path, command):
    url, path = store
    done = import_one(tmp_path, command, url)
    assert done.exit_code == 2, done.output
    assert "time_zone='Mars/Base': is not a known IANA time zone" in done.output.replace("-", "_")
    assert "refused" not in done.output
    assert zones(path) == {}


def test_the_source_refuses_an_unknown_zone_option_by_name():
    with pytest.raises(errors.InvalidValue) as raised:
        FhirSource().configured({"time_zone": "Mars/Base"})
    assert (raised.value.field, raised.value.value) == ("time_zone", "Mars/Base")


@pytest.mark.parametrize("missing", ["nodir/", "missing.json"])
@pytest.mark.parametrize(
    "command",
    [["fhir", "import", "--no-progress"], ["import", "--source", "fhir"]],
    ids=["fhir-import", "import-source-fhir"],
)
def test_a_location_that_does_not_exist_is_named_and_exits_2(store, command, missing):
    url, path = store
    done = CliRunner().invoke(make_app(), [*command, "--db", url, missing])
    assert done.exit_code == 2, done.output
    assert "does not exist" in done.output
    assert missing in done.output
    assert zones(path) == {}
