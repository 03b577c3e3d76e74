"""find_rows gives a kind's rows in key order, as the database orders the keys (issue 15).

SQLite's rows are sorted in Python after the fetch (SqlStore.SORTS_LIKE_PYTHON):
the order must be the one ``ORDER BY`` the key gives, for text of any case and
script, digits, multi-column keys and history versions.
"""

from __future__ import annotations

import pendulum

from carecore.model import DeviceReadingDay, Patient, ServiceFamily, TimeEntry
from carecore.storage import kind_for, open_store
from carecore.testing._store_contract import AT, make_patient

from ..billing.test_month_facts import staff_minutes

IDS = ["z", "Z", "é", "e", "10", "9", "a b", "a", "ß", "Ω", "\U0001f600", "a\u0301"]


def test_rows_come_in_the_order_by_of_their_key(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'order.db'}")
    store.initialize()
    try:
        with store.transaction(actor="admin", reason="setup", at=AT) as tx:
            for pid in IDS:
                tx.add(make_patient(pid))
            for n, pid in enumerate(reversed(IDS)):
                entry = staff_minutes(n, pendulum.Date(2026, 3, 1 + n), 5, pid=pid)
                tx.add(entry)
                for device in ("b", "B", "a"):
                    for day in (12, 3, 25):
                        tx.add(
                            DeviceReadingDay(
                                patient_id=pid,
                                family=ServiceFamily.RPM,
                                device=device,
                                on=pendulum.Date(2026, 3, day),
                            )
                        )
        cur = store._connection().cursor()  # the database's own order
        with store.transaction(actor="admin", reason="read", at=AT) as tx:
            for cls in (Patient, TimeEntry, DeviceReadingDay):
                kind = kind_for(cls)
                key = ", ".join(f'"{k}"' for k in kind.key)
                names = ", ".join(f'"{c}"' for c in kind.column_names)
                expected = cur.execute(
                    f'SELECT {names} FROM "{kind.table}" ORDER BY {key}'  # noqa: S608 - the kind's names
                ).fetchall()
                assert len(expected) >= len(IDS)
                assert list(tx.find_rows(cls, patient_ids=IDS[::-1]).rows) == expected, cls
    finally:
        store.close()


def test_a_kind_with_no_rows_reads_as_empty_and_is_audited(tmp_path):
    from carecore.model import Coverage

    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    store.initialize()
    ids = [f"p{n:03d}" for n in range(120)]
    try:
        with store.transaction(actor="admin", reason="setup", at=AT) as tx:
            for pid in ids:
                tx.add(make_patient(pid))
        statements: list[str] = []
        with store.transaction(actor="admin", reason="read", at=AT) as tx:
            before = tx.audit_entries()[-1].seq
            store._connection().set_trace_callback(statements.append)
            assert list(tx.find_rows(Coverage, patient_ids=ids).rows) == []
            assert len(tx.find_rows(Patient, patient_ids=ids).rows) == len(ids)
            store._connection().set_trace_callback(None)
        # The empty table cost a probe, not a read binding every id; the other was read.
        coverages = [t for t in statements if '"coverages"' in t]
        assert coverages
        assert all("IN (" not in t for t in coverages), coverages
        assert any('"patients"' in t and "IN (" in t for t in statements)
        with store.transaction(actor="admin", reason="look", at=AT) as tx:
            reads = [
                (e.action, e.kind, e.detail)
                for e in tx.audit_entries(after=before)
                if e.action == "read"
            ]
        assert reads == [
            ("read", "Coverage", "0 records of 120 patients"),
            ("read", "Patient", "120 records of 120 patients"),
        ]
    finally:
        store.close()
