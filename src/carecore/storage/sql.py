"""The shared machinery of SQL stores: schema, migrations, transactions, bulk loads.

:class:`SqlStore` holds everything that does not depend on the database:
the tables built from :data:`carecore.storage.KINDS`, the numbered migrations,
the audit and outbox writes and the consistency check. A dialect subclass
(the built-in SQLite store, the ``carecore-postgres`` plugin) supplies the
connection, the column types, transaction control, error translation and its
fastest bulk path. A vendor with another SQL database starts here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import operator
import threading
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from carecore import errors
from carecore.model import AssessmentResult, CarePlan, CareTeam, DeliveryReceipt, OutboundMessage
from carecore.model.validators import check_instant
from carecore.protocols import AuditEntry, BulkResult, CheckReport, OutboxItem, StoredRows
from carecore.storage import _chain, _checks
from carecore.storage._kinds import KINDS, Kind, _cms_complete, _load_instant, kind_for

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

__all__ = ["SCHEMA_VERSION", "SqlStore", "SqlTransaction", "quote"]

T = TypeVar("T")

#: The schema version this carecore reads and writes.
SCHEMA_VERSION = 21

#: Rows converted and sent to the driver at a time by bulk loads.
BULK_CHUNK = 20_000
#: Patients per query of :meth:`SqlTransaction.find_many` (bound parameters of one statement).
PARTITION_LIMIT = 5_000
#: find_rows first asks whether a table holds any row when it reads more patients than this.
_PROBE_FROM = 50
#: Keys per query of :meth:`SqlTransaction.get_many`.
GET_MANY_CHUNK = 200


def quote(name: str) -> str:
    """An SQL identifier in double quotes (``on`` is a column name).

    >>> quote("on")
    '"on"'
    """
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=1024)
def _counted(n: int, one: str, many: str) -> str:
    """*n* and the noun for it, for audit details: ``1 record``, ``2 records``, ``0 records``."""
    return f"{n} {one if n == 1 else many}"


@functools.lru_cache(maxsize=256)
def _cols(names: tuple[str, ...]) -> str:
    # Cached: every statement spells its kind's column list, and there are few kinds.
    return ", ".join(quote(n) for n in names)


@functools.lru_cache(maxsize=256)
def _insert_sql(table: str, names: tuple[str, ...]) -> str:
    """``INSERT INTO table (names) VALUES (?, ...)``, spelled once per table."""
    marks = ", ".join("?" for _ in names)
    return f"INSERT INTO {quote(table)} ({_cols(names)}) VALUES ({marks})"


@functools.lru_cache(maxsize=256)
def _where_sql(key: tuple[str, ...]) -> str:
    """``"a" = ? AND "b" = ?`` for a kind's key columns."""
    return " AND ".join(f"{quote(k)} = ?" for k in key)


@functools.lru_cache(maxsize=256)
def _select_sql(
    table: str, names: tuple[str, ...], where: tuple[str, ...], order: tuple[str, ...]
) -> str:
    """``SELECT names FROM table WHERE where [ORDER BY order]``, spelled once per query shape."""
    sql = f"SELECT {_cols(names)} FROM {quote(table)} WHERE {_where_sql(where)}"
    return f"{sql} ORDER BY {_cols(order)}" if order else sql


@functools.lru_cache(maxsize=256)
def _get_many_sql(table: str, names: tuple[str, ...], key: tuple[str, ...], count: int) -> str:
    """``SELECT names FROM table`` of *count* keys (``k IN (...)``, or one ``OR`` term a key)."""
    if len(key) == 1:
        where = f"{quote(key[0])} IN ({', '.join('?' for _ in range(count))})"
    else:
        where = " OR ".join(f"({_where_sql(key)})" for _ in range(count))
    return f"SELECT {_cols(names)} FROM {quote(table)} WHERE {where}"


#: Identifier pairs looked up in one query by ``patients_with_identifiers``.
IDENTIFIER_CHUNK = 100


