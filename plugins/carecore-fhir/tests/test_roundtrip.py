"""Export, import into an empty store, export again: the same resources (issue 19)."""

from __future__ import annotations

import json
import string

import pendulum
import pytest
from carecore_fhir import codes, import_bundle
from carecore_fhir.export import export_patient
from carecore_fhir.mapping import Options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.model import (
    AdministrativeSex,
    AssessmentResult,
    Consent,
    Enrollment,
    Identifier,
    Patient,
)
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


# Systems a stored patient's identifiers may have: carecore's own id system and the default
# import source among them, a bare assigning authority as HL7 PID-3 gives it, URNs and URLs.
SYSTEMS = (
    codes.PATIENT_ID,
    Options().source,
    "RGH",
    "urn:mrn:acme",
    "http://hl7.org/fhir/sid/us-mbi",
    "https://ehr.example/fhir",
)
FHIR_ID_CHARS = string.ascii_letters + string.digits + "-."


@st.composite
def _patients(draw):
    pid = draw(st.text(FHIR_ID_CHARS, min_size=1, max_size=12))
    # A value is often the patient's own id (a hospital MRN equal to it, carecore's id itself).
    value = st.one_of(st.just(pid), st.text(string.ascii_letters + string.digits, min_size=1))
    identifiers = draw(
        st.lists(st.builds(Identifier, system=st.sampled_from(SYSTEMS), value=value), max_size=3)
    )
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1950, 3, 1),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
        identifiers=identifiers,
    )


@settings(
    max_examples=40,
    deadline=None,
    # the plugin manager holds no state between examples; each example opens its own stores
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(patient=_patients())
def test_a_patients_identifiers_survive_export_and_import_exactly(patient, carecore_pm):
    """Any 0 to 3 identifiers come back as they were, none gained, none lost, order kept."""
    with CareProgram.open("memory://", actor="t", plugin_manager=carecore_pm) as first:
        first.import_records([patient], reason="test")
        bundle = export_patient(first, patient.id)
    (resource,) = (e["resource"] for e in bundle["entry"])
    # US Core needs an identifier: carecore's id is always one of them
    assert {"system": codes.PATIENT_ID, "value": patient.id} in resource["identifier"]
    with CareProgram.open("memory://", actor="t", plugin_manager=carecore_pm) as again:
        report = import_bundle(again, json.dumps(bundle), source="p.json")
        assert report.refused == ()
        with again.transaction("test") as tx:
            assert tx.get(Patient, patient.id) == patient
        assert _resources(export_patient(again, patient.id)) == _resources(bundle)
