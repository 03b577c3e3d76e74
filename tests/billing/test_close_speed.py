"""The store close's speed-ups change nothing a close reads, bills or stores.

- closing a month again writes only the lines and denials that changed;
- a care plan's history read after ``all()`` in one transaction is the stored history;
- consent and enrollment read from the first day when nothing changes within
  the period give what reading every day gives;
- a claim line's diagnosis list, once found valid, does not let a bad list through.
"""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import _bridge as bridge
from carecore.model import (
    CarePlan,
    ClaimLine,
    Consent,
    ConsentMethod,
    Enrollment,
    ServiceFamily,
)
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

from .test_month_close import DR, MARCH, RN, chronic, consent, minutes, plan, visit


def _program(url: str) -> CareProgram:
    prog = CareProgram.open(url, actor="test")
    with prog.transaction("setup") as tx:
        tx.add(DR)
        tx.add(RN)
        for pid in ("p1", "p2"):
            tx.add(make_patient(pid))
            for c in chronic(pid):
                tx.add(c)
            tx.add(visit(pid))
            tx.add(plan(pid))
            tx.add(consent(pid))
        tx.add(minutes("p1", 0, 25))
        tx.add(minutes("p2", 0, 12))
    return prog


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'close.db'}"
    prog = _program(url)
    yield prog
    prog.close()


def _writes(prog: CareProgram, after: int) -> list[tuple[str, str, str | None]]:
    with prog.transaction("audit") as tx:
        return [
            (e.action, e.kind, e.key)
            for e in tx.audit_entries(after=after)
            if e.kind in {"ClaimLine", "Denial"} and e.action in {"create", "delete"}
        ]


def _last_seq(prog: CareProgram) -> int:
    with prog.transaction("audit") as tx:
        return max(e.seq for e in tx.audit_entries())


def test_closing_again_over_the_same_records_writes_nothing(program):
    first = program.close_month(MARCH)
    seq = _last_seq(program)
    again = program.close_month(MARCH)
    assert [r.claim_lines for r in again] == [r.claim_lines for r in first]
    assert _writes(program, seq) == []


def test_closing_again_replaces_only_what_changed(program):
    program.close_month(MARCH)
    with program.transaction("read") as tx:
        before = {line.patient_id: line for line in tx.all(ClaimLine)}
    seq = _last_seq(program)
    with program.transaction("more time") as tx:
        tx.add(minutes("p2", 1, 10, day=20))  # p2 now reaches 99490: its denial goes
    program.close_month(MARCH)
    writes = _writes(program, seq)
    assert writes, "the changed patient's close is written"
    assert all("p2" in (key or "") for _action, _kind, key in writes)  # p1 is left as it was
    with program.transaction("read") as tx:
        after = {line.patient_id: line for line in tx.all(ClaimLine)}
    assert after["p1"] == before["p1"]
    assert after["p2"].code == "99490"


def test_history_read_after_all_is_the_stored_history(tmp_path):
    prog = _program(f"sqlite:///{tmp_path / 'plans.db'}")
    with prog.transaction("revise") as tx:
        current = tx.get(CarePlan, "p1-cp")
        tx.replace(evolve(current, title="Revised plan", version=current.version + 1))
    with prog.transaction("fresh") as tx:
        expected = tx.history(CarePlan, "p1-cp")
    with prog.transaction("all first") as tx:
        plans = {p.id: p for p in tx.all(CarePlan)}
        history = tx.history(CarePlan, "p1-cp")
    assert history == expected
    assert len(history) == 2
    assert history[-1] == plans["p1-cp"]
    assert history[-1].title == "Revised plan"
    prog.close()


_DAYS = st.dates(min_value=pendulum.Date(2026, 1, 1), max_value=pendulum.Date(2026, 5, 31)).map(
    lambda d: pendulum.Date(d.year, d.month, d.day)
)


@st.composite
def _program_records(draw: st.DrawFn) -> tuple[list[Consent], list[Enrollment]]:
    consents = []
    for n in range(draw(st.integers(0, 2))):
        obtained = draw(_DAYS)
        revoked = draw(st.none() | _DAYS.filter(lambda d, o=obtained: d >= o))
        consents.append(
            Consent(
                id=f"k{n}",
                patient_id="p1",
                family=ServiceFamily.CCM,
                method=ConsentMethod.VERBAL,
                obtained_on=obtained,
                obtained_by="dr1",
                billing_practitioner_id="dr1",
                cost_sharing_explained=True,
                revoked_on=revoked,
            )
        )
    enrollments = []
    for n in range(draw(st.integers(0, 2))):
        start = draw(_DAYS)
        enrollment = Enrollment.start(
            id=f"e{n}",
            patient_id="p1",
            program_id="ccm",
            family=ServiceFamily.CCM,
            billing_practitioner_id="dr1",
            on=start,
        )
        for step in range(draw(st.integers(0, 2))):
            day = enrollment.history[-1].on.add(days=draw(st.integers(0, 40)))
            try:
                enrollment = enrollment.pause(day) if step % 2 == 0 else enrollment.resume(day)
            except errors.CarecoreError:
                break
        enrollments.append(enrollment)
    return consents, enrollments


@settings(max_examples=300, deadline=None)
@given(_program_records())
def test_reading_the_first_day_only_when_nothing_changes_is_reading_every_day(records):
    consents, enrollments = records
    quick = bridge._program_days(consents, enrollments, MARCH)
    original = bridge._changes_within
    try:
        bridge._changes_within = lambda *_args: True  # every day read, as before
        slow = bridge._program_days(consents, enrollments, MARCH)
    finally:
        bridge._changes_within = original
    assert quick == slow


def test_a_diagnosis_list_found_valid_does_not_let_a_bad_one_through():
    line = {
        "patient_id": "p1",
        "code": "99490",
        "units": 1,
        "family": ServiceFamily.CCM,
        "billing_practitioner_id": "dr1",
        "date_of_service": pendulum.Date(2026, 3, 9),
        "period": MARCH,
    }
    ClaimLine(**line, diagnoses=("E11.65", "I10"))  # checked, then remembered
    assert ClaimLine(**line, diagnoses=("E11.65", "I10")).diagnoses == ("E11.65", "I10")

    class LooksLikeACode(str):
        __slots__ = ()

    with pytest.raises(errors.InvalidValue, match="diagnoses"):
        ClaimLine(**line, diagnoses=("E11.65", "E11.65"))
    with pytest.raises(errors.InvalidValue, match="diagnoses"):
        ClaimLine(**line, diagnoses=("E11.65", "I10", "N18.4", "J44.9", "E78.5"))
    with pytest.raises(errors.InvalidValue, match="diagnoses"):
        ClaimLine(**line, diagnoses=(["E11.65"],))  # type: ignore[arg-type]
    # A str subclass equal to a remembered code is still checked as itself.
    assert ClaimLine(**line, diagnoses=(LooksLikeACode("E11.65"), "I10")).diagnoses[0] == "E11.65"
