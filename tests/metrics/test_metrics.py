"""Program measures against a hand-counted world (tests/metrics/world.py)."""

from __future__ import annotations

from decimal import Decimal

import pendulum
import pytest

from carecore import errors
from carecore.metrics import (
    a1c_change,
    a1c_changes,
    admissions_per_1000,
    before_after,
    billable_rate,
    churn,
    ed_visits_per_1000,
    enrolled_months,
    enrollment_rate,
    expected_revenue,
    goal_attainment,
    minutes_per_patient_month,
    parse_costs,
    parse_expected_pmpm,
    pmpm_by_quarter,
    program_report,
    readmission_rate,
)
from carecore.model import ServicePeriod
from carecore.registry import registry

from . import world
from .world import CCM, Q1, TZ, D


def test_enrolled_patient_months():
    # p1 Jan-Mar (3), p2 from Feb 15 (Feb, Mar: 2), p3 until Jan 20 (Jan: 1), p4 never enrolled
    months = enrolled_months(world.enrollments(), period=Q1, family=CCM)
    assert sorted(months) == [
        ("p1", "2026-01"),
        ("p1", "2026-02"),
        ("p1", "2026-03"),
        ("p2", "2026-02"),
        ("p2", "2026-03"),
        ("p3", "2026-01"),
    ]


def test_enrollment_rate_among_the_eligible():
    # eligible on Mar 31 (two chronic conditions each): p1, p2, p3, p4; p5 has one.
    # enrolled that day: p1, p2 -> 2 / 4
    day = D(2026, 3, 31)
    elig = registry(world.data().patients, as_of=day, conditions=world.conditions(), families=[CCM])
    m = enrollment_rate(elig, world.enrollments(), family=CCM, on=day)
    assert (m.numerator, m.denominator, m.value) == (2, 4, Decimal("0.5000"))


def test_churn():
    # at risk: p1 (enrolled Jan 1), p3 (enrolled Jan 1), p2 (joined Feb 15) = 3; ended: p3 -> 1/3
    m = churn(world.enrollments(), period=Q1, family=CCM)
    assert (m.numerator, m.denominator, m.value) == (1, 3, Decimal("0.3333"))


def test_minutes_per_enrolled_patient_month():
    # counted: p1 20 (Jan) + p1 15 physician (Feb) + p2 25 (Mar) + p3 12 (Jan, enrolled month)
    # not: p1 30 non-clinical, p2 10 in Jan (not enrolled), p1 40 in April -> 72 / 6 = 12
    m = minutes_per_patient_month(world.time_entries(), world.enrollments(), period=Q1, family=CCM)
    assert (m.numerator, m.denominator, m.value) == (72, 6, Decimal("12.0000"))


def test_billable_rate_and_expected_revenue():
    # billed enrolled months: p1 Jan, p1 Feb, p2 Mar = 3 of 6
    m = billable_rate(world.claim_lines(), world.enrollments(), period=Q1, family=CCM)
    assert (m.numerator, m.denominator, m.value) == (3, 6, Decimal("0.5000"))
    # 3 x 66.13 + 50.44 = 248.83 (the TCM line is another family)
    revenue = expected_revenue(world.claim_lines(), period=Q1, family=CCM)
    assert revenue.value == Decimal("248.83")
    assert revenue.denominator is None
    everything = expected_revenue(
        [*world.claim_lines(), world.line("p9", "99490", 1, None)], period=Q1
    )
    assert everything.value == Decimal("448.83")
    assert "1 with no listed fee, not included" in everything.definition


def test_utilization_per_1000_member_years():
    # member-years = 6 / 12 = 0.5
    # ED: p1 Jan 15 (enrolled) counts; p2 Jan 25 (not enrolled in Jan) does not -> 1 / 0.5 x 1000
    # admissions: p1 Feb 10 (V4, admit + discharge = 1), p2 Mar 3 -> 2 / 0.5 x 1000
    ed = ed_visits_per_1000(
        world.adt_events(), world.enrollments(), period=Q1, family=CCM, time_zone=TZ
    )
    assert (ed.numerator, ed.denominator, ed.value) == (1, Decimal("0.5"), Decimal("2000.0000"))
    adm = admissions_per_1000(
        world.adt_events(), world.enrollments(), period=Q1, family=CCM, time_zone=TZ
    )
    assert (adm.numerator, adm.value) == (2, Decimal("4000.0000"))


def test_readmission_rate():
    # index: ep1 (readmitted), ep2; not: ep3 from a SNF, ep4 cancelled, ep5 in December -> 1 / 2
    m = readmission_rate(world.episodes(), period=Q1)
    assert (m.numerator, m.denominator, m.value) == (1, 2, Decimal("0.5000"))
    only_p2 = readmission_rate(world.episodes(), period=Q1, patient_ids=["p2"])
    assert (only_p2.numerator, only_p2.denominator) == (0, 1)


