"""Import: the Synthea bundles, the condition table, bad input with per-resource outcomes."""

from __future__ import annotations

import json

import pytest
from carecore_fhir import condition_groups, import_bundle
from carecore_fhir.mapping import Options
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import icd
from carecore.model import AdtEvent, CarePlan, Condition, Observation, Patient, TransitionEpisode


def raw_resources(path):
    return [e["resource"] for e in json.loads(path.read_bytes())["entry"]]


@pytest.fixture(scope="module")
def synthea(tmp_path_factory, synthea_paths):
    import pendulum

    from carecore.clock import FixedClock
    from carecore.plugins import get_plugin_manager
    from carecore.service import CareProgram

    db = tmp_path_factory.mktemp("synthea") / "s.db"
    program = CareProgram.open(
        f"sqlite:///{db}",
        clock=FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC")),
        plugin_manager=get_plugin_manager(entry_points=False),
    )
    reports = {p.name: import_bundle(program, p.read_bytes(), source=p.name) for p in synthea_paths}
    yield program, reports
    program.close()


def test_the_nine_synthea_bundles_import_completely(synthea, synthea_paths):
    program, reports = synthea
    assert len(reports) == 9
    for name, report in reports.items():
        assert report.refused == (), name
        # every resource has exactly one outcome
        assert len(report.outcomes) == len(
            raw_resources(next(p for p in synthea_paths if p.name == name))
        )
    everything = [r for p in synthea_paths for r in raw_resources(p)]
    with program.transaction("check") as tx:
        assert len(tx.all(Patient)) == sum(r["resourceType"] == "Patient" for r in everything)
        assert len(tx.all(Condition)) == sum(r["resourceType"] == "Condition" for r in everything)
        assert len(tx.all(CarePlan)) == sum(r["resourceType"] == "CarePlan" for r in everything)
        discharges = [
            r
            for r in everything
            if r["resourceType"] == "Encounter"
            and r["class"]["code"] == "IMP"
            and r["status"] == "finished"
        ]
        events = tx.all(AdtEvent)
        assert {e.visit_number for e in events} == {r["id"] for r in discharges}
        assert {e.kind.value for e in events} == {"discharge"}
        assert len(tx.all(TransitionEpisode)) == len(discharges)
        kept = [
            r
            for r in everything
            if r["resourceType"] == "Observation"
            and r["code"]["coding"][0]["code"] in {"4548-4", "29463-7", "85354-6", "55284-4"}
        ]
        panels = sum(r["code"]["coding"][0]["code"] in {"85354-6", "55284-4"} for r in kept)
        assert panels == 82  # Synthea writes blood pressure as 55284-4 panels
        assert len(tx.all(Observation)) == len(kept) + panels  # a panel gives two values


def test_care_plans_keep_their_goals_activities_and_problems(synthea, synthea_paths):
    program, _ = synthea
    source = next(
        r
        for p in synthea_paths
        for r in raw_resources(p)
        if r["resourceType"] == "CarePlan" and r.get("goal") and r.get("addresses")
    )
    with program.transaction("check") as tx:
        plan = tx.get(CarePlan, source["id"])
    assert plan.status.value == source["status"]
    assert [g.id for g in plan.goals] == [
        g["reference"].removeprefix("urn:uuid:") for g in source["goal"]
    ]
    assert len(plan.tasks) == len(source.get("activity", []))
    assert [p.condition_id for p in plan.problems] == [
        a["reference"].removeprefix("urn:uuid:") for a in source["addresses"]
    ]
    assert plan.title == source["category"][0]["text"]


CHRONIC_BY_PATIENT = {  # the Synthea sample patients' chronic conditions, written by hand
    "Dino_Barton": {"alzheimers-dementia", "heart-failure", "copd"},
    "Parker_Casper": {
        "atrial-fibrillation",
        "ischemic-heart-disease",
        "heart-failure",
        "hypertension",
        "diabetes",
    },
    "Dirk_Kuhlman": {"chronic-kidney-disease", "hypertension", "diabetes", "obesity"},
    "Buddy_MacGyver": {"heart-failure", "copd"},
    "Tommy_Friesen": {"alzheimers-dementia", "heart-failure"},
    "Adalberto_Hartmann": {
        "alzheimers-dementia",
        "ischemic-heart-disease",
        "hypertension",
        "obesity",
    },
}


