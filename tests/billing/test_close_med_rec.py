"""TCM's medication-reconciliation check reaches the same decision on every close path.

A TCM month is written three ways: as the CSV pair (closed by the reference
close and by the columnar close), and as a scenario loaded into a store
(closed by ``CareProgram.close_month``). An events.csv with a ``med_rec_on``
column records reconciliation, as a scenario's discharge that gives
``med_rec_on`` does and as a stored episode with a reconciliation deadline
does: a discharge row's date is the day it was done, a blank cell none done.
Every path hands the discharge to the engine's TCM rule, so they bill and
deny alike; before, the CSV pair could not say it and TCM billed unchecked.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from carecore.billing import _columnar as columnar
from carecore.billing import cms_rule_set
from carecore.billing._close import iter_patient_months, read_patients, run_close
from carecore.billing._via_store import evaluate_via_store
from carecore.billing.scenarios import read_scenarios
from carecore.model import DenialReason, ServicePeriod

MONTH = ServicePeriod.month(2026, 3)
RULES = cms_rule_set(2026)
HEADER = "patient_id,date,type,mode,successful,role,family,kind,mdm,from_setting,to_setting"
NO_COLUMN = "no column"
BLANK = "blank"


def _day(n: int) -> pendulum.Date:
    return MONTH.start.add(days=n - 1)


@st.composite
def tcm_months(draw: st.DrawFn) -> dict[str, object]:
    discharge = draw(st.integers(2, 14))
    visit = discharge + draw(st.integers(1, 15))
    return {
        "discharge": discharge,
        "to_setting": draw(st.sampled_from(["home"] * 5 + ["snf"])),
        "contact": discharge + draw(st.integers(0, 3)),
        "successful": draw(st.booleans() | st.just(True)),
        "visit": visit,
        "mdm": draw(st.sampled_from(["high", "moderate", "low"])),
        # Not recorded at all, recorded as none done, or done on a day around the visit.
        "med_rec": draw(
            st.sampled_from([NO_COLUMN, BLANK])
            | st.integers(discharge, min(visit + 3, 31)).map(lambda n: _day(n).isoformat())
        ),
    }


def _csv(folder: Path, case: dict[str, object]) -> None:
    (folder / "patients.csv").write_text("patient_id,practitioner,conditions\np1,dr1,I50.22\n")
    tracked = case["med_rec"] != NO_COLUMN
    columns = HEADER.split(",") + (["med_rec_on"] if tracked else [])
    discharge = {
        "date": _day(case["discharge"]),
        "type": "discharge",
        "from_setting": "inpatient_acute",
        "to_setting": case["to_setting"],
    }
    if tracked:
        discharge["med_rec_on"] = "" if case["med_rec"] == BLANK else case["med_rec"]
    rows = [
        discharge,
        {
            "date": _day(case["contact"]),
            "type": "interactive_contact",
            "mode": "phone",
            "successful": str(case["successful"]).lower(),
            "role": "clinical_staff",
            "family": "TCM",
        },
        {
            "date": _day(case["visit"]),
            "type": "face_to_face_visit",
            "kind": "tcm_f2f",
            "mdm": case["mdm"],
        },
    ]
    lines = [",".join(columns)]
    lines += [
        ",".join(str((row | {"patient_id": "p1"}).get(c, "")) for c in columns) for row in rows
    ]
    (folder / "events.csv").write_text("\n".join(lines) + "\n")


def _scenario(case: dict[str, object]):
    discharge: dict[str, object] = {
        "type": "discharge",
        "date": _day(case["discharge"]).isoformat(),
        "from_setting": "inpatient_acute",
        "to_setting": case["to_setting"],
    }
    if case["med_rec"] != NO_COLUMN:
        discharge["med_rec_on"] = None if case["med_rec"] == BLANK else case["med_rec"]
    (scenario,) = read_scenarios(
        {
            "id": "TCM-MEDREC-PATHS",
            "year": 2026,
            "evaluation_period": {
                "start": MONTH.start.isoformat(),
                "end": MONTH.end.isoformat(),
            },
            "practitioners": [{"id": "dr1", "credential": "MD"}],
            "patient": {"id": "p1", "chronic_conditions": [{"icd10": "I50.22"}]},
            "events": [
                discharge,
                {
                    "type": "interactive_contact",
                    "date": _day(case["contact"]).isoformat(),
                    "mode": "phone",
                    "successful": case["successful"],
                    "role": "clinical_staff",
                    "family": "TCM",
                },
                {
                    "type": "face_to_face_visit",
                    "date": _day(case["visit"]).isoformat(),
                    "kind": "tcm_f2f",
                    "mdm": case["mdm"],
                },
            ],
        }
    )
    return scenario


def _decision(result) -> tuple[list[str], set[tuple[str, DenialReason]]]:
    return (
        sorted(line.code for line in result.claim_lines),
        {(d.code, d.reason) for d in result.denials},
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@example(
    case={
        "discharge": 2,
        "to_setting": "home",
        "contact": 3,
        "successful": True,
        "visit": 6,
        "mdm": "high",
        "med_rec": BLANK,
    }
)
@given(case=tcm_months())
def test_the_csv_columnar_and_store_closes_decide_med_rec_alike(tmp_path_factory, case):
    folder = tmp_path_factory.mktemp("tcm")
    _csv(folder, case)
    patients, problems = read_patients(folder / "patients.csv")
    assert problems == []
    (month,) = iter_patient_months(patients, folder / "events.csv", MONTH, RULES)
    assert not month.problems
    csv_decision = _decision(month.result)
    event(f"codes: {csv_decision[0]}")
    event(f"denials: {sorted(r.value for _c, r in csv_decision[1])}")
    assert _decision(evaluate_via_store(_scenario(case), RULES)) == csv_decision
    tracked = case["med_rec"] != NO_COLUMN
    reconciled = case["med_rec"] not in {NO_COLUMN, BLANK} and pendulum.parse(
        str(case["med_rec"])
    ).date() <= _day(case["visit"])
    if any(code in {"99495", "99496"} for code in csv_decision[0]):
        assert not tracked or reconciled
    if tracked and not reconciled:
        assert not {"99495", "99496"} & set(csv_decision[0])
    # The columnar close writes the reference close's files (it hands TCM months to that code).
    if columnar.polars_available():
        closed = columnar.close_columnar(
            folder / "patients.csv", folder / "events.csv", MONTH, RULES, folder / "columnar"
        )
        assert closed is not None
        run_close(patients, folder / "events.csv", MONTH, RULES, folder / "reference")
        for name in ("claims.csv", "denials.csv", "summary.json", "audit/packets.jsonl"):
            assert (folder / "columnar" / name).read_bytes() == (
                folder / "reference" / name
            ).read_bytes(), name


def test_a_blank_med_rec_cell_denies_tcm_and_no_column_does_not_check(tmp_path):
    case = {
        "discharge": 2,
        "to_setting": "home",
        "contact": 3,
        "successful": True,
        "visit": 6,
        "mdm": "high",
    }
    decisions = {}
    for med_rec in (NO_COLUMN, BLANK, "2026-03-06", "2026-03-07"):
        folder = tmp_path / med_rec
        folder.mkdir()
        _csv(folder, case | {"med_rec": med_rec})
        patients, _ = read_patients(folder / "patients.csv")
        (month,) = iter_patient_months(patients, folder / "events.csv", MONTH, RULES)
        decisions[med_rec] = _decision(month.result)
    assert "99496" in decisions[NO_COLUMN][0]
    assert "99496" in decisions["2026-03-06"][0]  # done on the visit's day
    for late in (BLANK, "2026-03-07"):
        assert "99496" not in decisions[late][0]
        assert ("99496", DenialReason.MED_REC_NOT_TIMELY) in decisions[late][1]


def test_a_med_rec_cell_that_is_not_a_date_is_refused_by_name(tmp_path):
    case = {
        "discharge": 2,
        "to_setting": "home",
        "contact": 3,
        "successful": True,
        "visit": 6,
        "mdm": "high",
        "med_rec": "2026-13-01",
    }
    _csv(tmp_path, case)
    patients, _ = read_patients(tmp_path / "patients.csv")
    (month,) = iter_patient_months(patients, tmp_path / "events.csv", MONTH, RULES)
    (problem,) = month.problems
    assert problem.column == "med_rec_on"
    assert problem.line == 2
