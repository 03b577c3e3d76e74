"""Export, import into an empty store, export again: the same resources (issue 19)."""

from __future__ import annotations

import json

import pytest
from carecore_fhir import import_bundle
from carecore_fhir.export import export_patient

from carecore.model import AssessmentResult, Consent, Enrollment, Patient
from carecore.service import CareProgram


def _resources(bundle):
    """The bundle's resources by Type/id, without what a server or the clock assigns."""
    out = {}
    for entry in bundle["entry"]:
        resource = dict(entry["resource"])
        meta = {k: v for k, v in (resource.get("meta") or {}).items() if k != "lastUpdated"}
        if meta:
            resource["meta"] = meta
        out[f"{resource['resourceType']}/{resource['id']}"] = resource
    return out


@pytest.fixture(scope="module")
def demo_ids(demo_program):
    with demo_program.transaction("test") as tx:
        return sorted(p.id for p in tx.all(Patient))


def test_every_demo_patient_exports_the_same_after_a_round_trip(
    demo_program, demo_ids, carecore_pm
):
    differ = []
    for pid in demo_ids:
        first = export_patient(demo_program, pid)
        with CareProgram.open("memory://", actor="round-trip", plugin_manager=carecore_pm) as again:
            report = import_bundle(again, json.dumps(first), source=f"{pid}.json")
            assert report.refused == (), [o.reason for o in report.refused]
            second = export_patient(again, pid)
        a, b = _resources(first), _resources(second)
        if a != b:
            differ.append((pid, sorted(set(a) ^ set(b)), [k for k in a if k in b and a[k] != b[k]]))
    assert differ == []


def test_assessments_consents_and_enrollments_read_back_as_stored(
    demo_program, demo_ids, carecore_pm
):
    pid = next(
        p
        for p in demo_ids
        if any(r.total is not None for r in _find(demo_program, AssessmentResult, p))
    )
    bundle = export_patient(demo_program, pid)
    with CareProgram.open("memory://", actor="round-trip", plugin_manager=carecore_pm) as again:
        report = import_bundle(again, json.dumps(bundle), source="b.json")
        statuses = {o.resource.split("/")[0]: o.status for o in report.outcomes}
        for cls in (AssessmentResult, Consent, Enrollment):
            assert _find(again, cls, pid) == _find(demo_program, cls, pid), cls.__name__
    assert statuses["QuestionnaireResponse"] == statuses["Consent"] == "imported"
    assert statuses["EpisodeOfCare"] == "imported"


def _find(program, cls, pid):
    with program.transaction("test") as tx:
        return sorted(tx.find(cls, patient_id=pid), key=lambda v: v.id)


def test_practitioners_the_store_lacks_travel_as_names_and_read_back(program, carecore_pm):
    """A consent, enrollment and assessment naming practitioners with no stored record."""
    import pendulum

    from carecore.model import (
        AdministrativeSex,
        ConsentMethod,
        ServiceFamily,
    )

    day = pendulum.Date(2026, 1, 5)
    program.import_records(
        [
            Patient(
                id="p9",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            ),
            Consent(
                id="k9",
                patient_id="p9",
                family=ServiceFamily.CCM,
                method=ConsentMethod.VERBAL,
                obtained_on=day,
                obtained_by="rn-gone",
                billing_practitioner_id="dr-gone",
                cost_sharing_explained=False,
            ),
            Enrollment.start(
                id="e9",
                patient_id="p9",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr-gone",
                on=day,
            ),
        ],
        reason="test",
    )
    program.assess(
        "p9", "phq-2", {"44250-9": 1, "44255-8": 2}, result_id="a9", performer_id="rn-gone"
    )
    first = export_patient(program, "p9")
    resources = {r["resourceType"]: r for r in (e["resource"] for e in first["entry"])}
    assert resources["Consent"]["performer"] == [{"display": "rn-gone"}]
    assert resources["EpisodeOfCare"]["careManager"] == {"display": "dr-gone"}
    assert resources["QuestionnaireResponse"]["author"] == {"display": "rn-gone"}
    with CareProgram.open("memory://", actor="round-trip", plugin_manager=carecore_pm) as again:
        report = import_bundle(again, json.dumps(first), source="p9.json")
        assert report.refused == ()
        for cls in (AssessmentResult, Consent, Enrollment):
            assert _find(again, cls, "p9") == _find(program, cls, "p9"), cls.__name__
        assert _resources(export_patient(again, "p9")) == _resources(first)