def test_readmission_rate_s_unused_time_zone_is_deprecated():
    with pytest.warns(DeprecationWarning, match="time_zone"):
        m = readmission_rate(world.episodes(), period=Q1, time_zone=TZ)
    assert (m.numerator, m.denominator) == (1, 2)  # the same answer: each episode keeps its day


def test_readmissions_of_members_count_only_discharges_in_enrolled_months():
    # Patient-months, as the per-1,000 measures: p2 enrolled on Feb 15, so a discharge in
    # January is before the program and one on Mar 10 in it. p1 is enrolled all quarter
    # (ep1, readmitted); p3 left on Jan 20, so a discharge in February is out.
    extra = [
        world.episode("ep6", "p2", D(2026, 1, 12), readmitted=True),
        world.episode("ep7", "p3", D(2026, 2, 10), readmitted=True),
    ]
    m = readmission_rate(
        world.episodes() + extra,
        period=Q1,
        enrollments=world.enrollments(),
        family=CCM,
    )
    # index discharges in enrolled months: ep1 (p1, Feb, readmitted) and ep2 (p2, Mar) -> 1 / 2
    assert (m.numerator, m.denominator) == (1, 2)


def test_goal_attainment_uses_the_latest_plan_version():
    # cp1 v2: g1 achieved (due Feb 1), g2 not achieved (due Mar 15); g3 cancelled, g4 no target,
    # g5 due in May: out. cp2: g1 sustaining (due Jan 31). -> 2 / 3
    m = goal_attainment(world.care_plans(), period=Q1)
    assert (m.numerator, m.denominator, m.value) == (2, 3, Decimal("0.6667"))


def test_a1c_change_over_twelve_months():
    # window 2025-03-31 (excl.) .. 2026-03-31
    # p1: 9.0 (Apr 15) -> 7.6 (Mar 1) = -1.4; p2: two results 50 days apart: out
    # p3: 10.0 on 2025-03-01 is outside; HbA1c 9.5 (Jun 1) -> 9.9 (Feb 1) = +0.4
    changes = a1c_changes(world.observations(), as_of=D(2026, 3, 31))
    assert [(c.patient_id, c.change) for c in changes] == [
        ("p1", Decimal("-1.4")),
        ("p3", Decimal("0.4")),
    ]
    m = a1c_change(world.observations(), as_of=D(2026, 3, 31))
    assert (m.numerator, m.denominator, m.value) == (Decimal("-1.0"), 2, Decimal("-0.5000"))


def test_pmpm_observed_against_expected():
    expected = parse_expected_pmpm("quarter,expected_pmpm\n2026Q1,45.00\n")
    (row,) = pmpm_by_quarter(
        world.enrollments(),
        period=Q1,
        family=CCM,
        expected=expected,
        claim_lines=world.claim_lines(),
    )
    # 248.83 over 6 member-months = 41.47; expected 45.00
    assert (row.quarter, row.member_months, row.observed_total) == ("2026Q1", 6, Decimal("248.83"))
    assert row.observed_pmpm == Decimal("41.47")
    assert row.difference == Decimal("-3.53")
    assert row.source.startswith("care-management revenue")


def test_pmpm_from_a_user_cost_table():
    costs = parse_costs(
        "patient_id,month,amount\np1,2026-01,100\np1,2026-02,50\np2,2026-01,999\np3,2026-01,30\n"
    )
    (row,) = pmpm_by_quarter(world.enrollments(), period=Q1, family=CCM, costs=costs)
    # p2 in January is not an enrolled month: 100 + 50 + 30 = 180 over 6 = 30.00
    assert (row.observed_total, row.observed_pmpm, row.expected_pmpm) == (
        Decimal(180),
        Decimal("30.00"),
        None,
    )
    assert row.source == "user cost table"


def test_bad_tables_list_every_problem():
    with pytest.raises(errors.InvalidInput) as info:
        parse_expected_pmpm("quarter,expected_pmpm\n2026-1,45\n2026Q2,-3\n2026Q3,x\n")
    assert [p.path for p in info.value.problems] == [
        "line 2.quarter",
        "line 3.expected_pmpm",
        "line 4.expected_pmpm",
    ]
    with pytest.raises(errors.InvalidInput) as info:
        parse_costs("patient,month,amount\n")
    assert info.value.problems[0].path == "header"
    with pytest.raises(errors.InvalidInput) as info:
        parse_costs("patient_id,month,amount\n,2026-01,1\np1,2026-13,1\np1,2026-01,x\n")
    assert len(info.value.problems) == 3


