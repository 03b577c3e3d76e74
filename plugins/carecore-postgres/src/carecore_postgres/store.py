"""The PostgreSQL store: the same promises as SQLite, for practices that outgrow one machine.

Columns have PostgreSQL's own types (``DATE``, ``TIMESTAMPTZ``, ``BOOLEAN``,
``NUMERIC``, ``JSONB``). Transactions run at READ COMMITTED; a care-plan
revision is an ``UPDATE ... WHERE version = <stored>``, so of two concurrent
revisions exactly one wins and the other gets
:class:`~carecore.errors.ConflictError`. Bulk loads ``COPY`` each chunk
straight into its table under a savepoint; a chunk holding a stored key (a
re-run import) is rolled back to it and goes through a temporary staging
table and ``INSERT ... ON CONFLICT DO NOTHING`` instead, so it adds nothing
twice. Their audit rows (one a patient) are a ``COPY`` too. A batch write
(``Transaction.add_many``, as a store close's workers store a partition's
lines) of 50 rows or more is a ``COPY`` straight into the table.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.string import TextLoader

from carecore import errors
from carecore.storage.sql import SqlStore, quote

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from carecore.storage import Kind

__all__ = ["PostgresStore", "redact"]


def redact(url: str) -> str:
    """*url* without its password.

    >>> redact("postgresql://carer:s3cret@db.example.org:5432/practice")
    'postgresql://carer@db.example.org:5432/practice'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


_GUARD = """
CREATE FUNCTION carecore_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$
"""

#: The audit table's columns, in chain order (the hash last).
_AUDIT_COLUMNS = "at, actor, action, kind, key, patient_id, reason, detail"

#: From this many rows, a batch insert (``add_many``) or an audit append is a COPY.
_COPY_FROM = 50

#: The advisory lock key schema creation and migration hold (any fixed 64-bit number).
_SCHEMA_LOCK = 0x63617265636F7265  # "carecore" in ASCII


