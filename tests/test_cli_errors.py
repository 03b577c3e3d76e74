"""The command line's errors as a new user meets them (review of issue 22, the CLI).

An output path that cannot be written, a store URL naming a file that is not
a database, a reader that stops reading, a missing option: each ends in one
line naming the option and the value in words, never a traceback, a Python
class name or ``None``, with the exit status of the table in
docs/reference/cli.md.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore._cli_common import output_error
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

PM = get_plugin_manager()
APP = make_app(PM)

#: Python's exception names and carecore's, none of which a message may show.
CLASS_NAMES = sorted(
    {n for n in dir(builtins) if n.endswith(("Error", "Exception"))}
    | set(errors.__all__) - {"Problem"}
)


def invoke(args: list[str], app: click.Group = APP, **env: str) -> click.testing.Result:
    return CliRunner().invoke(
        app, args, env={"CARECORE_DB": "", "CARECORE_CONFIG": "", "CARECORE_ACTOR": "", **env}
    )


def plain(result: click.testing.Result) -> None:
    """The output is a message for people: no traceback, no class name, no ``None``."""
    assert "Traceback" not in result.output, result.output
    shown = [name for name in CLASS_NAMES if re.search(rf"\b{name}\b", result.output)]
    assert not shown, result.output
    assert "None" not in result.output, result.output


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A small demo store (billed months up to 2026-06) and one of its patients."""
    pytest.importorskip("carecore_fhir", reason="the demo needs the carecore-fhir plugin")
    pytest.importorskip("carecore_hl7v2", reason="the demo needs the carecore-hl7v2 plugin")
    folder = tmp_path_factory.mktemp("errors")
    url = f"sqlite:///{folder / 'demo.db'}"
    args = ["demo", "--patients", "10", "--months", "3", "--last-month", "2026-06", "--no-progress"]
    made = invoke([*args, "--db", url, "--out", str(folder / "r")])
    assert made.exit_code == 0, made.output
    audit = invoke(["audit", "--db", url, "--actor", "carecore-demo", "--format", "json"])
    patient = next(r["patient_id"] for r in json.loads(audit.output) if r["patient_id"])
    return folder / "demo.db", patient


