"""Export: round trip, validation of every resource, the required codes, the CLI."""

from __future__ import annotations

import json

import pendulum
import pytest
from carecore_fhir import import_bundle, validate_resource
from carecore_fhir.export import export_patient, find_patient, to_fhir
from carecore_fhir.validate import code_problems, problems
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.model import (
    AdtEvent,
    AssessmentResult,
    Barrier,
    CarePlan,
    CarePlanStatus,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Coding,
    Comparator,
    Condition,
    Consent,
    ConsentMethod,
    Coverage,
    CoveragePlan,
    Credential,
    DisenrollmentReason,
    Enrollment,
    Goal,
    GoalAchievement,
    Identifier,
    InterventionKind,
    ItemAnswer,
    Observation,
    Patient,
    Practitioner,
    Problem,
    Referral,
    ReferralStatus,
    ReviewSchedule,
    ServiceFamily,
    SocialNeed,
    Target,
    Task,
    TaskStatus,
)

PATIENT_KINDS = (Patient, Condition, Observation, CarePlan, AdtEvent, Coverage, CareTeam)


def _all(program, cls):
    with program.transaction("check") as tx:
        return sorted(tx.all(cls), key=lambda v: v.id)


def test_import_export_import_gives_equal_values(make_program, synthea_paths):
    first, second = make_program("first"), make_program("second")
    for path in synthea_paths:
        assert import_bundle(first, path.read_bytes(), source=path.name).refused == ()
    for patient in _all(first, Patient):
        bundle = export_patient(first, patient.id)
        report = import_bundle(second, json.dumps(bundle), source=patient.id)
        assert report.refused == ()
    for cls in PATIENT_KINDS:
        assert _all(first, cls) == _all(second, cls), cls.__name__
    assert len(_all(second, CarePlan)) == 44


def _rich_record(program):
    day = pendulum.Date(2026, 1, 5)
    with program.transaction("setup") as tx:
        tx.add(Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD, npi="1234567893"))
        tx.add(Practitioner(id="rn1", name="Ana Park", credential=Credential.RN))
        tx.add(
            Patient(
                id="p1",
                given_name="Ada Mae",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=__import__(
                    "carecore.model", fromlist=["AdministrativeSex"]
                ).AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
                identifiers=[Identifier(system="urn:mrn:acme", value="MRN-7")],
            )
        )
        tx.add(
            Condition(
                id="c1",
                patient_id="p1",
                coding=Coding.icd10cm("E11.9"),
                onset=pendulum.Date(2019, 5, 1),
                chronic=True,
                significant_risk=True,
                expected_duration_months=120,
            )
        )
        tx.add(
            Coverage(
                id="cov1",
                patient_id="p1",
                payer="Medicare",
                plan=CoveragePlan.MEDICARE_PART_B,
                member_id="1EG4-TE5-MK73",
                start=pendulum.Date(2013, 3, 1),
            )
        )
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[
                    CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER),
                    CareTeamMember(practitioner_id="rn1", role=CareTeamRole.CARE_MANAGER),
                ],
            )
        )
        tx.add(
            Observation(
                id="o1-8480-6",
                patient_id="p1",
                measure="Systolic blood pressure",
                loinc="8480-6",
                value="142",
                unit="mm[Hg]",
                on=day,
            )
        )
        tx.add(
            Observation(
                id="o1-8462-4",
                patient_id="p1",
                measure="Diastolic blood pressure",
                loinc="8462-4",
                value="91",
                unit="mm[Hg]",
                on=day,
            )
        )
        tx.add(
            Observation(
                id="a1c",
                patient_id="p1",
                measure="Hemoglobin A1c",
                loinc="4548-4",
                value="8.4",
                unit="%",
                on=day,
            )
        )
        tx.add(
            CarePlan(
                id="cp1",
                patient_id="p1",
                title="Diabetes and social needs",
                families=[ServiceFamily.CCM],
                created_on=day,
                status=CarePlanStatus.ACTIVE,
                version=3,
                problems=[
                    Problem(id="pr1", description="Type 2 diabetes", condition_id="c1"),
                    Problem(
                        id="pr2", description="Food insecurity", need=SocialNeed.FOOD_INSECURITY
                    ),
                ],
                goals=[
                    Goal(
                        id="g1",
                        description="A1c below 8%",
                        problem_ids=["pr1"],
                        confidence=7,
                        achievement=GoalAchievement.IMPROVING,
                        target=Target(
                            measure="Hemoglobin A1c",
                            loinc="4548-4",
                            comparator=Comparator.LT,
                            value="8.0",
                            unit="%",
                            due=pendulum.Date(2026, 7, 1),
                        ),
                    ),
                    Goal(id="g2", description="Food every day", problem_ids=["pr2"]),
                ],
                tasks=[
                    Task(
                        id="tk1",
                        description="Teach insulin pen",
                        owner="rn1",
                        kind=InterventionKind.EDUCATION,
                        due=pendulum.Date(2026, 1, 20),
                        goal_ids=["g1"],
                    ),
                    Task(
                        id="tk2",
                        description="Call pharmacy",
                        owner="front desk",
                        kind=InterventionKind.COORDINATION,
                        status=TaskStatus.COMPLETED,
                        outcome="refills aligned",
                    ),
                ],
                referrals=[
                    Referral(
                        id="rf1",
                        to="Riverbend Food Bank",
                        reason="Food insecurity",
                        need=SocialNeed.FOOD_INSECURITY,
                        status=ReferralStatus.SENT,
                        sent_on=day,
                    )
                ],
                barriers=[Barrier(id="b1", description="No car", goal_ids=["g2"], plan="Bus pass")],
                review=ReviewSchedule(every_days=90, next_review=pendulum.Date(2026, 4, 5)),
                expected_outcome="A1c at goal within 6 months",
                responsible_id="dr1",
                contributors=["rn1"],
            )
        )
        tx.add(
            Consent(
                id="k1",
                patient_id="p1",
                family=ServiceFamily.CCM,
                method=ConsentMethod.VERBAL,
                obtained_on=day,
                obtained_by="rn1",
                billing_practitioner_id="dr1",
                cost_sharing_explained=True,
                revoked_on=pendulum.Date(2026, 3, 10),
            )
        )
        tx.add(
            Enrollment.start(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=day,
            )
            .pause(pendulum.Date(2026, 2, 1))
            .resume(pendulum.Date(2026, 2, 15))
            .disenroll(pendulum.Date(2026, 6, 30), DisenrollmentReason.MOVED)
        )
        tx.add(
            AssessmentResult(
                id="ar1",
                patient_id="p1",
                instrument_id="phq-9",
                on=day,
                answers=[ItemAnswer(item="44250-9", values=["LA6569-3"])],
                total=11,
                band="moderate",
                performer_id="rn1",
            )
        )