class PostgresStore(SqlStore):
    """A store in one PostgreSQL database (``postgresql://user@host:port/db``)."""

    PARAM: ClassVar[str] = "%s"
    TYPES: ClassVar[dict[str, str]] = {
        "text": "TEXT",
        "int": "INTEGER",
        "bool": "BOOLEAN",
        "date": "DATE",
        "time": "TIME",
        "instant": "TIMESTAMPTZ",
        "decimal": "NUMERIC",
        "json": "JSONB",
    }
    SEQ_COLUMN: ClassVar[str] = "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    BOOL_LITERALS: ClassVar[tuple[str, str]] = ("FALSE", "TRUE")
    #: TIMESTAMPTZ gives an instant back in UTC, whatever offset it was written with.
    KEEPS_OFFSET: ClassVar[bool] = False

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        super().__init__(redact(url))
        try:
            self._conn: psycopg.Connection[Any] | None = psycopg.connect(
                url, autocommit=False, connect_timeout=connect_timeout
            )
        except psycopg.Error as exc:
            if _no_database(exc):
                # The same answer as an SQLite file that does not exist (exit 2 on the
                # command line), not a server that cannot be reached (exit 1).
                raise errors.NoSuchStore(
                    url=self.url,
                    reason="no such database on this server (create it, e.g. with createdb, "
                    "then: carecore db init URL)",
                ) from exc
            raise errors.StoreUnavailable(
                _first_line(exc) or "cannot connect", field="url", value=self.url
            ) from exc
        # JSONB cells come back as their text, as SQLite's do: the store builds each
        # distinct short text once (its column memo keys by the text) and keeps built
        # records by the row's hash, neither of which a parsed dict allows. psycopg's own
        # loader parsed every cell, on top of the store's building of it.
        for name in ("json", "jsonb"):
            self._conn.adapters.register_loader(name, TextLoader)
        self._conn.execute("SET TIME ZONE 'UTC'")
        self._conn.commit()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise errors.StoreError("the store is closed", field="url", value=self.url)
        return self._conn

    def _begin(self) -> None:
        pass  # psycopg opens a transaction with the first statement

    def _commit(self) -> None:
        self._connection().commit()

    def _rollback(self) -> None:
        self._connection().rollback()

    def _translate(self, exc: Exception) -> errors.CarecoreError | None:  # noqa: PLR0911 - one branch per error
        text = _first_line(exc)
        if isinstance(exc, pg_errors.ForeignKeyViolation):
            if "is still referenced" in str(exc):
                return errors.InvalidValue(
                    "the patient still has stored records", field="patient_id", value=None
                )
            return errors.InvalidValue("no such patient is stored", field="patient_id", value=None)
        if isinstance(exc, pg_errors.UniqueViolation):
            return errors.ConflictError("already stored", field="key", value=None)
        if "the audit log is append-only" in str(exc):
            return errors.StoreError("the audit log is append-only", field="audit", value=None)
        if isinstance(exc, pg_errors.SerializationFailure | pg_errors.DeadlockDetected):
            return errors.ConflictError(text, field="transaction", value=None)
        if isinstance(exc, psycopg.OperationalError):
            return errors.StoreUnavailable(text, field="url", value=self.url)
        # What carecore.storage refuses first (NUL in text, keys too long to index), should
        # a write reach the database another way (a bulk load): the same typed answer.
        if isinstance(exc, psycopg.DataError) and "NUL" in str(exc):
            return errors.InvalidValue(
                "holds a NUL character, which no store keeps", field="text", value=None
            )
        if isinstance(exc, pg_errors.ProgramLimitExceeded):
            return errors.InvalidValue("is longer than a key may be", field="key", value=None)
        return None

    def _schema_lock(self, cur: Any) -> None:
        # Two creators would both find no tables and then collide on the second
        # CREATE TABLE: a transaction-scoped advisory lock makes the later one wait,
        # then find the schema there.
        self._execute(cur, "SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))

    def _table_exists(self, cur: Any, name: str) -> bool:
        # pg_class read with the statement's own snapshot, not to_regclass: that looks the
        # name up in the backend's catalog cache, which waiting on an advisory lock does not
        # refresh, so a creator let in after another one committed could still see no table.
        self._execute(
            cur,
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relname = ? AND n.nspname = current_schema())",
            (name,),
        )
        return bool(cur.fetchone()[0])

    def _audit_guard_ddl(self) -> list[str]:
        return [
            _GUARD,
            (
                "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
                "FOR EACH ROW EXECUTE FUNCTION carecore_audit_append_only()"
            ),
            (
                "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit "
                "FOR EACH STATEMENT EXECUTE FUNCTION carecore_audit_append_only()"
            ),
        ]

    def _audit_unguard_ddl(self) -> list[str]:
        return ["DROP FUNCTION carecore_audit_append_only() CASCADE"]

    def _audit_guard_problems(self, cur: Any) -> list[str]:
        # A trigger disabled with ALTER TABLE ... DISABLE TRIGGER protects nothing either.
        self._execute(
            cur,
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit'::regclass "
            "AND NOT tgisinternal AND tgenabled <> 'D'",
        )
        found = {row[0] for row in cur.fetchall()}
        return [
            f"audit log: the protecting trigger {name} is missing or disabled"
            for name in ("audit_append_only", "audit_no_truncate")
            if name not in found
        ]

    def _identifier_index_ddl(self) -> list[str]:
        # jsonb containment (@>) of one {system, value} pair, answered from a GIN index.
        return [
            "CREATE INDEX patients_identifiers ON patients USING GIN (identifiers jsonb_path_ops)"
        ]

    def _identifier_lookup(self, system: str, value: str) -> tuple[str, tuple[object, ...]]:
        pair = json.dumps([{"system": system, "value": value}])
        return "SELECT id, identifiers FROM patients WHERE identifiers @> CAST(? AS JSONB)", (pair,)

    def _bulk_insert(
        self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]], table: str
    ) -> int:
        # A load of new keys (the usual one) is COPY'd straight into the table, under a
        # savepoint: the database stores each row as it arrives while the next are made.
        # A key stored already, or twice in the load, fails that COPY; it is rolled back
        # and the rows go through a staging table and INSERT ... ON CONFLICT DO NOTHING,
        # which skips them.
        names = ", ".join(quote(c) for c in kind.column_names)
        sent: list[tuple[Any, ...]] = []
        remaining = iter(rows)
        cur.execute("SAVEPOINT carecore_bulk")
        try:
            with cur.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                write = copy.write_row
                keep = sent.append
                for row in remaining:
                    keep(row)
                    write(row)
        except pg_errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT carecore_bulk")
            sent.extend(remaining)
            return self._staged_insert(cur, names, sent, table)
        cur.execute("RELEASE SAVEPOINT carecore_bulk")
        return len(sent)

    @staticmethod
    def _staged_insert(cur: Any, names: str, rows: list[tuple[Any, ...]], table: str) -> int:
        stage = quote("stage_" + table)
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {quote(table)} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        cur.execute(
            f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {stage} ON CONFLICT DO NOTHING"
        )
        return int(cur.rowcount)

    def _copy_to_history(self, cur: Any, kind: Kind, ids: list[str]) -> None:
        # The rows now current of the chunk's ids, in one statement (an array parameter).
        names = ", ".join(quote(c) for c in kind.column_names)
        cur.execute(
            f"INSERT INTO {quote(kind.table + '_history')} ({names}) SELECT {names} "
            f"FROM {quote(kind.table)} WHERE id = ANY(%s) ON CONFLICT DO NOTHING",
            (ids,),
        )

    def _in(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        # One array parameter: psycopg caches the parsing of statement texts up to 4 KB,
        # and a partition's IN list of 2,000 marks was parsed again for every kind read.
        return f"{column} = ANY(?)", [list(values)]

    def _insert_audit(self, cur: Any, rows: list[tuple[object, ...]]) -> None:
        # A load's audit rows (one a patient) are a COPY; COPY keeps their order, so
        # they take their sequence numbers in chain order.
        if len(rows) < _COPY_FROM:
            super()._insert_audit(cur, rows)
            return
        with cur.copy(f"COPY audit ({_AUDIT_COLUMNS}, hash) FROM STDIN") as copy:
            write = copy.write_row
            for row in rows:
                write(row)

    def _insert_many(self, cur: Any, kind: Kind, table: str, rows: list[tuple[Any, ...]]) -> None:
        # A batch of a few rows is one INSERT; a larger one is COPY'd straight into the table
        # (a stored key fails the COPY, as it fails the INSERT: nothing of the batch is kept).
        if len(rows) < _COPY_FROM:
            super()._insert_many(cur, kind, table, rows)
            return
        names = ", ".join(quote(c) for c in kind.column_names)
        try:
            with cur.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def close(self) -> None:
        """Close the connection. Closing twice is harmless."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


#: The server's refusal of a connection to a database it does not have.
_NO_DATABASE = re.compile(r'FATAL:\s+database ".*" does not exist')


def _no_database(exc: psycopg.Error) -> bool:
    """Whether *exc* says the URL's database does not exist (SQLSTATE 3D000).

    libpq gives a failed connection no SQLSTATE, only the server's message, so
    the message is read as well (English: the server's default ``lc_messages``).
    """
    return exc.sqlstate == "3D000" or bool(_NO_DATABASE.search(str(exc)))


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