def test_the_chronic_conditions_named_in_sources_are_marked_chronic(synthea, synthea_paths):
    program, _ = synthea
    table = condition_groups()
    for stem, groups in CHRONIC_BY_PATIENT.items():
        path = next(p for p in synthea_paths if p.name.startswith(stem))
        patient_id = next(r["id"] for r in raw_resources(path) if r["resourceType"] == "Patient")
        with program.transaction("check") as tx:
            conditions = tx.find(Condition, patient_id=patient_id)
        found = {table[c.coding.code].group for c in conditions if c.chronic}
        assert groups <= found, stem


def test_unmapped_codes_are_reported_not_dropped(synthea):
    _, reports = synthea
    unmapped = {code.split()[0] for r in reports.values() for code, _ in r.unmapped}
    assert "15777000" in unmapped  # prediabetes: no CCW group
    assert "444814009" in unmapped  # viral sinusitis: acute
    assert not unmapped & set(condition_groups())


def test_the_table_cites_valid_icd10cm_codes():
    for row in condition_groups().values():
        assert icd.is_valid(row.icd10cm), row
        assert row.snomed.isdigit()


def test_importing_again_stores_nothing_twice(synthea, synthea_paths):
    program, _ = synthea
    again = import_bundle(program, synthea_paths[0].read_bytes(), source="again")
    assert again.refused == ()
    assert all(added == 0 for _, added, _ in again.stored)
    assert {o.status for o in again.outcomes if o.kind == "Encounter"} <= {"duplicate", "skipped"}
    assert {o.status for o in again.outcomes if o.kind in {"Patient", "Condition", "CarePlan"}} == {
        "unchanged"
    }


def test_a_changed_resource_is_updated_but_a_stored_plan_is_kept(program):
    plan = {
        "resourceType": "CarePlan",
        "id": "cp1",
        "status": "active",
        "intent": "plan",
        "subject": {"reference": "urn:uuid:p1"},
        "created": "2026-01-05",
        "title": "Diabetes",
    }
    import_bundle(program, _bundle(PATIENT, CONDITION, plan), source="first")
    changed = {**CONDITION, "onsetDateTime": "2019-05-01"}
    revised = {**plan, "title": "Diabetes, revised at the EHR"}
    report = import_bundle(program, _bundle(PATIENT, changed, revised), source="second")
    by = {o.resource: o for o in report.outcomes}
    assert by["Patient/p1"].status == "unchanged"
    assert by["Condition/c1"].status == "updated"
    assert by["CarePlan/cp1"].status == "unchanged"
    assert "does not overwrite" in by["CarePlan/cp1"].reason
    with program.transaction("check") as tx:
        assert str(tx.get(Condition, "c1").onset) == "2019-05-01"
        assert tx.get(CarePlan, "cp1").title == "Diabetes"


def test_an_admission_then_its_discharge_are_two_events(program):
    stay = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": "urn:uuid:p1"},
        "period": {"start": "2026-03-01T10:00:00-05:00"},
    }
    first = import_bundle(program, _bundle(PATIENT, stay), source="admit")
    done = {
        **stay,
        "status": "finished",
        "meta": {"versionId": "2"},
        "period": {"start": "2026-03-01T10:00:00-05:00", "end": "2026-03-04T15:00:00-05:00"},
        "hospitalization": {
            "dischargeDisposition": {
                "coding": [{"system": "http://www.nubc.org/patient-discharge", "code": "03"}]
            }
        },
    }
    second = import_bundle(program, _bundle(PATIENT, done), source="discharge")
    again = import_bundle(program, _bundle(PATIENT, done), source="discharge again")
    assert [o.status for o in first.outcomes if o.kind == "Encounter"] == ["imported"]
    assert [o.status for o in second.outcomes if o.kind == "Encounter"] == ["imported"]
    assert [o.status for o in again.outcomes if o.kind == "Encounter"] == ["duplicate"]
    with program.transaction("check") as tx:
        events = sorted(tx.all(AdtEvent), key=lambda e: e.occurred_at)
        episodes = tx.all(TransitionEpisode)
    assert [(e.kind.value, e.visit_number) for e in events] == [
        ("admit", "e1"),
        ("discharge", "e1"),
    ]
    assert events[1].to_setting.value == "snf"
    assert len(episodes) == 1


def _bundle(*resources):
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"fullUrl": f"urn:uuid:{r.get('id')}", "resource": r} for r in resources],
        }
    )