def test_every_exported_resource_validates_and_reads_back(make_program):
    program = make_program()
    _rich_record(program)
    bundle = export_patient(program, "p1")
    resources = [e["resource"] for e in bundle["entry"]]
    kinds = {r["resourceType"] for r in resources}
    assert kinds >= {
        "Patient",
        "Practitioner",
        "Condition",
        "Observation",
        "Coverage",
        "CareTeam",
        "CarePlan",
        "Goal",
        "Task",
        "ServiceRequest",
        "Consent",
        "EpisodeOfCare",
        "QuestionnaireResponse",
    }
    for resource in resources:
        assert problems(resource) == [], resource["resourceType"]
    plan = next(r for r in resources if r["resourceType"] == "CarePlan")
    assert plan["intent"] == "plan"
    assert [(a["reference"], a["identifier"]["value"]) for a in plan["addresses"]] == [
        ("Condition/c1", "pr1")
    ]
    assert {a["reference"]["reference"].split("/")[0] for a in plan["activity"]} == {
        "Task",
        "ServiceRequest",
    }
    assert plan["careTeam"] == [{"reference": "CareTeam/t1"}]
    assert plan["contributor"] == [{"reference": "Practitioner/rn1"}]
    assert "Teach insulin pen" in plan["text"]["div"]
    episode = next(r for r in resources if r["resourceType"] == "EpisodeOfCare")
    assert [h["status"] for h in episode["statusHistory"]] == [
        "active",
        "onhold",
        "active",
        "finished",
    ]
    assert episode["status"] == "finished"
    consent = next(r for r in resources if r["resourceType"] == "Consent")
    assert consent["status"] == "inactive"
    assert consent["provision"]["period"]["end"] == "2026-03-31"
    score = next(
        r
        for r in resources
        if r["resourceType"] == "Observation" and r.get("valueInteger") is not None
    )
    assert score["code"]["coding"][0]["code"] == "44261-6"
    assert score["valueInteger"] == 11
    bp = next(r for r in resources if r["resourceType"] == "Observation" and r["id"] == "o1")
    assert [c["code"]["coding"][0]["code"] for c in bp["component"]] == ["8480-6", "8462-4"]

    again = make_program("again")
    report = import_bundle(again, json.dumps(bundle), source="export")
    assert report.refused == ()
    for cls in (Condition, Observation, CarePlan, Coverage, CareTeam):
        assert _all(program, cls) == _all(again, cls), cls.__name__
    # carecore's own export names the patient's carecore id (US Core needs an identifier);
    # reading it back gives the same patient, with no identifier gained
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    assert {"system": "https://carecore.dev/fhir/patient-id", "value": "p1"} in patient[
        "identifier"
    ]
    assert _all(program, Patient) == _all(again, Patient)


