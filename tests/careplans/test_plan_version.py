"""A care-plan version read without its content dates a plan as the built plan does (issue 15)."""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve
from hypothesis import given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.careplans import PlanVersion, completeness, established_span
from carecore.testing.strategies import care_plans, dates


@settings(max_examples=150, deadline=None)
@given(plan=care_plans(), written=st.none() | dates(), require=st.booleans())
def test_a_plan_version_gives_the_span_of_its_plan(plan, written, require):
    version = PlanVersion.of(plan)
    assert version.complete == completeness(plan).complete
    assert established_span([(version, written)], require_complete=require) == established_span(
        [(plan, written)], require_complete=require
    )


def test_a_revision_needs_the_plans_content():
    from tests.billing.test_month_facts import complete_draft

    agreed = complete_draft("p1").activate()
    reviewed = evolve(
        agreed, version=agreed.version + 1, last_reviewed_on=pendulum.Date(2026, 2, 5)
    )
    versions = [
        (PlanVersion.of(agreed), pendulum.Date(2026, 1, 5)),
        (PlanVersion.of(reviewed), pendulum.Date(2026, 2, 5)),
    ]
    with pytest.raises(errors.InvalidValue) as info:
        established_span(versions)
    assert info.value.field == "versions"
    # Given as plans, the same versions are read.
    span = established_span([(agreed, None), (reviewed, None)])
    assert span.reviewed == (pendulum.Date(2026, 2, 5),)
