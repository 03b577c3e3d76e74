"""Month close over the CSV pair: rows refused with their place, good rows closed, same results every way."""

from __future__ import annotations

import csv
import gc
import json
import random
import subprocess
import sys
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import _close, _columnar, cms_rule_set
from carecore.billing._close import (
    _LightParser,
    _parse_event,
    _with_practitioner,
    read_patients,
    run_close,
)
from carecore.billing.primitives import code_rule_id
from carecore.cli import make_app
from carecore.model import ServiceFamily, ServicePeriod
from carecore.plugins import get_plugin_manager

PATIENTS = """patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit
p1,dr1,MD,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
p2,dr1,MD,E11.65,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
p3,dr1,MD,E11.65;I10,,CCM=2025-11-03,true,2025-11-03
p4,dr1,XX,E11.65;I10,,,true,
"""
EVENTS = """patient_id,date,type,minutes,role,family,credential
p1,2026-01-06,time_entry,25,clinical_staff,CCM,RN
p1,2026-01-20,time_entry,25,clinical_staff,CCM,RN
p2,2026-01-06,time_entry,45,clinical_staff,CCM,RN
p3,2026-01-06,time_entry,ten,clinical_staff,CCM,RN
p3,2026-01-07,time_entry,30,clinical_staff,CCM,RN
p9,2026-01-07,time_entry,30,clinical_staff,CCM,RN
"""


def write(folder: Path, patients: str, events: str) -> tuple[Path, Path]:
    (folder / "patients.csv").write_text(patients)
    (folder / "events.csv").write_text(events)
    return folder / "patients.csv", folder / "events.csv"


def run_cli(*args: str):
    return CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)), ["billing", "close", *args]
    )


#: The CLI's engine options (tests here take the ``close_engine`` fixture of conftest.py).
ENGINES = ["reference", "auto"]  # auto is the columnar close when polars is installed


def test_bad_rows_are_reported_and_good_rows_closed(tmp_path, close_engine):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    out = tmp_path / "out"
    result = run_cli(
        "--engine",
        close_engine.option,
        "--month",
        "2026-01",
        "--patients",
        str(patients),
        "--events",
        str(events),
        "--out",
        str(out),
    )
    assert result.exit_code == 1
    assert f"refused: {patients}:5 column credential: cannot be read (got 'XX')" in result.output
    assert (
        f"refused: {events}:5 column minutes: expected a whole number (got 'ten')" in result.output
    )
    assert f"refused: {events}:7 column patient_id: not in patients.csv (got 'p9')" in result.output
    claims = list(csv.DictReader((out / "claims.csv").read_text().splitlines()))
    assert [(c["patient_id"], c["code"], c["units"]) for c in claims] == [
        ("p1", "99439", "1"),
        ("p1", "99490", "1"),
    ]
    assert json.loads((out / "claims.json").read_text())[0]["code"] == "99439"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["patients_evaluated"] == 3
    assert summary["rows_rejected"] == 3
    assert summary["rule_set"] == "cms-2026"
    packets = [
        json.loads(line) for line in (out / "audit" / "packets.jsonl").read_text().splitlines()
    ]
    assert [p["patient_id"] for p in packets] == ["p1"]
    assert packets[0]["schema"] == "carecore.audit-packet/3"
    # A CSV close has no consent or care-plan records beyond the dates: it says so.
    assert packets[0]["consent"] == {
        "CCM": {
            "obtained_on": "2025-11-03",
            "method": "not recorded",
            "obtained_by": "not recorded",
            "cost_sharing_explained": "not recorded",
            "revoked_on": "not recorded",
        }
    }
    assert packets[0]["care_plan"]["CCM"]["established_on"] == "2025-11-03"
    assert packets[0]["care_plan"]["CCM"]["status"] == "not recorded"
    assert {entry["credential"] for entry in packets[0]["time_log"]} == {"RN"}
    assert sum(entry["minutes"] for entry in packets[0]["time_log"]) == 50
    assert {entry["role"] for entry in packets[0]["time_log"]} == {"clinical_staff"}
    denials = {
        (d["patient_id"], d["code"], d["reason"])
        for d in csv.DictReader((out / "denials.csv").read_text().splitlines())
    }
    assert ("p2", "99490", "too_few_conditions") in denials
    assert ("p3", "99490", "no_consent") in denials


def test_unknown_column_is_an_error(tmp_path, close_engine):
    patients, events = write(tmp_path, PATIENTS, EVENTS.replace("credential", "credentail"))
    result = run_cli(
        "--engine",
        close_engine.option,
        "--month",
        "2026-01",
        "--patients",
        str(patients),
        "--events",
        str(events),
    )
    assert result.exit_code == 2
    assert "column credentail: unknown column" in result.output


def test_bad_month_and_missing_file(tmp_path):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    assert (
        run_cli(
            "--month", "2026-13", "--patients", str(patients), "--events", str(events)
        ).exit_code
        == 2
    )
    result = run_cli(
        "--month", "2026-01", "--patients", str(tmp_path / "nope.csv"), "--events", str(events)
    )
    assert result.exit_code == 2
    assert "nope.csv" in result.output


