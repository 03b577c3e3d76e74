"""assemble_claims: every claim line of the month ends in exactly one claim or one refusal.

A line belongs to the month its own service period starts in: the calendar month
for time-based codes, the 30 days from the discharge for TCM, which may run into
the next month.
"""

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
TCM_CODES = ("99495", "99496")
DIAGNOSES = ("E11.9", "I10", "I50.22", "J44.1", "N18.4", "F33.1", "G30.9", "E78.5")
PIDS = ("p1", "p2", "p3", "p4")
DOCTORS = {
    "dr1": Practitioner(id="dr1", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893"),
    "dr2": Practitioner(id="dr2", name="Sam Lee, NP", credential=Credential.NP, npi=None),
}
HOME = PostalAddress(line1="1 Elm St", city="Evanston", state="IL", postal_code="60201")


@st.composite
def claim_lines(draw, month=MONTH):
    """A line of *month*: a month-long one, or a TCM line whose 30 days start in it."""
    if draw(st.booleans()):
        discharge = month.start.add(days=draw(st.integers(0, month.end.day - 1)))
        family, code = ServiceFamily.TCM, draw(st.sampled_from(TCM_CODES))
        period = ServicePeriod.days_from(discharge, 30)
        day = discharge.add(days=draw(st.integers(1, 14)))
    else:
        family, code, period = ServiceFamily.CCM, draw(st.sampled_from(CODES)), month
        day = month.start.add(days=draw(st.integers(0, month.end.day - 1)))
    return ClaimLine(
        patient_id=draw(st.sampled_from(PIDS)),
        code=code,
        units=draw(st.integers(1, 3)),
        family=family,
        billing_practitioner_id=draw(st.sampled_from([*DOCTORS, "dr3"])),
        date_of_service=day,
        period=period,
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
    other=st.lists(claim_lines(ServicePeriod.month(2026, 2)), max_size=3),
    known=st.sets(st.sampled_from(PIDS)),
    with_mbi=st.sets(st.sampled_from(PIDS)),
    with_address=st.sets(st.sampled_from(PIDS)),
)
def test_each_line_is_claimed_or_refused_once(lines, other, known, with_mbi, with_address):
    # February's lines, TCM periods running into March among them, are not March's.
    batch = assemble_claims(
        [*lines, *other],
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


def test_a_tcm_line_running_into_the_next_month_is_claimed_in_the_month_it_starts():
    discharge = pendulum.Date(2026, 3, 20)
    tcm = ClaimLine(
        patient_id="p1", code="99495", units=1, family=ServiceFamily.TCM,
        billing_practitioner_id="dr1", date_of_service=pendulum.Date(2026, 3, 27),
        period=ServicePeriod.days_from(discharge, 30), amount=Decimal("220.11"),
        diagnoses=("I50.22",),
    )  # fmt: skip
    assert tcm.period.end == pendulum.Date(2026, 4, 18)

    def batch(period):
        return assemble_claims(
            [tcm],
            period=period,
            identity=None,
            patients={"p1": _patient("p1")},
            practitioners=DOCTORS,
            addresses={"p1": HOME},
            mbis={"p1": "1EG4TE5MK73"},
        )

    march = batch(MONTH)
    assert [line for claim in march.claims for line in claim.lines] == [tcm]
    assert march.total == Decimal("220.11")
    april = batch(ServicePeriod.month(2026, 4))
    assert not april.claims
    assert not april.refusals
