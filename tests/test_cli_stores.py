"""Commands that read a store refuse a URL that holds none; new SQLite files are private.

A close, a report or a worklist over a mistyped path used to create an empty
store and report on nothing with status 0; a new store file was world-readable.
"""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram


@pytest.fixture
def app():
    return make_app(get_plugin_manager(entry_points=False))


@pytest.mark.parametrize(
    "args",
    [
        ["billing", "close", "--month", "2026-03", "--db"],
        ["worklist", "--db"],
        ["tcm", "list", "--db"],
        ["outbox", "status", "--db"],
        ["outbox", "run", "--db"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_store_that_does_not_exist_is_refused_and_not_created(app, tmp_path, args):
    path = tmp_path / "practise.db"  # a typo of practice.db
    result = CliRunner().invoke(app, [*args, f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert "holds no carecore store" in result.output
    assert "carecore db init" in result.output
    assert "Traceback" not in result.output
    assert not path.exists()


def test_an_empty_database_is_not_a_store_to_report_on(app, tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")
    result = CliRunner().invoke(app, ["worklist", "--db", f"sqlite:///{path}"])
    assert result.exit_code == 2, result.output
    assert "holds no carecore store" in result.output
    import sqlite3

    with sqlite3.connect(path) as conn:  # no schema was written
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_a_bare_file_path_is_refused_with_the_url_to_write(app, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["worklist", "--db", "practice.db"])
    assert result.exit_code == 2, result.output
    assert "sqlite:///practice.db" in result.output
    assert not (tmp_path / "practice.db").exists()


def test_open_without_create_refuses_and_with_create_makes_a_private_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with pytest.raises(errors.NoSuchStore) as info:
        CareProgram.open(url, create=False)
    assert info.value.field == "url"
    assert info.value.value == url
    with CareProgram.open(url) as program:
        assert program.store.schema_version() > 0
    mode = stat.S_IMODE((tmp_path / "new.db").stat().st_mode)
    assert mode == 0o600, oct(mode)
    with CareProgram.open(url, create=False) as program:  # now it exists
        assert program.store.schema_version() > 0


def test_create_must_be_a_bool():
    with pytest.raises(errors.InvalidValue) as info:
        CareProgram.open("memory://", create="no")
    assert info.value.field == "create"
