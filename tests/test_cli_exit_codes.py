"""Every command's exit codes match the table in docs/reference/cli.md.

0 success, 1 done with refused rows, 2 bad input or usage, 3 access denied.
The commands are read from the command tree (with every installed plugin), so
a command added later is checked too: a usage error exits 2, and a store URL
naming no store exits 2 with a message naming the store, no Python class
name, and no file created.
"""

from __future__ import annotations

import builtins
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.plugins import Hooks, get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
PM = get_plugin_manager()
APP = make_app(PM)


def leaves(
    group: click.Group, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every runnable command under *group*, by its path of names."""
    found = []
    for name, command in sorted(group.commands.items()):
        here = (*path, name)
        if isinstance(command, click.Group):
            found += leaves(command, here)
        else:
            found.append((here, command))
    return found


COMMANDS = leaves(APP)
IDS = [" ".join(path) for path, _ in COMMANDS]

#: Commands whose work is to create a store: a new file is what they are for.
CREATES_STORE = {("db", "init"), ("demo",)}
#: Commands that read no store at all.
NO_STORE = {("plugins",), ("simulate",), ("billing", "evaluate")}

#: Python's exception names and carecore's, none of which a message may show.
CLASS_NAMES = sorted(
    {n for n in dir(builtins) if n.endswith(("Error", "Exception"))}
    | set(errors.__all__) - {"Problem"}
)


def store_param(command: click.Command) -> click.Parameter | None:
    """The parameter a command takes its store URL in (``--db`` or a ``URL`` argument)."""
    return next((p for p in command.params if p.name in {"db_url", "url"}), None)


def extra_args(path: tuple[str, ...], tmp_path: Path) -> list[str]:
    """What each command needs besides its store to get as far as opening it."""
    fills = tmp_path / "fills.csv"
    fills.write_text(
        "patient_id,filled_on,days_supply,drug_class,drug\np1,2026-01-02,30,statin,A\n"
    )
    key = tmp_path / "key.txt"
    key.write_text("k" * 32)
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    adt = tmp_path / "adt.hl7"
    adt.write_text("")
    sources = Hooks(PM).ehr_sources()
    source = "fhir" if "fhir" in sources else None
    table: dict[tuple[str, ...], list[str]] = {
        ("attest",): ["--by", "dr1", "c1"],
        ("audit",): ["--patient", "p1"],
        ("billing", "close"): ["--month", "2026-03"],
        # The FHIR claim writer: the core suite installs the FHIR plugin, not the X12 one.
        ("billing", "claims"): [
            *("--month", "2026-03", "--format", "fhir", "--out", str(tmp_path / "claims.json"))
        ],
        ("db", "set", "time-zone"): ["UTC"],
        ("export",): [
            *("--out", str(tmp_path / "export"), "--deidentify", "safe-harbor"),
            *("--key-file", str(key)),
        ],
        ("fhir", "export"): ["p1"],
        ("fhir", "import"): [str(bundle)],
        ("fhir", "pull"): ["http://127.0.0.1:9/fhir"],
        ("hl7", "import"): [str(adt)],
        ("hl7", "listen"): ["--port", "0"],
        ("import",): ["--source", source or "none", str(bundle)],
        ("meds", "import-fills"): [str(fills)],
        ("meds", "list"): ["p1"],
        ("meds", "reconcile"): ["p1"],
        ("readings", "record"): [*("p1", "--code", "8480-6", "--value", "150", "--unit", "mm[Hg]")],
        ("report",): ["--out", str(tmp_path / "report")],
    }
    if path == ("import",) and source is None:
        pytest.skip("no EHR source installed to import with")
    return table.get(path, [])


def invoke(args: list[str]) -> click.testing.Result:
    return CliRunner().invoke(APP, args, env={"CARECORE_DB": "", "CARECORE_CONFIG": ""})


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_a_usage_error_exits_2(path, command):
    result = invoke([*path, "--no-such-option"])
    assert result.exit_code == 2, result.output
    assert "No such option" in result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_a_missing_store_exits_2_naming_it_and_is_not_created(path, command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    param = store_param(command)
    if param is None:
        assert path in NO_STORE, f"{' '.join(path)} takes no store: add it to NO_STORE"
        return
    assert path not in NO_STORE
    if path in CREATES_STORE:
        return
    missing = tmp_path / "nowhere.db"
    url = f"sqlite:///{missing}"
    store = ["--db", url] if param.name == "db_url" else [url]
    result = invoke([*path, *store, *extra_args(path, tmp_path)])
    assert result.exit_code == 2, result.output
    assert "nowhere.db" in result.output, result.output
    assert "holds no carecore store" in result.output, result.output
    shown = [name for name in CLASS_NAMES if re.search(rf"\b{name}\b", result.output)]
    assert not shown, result.output
    assert "Traceback" not in result.output
    assert not missing.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("nowhere")) == []


def test_every_command_has_a_store_or_is_named():
    # The sets above name real commands (a renamed command must be renamed there too).
    paths = {path for path, _ in COMMANDS}
    assert paths >= CREATES_STORE
    assert {p for p in NO_STORE if p[0] in APP.commands} <= paths


def test_the_docs_table_lists_the_exit_codes():
    text = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    table = text.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    for code, meaning in (
        ("0", "success"),
        ("1", "refused"),
        ("2", "bad input"),
        ("3", "access denied"),
    ):
        assert re.search(rf"^\| `{code}` \|.*{meaning}", table, re.MULTILINE | re.IGNORECASE), code


@pytest.mark.parametrize(
    ("args", "hidden", "extra"),
    [
        (["report", "--out", "{tmp}/report"], "matplotlib", "report"),
        (["report", "--out", "{tmp}/report"], "jinja2", "report"),
        (
            ["simulate", "ccm-2015", "--executor", "dask", "--replications", "1"],
            "distributed",
            "dask",
        ),
    ],
    ids=["report-matplotlib", "report-jinja2", "simulate-dask"],
)
def test_a_missing_optional_dependency_exits_2_naming_the_extra(
    args, hidden, extra, tmp_path, monkeypatch
):
    # Review of issue 22: a missing optional dependency exited 1, the status of a command that
    # finished with refused rows. It is a usage problem: exit 2, and say what to install.
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert invoke(["db", "init", url]).exit_code == 0
    # Imports fail as if the package were absent, its submodules too (an earlier test may
    # have imported them).
    modules = __import__("sys").modules
    for name in [hidden, *(m for m in list(modules) if m.startswith(f"{hidden}."))]:
        monkeypatch.setitem(modules, name, None)
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if filled[0] == "report":
        filled += ["--db", url]
    result = invoke(filled)
    assert result.exit_code == 2, result.output
    assert f'pip install ".[{extra}]"' in result.output
    assert f"{hidden}: needed for " in result.output
    shown = [name for name in CLASS_NAMES if re.search(rf"\b{name}\b", result.output)]
    assert not shown, result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_reports_a_failed_file_operation_as_an_error(path, command):
    # Review of issue 22: an --out under a file ended in a traceback (exit 1). Every
    # command, plugins' included, runs inside the guard that names the option instead.
    assert getattr(command.invoke, "__wrapped__", None) is not None, " ".join(path)


def test_a_plugin_command_that_fails_to_write_exits_2_naming_its_option(tmp_path):
    from carecore.plugins import hookimpl
    from carecore.testing import registered

    @click.command("write-it")
    @click.option("--out", type=click.Path(path_type=Path), required=True)
    def write_it(out: Path) -> None:
        """Write a file where it is told (a plugin's command)."""
        out.write_text("x")

    class Plugin:
        @hookimpl
        def carecore_cli(self, app: click.Group) -> None:
            app.add_command(write_it)

    pm = get_plugin_manager(entry_points=False)
    with registered(pm, Plugin()):
        app = make_app(pm)
    (tmp_path / "a-file").write_text("")
    for out, words in (
        (tmp_path / "a-file" / "x.txt", "is a file, not a folder"),
        (tmp_path / "none" / "x.txt", "does not exist"),
        (tmp_path, "is a folder, not a file"),
    ):
        result = CliRunner().invoke(app, ["write-it", "--out", str(out)])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("Error: --out='"), result.output
        assert words in result.output
        assert "Traceback" not in result.output
        shown = [name for name in CLASS_NAMES if re.search(rf"\b{name}\b", result.output)]
        assert not shown, result.output
    assert not (tmp_path / "none").exists()


#: Each command taking ``--scheduler``, with the arguments it needs besides.
SCHEDULER_COMMANDS = {
    "billing close": ["billing", "close", "--month", "2026-11", "--db", "{db}"],
    "registry": ["registry", "--db", "{db}"],
    "simulate": ["simulate", "demo-practice", "--replications", "1"],
}


@pytest.mark.parametrize("address", ["notanaddress", "tcp://127.0.0.1:port", "nosuch://host:1"])
@pytest.mark.parametrize("name", sorted(SCHEDULER_COMMANDS))
def test_a_malformed_scheduler_address_exits_2_naming_the_option(name, address, tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(APP, ["db", "init", db]).exit_code == 0
    args = [a.format(db=db) for a in SCHEDULER_COMMANDS[name]]
    result = CliRunner().invoke(APP, [*args, "--executor", "dask", "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert f"--scheduler={address!r}" in result.output
    assert "Traceback" not in result.output
    assert not any(re.search(rf"\b{n}\b", result.output) for n in CLASS_NAMES)


def test_every_command_taking_a_scheduler_is_checked_for_a_malformed_one():
    takes = {" ".join(p) for p, c in COMMANDS if any(q.name == "scheduler" for q in c.params)}
    assert takes <= set(SCHEDULER_COMMANDS) | {"report"}


@pytest.mark.parametrize("name", sorted(SCHEDULER_COMMANDS))
def test_a_tls_scheduler_exits_2_saying_carecore_takes_no_tls_settings(name, tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(APP, ["db", "init", db]).exit_code == 0
    args = [a.format(db=db) for a in SCHEDULER_COMMANDS[name]]
    address = "tls://127.0.0.1:8786"
    result = CliRunner().invoke(APP, [*args, "--executor", "dask", "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert f"--scheduler={address!r}" in result.output
    assert "TLS security settings" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_scheduler_exits_1_naming_the_option_address_and_timeout():
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    address = "tcp://127.0.0.1:1"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(
            APP,
            [
                "simulate",
                "demo-practice",
                "--replications",
                "1",
                "--executor",
                "dask",
                "--scheduler",
                address,
            ],
        )
    assert result.exit_code == 1, result.output
    assert f"--scheduler={address!r}" in result.output
    assert "1s" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(SCHEDULER_COMMANDS))
def test_a_scheduler_alone_means_the_dask_executor(name, tmp_path):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(APP, ["db", "init", db]).exit_code == 0
    args = [a.format(db=db) for a in SCHEDULER_COMMANDS[name]]
    address = "tcp://127.0.0.1:1"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(APP, [*args, "--scheduler", address])
    # Dask tried the address: the error is that no scheduler answered, not a refused option.
    assert result.exit_code == 1, result.output
    assert "no Dask scheduler answered" in result.output


@pytest.mark.parametrize("executor", ["local", "process"])
@pytest.mark.parametrize("name", sorted(SCHEDULER_COMMANDS))
def test_a_scheduler_with_another_executor_exits_2(name, executor, tmp_path):
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert CliRunner().invoke(APP, ["db", "init", db]).exit_code == 0
    args = [a.format(db=db) for a in SCHEDULER_COMMANDS[name]]
    address = "tcp://127.0.0.1:8786"
    result = CliRunner().invoke(APP, [*args, "--executor", executor, "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert f"--scheduler={address!r}" in result.output
