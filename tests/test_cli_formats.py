"""Every command that prints records takes ``--format table|json|csv``.

The commands are read from the command tree: a command with a ``--format``
option must offer the three formats, and the commands known to print
records must have one. Each is then run on a small demo store in each
format: JSON parses, and CSV parses with the csv module, with a header row.
``fhir pull`` pulls from the FHIR plugin's own loopback test server
(plugins/carecore-fhir/tests/fhir_server.py, HTTP on 127.0.0.1).
"""

from __future__ import annotations

import csv
import importlib.util
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
    Patient,
    Practitioner,
)
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram

APP = make_app(get_plugin_manager())

#: The commands that print records, and what each needs besides ``--db``.
RECORD_COMMANDS: dict[tuple[str, ...], list[str]] = {
    ("plugins",): [],
    ("audit",): ["--db", "{db}", "--patient", "{patient}"],
    ("billing", "close"): ["--db", "{db}", "--month", "2026-06", "--no-progress"],
    ("billing", "evaluate"): ["{scenarios}"],
    ("db", "check"): ["{db}"],
    ("fhir", "import"): ["--db", "{db}", "--no-progress", "{synthea}"],
    ("fhir", "pull"): ["{fhir_server}", "--insecure", "--db", "{db}"],
    ("gaps",): ["--db", "{db}", "--all"],
    ("hl7", "import"): ["--db", "{db}", "--no-progress", "{hl7}"],
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

#: A Synthea bundle shipped for the demo: MedicationRequest, Immunization and more.
SYNTHEA = next(
    (Path(__file__).parents[1] / "src" / "carecore" / "_demo_data" / "synthea").glob("Tommy_*")
)

#: One ADT^A01 message (a new patient, registered from PID).
HL7_ADT = (
    b"MSH|^~\\&|EHR|CLINIC|CARECORE|PRACTICE|20260601120000-0500||ADT^A01|fmt-1|P|2.5.1\r"
    b"EVN|A01|20260601120000-0500\r"
    b"PID|1||fmt-0001^^^CLINIC^MR||Format^Fiona||19480302|F\r"
    b"PV1|1|I|WARD^1^1||||||||||||||||fmt-v1|||||||||||||||||||||||||20260601120000-0500\r"
)

#: A drug name of more than 40 characters (the width the table used to cut it at).
LONG_DRUG = (
    "insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML Injectable Suspension"
)

#: Commands whose --format is not about printing records, and why.
OTHER_FORMATS = {
    # The claim file's format (x12, fhir): the command writes a file and prints a total.
    ("billing", "claims"),
}


#: The FHIR plugin's loopback test server: read, search with paging, create and update.
FHIR_SERVER = Path(__file__).parents[1] / "plugins" / "carecore-fhir" / "tests" / "fhir_server.py"

#: What the test server holds for ``fhir pull``: a patient and a condition of theirs.
PULLED = (
    {
        "resourceType": "Patient",
        "id": "fmt-pull-1",
        "identifier": [{"system": "urn:mrn", "value": "fmt-pull-1"}],
        "gender": "female",
        "birthDate": "1950-01-01",
        "name": [{"family": "Pulled", "given": ["Pat"]}],
    },
    {
        "resourceType": "Condition",
        "id": "fmt-pull-c1",
        "subject": {"reference": "Patient/fmt-pull-1"},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
        "onsetDateTime": "2020-01-01",
    },
)


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
        # A drug name longer than a terminal column, as Synthea's are.
        tx.add(
            MedicationStatement(
                id="formats-d2",
                patient_id=patient,
                source=MedicationSource.DISCHARGE_SUMMARY,
                rxnorm="106892",
                text=LONG_DRUG,
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
    hl7 = folder / "adt.hl7"
    hl7.write_bytes(HL7_ADT)
    return {
        "db": url,
        "patient": patient,
        "synthea": str(SYNTHEA),
        "hl7": str(hl7),
        "bundle": str(bundle),
        "study": str(study),
        "scenarios": str(scenarios),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def fhir_server():
    """The FHIR plugin's test server on 127.0.0.1, holding :data:`PULLED`; its base URL."""
    pytest.importorskip("carecore_fhir", reason="fhir pull is in the carecore-fhir plugin")
    spec = importlib.util.spec_from_file_location("carecore_formats_fhir_server", FHIR_SERVER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.FhirHttpServer() as server:
        for resource in PULLED:
            server.store.put(resource)
        yield server.base


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("path", sorted(RECORD_COMMANDS), ids=" ".join)
def test_each_format_prints_the_records(store, path, fmt, tmp_path, request):
    if path not in COMMANDS:
        pytest.skip(f"{' '.join(path)} is not installed")
    values = {**store, "out": str(tmp_path / "out")}
    if "{fhir_server}" in RECORD_COMMANDS[path]:
        values["fhir_server"] = request.getfixturevalue("fhir_server")
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


def test_fhir_import_keeps_each_resource_kind_whole_off_a_terminal(store):
    # CliRunner's output is not a terminal: the table used to be cut at 80 columns.
    result = CliRunner().invoke(
        APP, ["fhir", "import", "--db", store["db"], "--no-progress", store["synthea"]]
    )
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    data = json.loads(_json_of(["fhir", "import", store["synthea"]], store))
    kinds = {r["resource"] for r in data["resources"]}
    assert {"MedicationRequest", "Immunization"} <= kinds
    for kind in kinds:
        assert kind in result.stdout


def test_fhir_pull_prints_the_summary_fhir_import_prints(store, fhir_server):
    args = ["fhir", "pull", fhir_server, "--insecure", "--db", store["db"]]
    result = CliRunner().invoke(APP, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.stdout)
    imported = json.loads(_json_of(["fhir", "import", store["synthea"]], store))
    assert set(pulled) == set(imported)
    kinds = {r["resource"]: r for r in pulled["resources"]}
    assert {"Patient", "Condition"} <= set(kinds)
    sheet = CliRunner().invoke(APP, [*args, "--format", "csv"])
    assert sheet.exit_code == 0, sheet.output
    rows = {r["resource"]: r for r in csv.DictReader(io.StringIO(sheet.stdout))}
    assert set(rows) == set(kinds)
    assert list(next(iter(rows.values()))) == list(next(iter(kinds.values())))
    # Pulled again, each resource is already stored: nothing is imported twice.
    assert sum(int(r["imported"]) for r in rows.values()) == 0


def _json_of(command: list[str], store) -> str:
    args = [*command, "--db", store["db"], "--no-progress", "--format", "json"]
    result = CliRunner().invoke(APP, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_billing_close_prints_each_code_as_a_record(store):
    args = ["billing", "close", "--db", store["db"], "--month", "2026-06", "--no-progress"]
    csv_out = CliRunner().invoke(APP, [*args, "--format", "csv"])
    assert csv_out.exit_code == 0, csv_out.output
    rows = list(csv.DictReader(io.StringIO(csv_out.stdout)))
    assert rows
    assert {"code", "lines", "units", "amount"} <= set(rows[0])
    data = json.loads(CliRunner().invoke(APP, [*args, "--format", "json"]).stdout)
    assert [r["code"] for r in data["codes"]] == [r["code"] for r in rows]
    assert data["claim_lines"] == sum(int(r["lines"]) for r in rows)


def test_hl7_import_prints_the_counts_as_a_record(store):
    args = ["hl7", "import", "--db", store["db"], "--no-progress", store["hl7"]]
    data = json.loads(CliRunner().invoke(APP, [*args, "--format", "json"]).stdout)
    assert data["messages"] == 1
    assert data["stored"] + data["duplicate"] == 1
    assert data["refused"] == 0


def test_reconcile_heads_with_the_name_and_keeps_drug_names_whole(store):
    program = CareProgram.open(store["db"], actor="test", create=False)
    with program.transaction("name") as tx:
        name = tx.get(Patient, store["patient"]).display_name
    program.close()
    args = ["meds", "reconcile", store["patient"], "--db", store["db"], "--on", "2026-06-30"]
    result = CliRunner().invoke(APP, args)
    assert result.exit_code == 0, result.output
    head = result.stdout.splitlines()[0]
    assert head.startswith(f"{name} [{store['patient']}]:"), head
    assert LONG_DRUG in result.stdout


def test_the_worklist_table_shows_each_patients_id_beside_the_name(store):
    args = ["worklist", "--db", store["db"], "--on", "2026-06-15"]
    data = json.loads(CliRunner().invoke(APP, [*args, "--format", "json"]).stdout)
    items = [i for w in data.values() for i in w["items"]]
    assert items
    lines = CliRunner().invoke(APP, args).stdout.splitlines()
    for item in items:
        assert any(item["patient_name"] in line and item["patient_id"] in line for line in lines), (
            item
        )
