"""Hostile bundles: too deep, huge numbers. Each is refused by name; the other files import."""

from __future__ import annotations

import json

import pytest
from carecore_fhir.importer import read_bundle
from click.testing import CliRunner

from carecore import errors, limits
from carecore.cli import make_app

PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "gender": "female",
    "birthDate": "1950-03-01",
    "name": [{"family": "Lopez", "given": ["Ada"]}],
}


def nested(depth):
    """A Patient whose extension holds a list nested *depth* deep."""
    return (
        '{"resourceType": "Patient", "id": "deep", "extension": ' + "[" * depth + "]" * depth + "}"
    )


@pytest.mark.parametrize("depth", [150, 5000, 100_000])
def test_a_deep_bundle_is_refused_naming_the_limit(depth):
    """5000 deep raised RecursionError, which ended the whole import."""
    with pytest.raises(errors.InvalidInput) as info:
        read_bundle(nested(depth), source="deep.json")
    assert "json_depth=100" in str(info.value)
    assert "deep.json" in str(info.value)


def test_a_huge_number_is_refused_naming_the_limit():
    text = json.dumps(PATIENT)[:-1] + ', "multipleBirthInteger": ' + "7" * 5000 + "}"
    with pytest.raises(errors.InvalidInput) as info:
        read_bundle(text, source="big.json")
    assert "json_number_digits=100" in str(info.value)


def test_the_depth_limit_can_be_raised():
    previous = limits.configure(limits.Limits(json_depth=400))
    try:
        assert read_bundle(nested(150), source="deep.json").resources[0]["id"] == "deep"
    finally:
        limits.configure(previous)


def test_the_other_files_still_import(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(PATIENT))
    deep = tmp_path / "deep.json"
    deep.write_text(nested(5000))
    other = tmp_path / "other.json"
    other.write_text(json.dumps(PATIENT | {"id": "p2"}))
    db = f"sqlite:///{tmp_path / 'fhir.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", db]).exit_code == 0
    result = CliRunner().invoke(
        make_app(),
        ["fhir", "import", str(good), str(deep), str(other), "--db", db, "--no-progress"],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == 1, result.output  # a refused file, as the command documents
    assert "json_depth=100" in result.output
    assert result.output.count("imported") >= 1
    from carecore.model import Patient
    from carecore.service import CareProgram

    with CareProgram.open(db) as program, program.transaction("check") as tx:
        assert sorted(p.id for p in tx.all(Patient)) == ["p1", "p2"]
