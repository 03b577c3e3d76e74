"""The nine Synthea bundles, imported as a new user would, answer the registry as worked out by hand.

``carecore db init``, ``carecore fhir import`` of the bundles, then
``carecore registry``. The bundles carry SNOMED CT problem lists and no
attestation. By default (the switch ``significant_risk_from`` is ``TABLE``)
the living ones whose conditions fall in two or more significant-risk groups
are *eligible*; with ``ATTESTED`` they *need attestation*.
"""

from __future__ import annotations

import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.metrics import program_report
from carecore.model import ServiceFamily, ServicePeriod
from carecore.service import CareProgram

DAY = "2026-12-01"

#: Worked out by hand from each bundle's Condition resources (active on the day, i.e. not
#: abated) and its Patient.deceasedDateTime, against the shipped condition-group table.
#: A disease counts once per ICD-10-CM category, as the billing engine counts.
#: (CCM answer, PCM answer, the SNOMED CT concepts the answer names)
HAND = {
    # Epilepsy (84757009, 128613002 seizure disorder: one disease, G40), hypertension
    # (38341003), coronary heart disease (53741008) and Alzheimer's (26929004): four
    # significant-risk groups. Obesity and anemia are chronic but not at significant risk;
    # appendicitis, history of appendectomy, prediabetes and sinusitis are in no group.
    "Adalberto": ("eligible", "eligible", 5),
    # Died 1983-01-10: not eligible, although COPD, heart failure and osteoarthritis qualify.
    "Buddy": ("not eligible", "not eligible", 3),
    # Died 2021-03-01: not eligible (Alzheimer's, COPD, heart failure).
    "Dino": ("not eligible", "not eligible", 3),
    # Epilepsy, hypertension, type 2 diabetes (44054006 with its kidney disease 127013003 and
    # neuropathy 368581000119106: one disease, E11) and chronic kidney disease stage 1
    # (431855005): four groups. Hypertriglyceridemia, obesity, anemia: not at risk.
    "Dirk": ("eligible", "eligible", 7),
    # Epilepsy (two concepts), diabetes, osteoarthritis of the hand: three groups.
    "Louis": ("eligible", "eligible", 4),
    # Hypertension only at risk (obesity, anemia chronic but not at risk; chronic sinusitis,
    # prediabetes and the concussion in no group): CCM needs two, so attesting the obesity or
    # the anemia would make her eligible (named: all three); PCM needs one.
    "Maida": ("needs attestation", "eligible", 3),
    # Died 2021-02-21: not eligible (diabetes, hypertension, heart disease, AF, heart failure).
    "Parker": ("not eligible", "not eligible", 7),
    # Hypertension, diabetes (with diabetic renal disease), osteoarthritis of the hip, chronic
    # kidney disease: four groups.
    "Renea": ("eligible", "eligible", 5),
    # Alzheimer's and heart failure: two groups; anemia is not at risk.
    "Tommy": ("eligible", "eligible", 2),
}


@pytest.fixture(scope="module")
def store(tmp_path_factory, synthea_paths):
    url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'synthea.db'}"
    runner = CliRunner()
    app = make_app()
    assert runner.invoke(app, ["db", "init", url]).exit_code == 0
    bundles = [str(p) for p in synthea_paths]
    assert len(bundles) == len(HAND)
    done = runner.invoke(app, ["fhir", "import", "--db", url, "--no-progress", *bundles])
    assert done.exit_code == 0, done.output
    return url