def generated(tmp_path: Path, patients: int, *, shuffle: bool = False) -> tuple[Path, Path]:
    bench = Path(__file__).resolve().parents[2] / "bench" / "gen_close.py"
    subprocess.run(
        [sys.executable, str(bench), str(tmp_path), "--patients", str(patients), "--seed", "3"],
        check=True,
        capture_output=True,
    )
    if shuffle:
        lines = (tmp_path / "events.csv").read_text().splitlines()
        body = lines[1:]
        random.Random(5).shuffle(body)
        (tmp_path / "events.csv").write_text("\n".join([lines[0], *body]) + "\n")
    return tmp_path / "patients.csv", tmp_path / "events.csv"


def outputs(folder: Path) -> dict[str, list[str]]:
    return {
        name: sorted((folder / name).read_text().splitlines())
        for name in ("claims.csv", "denials.csv", "audit/packets.jsonl", "summary.json")
    }


def test_parallel_and_unsorted_closes_match_the_plain_one(tmp_path, close_engine):
    patients_csv, events_csv = generated(tmp_path / "data", 600)
    month, rules = ServicePeriod.month(2026, 3), cms_rule_set(2026)
    single, _ = close_engine.close(
        patients_csv, events_csv, month, rules, tmp_path / "single", workers=1
    )
    double, _ = close_engine.close(
        patients_csv, events_csv, month, rules, tmp_path / "double", workers=2
    )
    assert single == double
    assert outputs(tmp_path / "single") == outputs(tmp_path / "double")
    assert json.loads((tmp_path / "double" / "claims.json").read_text())  # a valid JSON array
    _, shuffled_events = generated(tmp_path / "shuffled", 600, shuffle=True)
    shuffled, _ = close_engine.close(
        patients_csv, shuffled_events, month, rules, tmp_path / "shuffled-out", workers=2
    )
    assert shuffled == single
    assert single.patients_evaluated == 600
    assert single.claim_lines > 0


def test_fast_path_and_reference_agree_on_a_close(tmp_path, monkeypatch):
    """The whole close, with the fast path switched off, gives the same files."""
    patients_csv, events_csv = generated(tmp_path / "data", 300)
    patients, _ = read_patients(patients_csv)
    month, rules = ServicePeriod.month(2026, 3), cms_rule_set(2026)
    run_close(patients, events_csv, month, rules, tmp_path / "fast")
    from carecore.billing import _close as close_module

    monkeypatch.setattr(close_module._LightParser, "time_only", lambda self, rows, patient: None)
    monkeypatch.setattr(
        close_module,
        "_close_idle",
        lambda row, fast, month, rules: close_module._close_one(row, [], [], month, rules),
    )
    run_close(patients, events_csv, month, rules, tmp_path / "reference")
    fast, reference = outputs(tmp_path / "fast"), outputs(tmp_path / "reference")
    assert fast["claims.csv"] == reference["claims.csv"]
    assert fast["denials.csv"] == reference["denials.csv"]

    def strip(lines):
        return sorted(
            json.dumps({k: v for k, v in json.loads(x).items() if k != "evaluated_by"})
            for x in lines
        )

    assert strip(fast["audit/packets.jsonl"]) == strip(reference["audit/packets.jsonl"])


def test_read_patients_rejects_duplicates_and_bad_cells(tmp_path):
    text = PATIENTS + "p1,dr1,MD,E11.65,,,true,\np5,dr1,MD,E11.65:x,,,maybe,\n"
    (tmp_path / "p.csv").write_text(text)
    rows, problems = read_patients(tmp_path / "p.csv")
    assert set(rows) == {"p1", "p2", "p3"}
    where = {(p.line, p.column) for p in problems}
    assert (5, "credential") in where
    assert (6, "patient_id") in where
    assert (7, "conditions") in where
    with pytest.raises(errors.NotFound):
        read_patients(tmp_path / "missing.csv")


def test_audit_packets_carry_the_rule_set_and_each_codes_rule_and_sources(tmp_path, close_engine):
    patients_csv, events_csv = generated(tmp_path / "data", 400)
    month, rules = ServicePeriod.month(2026, 3), cms_rule_set(2026)
    close_engine.close(patients_csv, events_csv, month, rules, tmp_path / "out")
    checked = 0
    for text in (tmp_path / "out" / "audit" / "packets.jsonl").read_text().splitlines():
        packet = json.loads(text)
        assert packet["schema"] == "carecore.audit-packet/3"
        assert packet["rule_set"] == {
            "id": rules.id,
            "year": rules.year,
            "version": rules.version,
            "payer": rules.payer,
        }
        for line in packet["claim_lines"]:
            # The rule id, as `billing evaluate` JSON gives it; the title beside it.
            assert line["rule"] == code_rule_id(ServiceFamily(line["family"]), line["code"])
            assert line["rule_title"] == rules.rule(line["code"]).summary
            assert line["sources"] == list(rules.rule(line["code"]).sources)
            assert line["sources"]
        for denial in packet["explanation"]["denials"]:
            assert denial["rule"]
            assert denial["sources"]
        for family in {line["family"] for line in packet["claim_lines"]}:
            assert packet["consent"][family]["method"] == "not recorded"
            assert packet["care_plan"][family]["history"] == "not recorded"
        checked += 1
    assert checked > 50


