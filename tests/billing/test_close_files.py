"""close_files (what `billing close` runs), its settings, and the worker runner's state."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.billing import close_files, cms_rule_set
from carecore.cli import make_app
from carecore.model import ServicePeriod
from carecore.plugins import get_plugin_manager

from .test_close import EVENTS, PATIENTS, write

MONTH = ServicePeriod.month(2026, 1)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"engine": "fast"}, "engine"),
        ({"workers": 0}, "workers"),
        ({"workers": True}, "workers"),
        ({"on_progress": 3}, "on_progress"),
        ({"month": "2026-01"}, "month"),
        ({"rules": "cms-2026"}, "rules"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path, settings, field):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    args = {"month": MONTH, "rules": cms_rule_set(2026), **settings}
    month, rules = args.pop("month"), args.pop("rules")
    with pytest.raises(errors.InvalidValue) as raised:
        close_files(patients, events, month, rules, tmp_path / "out", **args)
    assert raised.value.field == field


def test_the_cli_closes_through_close_files(tmp_path, monkeypatch):
    from carecore.billing import _close as close_module

    patients, events = write(tmp_path, PATIENTS, EVENTS)
    calls = []
    real = close_module.close_files

    def spy(*args, **kwargs):
        calls.append(kwargs["engine"])
        return real(*args, **kwargs)

    monkeypatch.setattr(close_module, "close_files", spy)
    result = CliRunner().invoke(
        make_app(get_plugin_manager(entry_points=False)),
        [
            *("billing", "close", "--month", "2026-01", "--patients", str(patients)),
            *("--events", str(events), "--engine", "reference", "--no-progress"),
        ],
    )
    assert result.exit_code == 1, result.output  # the file has refused rows
    assert calls == ["reference"]


def test_progress_reports_every_patient(tmp_path, close_engine):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    seen: list[tuple[int, int | None]] = []
    summary, _ = close_engine.close(
        patients,
        events,
        MONTH,
        cms_rule_set(2026),
        None,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert summary.patients_evaluated == 3
    # Counts never go back, and the last says every patient was closed; the reference
    # close knows the total from patients.csv, the columnar close learns it on the way.
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1][0] == 3
    assert seen[-1][1] in {3, None}


def test_each_patient_s_lines_carry_their_own_diagnoses(tmp_path, close_engine):
    """Two months of the same canonical form (one cached engine result) keep their own codes."""
    import csv
    import json

    patients = (
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
        "p2,dr1,J44.9;N18.4,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
    )
    events = (
        "patient_id,date,type,minutes,role,family\n"
        "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n"
        "p2,2026-01-06,time_entry,25,clinical_staff,CCM\n"
    )
    p, e = write(tmp_path, patients, events)
    close_engine.close(p, e, MONTH, cms_rule_set(2026), tmp_path / "out")
    with (tmp_path / "out" / "claims.csv").open(newline="") as handle:
        rows = {r["patient_id"]: r["diagnoses"] for r in csv.DictReader(handle)}
    assert rows == {"p1": "E11.65;I10", "p2": "J44.9;N18.4"}
    claims = json.loads((tmp_path / "out" / "claims.json").read_text())
    assert {c["patient_id"]: c["diagnoses"] for c in claims} == {
        "p1": ["E11.65", "I10"],
        "p2": ["J44.9", "N18.4"],
    }
    packets = [
        json.loads(line)
        for line in (tmp_path / "out" / "audit" / "packets.jsonl").read_text().splitlines()
    ]
    assert {p["patient_id"]: p["claim_lines"][0]["diagnoses"] for p in packets} == {
        "p1": ["E11.65", "I10"],
        "p2": ["J44.9", "N18.4"],
    }


def test_a_code_with_no_listed_fee_has_no_amount_not_zero(tmp_path, close_engine):
    """99427 has no listed fee in 2026: summary.json says null and counts its lines apart."""
    import json

    patients = (
        "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
        "p1,dr1,I10:6,PCM=2025-11-03,PCM=2025-11-03,2025-11-03\n"
    )
    events = (
        "patient_id,date,type,minutes,role,family\n"
        "p1,2026-01-06,time_entry,30,clinical_staff,PCM\n"
        "p1,2026-01-08,time_entry,35,clinical_staff,PCM\n"
    )
    p, e = write(tmp_path, patients, events)
    summary, _ = close_engine.close(p, e, MONTH, cms_rule_set(2026), tmp_path / "out")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    amounts = {c["code"]: c["amount"] for c in written["codes"]}
    assert amounts["99427"] is None
    assert amounts["99426"] not in {None, "0"}
    assert written["unpriced_lines"] == summary.unpriced_lines == 1
    assert written["expected_revenue"] == amounts["99426"]
