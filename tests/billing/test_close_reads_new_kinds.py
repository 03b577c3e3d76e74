"""A month close reads the records schema 8 added, and each one changes the answer it should.

Each test loads a public case into a store through the scenario loader,
closes the month with ``CareProgram.close_month`` (or evaluates the case's
own period), then removes the one record that carries the feature and
closes again: the answer must change the way the rule says.
"""

from __future__ import annotations

import pendulum
import pytest

from carecore.billing import cms_rule_set
from carecore.billing._via_store import load_case
from carecore.billing.scenarios import load_scenarios
from carecore.clock import FixedClock
from carecore.model import (
    ApcmAddon,
    Credential,
    DeviceSetup,
    ExternalClaim,
    FaceToFaceVisit,
    MdmAssessment,
    MdmLevel,
    Practitioner,
    ProgramElection,
    ServicePeriod,
    VisitKind,
)
from carecore.service import CareProgram
from carecore.storage import kind_for
from tests.inputs import SCENARIOS

CASES = {s.id: s for s in load_scenarios(SCENARIOS)}


@pytest.fixture
def program():
    with CareProgram.open(
        "memory://", actor="test", clock=FixedClock(pendulum.datetime(2027, 1, 1, tz="UTC"))
    ) as program:
        yield program


def _loaded(program, case_id):
    scenario = CASES[case_id]
    load_case(program, scenario)
    return scenario


def _close(program, period, year):
    (result,) = program.close_month(period, rules=cms_rule_set(year))
    return result


def _remove(program, cls):
    with program.transaction("remove") as tx:
        found = tx.all(cls)
        assert found, f"the case stored no {cls.__name__}"
        for record in found:
            tx.delete(cls, kind_for(cls).key_of(record))


def _month(day):
    return ServicePeriod.month(day.year, day.month)


def test_an_outside_tcm_claim_refuses_a_second_tcm_in_the_month_close(program):
    scenario = _loaded(program, "TCM-19")
    april = _month(scenario.facts.period.start)
    refused = _close(program, april, scenario.year)
    assert refused.billable == []
    assert any(
        d.code == "99495"
        and d.reason.value == "other_practitioner_billed"
        and "dr_cardio" in d.message
        for d in refused.denials
    )
    _remove(program, ExternalClaim)
    assert ("99495", 1) in _close(program, april, scenario.year).billable


def test_an_outside_claim_names_no_practitioner_to_evaluate(program):
    # A code billed elsewhere is that practitioner's business: the close evaluates
    # only practitioners the practice's own records name.
    scenario = _loaded(program, "TCM-19")
    with program.transaction("another") as tx:
        tx.add(Practitioner(id="dr_elsewhere", name="Elsewhere", credential=Credential.MD))
        tx.add(
            ExternalClaim(
                id="x-elsewhere",
                patient_id=scenario.facts.patient.id,
                code="99214",
                on=scenario.facts.period.start,
                billing_practitioner_id="dr_elsewhere",
            )
        )
    result = _close(program, _month(scenario.facts.period.start), scenario.year)
    named = {d.practitioner_id for d in result.denials} | {
        line.billing_practitioner_id for line in result.claim_lines
    }
    assert "dr_elsewhere" not in named


def test_mdm_recorded_outside_a_visit_makes_complex_ccm(program):
    scenario = _loaded(program, "CCM-11")
    march = scenario.facts.period
    assert _close(program, march, scenario.year).billable == [("99487", 1), ("99489", 1)]
    _remove(program, MdmAssessment)
    assert {code for code, _ in _close(program, march, scenario.year).billable} == {
        "99490",
        "99439",
    }


def test_mdm_recorded_after_the_month_does_not_count_for_it(program):
    scenario = _loaded(program, "CCM-11")
    march = scenario.facts.period
    with program.transaction("move") as tx:
        (mdm,) = tx.all(MdmAssessment)
        tx.delete(MdmAssessment, mdm.id)
        tx.add(type(mdm)(**{**_fields(mdm), "id": "m-late", "on": pendulum.Date(2026, 4, 2)}))
    assert "99487" not in [code for code, _ in _close(program, march, scenario.year).billable]


