from __future__ import annotations

from carecore_x12 import X12ClaimWriter

from carecore.billing.claims import ClaimWriter
from carecore.plugins import _collect, get_plugin_manager, plugin_table


def test_entry_point_is_wired():
    pm = get_plugin_manager()
    assert pm.has_plugin("x12")
    writers = _collect(pm, "carecore_claim_writers", "claim writer", ClaimWriter)
    assert isinstance(writers["x12"], X12ClaimWriter)
    assert writers.provider("x12") == "x12"
    row = next(r for r in plugin_table(pm) if r["name"] == "x12")
    assert row["distribution"] == "carecore-x12"
    assert row["hooks"] == ["carecore_claim_writers"]
