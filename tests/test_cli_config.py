"""The command line's settings: option, then ``CARECORE_*`` variable, then ``carecore.toml``."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from carecore._cli_config import Settings, default_map
from carecore.cli import current_actor, make_app

VARS = (
    "CARECORE_DB",
    "CARECORE_TIME_ZONE",
    "CARECORE_ACTOR",
    "CARECORE_CONFIG",
    "CARECORE_PAYER",
    "CARECORE_RULE_SET",
)


@pytest.fixture
def app(carecore_pm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in VARS:
        monkeypatch.delenv(var, raising=False)
    group = make_app(carecore_pm)

    @click.command()
    @click.option("--db", "db_url", required=True, metavar="URL")
    @click.option("--time-zone", default=None)
    def probe(db_url: str, time_zone: str | None) -> None:
        """Echo what a command with ``--db`` and ``--time-zone`` was given."""
        click.echo(json.dumps({"db": db_url, "tz": time_zone, "actor": current_actor()}))

    group.add_command(probe)
    return group


def _probe(app, *args, env=None):
    result = CliRunner().invoke(app, [*args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _write(tmp_path, text, name="carecore.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


FILE = 'db = "sqlite:///file.db"\ntime_zone = "America/Chicago"\nactor = "file-user"\n'
ENV = {
    "CARECORE_DB": "sqlite:///env.db",
    "CARECORE_TIME_ZONE": "Europe/Paris",
    "CARECORE_ACTOR": "env-user",
}


def test_file_in_working_folder_supplies_every_setting(app, tmp_path):
    _write(tmp_path, FILE)
    got = _probe(app, "probe")
    assert got == {"db": "sqlite:///file.db", "tz": "America/Chicago", "actor": "file-user"}


def test_environment_overrides_the_file(app, tmp_path):
    _write(tmp_path, FILE)
    got = _probe(app, "probe", env=ENV)
    assert got == {"db": "sqlite:///env.db", "tz": "Europe/Paris", "actor": "env-user"}


def test_options_override_environment_and_file(app, tmp_path):
    _write(tmp_path, FILE)
    args = ["--actor", "cli-user", "probe", "--db", "sqlite:///cli.db", "--time-zone", "UTC"]
    got = _probe(app, *args, env=ENV)
    assert got == {"db": "sqlite:///cli.db", "tz": "UTC", "actor": "cli-user"}


def test_config_option_names_another_file(app, tmp_path):
    _write(tmp_path, FILE)
    other = _write(tmp_path, 'db = "sqlite:///other.db"\n', name="other.toml")
    got = _probe(app, "--config", str(other), "probe")
    assert got["db"] == "sqlite:///other.db"
    assert got["tz"] is None  # the working folder's file is not read as well


def test_missing_db_with_nothing_configured_is_a_usage_error(app):
    result = CliRunner().invoke(app, ["probe"])
    assert result.exit_code == 2
    assert "Missing option '--db'" in result.output  # added after make_app: click's words
    result = CliRunner().invoke(app, ["worklist"])
    assert result.exit_code == 2
    assert "Missing --db: give --db URL, set CARECORE_DB" in result.output


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("db = \n", "carecore.toml: is not valid TOML"),
        ('colour = "blue"\n', "carecore.toml:colour: is not a carecore setting"),
        ("db = 3\n", "carecore.toml:db: must be text, not int"),
        ('time_zone = "Mars/Base"\n', "carecore.toml:time_zone='Mars/Base'"),
        ('actor = "  "\n', "carecore.toml:actor: must name who is acting"),
    ],
)
def test_bad_file_is_refused_naming_the_key(app, tmp_path, text, message):
    _write(tmp_path, text)
    result = CliRunner().invoke(app, ["probe", "--db", "memory://"])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_environment_value_is_refused_naming_the_variable(app):
    result = CliRunner().invoke(app, ["probe"], env={"CARECORE_TIME_ZONE": "Mars/Base"})
    assert result.exit_code == 2
    assert "CARECORE_TIME_ZONE='Mars/Base'" in result.output


def test_password_in_a_bad_db_value_is_not_echoed(app, tmp_path):
    _write(tmp_path, 'db = ["postgresql://u:secret@h/db"]\n')
    result = CliRunner().invoke(app, ["probe"])
    assert result.exit_code == 2
    assert "secret" not in result.output


def test_optional_db_is_not_filled_in(app, tmp_path):
    # billing close's --db means "close from a store instead of CSV files": a
    # configured store must not silently switch it.
    close = app.commands["billing"].commands["close"]
    found = default_map(app, Settings(db="sqlite:///x.db"))
    assert "billing" not in found or "close" not in found["billing"]
    assert not any(p.required for p in close.params if p.name == "db_url")
    assert found["worklist"]["db_url"] == "sqlite:///x.db"
    assert found["db"]["check"]["url"] == "sqlite:///x.db"
    # db set time-zone takes URL and ZONE: the store is not guessed there.
    set_zone = app.commands["db"].commands["set"].commands["time-zone"]
    assert [p.name for p in set_zone.params if isinstance(p, click.Argument)] == ["url", "zone"]
    assert "set" not in found["db"]


def test_config_variable_and_missing_file(app, tmp_path):
    other = _write(tmp_path, 'db = "sqlite:///other.db"\n', name="other.toml")
    got = _probe(app, "probe", env={"CARECORE_CONFIG": str(other)})
    assert got["db"] == "sqlite:///other.db"
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "none.toml"), "probe"])
    assert result.exit_code == 2
    assert "none.toml" in result.output


def test_real_commands_run_from_the_file(app, tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["db", "init", f"sqlite:///{tmp_path / 'practice.db'}"])
    assert made.exit_code == 0, made.output
    _write(tmp_path, 'db = "sqlite:///practice.db"\ntime_zone = "America/Chicago"\n')
    checked = runner.invoke(app, ["db", "check"])
    assert checked.exit_code == 0, checked.output
    assert "sqlite:///practice.db" in checked.output
    listed = runner.invoke(app, ["worklist"])
    assert listed.exit_code == 0, listed.output
    # Without the file the same command is refused for want of a store.
    (tmp_path / "carecore.toml").unlink()
    assert runner.invoke(app, ["worklist"]).exit_code == 2


# -- the actor: one resolver (option > CARECORE_ACTOR > carecore.toml > login name) -----------


@pytest.fixture
def actor_app(app):
    from carecore._cli_actor import actor_option

    @click.command("own-actor")
    @actor_option
    def own_actor(actor: str) -> None:
        """A command with its own --actor (as carecore export has)."""
        click.echo(json.dumps({"actor": actor}))

    app.add_command(own_actor)
    return app


@pytest.mark.parametrize("blank", ["", "   "])
@pytest.mark.parametrize("command", ["probe", "own-actor"])
def test_a_blank_actor_variable_counts_as_unset(actor_app, tmp_path, blank, command):
    _write(tmp_path, 'actor = "file-user"\n')
    args = [command, "--db", "memory://"] if command == "probe" else [command]
    got = _probe(actor_app, *args, env={"CARECORE_ACTOR": blank})
    assert got["actor"] == "file-user"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, "file-user"),
        ([], {"CARECORE_ACTOR": "env-user"}, "env-user"),
        (["--actor", "cli-user"], {"CARECORE_ACTOR": "env-user"}, "cli-user"),
    ],
)
def test_the_actor_precedence_holds_for_every_command(actor_app, tmp_path, args, env, expected):
    _write(tmp_path, 'actor = "file-user"\n')
    assert _probe(actor_app, *args, "probe", "--db", "memory://", env=env)["actor"] == expected
    # A command with its own --actor takes the same answer when the option is not given
    # (the variable used to override carecore --actor there).
    assert _probe(actor_app, *args, "own-actor", env=env)["actor"] == expected
    assert _probe(actor_app, "own-actor", "--actor", "own", env=env)["actor"] == "own"


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_actor_option_is_bad_input_not_ignored(actor_app, tmp_path, blank):
    # Review of issue 22: a blank --actor used to be ignored (the variable or the file
    # acted instead). It is a mistake in the command: exit 2, naming the option.
    _write(tmp_path, 'actor = "file-user"\n')
    for args in (["--actor", blank, "probe", "--db", "memory://"], ["own-actor", "--actor", blank]):
        result = CliRunner().invoke(actor_app, args, env={"CARECORE_ACTOR": "env-user"})
        assert result.exit_code == 2, result.output
        assert "--actor" in result.output
        assert "non-blank" in result.output


def test_resolve_actor_without_settings_reads_the_variable_and_the_file(tmp_path, monkeypatch):
    from carecore._cli_actor import resolve_actor

    monkeypatch.chdir(tmp_path)
    _write(tmp_path, 'actor = "file-user"\n')
    monkeypatch.setenv("CARECORE_ACTOR", " ")
    assert resolve_actor(None) == "file-user"
    monkeypatch.setenv("CARECORE_ACTOR", "env-user")
    assert resolve_actor(None) == "env-user"
    assert resolve_actor("opt") == "opt"


# -- the rule set: payer and rule_set reach every --payer and --rule-set -----------------------


def test_the_rule_set_settings_reach_the_worklist_registry_close_and_report(app, tmp_path):
    runner = CliRunner()
    made = runner.invoke(app, ["db", "init", f"sqlite:///{tmp_path / 'practice.db'}"])
    assert made.exit_code == 0, made.output
    _write(tmp_path, 'db = "sqlite:///practice.db"\nrule_set = "acme-2026"\n')
    # No such rule set is installed: each command names the configured one and exits 2,
    # so the setting was read; without the file they run under CMS's.
    for args in (
        ["worklist"],
        ["registry"],
        ["report", "--out", str(tmp_path / "r")],
        ["billing", "close", "--month", "2026-03", "--db", "sqlite:///practice.db"],
    ):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 2, (args, refused.output)
        assert "acme-2026" in refused.output, (args, refused.output)
    # The option overrides the file; the variable overrides the file too.
    assert runner.invoke(app, ["worklist", "--rule-set", "cms-2026"]).exit_code == 0
    via_env = runner.invoke(app, ["worklist"], env={"CARECORE_RULE_SET": "cms-2026"})
    assert via_env.exit_code == 0, via_env.output
    _write(tmp_path, 'db = "sqlite:///practice.db"\npayer = "acme"\n')
    by_payer = runner.invoke(app, ["registry"])
    assert by_payer.exit_code == 2
    assert "acme-" in by_payer.output
    (tmp_path / "carecore.toml").unlink()
    made = runner.invoke(app, ["worklist", "--db", "sqlite:///practice.db"])
    assert made.exit_code == 0, made.output


@pytest.mark.parametrize("key", ["payer", "rule_set"])
def test_a_blank_or_non_text_rule_set_setting_is_refused_naming_the_key(app, tmp_path, key):
    for value in ('""', "3"):
        _write(tmp_path, f"{key} = {value}\n")
        result = CliRunner().invoke(app, ["worklist", "--db", "memory://"])
        assert result.exit_code == 2, result.output
        assert f"carecore.toml:{key}" in result.output
