"""Schema 21 (issue 17): a transition episode keeps its local discharge day.

The deadlines count from the discharge's calendar day where the practice is.
SQLite kept it in the offset of the stored instant; PostgreSQL gives the
instant back in UTC, so the day is a column of its own, and migration 21
fills it in for the episodes stored before (here: from the stored offset;
the PostgreSQL plugin's tests cover the zone it uses there).
"""

from __future__ import annotations

import sqlite3

import pendulum
import pytest

from carecore import errors
from carecore.model import CareSetting, TransitionEpisode
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import AT

LATE = pendulum.datetime(2026, 3, 3, 23, 30, tz="America/New_York")  # 04:30 UTC on the 4th


def _episode(eid: str = "ep1", **extra: object) -> TransitionEpisode:
    values: dict[str, object] = {
        "id": eid,
        "patient_id": "p1",
        "discharge_event_id": "a1",
        "discharged_at": LATE,
        "from_setting": CareSetting.INPATIENT_ACUTE,
    }
    return TransitionEpisode(**(values | extra))  # type: ignore[arg-type]


def test_the_local_day_defaults_to_the_instant_s_own_date():
    assert _episode().discharge_date == pendulum.Date(2026, 3, 3)
    # Given, it is kept even when the instant is in another zone (as PostgreSQL returns it).
    utc = _episode(discharged_at=LATE.in_timezone("UTC"), discharge_date=pendulum.Date(2026, 3, 3))
    assert utc.discharge_date == pendulum.Date(2026, 3, 3)


def test_a_day_far_from_the_instant_is_refused():
    with pytest.raises(errors.InvalidValue) as info:
        _episode(discharge_date=pendulum.Date(2026, 3, 6))
    assert info.value.field == "discharge_date"


def test_the_day_is_stored_and_read_back(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 's.db'}")
    store.initialize()
    try:
        with store.transaction(actor="t", reason="add", at=AT) as tx:
            tx.add(_episode(discharged_at=LATE.in_timezone("UTC"), discharge_date=LATE.date()))
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            assert tx.get(TransitionEpisode, "ep1").discharge_date == pendulum.Date(2026, 3, 3)
    finally:
        store.close()


def test_migration_21_reads_the_day_from_the_stored_offset(tmp_path):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    store.initialize()
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(_episode())
    with store.transaction(actor="t", reason="close", at=AT) as tx:
        tx.replace(_episode(version=2, contact_made_on=pendulum.Date(2026, 3, 4)))
    store.close()
    # As a schema-20 store had them: no day column.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for table in ("transition_episodes", "transition_episodes_history"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN discharge_date")
        conn.execute("UPDATE carecore_schema SET version = 20")
    finally:
        conn.close()
    store = SqliteStore(f"sqlite:///{path}")
    try:
        assert store.migrate() == list(range(21, SCHEMA_VERSION + 1))
        with store.transaction(actor="t", reason="read", at=AT) as tx:
            history = tx.history(TransitionEpisode, "ep1")
    finally:
        store.close()
    assert [e.discharge_date for e in history] == [pendulum.Date(2026, 3, 3)] * 2
