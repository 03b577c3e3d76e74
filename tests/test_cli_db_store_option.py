"""The db commands take the store as --db URL too, as every other command does."""

from __future__ import annotations

from click.testing import CliRunner

from carecore.cli import make_app
from carecore.service import CareProgram


def test_db_init_set_time_zone_check_and_migrate_take_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    app = make_app()
    runner = CliRunner()
    done = runner.invoke(app, ["db", "init", "--time-zone", "America/Chicago", "--db", url])
    assert done.exit_code == 0, done.output
    assert "created schema" in done.output
    changed = runner.invoke(app, ["db", "set", "time-zone", "--db", url, "America/New_York"])
    assert changed.exit_code == 0, changed.output
    with CareProgram.open(url, actor="t", create=False) as program:
        assert program.practice_time_zone() == "America/New_York"
    checked = runner.invoke(app, ["db", "check", "--db", url])
    assert checked.exit_code == 0, checked.output
    assert "consistent" in checked.output
    assert runner.invoke(app, ["db", "migrate", "--db", url]).exit_code == 0


def test_the_positional_url_still_works_and_may_repeat_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    app = make_app()
    assert CliRunner().invoke(app, ["db", "init", url]).exit_code == 0
    assert CliRunner().invoke(app, ["db", "set", "time-zone", url, "UTC"]).exit_code == 0
    assert CliRunner().invoke(app, ["db", "check", url, "--db", url]).exit_code == 0


def test_two_different_stores_are_refused(tmp_path):
    one, two = (f"sqlite:///{tmp_path / n}" for n in ("one.db", "two.db"))
    result = CliRunner().invoke(make_app(), ["db", "init", one, "--db", two])
    assert result.exit_code == 2
    assert "--db" in result.output
    assert not (tmp_path / "one.db").exists()
    assert not (tmp_path / "two.db").exists()


def test_carecore_db_gives_the_store_to_db_check(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", url]).exit_code == 0
    result = CliRunner().invoke(make_app(), ["db", "check"], env={"CARECORE_DB": url})
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output