def test_code_checks_catch_what_the_library_does_not():
    doc = to_fhir(
        CarePlan(
            id="cp1",
            patient_id="p1",
            title="t",
            families=[ServiceFamily.CCM],
            created_on=pendulum.Date(2026, 1, 5),
        )
    )[0]
    assert problems(doc) == []
    bogus = {**doc, "status": "bogus", "intent": "wish", "category": []}
    found = {p.path for p in code_problems(bogus)}
    assert found == {"CarePlan/cp1.status", "CarePlan/cp1.intent", "CarePlan/cp1.category"}
    with pytest.raises(errors.InvalidInput) as caught:
        validate_resource(bogus)
    assert "CarePlan/cp1.status" in str(caught.value)


def test_export_finds_a_patient_by_source_id_and_refuses_unknown_ones(make_program):
    program = make_program()
    _rich_record(program)
    assert find_patient(program, "MRN-7").id == "p1"
    with pytest.raises(errors.NotFound) as caught:
        export_patient(program, "nobody")
    assert caught.value.value == "nobody"


def test_cli_import_then_export(tmp_path, synthea_paths):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    app = make_app()
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    args = ["fhir", "import", str(synthea_paths[0]), str(bad), "--db", db, "--no-progress"]
    # The store is made once with db init: an import does not create one by mistake.
    assert runner.invoke(app, args).exit_code == 2
    assert not (tmp_path / "cli.db").exists()
    assert runner.invoke(app, ["db", "init", db]).exit_code == 0
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "refused bad.json" in result.output
    assert "Patient" in result.output
    assert "not in the chronic-condition table" in result.output
    synthea_id = next(
        e["resource"]["id"]
        for e in json.loads(synthea_paths[0].read_bytes())["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["fhir", "export", synthea_id, "--db", db, "--out", str(out)])
    assert result.exit_code == 0, result.output
    bundle = json.loads(out.read_text())
    assert bundle["resourceType"] == "Bundle"
    assert bundle["entry"][0]["resource"]["id"] == synthea_id
    result = runner.invoke(app, ["fhir", "export", "nobody", "--db", db])
    assert result.exit_code == 2
    assert "nobody" in result.output


def test_a_goal_two_plans_share_is_exported_once(make_program):
    goal_id = "2a7bec9e-c9c9-4008-b02c-f8de95553c6f"
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "gender": "female",
        "birthDate": "1950-03-01",
        "name": [{"family": "Okafor", "given": ["Ada"]}],
    }
    goal = {
        "resourceType": "Goal",
        "id": goal_id,
        "lifecycleStatus": "active",
        "description": {"text": "Walk daily"},
        "subject": {"reference": "Patient/p1"},
    }
    plans = [
        {
            "resourceType": "CarePlan",
            "id": f"cp{n}",
            "status": "active",
            "intent": "plan",
            "subject": {"reference": "Patient/p1"},
            "created": "2026-01-05",
            "goal": [{"reference": f"Goal/{goal_id}"}],
        }
        for n in (1, 2)
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, goal, *plans)],
    }
    program = make_program()
    assert import_bundle(program, json.dumps(bundle), source="shared").refused == ()
    exported = export_patient(program, "p1")
    goals = [e["resource"] for e in exported["entry"] if e["resource"]["resourceType"] == "Goal"]
    assert [g["id"] for g in goals] == [goal_id]
    again = make_program("again")
    assert import_bundle(again, json.dumps(exported), source="again").refused == ()
    assert _all(program, CarePlan) == _all(again, CarePlan)
