"""assemble_claims: every claim line of the month ends in exactly one claim or one refusal."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore.billing.claims import MAX_CLAIM_DIAGNOSES, assemble_claims
from carecore.model import (
    AdministrativeSex,
    ClaimLine,
    Credential,
    Patient,
    PostalAddress,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
)

MONTH = ServicePeriod.month(2026, 3)
CODES = ("99490", "99439", "99487", "G0557", "99457", "99497")
DIAGNOSES = ("E11.9", "I10", "I50.22", "J44.1", "N18.4", "F33.1", "G30.9", "E78.5")
PIDS = ("p1", "p2", "p3", "p4")
DOCTORS = {
    "dr1": Practitioner(id="dr1", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893"),
    "dr2": Practitioner(id="dr2", name="Sam Lee, NP", credential=Credential.NP, npi=None),
}
HOME = PostalAddress(line1="1 Elm St", city="Evanston", state="IL", postal_code="60201")


@st.composite
def claim_lines(draw):
    return ClaimLine(
        patient_id=draw(st.sampled_from(PIDS)),
        code=draw(st.sampled_from(CODES)),
        units=draw(st.integers(1, 3)),
        family=ServiceFamily.CCM,
        billing_practitioner_id=draw(st.sampled_from([*DOCTORS, "dr3"])),
        date_of_service=pendulum.Date(2026, 3, draw(st.integers(1, 31))),
        period=MONTH,
        amount=draw(st.none() | st.decimals("1", "300", places=2)),
        diagnoses=tuple(draw(st.lists(st.sampled_from(DIAGNOSES), max_size=4, unique=True))),
    )


def _patient(pid):
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="UTC",
    )


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(claim_lines(), max_size=25),
    other=st.lists(claim_lines(), max_size=3),
    known=st.sets(st.sampled_from(PIDS)),
    with_mbi=st.sets(st.sampled_from(PIDS)),
    with_address=st.sets(st.sampled_from(PIDS)),
)
def test_each_line_is_claimed_or_refused_once(lines, other, known, with_mbi, with_address):
    february = [attrs.evolve(x, period=ServicePeriod.month(2026, 2),
                             date_of_service=pendulum.Date(2026, 2, 1)) for x in other]  # fmt: skip
    batch = assemble_claims(
        [*lines, *february],
        period=MONTH,
        identity=None,
        patients={pid: _patient(pid) for pid in known},
        practitioners=DOCTORS,
        addresses=dict.fromkeys(with_address, HOME),
        mbis=dict.fromkeys(with_mbi, "1EG4TE5MK73"),
    )
    claimed = [line for claim in batch.claims for line in claim.lines]
    assert sorted(map(repr, claimed)) == sorted(
        repr(x) for x in lines if (x.patient_id, x.billing_practitioner_id) in
        {(c.patient.id, c.rendering.id) for c in batch.claims}
    )  # fmt: skip
    assert len(claimed) + sum(r.lines for r in batch.refusals) == len(lines)
    keys = [(c.patient.id, c.rendering.id) for c in batch.claims]
    keys += [(r.patient_id, r.practitioner_id) for r in batch.refusals]
    assert len(keys) == len(set(keys))
    for claim in batch.claims:
        assert claim.total == sum((x.amount for x in claim.lines), Decimal(0))
        assert len(claim.diagnoses) <= MAX_CLAIM_DIAGNOSES
        assert claim.rendering.npi is not None
        assert claim.patient.id in with_mbi & with_address & known
        for line in claim.lines:
            assert line.amount is not None
            assert [claim.diagnoses[p - 1] for p in claim.pointers(line)] == list(line.diagnoses)
        assert len(claim.control_number) <= 20
    assert batch.total == sum((c.total for c in batch.claims), Decimal(0))
    for refusal in batch.refusals:
        assert refusal.field
        assert "1EG4TE5MK73" not in str(refusal)


def test_claim_numbers_are_stable_and_distinct():
    def line(pid, doctor):
        return ClaimLine(
            patient_id=pid, code="99490", units=1, family=ServiceFamily.CCM,
            billing_practitioner_id=doctor, date_of_service=pendulum.Date(2026, 3, 5),
            period=MONTH, amount=Decimal("60.49"), diagnoses=("I10",),
        )  # fmt: skip

    doctors = {**DOCTORS, "dr2": attrs.evolve(DOCTORS["dr2"], npi="1003000126")}

    def numbers():
        batch = assemble_claims(
            [line("p1", "dr1"), line("p1", "dr2"), line("p2", "dr1")],
            period=MONTH,
            identity=None,
            patients={p: _patient(p) for p in ("p1", "p2")},
            practitioners=doctors,
            addresses={"p1": HOME, "p2": HOME},
            mbis={"p1": "1EG4TE5MK73", "p2": "2AA0A00AA01"},
        )
        assert not batch.refusals
        return [c.control_number for c in batch.claims]

    first = numbers()
    assert first == numbers()
    assert len(set(first)) == 3
    assert all(n.startswith("202603") for n in first)
