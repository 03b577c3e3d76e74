"""The command line records who is working: carecore --actor, CARECORE_ACTOR, else the login name."""

from __future__ import annotations

import getpass
import json
import shutil

import pytest
from click.testing import CliRunner

from carecore.cli import make_app


@pytest.fixture
def url(demo_store, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def _actions_of(url, actor):
    result = CliRunner().invoke(
        make_app(), ["audit", "--actor", actor, "--db", url, "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("args", "env", "actor"),
    [
        (["--actor", "rn:ana"], {}, "rn:ana"),
        ([], {"CARECORE_ACTOR": "md:ruiz"}, "md:ruiz"),
        (["--actor", "rn:ana"], {"CARECORE_ACTOR": "md:ruiz"}, "rn:ana"),
    ],
)
def test_the_actor_comes_from_the_option_or_the_environment(url, args, env, actor):
    # A named actor is held to the access policy: this one may read every record.
    env = {**env, "CARECORE_ACTOR_ROLES": "system"}
    result = CliRunner().invoke(make_app(), [*args, "tcm", "list", "--db", url], env=env)
    assert result.exit_code == 0, result.output
    rows = _actions_of(url, actor)
    assert any(r["action"] == "bulk-read" for r in rows)  # the list read the episodes


def test_without_either_the_login_name_is_recorded(url, monkeypatch):
    monkeypatch.delenv("CARECORE_ACTOR", raising=False)
    result = CliRunner().invoke(make_app(), ["registry", "--db", url])
    assert result.exit_code == 0, result.output
    assert _actions_of(url, f"os-user:{getpass.getuser()}")
    assert _actions_of(url, "carecore-cli") == []


def test_fhir_export_records_the_actor(url):
    pytest.importorskip("carecore_fhir")
    patients = _actions_of(url, "carecore-demo")
    pid = next(r["patient_id"] for r in patients if r["patient_id"])
    result = CliRunner().invoke(
        make_app(),
        ["--actor", "integration:hie", "fhir", "export", pid, "--db", url],
        env={"CARECORE_ACTOR_ROLES": "system"},
    )
    assert result.exit_code == 0, result.output
    rows = _actions_of(url, "integration:hie")
    assert pid in {r["patient_id"] for r in rows}
    assert _actions_of(url, "fhir-export") == []


def test_no_actor_named_runs_as_the_login_name(url, monkeypatch):
    monkeypatch.delenv("CARECORE_ACTOR", raising=False)
    result = CliRunner().invoke(make_app(), ["tcm", "list", "--db", url])
    assert result.exit_code == 0, result.output
    assert _actions_of(url, f"os-user:{getpass.getuser()}")


def test_a_blank_actor_is_bad_input_and_nothing_is_read(url, monkeypatch):
    monkeypatch.delenv("CARECORE_ACTOR", raising=False)
    before = len(_actions_of(url, f"os-user:{getpass.getuser()}"))
    result = CliRunner().invoke(make_app(), ["--actor", "  ", "tcm", "list", "--db", url])
    assert result.exit_code == 2, result.output
    assert "--actor" in result.output
    assert len(_actions_of(url, f"os-user:{getpass.getuser()}")) == before


@pytest.mark.parametrize(
    "command",
    [["worklist", "--on", "2026-06-15"], ["report", "--to", "2026-06", "--out", "{out}"]],
    ids=lambda c: c[0],
)
def test_worklist_and_report_record_the_actor(url, command, tmp_path):
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    result = CliRunner().invoke(
        make_app(),
        ["--actor", "cm:lee", *args, "--db", url],
        env={"CARECORE_ACTOR_ROLES": "system"},
    )
    assert result.exit_code == 0, result.output
    assert any(r["action"] == "bulk-read" for r in _actions_of(url, "cm:lee"))
