"""A URL naming a database the server does not have is a missing store, as on SQLite.

The command line exits 2 naming ``--db`` and the URL (its password masked),
as docs/reference/cli.md says of a URL naming no store; a server that cannot
be reached stays exit 1, with the connection's own words.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager
from carecore.storage import open_store

APP = make_app(get_plugin_manager())

COMMANDS = {
    "registry": ["registry"],
    "tcm list": ["tcm", "list"],
    "billing close": ["billing", "close", "--month", "2026-03"],
    "worklist": ["worklist"],
    "hl7 import": ["hl7", "import", "{adt}"],
    "fhir import": ["fhir", "import", "{bundle}"],
    "import": ["import", "--source", "fhir", "{bundle}"],
    "report": ["report", "--out", "{out}"],
}


def _elsewhere(server: str, *, port: int | None = None, database: str) -> str:
    """*server*'s URL with a password, and another database (and port)."""
    parts = urlsplit(server)
    netloc = f"{parts.username}:s3cret-pw@{parts.hostname}:{port or parts.port}"
    return urlunsplit((parts.scheme, netloc, "/" + database, "", ""))


def _args(name: str, tmp_path) -> list[str]:
    bundle = tmp_path / "bundle.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    adt = tmp_path / "adt.hl7"
    adt.write_text("")
    files = {"bundle": bundle, "adt": adt, "out": tmp_path / "report"}
    return [a.format(**files) for a in COMMANDS[name]]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_missing_database_exits_2_naming_db_and_masking_the_password(
    name, postgres_server, tmp_path
):
    url = _elsewhere(postgres_server, database="carecore_no_such_db")
    result = CliRunner().invoke(
        APP, [*_args(name, tmp_path), "--db", url], env={"CARECORE_CONFIG": ""}
    )
    assert result.exit_code == 2, result.output
    assert "--db=" in result.output
    assert "carecore_no_such_db" in result.output
    assert "no such database" in result.output
    assert "s3cret-pw" not in result.output
    assert "Traceback" not in result.output


def test_the_store_raises_the_typed_missing_store_error(postgres_server):
    url = _elsewhere(postgres_server, database="carecore_no_such_db")
    with pytest.raises(errors.NoSuchStore) as caught:
        open_store(url, plugin_manager=get_plugin_manager())
    assert caught.value.field == "url"
    assert "s3cret-pw" not in str(caught.value)


def test_a_server_that_cannot_be_reached_stays_exit_1(postgres_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    url = _elsewhere(postgres_server, port=port, database="postgres")
    result = CliRunner().invoke(APP, ["registry", "--db", url], env={"CARECORE_CONFIG": ""})
    assert result.exit_code == 1, result.output
    assert "connection failed" in result.output
    assert "s3cret-pw" not in result.output
    assert "no such database" not in result.output