PATIENT = {
    "resourceType": "Patient",
    "id": "p1",
    "gender": "female",
    "birthDate": "1950-03-01",
    "name": [{"family": "Okafor", "given": ["Ada"]}],
}
CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": {"reference": "urn:uuid:p1"},
    "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]},
}


def test_not_json_is_one_refused_outcome(program):
    report = import_bundle(program, b"{not json", source="broken.json")
    (outcome,) = report.outcomes
    assert outcome.status == "refused"
    assert "broken.json" in outcome.reason
    assert "not JSON" in outcome.reason


def test_bad_resources_are_refused_by_name_and_path_and_the_rest_imports(program):
    unknown = {"resourceType": "Frobnicator", "id": "f1"}
    dangling = {**CONDITION, "id": "c2", "subject": {"reference": "urn:uuid:nobody"}}
    r5 = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": [{"coding": [{"code": "IMP"}]}],
        "subject": {"reference": "urn:uuid:p1"},
    }
    stu3 = {"resourceType": "ProcedureRequest", "id": "pr1"}
    report = import_bundle(
        program, _bundle(PATIENT, CONDITION, unknown, dangling, r5, stu3), source="mixed"
    )
    by = {o.resource: o for o in report.outcomes}
    assert by["Patient/p1"].status == by["Condition/c1"].status == "imported"
    assert by["Frobnicator/f1"].status == "refused"
    assert "Frobnicator/f1.resourceType" in by["Frobnicator/f1"].reason
    assert "unknown resource type" in by["Frobnicator/f1"].reason
    assert by["Condition/c2"].status == "refused"
    assert "Condition/c2.subject.reference" in by["Condition/c2"].reason
    assert "urn:uuid:nobody" in by["Condition/c2"].reason
    assert "wrong FHIR version" in by["Encounter/e1"].reason
    assert "Encounter/e1.class" in by["Encounter/e1"].reason
    assert "wrong FHIR version" in by["ProcedureRequest/pr1"].reason
    with program.transaction("check") as tx:
        assert [c.id for c in tx.all(Condition)] == ["c1"]


def test_a_reference_to_a_stored_patient_resolves(program):
    import_bundle(program, json.dumps(PATIENT), source="p")
    report = import_bundle(
        program, json.dumps({**CONDITION, "subject": {"reference": "Patient/p1"}}), source="c"
    )
    assert [o.status for o in report.outcomes] == ["imported"]


def test_structural_errors_name_the_path(program):
    bad = {
        **PATIENT,
        "id": "p2",
        "birthDate": "1950-03-01",
        "telecom": [{"system": "phone", "rank": "first"}],
    }
    report = import_bundle(program, json.dumps(bad), source="bad")
    (outcome,) = report.outcomes
    assert outcome.status == "refused"
    assert "Patient/p2.telecom[0].rank" in outcome.reason


def test_options_give_time_zone_and_source_system(program):
    report = import_bundle(
        program,
        json.dumps(PATIENT),
        source="p",
        options=Options(source="https://ehr.example/fhir", time_zone="America/Chicago"),
    )
    assert report.refused == ()
    with program.transaction("check") as tx:
        patient = tx.get(Patient, "p1")
    assert patient.time_zone == "America/Chicago"
    assert patient.identifiers[0].system == "https://ehr.example/fhir"


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
            max_leaves=10,
        ).map(json.dumps),
    )
)
def test_any_input_gives_outcomes_never_an_exception(program, data):
    report = import_bundle(program, data, source="fuzz")
    assert report.outcomes
    assert all(o.status in {"imported", "skipped", "refused", "duplicate"} for o in report.outcomes)


