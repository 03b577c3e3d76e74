"""Billing facts built from records are the values the facts' own classes build (issue 15).

facts_from_model builds time facts without running TimeFact's validators again
(a TimeEntry's fields passed the same checks) and shares one ChronicCondition
among conditions alike in what it depends on; the facts must be equal, of the
same classes, to those built through the classes, and conditions that differ
in anything the value reads must not share one.
"""

from __future__ import annotations

import itertools

import pendulum

from carecore.billing._bridge import facts_from_model
from carecore.billing.facts import ChronicCondition, TimeFact
from carecore.conditions import SignificantRisk, at_significant_risk, billing_code, is_chronic
from carecore.model import (
    CodeSystem,
    Coding,
    Condition,
    Credential,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)

from .test_bridge import DOCTOR, PATIENT

MARCH = ServicePeriod.month(2026, 3)


def _facts(**records):
    return facts_from_model(patient=PATIENT, practitioners=[DOCTOR], period=MARCH, **records)


def test_time_facts_are_those_the_class_builds():
    entries = [
        TimeEntry(
            id=f"t{n}",
            patient_id="p1",
            performer_id="dr1" if role is RoleClass.PHYSICIAN else "rn1",
            credential=Credential.MD if role is RoleClass.PHYSICIAN else Credential.RN,
            role_class=role,
            minutes=minutes,
            family=family,
            activity="call",
            service_date=pendulum.Date(2026, 3, 1 + n),
            billing_practitioner_id="dr1",
            interactive=n % 2 == 0,
        )
        for n, (role, minutes, family) in enumerate(
            itertools.product(
                (RoleClass.PHYSICIAN, RoleClass.CLINICAL_STAFF),
                (1, 24 * 60),
                (ServiceFamily.CCM, ServiceFamily.PCM),
            )
        )
    ]
    facts = _facts(time_entries=entries)
    expected = [
        TimeFact(
            date=t.service_date,
            minutes=t.minutes,
            role=t.role_class,
            practitioner=t.billing_practitioner_id,
            family=t.family,
            credential=t.credential,
            interactive=t.interactive,
            activity=t.activity,
        )
        for t in entries
    ]
    assert list(facts.events) == expected
    assert all(type(e) is TimeFact for e in facts.events)
    assert hash(facts.events[0]) == hash(expected[0])


def test_conditions_alike_share_a_value_and_others_do_not():
    codings = [
        Coding.icd10cm("E11.9"),
        Coding.icd10cm("E11.9", "Type 2 diabetes"),
        Coding.icd10cm("N18.4"),
        Coding.icd10cm("J02.9"),
        Coding(system=CodeSystem.SNOMEDCT, code="38341003"),
    ]
    made = []
    for n, (coding, chronic, risk, behavioral, months) in enumerate(
        itertools.product(codings, (True, False), (True, False), (True, False), (None, 24))
    ):
        made.append(
            Condition(
                id=f"c{n}",
                patient_id="p1",
                coding=coding,
                chronic=chronic,
                significant_risk=risk,
                behavioral=behavioral,
                expected_duration_months=months,
            )
        )
    for source in SignificantRisk:
        twice = [*made, *made]
        facts = facts_from_model(
            patient=PATIENT,
            practitioners=[DOCTOR],
            period=MARCH,
            conditions=twice,
            significant_risk_from=source,
        )
        counted = [c for c in twice if is_chronic(c)]
        expected = [
            ChronicCondition(
                icd10=billing_code(c.coding),
                label=c.coding.display,
                expected_duration_months=c.expected_duration_months,
                significant_risk=at_significant_risk(c, source),
                behavioral=c.behavioral,
            )
            for c in counted
        ]
        assert list(facts.patient.conditions) == expected, source


def test_the_attested_switch_given_as_text_decides_as_the_member_whatever_came_first():
    # "attested" equals SignificantRisk.ATTESTED (a StrEnum): both must decide alike, so
    # that the shared value one call leaves behind is the one the other would build. CKD
    # stage 4 is at significant risk by the table only.
    ckd = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("N18.4"), chronic=True)

    def risk(source):
        (condition,) = _facts(conditions=[ckd], significant_risk_from=source).patient.conditions
        return condition.significant_risk

    assert [risk("attested"), risk(SignificantRisk.ATTESTED), risk("attested")] == [False] * 3
    assert risk(SignificantRisk.TABLE) is risk("table") is True