def test_before_and_after_an_intervention():
    # before = January: p1 20 + p3 12 over 2 months = 16; after = February: p1 15 over 2 = 7.5
    def minutes(period):
        return minutes_per_patient_month(
            world.time_entries(), world.enrollments(), period=period, family=CCM
        )

    c = before_after(minutes, intervention=D(2026, 2, 1), months=1)
    assert c.before.period == ServicePeriod.month(2026, 1)
    assert c.after.period == ServicePeriod.month(2026, 2)
    assert (c.before.value, c.after.value, c.change) == (
        Decimal("16.0000"),
        Decimal("7.5000"),
        Decimal("-8.5000"),
    )
    with pytest.raises(errors.InvalidValue) as info:
        before_after(minutes, intervention=D(2026, 2, 1), months=0)
    assert info.value.field == "months"


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("period", lambda: churn([], period="2026-Q1", family=CCM)),
        ("family", lambda: churn([], period=Q1, family="CCM")),
        ("on", lambda: enrollment_rate([], [], family=CCM, on="2026-03-31")),
        ("intervention", lambda: before_after(lambda p: None, intervention="2026-02-01", months=1)),
        ("data", lambda: program_report([], period=Q1)),
        ("time_zone", lambda: program_report(world.data(), period=Q1, time_zone="Mars/Base")),
    ],
)
def test_bad_input_names_the_field(field, call):
    with pytest.raises(errors.InvalidValue) as info:
        call()
    assert info.value.field == field


def test_program_report_measures_are_the_functions_results():
    report = program_report(
        world.data(),
        period=Q1,
        time_zone=TZ,
        expected_pmpm={"2026Q1": Decimal("45.00")},
        intervention=D(2026, 2, 1),
        comparison_months=1,
    )
    assert report.as_of == D(2026, 3, 31)
    values = {m.name: m.value for m in report.measures}
    assert values["enrollment_rate"] == Decimal("0.5000")
    assert values["enrolled_patients"] == 2
    assert values["churn"] == Decimal("0.3333")
    assert values["minutes_per_patient_month"] == Decimal("12.0000")
    assert values["billable_rate"] == Decimal("0.5000")
    assert values["expected_revenue"] == Decimal("248.83")
    assert values["ed_visits_per_1000"] == Decimal("2000.0000")
    assert values["admissions_per_1000"] == Decimal("4000.0000")
    assert values["readmission_rate_30d"] == Decimal("0.5000")
    assert values["goal_attainment"] == Decimal("0.6667")
    assert values["a1c_change"] == Decimal("-0.5000")
    # caseload on Mar 31: rn1 follows p1 (care team), dr1 follows p2 -> 2 patients / 2 managers
    assert values["caseload_per_care_manager"] == Decimal("1.0000")
    assert [(c.owner, c.size) for c in report.caseloads] == [("dr1", 1), ("rn1", 1)]
    # 248.83 / 6
    assert values["revenue_pmpm"] == Decimal("41.4717")
    assert [m.value for m in report.enrollment_by_month] == [1, 2, 2]
    assert [m.value for m in report.minutes_by_month] == [
        Decimal("16.0000"),
        Decimal("7.5000"),
        Decimal("12.5000"),
    ]
    assert report.pmpm[0].difference == Decimal("-3.53")
    assert {c.name for c in report.comparisons} == {
        "minutes_per_patient_month",
        "billable_rate",
        "ed_visits_per_1000",
        "admissions_per_1000",
        "readmission_rate_30d",
    }
    assert len(report.stratification) == 5
    with pytest.raises(errors.NotFound):
        report.measure("nope")


def test_as_of_defaults_to_the_period_end_and_can_be_set():
    report = program_report(world.data(), period=Q1, as_of=pendulum.Date(2026, 2, 1), time_zone=TZ)
    # on Feb 1: p1 enrolled (p2 joins Feb 15); eligible p1..p4
    assert report.measure("enrollment_rate").numerator == 1


def test_program_report_worklists():
    report = program_report(world.data(), period=Q1, time_zone=TZ)
    items = sorted(
        (i.owner, i.kind, i.patient_id, i.detail) for w in report.worklists for i in w.items
    )
    # eligible for CCM on Mar 31 without an open enrollment: p3, who moved away on Jan 20
    # (so the offer closed, and more than two weeks on it is no longer listed), and p4 is
    # identified
    # minutes in March, as the billing engine counts them (CMS 2026): p1 0 (non-clinical
    # only) -> 20 for 99490; p2 reached 99490 but has no consent on record, so the engine
    # refuses the month and names no minutes that would help: no minutes item
    # no contacts this month: check-ins for p1 and p2; p4 identified: outreach
    assert items == [
        ("dr1", "ccm-check-in", "p2", "CCM"),
        ("rn1", "ccm-check-in", "p1", "CCM"),
        ("rn1", "enrollment-outreach", "p4", "CCM"),  # the practice's one care manager
        (
            "rn1",
            "minutes-to-threshold",
            "p1",
            (
                "CCM: 20 more clinical-staff minutes reach 99490; "
                "the month would still be refused: No CCM consent is on file for this period."
            ),
        ),
    ]
    closed = [
        (c.item.kind, c.item.patient_id, c.reason) for w in report.worklists for c in w.closed
    ]
    assert closed == []
