"""PostgreSQL for tests: a throwaway cluster, or the server named by an environment variable.

Use it as a pytest plugin (``pytest_plugins = ["carecore_postgres.testing"]``)
for the ``postgres_server`` (session) and ``postgres_url`` (a new, empty
database per test) fixtures, or call :func:`throwaway_cluster` yourself.

- When ``CARECORE_TEST_POSTGRES_URL`` is set, tests use that server; each test
  database is created on it and dropped afterwards (the role needs CREATEDB).
- Otherwise a cluster is created with the installed server binaries
  (``initdb``, ``pg_ctl``) in a temporary folder, listening on 127.0.0.1 on a
  free port, and removed at the end of the session.
- When no server binaries can be found the fixtures fail with a message that
  says how to install them; they never skip silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ENV_URL",
    "NoServerBinaries",
    "find_binaries",
    "postgres_server",
    "postgres_url",
    "throwaway_cluster",
]

#: The environment variable naming an existing server to test against.
ENV_URL = "CARECORE_TEST_POSTGRES_URL"

HOW_TO_INSTALL = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them, e.g. "
    "'apt-get install postgresql' (Debian/Ubuntu), 'dnf install postgresql-server' (Fedora) or "
    "'brew install postgresql' (macOS), or put their folder on PATH, or set "
    f"{ENV_URL}=postgresql://user@127.0.0.1:5432/postgres to use a running server."
)


class NoServerBinaries(RuntimeError):
    """initdb and pg_ctl are not installed (the message says how to install them)."""


#: Where server binaries live when they are not on PATH (Debian, Homebrew, source builds).
SEARCH = (
    ("/usr/lib/postgresql", "*/bin"),
    ("/opt/homebrew/opt", "postgresql*/bin"),
    ("/usr/local/pgsql", "bin"),
)


def find_binaries(*, path: str | None = None, search: tuple[tuple[str, str], ...] = SEARCH) -> Path:
    """The folder holding ``initdb`` and ``pg_ctl``: *path* (default PATH) first, then *search*.

    Raises :class:`NoServerBinaries`, whose message says how to install them.
    """
    found = shutil.which("initdb", path=path)
    if found and shutil.which("pg_ctl", path=path):
        return Path(os.path.realpath(found)).parent
    candidates: list[Path] = []
    for root, pattern in search:
        candidates += sorted(Path(root).glob(pattern), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    raise NoServerBinaries(HOW_TO_INSTALL)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a private PostgreSQL cluster on 127.0.0.1 and yield its admin URL.

    The cluster lives in a temporary folder and is stopped and removed on
    exit. With ``durable=False`` (tests) fsync is off; benchmarks pass
    ``durable=True`` to measure what a real server does.
    """
    binaries = find_binaries()
    folder = Path(tempfile.mkdtemp(prefix="carecore-pg-"))
    data = folder / "data"
    prefix: list[str] = []
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # initdb refuses to run as root: run the server as the 'postgres' user.
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder}"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    log = folder / "server.log"

    def run(*args: str) -> None:
        done = subprocess.run([*prefix, *args], capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode != 0:
            msg = f"{' '.join(args[:2])} failed: {done.stderr.strip() or done.stdout.strip()}"
            raise RuntimeError(msg)

    try:
        run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
        run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create a new, empty database on *server_url*; drop it afterwards."""
    name = "carecore_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """An admin URL of a PostgreSQL server for this test session."""
    configured = os.environ.get(ENV_URL, "").strip()
    if configured:
        yield configured
        return
    try:
        with throwaway_cluster() as url:
            yield url
    except NoServerBinaries as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    with fresh_database(postgres_server) as url:
        yield url
