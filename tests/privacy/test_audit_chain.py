"""The audit log's hash chain: written on every commit, chained by migration, tampering found."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.cli import make_app
from carecore.storage import SCHEMA_VERSION, _chain, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT, make_patient


def _fill(store, n=5, *, add=True):
    if add:
        with store.transaction(actor="nurse-1", reason="setup", at=AT) as tx:
            tx.add(make_patient())
    for i in range(n):
        with store.transaction(actor=f"reader-{i}", reason="visit", at=AT) as tx:
            tx.get(type(make_patient()), make_patient().id)


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    store = open_store(url)
    store.initialize()
    _fill(store)
    store.close()
    return url


def _check(url):
    store = open_store(url)
    try:
        return store.check()
    finally:
        store.close()


def _shell(url, *statements):
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        for statement in statements:
            conn.execute(statement)
    finally:
        conn.close()


def _seqs(url):
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return [r[0] for r in conn.execute("SELECT seq FROM audit ORDER BY seq")]
    finally:
        conn.close()


def test_an_untouched_log_checks_clean(url):
    report = _check(url)
    assert report.ok, report.problems
    assert report.counts["audit"] == len(_seqs(url)) > 5


def test_the_guard_still_refuses_delete_and_update(url):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        _shell(url, "DELETE FROM audit WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        _shell(url, "UPDATE audit SET actor = 'x' WHERE seq = 2")


def test_a_deleted_row_in_the_middle_is_named(url):
    seqs = _seqs(url)
    _shell(url, "DROP TRIGGER audit_no_delete", f"DELETE FROM audit WHERE seq = {seqs[2]}")  # noqa: S608 - the test tampers on purpose
    problems = _check(url).problems
    assert "audit log: the protecting trigger audit_no_delete is missing" in problems
    assert any(p.startswith(f"audit row {seqs[3]}: chain broken") for p in problems), problems


def test_a_deleted_row_at_the_end_is_found(url):
    seqs = _seqs(url)
    _shell(
        url,
        "DROP TRIGGER audit_no_delete",
        f"DELETE FROM audit WHERE seq = {seqs[-1]}",  # noqa: S608 - the test tampers on purpose
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    )
    assert _check(url).problems == (
        (
            f"audit row {seqs[-1]}: missing (the log ends at row "
            f"{seqs[-2]}; rows were deleted from its end)"
        ),
    )


def test_an_edited_row_is_named_even_with_the_trigger_put_back(url):
    seqs = _seqs(url)
    _shell(
        url,
        "DROP TRIGGER audit_no_update",
        f"UPDATE audit SET actor = 'someone-else' WHERE seq = {seqs[1]}",  # noqa: S608 - the test tampers on purpose
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    )
    problems = _check(url).problems
    assert len(problems) == 1
    assert problems[0].startswith(f"audit row {seqs[1]}: chain broken")


def test_a_dropped_trigger_alone_is_a_problem(url):
    _shell(url, "DROP TRIGGER audit_no_update")
    assert _check(url).problems == ("audit log: the protecting trigger audit_no_update is missing",)


def test_db_check_exits_1_and_names_the_row(url):
    seqs = _seqs(url)
    _shell(url, "DROP TRIGGER audit_no_delete", f"DELETE FROM audit WHERE seq = {seqs[0]}")  # noqa: S608 - the test tampers on purpose
    result = CliRunner().invoke(make_app(), ["db", "check", url])
    assert result.exit_code == 1
    assert f"audit row {seqs[1]}: chain broken" in result.output


def test_migration_15_chains_the_rows_already_stored(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = SqliteStore(url)
    old.migrate(target=14)
    old._ready = True  # write as a schema-14 carecore would have
    _fill(old, 3)
    old.close()
    store = SqliteStore(url)
    try:
        assert store.migrate() == list(range(15, SCHEMA_VERSION + 1))
        assert store.check().ok, store.check().problems
        _fill(store, 2, add=False)  # the next rows continue the chain
        report = store.check()
        assert report.ok, report.problems
        assert report.counts["audit"] == 1 + 3 + 2
    finally:
        store.close()
    _shell(url, "DROP TRIGGER audit_no_update", "UPDATE audit SET detail = 'x' WHERE seq = 1")
    assert any(p.startswith("audit row 1: chain broken") for p in _check(url).problems)


def test_a_failed_transaction_adds_no_audit_rows(url):
    before = _seqs(url)
    store = open_store(url)
    try:

        def read_then_fail():
            with store.transaction(actor="a", reason="r", at=AT) as tx:
                tx.get(type(make_patient()), make_patient().id)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            read_then_fail()
        assert store.check().ok
    finally:
        store.close()
    assert _seqs(url) == before


def test_audit_entries_read_inside_a_transaction_see_its_own_rows(url):
    store = open_store(url)
    try:
        with store.transaction(actor="auditor", reason="r", at=AT) as tx:
            tx.get(type(make_patient()), make_patient().id)
            assert tx.audit_entries()[-1].actor == "auditor"
        assert store.check().ok
    finally:
        store.close()


_TEXT = st.one_of(st.none(), st.text(alphabet=st.characters(exclude_categories=["Cs"])))


@settings(max_examples=300, deadline=None)
@given(
    previous=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    rows=st.lists(
        st.tuples(
            st.sampled_from(["2026-01-05T10:00:00+00:00", "2026-01-05T11:00:00+01:00"]),
            *[_TEXT] * 7,
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_chain_hashes_the_json_text_the_chain_has_always_hashed(previous, rows):
    # Stored chains were hashed over json.dumps of the row: a faster spelling must be the same.
    expected, last = [], previous
    for at, *rest in rows:
        utc = dt.datetime.fromisoformat(at).astimezone(dt.UTC).isoformat()
        text = json.dumps([last, utc, *rest], ensure_ascii=False, separators=(",", ":"))
        last = hashlib.sha256(text.encode("utf-8")).hexdigest()
        expected.append(last)
    assert _chain.chain(previous, rows) == expected
    assert _chain.entry_hash(previous, rows[0]) == expected[0]


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "2026-01-05T10:00:00+00:00",
                    dt.datetime(2026, 1, 5, 11, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                ]
            ),
            *[st.one_of(_TEXT, st.integers(), st.booleans(), st.lists(st.integers()))] * 7,
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_rows_of_other_values_hash_as_their_json(rows):
    # Rows holding numbers, flags, lists or a datetime (not the log's own rows) take the
    # long way, text and None the short one: both hash the json.dumps text, mixed in a chain.
    previous = "0" * 64
    expected, last = [], previous
    for at, *rest in rows:
        when = dt.datetime.fromisoformat(at) if isinstance(at, str) else at
        utc = when.astimezone(dt.UTC).isoformat()
        text = json.dumps([last, utc, *rest], ensure_ascii=False, separators=(",", ":"))
        last = hashlib.sha256(text.encode("utf-8")).hexdigest()
        expected.append(last)
    assert _chain.chain(previous, rows) == expected


def test_chain_spells_two_times_of_one_wall_clock_in_a_fold_apart():
    # 01:30 in Chicago on the night clocks go back is two instants an hour apart that
    # compare equal: each row's hash must be entry_hash's, not a spelling shared by both.
    zone = ZoneInfo("America/Chicago")
    first = dt.datetime(2026, 11, 1, 1, 30, tzinfo=zone, fold=0)
    second = dt.datetime(2026, 11, 1, 1, 30, tzinfo=zone, fold=1)
    rows = [(at, "rn:ana", "read", "Patient", None, None, "review", "") for at in (first, second)]
    expected = [_chain.entry_hash(_chain.GENESIS, rows[0])]
    expected.append(_chain.entry_hash(expected[0], rows[1]))
    assert _chain.chain(_chain.GENESIS, rows) == expected
