"""Bad input to what issues 6, 8 and 9 added: a typed error naming the field and the value."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords, close_records
from carecore.model import CareSetting, ServicePeriod, TransitionEpisode
from carecore.notify import messages_for
from carecore.service import CareProgram
from carecore.transitions import TransitionRules

MARCH = ServicePeriod.month(2026, 3)
EPISODE = TransitionEpisode(
    id="e1",
    patient_id="p1",
    discharge_event_id="a1",
    discharged_at=pendulum.datetime(2026, 1, 5, 12, tz="UTC"),
    from_setting=CareSetting.INPATIENT_ACUTE,
    visit_due_7=pendulum.Date(2026, 1, 12),
)


@pytest.fixture
def program():
    return CareProgram.open("memory://")


@pytest.mark.parametrize(
    ("call", "field", "value"),
    [
        (lambda p: TransitionRules.from_rule_set("cms-2026"), "rules", "cms-2026"),
        (lambda p: EPISODE.open_deadlines(on="2026-01-13"), "on", "2026-01-13"),
        (lambda p: p.close_month(MARCH, rules="cms-2026"), "rules", "cms-2026"),
        (lambda p: p.close_month(MARCH, each=3), "each", 3),
        (lambda p: p.close_month(MARCH, progress="yes"), "progress", "yes"),
        (lambda p: p.run_campaigns(kinds=5), "kinds", 5),
        (lambda p: p.run_campaigns(kinds="tcm-contact"), "kinds", "tcm-contact"),
        (lambda p: p.run_campaigns(kinds=["tcm-contact", 7]), "kinds[1]", 7),
        (lambda p: messages_for(None, [], now=pendulum.now("UTC")), "event", None),
        (lambda p: MonthRecords(patients=[], practitioners=[], care_plans=[1]), "care_plans[0]", 1),
        (
            lambda p: close_records(
                MonthRecords(patients=[], practitioners=[]), MARCH, cms_rule_set(2026), progress=5
            ),
            "progress",
            5,
        ),
    ],
)
def test_bad_arguments_name_the_field_and_value(program, call, field, value):
    with pytest.raises(errors.InvalidValue) as info:
        call(program)
    assert info.value.field == field
    assert info.value.value == value


def test_a_refused_close_leaves_the_stored_close_as_it_was(program):
    program.close_month(MARCH)
    with program.transaction("read") as tx:
        audit_before = len(tx.audit_entries())
    with pytest.raises(errors.InvalidValue):
        program.close_month(MARCH, each="not a function")
    with program.transaction("read") as tx:
        assert len(tx.audit_entries()) == audit_before
