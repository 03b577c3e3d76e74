"""Stored rows of one kind, read in one process and built into records in another.

:class:`~carecore.protocols.StoredRows` is defined in :mod:`carecore.protocols`
with the protocols that return it.

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

from carecore.protocols import StoredRows

__all__ = ["StoredRows"]
