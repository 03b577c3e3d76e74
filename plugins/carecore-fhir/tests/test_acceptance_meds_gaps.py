"""Issue 18's acceptance, walked as a new user on a SQLite file with the command line.

The patients are the three Synthea bundles carecore ships for its demo; the
hospital's discharge orders, a pharmacy's dispenses and a flu shot come in as
FHIR too. Every step is a ``carecore`` command; the discharge is the hospital's
FHIR inpatient Encounter (an HL7 A03 through ``carecore hl7 import`` opens the
same episode). The physician who reconciles comes in as a FHIR Practitioner on
Renea's FHIR CareTeam: access control lets a care team's member change a
patient's records.
"""

from __future__ import annotations

import csv
import gzip
import json
from decimal import Decimal
from importlib import resources

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.gaps import closure_rate
from carecore.service import CareProgram

RENEA = "ab4e7a7d-8b0d-41e1-9ce9-3877d7615aed"  # 68, diabetes, hypertension
ADALBERTO = "ba18818d-faef-44cd-9744-b12d8973d402"  # 76, simvastatin
TOMMY = "6234b038-fa0d-476f-b373-6c22de018cf7"  # 78
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
DISCHARGE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
            "code": "discharge",
        }
    ]
}


def bundle(*resources_: dict) -> str:
    return json.dumps(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources_],
        }
    )


def discharge_orders() -> str:
    """Renea's discharge orders: hydrochlorothiazide stopped, insulin kept, lisinopril new."""

    def order(rid: str, status: str, code: str, text: str) -> dict:
        return {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": status,
            "intent": "order",
            "category": [DISCHARGE],
            "subject": {"reference": f"Patient/{RENEA}"},
            "authoredOn": "2026-03-02",
            "medicationCodeableConcept": {"coding": [{"system": RX, "code": code}], "text": text},
        }

    doctor = {
        "resourceType": "Practitioner",
        "id": "dr-ann",
        "name": [{"family": "Reyes", "given": ["Ann"], "prefix": ["Dr."]}],
    }
    team = {
        "resourceType": "CareTeam",
        "id": "team-renea",
        "status": "active",
        "subject": {"reference": f"Patient/{RENEA}"},
        "participant": [{"member": {"reference": "Practitioner/dr-ann"}}],
    }
    return bundle(
        doctor,
        team,
        order("dc-1", "stopped", "316049", "Hydrochlorothiazide 25 MG"),
        order(
            "dc-2",
            "active",
            "106892",
            "insulin human, isophane 70 UNT/ML / Regular Insulin, Human 30 UNT/ML "
            "Injectable Suspension [Humulin]",
        ),
        order("dc-3", "active", "314076", "Lisinopril 10 MG Oral Tablet"),
    )


def pharmacy_and_clinic() -> str:
    """Adalberto's two simvastatin dispenses and his flu shot of 2026-02-10."""
    dispenses = [
        {
            "resourceType": "MedicationDispense",
            "id": f"fill-{n}",
            "status": "completed",
            "subject": {"reference": f"Patient/{ADALBERTO}"},
            "medicationCodeableConcept": {
                "coding": [{"system": RX, "code": "312961"}],
                "text": "Simvastatin 20 MG Oral Tablet",
            },
            "whenHandedOver": day,
            "daysSupply": {"value": 30, "unit": "d"},
        }
        for n, day in enumerate(("2026-01-05", "2026-02-20"), start=1)
    ]
    flu = {
        "resourceType": "Immunization",
        "id": "flu-2026",
        "status": "completed",
        "patient": {"reference": f"Patient/{ADALBERTO}"},
        "occurrenceDateTime": "2026-02-10",
        "vaccineCode": {
            "coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}],
            "text": "Influenza, seasonal, injectable, preservative free",
        },
    }
    return bundle(*dispenses, flu)


@pytest.fixture(scope="module")
def walk(tmp_path_factory):
    """A store made as a new user would, and a runner for the next commands."""
    folder = tmp_path_factory.mktemp("acceptance")
    url = f"sqlite:///{folder / 'store.db'}"
    files = []
    shipped = resources.files("carecore") / "_demo_data" / "synthea"
    for item in sorted(shipped.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json.gz"):
            path = folder / item.name.removesuffix(".gz")
            path.write_bytes(gzip.decompress(item.read_bytes()))
            files.append(str(path))
    assert len(files) == 9  # the nine Synthea bundles carecore ships
    for name, text in (
        ("discharge.json", discharge_orders()),
        ("fills.json", pharmacy_and_clinic()),
    ):
        (folder / name).write_text(text, encoding="utf-8")
        files.append(str(folder / name))
    runner, app = CliRunner(), make_app()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output)
        return result.output

    run("db", "init", url)
    run("fhir", "import", "--db", url, "--no-progress", *files)
    return url, run, folder


