"""Schema 20 (issue 15): each stored care-plan version keeps whether it was CMS-complete.

A month close reads a plan's dates without building its content, so the
store works out :func:`carecore.careplans.completeness` when a version is
written (``cms_complete``, on the plan and on its history row), and
migration 20 works it out for the versions stored before.
"""

from __future__ import annotations

import sqlite3

import pendulum
from attrs import evolve

from carecore.careplans import completeness
from carecore.storage import SCHEMA_VERSION, open_store
from carecore.storage.sqlite import SqliteStore
from carecore.testing._store_contract import make_patient
from tests.billing.test_month_facts import complete_draft

AT = pendulum.datetime(2026, 3, 2, 9, tz="UTC")


def _flags(path, table: str) -> dict[tuple[str, int], int | None]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(f"SELECT id, version, cms_complete FROM {table}").fetchall()  # noqa: S608
    finally:
        conn.close()
    return {(r[0], r[1]): r[2] for r in rows}


def test_each_written_version_keeps_its_completeness(tmp_path):
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    store.initialize()
    draft = evolve(complete_draft("p1"), expected_outcome=None)  # one element missing
    agreed = complete_draft("p2").activate()
    assert not completeness(draft).complete
    assert completeness(agreed).complete
    with store.transaction(actor="t", reason="add", at=AT) as tx:
        for pid in ("p1", "p2", "p3", "p4"):
            tx.add(make_patient(pid))
        tx.add(draft)
        tx.add(agreed)
        tx.add_many([complete_draft("p3")])
    with store.transaction(actor="t", reason="agree", at=AT) as tx:
        tx.replace(evolve(draft, expected_outcome="Stable", version=2))
    store.bulk_add([evolve(agreed, id="p4-cp", patient_id="p4")], actor="t", reason="b", at=AT)
    store.close()
    assert _flags(path, "care_plans") == {
        ("p1-cp", 2): 1,
        ("p2-cp", 2): 1,
        ("p3-cp", 1): 1,
        ("p4-cp", 2): 1,
    }
    assert _flags(path, "care_plans_history") == {
        ("p1-cp", 1): 0,
        ("p1-cp", 2): 1,
        ("p2-cp", 2): 1,
        ("p3-cp", 1): 1,
        ("p4-cp", 2): 1,
    }


def test_migration_20_works_out_the_versions_stored_before(tmp_path):
    # Plans as this carecore writes them, put into a schema-19 database without the column.
    new_path, old_path = tmp_path / "new.db", tmp_path / "old.db"
    new = open_store(f"sqlite:///{new_path}")
    new.initialize()
    draft = evolve(complete_draft("p1"), shared_with_patient_on=None)
    with new.transaction(actor="t", reason="add", at=AT) as tx:
        tx.add(make_patient("p1"))
        tx.add(make_patient("p2"))
        tx.add(draft)
        tx.add(complete_draft("p2").activate())
    with new.transaction(actor="t", reason="share", at=AT) as tx:
        tx.replace(evolve(draft, shared_with_patient_on=AT.date(), version=2))
    new.close()
    old = SqliteStore(f"sqlite:///{old_path}")
    old.migrate(target=19)
    old.close()
    src = sqlite3.connect(new_path)
    dst = sqlite3.connect(old_path, isolation_level=None)
    try:
        for table in ("patients", "care_plans", "care_plans_history"):
            have = {d[0] for d in dst.execute(f"SELECT * FROM {table} WHERE 0").description}  # noqa: S608
            assert "cms_complete" not in have
            names = [
                d[0]
                for d in src.execute(f"SELECT * FROM {table}").description  # noqa: S608
                if d[0] in have
            ]
            cols = ", ".join(names)
            for row in src.execute(f"SELECT {cols} FROM {table}").fetchall():  # noqa: S608
                dst.execute(
                    f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(row))})",  # noqa: S608
                    row,
                )
    finally:
        src.close()
        dst.close()
    old = SqliteStore(f"sqlite:///{old_path}")
    try:
        assert old.migrate() == list(range(20, SCHEMA_VERSION + 1))
    finally:
        old.close()
    assert _flags(old_path, "care_plans") == {("p1-cp", 2): 1, ("p2-cp", 2): 1}
    assert _flags(old_path, "care_plans_history") == {
        ("p1-cp", 1): 0,
        ("p1-cp", 2): 1,
        ("p2-cp", 2): 1,
    }
