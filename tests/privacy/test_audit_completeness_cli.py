"""Every CLI command is classified: touching patient data or not; those that do leave rows naming patients.

The commands are read from the command tree (with every installed plugin), so
a command added later and not classified below fails
:func:`test_every_command_is_classified` with a message saying where to add it.
"""

from __future__ import annotations

import shutil
import sqlite3

import click
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

APP = make_app(get_plugin_manager())


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command under *group*, by its path of names."""
    found: list[tuple[str, ...]] = []
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        found += leaves(command, here) if isinstance(command, click.Group) else [here]
    return found


COMMANDS = leaves(APP)

#: Commands that touch patient data, with arguments to run each on a copy of the demo store.
#: ``{patient}``, ``{condition}``, ``{practitioner}`` and ``{out}`` are filled in;
#: ``single`` commands must name that one patient, the rest any patients they read.
RUN: dict[tuple[str, ...], list[str]] = {
    ("attest",): ["--by", "{practitioner}", "{condition}"],
    ("billing", "claims"): ["--month", "2026-05", "--format", "fhir", "--out", "{out}/c.json"],
    ("billing", "close"): ["--month", "2026-05"],
    ("export",): ["--out", "{out}/e", "--deidentify", "safe-harbor", "--key-file", "{key}"],
    ("fhir", "export"): ["{patient}", "--out", "{out}/p.json"],
    ("gaps",): [],
    ("meds", "adherence"): ["--from", "2026-04-01", "--to", "2026-06-30"],
    ("meds", "import-fills"): ["{fills}"],
    ("meds", "list"): ["{patient}"],
    ("readings", "record"): ["{patient}", "--code", "29463-7", "--value", "80", "--unit", "kg"],
    ("registry",): [],
    ("report",): ["--to", "2026-06", "--out", "{out}/r"],
    ("tcm", "list"): [],
    ("worklist",): ["--on", "2026-06-15"],
    ("tcm", "expire"): [],
    ("outbox", "run"): [],
}
SINGLE = {
    ("attest",),
    ("fhir", "export"),
    ("meds", "list"),
    ("meds", "import-fills"),
    ("readings", "record"),
}

#: Commands that touch patient data but are not run here, and why.
NOT_RUN: dict[tuple[str, ...], str] = {
    ("audit",): "reads the audit log itself (who saw what), not patient records",
    ("fhir", "import"): "writes what a FHIR Bundle holds (imports go through bulk loads)",
    ("fhir", "pull"): "reads a FHIR server over the network",
    ("hl7", "import"): "writes what an HL7 file holds (the feed goes through CareProgram.receive)",
    ("hl7", "listen"): "a network listener",
    ("import",): "writes what an EHR source holds (imports go through bulk loads)",
    ("meds", "reconcile"): "needs two medication lists (CareProgram.reconcile_medications)",
    ("outbox", "retry"): "requeues messages by id; CareProgram.emit is checked",
    ("outbox", "status"): "counts and ids of messages",
}

#: Commands that touch no patient data, and why.
NO_PATIENT_DATA: dict[tuple[str, ...], str] = {
    ("billing", "evaluate"): "evaluates a facts file; opens no store",
    ("db", "check"): "checks the schema, counts and the audit chain",
    ("db", "init"): "creates an empty store",
    ("db", "migrate"): "changes the schema",
    ("db", "set", "time-zone"): "sets the practice's time zone",
    ("demo",): "creates a new store of made-up patients",
    ("plugins",): "lists installed plugins",
    ("simulate",): "simulates a made-up population; opens no store",
}


def test_every_command_is_classified():
    tables = [set(RUN), set(NOT_RUN), set(NO_PATIENT_DATA)]
    unclassified = sorted(" ".join(p) for p in set(COMMANDS) - set().union(*tables))
    assert not unclassified, (
        f"carecore {', '.join(unclassified)}: classify it in "
        "tests/privacy/test_audit_completeness_cli.py (RUN with arguments whose audit rows "
        "are checked, NOT_RUN or NO_PATIENT_DATA with the reason)"
    )
    assert not set().union(*tables) - set(COMMANDS), "stale entries"
    assert sum(len(t) for t in tables) == len(set().union(*tables)), "classified twice"


@pytest.fixture
def store(demo_store, tmp_path):
    path = tmp_path / "demo.db"
    shutil.copy(demo_store.removeprefix("sqlite:///"), path)
    return path


def _query(path, sql, params=()):
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.parametrize("path", sorted(RUN), ids=" ".join)
def test_a_command_touching_patient_data_leaves_rows_naming_patients(path, store, tmp_path):
    ((patient, condition, practitioner),) = _query(
        store,
        "SELECT c.patient_id, c.id, e.billing_practitioner_id FROM conditions c "
        "JOIN enrollments e ON e.patient_id = c.patient_id ORDER BY c.id LIMIT 1",
    )
    ((last,),) = _query(store, "SELECT max(seq) FROM audit")
    key = tmp_path / "key.txt"
    key.write_text("k" * 32)
    fills = tmp_path / "fills.csv"
    fills.write_text(
        f"patient_id,filled_on,days_supply,drug_class,drug\n{patient},2026-05-02,30,statin,A\n"
    )
    values = {
        "{patient}": patient,
        "{condition}": condition,
        "{practitioner}": practitioner,
        "{out}": str(tmp_path),
        "{key}": str(key),
        "{fills}": str(fills),
    }
    args = []
    for template in RUN[path]:
        arg = template
        for mark, value in values.items():
            arg = arg.replace(mark, value)
        args.append(arg)
    result = CliRunner().invoke(
        APP,
        [*path, *args, "--db", f"sqlite:///{store}"],
        env={"CARECORE_ACTOR": "rn:ana", "CARECORE_ACTOR_ROLES": "system", "CARECORE_CONFIG": ""},
    )
    assert result.exit_code in {0, 1}, result.output
    named = {
        row[0]
        for row in _query(
            store,
            "SELECT patient_id FROM audit WHERE seq > ? AND actor = 'rn:ana' "
            "AND patient_id IS NOT NULL",
            (last,),
        )
    }
    if path in SINGLE:
        assert patient in named, named
    else:
        assert named, "no audit row names a patient"
