"""The FHIR source passes the EHR-source contract: server pages, duplicates, bad resources, re-import."""

from __future__ import annotations

import gzip
import json

import pytest
from carecore_fhir.source import FhirSource

from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples


def patient(n):
    return {
        "resourceType": "Patient",
        "id": f"p{n}",
        "gender": "female",
        "birthDate": f"1950-01-0{n % 9 + 1}",
        "name": [{"family": f"Family{n}", "given": [f"Given{n}"]}],
    }


def condition(n, *, code="44054006"):
    return {
        "resourceType": "Condition",
        "id": f"c{n}",
        "subject": {"reference": f"Patient/p{n}"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
    }


def bundle(path, resources):
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"fullUrl": f"{r['resourceType']}/{r['id']}", "resource": r} for r in resources
                ],
            }
        )
    )
    return str(path)


class TestFhirSourceContract(EhrSourceContract):
    @pytest.fixture
    def source(self):
        # Five of each type: three pages a type; the test server is http:// on loopback.
        return FhirSource(page_size=2, insecure=True)

    @pytest.fixture
    def samples(self, tmp_path, fhir_server):
        for n in range(5):
            fhir_server.store.put(patient(n))
            fhir_server.store.put(condition(n))
        no_code = {**condition(2), "code": {"text": "something"}}
        return EhrSourceSamples(
            paged=fhir_server.base,
            paged_values=10,
            duplicated=bundle(tmp_path / "twice.json", [patient(1), condition(1), condition(1)]),
            bad=bundle(tmp_path / "bad.json", [patient(1), condition(1), patient(2), no_code]),
            bad_refusals=1,
        )


def test_the_server_was_read_page_by_page(fhir_server):
    for n in range(5):
        fhir_server.store.put(patient(n))
    fhir_server.store.requests.clear()
    values = list(FhirSource(page_size=2, insecure=True).read(fhir_server.base))
    assert len(values) == 5
    pages = [path for method, path, _ in fhir_server.store.requests if "/Patient" in path]
    assert len(pages) == 3


def test_an_unreadable_location_is_one_refusal(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    (refusal,) = FhirSource().read(str(broken))
    assert refusal.where == str(broken)
    assert refusal.reason


def _gzipped(path, resources):
    """A bundle compressed with gzip, under a name that does not say so (read by content)."""
    plain = bundle(path, resources)
    data = gzip.compress(path.read_bytes())
    path.write_bytes(data)
    return plain


class TestFhirFolderContract(EhrSourceContract):
    """The same contract on files: a folder (read file by file, in name order) and gzip."""

    @pytest.fixture
    def source(self):
        return FhirSource()

    @pytest.fixture
    def samples(self, tmp_path):
        folder = tmp_path / "bundles"
        folder.mkdir()
        bundle(folder / "01.json", [patient(0), condition(0), patient(1), condition(1)])
        _gzipped(folder / "02.json.gz", [patient(2), condition(2), patient(3), condition(3)])
        bundle(folder / "03.json", [patient(4), condition(4)])
        (folder / "README.md").write_text("not a bundle")
        twice = tmp_path / "twice.json.gz"
        _gzipped(twice, [patient(1), condition(1), condition(1)])
        no_code = {**condition(2), "code": {"text": "something"}}
        return EhrSourceSamples(
            paged=str(folder),
            paged_values=10,
            duplicated=str(twice),
            bad=bundle(tmp_path / "bad.json", [patient(1), condition(1), patient(2), no_code]),
            bad_refusals=1,
        )


def test_a_folder_is_read_file_by_file_in_name_order(tmp_path):
    bundle(tmp_path / "b.json", [patient(2)])
    _gzipped(tmp_path / "a.json.gz", [patient(1)])
    ids = [v.id for v in FhirSource().read(str(tmp_path))]
    assert ids == ["p1", "p2"]


def test_carecore_import_reads_a_gzipped_synthea_bundle_and_a_folder(synthea_paths, tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app

    packed = tmp_path / "packed"
    packed.mkdir()
    for path in synthea_paths[:2]:
        (packed / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    run = CliRunner().invoke
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(make_app(), ["db", "init", db]).exit_code == 0
    one = str(packed / f"{synthea_paths[0].name}.gz")
    first = run(make_app(), ["import", "--source", "fhir", "--db", db, "--format", "json", one])
    assert first.exit_code in {0, 1}, first.output  # 1: a resource refused, printed by name
    (row,) = json.loads(first.output)
    assert row["added"] > 0
    both = run(
        make_app(), ["import", "--source", "fhir", "--db", db, "--format", "json", str(packed)]
    )
    assert both.exit_code in {0, 1}, both.output
    (row,) = json.loads(both.output)
    assert row["added"] > 0  # the second bundle
    assert row["skipped"] >= 1  # the first, stored already


def test_simulate_reads_a_population_from_a_gzipped_bundle(synthea_paths, tmp_path):
    from carecore.plugins import get_plugin_manager
    from carecore.simulation._panel import panel_from_ehr

    packed = tmp_path / f"{synthea_paths[0].name}.gz"
    packed.write_bytes(gzip.compress(synthea_paths[0].read_bytes()))
    import pendulum

    panel = panel_from_ehr(str(packed), as_of=pendulum.date(2026, 1, 1), pm=get_plugin_manager())
    assert len(panel.patients) == 1