def test_gaps_table_lists_each_patients_due_and_overdue_care_with_reasons(walk):
    url, run, _ = walk
    out = run("gaps", "--db", url, "--on", "2026-03-04", "--format", "table")
    for name in ("Quigley, Renea", "Hartmann, Adalberto", "Friesen, Tommy"):
        assert name in out
    # Renea has diabetes: her eye exam is overdue, with the reason and why she is in the rule.
    rows = json.loads(
        run("gaps", "--db", url, "--on", "2026-03-04", "--patient", RENEA, "--format", "json")
    )
    eye = next(r for r in rows if r["rule_id"] == "diabetes-eye-exam")
    assert eye["status"] == "overdue"
    assert "none within 1 year" in eye["explanation"]
    assert "diabetes" in eye["explanation"]
    assert "Diabetes: retinal eye exam every year" in out


def test_meds_list_without_a_patient_shows_each_patients_active_medications(walk):
    url, run, _ = walk
    out = run("meds", "list", "--db", url, "--on", "2026-03-01")
    for name in ("Quigley, Renea", "Hartmann, Adalberto", "Friesen, Tommy"):
        assert name in out
    assert "Simvastatin 20 MG Oral Tablet" in out
    rows = json.loads(run("meds", "list", "--db", url, "--on", "2026-03-01", "--format", "json"))
    others = {  # the three of the other six bundles' patients with an active medication
        "948e608d-e408-4788-8cf2-8157c49c2940",
        "3552e945-2598-4993-b617-4133ab2ed914",
        "bae2bf00-eca1-47fb-bb43-272f8de1449c",
    }
    assert {r["patient_id"] for r in rows} == {RENEA, ADALBERTO, TOMMY} | others
    one = json.loads(
        run("meds", "list", RENEA, "--db", url, "--on", "2026-03-01", "--format", "json")
    )
    assert [r for r in rows if r["patient_id"] == RENEA] == one


def test_a_discharge_then_meds_reconcile_meets_the_episodes_deadline(walk):
    url, run, folder = walk
    stay = {
        "resourceType": "Encounter",
        "id": "stay-1",
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "IMP",
        },
        "subject": {"reference": f"Patient/{RENEA}"},
        "period": {"start": "2026-02-27T08:00:00Z", "end": "2026-03-02T11:00:00Z"},
        "hospitalization": {
            "dischargeDisposition": {
                "coding": [{"system": "http://www.nubc.org/patient-discharge", "code": "01"}]
            }
        },
    }
    (folder / "stay.json").write_text(bundle(stay), encoding="utf-8")
    run("fhir", "import", "--db", url, "--no-progress", str(folder / "stay.json"))
    before = json.loads(
        run("tcm", "list", "--db", url, "--as-of", "2026-03-04", "--format", "json")
    )
    (episode,) = before
    assert episode["med_rec_on"] is None
    assert episode["med_rec_due"] is not None
    preview = json.loads(
        run("meds", "reconcile", RENEA, "--db", url, "--on", "2026-03-04", "--format", "json")
    )
    found = {r["key"]: r["discrepancies"] for r in preview}
    assert found["rxnorm:314076"] == ["commission"]  # new in hospital
    assert found["rxnorm:316049"] == ["stopped_still_taken"]  # stopped, still on the practice list
    decide = ["--by", "dr-ann", "--decide", "316049=stop", "--rest", "continue"]
    done = run("meds", "reconcile", RENEA, "--db", url, "--on", "2026-03-04", *decide)
    assert "met episode" in done
    after = json.loads(run("tcm", "list", "--db", url, "--as-of", "2026-03-04", "--format", "json"))
    assert after[0]["med_rec_on"] == "2026-03-04"
    table = run("tcm", "list", "--db", url, "--as-of", "2026-03-04")
    assert "met 2026-03-04" in table
    listed = run("meds", "list", RENEA, "--db", url, "--on", "2026-03-05")
    assert "Hydrochlorothiazide" not in listed
    assert "Lisinopril 10 MG Oral Tablet" in listed


