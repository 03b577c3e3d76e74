"""Stored rows of one kind, read in one process and built into records in another.

A partitioned month close reads each partition of patients in the store's
process (one query per kind, in one transaction) and builds the records
where they are evaluated: building is most of a read's cost, and rows of
plain values travel between processes far more cheaply than records.

>>> import pendulum
>>> from carecore.model import Patient, AdministrativeSex
>>> from carecore.storage import open_store
>>> store = open_store("memory://")
>>> store.initialize()
>>> at = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
>>> with store.transaction(actor="rn:ana", reason="enrollment", at=at) as tx:
...     tx.add(Patient(id="p1", given_name="Ada", family_name="Lopez", birth_date=pendulum.date(1950, 3, 1),
...                    sex=AdministrativeSex.FEMALE, time_zone="America/Chicago"))
>>> with store.transaction(actor="close", reason="month close", at=at) as tx:
...     rows = tx.find_rows(Patient, patient_ids=["p1"])
>>> [p.given_name for p in rows.build()]
['Ada']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from carecore.storage._kinds import kind_for

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["StoredRows"]

T = TypeVar("T")


class StoredRows(Generic[T]):
    """Records of one kind as read: rows of column values (a SQL store) or built records (memory).

    Picklable; :meth:`build` gives the records, in the order read.
    """

    __slots__ = ("kind", "records", "rows")

    def __init__(
        self,
        kind: type[T],
        *,
        rows: Sequence[Sequence[object]] = (),
        records: Sequence[T] | None = None,
    ) -> None:
        self.kind = kind
        self.rows = list(rows)
        self.records = None if records is None else list(records)

    def __len__(self) -> int:
        return len(self.rows) if self.records is None else len(self.records)

    def build(self) -> list[T]:
        """The records (each row built and checked as a read builds it)."""
        if self.records is not None:
            return list(self.records)
        build = kind_for(self.kind).build
        return [build(row) for row in self.rows]

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.kind, self.rows, self.records)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.kind, self.rows, self.records = state
