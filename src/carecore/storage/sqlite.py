"""The embedded default store: one SQLite file (``sqlite:///path``), or memory (``memory://``).

WAL journal, foreign keys on, ``synchronous=FULL`` (a committed write
survives a power cut), a 30-second busy timeout, and ``BEGIN IMMEDIATE`` for
every write transaction, so two processes writing at once queue instead of
failing half-way. Transactions committed in :meth:`SqliteStore.unsynced`
skip the commit's sync (``synchronous=NORMAL`` for them) until
:meth:`SqliteStore.sync` syncs the write-ahead log: the HL7 listener
acknowledges a batch only after that, while it stores the next one.

URLs follow SQLAlchemy's form: ``sqlite:///relative/path.db``,
``sqlite:////absolute/path.db`` and ``sqlite:///:memory:``. ``memory://``
(and ``memory://label``) is that private in-memory database too: each store
opened from it is a new, empty database, held by the store's one connection,
gone when the store is closed, and seen by no other store or process. Being
the same SQL store, it keeps every promise a file does, except surviving.

>>> import pendulum
>>> from carecore.model import Practitioner, Credential
>>> store = SqliteStore("sqlite:///:memory:")
>>> store.initialize()
>>> at = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
>>> with store.transaction(actor="admin", reason="onboarding", at=at) as tx:
...     tx.add(Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD))
>>> with store.transaction(actor="admin", reason="lookup", at=at) as tx:
...     tx.get(Practitioner, "dr1").name
'Dr. Ruiz'
>>> store.close()
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from carecore import errors
from carecore._files import private_open
from carecore.storage.sql import SqlStore, quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from carecore.storage._kinds import Kind

__all__ = ["SqliteStore", "sqlite_path"]

_PREFIX = "sqlite:///"
_MEMORY = "memory://"


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite:///`` URL (``:memory:`` for a private database).

    >>> sqlite_path("sqlite:///practice.db"), sqlite_path("sqlite:////var/lib/cc.db")
    ('practice.db', '/var/lib/cc.db')
    >>> sqlite_path("memory://"), sqlite_path("memory://tests")
    (':memory:', ':memory:')
    """
    if url.startswith(_MEMORY):
        return ":memory:"
    if not url.startswith(_PREFIX) or len(url) == len(_PREFIX):
        raise errors.InvalidValue(
            "must look like sqlite:///path/to/file.db", field="url", value=url
        )
    return url[len(_PREFIX) :]


def _create_private(path: str, url: str) -> None:
    """Create a new database file readable by its owner only (0600): it will hold PHI.

    SQLite gives its WAL and shared-memory files the database file's mode. An
    existing file is left as it is.
    """
    try:
        private_open(Path(path), "wb", exclusive=True).close()
    except FileExistsError:
        return
    except OSError as exc:
        raise errors.StoreUnavailable(
            f"cannot create the file: {exc.strerror}", field="url", value=url
        ) from exc


def _index_identifiers(of: str, table: str = "") -> str:
    """An INSERT of the identifiers of patient row *of* (from *table*) into patient_identifiers."""
    return (
        "INSERT OR IGNORE INTO patient_identifiers (system, value, patient_id) "
        f"SELECT json_extract(j.value, '$.system'), json_extract(j.value, '$.value'), {of}.id "
        f"FROM {table + ', ' if table else ''}json_each({of}.identifiers) AS j "
        "WHERE json_type(j.value, '$.system') = 'text' AND json_type(j.value, '$.value') = 'text'"
    )


#: Schema 17: patients by identifier, a table kept by triggers on patients, and filled in.
_IDENTIFIER_INDEX = (
    (
        "CREATE TABLE patient_identifiers (system TEXT NOT NULL, value TEXT NOT NULL, "
        "patient_id TEXT NOT NULL, PRIMARY KEY (system, value, patient_id))"
    ),
    "CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id)",
    (
        "CREATE TRIGGER patient_identifiers_insert AFTER INSERT ON patients BEGIN "
        "DELETE FROM patient_identifiers WHERE patient_id = NEW.id; "
        f"{_index_identifiers('NEW')}; END"
    ),
    (
        "CREATE TRIGGER patient_identifiers_update AFTER UPDATE ON patients BEGIN "
        "DELETE FROM patient_identifiers WHERE patient_id IN (OLD.id, NEW.id); "
        f"{_index_identifiers('NEW')}; END"
    ),
    (
        "CREATE TRIGGER patient_identifiers_delete AFTER DELETE ON patients BEGIN "
        "DELETE FROM patient_identifiers WHERE patient_id = OLD.id; END"
    ),
    _index_identifiers("p", "patients AS p"),
)
_IDENTIFIER_LOOKUP = (
    "SELECT p.id, p.identifiers FROM patient_identifiers AS i "
    "JOIN patients AS p ON p.id = i.patient_id WHERE i.system = ? AND i.value = ?"
)


