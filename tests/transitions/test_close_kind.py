"""Why an episode closed is a typed field, not a prefix of its close reason.

Late documentation reopens an episode that expired. Whether it expired was
read from its close reason (``close_reason.startswith("expired: ")``), so an
episode closed for another reason whose text began that way was reopened, and
an expired one whose reason was worded otherwise was not. The kind of close is
now :class:`~carecore.model.EpisodeCloseKind`, stored beside the reason
(schema 16, which fills it in for episodes stored before).
"""

from __future__ import annotations

import sqlite3

import attrs
import pendulum
import pytest

from carecore import errors
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CareSetting,
    EpisodeCloseKind,
    EpisodeStatus,
    PatientClass,
    TransitionEpisode,
)
from carecore.service import CareProgram
from carecore.storage import SCHEMA_VERSION
from carecore.storage.sqlite import SqliteStore
from carecore.transitions import (
    apply_event,
    expire,
    open_episode,
    record_contact,
    record_death,
    record_med_rec,
    record_visit,
)

TZ = "America/Chicago"
DISCHARGED = pendulum.Date(2026, 3, 2)


def adt(kind, day, *, visit="V1", to_setting=CareSetting.HOME):
    at = pendulum.datetime(day.year, day.month, day.day, 10, tz=TZ)
    return AdtEvent(
        id=f"{kind.value}-{visit}-{day}",
        source_key=f"{kind.value}-{visit}-{day}",
        patient_id="p1",
        kind=kind,
        occurred_at=at,
        admitted_at=at if kind is AdtEventKind.ADMIT else None,
        discharged_at=at if kind is AdtEventKind.DISCHARGE else None,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=to_setting,
        visit_number=visit,
    )


def episode():
    return open_episode(adt(AdtEventKind.DISCHARGE, DISCHARGED), time_zone=TZ)


def expired():
    ep = record_contact(episode(), on=DISCHARGED.add(days=1), successful=True)
    return expire(ep, on=ep.period_end.add(days=1))


def test_each_way_an_episode_closes_has_its_kind():
    assert episode().close_kind is None
    assert expired().close_kind is EpisodeCloseKind.EXPIRED
    died = record_death(episode(), on=DISCHARGED.add(days=3))
    assert (died.status, died.close_kind) == (EpisodeStatus.CLOSED, EpisodeCloseKind.DIED)
    elsewhere = open_episode(
        adt(AdtEventKind.DISCHARGE, DISCHARGED, to_setting=CareSetting.INPATIENT_ACUTE),
        time_zone=TZ,
    )
    assert elsewhere.close_kind is EpisodeCloseKind.NOT_QUALIFYING
    discharge = adt(AdtEventKind.DISCHARGE, DISCHARGED)
    cancel = attrs.evolve(
        adt(AdtEventKind.CANCEL_DISCHARGE, DISCHARGED.add(days=1)), discharged_at=None
    )
    (cancelled,) = apply_event([episode()], cancel, time_zone=TZ, history=[discharge])
    assert cancelled.close_kind is EpisodeCloseKind.DISCHARGE_CANCELLED


def test_late_documentation_clears_the_kind_when_it_completes_the_episode():
    visited = record_visit(expired(), on=DISCHARGED.add(days=10))
    assert visited.close_kind is EpisodeCloseKind.EXPIRED  # still undone: expired again
    done = record_med_rec(visited, on=DISCHARGED.add(days=10))
    assert (done.status, done.close_kind, done.close_reason) == (
        EpisodeStatus.COMPLETED,
        None,
        None,
    )


def test_a_reason_that_reads_expired_does_not_make_an_episode_expired():
    """An episode closed on death whose reason began "expired: " was reopened by a late visit."""
    died = record_death(episode(), on=DISCHARGED.add(days=3))
    worded = attrs.evolve(died, close_reason="expired: at home on day 3")
    with pytest.raises(errors.InvalidTransition):
        record_visit(worded, on=DISCHARGED.add(days=2))


def test_an_expired_episode_worded_otherwise_still_takes_late_documentation():
    """An expired episode whose reason was reworded refused what happened inside its period."""
    reworded = attrs.evolve(expired(), close_reason="TCM period over")
    visited = record_visit(reworded, on=DISCHARGED.add(days=10))
    assert visited.visit_on == DISCHARGED.add(days=10)


def test_the_kind_is_stored_and_read_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'kind.db'}"
    ep = expired()
    with CareProgram.open(url, actor="t") as program:
        with program.transaction("store") as tx:
            tx.add(ep)
        with program.transaction("read") as tx:
            assert tx.get(TransitionEpisode, ep.id).close_kind is EpisodeCloseKind.EXPIRED


def _rows(path, table):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]  # noqa: S608 - our tables
    finally:
        conn.close()


def test_migration_16_gives_episodes_stored_before_their_kind(tmp_path):
    # The rows as this carecore writes them, less the new column: what schema 15 stored.
    new = tmp_path / "new.db"
    with (
        CareProgram.open(f"sqlite:///{new}", actor="t") as program,
        program.transaction("store") as tx,
    ):
        for ep in (
            expired(),
            attrs.evolve(record_death(episode(), on=DISCHARGED.add(days=3)), id="ep-died"),
            attrs.evolve(episode(), id="ep-open"),
        ):
            tx.add(ep)
    old = tmp_path / "old.db"
    store = SqliteStore(f"sqlite:///{old}")
    store.migrate(target=15)
    store.close()
    conn = sqlite3.connect(old, isolation_level=None)
    try:
        for table in ("transition_episodes", "transition_episodes_history"):
            for row in _rows(new, table):
                del row["close_kind"]
                del row["discharge_date"]  # schema 21 (migration 21 fills it in)
                names = ", ".join(row)
                marks = ", ".join("?" * len(row))
                conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(row.values()))  # noqa: S608
    finally:
        conn.close()
    store = SqliteStore(f"sqlite:///{old}")
    try:
        assert store.migrate() == list(range(16, SCHEMA_VERSION + 1))
    finally:
        store.close()
    with (
        CareProgram.open(f"sqlite:///{old}", actor="t") as program,
        program.transaction("read") as tx,
    ):
        kinds = {e.id: e.close_kind for e in tx.all(TransitionEpisode)}
    assert kinds == {
        expired().id: EpisodeCloseKind.EXPIRED,
        "ep-died": EpisodeCloseKind.DIED,
        "ep-open": None,
    }
    for row in _rows(old, "transition_episodes_history"):
        assert (row["close_kind"] is None) == (row["status"] == "open"), row
