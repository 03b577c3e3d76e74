"""One truth: the registry's CCM/PCM condition decision is the month close's.

Both read a condition through :mod:`carecore.conditions`: the ICD-10-CM code
it is counted and billed by (a SNOMED CT concept by its table row), whether it
is chronic, and whether it places the patient at significant risk (the table,
or an attestation, as the ``significant_risk_from`` switch says).
"""

from __future__ import annotations

import attrs
import pendulum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore.billing import Switches, cms_rule_set, evaluate, facts_from_model
from carecore.conditions import SignificantRisk
from carecore.model import (
    AdministrativeSex,
    CodeSystem,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    DenialReason,
    Patient,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)
from carecore.registry import eligibility

PERIOD = ServicePeriod.month(2026, 3)
STARTED = pendulum.Date(2026, 1, 5)
PATIENT = Patient(
    id="p1",
    given_name="Ada",
    family_name="Okafor",
    birth_date=pendulum.Date(1948, 3, 2),
    sex=AdministrativeSex.FEMALE,
    time_zone="America/Chicago",
)
DOCTOR = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
RULE = {
    ServiceFamily.CCM: "ccm.two_chronic_conditions",
    ServiceFamily.PCM: "pcm.one_high_risk_condition",
}


def _snomed(code: str) -> Coding:
    return Coding(system=CodeSystem.SNOMEDCT, code=code)


def close(conditions: list[Condition], family: ServiceFamily, switches: Switches | None = None):
    """The month close of one patient with everything but the conditions in order."""
    consent = Consent(
        id="k1",
        patient_id="p1",
        family=family,
        method=ConsentMethod.VERBAL,
        obtained_on=STARTED,
        obtained_by="rn1",
        billing_practitioner_id="dr1",
        cost_sharing_explained=True,
    )
    entry = TimeEntry(
        id="t1",
        patient_id="p1",
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=35,
        family=family,
        activity="call",
        service_date=pendulum.Date(2026, 3, 9),
        billing_practitioner_id="dr1",
    )
    rules = cms_rule_set(2026)
    if switches is not None:
        rules = attrs.evolve(rules, switches=switches)
    facts = facts_from_model(
        patient=PATIENT,
        practitioners=[DOCTOR],
        period=PERIOD,
        conditions=conditions,
        consents=[consent],
        care_plans={family: STARTED},
        time_entries=[entry],
        last_visit=STARTED,
        significant_risk_from=rules.switches.significant_risk_from,
    )
    return evaluate(facts, rules)


def close_meets_conditions(result, family: ServiceFamily) -> bool:
    return not any(
        d.reason is DenialReason.TOO_FEW_CONDITIONS and d.family is family for d in result.denials
    )


def test_snomed_coded_attested_conditions_bill_by_their_icd10cm_codes():
    # Synthea's diabetes (44054006) and hypertension (38341003), attested.
    conditions = [
        Condition(
            id=f"c{i}", patient_id="p1", coding=_snomed(code), chronic=True, significant_risk=True
        )
        for i, code in enumerate(["44054006", "38341003"])
    ]
    verdict = eligibility(PATIENT, ServiceFamily.CCM, as_of=PERIOD.end, conditions=conditions)
    assert verdict.eligible
    result = close(conditions, ServiceFamily.CCM)
    assert result.billable == [("99490", 1)]
    (line,) = [line for line in result.claim_lines if line.code == "99490"]
    assert set(line.diagnoses) == {"E11.9", "I10"}


def test_a_snomed_concept_the_table_does_not_know_is_named_by_the_close():
    crohns = "34000006"
    conditions = [
        Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9"), significant_risk=True),
        Condition(
            id="c2", patient_id="p1", coding=_snomed(crohns), chronic=True, significant_risk=True
        ),
    ]
    result = close(conditions, ServiceFamily.CCM)
    (denial,) = [d for d in result.denials if d.reason is DenialReason.TOO_FEW_CONDITIONS]
    assert "340.00006 is not" in denial.message or crohns in denial.message
    verdict = eligibility(PATIENT, ServiceFamily.CCM, as_of=PERIOD.end, conditions=conditions)
    assert verdict.status == "not eligible"


#: Codes from the table (SNOMED CT and ICD-10-CM, at significant risk or not), codes it
#: does not know (ICD-10-CM, SNOMED CT), a category code, and codes of one category.
CODES = [
    Coding.icd10cm("E11.9"),
    Coding.icd10cm("E11.65"),
    Coding.icd10cm("I10"),
    Coding.icd10cm("I50.22"),
    Coding.icd10cm("N18.4"),
    Coding.icd10cm("E78.5"),
    Coding.icd10cm("K50.90"),
    Coding.icd10cm("E11"),
    _snomed("44054006"),
    _snomed("38341003"),
    _snomed("431855005"),
    _snomed("88805009"),
    _snomed("26929004"),
    _snomed("55822004"),  # hyperlipidemia: not in the table
    _snomed("34000006"),  # Crohn's disease: not in the table
    _snomed("15777000"),  # prediabetes: not in the table
]


@st.composite
def condition_sets(draw: st.DrawFn) -> list[Condition]:
    out = []
    for index in range(draw(st.integers(0, 5))):
        abated = draw(st.booleans()) and draw(st.booleans())
        out.append(
            Condition(
                id=f"c{index}",
                patient_id="p1",
                coding=draw(st.sampled_from(CODES)),
                chronic=draw(st.booleans()),
                significant_risk=draw(st.booleans()),
                expected_duration_months=draw(st.sampled_from([None, None, 2, 6, 12, 24])),
                onset=pendulum.Date(2024, 1, 1) if abated else None,
                abatement=pendulum.Date(2025, 6, 1) if abated else None,
            )
        )
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=condition_sets(),
    family=st.sampled_from([ServiceFamily.CCM, ServiceFamily.PCM]),
    source=st.sampled_from(list(SignificantRisk)),
)
def test_the_registry_and_the_close_decide_the_conditions_alike(conditions, family, source):
    switches = Switches(significant_risk_from=source)
    verdict = eligibility(
        PATIENT, family, as_of=PERIOD.end, conditions=conditions, switches=switches
    )
    (criterion,) = [c for c in verdict.criteria if c.rule == RULE[family]]
    result = close(conditions, family, switches)
    assert criterion.met is close_meets_conditions(result, family), criterion.detail
