"""TCM billing with and without a medication reconciliation by the face-to-face visit."""

from __future__ import annotations

import copy
import datetime as dt

import pendulum
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import Switches, evaluate
from carecore.billing._via_store import load_case
from carecore.billing.cms import cms_rule_set
from carecore.billing.rules import TcmDayCounting
from carecore.billing.scenarios import read_scenarios
from carecore.clock import FixedClock
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CareSetting,
    DenialReason,
    PatientClass,
    TransitionEpisode,
)
from carecore.service import CareProgram
from carecore.transitions import TransitionRules, open_episode

# TCM-01 of the public scenarios (contact the next business day, high MDM, visit on day 4),
# with the reconciliation fact this issue adds to the discharge event.
CASE = {
    "id": "TCM-MEDREC",
    "year": 2024,
    "description": "TCM with the medication reconciliation fact",
    "setting": "physician_office",
    "evaluation_period": {"start": "2024-04-08", "end": "2024-05-07"},
    "practitioners": [{"id": "dr_pcp", "credential": "MD"}],
    "patient": {
        "id": "p-tcm",
        "chronic_conditions": [
            {"icd10": "I50.22", "label": "Chronic systolic heart failure"},
        ],
    },
    "events": [
        {
            "type": "discharge",
            "date": "2024-04-08",
            "from_setting": "inpatient_acute",
            "to_setting": "home",
        },
        {
            "type": "interactive_contact",
            "date": "2024-04-09",
            "mode": "phone",
            "successful": True,
            "role": "clinical_staff",
            "practitioner": "dr_pcp",
            "family": "TCM",
        },
        {
            "type": "face_to_face_visit",
            "date": "2024-04-12",
            "kind": "tcm_f2f",
            "mdm": "high",
            "practitioner": "dr_pcp",
            "em_code": "99215",
        },
    ],
}


def _run(med_rec_on=...):
    case = copy.deepcopy(CASE)
    if med_rec_on is not ...:
        case["events"][0]["med_rec_on"] = med_rec_on
    (scenario,) = read_scenarios({"cases": [case]})
    result = evaluate(scenario.facts, cms_rule_set(2024))
    return (
        sorted(line.code for line in result.claim_lines),
        {(d.code, d.reason) for d in result.denials},
        scenario,
    )


@pytest.mark.parametrize("day", ["2024-04-10", "2024-04-12"])
def test_reconciled_by_the_visit_bills_tcm(day):
    codes, denials, scenario = _run(day)
    assert codes == ["99496"]
    assert not any(r is DenialReason.MED_REC_NOT_TIMELY for _, r in denials)
    assert scenario.facts.events[0].med_rec_tracked


@pytest.mark.parametrize("day", [None, "2024-04-13"])
def test_no_reconciliation_by_the_visit_is_a_denial_with_that_reason(day):
    codes, denials, _ = _run(day)
    assert codes == ["99215"]  # the visit is reported as its own E/M
    assert ("99496", DenialReason.MED_REC_NOT_TIMELY) in denials


def test_a_scenario_that_does_not_give_the_fact_is_not_checked():
    codes, _denials, scenario = _run()
    assert codes == ["99496"]
    assert not scenario.facts.events[0].med_rec_tracked


def test_the_denial_explains_itself():
    (scenario,) = read_scenarios(
        {
            "cases": [
                dict(CASE, events=[dict(CASE["events"][0], med_rec_on=None), *CASE["events"][1:]])
            ]
        }
    )
    result = evaluate(scenario.facts, cms_rule_set(2024))
    (denial,) = [d for d in result.denials if d.reason is DenialReason.MED_REC_NOT_TIMELY]
    assert denial.rule == "tcm.med_rec"
    assert "no later than the face-to-face visit (2024-04-12)" in denial.message
    assert "none was recorded" in denial.message


@settings(max_examples=40, deadline=None)
@example(day=dt.date(2024, 4, 8), counting=TcmDayCounting.DISCHARGE_DAY_ONE)
@given(
    day=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 12, 31)),
    counting=st.sampled_from(TcmDayCounting),
)
def test_a_loaded_episodes_med_rec_deadline_is_the_clocks_14_day_visit(day, counting):
    """The store loader's reconciliation deadline is the TCM clock's, not a day count of its own."""
    day = pendulum.Date(day.year, day.month, day.day)
    discharge = dict(CASE["events"][0], date=day.isoformat(), med_rec_on=None)
    period = {"start": day.isoformat(), "end": day.add(days=29).isoformat()}
    (scenario,) = read_scenarios(
        {"cases": [dict(CASE, events=[discharge], evaluation_period=period)]}
    )
    rules = cms_rule_set(2024, switches=Switches(tcm_day_counting=counting))
    clock = FixedClock(pendulum.datetime(2027, 1, 1, tz="UTC"))
    with CareProgram.open("memory://", actor="test", clock=clock) as program:
        load_case(program, scenario, switches=rules.switches)
        with program.transaction("read") as tx:
            (episode,) = tx.all(TransitionEpisode)
    deadline = TransitionRules.from_rule_set(rules).clock(day).visit_due_14
    assert episode.med_rec_due == deadline
    at = pendulum.datetime(day.year, day.month, day.day, 12, tz="UTC")
    opened = open_episode(
        AdtEvent(
            id="a1",
            source_key="M1",
            patient_id="p-tcm",
            kind=AdtEventKind.DISCHARGE,
            occurred_at=at,
            discharged_at=at,
            patient_class=PatientClass.INPATIENT,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
        ),
        time_zone="UTC",
        rules=TransitionRules.from_rule_set(rules),
    )
    assert opened.med_rec_due == deadline


def test_the_loader_refuses_switches_that_are_not_switches():
    (scenario,) = read_scenarios({"cases": [CASE]})
    clock = FixedClock(pendulum.datetime(2027, 1, 1, tz="UTC"))
    with (
        CareProgram.open("memory://", actor="test", clock=clock) as program,
        pytest.raises(errors.InvalidValue) as info,
    ):
        load_case(program, scenario, switches="day one")
    assert info.value.field == "switches"
