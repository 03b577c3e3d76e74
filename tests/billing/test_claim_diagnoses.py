"""A claim's diagnoses and pointers: one rule, read by the engine and by the claims.

:func:`carecore.billing.primitives.claim_diagnoses` and
:func:`~carecore.billing.primitives.diagnosis_pointers` decide a claim's
diagnosis list and each line's pointers into it;
:meth:`EvaluationResult.claim_diagnoses` and :func:`assemble_claims` both
read them, so the claim a payer gets lists what the engine's result says.
"""

from __future__ import annotations

import json
from decimal import Decimal

import attrs
import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.billing import cms_rule_set, evaluate, primitives
from carecore.billing._engine import EvaluationResult
from carecore.billing.claims import assemble_claims, claims_from_close
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    PatientFacts,
    Setting,
    TimeFact,
)
from carecore.convert import to_primitive
from carecore.model import (
    AdministrativeSex,
    BillingIdentity,
    ClaimLine,
    Credential,
    Patient,
    PostalAddress,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
)
from carecore.testing.strategies import billing_facts

from .test_claims import DIAGNOSES, claim_lines
from .test_close import write

F = ServiceFamily
D = pendulum.Date
MARCH = ServicePeriod.month(2026, 3)
HOME = PostalAddress(line1="1 Elm St", city="Evanston", state="IL", postal_code="60201")
MBI = "1EG4TE5MK73"


def _patient(pid: str) -> Patient:
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=D(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="UTC",
    )


def _doctor(pid: str) -> Practitioner:
    return Practitioner(id=pid, name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893")


def _claims_of(result: EvaluationResult, period: ServicePeriod):
    """*result*'s lines as claims, with every record a claim needs given (amounts too)."""
    lines = [
        line if line.amount is not None else attrs.evolve(line, amount=Decimal("1.00"))
        for line in result.claim_lines
    ]
    doctors = {line.billing_practitioner_id for line in lines}
    return assemble_claims(
        lines,
        period=period,
        identity=None,
        patients={result.patient_id: _patient(result.patient_id)},
        practitioners={pid: _doctor(pid) for pid in doctors},
        addresses={result.patient_id: HOME},
        mbis={result.patient_id: MBI},
    )


def _same_as_engine(result: EvaluationResult, period: ServicePeriod) -> int:
    batch = _claims_of(result, period)
    for claim in batch.claims:
        assert claim.diagnoses == result.claim_diagnoses(claim.rendering.id)
        for line in claim.lines:
            # The line as the engine gave it (the amount was filled in for the claim).
            mine = attrs.evolve(line, amount=None)
            engine_line = next(
                x for x in result.claim_lines if attrs.evolve(x, amount=None) == mine
            )
            assert claim.pointers(line) == result.diagnosis_pointers(engine_line)
    return len(batch.claims)


def test_a_claim_lists_the_engine_s_diagnoses_in_the_engine_s_order():
    """CCM (met on the 3rd) and BHI (met on the 4th): the claim's principal diagnosis is the engine's."""
    conditions = (
        ChronicCondition(icd10="E11.65", significant_risk=True, expected_duration_months=24),
        ChronicCondition(icd10="I10", significant_risk=True, expected_duration_months=24),
        ChronicCondition(icd10="F33.1", behavioral=True),
    )
    enrolled = D(2026, 1, 5)

    def minutes(day: int, family: ServiceFamily) -> TimeFact:
        return TimeFact(
            date=D(2026, 3, day),
            minutes=25,
            role=RoleClass.CLINICAL_STAFF,
            practitioner="dr1",
            family=family,
            credential=Credential.RN,
        )

    facts = BillingFacts(
        period=MARCH,
        setting=Setting.PHYSICIAN_OFFICE,
        practitioners=[BillingPractitioner(id="dr1", credential=Credential.MD)],
        patient=PatientFacts(
            id="p1",
            conditions=conditions,
            consent_on={F.CCM: enrolled, F.BHI: enrolled},
            care_plan_on={F.CCM: enrolled, F.BHI: enrolled},
            last_visit=enrolled,
        ),
        events=[minutes(3, F.CCM), minutes(4, F.BHI)],
    )
    result = evaluate(facts, cms_rule_set(2026))
    assert {line.family for line in result.claim_lines} == {F.CCM, F.BHI}
    [claim] = _claims_of(result, MARCH).claims
    assert claim.diagnoses == result.claim_diagnoses("dr1") == ("E11.65", "I10", "F33.1")
    assert [claim.pointers(line) for line in claim.lines] == [(1, 2), (3,)]
    assert _same_as_engine(result, MARCH) == 1


@settings(max_examples=300, deadline=None)
@given(facts=billing_facts(years=(2026,), max_events=12))
def test_claims_carry_the_engine_s_diagnoses_and_pointers(facts):
    _same_as_engine(evaluate(facts, cms_rule_set(2026)), facts.period)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(claim_lines(), max_size=20))
def test_claims_and_results_read_one_rule_on_any_lines(lines):
    """Any lines (in any order): claim, result and primitive give one list and one set of pointers."""
    batch = assemble_claims(
        [attrs.evolve(x, amount=Decimal("1.00")) for x in lines],
        period=MARCH,
        identity=None,
        patients={x.patient_id: _patient(x.patient_id) for x in lines},
        practitioners={
            x.billing_practitioner_id: _doctor(x.billing_practitioner_id) for x in lines
        },
        addresses={x.patient_id: HOME for x in lines},
        mbis={x.patient_id: MBI for x in lines},
    )
    for claim in batch.claims:
        mine = [
            x
            for x in lines
            if (x.patient_id, x.billing_practitioner_id) == (claim.patient.id, claim.rendering.id)
            and primitives.closed_with(x.period, MARCH)
        ]
        result = EvaluationResult(
            patient_id=claim.patient.id,
            period=MARCH,
            rule_set="cms-2026",
            rule_set_version="test",
            claim_lines=mine,
        )
        expected = primitives.claim_diagnoses(mine)
        assert claim.diagnoses == expected == result.claim_diagnoses(claim.rendering.id)
        assert len(expected) <= primitives.MAX_CLAIM_DIAGNOSES
        for line in mine:
            pointers = primitives.diagnosis_pointers(expected, line)
            assert pointers == result.diagnosis_pointers(line)
            assert pointers == claim.pointers(attrs.evolve(line, amount=Decimal("1.00")))
            assert [expected[p - 1] for p in pointers] == list(line.diagnoses)