class SqliteStore(SqlStore):
    """A store in one SQLite file; the default for the demo and small practices."""

    PARAM: ClassVar[str] = "?"
    #: SQLite compares text with memcmp over UTF-8 (BINARY), which orders as Python's str.
    SORTS_LIKE_PYTHON: ClassVar[bool] = True
    TYPES: ClassVar[dict[str, str]] = {
        "text": "TEXT",
        "int": "INTEGER",
        "bool": "INTEGER",
        "date": "TEXT",
        "time": "TEXT",
        "instant": "TEXT",
        "decimal": "TEXT",
        "json": "TEXT",
    }

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        if self.path != ":memory:":
            if Path(self.path).is_dir():
                raise errors.InvalidValue(
                    "is a folder, not a database file", field="url", value=url
                )
            parent = Path(self.path).parent
            if not parent.is_dir():
                raise errors.StoreUnavailable(
                    f"folder {str(parent)!r} does not exist", field="url", value=url
                )
            _create_private(self.path, url)
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.BUSY_TIMEOUT,
            )
        except sqlite3.Error as exc:
            raise errors.StoreUnavailable(str(exc), field="url", value=url) from exc
        try:
            # Reading the header first: a file that is not a database fails here,
            # before any pragma could write to it.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if self.path != ":memory:":
                self._write_ahead(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            conn.close()
            mapped = self._translate(exc)
            raise (mapped or errors.StoreCorrupt(str(exc), field="url", value=url)) from exc
        self._conn: sqlite3.Connection | None = conn
        #: The write-ahead log :meth:`sync` syncs (None: a database in memory).
        self._wal = None if self.path == ":memory:" else f"{Path(self.path).resolve()}-wal"
        #: Whether this thread's transactions skip the commit's sync (see :meth:`unsynced`).
        self._later = threading.local()

    #: Seconds a statement waits for another connection's lock before the store gives up.
    BUSY_TIMEOUT: float = 30.0

    def _write_ahead(self, conn: sqlite3.Connection) -> None:
        """Put the file in write-ahead-log mode, waiting for other connections as a write does.

        Switching the mode needs the file to itself. When another connection
        holds a write lock in the rollback journal (a second process creating
        the same new file at the same moment), SQLite answers "database is
        locked" at once, without its busy wait; so the switch is tried again
        until :attr:`BUSY_TIMEOUT` has passed.
        """
        deadline = time.monotonic() + self.BUSY_TIMEOUT
        pause = 0.001
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            else:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise errors.StoreError("the store is closed", field="url", value=self.url)
        return self._conn

    @contextlib.contextmanager
    def unsynced(self) -> Iterator[None]:
        """This thread's transactions in the block commit without waiting for the disk.

        Their commits are atomic and seen by every later transaction, and
        survive the process being killed; :meth:`sync` makes them survive a
        power cut too (until it returns, one may be lost with the power).
        """
        before = getattr(self._later, "on", False)
        self._later.on = self._wal is not None
        try:
            yield
        finally:
            self._later.on = before

    def page_cache(self, mebibytes: int) -> None:
        """Let this store's connection keep up to *mebibytes* of the database's pages in memory.

        SQLite's default is about 2 MiB. A month close reads a partition's rows
        of every kind and writes its lines and audit rows into indexes that
        outgrow that cache as the store grows: with a larger one it reads fewer
        pages from the file again.
        """
        if isinstance(mebibytes, bool) or not isinstance(mebibytes, int) or mebibytes < 1:
            raise errors.InvalidValue(
                "must be a whole number of MiB, at least 1", field="mebibytes", value=mebibytes
            )
        with self._lock:
            self._connection().execute(f"PRAGMA cache_size = -{mebibytes * 1024}")

    def sync(self) -> None:
        """Sync the write-ahead log: every transaction committed so far is then durable.

        A checkpoint syncs the database file after copying the log into it,
        so the log holds every commit not yet durable. Raises
        :class:`~carecore.errors.StoreUnavailable` when the disk refuses.
        """
        if self._wal is None:
            return
        try:
            fd = os.open(self._wal, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
        except FileNotFoundError:
            return  # no log: what was committed is in the database file, synced by the checkpoint
        except OSError as exc:
            raise errors.StoreUnavailable(
                f"cannot open the write-ahead log to sync it: {exc.strerror}",
                field="url",
                value=self.url,
            ) from exc
        try:
            getattr(os, "fdatasync", os.fsync)(fd)
        except OSError as exc:
            raise errors.StoreUnavailable(
                f"cannot sync the write-ahead log: {exc.strerror}", field="url", value=self.url
            ) from exc
        finally:
            os.close(fd)

    def _begin(self) -> None:
        conn = self._connection()
        try:
            if getattr(self._later, "on", False):
                # Set outside the transaction (SQLite refuses it inside); _commit and
                # _rollback set FULL back.
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._durable(conn)
            raise (self._translate(exc) or exc) from exc

    def _commit(self) -> None:
        conn = self._connection()
        try:
            conn.execute("COMMIT")
        finally:
            self._durable(conn)

    def _rollback(self) -> None:
        conn = self._connection()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        self._durable(conn)

    def _durable(self, conn: sqlite3.Connection) -> None:
        """Commits wait for the disk again, after a transaction begun in :meth:`unsynced`."""
        if getattr(self._later, "on", False) and not conn.in_transaction:
            conn.execute("PRAGMA synchronous=FULL")

    def _end_read(self) -> None:
        pass  # autocommit mode: plain reads hold no transaction

    def _translate(self, exc: Exception) -> errors.CarecoreError | None:  # noqa: PLR0911 - one branch per error
        text = str(exc)
        if isinstance(exc, sqlite3.IntegrityError):
            if "FOREIGN KEY" in text:
                return errors.InvalidValue(
                    "no such patient is stored", field="patient_id", value=None
                )
            if "UNIQUE" in text or "PRIMARY KEY" in text:
                return errors.ConflictError("already stored", field="key", value=None)
            if "audit log is append-only" in text:
                return errors.StoreError("the audit log is append-only", field="audit", value=None)
            return None
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text or "unable to open" in text or "readonly" in text:
                return errors.StoreUnavailable(text, field="url", value=self.url)
            if "audit log is append-only" in text:
                return errors.StoreError("the audit log is append-only", field="audit", value=None)
            if "malformed" in text:
                return errors.StoreCorrupt(text, field="url", value=self.url)
            return None
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.ProgrammingError):
            return errors.StoreCorrupt(text, field="url", value=self.url)
        return None

    def _table_exists(self, cur: Any, name: str) -> bool:
        self._execute(cur, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        return cur.fetchone() is not None

    def _audit_guard_ddl(self) -> list[str]:
        return [
            f"CREATE TRIGGER audit_no_{verb.lower()} BEFORE {verb} ON audit "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            for verb in ("UPDATE", "DELETE")
        ]

    def _audit_unguard_ddl(self) -> list[str]:
        return [f"DROP TRIGGER audit_no_{verb}" for verb in ("update", "delete")]

    def _audit_guard_problems(self, cur: Any) -> list[str]:
        self._execute(
            cur, "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'"
        )
        found = {row[0] for row in cur.fetchall()}
        return [
            f"audit log: the protecting trigger {name} is missing"
            for name in ("audit_no_update", "audit_no_delete")
            if name not in found
        ]

    def _identifier_index_ddl(self) -> list[str]:
        # A table of (system, value, patient) kept by triggers on patients, so every way a
        # patient is written (add, replace, bulk load, delete) keeps it; filled in for the
        # patients stored before it.
        return list(_IDENTIFIER_INDEX)

    def _identifier_lookup(self, system: str, value: str) -> tuple[str, tuple[object, ...]]:
        return _IDENTIFIER_LOOKUP, (system, value)

    def _bulk_insert(
        self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]], table: str
    ) -> int:
        marks = ", ".join("?" for _ in kind.columns)
        names = ", ".join(quote(c) for c in kind.column_names)
        cur.executemany(
            f"INSERT INTO {quote(table)} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
        )
        # The rows this statement inserted: rowcount sums sqlite3_changes(), which leaves out
        # what triggers write (the patient_identifiers index rows), as total_changes does not.
        return max(int(cur.rowcount), 0)

    def _dialect_checks(self, cur: Any) -> list[str]:
        problems = []
        self._execute(cur, "PRAGMA integrity_check")
        results = [row[0] for row in cur.fetchall()]
        if results != ["ok"]:
            problems += [f"integrity_check: {r}" for r in results]
        self._execute(cur, "PRAGMA foreign_key_check")
        problems += [
            f"foreign key: {row[0]} row {row[1]} points to a missing {row[2]}"
            for row in cur.fetchall()
        ]
        return problems

    def close(self) -> None:
        """Close the file. Closing twice is harmless."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