class SqlStore:
    """Base class for stores over a DB-API 2.0 connection.

    Subclasses set :attr:`PARAM` and :attr:`TYPES` and implement the methods
    marked *dialect* below. All SQL here is written with ``?`` placeholders
    and rewritten once to the dialect's marker.
    """

    #: The driver's placeholder (``?`` for sqlite3, ``%s`` for psycopg).
    PARAM: ClassVar[str] = "?"
    #: Logical column type -> the database's type name.
    TYPES: ClassVar[dict[str, str]] = {}
    #: The column definition of the audit log's sequence number.
    SEQ_COLUMN: ClassVar[str] = "seq INTEGER PRIMARY KEY AUTOINCREMENT"
    #: Whether the database orders keys as Python does (text by code point, numbers as
    #: numbers): :meth:`SqlTransaction.find_rows` then sorts the rows it fetched instead
    #: of asking for an ``ORDER BY``, which costs a patient-indexed read a sort in SQL.
    SORTS_LIKE_PYTHON: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.RLock()
        self._ready = False
        self._open = False
        self._sql_cache: dict[str, str] = {}

    # -- dialect ----------------------------------------------------------------

    def _connection(self) -> Any:
        """The open DB-API connection (dialect)."""
        raise NotImplementedError

    def _begin(self) -> None:
        """Start a write transaction that will not be upgraded later (dialect)."""
        raise NotImplementedError

    def _commit(self) -> None:
        """Commit the open transaction (dialect)."""
        raise NotImplementedError

    def _rollback(self) -> None:
        """Roll back the open transaction, if any (dialect)."""
        raise NotImplementedError

    def _translate(self, exc: Exception) -> errors.CarecoreError | None:
        """The carecore error for a driver error, or None to let it through (dialect)."""
        raise NotImplementedError

    def _table_exists(self, cur: Any, name: str) -> bool:
        """Whether the table *name* exists (dialect)."""
        raise NotImplementedError

    def _audit_guard_ddl(self) -> list[str]:
        """Statements that make the audit table refuse UPDATE and DELETE (dialect)."""
        raise NotImplementedError

    def _audit_unguard_ddl(self) -> list[str]:
        """Statements undoing :meth:`_audit_guard_ddl`, for a migration that fills a column (dialect)."""
        raise NotImplementedError

    def _audit_guard_problems(self, cur: Any) -> list[str]:
        """Problem sentences for protecting triggers or rules that are missing or disabled (dialect)."""
        raise NotImplementedError

    def _schema_lock(self, cur: Any) -> None:
        """Serialise schema changes for the open transaction (dialect; SQLite's write lock does).

        Held until the transaction ends, so a second ``db init`` or ``db migrate``
        waits for the first and then finds its work done.
        """

    def _bulk_insert(
        self, cur: Any, kind: Kind, rows: Iterable[tuple[Any, ...]], table: str
    ) -> int:
        """Insert *rows* into *table*, skipping stored keys; return rows added (dialect).

        *rows* are made from the records as they are read (once), so a
        dialect that streams them to the database converts the next while
        the database stores the last.
        """
        raise NotImplementedError

    def _identifier_index_ddl(self) -> list[str]:
        """Statements that index patients by identifier, filled in for stored ones (dialect; schema 17)."""
        raise NotImplementedError

    def _identifier_lookup(self, system: str, value: str) -> tuple[str, tuple[object, ...]]:
        """A query for the id and identifiers of each patient that may carry (*system*, *value*) (dialect).

        It reads the identifier index, so its cost does not grow with the
        number of patients; the caller checks each row's identifiers.
        """
        raise NotImplementedError

    def _dialect_checks(self, cur: Any) -> list[str]:  # noqa: ARG002 - dialects use it
        """The database's own integrity checks, as problem sentences (dialect)."""
        return []

    def close(self) -> None:
        """Release the connection. Closing twice is harmless."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL the store was opened with, with any password removed."""
        return self._url

    def _sql(self, text: str) -> str:
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = text if self.PARAM == "?" else text.replace("?", self.PARAM)
            self._sql_cache[text] = cached
        return cached

    def _execute(self, cur: Any, text: str, params: Sequence[object] = ()) -> Any:
        try:
            cur.execute(self._sql(text), params)
        except UnicodeEncodeError as exc:
            # A lone surrogate (text decoded with surrogateescape, say) has no UTF-8 form:
            # refuse it by position, never echoing the text (it may be a patient's).
            raise errors.InvalidValue(
                "text with a character UTF-8 cannot hold (a lone surrogate)",
                field="text",
                value=f"character {exc.start}",
            ) from exc
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc
        return cur

    def _execute_many(self, cur: Any, text: str, rows: Sequence[Sequence[object]]) -> None:
        try:
            cur.executemany(self._sql(text), rows)
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _in(self, column: str, values: Sequence[object]) -> tuple[str, list[object]]:
        """A condition that *column* (already quoted) is one of *values*, and its parameters.

        ``column IN (?, ?, ...)``, one mark a value. A store whose driver takes a
        list as one parameter overrides it (PostgreSQL's ``= ANY(?)``): one short
        statement text, whatever the count, that its driver parses once.
        """
        return f"{column} IN ({', '.join('?' for _ in values)})", list(values)

    def _insert_many(self, cur: Any, kind: Kind, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert *rows* of *kind* into *table* in one batch (``executemany``).

        A store with a faster path (PostgreSQL's ``COPY``) overrides it.
        """
        marks = ", ".join("?" for _ in kind.columns)
        names = _cols(kind.column_names)
        self._execute_many(cur, f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})", rows)

    # -- schema -----------------------------------------------------------------

    def _kind_ddl(
        self, kind: Kind, version: int, table: str | None = None, *, history: bool = False
    ) -> str:
        lines = []
        for column in kind.columns:
            if column.since > version:
                continue
            null = "" if column.nullable else " NOT NULL"
            lines.append(f"{quote(column.name)} {self.TYPES[column.type]}{null}")
        key = kind.key + (("version",) if history else ())
        lines.append(f"PRIMARY KEY ({_cols(key)})")
        if kind.references_patient and not history:
            lines.append(
                f"FOREIGN KEY ({quote('patient_id')}) REFERENCES {quote('patients')} ({quote('id')})"
            )
        body = ",\n  ".join(lines)
        return f"CREATE TABLE {quote(table or kind.table)} (\n  {body}\n)"

    def _migration(self, version: int) -> list[str]:  # noqa: C901 - one branch per migration
        t = self.TYPES
        ddl = self._kinds_added(version)
        if version == 1:
            ddl = [f"CREATE TABLE carecore_schema (version {t['int']} NOT NULL)", *ddl]
            ddl += [
                f"""CREATE TABLE audit (
  {self.SEQ_COLUMN},
  at {t["instant"]} NOT NULL, actor {t["text"]} NOT NULL, action {t["text"]} NOT NULL,
  kind {t["text"]} NOT NULL, key {t["text"]}, patient_id {t["text"]},
  reason {t["text"]} NOT NULL, detail {t["text"]} NOT NULL)""",
                f"""CREATE TABLE outbox (
  id {t["text"]} PRIMARY KEY, idempotency_key {t["text"]} NOT NULL UNIQUE,
  channel {t["text"]} NOT NULL, recipient {t["text"]} NOT NULL, subject {t["text"]} NOT NULL,
  body {t["text"]} NOT NULL, created_at {t["instant"]} NOT NULL, patient_id {t["text"]},
  status {t["text"]} NOT NULL, attempts {t["int"]} NOT NULL,
  delivered_at {t["instant"]}, last_error {t["text"]})""",
                f"""CREATE TABLE inbound (
  source {t["text"]} NOT NULL, key {t["text"]} NOT NULL, received_at {t["instant"]} NOT NULL,
  PRIMARY KEY (source, key))""",
                *self._audit_guard_ddl(),
            ]
            return ddl
        if version == 2:  # noqa: PLR2004 - migration numbers
            return [
                "CREATE INDEX audit_patient ON audit (patient_id, seq)",
                "CREATE INDEX outbox_status ON outbox (status, created_at)",
            ]
        if version == 4:  # noqa: PLR2004
            # Kinds fed by ADT messages have no foreign key to patients, and
            # version 1 gave them no patient index either: lookups scanned.
            ddl += [
                f"CREATE INDEX {quote(kind.table + '_patient')} ON {quote(kind.table)} (patient_id)"
                for kind in KINDS
                if kind.since < version
                and kind.patient_column == "patient_id"
                and not kind.references_patient
            ]
        if version == 5:  # noqa: PLR2004
            # Outbox delivery with retries: when the next attempt is due (UTC).
            ddl += [f"ALTER TABLE outbox ADD COLUMN next_attempt_at {t['instant']}"]
        if version == 6:  # noqa: PLR2004
            # Messages to patients obey their contact preferences (the new table above).
            ddl += [
                f"ALTER TABLE outbox ADD COLUMN audience {t['text']} NOT NULL DEFAULT 'care-team'"
            ]
        if version == 12:  # noqa: PLR2004
            # Outbox lease fencing: each claim of a message takes the next number,
            # and only the newest claim may extend its lease or record a delivery.
            ddl += [f"ALTER TABLE outbox ADD COLUMN claim_generation {t['int']} NOT NULL DEFAULT 0"]
        if version == 14:  # noqa: PLR2004
            # A partitioned close reads the versions of a partition's patients at once.
            ddl += [
                self._history_index(kind)
                for kind in KINDS
                if kind.since < version and kind.versioned and kind.patient_column == "patient_id"
            ]
        if version == 15:  # noqa: PLR2004
            # The audit log's hash chain: each row's hash, and the last row's in audit_head.
            ddl += [
                f"ALTER TABLE audit ADD COLUMN hash {t['text']}",
                f"CREATE TABLE audit_head (seq BIGINT NOT NULL, hash {t['text']} NOT NULL)",
            ]
        if version == 18:  # noqa: PLR2004
            # Every kind keeps its earlier values: the value a replace or a delete ended,
            # with when, who and why (versioned kinds keep theirs in their _history tables).
            ddl += [
                f"""CREATE TABLE record_history (
  {self.SEQ_COLUMN},
  kind {t["text"]} NOT NULL, key {t["text"]} NOT NULL, patient_id {t["text"]},
  ended_at {t["instant"]} NOT NULL, actor {t["text"]} NOT NULL, reason {t["text"]} NOT NULL,
  change {t["text"]} NOT NULL, record {t["text"]} NOT NULL)""",
                "CREATE INDEX record_history_key ON record_history (kind, key, seq)",
                "CREATE INDEX record_history_patient ON record_history (patient_id, seq)",
            ]
        ddl += self._dialect_migration(version)
        if version <= SCHEMA_VERSION:
            return ddl
        msg = f"no migration to schema {version}"
        raise AssertionError(msg)

    def _dialect_migration(self, version: int) -> list[str]:
        """The statements of migration *version* each dialect writes its own way."""
        if version == 17:  # noqa: PLR2004
            # Patients by identifier: an HL7 message for a patient not linked yet scanned
            # every patient's identifiers.
            return self._identifier_index_ddl()
        return []

    @staticmethod
    def _history_index(kind: Kind) -> str:
        """The index of a versioned kind's history by patient (schema 14)."""
        table = kind.table + "_history"
        return f"CREATE INDEX {quote(table + '_patient')} ON {quote(table)} (patient_id)"

    #: How the database spells false and true in DDL defaults.
    BOOL_LITERALS: ClassVar[tuple[str, str]] = ("0", "1")

    def _literal(self, value: object) -> str:
        """A Python default as an SQL literal for ``DEFAULT`` (bools, numbers, text)."""
        if isinstance(value, bool):
            return self.BOOL_LITERALS[value]
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    def _kinds_added(self, version: int) -> list[str]:
        """Tables of kinds new in *version*, and columns added to older kinds in it."""
        ddl: list[str] = []
        for kind in KINDS:
            if kind.since == version:
                ddl.append(self._kind_ddl(kind, version))
                if kind.references_patient and kind.key[0] != "patient_id":
                    ddl.append(
                        f"CREATE INDEX {quote(kind.table + '_patient')} ON {quote(kind.table)} (patient_id)"
                    )
                if kind.versioned:
                    ddl.append(self._kind_ddl(kind, version, kind.table + "_history", history=True))
                    if version >= 14 and kind.patient_column == "patient_id":  # noqa: PLR2004
                        ddl.append(self._history_index(kind))
            elif kind.since < version:
                tables = [kind.table] + ([kind.table + "_history"] if kind.versioned else [])
                for column in kind.columns:
                    if column.since != version:
                        continue
                    kind_sql = self.TYPES[column.type]
                    rest = (
                        ""
                        if column.backfill is None
                        else f" NOT NULL DEFAULT {self._literal(column.backfill)}"
                    )
                    ddl += [
                        f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {kind_sql}{rest}"
                        for table in tables
                    ]
        return ddl

    def schema_version(self) -> int:
        """The schema version stored in the database (0 when it is empty).

        >>> from carecore.storage import open_store
        >>> store = open_store("sqlite:///:memory:")
        >>> store.schema_version()
        0
        >>> store.initialize()
        >>> store.schema_version() == SCHEMA_VERSION
        True
        """
        with self._lock:
            cur = self._connection().cursor()
            try:
                if not self._table_exists(cur, "carecore_schema"):
                    return 0
                self._execute(cur, "SELECT version FROM carecore_schema")
                row = cur.fetchone()
                return 0 if row is None else int(row[0])
            finally:
                self._end_read()

    def _stored_version(self, cur: Any) -> int:
        """The schema version as the open transaction sees it (0 when there is none)."""
        if not self._table_exists(cur, "carecore_schema"):
            return 0
        row = self._execute(cur, "SELECT version FROM carecore_schema").fetchone()
        return 0 if row is None else int(row[0])

    def _end_read(self) -> None:
        """Close the implicit read transaction some drivers open after a plain read."""
        with contextlib.suppress(Exception):
            self._rollback()

    #: Whether the audit log has its hash chain (schema 15); None until first looked up.
    _chained: bool | None = None

    #: Whether the last :meth:`initialize` created the schema (False: it was there).
    created_schema: bool = False

    def initialize(self) -> None:
        """Create the schema in an empty database; check the version of a used one.

        Idempotent. The whole schema is created in one transaction, so a
        creation that fails or is killed leaves the database empty. Processes
        creating it at once are serialised: one creates it, the others find it
        there (:attr:`created_schema` is False for them). Raises
        :class:`~carecore.errors.SchemaVersionError` for a database of another
        schema version (and changes nothing).
        """
        self.created_schema = False
        version = self.schema_version()
        if version == 0:
            self.created_schema = self._create_schema()
            version = SCHEMA_VERSION if self.created_schema else self.schema_version()
        if version != SCHEMA_VERSION:
            raise errors.SchemaVersionError(found=version, expected=SCHEMA_VERSION, url=self.url)
        self._ready = True

    def _create_schema(self) -> bool:
        """Every migration in one transaction; False when another process created the schema first."""
        with self._lock:
            cur = self._connection().cursor()
            self._begin()
            try:
                self._schema_lock(cur)
                if self._table_exists(cur, "carecore_schema"):
                    self._rollback()
                    return False
                for step in range(1, SCHEMA_VERSION + 1):
                    for statement in self._migration(step):
                        self._execute(cur, statement)
                    self._migration_data(cur, step)
                self._execute(
                    cur, "INSERT INTO carecore_schema (version) VALUES (?)", (SCHEMA_VERSION,)
                )
            except BaseException:
                self._rollback()
                raise
            self._commit()
            return True

    def migrate(self, *, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to *target*, each in its own transaction.

        Returns the versions applied (empty when already current).
        """
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise errors.SchemaVersionError(found=version, expected=SCHEMA_VERSION, url=self.url)
        _checks.migration_target(target, version, SCHEMA_VERSION)
        steps = list(range(version + 1, target + 1))
        self._apply(steps)
        self._ready = target == SCHEMA_VERSION
        return steps

    def _apply(self, steps: Iterable[int]) -> None:
        with self._lock:
            for step in steps:
                cur = self._connection().cursor()
                self._begin()
                try:
                    self._schema_lock(cur)
                    if self._stored_version(cur) >= step:
                        # Another process applied it while this one waited for the lock.
                        self._rollback()
                        continue
                    for statement in self._migration(step):
                        self._execute(cur, statement)
                    self._migration_data(cur, step)
                    if step == 1:
                        self._execute(cur, "INSERT INTO carecore_schema (version) VALUES (?)", (1,))
                    else:
                        self._execute(cur, "UPDATE carecore_schema SET version = ?", (step,))
                except BaseException:
                    self._rollback()
                    raise
                self._commit()

    def _migration_data(self, cur: Any, step: int) -> None:
        """The part of migration *step* written in Python (after its DDL, in its transaction)."""
        if step == 16:  # noqa: PLR2004
            self._close_kinds(cur)
        if step == 20:  # noqa: PLR2004
            self._care_plans_complete(cur)
        if step == 19:  # noqa: PLR2004
            self._assessment_acknowledgement(cur)
        if step == 21:  # noqa: PLR2004
            self._discharge_dates(cur)
        if step != 15:  # noqa: PLR2004
            return
        # Chain the rows already stored: lift the append-only guard for this one
        # transaction, fill in the hashes in sequence order, put the guard back.
        for statement in self._audit_unguard_ddl():
            self._execute(cur, statement)
        self._execute(cur, f"SELECT seq, {_AUDIT_COLUMNS} FROM audit ORDER BY seq")
        rows = cur.fetchall()
        hashes = _chain.chain(_chain.GENESIS, [row[1:] for row in rows])
        if rows:
            self._execute_many(
                cur,
                "UPDATE audit SET hash = ? WHERE seq = ?",
                [(h, row[0]) for h, row in zip(hashes, rows, strict=True)],
            )
        for statement in self._audit_guard_ddl():
            self._execute(cur, statement)
        self._execute(
            cur,
            "INSERT INTO audit_head (seq, hash) VALUES (?, ?)",
            (int(rows[-1][0]) if rows else 0, hashes[-1] if hashes else _chain.GENESIS),
        )

    def _assessment_acknowledgement(self, cur: Any) -> None:
        """Add ``acknowledged_by``/``acknowledged_at`` to assessment results that lack them (schema 19).

        They arrived without a migration of their own: a store created since
        has them from its schema 3, one created before has not. The columns
        are read from the table itself, so either store ends with them once.
        """
        kind = kind_for(AssessmentResult)
        self._execute(cur, f"SELECT * FROM {quote(kind.table)} WHERE 1 = 0")
        present = {str(d[0]) for d in cur.description}
        cur.fetchall()
        for column in kind.columns:
            if (
                column.field in {"acknowledged_by", "acknowledged_at"}
                and column.name not in present
            ):
                self._execute(
                    cur,
                    f"ALTER TABLE {quote(kind.table)} ADD COLUMN {quote(column.name)} "
                    f"{self.TYPES[column.type]}",
                )

    #: Versions whose CMS completeness migration 20 works out per statement.
    _COMPLETE_CHUNK = 2_000

    def _care_plans_complete(self, cur: Any) -> None:
        """Fill in ``cms_complete`` (new in schema 20) of every stored care-plan version.

        Each version is built from the columns it had at schema 20 (a column
        added later takes its backfill) and checked with
        :func:`carecore.careplans.completeness`, as a write does now.
        """
        kind = kind_for(CarePlan)
        there = [c for c in kind.columns if c.since <= 20]  # noqa: PLR2004
        at = {c.name: n for n, c in enumerate(there)}
        select = f"SELECT {_cols(tuple(at))} FROM "
        # Read a chunk at a time, in key order, after the last key done (plans are large).
        for table, after in (
            (kind.table, "WHERE id > ? ORDER BY id"),
            (
                kind.table + "_history",
                "WHERE id > ? OR (id = ? AND version > ?) ORDER BY id, version",
            ),
        ):
            history = table != kind.table
            where = "id = ? AND version = ?" if history else "id = ?"
            last: tuple[object, ...] = ("",) if not history else ("", "", 0)
            while True:
                self._execute(
                    cur, f"{select}{quote(table)} {after} LIMIT {self._COMPLETE_CHUNK}", last
                )
                rows = cur.fetchall()
                if not rows:
                    break
                updates = []
                for row in rows:
                    full = [row[at[c.name]] if c.name in at else c.backfill for c in kind.columns]
                    keys = (row[at["id"]], row[at["version"]]) if history else (row[at["id"]],)
                    updates.append((_cms_complete(kind.build(full)), *keys))
                self._execute_many(
                    cur, f"UPDATE {quote(table)} SET cms_complete = ? WHERE {where}", updates
                )
                done = updates[-1][1:]
                last = (done[0], done[0], done[1]) if history else done

    #: Migration 16: the close kind of the episodes closed before it, from the words
    #: carecore wrote for each kind of close (the one place that reads them).
    _CLOSE_KINDS = (
        ("discharge-cancelled", "status = ?", ("cancelled",)),
        ("expired", "status = ? AND close_reason LIKE ?", ("closed", "expired: %")),
        ("died", "status = ? AND close_reason LIKE ?", ("closed", "patient died on %")),
        (
            "not-qualifying",
            "status = ? AND close_reason = ?",
            ("closed", "the discharge settings do not qualify for TCM"),
        ),
    )

    def _close_kinds(self, cur: Any) -> None:
        """Fill in ``close_kind`` (new in schema 16) of the episodes and their versions."""
        for table in ("transition_episodes", "transition_episodes_history"):
            for kind, where, params in self._CLOSE_KINDS:
                self._execute(
                    cur,
                    f"UPDATE {quote(table)} SET close_kind = ? WHERE {where}",
                    (kind, *params),
                )

    #: Whether an instant column gives back the offset it was written with (SQLite's
    #: text does; PostgreSQL's TIMESTAMPTZ gives the instant in UTC).
    KEEPS_OFFSET: ClassVar[bool] = True

    def _discharge_dates(self, cur: Any) -> None:
        """Fill in ``discharge_date`` (new in schema 21) of every episode and its versions.

        It is the local day the deadlines were counted from. Where the store
        kept the instant's offset (SQLite), that is the date in it, as carecore
        read it before. Where it did not (PostgreSQL), the instant is put in
        the zone the episode was opened in: the patient's stored one, else the
        practice's (``carecore db set time-zone``), else UTC.
        """
        zones: dict[str, str] = {}
        fallback = "UTC"
        if not self.KEEPS_OFFSET:
            self._execute(cur, "SELECT id, time_zone FROM patients")
            zones = {str(r[0]): str(r[1]) for r in cur.fetchall()}
            self._execute(cur, "SELECT value FROM practice_settings WHERE name = ?", ("time-zone",))
            row = cur.fetchone()
            fallback = str(row[0]) if row is not None else fallback
        for table, key in (
            ("transition_episodes", "id = ?"),
            ("transition_episodes_history", "id = ? AND version = ?"),
        ):
            self._execute(cur, f"SELECT id, version, patient_id, discharged_at FROM {quote(table)}")
            updates = []
            for eid, version, patient_id, raw in cur.fetchall():
                at = _load_instant(raw)
                assert at is not None  # noqa: S101 - a NOT NULL column
                if not self.KEEPS_OFFSET:
                    at = at.in_timezone(zones.get(str(patient_id), fallback))
                keys = (eid, version) if key.endswith("version = ?") else (eid,)
                updates.append((at.date().isoformat(), *keys))
            if updates:
                self._execute_many(
                    cur, f"UPDATE {quote(table)} SET discharge_date = ? WHERE {key}", updates
                )

    def _require_ready(self) -> None:
        if self._ready:
            return
        version = self.schema_version()
        if version == 0:
            raise errors.StoreError(
                f"has no carecore schema; run: carecore db init {self.url}",
                field="url",
                value=self.url,
            )
        if version != SCHEMA_VERSION:
            raise errors.SchemaVersionError(found=version, expected=SCHEMA_VERSION, url=self.url)
        self._ready = True

    # -- transactions -------------------------------------------------------------

    @contextlib.contextmanager
    def _one_at_a_time(self) -> Iterator[None]:
        """Refuse a transaction opened inside another one on the same store handle."""
        if self._open:
            raise errors.StoreError(
                "transactions do not nest: finish the open one first",
                field="transaction",
                value=self.url,
            )
        self._open = True
        try:
            yield
        finally:
            self._open = False

    @contextlib.contextmanager
    def transaction(self, *, actor: str, reason: str, at: dt.datetime) -> Iterator[SqlTransaction]:
        """One atomic unit of work: everything in the block commits together or not at all.

        *actor*, *reason* and *at* go into every audit entry the block writes.
        """
        _check_audit_args(actor, reason, at)
        with self._lock, self._one_at_a_time():
            self._require_ready()
            cur = self._connection().cursor()
            self._begin()
            tx = SqlTransaction(self, cur, actor=actor, reason=reason, at=at.isoformat())
            try:
                yield tx
            except BaseException:
                self._rollback()
                raise
            if not tx.failed:
                try:
                    tx._flush_audit()  # noqa: SLF001
                except BaseException:
                    self._rollback()
                    raise
            if tx.failed:
                self._rollback()
                raise errors.StoreError(
                    "the transaction was rolled back after an error inside it",
                    field="transaction",
                    value=reason,
                )
            try:
                self._commit()
            except Exception as exc:
                self._rollback()
                mapped = self._translate(exc)
                if mapped is None:
                    raise
                raise mapped from exc

    def bulk_add(
        self,
        records: Iterable[Any],
        *,
        actor: str,
        reason: str,
        at: dt.datetime,
        progress: Callable[[int], None] | None = None,
    ) -> BulkResult:
        """Add many records of one kind in one transaction; stored keys are skipped.

        One audit entry records the load, and one more each patient whose
        records it holds (``bulk-create``, the patient's id, how many records
        were offered for them). A record of another kind, or one
        whose patient is not stored, fails the whole load and stores nothing.
        *progress* is called with the number of rows sent after each chunk.
        """
        _check_audit_args(actor, reason, at)
        with self._lock, self._one_at_a_time():
            self._require_ready()
            cur = self._connection().cursor()
            self._begin()
            try:
                result = self._bulk(
                    cur,
                    records=records,
                    actor=actor,
                    reason=reason,
                    at=at.isoformat(),
                    progress=progress,
                )
            except BaseException:
                self._rollback()
                raise
            self._commit()
            return result

    def _bulk(  # noqa: C901 - one loop with its flush
        self,
        cur: Any,
        *,
        records: Iterable[Any],
        actor: str,
        reason: str,
        at: str,
        progress: Callable[[int], None] | None,
    ) -> BulkResult:
        kind: Kind | None = None
        added = offered = 0
        chunk: list[Any] = []
        #: How many records of the load each patient has (one audit row each).
        patients: dict[str, int] = {}

        def flush() -> None:
            nonlocal added
            assert kind is not None  # noqa: S101
            try:
                added += self._bulk_insert(cur, kind, map(kind.to_row, chunk), kind.table)
                if kind.versioned:
                    self._copy_to_history(cur, kind, [r.id for r in chunk])
            except Exception as exc:
                raise self._bulk_error(
                    exc, kind, {r.patient_id for r in chunk} if kind.references_patient else set()
                ) from exc
            chunk.clear()
            if progress is not None:
                progress(offered)

        for record in records:
            if kind is None:
                kind = kind_for(type(record))
            elif type(record) is not kind.cls:
                raise errors.InvalidValue(
                    f"a bulk load holds one kind ({kind.name})", field="records", value=record
                )
            chunk.append(record)
            offered += 1
            patient = kind.patient_of(record)
            if patient is not None:
                patients[patient] = patients.get(patient, 0) + 1
            if len(chunk) >= BULK_CHUNK:
                flush()
        if kind is None:
            return BulkResult(kind="", added=0, skipped=0)
        if chunk:
            flush()
        self._audit(
            cur,
            actor=actor,
            reason=reason,
            at=at,
            action="bulk-create",
            kind=kind.name,
            key=None,
            patient_id=None,
            detail=f"added {added} of {offered}",
        )
        # "Who wrote to patient X?" is answered for loads too: one row per patient.
        self._append_audit(
            cur,
            [
                (at, actor, "bulk-create", kind.name, None, patient, reason, f"{count} in the load")
                for patient, count in sorted(patients.items())
            ],
        )
        return BulkResult(kind=kind.name, added=added, skipped=offered - added)

    def _copy_to_history(self, cur: Any, kind: Kind, ids: list[str]) -> None:
        # The history gets the rows now current: a skipped record (its id was
        # stored already) keeps its own history and gains no version it never had.
        names = _cols(kind.column_names)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join("?" for _ in part)
            self._execute(
                cur,
                f"INSERT INTO {quote(kind.table + '_history')} ({names}) SELECT {names} "
                f"FROM {quote(kind.table)} WHERE id IN ({marks}) ON CONFLICT DO NOTHING",
                part,
            )

    def _bulk_error(self, exc: Exception, kind: Kind, patients: set[str]) -> Exception:
        mapped = self._translate(exc)
        if isinstance(mapped, errors.InvalidValue) and mapped.field == "patient_id":
            missing = self._missing_patients(patients)
            if missing:
                return errors.InvalidValue(
                    f"no such patient is stored ({len(missing)} missing in this {kind.name} load)",
                    field="patient_id",
                    value=missing[0],
                )
        return mapped or exc

    def _missing_patients(self, patients: set[str]) -> list[str]:
        # The load's transaction is aborted on some databases: look in a fresh one.
        self._rollback()
        cur = self._connection().cursor()
        found: set[str] = set()
        ids = sorted(patients)
        for i in range(0, len(ids), 500):
            where, params = self._in("id", ids[i : i + 500])
            self._execute(cur, f"SELECT id FROM patients WHERE {where}", params)
            found.update(row[0] for row in cur.fetchall())
        self._end_read()
        self._begin()  # the caller rolls this one back
        return [p for p in ids if p not in found]

    def _audit(
        self,
        cur: Any,
        *,
        actor: str,
        reason: str,
        at: str,
        action: str,
        kind: str,
        key: str | None,
        patient_id: str | None,
        detail: str = "",
    ) -> None:
        self._append_audit(cur, [(at, actor, action, kind, key, patient_id, reason, detail)])

    def _append_audit(self, cur: Any, rows: Sequence[tuple[object, ...]]) -> None:
        """Append audit rows (at, actor, action, kind, key, patient, reason, detail) to the chain.

        The head row is locked first (an UPDATE that changes nothing), so one
        transaction at a time appends, and the rows it adds take sequence numbers
        after every row already chained.
        """
        if not rows:
            return
        if self._chained is None or not self._chained:
            # A database before schema 15 (written by an older carecore, or mid-migration).
            self._chained = self._table_exists(cur, "audit_head")
        if not self._chained:
            self._execute_many(
                cur, f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            return
        self._execute(cur, "UPDATE audit_head SET seq = seq")
        head = self._execute(cur, "SELECT hash FROM audit_head").fetchone()
        if head is None:
            raise errors.StoreCorrupt(
                "the audit log's chain head is missing; run carecore db check",
                field="audit",
                value=None,
            )
        hashes = _chain.chain(head[0], rows)
        self._insert_audit(cur, [(*row, h) for row, h in zip(rows, hashes, strict=True)])
        last = self._execute(cur, "SELECT max(seq) FROM audit").fetchone()[0]
        self._execute(cur, "UPDATE audit_head SET seq = ?, hash = ?", (int(last), hashes[-1]))

    def _insert_audit(self, cur: Any, rows: list[tuple[object, ...]]) -> None:
        """Insert chained audit rows (the eight columns and the hash), in order (dialect's fastest way).

        The rows take sequence numbers in the order given.
        """
        self._execute_many(
            cur,
            f"INSERT INTO audit ({_AUDIT_COLUMNS}, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _chain_problems(self, cur: Any) -> list[str]:
        """The audit chain checked row by row, and the protecting triggers or rules."""
        problems = self._audit_guard_problems(cur)
        head_row = self._execute(cur, "SELECT seq, hash FROM audit_head").fetchall()
        head = (int(head_row[0][0]), str(head_row[0][1])) if len(head_row) == 1 else None
        self._execute(cur, f"SELECT seq, hash, {_AUDIT_COLUMNS} FROM audit ORDER BY seq")

        def rows() -> Iterator[tuple[int, str | None, tuple[object, ...]]]:
            while batch := cur.fetchmany(5000):
                for row in batch:
                    yield int(row[0]), row[1], tuple(row[2:])

        return problems + _chain.verify(rows(), head)

    # -- check --------------------------------------------------------------------

    def check(self) -> CheckReport:
        """Look for anything half-written or inconsistent; change nothing."""
        version = self.schema_version()
        if version != SCHEMA_VERSION:
            if version == 0:
                return CheckReport(url=self.url, schema_version=0, problems=("no carecore schema",))
            raise errors.SchemaVersionError(found=version, expected=SCHEMA_VERSION, url=self.url)
        with self._lock:
            cur = self._connection().cursor()
            try:
                problems = self._dialect_checks(cur) + self._chain_problems(cur)
                counts: dict[str, int] = {}
                for kind in KINDS:
                    self._execute(cur, f"SELECT count(*) FROM {quote(kind.table)}")
                    counts[kind.table] = int(cur.fetchone()[0])
                    if kind.versioned:
                        problems += self._history_problems(cur, kind)
                    if kind.key == ("id",):
                        problems += self._orphan_audit(cur, kind)
                for table in ("audit", "outbox", "inbound"):
                    self._execute(cur, f"SELECT count(*) FROM {table}")
                    counts[table] = int(cur.fetchone()[0])
            finally:
                self._end_read()
        return CheckReport(
            url=self.url, schema_version=version, counts=counts, problems=tuple(problems)
        )

    def _history_problems(self, cur: Any, kind: Kind) -> list[str]:
        table, history = quote(kind.table), quote(kind.table + "_history")
        self._execute(
            cur,
            f"SELECT t.id FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM {history} h "
            "WHERE h.id = t.id AND h.version = t.version)",
        )
        return [
            f"{kind.name} {row[0]!r}: current version has no history row" for row in cur.fetchall()
        ]

    def _orphan_audit(self, cur: Any, kind: Kind) -> list[str]:
        self._execute(
            cur,
            f"SELECT a.key FROM audit a WHERE a.kind = ? AND a.action = 'create' "
            f"AND NOT EXISTS (SELECT 1 FROM {quote(kind.table)} t WHERE t.id = a.key) "
            "AND NOT EXISTS (SELECT 1 FROM audit d WHERE d.kind = a.kind AND d.key = a.key "
            "AND d.action = 'delete' AND d.seq > a.seq)",
            (kind.name,),
        )
        return [
            f"audit entry for {kind.name} {row[0]!r} but no such record" for row in cur.fetchall()
        ]


#: The audit table's content columns, in the order the hash chain covers them.
_AUDIT_COLUMNS = "at, actor, action, kind, key, patient_id, reason, detail"


def _version_key(kind: Kind) -> tuple[int, ...]:
    """Positions of a versioned kind's key columns and its version column in its rows."""
    found = _VERSION_KEYS.get(kind.name)
    if found is None:
        names = kind.column_names
        found = _VERSION_KEYS[kind.name] = (
            *(names.index(k) for k in kind.key),
            names.index("version"),
        )
    return found


_VERSION_KEYS: dict[str, tuple[int, ...]] = {}


def _earlier_text(kind: Kind, record: object) -> str:
    """A record's row as JSON, column by column, for ``record_history``."""
    return json.dumps(dict(zip(kind.column_names, kind.to_row(record), strict=True)))


def _earlier_record(kind: Kind, text: object) -> Any:
    """The record a ``record_history`` row keeps; columns added since take their backfill."""
    data = json.loads(str(text))
    return kind.build([data.get(c.name, c.backfill) for c in kind.columns])


def _row_hash(row: Sequence[object]) -> int | None:
    """The hash of a row's values (None when a driver returned an unhashable value)."""
    try:
        return hash(tuple(row))
    except TypeError:
        return None


def _check_audit_args(actor: object, reason: object, at: object) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise errors.InvalidValue("must name who is acting", field="actor", value=actor)
    if not isinstance(reason, str) or not reason.strip():
        raise errors.InvalidValue("must say why", field="reason", value=reason)
    check_instant(at, "at")


class SqlTransaction:
    """The work of one :meth:`SqlStore.transaction` block (see :class:`carecore.protocols.Transaction`)."""

    def __init__(self, store: SqlStore, cur: Any, *, actor: str, reason: str, at: str) -> None:
        self._store = store
        self._cur = cur
        self._actor = actor
        self._reason = reason
        self._at = at
        self.failed = False
        #: Audit rows of this transaction, appended to the chain at commit (or before a read of the log).
        self._pending_audit: list[tuple[object, ...]] = []
        #: Patients whose records bulk reads returned, with the kinds read (logged at commit).
        self._touched: dict[str, set[str]] = {}
        #: Versioned records built by :meth:`all` in this transaction, by (kind, key, version),
        #: with the hash of their row: :meth:`history` reuses one whose history row is the same
        #: (a version's row is written to both tables at once, so a store's current plans need
        #: not be built twice when their histories are read).
        self._built: dict[tuple[str, tuple[object, ...]], tuple[int, Any]] = {}
        #: The patient ids find_rows checked last, as given and as checked (see _checked_ids).
        self._last_ids: tuple[list[str], list[str]] | None = None

    # -- plumbing -------------------------------------------------------------------

    def _run(self, text: str, params: Sequence[object] = ()) -> Any:
        try:
            return self._store._execute(self._cur, text, params)  # noqa: SLF001
        except Exception:
            self.failed = True
            raise

    def _audit(
        self, action: str, kind: str, key: str | None, patient_id: str | None, detail: str = ""
    ) -> None:
        # Kept until commit: the chain's head is locked only for the last moment
        # of a transaction, never while it waits for another's row locks.
        self._pending_audit.append(
            (self._at, self._actor, action, kind, key, patient_id, self._reason, detail)
        )

    def _touch(self, kind: Kind, rows: Sequence[Sequence[object]]) -> None:
        """Note the patients whose rows of *kind* a bulk read returned."""
        if kind.patient_column is None:
            return
        at = kind.column_names.index(kind.patient_column)
        touched, name = self._touched, kind.name
        # Each patient once, however many of its rows were read (a close reads hundreds of
        # thousands of rows, a few per patient).
        for patient in {row[at] for row in rows}:
            if patient is not None:
                found = touched.get(str(patient))
                if found is None:
                    touched[str(patient)] = {name}
                else:
                    found.add(name)

    def _flush_audit(self) -> None:
        """Append this transaction's audit rows to the chain (at commit, or before reading the log).

        Bulk reads add one ``bulk-read`` row per patient they touched, naming the kinds read.
        """
        touched, self._touched = self._touched, {}
        self._pending_audit.extend(
            (
                self._at,
                self._actor,
                "bulk-read",
                "Patient",
                None,
                patient,
                self._reason,
                ", ".join(sorted(kinds)),
            )
            for patient, kinds in sorted(touched.items())
        )
        rows, self._pending_audit = self._pending_audit, []
        try:
            self._store._append_audit(self._cur, rows)  # noqa: SLF001
        except Exception:
            self.failed = True
            raise

    def _guard(self) -> None:
        if self.failed:
            raise errors.StoreError(
                "an earlier error aborted this transaction; leave the block",
                field="transaction",
                value=self._reason,
            )

    def _where(self, kind: Kind) -> str:
        return _where_sql(kind.key)

    # -- records --------------------------------------------------------------------

    def add(self, record: object) -> None:
        """Store a new record; a stored key raises :class:`~carecore.errors.ConflictError`."""
        self._guard()
        kind = kind_for(type(record))
        row = kind.to_row(record)
        _checks.row_text(kind, row)
        key = kind.key_of(record)
        try:
            self._run(_insert_sql(kind.table, kind.column_names), row)
        except errors.ConflictError:
            raise errors.ConflictError(
                f"a {kind.name} with this key is already stored",
                field="key",
                value=kind.key_text(key),
            ) from None
        except errors.InvalidValue as exc:
            if exc.field != "patient_id":
                raise
            raise errors.InvalidValue(
                "no such patient is stored", field="patient_id", value=kind.patient_of(record)
            ) from None
        if kind.versioned:
            self._run(_insert_sql(kind.table + "_history", kind.column_names), row)
        self._audit("create", kind.name, kind.key_text(key), kind.patient_of(record))

    def replace(self, record: object) -> None:
        """Replace a stored record. A versioned record must bring the stored version + 1."""
        self._guard()
        kind = kind_for(type(record))
        key = kind.key_of(record)
        row = kind.to_row(record)
        _checks.row_text(kind, row)
        sets = ", ".join(f"{quote(c)} = ?" for c in kind.column_names)
        where = self._where(kind)
        detail = ""
        if kind.versioned:
            version = int(record.version)  # type: ignore[attr-defined]
            cur = self._run(f"SELECT version FROM {quote(kind.table)} WHERE {where}", key)
            found = cur.fetchone()
            if found is None:
                self.failed = True
                raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(key))
            if version != int(found[0]) + 1:
                self.failed = True
                raise errors.ConflictError(
                    f"stale {kind.name}: stored version is {found[0]}, a revision must be {int(found[0]) + 1}",
                    field="version",
                    value=version,
                )
            cur = self._run(
                f"UPDATE {quote(kind.table)} SET {sets} WHERE {where} AND version = ?",
                (*row, *key, version - 1),
            )
            if cur.rowcount != 1:
                self.failed = True
                raise errors.ConflictError(
                    f"{kind.name} was revised by someone else", field="version", value=version
                )
            self._run(_insert_sql(kind.table + "_history", kind.column_names), row)
            detail = f"version {version}"
        else:
            earlier = self._fetch(kind, key)
            if earlier is None:
                self.failed = True
                raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(key))
            cur = self._run(f"UPDATE {quote(kind.table)} SET {sets} WHERE {where}", (*row, *key))
            if cur.rowcount != 1:
                self.failed = True
                raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(key))
            self._keep_earlier(kind, key, earlier, "update")
        self._audit("update", kind.name, kind.key_text(key), kind.patient_of(record), detail)

    def _keep_earlier(self, kind: Kind, key: tuple[Any, ...], earlier: object, change: str) -> None:
        """Keep the value a replace or a delete of a kind without versions ends (schema 18)."""
        self._run(
            "INSERT INTO record_history (kind, key, patient_id, ended_at, actor, reason, change, "
            "record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                kind.name,
                kind.key_text(key),
                kind.patient_of(earlier),
                self._at,
                self._actor,
                self._reason,
                change,
                _earlier_text(kind, earlier),
            ),
        )

    def delete(self, kind_cls: type[Any], key: object) -> None:
        """Delete a record of a kind without history (an entry made in error)."""
        self._guard()
        kind = _checks.deletable(kind_cls)
        parts = _checks.parse_key(kind, key)
        found = self._fetch(kind, parts)
        if found is None:
            self.failed = True
            raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(parts))
        try:
            self._run(f"DELETE FROM {quote(kind.table)} WHERE {self._where(kind)}", parts)
        except errors.InvalidValue:
            raise errors.InvalidValue(
                "the patient still has stored records",
                field="patient_id",
                value=kind.key_text(parts),
            ) from None
        self._keep_earlier(kind, parts, found, "delete")
        self._audit("delete", kind.name, kind.key_text(parts), kind.patient_of(found))

    def _fetch(self, kind: Kind, parts: tuple[Any, ...]) -> Any:
        cur = self._run(_select_sql(kind.table, kind.column_names, kind.key, ()), parts)
        row = cur.fetchone()
        return None if row is None else kind.build(row)

    def get(self, kind_cls: type[T], key: object) -> T:
        """The stored record with this key (a read of patient data is audited)."""
        self._guard()
        kind = kind_for(kind_cls)
        parts = _checks.parse_key(kind, key)
        found = self._fetch(kind, parts)
        if found is None:
            raise errors.NotFound(f"no such {kind.name}", field="key", value=kind.key_text(parts))
        if kind.patient_column:
            self._audit("read", kind.name, kind.key_text(parts), kind.patient_of(found))
        return found  # type: ignore[no-any-return]

    def get_many(self, kind_cls: type[T], keys: Sequence[object]) -> list[T]:
        """The stored records with these keys, in the order given; keys not stored are left out.

        Each record found is audited as :meth:`get` audits it; a key not
        stored raises nothing (no error is built for it).
        """
        self._guard()
        kind = kind_for(kind_cls)
        if isinstance(keys, str | bytes):
            raise errors.InvalidValue("must be a sequence of keys", field="keys", value=keys)
        wanted = [_checks.parse_key(kind, key) for key in keys]
        rows = self._rows_by_key(kind, wanted)
        found = []
        for parts in wanted:
            row = rows.get(parts)
            if row is None:
                continue
            record = kind.build(row)
            if kind.patient_column:
                self._audit("read", kind.name, kind.key_text(parts), kind.patient_of(record))
            found.append(record)
        return found

    def _rows_by_key(
        self, kind: Kind, wanted: list[tuple[Any, ...]]
    ) -> dict[tuple[Any, ...], Sequence[object]]:
        """The stored rows of the keys *wanted*, by key: one query per :data:`GET_MANY_CHUNK` keys.

        Keys of text columns given as text are asked for together (a row's key
        is then the same tuple as the key asked for); any other key is read alone.
        """
        rows: dict[tuple[Any, ...], Sequence[object]] = {}
        types = {c.name: c.type for c in kind.columns}
        textual = all(types.get(k) == "text" for k in kind.key)
        text = [p for p in dict.fromkeys(wanted) if textual and all(type(v) is str for v in p)]
        alone = set(dict.fromkeys(wanted)) - set(text)
        for parts in dict.fromkeys(wanted):
            if parts in alone:
                cur = self._run(_select_sql(kind.table, kind.column_names, kind.key, ()), parts)
                row = cur.fetchone()
                if row is not None:
                    rows[parts] = row
        at = [kind.column_names.index(k) for k in kind.key]
        for i in range(0, len(text), GET_MANY_CHUNK):
            part = text[i : i + GET_MANY_CHUNK]
            cur = self._run(
                _get_many_sql(kind.table, kind.column_names, kind.key, len(part)),
                [value for parts in part for value in parts],
            )
            for row in cur.fetchall():
                rows[tuple(row[j] for j in at)] = row
        return rows

    def find(self, kind_cls: type[T], *, patient_id: str) -> list[T]:
        """Every stored record of a kind for one patient, in key order (audited)."""
        self._guard()
        _checks.patient_id(patient_id)
        kind = _checks.per_patient(kind_cls)
        column = kind.patient_column or "patient_id"  # per_patient() refused kinds without one
        cur = self._run(
            _select_sql(kind.table, kind.column_names, (column,), kind.key), (patient_id,)
        )
        found = [kind.build(row) for row in cur.fetchall()]
        self._audit("read", kind.name, None, patient_id, _counted(len(found), "record", "records"))
        return found

    def patient_ids(self) -> list[str]:
        """The ids of every stored patient, sorted (no record is built; one audit entry)."""
        self._guard()
        cur = self._run("SELECT id FROM patients")
        ids = sorted(row[0] for row in cur.fetchall())
        self._audit(
            "read", "Patient", None, None, f"ids of {_counted(len(ids), 'patient', 'patients')}"
        )
        return ids

    def patients_with_identifier(self, system: str, value: str) -> list[str]:
        """The ids of stored patients whose ``identifiers`` hold (*system*, *value*), sorted."""
        self._guard()
        _checks.inbound_key(system, value)

        # The database finds the candidates through its identifier index (schema 17);
        # Python checks the pair in each one's identifiers.
        cur = self._run(*self._store._identifier_lookup(system, value))  # noqa: SLF001
        ids = sorted(
            row[0]
            for row in cur.fetchall()
            if any(
                i.get("system") == system and i.get("value") == value
                for i in (json.loads(row[1]) if isinstance(row[1], str) else row[1])
            )
        )
        self._audit(
            "read",
            "Patient",
            None,
            None,
            f"ids of {_counted(len(ids), 'patient', 'patients')} by identifier",
        )
        return ids

    def patients_with_identifiers(
        self, identifiers: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[str]]:
        """:meth:`patients_with_identifier` of each pair, ``IDENTIFIER_CHUNK`` pairs a query.

        Each pair maps to the sorted ids of the stored patients carrying it (an
        empty list for none); one audit entry records the lookup.
        """
        self._guard()
        if not isinstance(identifiers, list | tuple) or not all(
            isinstance(pair, tuple) and len(pair) == 2  # noqa: PLR2004 - a pair
            for pair in identifiers
        ):
            raise errors.InvalidValue(
                "must be a list of (system, value) pairs", field="identifiers", value=identifiers
            )
        wanted = list(dict.fromkeys(identifiers))
        for system, value in wanted:
            _checks.inbound_key(system, value)
        found: dict[tuple[str, str], set[str]] = {pair: set() for pair in wanted}
        lookup = self._store._identifier_lookup  # noqa: SLF001
        for i in range(0, len(wanted), IDENTIFIER_CHUNK):
            part = [lookup(system, value) for system, value in wanted[i : i + IDENTIFIER_CHUNK]]
            # The dialect's query for one pair, once a pair: each row is checked below.
            cur = self._run(
                " UNION ALL ".join(sql for sql, _ in part),
                [param for _, params in part for param in params],
            )
            for pid, identifiers_json in cur.fetchall():
                carried = (
                    json.loads(identifiers_json)
                    if isinstance(identifiers_json, str)
                    else identifiers_json
                )
                for entry in carried:
                    pair = (entry.get("system"), entry.get("value"))
                    if pair in found:
                        found[pair].add(pid)
        ids = {pair: sorted(pids) for pair, pids in found.items()}
        count = len({p for pids in ids.values() for p in pids})
        self._audit(
            "read",
            "Patient",
            None,
            None,
            f"ids of {_counted(count, 'patient', 'patients')} by "
            f"{_counted(len(wanted), 'identifier', 'identifiers')}",
        )
        return ids

    def find_many(self, kind_cls: type[T], *, patient_ids: Sequence[str]) -> list[T]:
        """Every stored record of a kind for these patients, in key order (one audit entry).

        One query per :data:`PARTITION_LIMIT` patients: a close reads a
        partition of patients this way, one query per kind.
        """
        stored = self.find_rows(kind_cls, patient_ids=patient_ids)
        found = stored.build()
        kind = kind_for(kind_cls)
        if kind.versioned and "version" in kind.column_names:  # as all() does, for history()
            at = _version_key(kind)
            for row, record in zip(stored.rows, found, strict=True):
                digest = _row_hash(row)
                if digest is not None:
                    self._built[kind.name, tuple(row[i] for i in at)] = (digest, record)
        return found

    def find_rows(
        self, kind_cls: type[T], *, patient_ids: Sequence[str], history: bool = False
    ) -> StoredRows[T]:
        """:meth:`find_many`'s records as rows, to be built where they are used (one audit entry).

        With *history*, every stored version of a versioned kind's records,
        by key then version (the rows of :meth:`history`).
        """
        self._guard()
        kind = _checks.versioned(kind_cls) if history else _checks.per_patient(kind_cls)
        ids = self._checked_ids(patient_ids)
        column = kind.patient_column or "patient_id"  # per_patient() refused kinds without one
        table = kind.table + "_history" if history else kind.table
        order = [*kind.key, "version"] if history else list(kind.key)
        rows: list[Sequence[object]] = []
        # A database whose order of text is Python's sorts here (see SqlStore.SORTS_LIKE_PYTHON).
        here = self._store.SORTS_LIKE_PYTHON
        ordered = "" if here else f" ORDER BY {_cols(tuple(order))}"
        # A kind the store holds no row of (a practice without RPM, say) costs one probe,
        # not a query binding thousands of ids; found or not, the read is audited alike.
        empty = len(ids) > _PROBE_FROM and (
            self._run(f"SELECT 1 FROM {quote(table)} LIMIT 1").fetchone() is None
        )
        for i in range(0, 0 if empty else len(ids), PARTITION_LIMIT):
            where, params = self._store._in(quote(column), ids[i : i + PARTITION_LIMIT])  # noqa: SLF001
            cur = self._run(
                f"SELECT {_cols(kind.column_names)} FROM {quote(table)} WHERE {where}{ordered}",
                params,
            )
            rows.extend(cur.fetchall())
        if here or len(ids) > PARTITION_LIMIT:  # each query's rows are in order: so is the whole
            rows.sort(key=operator.itemgetter(*(kind.column_names.index(k) for k in order)))
        what = ("version", "versions") if history else ("record", "records")
        counted = f"{_counted(len(rows), *what)} of {_counted(len(ids), 'patient', 'patients')}"
        self._audit("read", kind.name, None, None, counted)
        self._touch(kind, rows)
        return StoredRows(kind_cls, rows=rows)

    def _checked_ids(self, patient_ids: Sequence[str]) -> list[str]:
        """:func:`_checks.patient_ids` of *patient_ids*, checked once for a run of reads of the same ids.

        A partitioned close reads a partition's thousands of ids once per kind
        (about twenty queries): ids equal to the last ones checked (one list
        comparison) are the same checked list.
        """
        last = self._last_ids
        if (
            last is not None
            and isinstance(patient_ids, list | tuple)
            and len(patient_ids) == len(last[0])
            and list(patient_ids) == last[0]
        ):
            return last[1]
        ids = _checks.patient_ids(patient_ids)
        self._last_ids = (list(patient_ids), ids)
        return ids

    def add_many(self, records: Sequence[object]) -> None:
        """Store new records of any kinds, as :meth:`add` each one, in fewer statements.

        Each record gets its own ``create`` audit entry, as with :meth:`add`.
        A stored key raises :class:`~carecore.errors.ConflictError` naming it.
        """
        self._guard()
        groups: dict[type[Any], list[object]] = {}
        for record in records:
            groups.setdefault(type(record), []).append(record)
        audit: list[tuple[object, ...]] = []
        at, actor, reason = self._at, self._actor, self._reason
        for cls, items in groups.items():
            kind = kind_for(cls)
            rows = [kind.to_row(r) for r in items]
            for row in rows:
                _checks.row_text(kind, row)
            try:
                self._insert_rows(kind, kind.table, rows)
                if kind.versioned:
                    self._insert_rows(kind, kind.table + "_history", rows)
            except errors.ConflictError:
                raise self._many_conflict(kind, items) from None
            except errors.InvalidValue as exc:
                if exc.field != "patient_id":
                    raise
                raise errors.InvalidValue(
                    "no such patient is stored (a record of this batch names one)",
                    field="patient_id",
                    value=self._missing(kind, items),
                ) from None
            name, key_of, key_text, patient_of = (
                kind.name,
                kind.key_of,
                kind.key_text,
                kind.patient_of,
            )
            audit.extend(
                (at, actor, "create", name, key_text(key_of(r)), patient_of(r), reason, "")
                for r in items
            )
        self._pending_audit.extend(audit)

    def _insert_rows(self, kind: Kind, table: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert *rows* of *kind* into *table* (the store's batch insert: COPY on PostgreSQL)."""
        try:
            self._store._insert_many(self._cur, kind, table, rows)  # noqa: SLF001
        except Exception:
            self.failed = True
            raise

    def _run_many(self, text: str, rows: Sequence[Sequence[object]]) -> None:
        try:
            self._store._execute_many(self._cur, text, rows)  # noqa: SLF001
        except Exception:
            self.failed = True
            raise

    def _many_conflict(self, kind: Kind, items: list[object]) -> errors.ConflictError:
        """The error for a batch holding a stored or repeated key (the batch's keys when unknown).

        The failed statement may have aborted the transaction (PostgreSQL), so
        the stored keys are not probed: a key repeated in the batch is named,
        else the batch's first and last keys.
        """
        seen: set[tuple[Any, ...]] = set()
        keys = [kind.key_of(item) for item in items]
        for key in keys:
            if key in seen:
                return errors.ConflictError(
                    f"a {kind.name} key is repeated in this batch",
                    field="key",
                    value=kind.key_text(key),
                )
            seen.add(key)
        named = (
            kind.key_text(keys[0])
            if len(keys) == 1
            else (f"one of {len(keys)} keys, {kind.key_text(keys[0])} to {kind.key_text(keys[-1])}")
        )
        return errors.ConflictError(
            f"a {kind.name} with a key of this batch is already stored", field="key", value=named
        )

    @staticmethod
    def _missing(kind: Kind, items: list[object]) -> str:
        """The batch's patients, as named in the error (not probed: see :meth:`_many_conflict`)."""
        patients = sorted({str(kind.patient_of(item)) for item in items})
        return (
            patients[0]
            if len(patients) == 1
            else f"one of {len(patients)} patients, {patients[0]} to {patients[-1]}"
        )

    def all(self, kind_cls: type[T]) -> list[T]:
        """Every stored record of a kind, in key order (one audit entry for patient data)."""
        self._guard()
        kind = kind_for(kind_cls)
        cur = self._run(
            f"SELECT {_cols(kind.column_names)} FROM {quote(kind.table)} ORDER BY {_cols(kind.key)}"
        )
        rows = cur.fetchall()
        found = [kind.build(row) for row in rows]
        if kind.versioned and "version" in kind.column_names:
            at = _version_key(kind)
            for row, record in zip(rows, found, strict=True):
                digest = _row_hash(row)
                if digest is not None:
                    self._built[kind.name, tuple(row[i] for i in at)] = (digest, record)
        if kind.patient_column is not None:
            self._audit(
                "read", kind.name, None, None, f"all {_counted(len(found), 'record', 'records')}"
            )
            self._touch(kind, rows)
        return found

    def care_teams_with(self, member_id: str, team_ids: Iterable[str] = ()) -> list[CareTeam]:
        """The care teams that list *member_id* as a member or whose id is in *team_ids*.

        What an access check needs to find a care-team member's patients: each
        team's patient gets one ``read`` audit row; the other patients' teams
        are looked at by the store only and are not returned.
        """
        self._guard()
        wanted = set(team_ids)
        kind = kind_for(CareTeam)
        cur = self._run(
            f"SELECT {_cols(kind.column_names)} FROM {quote(kind.table)} ORDER BY {_cols(kind.key)}"
        )
        found: list[CareTeam] = [
            team
            for team in map(kind.build, cur.fetchall())
            if team.id in wanted or any(m.practitioner_id == member_id for m in team.members)
        ]
        for patient in dict.fromkeys(team.patient_id for team in found):
            self._audit("read", kind.name, None, patient, "care teams of an access check")
        return found

    def history(self, kind_cls: type[T], key: object) -> list[T]:
        """Every value a record has had, oldest first (audited).

        A versioned kind gives its versions. Any other kind gives the values
        replaces and deletes ended, then the current value, if the record is
        still stored (a deleted record's history ends with the value deleted).
        """
        self._guard()
        kind = kind_for(kind_cls)
        parts = _checks.parse_key(kind, key)
        text = kind.key_text(parts)
        if kind.versioned:
            cur = self._run(
                f"SELECT {_cols(kind.column_names)} FROM {quote(kind.table + '_history')} "
                "WHERE id = ? ORDER BY version",
                parts,
            )
            found = [self._history_record(kind, row) for row in cur.fetchall()]
        else:
            cur = self._run(
                "SELECT record FROM record_history WHERE kind = ? AND key = ? ORDER BY seq",
                (kind.name, text),
            )
            found = [_earlier_record(kind, row[0]) for row in cur.fetchall()]
            current = self._fetch(kind, parts)
            if current is not None:
                found.append(current)
        if not found:
            raise errors.NotFound(f"no such {kind.name}", field="key", value=text)
        # One row per patient the values name (a record may have moved between patients).
        for patient in dict.fromkeys(kind.patient_of(value) for value in found):
            self._audit("read", kind.name, text, patient, "history")
        return found

    def _history_record(self, kind: Kind, row: Sequence[object]) -> Any:
        """One history row's record: the one :meth:`all` built from the same row, else built."""
        if self._built and "version" in kind.column_names:
            known = self._built.get((kind.name, tuple(row[i] for i in _version_key(kind))))
            if known is not None and known[0] == _row_hash(row):
                return known[1]
        return kind.build(row)

    # -- audit, outbox, inbound -------------------------------------------------------

    def audit_entries(self, *, patient_id: str | None = None, after: int = 0) -> list[AuditEntry]:
        """Audit entries after sequence number *after*, optionally for one patient."""
        self._guard()
        self._flush_audit()
        sql = "SELECT seq, at, actor, action, kind, key, patient_id, reason, detail FROM audit WHERE seq > ?"
        params: list[object] = [after]
        if patient_id is not None:
            sql += " AND patient_id = ?"
            params.append(patient_id)
        cur = self._run(sql + " ORDER BY seq", params)
        found = [
            AuditEntry(
                seq=int(r[0]),
                at=_load_instant(r[1]),  # type: ignore[arg-type]
                actor=r[2],
                action=r[3],
                kind=r[4],
                key=r[5],
                patient_id=r[6],
                reason=r[7],
                detail=r[8],
            )
            for r in cur.fetchall()
        ]
        if patient_id is not None:
            # Who read whose audit trail is itself on the trail (after the rows just read).
            self._audit(
                "read", "AuditEntry", None, patient_id, _counted(len(found), "entry", "entries")
            )
        return found

    def enqueue(self, message: OutboundMessage) -> bool:
        """Put *message* in the outbox; False when its idempotency key is already there."""
        self._guard()
        _checks.message(message)
        cur = self._run(
            "INSERT INTO outbox (id, idempotency_key, channel, recipient, subject, body, created_at, "
            "patient_id, audience, status, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0) "
            "ON CONFLICT DO NOTHING",
            (
                message.id,
                message.idempotency_key,
                message.channel,
                message.recipient,
                message.subject,
                message.body,
                message.created_at.isoformat(),
                message.patient_id,
                message.audience,
            ),
        )
        if cur.rowcount != 1:
            return False
        self._audit("enqueue", "OutboundMessage", message.id, message.patient_id, message.channel)
        return True

    def outbox(
        self, *, status: str = "pending", limit: int = 100, due_at: dt.datetime | None = None
    ) -> list[OutboxItem]:
        """Outbox items with *status*, oldest first; with *due_at*, only those whose next attempt is due.

        Each patient whose messages are read gets a ``bulk-read`` audit row.
        """
        items = self._outbox(status=status, limit=limit, due_at=due_at)
        for item in items:
            if item.message.patient_id is not None:
                self._touched.setdefault(item.message.patient_id, set()).add("OutboundMessage")
        return items

    def _outbox(self, *, status: str, limit: int, due_at: dt.datetime | None) -> list[OutboxItem]:
        self._guard()
        _checks.outbox_query(status, limit)
        due = "" if due_at is None else " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
        params: tuple[object, ...] = (status,) if due_at is None else (status, _utc(due_at))
        cur = self._run(
            "SELECT id, idempotency_key, channel, recipient, subject, body, created_at, patient_id, "
            "status, attempts, delivered_at, last_error, next_attempt_at, audience, claim_generation "
            "FROM outbox WHERE status = ?"
            f"{due} ORDER BY created_at, id LIMIT ?",
            (*params, limit),
        )
        items = []
        for r in cur.fetchall():
            message = OutboundMessage(
                id=r[0],
                idempotency_key=r[1],
                channel=r[2],
                recipient=r[3],
                subject=r[4],
                body=r[5],
                created_at=_load_instant(r[6]),  # type: ignore[arg-type] # NOT NULL column
                patient_id=r[7],
                audience=r[13],
            )
            items.append(
                OutboxItem(
                    message=message,
                    status=r[8],
                    attempts=int(r[9]),
                    delivered_at=_load_instant(r[10]),
                    last_error=r[11],
                    next_attempt_at=_load_instant(r[12]),
                    claim=int(r[14]),
                )
            )
        return items

    def record_delivery(
        self,
        receipt: DeliveryReceipt,
        *,
        retry_at: dt.datetime | None = None,
        give_up: bool = False,
        claim: int | None = None,
    ) -> None:
        """Record a delivery attempt (see :meth:`carecore.protocols.Transaction.record_delivery`)."""
        self._guard()
        _checks.receipt(receipt)
        _checks.claim(claim)
        status = _delivery_status(receipt, retry_at=retry_at, give_up=give_up)
        fence = "" if claim is None else " AND status = 'pending' AND claim_generation = ?"
        cur = self._run(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, delivered_at = ?, last_error = ?, "
            f"next_attempt_at = ? WHERE id = ?{fence}",
            (
                status,
                receipt.at.isoformat() if receipt.accepted else None,
                None if receipt.accepted else receipt.detail,
                None if retry_at is None or receipt.accepted else _utc(retry_at),
                receipt.message_id,
                *(() if claim is None else (claim,)),
            ),
        )
        if cur.rowcount != 1:
            self.failed = True
            if claim is not None and self._outbox_exists(receipt.message_id):
                raise errors.LeaseLost(message_id=receipt.message_id, claim=claim)
            raise errors.NotFound(
                "no such outbox message", field="message_id", value=receipt.message_id
            )
        # Whose message went out (the channel is the transaction's reason).
        found = self._run(
            "SELECT patient_id FROM outbox WHERE id = ?", (receipt.message_id,)
        ).fetchone()
        patient = None if found is None else found[0]
        self._audit("deliver", "OutboundMessage", receipt.message_id, patient, status)

    def claim_outbox(
        self, *, due_at: dt.datetime, lease_until: dt.datetime, limit: int = 100
    ) -> list[OutboxItem]:
        """Take due messages for delivery (see :meth:`carecore.protocols.Transaction.claim_outbox`)."""
        _checks.lease(due_at, lease_until)
        candidates = self._outbox(status="pending", limit=limit, due_at=due_at)
        until, due = _utc(lease_until), _utc(due_at)
        claimed = []
        for item in candidates:
            # Still due? Another dispatcher may have taken it since the read; on
            # PostgreSQL this update waits for that one's commit and then re-checks.
            cur = self._run(
                "UPDATE outbox SET next_attempt_at = ?, claim_generation = claim_generation + 1 "
                "WHERE id = ? AND status = 'pending' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                (until, item.message.id, due),
            )
            if cur.rowcount == 1:
                # The row is now this transaction's to read: its claim number is ours.
                row = self._run(
                    "SELECT claim_generation FROM outbox WHERE id = ?", (item.message.id,)
                ).fetchone()
                claimed.append(
                    attrs.evolve(item, next_attempt_at=_load_instant(until), claim=int(row[0]))
                )
                self._audit(
                    "claim", "OutboundMessage", item.message.id, item.message.patient_id, until
                )
        return claimed

    def extend_lease(self, message_id: str, *, claim: int, until: dt.datetime) -> bool:
        """Hold a claimed message until *until*; False when a newer claim took it (see the protocol)."""
        self._guard()
        _checks.claim(claim)
        _checks.instant("until", until)
        cur = self._run(
            "UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending' "
            "AND claim_generation = ?",
            (_utc(until), message_id, claim),
        )
        if cur.rowcount != 1:
            return False
        self._audit("extend lease", "OutboundMessage", message_id, None, _utc(until))
        return True

    def _outbox_exists(self, message_id: str) -> bool:
        cur = self._run("SELECT 1 FROM outbox WHERE id = ?", (message_id,))
        return cur.fetchone() is not None

    def defer(self, message_id: str, until: dt.datetime) -> None:
        """Hold a pending message until *until* without counting an attempt (quiet hours)."""
        self._guard()
        cur = self._run(
            "UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND status = 'pending'",
            (_utc(until), message_id),
        )
        if cur.rowcount != 1:
            self.failed = True
            raise errors.NotFound(
                "no pending outbox message with this id", field="message_id", value=message_id
            )
        self._audit("defer", "OutboundMessage", message_id, None, _utc(until))

    def requeue(self, message_id: str) -> None:
        """Put a failed or dead message back in the queue, due now (audited with its patient)."""
        self._guard()
        found = self._run("SELECT patient_id FROM outbox WHERE id = ?", (message_id,)).fetchone()
        cur = self._run(
            "UPDATE outbox SET status = 'pending', next_attempt_at = NULL, attempts = 0 WHERE id = ? AND status IN ('failed', 'dead')",
            (message_id,),
        )
        if cur.rowcount != 1:
            self.failed = True
            raise errors.NotFound(
                "no failed or dead outbox message with this id",
                field="message_id",
                value=message_id,
            )
        self._audit("requeue", "OutboundMessage", message_id, None if found is None else found[0])

    def claim_inbound(self, source: str, key: str) -> bool:
        """Record an inbound message key; True the first time, False for a duplicate."""
        self._guard()
        _checks.inbound_key(source, key)
        cur = self._run(
            "INSERT INTO inbound (source, key, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (source, key, self._at),
        )
        return bool(cur.rowcount == 1)

    def inbound_claimed(self, source: str, keys: Sequence[str]) -> set[str]:
        """Those of *keys* claimed under *source* already (read only; one query per chunk of keys).

        With :meth:`claim_inbound_many`, an intake of many messages at once
        claims their keys in two statements instead of one a key.
        """
        self._guard()
        if isinstance(keys, str | bytes):
            raise errors.InvalidValue("must be a sequence of keys", field="keys", value=keys)
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            _checks.inbound_key(source, key)
        claimed: set[str] = set()
        for i in range(0, len(wanted), GET_MANY_CHUNK):
            where, params = self._store._in("key", wanted[i : i + GET_MANY_CHUNK])  # noqa: SLF001
            cur = self._run(
                f"SELECT key FROM inbound WHERE source = ? AND {where}", (source, *params)
            )
            claimed.update(row[0] for row in cur.fetchall())
        return claimed

    def claim_inbound_many(self, source: str, keys: Sequence[str]) -> None:
        """Claim *keys* under *source*, none of them claimed before (see :meth:`inbound_claimed`).

        A key claimed already (by another transaction since it was looked up,
        or twice in *keys*) raises :class:`~carecore.errors.ConflictError`
        and aborts the transaction: unlike :meth:`claim_inbound` it is no answer.
        """
        self._guard()
        if isinstance(keys, str | bytes):
            raise errors.InvalidValue("must be a sequence of keys", field="keys", value=keys)
        for key in keys:
            _checks.inbound_key(source, key)
        try:
            self._run_many(
                "INSERT INTO inbound (source, key, received_at) VALUES (?, ?, ?)",
                [(source, key, self._at) for key in keys],
            )
        except errors.ConflictError:
            raise errors.ConflictError(
                f"an inbound key of these {len(keys)} is claimed already",
                field="key",
                value=source,
            ) from None

    def record_denial(self, *, action: str, kind: str | None, patient_id: str | None) -> None:
        """Record that the access policy refused this transaction's actor *action* (ids only).

        The audit entry's action is ``denied``, its detail the action refused.
        A program records a denial in a transaction of its own, after the
        refused one has rolled back (see :doc:`/explanation/access-control`).
        """
        self._guard()
        self._audit("denied", kind or "", None, patient_id, action)


def _utc(value: dt.datetime) -> str:
    """An instant as UTC ISO text: comparable as text in SQLite, and as a timestamp elsewhere."""
    return value.astimezone(dt.UTC).isoformat()


def _delivery_status(
    receipt: DeliveryReceipt, *, retry_at: dt.datetime | None, give_up: bool
) -> str:
    if receipt.accepted:
        return "delivered"
    if give_up:
        return "dead"
    return "pending" if retry_at is not None else "failed"
