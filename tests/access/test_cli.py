"""On the demo store, the command line's actor is held to the access policy (exit 3 when refused)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import CareTeam, Credential, Patient, Practitioner
from carecore.storage import open_store
from carecore.testing._store_contract import AT

CLEAN = {"CARECORE_ACTOR": "", "CARECORE_ACTOR_ROLES": "", "CARECORE_CONFIG": ""}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo store (10 patients, 3 months) and, for one patient, a nurse on its team and one not."""
    pytest.importorskip("carecore_fhir", reason="the demo needs the carecore-fhir plugin")
    pytest.importorskip("carecore_hl7v2", reason="the demo needs the carecore-hl7v2 plugin")
    folder = tmp_path_factory.mktemp("access-demo")
    url = f"sqlite:///{folder / 'demo.db'}"
    args = ["demo", "--patients", "10", "--months", "3", "--last-month", "2026-06"]
    made = CliRunner().invoke(
        make_app(), [*args, "--no-progress", "--db", url, "--out", str(folder / "r")], env=CLEAN
    )
    assert made.exit_code == 0, made.output
    store = open_store(url)
    try:
        with store.transaction(actor="test", reason="pick a patient", at=AT) as tx:
            teams = tx.all(CareTeam)
            names = {p.id: (p.given_name, p.family_name) for p in tx.all(Patient)}
            nurses = {p.id for p in tx.all(Practitioner) if p.credential is Credential.RN}
    finally:
        store.close()
    members = {t.patient_id: {m.practitioner_id for m in t.members} for t in teams}
    cared = [p for p, ms in sorted(members.items()) if nurses - ms and ms & nurses]
    assert cared, "the demo has no patient whose care team holds one of its nurses"
    pid = cared[0]
    return {
        "url": url,
        "patient": pid,
        "name": names[pid],
        "own": min(members[pid] & nurses),
        "other": min(nurses - members[pid]),
    }