def test_the_report_shows_gap_closure_and_adherence_from_the_store(walk):
    url, run, folder = walk
    out = folder / "report"
    period = ["--from", "2026-01", "--to", "2026-03", "--as-of", "2026-03-31"]
    printed = json.loads(run("report", "--db", url, "--out", str(out), *period, "--format", "json"))
    # Gap closure: what `carecore gaps` says on the period's first and last day.
    start = json.loads(run("gaps", "--db", url, "--on", "2026-01-01", "--all", "--format", "json"))
    end = json.loads(run("gaps", "--db", url, "--on", "2026-03-31", "--all", "--format", "json"))
    with (out / "gap_closure.csv").open(encoding="utf-8") as handle:
        table = {r["rule_id"]: r for r in csv.DictReader(handle)}
    flu = table["influenza-vaccine"]
    opened = {
        r["patient_id"]
        for r in start
        if r["rule_id"] == "influenza-vaccine" and r["status"] != "closed"
    }
    closed = {
        r["patient_id"]
        for r in end
        if r["rule_id"] == "influenza-vaccine" and r["status"] == "closed"
    }
    assert ADALBERTO in opened & closed  # the flu shot of 2026-02-10
    assert int(flu["open_at_start"]) == len(opened)
    assert int(flu["closed_by_end"]) == len(opened & closed)
    every_open = sum(r["status"] != "closed" for r in start)
    assert int(table["all"]["open_at_start"]) == every_open
    assert printed["gap_closure"]["open_at_start"] == every_open
    assert printed["gap_closure"]["closed_by_end"] == int(table["all"]["closed_by_end"])
    # Adherence: 60 of the 86 days from the index fill (2026-01-05) to 2026-03-31 covered.
    with (out / "adherence_by_class.csv").open(encoding="utf-8") as handle:
        (statins,) = list(csv.DictReader(handle))
    assert statins["drug_class"] == "statins"
    assert Decimal(statins["mean_pdc"]) == Decimal("0.6977")
    assert statins["under_80_percent"] == "1"
    assert printed["adherence"] == [
        {"drug_class": "statins", "patients": 1, "mean_pdc": "0.6977", "under_80_percent": 1}
    ]
    with CareProgram.open(url, actor="check", create=False) as program:
        (measured,) = program.medication_adherence(
            start=pendulum.Date(2026, 1, 1), end=pendulum.Date(2026, 3, 31)
        )
        gaps_start = program.care_gaps(on=pendulum.Date(2026, 1, 1))
        gaps_end = program.care_gaps(on=pendulum.Date(2026, 3, 31))
    assert measured.pdc == Decimal("0.6977")
    assert closure_rate(gaps_start, gaps_end) == (
        int(table["all"]["closed_by_end"]),
        int(table["all"]["open_at_start"]),
    )
    text = run("report", "--db", url, "--out", str(out), *period)
    assert "Gaps in care: 1 of the 74 open" in text
    assert "Adherence (PDC), Statins: mean 69.8% of 1 patient measured, 1 under 80%" in text


def test_gaps_lists_patients_by_name(walk):
    url, run, _ = walk
    rows = json.loads(run("gaps", "--db", url, "--on", "2026-03-04", "--format", "json"))
    names = list(dict.fromkeys(r["patient"] for r in rows))
    assert names == sorted(names)
    assert names == [  # the six of the nine bundles' patients a rule applies to on that day
        "Friesen, Tommy",
        "Gerhold, Maida",
        "Hartmann, Adalberto",
        "Kuhlman, Dirk",
        "Maggio, Louis",
        "Quigley, Renea",
    ]


def test_meds_adherence_gives_each_patients_pdc_as_the_report_counts_it(walk):
    url, run, _ = walk
    period = ["--from", "2026-01-01", "--to", "2026-03-31"]
    rows = json.loads(run("meds", "adherence", "--db", url, *period, "--format", "json"))
    assert rows == [
        {
            "patient_id": ADALBERTO,
            "patient": "Hartmann, Adalberto",
            "drug_class": "statins",
            "index_date": "2026-01-05",
            "days": 86,
            "covered": 60,
            "fills": 2,
            "pdc": "0.6977",
            "adherent": False,
            "reason": "",
        }
    ]
    text = run("meds", "adherence", ADALBERTO, "--db", url, *period)
    assert "69.8%" in text
    assert "under 80%" in text
