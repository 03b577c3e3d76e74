"""The encoder's templates are its own text: filled with plain values they equal direct rendering.

This is the proof obligation of the columnar close's text building: it fills
the templates with plain per-patient values (no character CSV or JSON would
quote or escape) and must write what the reference close writes.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import attrs
import pendulum
from hypothesis import given
from hypothesis import strategies as st

from carecore.billing import cms_rule_set
from carecore.billing._encode import CLAIM_COLUMNS, CloseEncoder, Template, json_text
from carecore.model import ClaimLine, Denial, ServiceFamily, ServicePeriod
from carecore.model.codes import Credential, DenialReason, RoleClass

MONTH = ServicePeriod.month(2026, 3)
ENCODER = CloseEncoder(cms_rule_set(2026), MONTH)

plain = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,11}", fullmatch=True)
days = st.integers(1, 31).map(lambda d: pendulum.Date(2026, 3, d))
diagnoses = st.lists(
    st.sampled_from(["E11.65", "I10", "J44.9", "N18.4", "F33.1"]), max_size=4, unique=True
).map(tuple)
lines = st.builds(
    ClaimLine,
    patient_id=plain,
    code=st.sampled_from(["99490", "99439", "99491", "99426", "G0323", "99999"]),
    units=st.integers(1, 3),
    family=st.sampled_from([ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI]),
    billing_practitioner_id=plain,
    date_of_service=days,
    period=st.just(MONTH),
    modifiers=st.lists(st.sampled_from(["25", "GT", "95"]), max_size=2).map(tuple),
    amount=st.one_of(st.none(), st.decimals(0, 500, places=2).map(Decimal)),
    diagnoses=diagnoses,
)
denials = st.builds(
    Denial,
    patient_id=plain,
    code=st.sampled_from(["99490", "99439"]),
    family=st.just(ServiceFamily.CCM),
    reason=st.sampled_from(list(DenialReason)),
    message=st.text(min_size=1, max_size=40).filter(lambda t: t.strip() == t and t.strip()),
    rule=st.sampled_from(["ccm.99490.threshold", "ccm.consent"]),
    period=st.just(MONTH),
    sources=st.lists(st.sampled_from(["S1", "S21", "S26"]), max_size=2).map(tuple),
)


@given(line=lines, patient=plain, practitioner=plain, day=days, codes=diagnoses)
def test_claim_templates_filled_with_plain_values_are_the_encoders_text(
    line, patient, practitioner, day, codes
):
    personal = attrs.evolve(
        line,
        patient_id=patient,
        billing_practitioner_id=practitioner,
        date_of_service=day,
        diagnoses=codes,
    )
    iso = day.isoformat()
    assert ENCODER.claim_csv_template(line).fill(
        patient_id=patient,
        practitioner=practitioner,
        date_of_service=iso,
        diagnoses=ENCODER.diagnoses_cell(codes),
    ) == ENCODER.claim_csv(personal)
    assert ENCODER.claim_json_template(line).fill(
        patient_id=f'"{patient}"',
        practitioner=f'"{practitioner}"',
        date_of_service=f'"{iso}"',
        diagnoses=ENCODER.diagnoses_json(codes),
    ) == ENCODER.claim_json(personal)
    assert ENCODER.audit_line_template(line).fill(
        practitioner=f'"{practitioner}"',
        date_of_service=f'"{iso}"',
        diagnoses=ENCODER.diagnoses_json(codes),
    ) == ENCODER.audit_line(personal)
    item = json.loads(ENCODER.claim_json(personal))
    assert list(item) == list(CLAIM_COLUMNS)  # claims.json's keys are claims.csv's columns
    assert item["diagnoses"] == list(codes)


@given(denial=denials, patient=plain, practitioner=plain)
def test_denial_templates_filled_with_plain_values_are_the_encoders_text(
    denial, patient, practitioner
):
    personal = attrs.evolve(denial, patient_id=patient)
    assert ENCODER.denial_csv_template(denial).fill(
        patient_id=patient, practitioner=practitioner
    ) == ENCODER.denial_csv(personal, practitioner)


def test_a_nul_in_the_layouts_own_text_is_kept_in_a_literal():
    # Found by hypothesis: a denial message holding a NUL made the cut look for a second
    # marker and raise ValueError.
    denial = Denial(
        patient_id="0",
        code="99490",
        family=ServiceFamily.CCM,
        reason=DenialReason.BELOW_THRESHOLD,
        message="a\x00b",
        rule="ccm.99490.threshold",
        period=MONTH,
    )
    template = ENCODER.denial_csv_template(denial)
    assert template.names == ("patient_id", "practitioner")
    assert template.fill(patient_id="p1", practitioner="dr1") == ENCODER.denial_csv(
        attrs.evolve(denial, patient_id="p1"), "dr1"
    )


def test_a_template_is_cut_where_the_values_go():
    template = Template.of(lambda a, b: f"<{a}|{b}>", "a", "b")
    assert template.literals == ("<", "|", ">")
    assert template.names == ("a", "b")
    assert template.partial(a="x").fill(b="y") == "<x|y>"
    assert template.as_columns("t") == {"t0": "<", "t1": "|", "t2": ">"}


def test_the_packet_frame_holds_the_rule_set_and_the_schema():
    frame = ENCODER.packet_template()
    text = frame.fill(**dict.fromkeys(frame.names, json_text("x")))
    assert text.startswith('{"schema":"carecore.audit-packet/3"')
    assert '"rule_set":{"id":"cms-2026","year":2026' in text


@given(
    day=st.one_of(st.none(), days),
    family=st.sampled_from([ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI]),
    minutes=st.integers(1, 120),
    practitioner=plain,
    interactive=st.booleans(),
    credential=st.sampled_from([None, *Credential]),
    role=st.sampled_from(list(RoleClass)),
)
def test_packet_part_templates_are_the_encoders_text(  # noqa: PLR0917
    day, family, minutes, practitioner, interactive, credential, role
):
    day_json = "null" if day is None else f'"{day.isoformat()}"'
    assert ENCODER.consent_item_template(family.value).fill(
        obtained_on=day_json
    ) == ENCODER.consent_item(family, day, None)
    assert ENCODER.care_plan_item_template(family.value).fill(
        established_on=day_json
    ) == ENCODER.care_plan_item(family, day, (), None)
    on = day or MONTH.start
    log = ENCODER.log_item_template().fill(
        date=f'"{on.isoformat()}"',
        minutes=str(minutes),
        role=f'"{role.value}"',
        credential="null" if credential is None else f'"{credential.value}"',
        family=f'"{family.value}"',
        practitioner=f'"{practitioner}"',
        interactive="true" if interactive else "false",
    )
    entry = (on, minutes, role, family, credential, interactive, practitioner)
    assert log == ENCODER.log_item(entry)


# Cells as the claim and denial rows hold them: text (some needing quotes) and counts.
_cells = st.one_of(
    st.text(alphabet=st.sampled_from('ab1 ,"\r\n;.-'), max_size=6),
    st.integers(0, 10_000),
    st.booleans(),
    st.none(),
)


@given(rows=st.lists(st.lists(_cells, min_size=1, max_size=11), max_size=4))
def test_csv_rows_are_what_the_csv_writer_writes(rows):
    # csv_rows joins plain rows itself; every row must still be the csv module's text.
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    assert ENCODER.csv_rows(tuple(r) for r in rows) == buffer.getvalue()
