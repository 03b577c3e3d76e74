"""`carecore meds list|reconcile` and `carecore gaps` against a SQLite store."""

from __future__ import annotations

import csv
import io
import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ClinicalService,
    Credential,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Patient,
    PatientClass,
    Practitioner,
    ServiceKind,
    TransitionEpisode,
)
from carecore.service import CareProgram

TZ = "America/Chicago"
D = pendulum.Date


@pytest.fixture
def url(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'meds.db'}"
    program = CareProgram.open(
        url,
        actor="test",
        clock=FixedClock(pendulum.datetime(2026, 3, 9, 15, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    when = pendulum.datetime(2026, 3, 4, 11, tz=TZ)
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=D(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone=TZ,
            )
        )
        for sid, source, rx, text, dose, status in [
            ("e1", MedicationSource.EHR, "314076", "Lisinopril 10 MG", "10 mg", "active"),
            ("e2", MedicationSource.EHR, "243670", "Aspirin 81 MG", "81 mg", "active"),
            (
                "d1",
                MedicationSource.DISCHARGE_SUMMARY,
                "314076",
                "Lisinopril 20 MG",
                "20 mg",
                "active",
            ),
            (
                "d2",
                MedicationSource.DISCHARGE_SUMMARY,
                "243670",
                "Aspirin 81 MG",
                "81 mg",
                "stopped",
            ),
            (
                "d3",
                MedicationSource.DISCHARGE_SUMMARY,
                "310429",
                "Furosemide 20 MG",
                "20 mg",
                "active",
            ),
        ]:
            tx.add(
                MedicationStatement(
                    id=sid,
                    patient_id="p1",
                    source=source,
                    rxnorm=rx,
                    text=text,
                    dose=dose,
                    status=MedicationStatus(status),
                    start=D(2025, 1, 1) if source is MedicationSource.EHR else D(2026, 3, 4),
                    recorded_on=None if source is MedicationSource.EHR else D(2026, 3, 4),
                )
            )
        # The physician who reconciles (meds reconcile --by dr1) is on p1's care team.
        tx.add(Practitioner(id="dr1", name="Dr One", credential=Credential.MD))
        tx.add(
            CareTeam(
                id="t1",
                patient_id="p1",
                members=[
                    CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER)
                ],
            )
        )
        tx.add(
            ClinicalService(
                id="i1",
                patient_id="p1",
                kind=ServiceKind.IMMUNIZATION,
                system="CVX",
                code="140",
                on=D(2025, 10, 1),
            )
        )
    program.receive(
        AdtEvent(
            id="a03",
            source_key="a03",
            patient_id="p1",
            kind=AdtEventKind.DISCHARGE,
            occurred_at=when,
            discharged_at=when,
            patient_class=PatientClass.INPATIENT,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
        ),
        source="test",
    )
    program.close()
    return url


def run(pm, *args):
    return CliRunner().invoke(make_app(pm), list(args))


def test_meds_list_and_reconcile_close_the_episode_deadline(url, carecore_pm):
    listed = run(
        carecore_pm, "meds", "list", "p1", "--db", url, "--on", "2026-03-09", "--format", "json"
    )
    assert listed.exit_code == 0, listed.output
    # Before reconciling: the practice's list and what the discharge added (one row per drug).
    assert sorted(r["id"] for r in json.loads(listed.output)) == ["d3", "e1", "e2"]
    preview = run(
        carecore_pm,
        "meds",
        "reconcile",
        "p1",
        "--db",
        url,
        "--on",
        "2026-03-09",
        "--format",
        "json",
    )
    assert preview.exit_code == 0, preview.output
    assert {r["key"]: r["discrepancies"] for r in json.loads(preview.output)} == {
        "rxnorm:243670": ["stopped_still_taken"],  # stopped at discharge, on the practice list
        "rxnorm:310429": ["commission"],
        "rxnorm:314076": ["dose_change"],
    }
    undecided = run(
        carecore_pm,
        "meds",
        "reconcile",
        "p1",
        "--db",
        url,
        "--on",
        "2026-03-09",
        "--by",
        "dr1",
        "--decide",
        "243670=stop",
    )
    assert undecided.exit_code == 2
    assert "rxnorm:310429" in undecided.output
    done = run(
        carecore_pm,
        "meds",
        "reconcile",
        "p1",
        "--db",
        url,
        "--on",
        "2026-03-09",
        "--by",
        "dr1",
        "--decide",
        "243670=stop",
        "--decide",
        "314076=change:20 mg",
        "--rest",
        "continue",
    )
    assert done.exit_code == 0, done.output
    assert "met episode" in done.output
    program = CareProgram.open(url, plugin_manager=carecore_pm, create=False)
    with program.transaction("read") as tx:
        (episode,) = tx.find(TransitionEpisode, patient_id="p1")
    program.close()
    assert episode.med_rec_on == D(2026, 3, 9)
    after = run(carecore_pm, "meds", "list", "p1", "--db", url, "--on", "2026-03-09")
    assert "Furosemide 20 MG" in after.output
    assert "Aspirin" not in after.output
    assert "(20 mg)" in after.output


def test_bad_decision_is_exit_2_naming_the_option(url, carecore_pm):
    result = run(
        carecore_pm,
        "meds",
        "reconcile",
        "p1",
        "--db",
        url,
        "--by",
        "dr1",
        "--decide",
        "243670=maybe",
    )
    assert result.exit_code == 2
    assert "--decide" in result.output


def test_gaps_in_each_format(url, carecore_pm):
    table = run(carecore_pm, "gaps", "--db", url, "--on", "2026-03-09")
    assert table.exit_code == 0, table.output
    assert "Lopez, Ada (p1)" in table.output
    assert "Recombinant zoster vaccine" in table.output  # 76: past the colorectal ages
    assert "Influenza" not in table.output  # closed this season
    data = json.loads(
        run(
            carecore_pm, "gaps", "--db", url, "--on", "2026-03-09", "--all", "--format", "json"
        ).output
    )
    flu = next(r for r in data if r["rule_id"] == "influenza-vaccine")
    assert (flu["status"], flu["closed_by"]) == ("closed", "i1")
    rows = list(
        csv.DictReader(
            io.StringIO(
                run(
                    carecore_pm,
                    "gaps",
                    "--db",
                    url,
                    "--patient",
                    "p1",
                    "--on",
                    "2026-03-09",
                    "--format",
                    "csv",
                ).output
            )
        )
    )
    assert {r["status"] for r in rows} <= {"due", "overdue"}
    assert all(r["explanation"] and r["source"] for r in rows)
    bad = run(carecore_pm, "gaps", "--db", url, "--on", "2026-02-30")
    assert bad.exit_code == 2


def test_worklist_gaps_flag(url, carecore_pm):
    plain = run(carecore_pm, "worklist", "--db", url, "--on", "2026-03-09", "--format", "json")
    assert plain.exit_code == 0, plain.output
    kinds = {i["kind"] for w in json.loads(plain.output).values() for i in w["items"]}
    assert "tcm-med-rec" in kinds
    assert not any(k.startswith("gap-") for k in kinds)
    flagged = run(
        carecore_pm, "worklist", "--db", url, "--on", "2026-03-09", "--gaps", "--format", "json"
    )
    items = [i for w in json.loads(flagged.output).values() for i in w["items"]]
    assert ("gap-overdue", "zoster-vaccine") in {(i["kind"], i["detail"]) for i in items}


def test_import_fills_from_csv(url, carecore_pm, tmp_path):
    good = tmp_path / "fills.csv"
    good.write_text(
        "patient_id,filled_on,days_supply,drug_class,drug\n"
        "p1,2026-01-01,30,statin,Atorvastatin 20 MG\n"
        "p1,2026-02-15,30,statin,Atorvastatin 20 MG\n"
    )
    first = run(carecore_pm, "meds", "import-fills", str(good), "--db", url)
    assert first.exit_code == 0, first.output
    assert "2 fill(s) added" in first.output
    assert (
        "0 fill(s) added, 2 already stored"
        in run(carecore_pm, "meds", "import-fills", str(good), "--db", url).output
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "patient_id,filled_on,days_supply,drug_class,drug\np1,2026-01-01,thirty,statin,X\n"
    )
    refused = run(carecore_pm, "meds", "import-fills", str(bad), "--db", url)
    assert refused.exit_code == 2
    assert "line 2: days_supply" in refused.output
    program = CareProgram.open(url, plugin_manager=carecore_pm, create=False)
    (statin,) = program.medication_adherence(start=D(2026, 1, 1), end=D(2026, 3, 31))
    program.close()
    assert (statin.drug_class, statin.covered, statin.days) == ("statin", 60, 90)


def test_reconcile_by_someone_not_in_the_store_is_exit_2_and_saves_nothing(url, carecore_pm):
    """A fresh store, no care team for the practitioner: `--by` must name a stored practitioner.

    An unknown id is refused naming the option's field and the value (exit 2), nothing saved;
    a practitioner who is in the store but on no care team is accepted (no access policy asked
    for more: the login account is at the keyboard).
    """
    args = ["meds", "reconcile", "p1", "--db", url, "--on", "2026-03-09", "--rest", "continue"]
    unknown = run(carecore_pm, *args, "--by", "dr-nobody")
    assert unknown.exit_code == 2, unknown.output
    assert "by='dr-nobody'" in unknown.output
    assert "practitioner" in unknown.output
    program = CareProgram.open(url, plugin_manager=carecore_pm, create=False)
    with program.transaction("read") as tx:
        (episode,) = tx.find(TransitionEpisode, patient_id="p1")
        assert episode.med_rec_on is None
        tx.add(Practitioner(id="dr2", name="Dr Two", credential=Credential.MD))  # on no team
    program.close()
    known = run(carecore_pm, *args, "--by", "dr2")
    assert known.exit_code == 0, known.output
    assert "by dr2; met episode" in known.output


def test_reconcile_by_someone_off_the_care_team_is_denied_with_the_reason(url, carecore_pm):
    """Under a named actor, access control asks that who reconciles be on the patient's team.

    The denial is exit 3 and says so (a care team names them), instead of only "may not read".
    """
    program = CareProgram.open(url, plugin_manager=carecore_pm, create=False)
    with program.transaction("a second physician, on no team") as tx:
        tx.add(Practitioner(id="dr2", name="Dr Two", credential=Credential.MD))
    program.close()
    args = ["meds", "reconcile", "p1", "--db", url, "--on", "2026-03-09", "--rest", "continue"]
    denied = CliRunner().invoke(
        make_app(carecore_pm), [*args, "--by", "dr2"], env={"CARECORE_ACTOR": "dr2"}
    )
    assert denied.exit_code == 3, denied.output
    assert "actor='dr2'" in denied.output
    assert "care team" in denied.output
    on_team = CliRunner().invoke(
        make_app(carecore_pm), [*args, "--by", "dr1"], env={"CARECORE_ACTOR": "dr1"}
    )
    assert on_team.exit_code == 0, on_team.output
