"""`carecore fhir import` reads gzip-compressed bundles (``.json.gz``) as it reads plain ones."""

from __future__ import annotations

import gzip
import json

import pytest
from carecore_fhir import import_bundle
from click.testing import CliRunner

from carecore import limits
from carecore.cli import make_app


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    made = CliRunner().invoke(make_app(), ["db", "init", url])
    assert made.exit_code == 0, made.output
    return url


def _imported(output: str) -> str:
    """The summary's table rows (resource kinds and counts), without the file names."""
    return "\n".join(line for line in output.splitlines() if "│" in line)


def test_a_gzipped_synthea_bundle_imports_as_the_plain_one(store, synthea_paths, tmp_path):
    plain = synthea_paths[0]
    packed = tmp_path / f"{plain.name}.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    run = CliRunner().invoke
    first = run(make_app(), ["fhir", "import", "--db", store, "--no-progress", str(packed)])
    assert first.exit_code == 0, first.output
    assert "imported" in first.output
    # The same bundle uncompressed is now all stored already: nothing new, nothing refused.
    again = run(make_app(), ["fhir", "import", "--db", store, "--no-progress", str(plain)])
    assert again.exit_code == 0, again.output
    assert " 0 new" in again.output
    assert ", 0 already stored" not in again.output


def test_a_damaged_gzip_file_is_refused_by_name(store, tmp_path):
    damaged = tmp_path / "cut.json.gz"
    damaged.write_bytes(gzip.compress(b'{"resourceType": "Bundle", "entry": []}')[:-12])
    result = CliRunner().invoke(
        make_app(), ["fhir", "import", "--db", store, "--no-progress", str(damaged)]
    )
    assert result.exit_code == 1, result.output
    assert "cut.json.gz" in result.output
    assert "gzip" in result.output


def test_a_gzip_bundle_is_held_to_the_json_size_limit_once_unpacked(program_memory):
    text = json.dumps({"resourceType": "Bundle", "type": "collection", "entry": []})
    padded = text[:-1] + ' "pad": "' + " " * 5000 + '"}'
    packed = gzip.compress(padded.encode())
    assert len(packed) < 1000
    before = limits.configure(limits.Limits(json_bytes=2000))
    try:
        report = import_bundle(program_memory, packed, source="big.json.gz")
    finally:
        limits.configure(before)
    (outcome,) = report.outcomes
    assert outcome.status == "refused"
    assert "json_bytes=2000" in outcome.reason


@pytest.fixture
def program_memory():
    from carecore.service import CareProgram

    program = CareProgram.open("memory://")
    yield program
    program.close()