@pytest.fixture
def store(demo: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the demo store in an empty working folder."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(demo[0], tmp_path / "store.db")
    return f"sqlite:///{tmp_path / 'store.db'}"


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def _outputs(tmp_path: Path, url: str, out: str, patient: str) -> dict[str, list[str]]:
    key = tmp_path / "key.txt"
    key.write_text("k" * 32)
    return {
        "fhir export": ["fhir", "export", patient, "--db", url, "--out", out],
        "report": ["report", "--db", url, "--out", out],
        "export": [
            *("export", "--db", url, "--deidentify", "safe-harbor"),
            *("--key-file", str(key), "--out", out),
        ],
        "billing claims": [
            *("billing", "claims", "--db", url, "--month", "2026-04"),
            *("--format", "fhir", "--out", out),
        ],
    }


@pytest.mark.parametrize("command", ["fhir export", "report", "export", "billing claims"])
@pytest.mark.parametrize("where", ["under-a-file", "missing-folder"])
def test_an_output_path_that_cannot_be_written_exits_2_naming_out(
    store, demo, tmp_path, command, where
):
    # Review of issue 22: these printed a traceback ending in FileNotFoundError or
    # NotADirectoryError and exited 1.
    if command == "fhir export" and "fhir" not in APP.commands:
        pytest.skip("the FHIR plugin is not installed")
    (tmp_path / "a-file").write_text("not a folder")
    out = (
        str(tmp_path / "a-file" / "out" / "x.json")
        if where == "under-a-file"
        else str(tmp_path / "no-such-folder" / "deeper" / "x.json")
    )
    args = _outputs(tmp_path, store, out, demo[1])[command]
    if command in {"report", "export"}:
        # These write a folder: --out names it. They make that folder, not the ones above it.
        args[-1] = (
            str(tmp_path / "a-file" / "out")
            if where == "under-a-file"
            else str(tmp_path / "no-such-folder" / "deeper")
        )
    before = _files(tmp_path)
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert "Error: --out=" in result.output, result.output
    assert "a-file" in result.output or "no-such-folder" in result.output
    assert re.search(r"is a file, not a folder|does not exist", result.output), result.output
    plain(result)
    # Nothing half-written (the store's own WAL files aside).
    assert {p for p in _files(tmp_path) - before if "store.db" not in p.name} == set()


def test_an_output_path_error_names_the_option_of_the_path(tmp_path):
    exc = FileNotFoundError(2, "No such file or directory", "/nope/x/y.json")
    err = output_error(exc, {"--db": "sqlite:///s.db", "--out": Path("/nope/x/y.json")})
    assert isinstance(err, errors.InvalidValue)
    assert str(err) == "--out='/nope/x/y.json': its folder '/nope/x' does not exist"
    # A folder the command makes below --out names --out too, and the file in the way.
    (tmp_path / "f").write_text("")
    out = tmp_path / "f" / "out"
    exc = NotADirectoryError(20, "Not a directory", str(out / "sub"))
    err = output_error(exc, {"--out": str(out)})
    assert isinstance(err, errors.InvalidValue)
    assert str(err) == f"--out={str(out)!r}: {str(tmp_path / 'f')!r} is a file, not a folder"
    # A full disk is a failure (exit 1), not the input's fault; so is a path no option names.
    err = output_error(OSError(28, "No space left on device", "/srv/y"), {"--out": "/srv/y"})
    assert not isinstance(err, errors.InvalidValue)
    assert str(err) == "--out='/srv/y': no space left on device"
    err = output_error(PermissionError(13, "Permission denied", "/opt/x"), {"--out": "/srv/y"})
    assert not isinstance(err, errors.InvalidValue)
    assert str(err) == "/opt/x: permission denied"


@pytest.mark.parametrize("kind", ["corrupt", "folder"])
def test_a_db_that_is_not_a_database_exits_2_naming_db(store, tmp_path, kind):
    # Review of issue 22: both exited 1, the status of a run that finished with refusals.
    if kind == "corrupt":
        path = tmp_path / "corrupt.db"
        path.write_bytes(b"this is not an SQLite database, only text " * 200)
        words = "not a database"
    else:
        path = tmp_path / "somedir"
        path.mkdir()
        words = "is a folder, not a database file"
    result = invoke(["worklist", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert "Error: --db='sqlite:///" in result.output, result.output
    assert f"{path.name}': " in result.output, result.output
    assert words in result.output
    plain(result)


def test_a_store_url_with_a_password_is_redacted_when_named():
    result = invoke(["worklist", "--db", "sqlite:////no/such/secret:hunter2@x.db"])
    assert result.exit_code == 2, result.output
    assert "--db=" in result.output


def test_a_postgresql_url_without_the_plugin_names_the_plugin_to_install():
    core_only = make_app(get_plugin_manager(entry_points=False))
    result = invoke(["worklist", "--db", "postgresql://carecore@127.0.0.1/practice"], core_only)
    assert result.exit_code == 2, result.output
    assert "--db='postgresql://carecore@127.0.0.1/practice'" in result.output
    assert "carecore-postgres" in result.output
    assert "pip install ./plugins/carecore-postgres" in result.output
    plain(result)


def _closed_pipe_run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ``carecore ARGS`` with its stdout a pipe whose reader has gone (``| head -0``)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "carecore", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            env={**os.environ, "CARECORE_DB": "", "CARECORE_CONFIG": ""},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("command", [["gaps"], ["audit", "--actor", "carecore-demo"], ["plugins"]])
def test_a_reader_that_stops_reading_ends_the_command_quietly_with_141(store, command):
    # Review of issue 22: `carecore gaps ... | head -1` exited 1 (done with refusals),
    # saying nothing. A closed pipe ends the command as one killed by SIGPIPE would
    # end for a shell: 128 + 13, and no message.
    args = [*command] if command == ["plugins"] else [*command, "--db", store]
    result = _closed_pipe_run(args)
    assert result.returncode == 141, result.stderr.decode()
    assert result.stderr == b""


def test_audit_without_patient_or_actor_says_which_options_are_needed(store):
    result = invoke(["audit", "--db", store])
    assert result.exit_code == 2, result.output
    assert "--patient or --actor is needed" in result.output
    plain(result)


def test_export_without_a_key_says_where_the_key_comes_from(store, tmp_path):
    result = invoke(
        [*("export", "--db", store, "--deidentify", "safe-harbor"), "--out", str(tmp_path / "e")],
        CARECORE_DEIDENTIFY_KEY="",
    )
    assert result.exit_code == 2, result.output
    assert "--key-file or $CARECORE_DEIDENTIFY_KEY is needed" in result.output
    plain(result)


def test_export_with_a_short_key_names_the_key_file_not_its_text(store, tmp_path):
    key = tmp_path / "key.txt"
    key.write_text("s3cr3t")
    args = ["export", "--db", store, "--deidentify", "safe-harbor", "--key-file", str(key)]
    result = invoke([*args, "--out", str(tmp_path / "e")])
    assert result.exit_code == 2, result.output
    assert "Error: --key-file='" in result.output, result.output
    assert "key.txt': the pseudonym key must have at least 16" in result.output
    assert "s3cr3t" not in result.output
    plain(result)


def _store_commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += _store_commands(command, (*path, name))
        elif any(p.name == "db_url" and p.required for p in command.params):
            found.append((*path, name))
    return found


STORE_COMMANDS = _store_commands(APP)


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = APP
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", STORE_COMMANDS, ids=[" ".join(p) for p in STORE_COMMANDS])
def test_a_missing_db_says_where_else_it_can_come_from(path, tmp_path, monkeypatch):
    # Review of issue 22: "Missing option '--db'" and "[required]", although CARECORE_DB
    # and carecore.toml give it as well.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").write_text("")
    # Each required argument gets a file that exists: only the store is missing.
    arguments = ["x" for p in _command(path).params if isinstance(p, click.Argument) and p.required]
    others = ["--source", "fhir"] if path == ("import",) else []
    result = invoke([*path, *arguments, *others])
    assert result.exit_code == 2, result.output
    assert (
        "Missing --db: give --db URL, set CARECORE_DB, or set db in carecore.toml" in result.output
    ), result.output
    plain(result)
    shown = invoke([*path, "--help"])
    text = " ".join(shown.output.split())
    after = text.split("--db URL", 1)[1]
    assert after.split("]", 1)[0].endswith("[required: --db, $CARECORE_DB or db in carecore.toml")


def test_program_choices_take_either_case_and_show_one(store):
    for args in (
        ["worklist", "--db", store, "--family", "ccm", "--on", "2026-06-15"],
        ["worklist", "--db", store, "--family", "CCM", "--on", "2026-06-15"],
        ["registry", "--db", store, "--program", "Pcm"],
        ["gaps", "--db", store, "--format", "JSON"],
    ):
        result = invoke(args)
        assert result.exit_code == 0, (args, result.output)
    for path, option in ((["worklist"], "--family"), (["report"], "--program")):
        text = invoke([*path, "--help"]).output
        assert f"{option} [CCM|PCM|BHI|APCM]" in text, text


def test_an_empty_actor_is_bad_input(store):
    # Review of issue 22: --actor "" was ignored and the login account acted.
    result = invoke(["--actor", "", "worklist", "--db", store])
    assert result.exit_code == 2, result.output
    assert "--actor=''" in result.output
    plain(result)
    result = invoke(["--actor", "  ", "gaps", "--db", store])
    assert result.exit_code == 2, result.output
    # audit's --actor (whose entries to list) and --patient are ids too.
    for option in ("--actor", "--patient"):
        result = invoke(["audit", "--db", store, option, ""])
        assert result.exit_code == 2, result.output
        assert f"{option}='': must name an id" in result.output


def test_simulate_without_a_study_says_what_is_needed():
    result = invoke(["simulate"])
    assert result.exit_code == 2, result.output
    assert "CONFIG is needed: a study file or an example name" in result.output
    plain(result)


@pytest.mark.parametrize("where", ["under-a-file", "missing-folder"])
def test_billing_close_refuses_an_out_folder_it_cannot_make_before_closing(tmp_path, where):
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / ("a-file" if where == "under-a-file" else "no-such-folder") / "deeper"
    patients = tmp_path / "patients.csv"
    patients.write_text("patient_id,practitioner_id,practitioner_credential\n", encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text("patient_id,date,kind\n", encoding="utf-8")
    before = _files(tmp_path)
    result = invoke(
        [
            "billing",
            "close",
            "--month",
            "2026-03",
            "--patients",
            str(patients),
            "--events",
            str(events),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert result.exit_code == 2, result.output
    assert "--out=" in result.output
    assert re.search(r"is a file, not a folder|does not exist", result.output), result.output
    assert _files(tmp_path) == before