# -- event rows read once (the parser's cache) -------------------------------------------

_ROW_CELLS = {  # mostly good values, so that most rows read cleanly and repeat
    "date": ["2026-03-02"] * 3 + ["2026-3-2", ""],
    "type": ["time_entry"] * 3 + ["device_readings"] * 2 + ["discharge", "bogus", " time_entry "],
    "minutes": ["25"] * 4 + ["ten", "0"],
    "role": ["clinical_staff"] * 3 + ["physician", "doctor"],
    "credential": ["", "RN", "RN", "XX"],
    "practitioner": ["", "", "", " ", "dr9"],
    "family": ["CCM", "RPM", "RPM", ""],
    "interactive": ["", "true", "true", "yes"],
    "days_with_data": ["16", "16", "x", ""],
    "period_start": ["2026-03-01"] * 3 + [""],
    "period_end": ["2026-03-28"] * 3 + [""],
    "device": ["bp_cuff", "bp_cuff", ""],
    "setting": [""] * 4 + ["inpatient_acute"],
}


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.fixed_dictionaries({name: st.sampled_from(v) for name, v in _ROW_CELLS.items()}),
            st.sampled_from(["p1", "p2", "p3"]),
            st.sampled_from(["dr1", "dr2"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_event_rows_read_once_give_what_reading_each_row_gives(rows):
    # The close reads each distinct row once; every row must still give exactly what
    # reading it on its own gives: its own fallback practitioner, its own line in problems.
    # The columnar close's workers key the cache by the row's text without patient_id.
    light, by_text = _LightParser(), _LightParser()
    file = Path("events.csv")
    # Each row twice, with the other fallback practitioner the second time.
    other = {"dr1": "dr2", "dr2": "dr1"}
    twice = [(c, pid, who) for c, pid, dr in rows for who in (dr, other[dr])]
    for line, (cells, pid, practitioner) in enumerate(twice, start=2):
        row = {"patient_id": pid, **cells}
        expected = _parse_event(file, line, row, practitioner)
        assert light.event(file, line, row, practitioner) == expected
        text = ",".join(row.values())
        keyed = by_text.event_by_text(
            file,
            line,
            text[len(pid) + 1 :],
            lambda row=row: dict(row),
            row["practitioner"],
            row["type"],
            practitioner,
        )
        assert keyed == expected


def test_a_repeated_row_takes_each_patients_practitioner():
    light = _LightParser()
    row = {
        "patient_id": "p1",
        "date": "2026-03-02",
        "type": "time_entry",
        "minutes": "25",
        "role": "clinical_staff",
        "family": "RPM",
        "practitioner": "",
    }
    first, _ = light.event(Path("e.csv"), 2, row, "dr1")
    second, _ = light.event(Path("e.csv"), 3, {**row, "patient_id": "p2"}, "dr2")
    named, _ = light.event(Path("e.csv"), 4, {**row, "practitioner": "dr9"}, "dr2")
    assert (first.practitioner, second.practitioner, named.practitioner) == ("dr1", "dr2", "dr9")
    assert len(light.events) == 2
    # The copy for another practitioner is the event evolve gives, its practitioner checked.
    assert second == attrs.evolve(first, practitioner="dr2")
    with pytest.raises(errors.InvalidValue):
        _with_practitioner(first, " ")


def test_a_failed_close_closes_its_files_and_writes_no_summary(tmp_path, monkeypatch):
    from carecore.billing import _close as close

    patients_csv, events_csv = generated(tmp_path / "data", 50)
    patients, _ = read_patients(patients_csv)
    written = []

    def add(self, month):
        written.append(month)
        if len(written) == 20:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(close.CloseWriter, "add", add)
    with pytest.raises(OSError, match="No space left"):
        run_close(
            patients, events_csv, ServicePeriod.month(2026, 3), cms_rule_set(2026), tmp_path / "out"
        )
    # Unclosed files would be reported by pytest; no summary means the close did not finish.
    assert (tmp_path / "out" / "claims.csv").exists()
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_columnar_close_collects_garbage_rarely_and_restores_the_setting(tmp_path, monkeypatch):
    pytest.importorskip("polars")
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    seen = []

    def failing(*_args):
        seen.append(gc.get_threshold())
        raise RuntimeError

    before = gc.get_threshold()
    monkeypatch.setattr(_columnar, "_close", failing)
    with pytest.raises(RuntimeError):
        _columnar.close_columnar(
            patients, events, ServicePeriod.month(2026, 1), cms_rule_set(2026), tmp_path / "out"
        )
    assert seen == [_close.CLOSE_GC_THRESHOLDS] != [before]
    assert gc.get_threshold() == before
