"""Values the stores return: audit entries, outbox rows, check reports, bulk results.

They are defined in :mod:`carecore.protocols`, next to the protocols that
return them, so that the protocols import nothing from the stores.
"""

from __future__ import annotations

from carecore.protocols import AuditEntry, BulkResult, CheckReport, OutboxItem

__all__ = ["AuditEntry", "BulkResult", "CheckReport", "OutboxItem"]
