"""The worklists, the registry and the month close decide under one switch: ``significant_risk_from``.

p1 and p3 have chronic conditions only the condition table places at
significant risk (no attestation); p2's are attested. p1 and p2 are
enrolled in CCM with 12 staff minutes in March; p3 is not enrolled (the
records of :func:`carecore.testing.records.attestation_month`). Under
``attested`` only p2 can bill: the worklist must advise minutes for p2
alone, ask for p3's attestation rather than offer enrollment, and the close
must bill exactly the patients whose advice was followed.
"""

from __future__ import annotations

import csv
import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import Coding, Condition
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient
from carecore.testing.records import attestation_month
from tests.registry.month_records import advice, ccm_records, practitioner, time_entry

APP = make_app(get_plugin_manager(entry_points=False))
TODAY = "2026-03-10"
VARS = ("CARECORE_DB", "CARECORE_SIGNIFICANT_RISK_FROM", "CARECORE_CONFIG")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    with CareProgram.open(url, actor="test") as program, program.transaction("setup") as tx:
        for record in attestation_month():
            tx.add(record)
    return url


def _run(*args):
    result = CliRunner().invoke(APP, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _worklist(store, *switch):
    data = json.loads(_run("worklist", "--db", store, "--on", TODAY, "--format", "json", *switch))
    return [item for lists in data.values() for item in lists["items"]]


def _advice(items):
    """What the worklist says will bill: patient -> (minutes to log, code), refused months left out."""
    return {
        i["patient_id"]: advice(i["detail"])
        for i in items
        if i["kind"] == "minutes-to-threshold" and "would still be refused" not in i["detail"]
    }


def _close(store, tmp_path, *switch):
    out = tmp_path / f"close-{'-'.join(switch) or 'default'}"
    _run(
        "billing",
        "close",
        "--month",
        "2026-03",
        "--db",
        store,
        "--out",
        str(out),
        "--no-progress",
        *switch,
    )
    with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
        return {(r["patient_id"], r["code"]) for r in csv.DictReader(handle)}


@pytest.mark.parametrize(
    ("switch", "billed"),
    [((), {"p1", "p2"}), (("--significant-risk-from", "attested"), {"p2"})],
)
def test_worklist_advice_is_what_the_close_bills(store, tmp_path, switch, billed):
    advised = _advice(_worklist(store, *switch))
    assert set(advised) == billed
    # The care team does what the worklist says; the close under the same switch bills that.
    with CareProgram.open(store, actor="test") as program, program.transaction("log") as tx:
        for pid, (minutes, _) in advised.items():
            tx.add(time_entry(f"{pid}-t2", pid, minutes, pendulum.Date(2026, 3, 10)))
    claims = _close(store, tmp_path, *switch)
    assert claims == {(pid, code) for pid, (_, code) in advised.items()}


def test_under_attested_the_worklist_asks_for_attestation_not_enrollment(store):
    kinds = {(i["patient_id"], i["kind"]) for i in _worklist(store)}
    assert ("p3", "eligible-not-enrolled") in kinds
    kinds = {
        (i["patient_id"], i["kind"])
        for i in _worklist(store, "--significant-risk-from", "attested")
    }
    assert ("p3", "needs-attestation") in kinds
    assert ("p3", "eligible-not-enrolled") not in kinds


def test_the_registry_and_the_settings_file_take_the_same_switch(store, tmp_path):
    def statuses(*switch):
        rows = json.loads(
            _run(
                "registry",
                "--db",
                store,
                "--program",
                "ccm",
                "--as-of",
                TODAY,
                "--format",
                "json",
                *switch,
            )
        )
        return {r["patient_id"]: r["status"] for r in rows}

    assert statuses() == {"p1": "eligible", "p2": "eligible", "p3": "eligible"}
    attested = {"p1": "needs attestation", "p2": "eligible", "p3": "needs attestation"}
    assert statuses("--significant-risk-from", "attested") == attested
    (tmp_path / "carecore.toml").write_text('significant_risk_from = "attested"\n', "utf-8")
    assert statuses() == attested
    assert set(_advice(_worklist(store))) == {"p2"}


@pytest.mark.parametrize("command", [["worklist"], ["registry"]])
def test_a_bad_switch_is_refused_by_name(store, command):
    result = CliRunner().invoke(APP, [*command, "--db", store, "--significant-risk-from", "x"])
    assert result.exit_code == 2
    assert "--significant-risk-from" in result.output


def _csv(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("switch", [(), ("--significant-risk-from", "attested")])
def test_the_report_shows_the_worklist_s_advice_and_the_registry_s_answer(store, tmp_path, switch):
    out = tmp_path / "report"
    _run(
        "report",
        "--db",
        store,
        "--out",
        str(out),
        "--from",
        "2026-03",
        "--to",
        "2026-03",
        "--as-of",
        TODAY,
        "--format",
        "json",
        *switch,
    )
    advised = {
        r["patient_id"]
        for r in _csv(out / "worklist.csv")
        if r["kind"] == "minutes-to-threshold" and "would still be refused" not in r["detail"]
    }
    assert advised == set(_advice(_worklist(store, *switch)))
    eligible = {
        r["patient_id"]
        for r in _csv(out / "eligibility.csv")
        if r["program"] == "CCM" and r["eligible"] == "true"
    }
    rows = json.loads(
        _run(
            "registry",
            "--db",
            store,
            "--program",
            "ccm",
            "--as-of",
            TODAY,
            "--format",
            "json",
            *switch,
        )
    )
    assert eligible == {r["patient_id"] for r in rows if r["status"] == "eligible"}
    assert eligible == ({"p2"} if switch else {"p1", "p2", "p3"})


def _one_attestation_away(pid: str) -> list[Condition]:
    """Hypertension (the table: significant risk), anemia and obesity (the table: chronic only)."""
    return [
        Condition(
            id=f"{pid}-c{i}",
            patient_id=pid,
            coding=Coding.icd10cm(code),
            onset=pendulum.Date(2020, 1, 1),
        )
        for i, code in enumerate(("I10", "D64.9", "E66.9"))
    ]


@pytest.fixture
def nearly(tmp_path, monkeypatch):
    """p4 (enrolled in CCM, 12 minutes in March) and p5 (not enrolled): one attestation away."""
    monkeypatch.chdir(tmp_path)
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'nearly.db'}"
    with CareProgram.open(url, actor="test") as program, program.transaction("setup") as tx:
        tx.add(practitioner())
        records = ccm_records("p4")
        records["conditions"] = _one_attestation_away("p4")
        for kind in ("patients", "conditions", "consents", "visits", "care_plans", "enrollments"):
            for record in records[kind]:
                tx.add(record)
        tx.add(time_entry("p4-t1", "p4", 12, pendulum.Date(2026, 3, 2)))
        tx.add(make_patient("p5"))
        for c in _one_attestation_away("p5"):
            tx.add(c)
    return url


def _registry(store, *switch):
    rows = json.loads(
        _run(
            "registry",
            "--db",
            store,
            "--program",
            "ccm",
            "--as-of",
            TODAY,
            "--format",
            "json",
            *switch,
        )
    )
    return {r["patient_id"]: r for r in rows}


@pytest.mark.parametrize("switch", [(), ("--significant-risk-from", "attested")])
def test_one_attestation_away_needs_attestation_in_either_mode(nearly, switch):
    rows = _registry(nearly, *switch)
    assert {pid: r["status"] for pid, r in rows.items()} == {
        "p4": "needs attestation",
        "p5": "needs attestation",
    }
    clinical = next(c for c in rows["p5"]["criteria"] if c["rule"] == "ccm.two_chronic_conditions")
    assert clinical["needs"] == "attestation"
    # The conditions an attestation could cover are named (anemia, obesity; and, when only an
    # attestation counts, the hypertension too).
    assert "D64.9" in clinical["detail"]
    assert "E66.9" in clinical["detail"]
    items = _worklist(nearly, *switch)
    (ask,) = [i for i in items if i["kind"] == "needs-attestation"]
    assert ask["patient_id"] == "p5"
    to_attest, _, counted = ask["detail"].partition("; counted already: ")
    assert "D64.9" in to_attest
    assert "E66.9" in to_attest
    # The hypertension counts by the table's answer: not one to attest. Under attested it is.
    assert ("I10" in counted) is not bool(switch)
    assert ("I10" in to_attest) is bool(switch)
    assert not [i for i in items if i["kind"] == "eligible-not-enrolled"]


def test_once_attested_the_worklist_advises_what_the_close_bills(nearly, tmp_path):
    # Before the attestation p4's month cannot bill: no advice, no claim.
    assert "p4" not in _advice(_worklist(nearly))
    assert _close(nearly, tmp_path) == set()
    _run("attest", "--db", nearly, "--by", "dr1", "p4-c1", "p5-c1")  # the anemia
    assert {pid: r["status"] for pid, r in _registry(nearly).items()} == {
        "p4": "eligible",
        "p5": "eligible",
    }
    items = _worklist(nearly)
    assert ("p5", "eligible-not-enrolled") in {(i["patient_id"], i["kind"]) for i in items}
    advised = _advice(items)
    assert set(advised) == {"p4"}
    with CareProgram.open(nearly, actor="test") as program, program.transaction("log") as tx:
        for pid, (minutes, _) in advised.items():
            tx.add(time_entry(f"{pid}-t2", pid, minutes, pendulum.Date(2026, 3, 10)))
    (tmp_path / "attested").mkdir()
    claims = _close(nearly, tmp_path / "attested")
    assert claims == {(pid, code) for pid, (_, code) in advised.items()}