def test_a_claim_with_more_than_twelve_diagnoses_is_refused_by_the_same_limit():
    codes = ("E11.9", "I10", "I50.22", "J44.1", "N18.4", "F33.1", "G30.9", "E78.5")
    more = ("E66.01", "M81.0", "K21.9", "G47.33", "F41.1")
    assert len(set(codes + more)) > primitives.MAX_CLAIM_DIAGNOSES
    lines = [
        ClaimLine(
            patient_id="p1",
            code="99490" if n == 0 else "99439",
            units=1,
            family=F.CCM,
            billing_practitioner_id="dr1",
            date_of_service=D(2026, 3, 3 + n),
            period=MARCH,
            amount=Decimal("60.49"),
            diagnoses=group,
        )
        for n, group in enumerate((codes[:4], codes[4:], more[:4], more[4:]))
    ]
    batch = assemble_claims(
        lines,
        period=MARCH,
        identity=None,
        patients={"p1": _patient("p1")},
        practitioners={"dr1": _doctor("dr1")},
        addresses={"p1": HOME},
        mbis={"p1": MBI},
    )
    [refusal] = batch.refusals
    assert refusal.field == "diagnoses"
    assert str(primitives.MAX_CLAIM_DIAGNOSES) in refusal.reason
    assert DIAGNOSES  # the shared pool of the generated lines


# -- a CSV close's claims keep each line's family -------------------------------------------

CLOSE_PATIENTS = """patient_id,practitioner,credential,conditions,consent,care_plan,established,last_visit
p1,dr1,MD,E11.65,PCM=2025-11-03,PCM=2025-11-03,true,2025-11-03
p2,dr1,MD,F33.1;I10,BHI=2025-11-03,BHI=2025-11-03,true,2025-11-03
p3,dr1,MD,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,true,2025-11-03
"""
CLOSE_EVENTS = """patient_id,date,type,minutes,role,family,credential
p1,2026-01-06,time_entry,35,clinical_staff,PCM,RN
p2,2026-01-07,time_entry,25,clinical_staff,BHI,RN
p3,2026-01-08,time_entry,25,clinical_staff,CCM,RN
"""
PATIENT_ROWS = (
    "patient_id,family_name,given_name,birth_date,sex,mbi,address_line1,address_line2,"
    "city,state,postal_code\n"
    + "".join(
        f"{pid},Okafor,Ada,1948-03-02,female,{MBI},1 Elm St,,Evanston,IL,60201\n"
        for pid in ("p1", "p2", "p3")
    )
)
IDENTITY = BillingIdentity(
    id="practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(line1="100 Main St", city="Chicago", state="IL", postal_code="606011234"),
    phone="3125550100",
    payer_id="06102",
    payer_name="MEDICARE PART B",
    contact_name="Billing Office",
)


def test_a_csv_close_s_claims_keep_each_line_s_family(tmp_path, close_engine):
    """A PCM and a BHI line are claimed as PCM and BHI, as the close decided them, not as CCM."""
    january = ServicePeriod.month(2026, 1)
    patients, events = write(tmp_path, CLOSE_PATIENTS, CLOSE_EVENTS)
    out = tmp_path / "out"
    close_engine.close(patients, events, january, cms_rule_set(2026), out)
    items = json.loads((out / "claims.json").read_text())
    assert {i["patient_id"]: i["family"] for i in items} == {"p1": "PCM", "p2": "BHI", "p3": "CCM"}
    practice = tmp_path / "practice.json"
    practice.write_text(
        json.dumps(
            {
                "billing_identity": to_primitive(IDENTITY),
                "practitioners": [to_primitive(_doctor("dr1"))],
            }
        )
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(PATIENT_ROWS)
    batch, problems = claims_from_close(out, january, practice=practice, patients=roster)
    assert problems == []
    assert batch.refusals == ()
    families = {line.patient_id: line.family for c in batch.claims for line in c.lines}
    assert families == {"p1": F.PCM, "p2": F.BHI, "p3": F.CCM}


def test_a_claims_json_without_families_is_refused_by_field(tmp_path):
    """A claims.json item with no family is bad input naming the item, not billed as CCM."""
    import pytest

    from carecore import errors

    item = {
        "patient_id": "p1",
        "practitioner": "dr1",
        "code": "99426",
        "units": 1,
        "date_of_service": "2026-01-06",
        "modifiers": [],
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "amount": "67.80",
        "diagnoses": ["E11.65"],
    }
    (tmp_path / "claims.json").write_text(json.dumps([item]))
    practice = tmp_path / "practice.json"
    practice.write_text(json.dumps({"billing_identity": to_primitive(IDENTITY)}))
    roster = tmp_path / "roster.csv"
    roster.write_text(PATIENT_ROWS)
    with pytest.raises(errors.InvalidInput) as raised:
        claims_from_close(
            tmp_path, ServicePeriod.month(2026, 1), practice=practice, patients=roster
        )
    assert [p.path for p in raised.value.problems] == ["$[0].family"]
