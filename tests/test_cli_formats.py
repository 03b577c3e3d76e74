"""Every command that prints records takes ``--format table|json|csv``.

The commands are read from the command tree: a command with a ``--format``
option must offer the three formats, and the commands known to print
records must have one. Each is then run on a small demo store in each
format: JSON parses, and CSV parses with the csv module, with a header row.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import click
import pendulum
import pytest
from click.testing import CliRunner

from carecore._cli_common import FORMATS
from carecore.cli import make_app
from carecore.model import (
    Credential,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Practitioner,
)
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram

APP = make_app(get_plugin_manager())

#: The commands that print records, and what each needs besides ``--db``.
RECORD_COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("plugins",): [],
    ("audit",): ["--db", "{db}", "--patient", "{patient}"],
    ("billing", "evaluate"): ["{scenarios}"],
    ("db", "check"): ["{db}"],
    ("gaps",): ["--db", "{db}", "--all"],
    ("import",): ["--db", "{db}", "--source", "fhir", "{bundle}"],
    ("meds", "adherence"): ["--db", "{db}", "--from", "2026-01-01", "--to", "2026-06-30"],
    ("meds", "list"): ["{patient}", "--db", "{db}"],
    ("meds", "reconcile"): ["{patient}", "--db", "{db}"],
    ("outbox", "status"): ["--db", "{db}"],
    ("readings", "record"): [
        *("{patient}", "--db", "{db}", "--code", "29463-7", "--value", "80", "--unit", "kg")
    ],
    ("registry",): ["--db", "{db}", "--as-of", "2026-06-30"],
    ("report",): ["--db", "{db}", "--to", "2026-06", "--out", "{out}"],
    ("simulate",): ["{study}", "--replications", "1", "--no-progress"],
    ("tcm", "list"): ["--db", "{db}", "--all"],
    ("worklist",): ["--db", "{db}", "--on", "2026-06-15"],
}

#: Commands whose --format is not about printing records, and why.
OTHER_FORMATS = {
    # The claim file's format (x12, fhir): the command writes a file and prints a total.
    ("billing", "claims"),
}


def leaves(group: click.Group, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], click.Command]:
    found: dict[tuple[str, ...], click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found |= leaves(command, (*path, name))
        else:
            found[(*path, name)] = command
    return found


COMMANDS = leaves(APP)


def format_choices(command: click.Command) -> list[str] | None:
    option = next((p for p in command.params if "--format" in getattr(p, "opts", ())), None)
    if option is None:
        return None
    if not isinstance(option.type, click.Choice):
        return ["(any)"]  # a free-form --format (billing claims: the claim file's format)
    return list(option.type.choices)


def test_every_command_with_a_format_prints_records_in_all_three():
    with_format = {path for path, command in COMMANDS.items() if format_choices(command)}
    # A new command with --format must be listed above (and so be run below).
    assert with_format - OTHER_FORMATS == set(RECORD_COMMANDS) & set(COMMANDS)
    for path in with_format - OTHER_FORMATS:
        choices = format_choices(COMMANDS[path])
        assert choices is not None
        assert set(FORMATS) <= set(choices), path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A small demo store and the files the commands read."""
    pytest.importorskip("carecore_fhir", reason="the demo needs the carecore-fhir plugin")
    pytest.importorskip("carecore_hl7v2", reason="the demo needs the carecore-hl7v2 plugin")
    folder = tmp_path_factory.mktemp("formats")
    url = f"sqlite:///{folder / 'demo.db'}"
    args = ["demo", "--patients", "10", "--months", "3", "--last-month", "2026-06", "--no-progress"]
    made = CliRunner().invoke(APP, [*args, "--db", url, "--out", str(folder / "r")])
    assert made.exit_code == 0, made.output
    audit = CliRunner().invoke(
        APP, ["audit", "--db", url, "--actor", "carecore-demo", "--format", "json"]
    )
    patient = next(r["patient_id"] for r in json.loads(audit.output) if r["patient_id"])
    # A discharge list beside the practice's, so that there is something to reconcile.
    program = CareProgram.open(url, actor="test", create=False)
    with program.transaction("a discharge medication list") as tx:
        tx.add(
            MedicationStatement(
                id="formats-d1",
                patient_id=patient,
                source=MedicationSource.DISCHARGE_SUMMARY,
                rxnorm="310429",
                text="Furosemide 20 MG",
                dose="20 mg",
                status=MedicationStatus.ACTIVE,
                start=pendulum.Date(2026, 6, 1),
                recorded_on=pendulum.Date(2026, 6, 1),
            )
        )
        # Who reconciles (meds reconcile --by) is a practitioner in the store.
        tx.add(Practitioner(id="dr-formats", name="Dr Formats", credential=Credential.MD))
    program.close()
    bundle = folder / "bundle.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    study = folder / "study.json"
    study.write_text(json.dumps({"months": 2, "population": {"size": 30}}))
    scenarios = folder.parent / "scenarios.json"
    shutil.copy(Path(__file__).parent / "billing" / "data" / "more_scenarios.json", scenarios)
    return {
        "db": url,
        "patient": patient,
        "bundle": str(bundle),
        "study": str(study),
        "scenarios": str(scenarios),
        "folder": folder,
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", sorted(RECORD_COMMANDS), ids=" ".join)
def test_each_format_prints_the_records(store, path, fmt, tmp_path):
    if path not in COMMANDS:
        pytest.skip(f"{' '.join(path)} is not installed")
    values = {**store, "out": str(tmp_path / "out")}
    args = [a.format(**values) for a in RECORD_COMMANDS[path]]
    result = CliRunner().invoke(APP, [*path, *args, "--format", fmt])
    # db check exits 1 when it finds a problem; the records are printed all the same.
    assert result.exit_code == 0, result.output
    text = result.stdout
    if fmt == "json":
        json.loads(text)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        assert rows, "no header row"
        header = rows[0]
        assert header, "an empty header row"
        assert all(header), header
        assert len(set(header)) == len(header), header
        assert all(len(r) == len(header) for r in rows[1:]), rows[:3]
        assert csv.DictReader(io.StringIO(text)).fieldnames == header
    else:
        assert text.strip()


def test_a_saved_reconciliation_prints_one_csv_row_per_medication(store):
    args = ["meds", "reconcile", store["patient"], "--db", store["db"], "--on", "2026-06-30"]
    result = CliRunner().invoke(
        APP, [*args, "--by", "dr-formats", "--rest", "continue", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows
    assert {r["by"] for r in rows} == {"dr-formats"}
    assert "Furosemide 20 MG" in {r["text"] for r in rows}
