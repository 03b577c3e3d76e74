"""`carecore registry`: formats, filters, the practice's time zone, bad input."""

from __future__ import annotations

import csv
import io
import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import CodeSystem, Coding, Condition
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient


@pytest.fixture
def url(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with CareProgram.open(url, actor="test", plugin_manager=carecore_pm) as program:
        program.import_records(
            [
                make_patient("p1"),
                make_patient("p2"),
                Condition(
                    id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9"), significant_risk=True
                ),
                Condition(
                    id="c2", patient_id="p1", coding=Coding.icd10cm("I50.9"), significant_risk=True
                ),
                Condition(
                    id="c3",
                    patient_id="p2",
                    coding=Coding(system=CodeSystem.SNOMEDCT, code="38341003"),
                ),
            ],
            reason="load",
        )
    return url


def run(url, *args):
    return CliRunner().invoke(make_app(), ["registry", "--db", url, *args])


def test_json_table_and_csv_give_each_patients_answer(url, carecore_pm):
    rows = json.loads(
        run(url, "--program", "ccm", "--as-of", "2026-03-01", "--format", "json").output
    )
    assert [(r["patient_id"], r["status"]) for r in rows] == [
        ("p1", "eligible"),
        ("p2", "not eligible"),
    ]
    pcm = json.loads(
        run(url, "--program", "PCM", "--as-of", "2026-03-01", "--format", "json").output
    )
    # p2's hypertension (SNOMED CT) is at significant risk by the table (the default switch).
    assert [r["status"] for r in pcm] == ["eligible", "eligible"]
    table = run(url, "--program", "ccm", "--as-of", "2026-03-01").output
    assert "[met] ccm.two_chronic_conditions" in table
    assert table.splitlines()[-1] == "2 answer(s) on 2026-03-01: 1 eligible, 0 needing attestation"
    sheet = list(
        csv.DictReader(io.StringIO(run(url, "--format", "csv", "--as-of", "2026-03-01").output))
    )
    assert {(r["patient_id"], r["program"]) for r in sheet} >= {("p1", "CCM"), ("p2", "APCM")}
    assert all(r["reasons"] for r in sheet)


def test_json_and_csv_name_the_conditions_beside_their_codes(url):
    rows = json.loads(
        run(url, "--program", "ccm", "--as-of", "2026-03-01", "--format", "json").output
    )
    p1 = next(r for r in rows if r["patient_id"] == "p1")
    assert p1["conditions"] == ["E11.9", "I50.9"]  # the codes, as before
    icd10 = CodeSystem.ICD10CM.value
    assert p1["condition_names"] == [
        {"code": "E11.9", "system": icd10, "name": "Type 2 diabetes mellitus"},
        {"code": "I50.9", "system": icd10, "name": "Heart failure"},
    ]
    pcm = json.loads(
        run(url, "--program", "pcm", "--as-of", "2026-03-01", "--format", "json").output
    )
    (p2,) = [r for r in pcm if r["patient_id"] == "p2"]
    assert [(c["code"], c["system"]) for c in p2["condition_names"]] == [
        ("38341003", CodeSystem.SNOMEDCT.value)
    ]
    assert p2["condition_names"][0]["name"]
    sheet = list(
        csv.DictReader(
            io.StringIO(
                run(url, "--program", "ccm", "--as-of", "2026-03-01", "--format", "csv").output
            )
        )
    )
    p1_row = next(r for r in sheet if r["patient_id"] == "p1")
    assert p1_row["conditions"] == "E11.9; I50.9"
    assert p1_row["condition_names"] == "Type 2 diabetes mellitus (E11.9); Heart failure (I50.9)"


def test_status_filter(url):
    def only(status):
        rows = json.loads(
            run(url, "--status", status, "--format", "json", "--as-of", "2026-03-01").output
        )
        return {(r["patient_id"], r["program"]) for r in rows}

    assert only("not-eligible") == {("p2", "CCM"), ("p2", "BHI"), ("p1", "BHI")}
    # Attestation is asked only with the switch significant_risk_from set to ATTESTED.
    assert only("needs-attestation") == set()


def test_today_is_the_practices_stored_time_zone_by_default(url):
    done = CliRunner().invoke(make_app(), ["db", "set", "time-zone", url, "Pacific/Kiritimati"])
    assert done.exit_code == 0, done.output
    rows = json.loads(run(url, "--format", "json", "--program", "ccm").output)
    assert {r["as_of"] for r in rows} == {pendulum.now("Pacific/Kiritimati").date().isoformat()}


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--as-of", "2026-02-30"], "--as-of"), (["--program", "rpm"], "--program")],
)
def test_bad_input_exits_2(url, args, named):
    result = run(url, *args)
    assert result.exit_code == 2
    assert named in result.output
