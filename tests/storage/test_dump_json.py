"""A JSON column's text is the encoding of the value's primitives, whatever path builds it (issue 15)."""

from __future__ import annotations

import json

import pendulum
import pytest

from carecore.convert import to_primitive
from carecore.model import ClaimLine, Denial, DenialReason, ServiceFamily, ServicePeriod
from carecore.storage import kind_for
from carecore.storage._kinds import dump_json


@pytest.mark.parametrize(
    "value",
    [
        (),
        ("25",),
        ("E11.9", "I10", "N18.4"),
        ("S26", "é", 'quote " and \\ and \n', "\u2028", "\U0001f600"),
        ("",),
        frozenset({"b", "a"}),
        (ServiceFamily.CCM, ServiceFamily.RPM),
        ("CCM", ServiceFamily.RPM),
        (1, 2),
        [("a", "b")],
    ],
)
def test_json_text_is_that_of_the_primitives(value):
    expected = json.dumps(
        to_primitive(value),
        separators=(",", ":"),
        default=lambda v: sorted(v) if isinstance(v, (set, frozenset)) else v,
    )
    assert dump_json(value) == expected


def test_claim_lines_and_denials_store_their_codes_as_before():
    march = ServicePeriod.month(2026, 3)
    line = ClaimLine(
        patient_id="p1",
        code="99490",
        units=1,
        family=ServiceFamily.CCM,
        billing_practitioner_id="dr1",
        date_of_service=pendulum.Date(2026, 3, 20),
        period=march,
        modifiers=("25", "GT"),
        diagnoses=("E11.9", "I10"),
    )
    denial = Denial(
        patient_id="p1",
        code="99439",
        family=ServiceFamily.CCM,
        reason=DenialReason.BELOW_THRESHOLD,
        message="short",
        rule="ccm.time",
        period=march,
        sources=("S1", "S26"),
    )
    for record in (line, denial):
        kind = kind_for(type(record))
        row = kind.to_row(record)
        assert kind.build(row) == record
    row = kind_for(ClaimLine).to_row(line)
    names = kind_for(ClaimLine).column_names
    assert row[names.index("modifiers")] == '["25","GT"]'
    assert row[names.index("diagnoses")] == '["E11.9","I10"]'
