"""``carecore_export_careplan`` writes to its target with the target's authorization (issue 19).

Against the two servers the plugin's REST tests run on 127.0.0.1: the project's own
(tests/fhir_server.py, whose accepted token a test sets) and sekmet-fhir (a static token).
"""

from __future__ import annotations

import carecore_fhir.plugin
import pendulum
import pytest
from carecore_fhir.export import careplan_resources
from carecore_fhir.rest import FhirClient

from carecore import errors
from carecore.hookspecs import ExportTarget
from carecore.model import CarePlan, ServiceFamily
from carecore.plugins import Hooks, get_plugin_manager


def _plan(pid="p1", plan_id="cp-wb"):
    return CarePlan(
        id=plan_id,
        patient_id=pid,
        title="Heart failure",
        families=[ServiceFamily.CCM],
        created_on=pendulum.Date(2026, 1, 5),
    )


@pytest.fixture(autouse=True)
def loopback_cleartext(monkeypatch):
    """Both servers listen on loopback over http://: allowed on purpose."""
    monkeypatch.setenv("CARECORE_FHIR_INSECURE", "1")


@pytest.fixture
def hooks():
    pm = get_plugin_manager(entry_points=False)
    pm.register(carecore_fhir.plugin, name="fhir")
    return Hooks(pm)


def test_the_plan_is_written_with_the_targets_token(fhir_server, hooks):
    fhir_server.store.token = "s3cret"
    target = ExportTarget(url=fhir_server.base, token=lambda *, refresh: "s3cret")
    assert hooks.export_careplan(_plan(), target) == ["cp-wb"]
    stored = fhir_server.store.current("CarePlan")
    assert [p["id"] for p in stored] == ["cp-wb"]
    assert stored[0]["title"] == careplan_resources(_plan())[0]["title"]
    sent = [r[2].get("Authorization") for r in fhir_server.store.requests]
    assert sent
    assert set(sent) == {"Bearer s3cret"}


def test_a_refused_token_is_refreshed_once(fhir_server, hooks):
    fhir_server.store.token = "new"
    calls = []

    def token(*, refresh):
        calls.append(refresh)
        return "new" if refresh else "expired"

    assert hooks.export_careplan(_plan(), ExportTarget(url=fhir_server.base, token=token)) == [
        "cp-wb"
    ]
    assert calls[:2] == [False, True]


def test_without_the_targets_token_the_server_refuses_by_name(fhir_server, hooks, monkeypatch):
    fhir_server.store.token = "s3cret"
    monkeypatch.setenv("CARECORE_FHIR_URL", fhir_server.base)
    with pytest.raises(errors.InvalidValue) as caught:
        hooks.export_careplan(_plan())
    assert caught.value.field == "Authorization"
    with pytest.raises(errors.InvalidValue) as caught:
        hooks.export_careplan(_plan(), ExportTarget(url=fhir_server.base))
    assert caught.value.field == "Authorization"
    assert fhir_server.store.current("CarePlan") == []


def test_a_target_that_is_not_a_fhir_server_is_another_exporters(hooks, monkeypatch):
    monkeypatch.delenv("CARECORE_FHIR_URL", raising=False)
    assert hooks.export_careplan(_plan(), ExportTarget(url="sftp://ehr.example.org/in")) == []
    assert hooks.export_careplan(_plan()) == []


def test_write_back_to_sekmet_with_its_token(sekmet, hooks):
    plan = _plan(plan_id="cp-wb-sekmet")
    target = ExportTarget(url=sekmet.base, token=lambda *, refresh: sekmet.token)
    assert hooks.export_careplan(plan, target) == ["cp-wb-sekmet"]
    with FhirClient(sekmet.base, insecure=True, token=target.token) as client:
        stored, version = client.read("CarePlan", "cp-wb-sekmet")
    assert stored["title"] == "Heart failure"
    assert stored["meta"]["profile"] == careplan_resources(plan)[0]["meta"]["profile"]
    # a second write is a versioned update of the same resource
    assert hooks.export_careplan(plan, target) == ["cp-wb-sekmet"]
    with FhirClient(sekmet.base, insecure=True, token=target.token) as client:
        _, again = client.read("CarePlan", "cp-wb-sekmet")
    assert again != version
    with pytest.raises(errors.InvalidValue) as caught:
        hooks.export_careplan(plan, ExportTarget(url=sekmet.base))
    assert caught.value.field == "Authorization"