def answers(url, program):
    result = CliRunner().invoke(
        make_app(),
        ["registry", "--program", program, "--db", url, "--as-of", DAY, "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    # Names are shown family name first ("Family, Given"): keyed by the given name.
    return {r["name"].split(", ", 1)[1].split()[0]: r for r in json.loads(result.output)}


def test_the_registry_answers_as_worked_out_by_hand(store):
    ccm, pcm = answers(store, "ccm"), answers(store, "pcm")
    assert set(ccm) == set(HAND)
    for name, (ccm_status, pcm_status, named) in HAND.items():
        assert ccm[name]["status"] == ccm_status, name
        assert pcm[name]["status"] == pcm_status, name
        assert len(ccm[name]["conditions"] or pcm[name]["conditions"]) == named, name


def test_two_significant_chronic_conditions_are_eligible_or_need_attestation(store):
    for row in answers(store, "ccm").values():
        clinical = next(c for c in row["criteria"] if c["rule"] == "ccm.two_chronic_conditions")
        alive = next(c for c in row["criteria"] if c["rule"] == "alive")["met"]
        if clinical["met"] or clinical["needs"] == "attestation":
            able = "eligible" if clinical["met"] else "needs attestation"
            assert row["status"] == (able if alive else "not eligible")
            assert "by the condition-group table or attestation" in clinical["detail"]


def test_the_report_and_the_worklists_make_the_same_decision(store):
    with CareProgram.open(store, actor="test") as program:
        data = program.program_data()
    day = pendulum.Date.fromisoformat(DAY)
    report = program_report(
        data, period=ServicePeriod.month(day.year, day.month), as_of=day, family=ServiceFamily.CCM
    )
    by_id = {(e.patient_id, e.family.value): e.status for e in report.eligibility}
    for row in answers(store, "ccm").values():
        assert by_id[row["patient_id"], "CCM"] == row["status"]
    asked = {
        i.patient_id
        for w in report.worklists
        for i in w.items
        if i.kind == "needs-attestation" and i.detail.startswith("CCM")
    }
    assert asked == {
        r["patient_id"]
        for r in answers(store, "ccm").values()
        if r["status"] == "needs attestation"
    }


def attested_only(url):
    """Each patient's CCM status with the switch ``significant_risk_from`` set to ``ATTESTED``."""
    from carecore.billing import Switches
    from carecore.conditions import SignificantRisk
    from carecore.registry import registry

    with CareProgram.open(url, actor="test") as program:
        data = program.program_data()
    verdicts = registry(
        data.patients,
        as_of=pendulum.Date.fromisoformat(DAY),
        conditions=data.conditions,
        families=[ServiceFamily.CCM],
        switches=Switches(significant_risk_from=SignificantRisk.ATTESTED),
    )
    names = {p.id: p.given_name.split()[0] for p in data.patients}
    return {names[v.patient_id]: v for v in verdicts}


def test_attested_only_the_same_patients_need_attestation(store):
    by_default = answers(store, "ccm")
    for name, verdict in attested_only(store).items():
        expected = by_default[name]["status"]
        assert verdict.status == ("needs attestation" if expected == "eligible" else expected)


def test_a_clinicians_attestation_makes_the_patient_eligible(tmp_path, store):
    import shutil

    from carecore.conditions import at_significant_risk
    from carecore.model import Condition, Practitioner

    url = f"sqlite:///{tmp_path / 'copy.db'}"
    shutil.copy(store.removeprefix("sqlite:///"), tmp_path / "copy.db")
    tommy = attested_only(url)["Tommy"]
    clinical = next(c for c in tommy.criteria if c.rule == "ccm.two_chronic_conditions")
    with CareProgram.open(url, actor="test") as program, program.transaction("read") as tx:
        doctor = tx.all(Practitioner)[0].id
        proposed = [
            c.id
            for c in tx.find(Condition, patient_id=tommy.patient_id)
            if c.id in clinical.records and at_significant_risk(c)
        ]
    assert len(proposed) == 2  # Alzheimer's disease and heart failure (the anemia is not at risk)
    app = make_app()
    done = CliRunner().invoke(app, ["attest", "--db", url, "--by", doctor, *proposed])
    assert done.exit_code == 0, done.output
    assert done.output.count(": attested") == 2
    after = attested_only(url)
    assert after["Tommy"].status == "eligible"
    assert (
        "attested (Alzheimer's disease (26929004), Chronic congestive heart failure (88805009))"
        in next(c.detail for c in after["Tommy"].criteria if c.rule == "ccm.two_chronic_conditions")
    )
    assert after["Dirk"].status == "needs attestation"  # nobody else changed
    assert answers(url, "ccm")["Tommy"]["status"] == "eligible"  # by default, before and after
    unknown = CliRunner().invoke(app, ["attest", "--db", url, "--by", "nobody", *proposed])
    assert unknown.exit_code == 2
    assert "nobody" in unknown.output
    withdrawn = CliRunner().invoke(
        app, ["attest", "--db", url, "--by", doctor, "--withdraw", proposed[0]]
    )
    assert withdrawn.exit_code == 0
    assert attested_only(url)["Tommy"].status == "needs attestation"