_TYPES = [
    "Patient",
    "Condition",
    "Encounter",
    "Observation",
    "CarePlan",
    "CareTeam",
    "Coverage",
    "Practitioner",
    "Goal",
]
_FIELDS = [
    "id",
    "subject",
    "patient",
    "beneficiary",
    "code",
    "status",
    "intent",
    "period",
    "class",
    "name",
    "birthDate",
    "gender",
    "valueQuantity",
    "component",
    "effectiveDateTime",
    "addresses",
    "goal",
    "activity",
    "participant",
    "payor",
    "category",
    "created",
    "onsetDateTime",
    "clinicalStatus",
    "hospitalization",
    "qualification",
    "identifier",
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.just("urn:uuid:p1"),
    lambda inner: (
        st.lists(inner, max_size=2)
        | st.dictionaries(
            st.sampled_from(
                [
                    "reference",
                    "coding",
                    "code",
                    "system",
                    "text",
                    "start",
                    "end",
                    "value",
                    "family",
                    "given",
                    "detail",
                    "member",
                    "role",
                ]
            ),
            inner,
            max_size=3,
        )
    ),
    max_leaves=8,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    resources=st.lists(
        st.fixed_dictionaries(
            {"resourceType": st.sampled_from(_TYPES)}, optional=dict.fromkeys(_FIELDS, _JSON)
        ),
        max_size=4,
    )
)
def test_malformed_resources_are_refused_by_name_never_crash(program, resources):
    report = import_bundle(program, _bundle(PATIENT, *resources), source="fuzz")
    assert len(report.outcomes) == len(resources) + 1
    for outcome in report.refused:
        assert outcome.reason
        assert outcome.resource.split("/")[0] in [*_TYPES, "Patient"]


@pytest.mark.parametrize(
    ("system", "code", "plan"),
    [
        ("https://nahdo.org/sopt", "121", "medicare-part-b"),  # Medicare FFS
        ("https://nahdo.org/sopt", "111", "medicare-advantage"),  # Medicare HMO
        ("urn:oid:2.16.840.1.113883.3.221.5", "2", "medicaid"),
        ("https://nahdo.org/sopt", "6", "commercial"),  # Blue Cross/Blue Shield
        ("https://nahdo.org/sopt", "14", "other"),  # dual eligibility: not one kind
    ],
)
def test_coverage_plan_kind_comes_from_the_payment_typology(program, system, code, plan):
    org = {"resourceType": "Organization", "id": "o1", "name": "Acme Health Plan"}
    coverage = {
        "resourceType": "Coverage",
        "id": "cov1",
        "status": "active",
        "beneficiary": {"reference": "urn:uuid:p1"},
        "payor": [{"reference": "urn:uuid:o1"}],
        "type": {"coding": [{"system": system, "code": code}]},
        "subscriberId": "M-1",
        "period": {"start": "2024-01-01"},
    }
    report = import_bundle(program, _bundle(PATIENT, org, coverage), source="cov")
    assert report.refused == ()
    from carecore.model import Coverage

    with program.transaction("check") as tx:
        (stored,) = tx.all(Coverage)
    assert (stored.plan.value, stored.payer, stored.member_id) == (plan, "Acme Health Plan", "M-1")
    assert str(stored.start) == "2024-01-01"


def test_coverage_without_a_payer_name_is_refused_by_path(program):
    coverage = {
        "resourceType": "Coverage",
        "id": "cov2",
        "status": "active",
        "beneficiary": {"reference": "urn:uuid:p1"},
        "payor": [{"reference": "Organization/x"}],
    }
    report = import_bundle(program, _bundle(PATIENT, coverage), source="cov")
    (refused,) = report.refused
    assert "Coverage/cov2.payor[0]" in refused.reason
    assert "needs a payer name" in refused.reason


def test_many_reports_combine_as_one_merge_after_another(synthea):
    from carecore_fhir.importer import ImportReport

    _, reports = synthea
    parts = list(reports.values())
    combined = ImportReport.combine(parts)
    one_by_one = ImportReport(outcomes=())
    for part in parts:
        one_by_one = one_by_one.merged(part)
    assert combined == one_by_one
    assert len(combined.outcomes) == sum(len(p.outcomes) for p in parts)
    # Counts add up per code and per kind.
    assert dict(combined.unmapped) == {
        code: sum(dict(p.unmapped).get(code, 0) for p in parts)
        for code in {c for p in parts for c, _ in p.unmapped}
    }
    kinds = {k for p in parts for k, _, _ in p.stored}
    assert {k: (a, s) for k, a, s in combined.stored} == {
        k: (
            sum(a for p in parts for kk, a, _ in p.stored if kk == k),
            sum(s for p in parts for kk, _, s in p.stored if kk == k),
        )
        for k in kinds
    }
    assert combined.outcomes == tuple(o for p in parts for o in p.outcomes)


@pytest.mark.parametrize(
    ("value", "field"), [(None, "reports"), ("ab", "reports[0]"), ([1], "reports[0]")]
)
def test_combining_what_is_not_reports_is_refused_by_name(value, field):
    from carecore_fhir.importer import ImportReport

    from carecore import errors

    with pytest.raises(errors.InvalidValue) as caught:
        ImportReport.combine(value)
    assert caught.value.field == field
