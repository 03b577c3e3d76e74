"""``--significant-risk-from`` (and ``significant_risk_from`` in carecore.toml): the close's switch.

p1's two chronic conditions (E11.65, I50.22) are in groups the condition
table places at significant risk, but no clinician attested them. Under
``table`` (the default) the month bills; under ``attested`` it does not.
"""

from __future__ import annotations

import csv

import pytest
from attrs import evolve
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient
from tests.billing.test_month_close import DR, RN, chronic, consent, minutes, plan, visit

APP = make_app(get_plugin_manager(entry_points=False))
VARS = ("CARECORE_DB", "CARECORE_SIGNIFICANT_RISK_FROM", "CARECORE_CONFIG")


def table_only_practice(url: str) -> None:
    """p1: CCM complete for March 2026, 45 staff minutes; its conditions are not attested."""
    with CareProgram.open(url, actor="test") as prog, prog.transaction("setup") as tx:
        tx.add(DR)
        tx.add(RN)
        tx.add(make_patient("p1"))
        for c in chronic("p1"):
            tx.add(evolve(c, significant_risk=False))
        tx.add(visit("p1"))
        tx.add(plan("p1"))
        tx.add(consent("p1"))
        for n, amount in enumerate((20, 25)):
            tx.add(minutes("p1", n, amount))


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    table_only_practice(url)
    return url


def _close(store, tmp_path, *extra, env=None):
    out = tmp_path / f"close{len(list(tmp_path.iterdir()))}"
    args = ["billing", "close", "--month", "2026-03", "--db", store, "--out", str(out)]
    result = CliRunner().invoke(APP, [*args, "--no-progress", *extra], env=env)
    assert result.exit_code == 0, result.output
    with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
        claims = sorted(r["code"] for r in csv.DictReader(handle))
    with (out / "denials.csv").open(newline="", encoding="utf-8") as handle:
        denied = sorted({r["code"] for r in csv.DictReader(handle) if r["patient_id"] == "p1"})
    return claims, denied


def test_the_table_bills_what_only_the_table_places_at_significant_risk(store, tmp_path):
    assert _close(store, tmp_path)[0] == ["99439", "99490"]
    assert _close(store, tmp_path, "--significant-risk-from", "table")[0] == ["99439", "99490"]


def test_attested_only_bills_nothing_without_an_attestation(store, tmp_path):
    claims, denied = _close(store, tmp_path, "--significant-risk-from", "attested")
    assert claims == []
    assert "99490" in denied


def test_the_settings_file_and_the_variable_set_the_switch(store, tmp_path):
    (tmp_path / "carecore.toml").write_text('significant_risk_from = "attested"\n', "utf-8")
    assert _close(store, tmp_path)[0] == []
    # The option wins over the file; the variable too.
    assert _close(store, tmp_path, "--significant-risk-from", "table")[0] == ["99439", "99490"]
    env = {"CARECORE_SIGNIFICANT_RISK_FROM": "TABLE"}
    assert _close(store, tmp_path, env=env)[0] == ["99439", "99490"]


def test_a_bad_value_is_refused_by_name(store, tmp_path):
    args = ["billing", "close", "--month", "2026-03", "--db", store, "--no-progress"]
    result = CliRunner().invoke(APP, [*args, "--significant-risk-from", "sometimes"])
    assert result.exit_code == 2
    assert "--significant-risk-from" in result.output
    assert "sometimes" in result.output
    assert "table, attested" in result.output
    (tmp_path / "carecore.toml").write_text('significant_risk_from = "maybe"\n', "utf-8")
    result = CliRunner().invoke(APP, args)
    assert result.exit_code == 2
    assert "carecore.toml:significant_risk_from" in result.output
