"""Persistence: the stored kinds, the values stores return, and opening a store by URL.

Stores are opened from a URL through the ``carecore_open_store`` hook:
``memory://`` and ``sqlite:///path`` are built in, ``postgresql://...`` comes
with the ``carecore-postgres`` distribution. See :doc:`/explanation/storage`.

>>> import pendulum
>>> from carecore.model import Patient, AdministrativeSex
>>> store = open_store("memory://")
>>> store.initialize()
>>> at = pendulum.datetime(2026, 1, 5, 9, tz="UTC")
>>> with store.transaction(actor="rn:ana", reason="enrollment", at=at) as tx:
...     tx.add(Patient(id="p1", given_name="Ada", family_name="Lopez", birth_date=pendulum.date(1950, 3, 1),
...                    sex=AdministrativeSex.FEMALE, time_zone="America/Chicago"))
>>> with store.transaction(actor="rn:ana", reason="chart review", at=at) as tx:
...     tx.get(Patient, "p1").given_name
...     [(e.action, e.kind, e.key) for e in tx.audit_entries(patient_id="p1")]
'Ada'
[('create', 'Patient', 'p1'), ('read', 'Patient', 'p1')]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.plugins import Hooks, get_plugin_manager
from carecore.protocols import AuditEntry, BulkResult, CheckReport, OutboxItem, StoredRows
from carecore.storage._kinds import KINDS, Column, Kind, kind_for
from carecore.storage.sql import SCHEMA_VERSION

if TYPE_CHECKING:
    import pluggy

    from carecore.protocols import Store

__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "AuditEntry",
    "BulkResult",
    "CheckReport",
    "Column",
    "Kind",
    "OutboxItem",
    "StoredRows",
    "kind_for",
    "open_store",
]


def open_store(url: str, *, plugin_manager: pluggy.PluginManager | None = None) -> Store:
    """Open the store for *url* through the installed plugins.

    Raises :class:`~carecore.errors.NoStoreForURL` for a scheme no plugin
    opens, :class:`~carecore.errors.StoreUnavailable` for a server or file
    that cannot be reached and :class:`~carecore.errors.StoreCorrupt` for a
    file that is not a carecore database. Opening changes nothing; call
    ``initialize()`` to create the schema in an empty database.

    >>> open_store("mongodb://localhost/x")
    Traceback (most recent call last):
    ...
    carecore.errors.NoStoreForURL: url='mongodb://localhost/x': no installed plugin opens this kind of store
    """
    return Hooks(plugin_manager or get_plugin_manager()).open_store(url)
