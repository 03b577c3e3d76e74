from __future__ import annotations

from carecore_fhir.source import FhirSource

from carecore.plugins import Hooks, get_plugin_manager, plugin_table


def test_entry_point_is_wired():
    pm = get_plugin_manager()
    assert pm.has_plugin("fhir")
    row = next(r for r in plugin_table(pm) if r["name"] == "fhir")
    assert row["distribution"] == "carecore-fhir"
    assert set(row["hooks"]) == {
        "carecore_claim_writers",
        "carecore_cli",
        "carecore_ehr_sources",
        "carecore_export_careplan",
    }
    sources = Hooks(pm).ehr_sources()
    assert isinstance(sources["fhir"], FhirSource)