def test_a_device_setup_bills_99453(program):
    scenario = _loaded(program, "RPM-17")
    period = scenario.facts.period
    assert ("99453", 1) in _close(program, period, scenario.year).billable
    _remove(program, DeviceSetup)
    assert "99453" not in [code for code, _ in _close(program, period, scenario.year).billable]


def test_a_device_setup_for_a_new_patient_is_refused_by_name(program):
    scenario = _loaded(program, "RPM-14")
    result = _close(program, scenario.facts.period, scenario.year)
    assert result.billable == []
    assert "99453" in {d.code for d in result.denials}


def test_an_apcm_addon_is_billed_with_its_month(program):
    scenario = _loaded(program, "BHI-07")  # 2024: neither APCM nor the add-on is payable
    result = _close(program, scenario.facts.period, scenario.year)
    assert {d.code for d in result.denials} >= {"G0557", "G0570"}
    _remove(program, ApcmAddon)
    result = _close(program, scenario.facts.period, scenario.year)
    assert "G0570" not in {d.code for d in result.denials}


def test_an_apcm_addon_of_another_practitioner_is_not_attached(program):
    scenario = _loaded(program, "BHI-07")
    with program.transaction("move") as tx:
        (addon,) = tx.all(ApcmAddon)
        tx.delete(ApcmAddon, addon.id)
        tx.add(ApcmAddon(**{**_fields(addon), "billing_practitioner_id": "dr_other"}))
    result = _close(program, scenario.facts.period, scenario.year)
    assert "G0570" not in {d.code for d in result.denials}


def test_an_election_chooses_cocm_over_bhi(program):
    scenario = _loaded(program, "BHI-03")
    period = scenario.facts.period
    elected = _close(program, period, scenario.year)
    assert elected.billable == [("99493", 1)]
    assert "99484" in {d.code for d in elected.denials}
    with program.transaction("change") as tx:
        (election,) = tx.all(ProgramElection)
        tx.delete(ProgramElection, election.id)
        tx.add(ProgramElection(**{**_fields(election), "prefer_family": _family("BHI")}))
    assert _close(program, period, scenario.year).billable == [("99484", 1)]


def test_an_election_made_after_the_month_does_not_apply_to_it(program):
    scenario = _loaded(program, "BHI-03")
    period = scenario.facts.period
    with program.transaction("later") as tx:
        tx.add(
            ProgramElection(
                id="e-later",
                patient_id=scenario.facts.patient.id,
                prefer_family=_family("BHI"),
                on=period.end.add(days=1),
                billing_practitioner_id="dr_pcp",
            )
        )
    assert _close(program, period, scenario.year).billable == [("99493", 1)]


def test_a_stored_visit_after_the_month_is_not_its_initiating_visit(program):
    # A patient whose only visits fall after the month: the month's close must not
    # take one of them as the visit that initiated care management.
    scenario = _loaded(program, "CCM-01")
    period = scenario.facts.period
    assert _close(program, period, scenario.year).billable
    with program.transaction("move visits") as tx:
        for visit in tx.all(FaceToFaceVisit):
            tx.delete(FaceToFaceVisit, visit.id)
            tx.add(
                FaceToFaceVisit(
                    id=visit.id,
                    patient_id=visit.patient_id,
                    on=period.end.add(days=10),
                    kind=VisitKind.OFFICE_EM,
                    mdm=MdmLevel.LOW,
                    billing_practitioner_id=visit.billing_practitioner_id,
                )
            )
    result = _close(program, period, scenario.year)
    assert result.billable == []
    assert any(d.reason.value == "no_initiating_visit" for d in result.denials)


def _fields(value):
    import attrs

    return attrs.asdict(value, recurse=False)


def _family(name):
    from carecore.model import ServiceFamily

    return ServiceFamily(name)