@pytest.fixture
def store(demo, tmp_path):
    """A copy of the demo store (the tests add audit rows)."""
    path = tmp_path / "demo.db"
    shutil.copy(demo["url"].removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def run(*args, env=None):
    return CliRunner().invoke(make_app(), list(args), env={**CLEAN, **(env or {})})


def denied_rows(url, pid):
    result = run("audit", "--patient", pid, "--db", url, "--format", "json")
    assert result.exit_code == 0, result.output
    return [r for r in json.loads(result.output) if r["action"] == "denied"]


def test_a_nurse_outside_the_care_team_may_not_export_the_patient(demo, store):
    pid = demo["patient"]
    result = run("--actor", demo["other"], "fhir", "export", pid, "--db", store)
    assert result.exit_code == 3, result.output
    assert f"actor='{demo['other']}': may not export Patient of patient {pid}" in result.output
    given, family = demo["name"]
    assert given not in result.output
    assert family not in result.output
    assert '"resourceType"' not in result.output  # nothing of the record was written
    rows = denied_rows(store, pid)
    assert [(r["actor"], r["detail"]) for r in rows] == [(demo["other"], "export")]


def test_the_patients_care_manager_may(demo, store):
    result = run("--actor", demo["own"], "fhir", "export", demo["patient"], "--db", store)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resourceType"] == "Bundle"


@pytest.mark.parametrize(
    "how",
    [
        lambda a: (["--actor", a], {}),
        lambda a: ([], {"CARECORE_ACTOR": a}),
    ],
    ids=["option", "environment"],
)
def test_the_actor_is_refused_however_it_is_named(demo, store, how):
    args, env = how(demo["other"])
    result = run(*args, "fhir", "export", demo["patient"], "--db", store, env=env)
    assert result.exit_code == 3, result.output


def test_the_settings_file_names_the_actor_and_its_roles(demo, store, tmp_path):
    config = tmp_path / "carecore.toml"
    config.write_text(f'actor = "{demo["other"]}"\n', encoding="utf-8")
    refused = run("--config", str(config), "fhir", "export", demo["patient"], "--db", store)
    assert refused.exit_code == 3, refused.output
    config.write_text('actor = "billing:kim"\nactor_roles = "billing"\n', encoding="utf-8")
    # Billing reads what a close reads, for every patient, and exports nothing.
    closed = run("--config", str(config), "billing", "close", "--month", "2026-05", "--db", store)
    assert closed.exit_code == 0, closed.output
    export = run("--config", str(config), "fhir", "export", demo["patient"], "--db", store)
    assert export.exit_code == 3, export.output


def test_someone_named_who_is_no_practitioner_may_do_nothing(demo, store):
    result = run("--actor", "mallory", "fhir", "export", demo["patient"], "--db", store)
    assert result.exit_code == 3, result.output
    listing = run("--actor", "mallory", "tcm", "list", "--db", store)
    assert listing.exit_code == 3, listing.output


def test_roles_from_the_environment(demo, store):
    env = {"CARECORE_ACTOR_ROLES": "researcher"}
    result = run("--actor", "study-1", "fhir", "export", demo["patient"], "--db", store, env=env)
    assert result.exit_code == 3, result.output
    bad = run("--actor", "x", "tcm", "list", "--db", store, env={"CARECORE_ACTOR_ROLES": "boss"})
    assert bad.exit_code == 2, bad.output
    assert "CARECORE_ACTOR_ROLES='boss'" in bad.output


def test_with_no_one_named_the_login_account_acts(demo, store):
    result = run("fhir", "export", demo["patient"], "--db", store)
    assert result.exit_code == 0, result.output


def test_a_care_managers_worklist_holds_only_their_patients(demo, store):
    result = run(
        "--actor", demo["own"], "worklist", "--on", "2026-06-15", "--db", store, "--format", "json"
    )
    assert result.exit_code == 0, result.output
    lists = json.loads(result.output)
    seen = {i["patient_id"] for wl in lists.values() for i in wl["items"]}
    everyone = run("worklist", "--on", "2026-06-15", "--db", store, "--format", "json")
    assert everyone.exit_code == 0, everyone.output
    all_seen = {i["patient_id"] for wl in json.loads(everyone.output).values() for i in wl["items"]}
    assert seen < all_seen


def test_the_outbox_works_as_the_named_actor(store):
    refused = run("--actor", "mallory", "outbox", "status", "--db", store)
    assert refused.exit_code == 3, refused.output
    env = {"CARECORE_ACTOR_ROLES": "admin"}
    allowed = run("--actor", "ops:kim", "outbox", "status", "--db", store, env=env)
    assert allowed.exit_code == 0, allowed.output


def test_no_command_records_a_fixed_actor():
    """Commands act as the command line's actor; only the demo's synthetic practice has its own."""
    root = Path(__file__).resolve().parents[2]
    sources = [
        *sorted((root / "src" / "carecore").glob("_cli_*.py")),
        *sorted((root / "plugins").glob("*/src/*/cli.py")),
    ]
    fixed = [
        f"{path.relative_to(root)}: {match.group(0)}"
        for path in sources
        if path.name != "_cli_commands.py"  # carecore demo builds its own synthetic practice
        for match in re.finditer(r"CareProgram\.open\([^)]*actor=\"[^\"]*\"", path.read_text())
    ]
    assert fixed == []


def test_only_an_admin_named_manages_the_store(store, tmp_path):
    refused = run("--actor", "rn-park", "db", "check", store)
    assert refused.exit_code == 3, refused.output
    assert "may not admin Store" in refused.output
    new = tmp_path / "new.db"
    made = run("--actor", "mallory", "db", "init", f"sqlite:///{new}")
    assert made.exit_code == 3, made.output
    assert not new.exists()  # refused before anything was created
    admin = {"CARECORE_ACTOR_ROLES": "admin"}
    assert run("--actor", "it:sam", "db", "check", store, env=admin).exit_code == 0
    assert run("db", "check", store).exit_code == 0  # no one named: the login account
