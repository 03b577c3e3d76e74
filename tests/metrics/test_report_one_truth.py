"""The program report asks the billing engine: no threshold, fee year or worklist order of its own."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pendulum
from hypothesis import given, settings
from hypothesis import strategies as st

import carecore.metrics._summary as summary
import carecore.registry._work as work
import carecore.report as report_module
from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords, evaluate_records
from carecore.billing._progress import NEAR_MINUTES, time_progress
from carecore.billing.primitives import line_amount
from carecore.metrics import ProgramData, program_report
from carecore.model import Denial, DenialReason, RoleClass, ServiceFamily, ServicePeriod
from carecore.outreach import WorkItem, Worklist
from carecore.registry import program_worklists, worklist_rows
from carecore.report import practice_view
from carecore.report._labels import money
from tests.registry.month_records import advice, ccm_records, practitioner, time_entry

RULES = cms_rule_set(2026)
MARCH = ServicePeriod.month(2026, 3)
CCM = ServiceFamily.CCM
PCM = ServiceFamily.PCM
ROLES = (
    RoleClass.CLINICAL_STAFF,
    RoleClass.PHYSICIAN,
    RoleClass.AUXILIARY,
    RoleClass.NON_CLINICAL,
)


def _program(minutes: dict[str, list[tuple[int, int, RoleClass]]]) -> ProgramData:
    """CCM patients with everything billing needs, and their March minutes (day, minutes, role)."""
    parts: dict[str, list] = {}
    entries = []
    for pid, logged in minutes.items():
        for name, values in ccm_records(pid).items():
            parts.setdefault(name, []).extend(values)
        entries += [
            time_entry(f"{pid}-t{n}", pid, m, pendulum.Date(2026, 3, day), role=role)
            for n, (day, m, role) in enumerate(logged)
        ]
    return ProgramData(practitioners=[practitioner()], time_entries=entries, **parts)


def _section(view, key):
    return next(s for s in view.sections if s.key == key)


def _near_rows(view) -> dict[str, int]:
    (table,) = _section(view, "minutes").tables
    patients = table.columns.index("patients")
    code = table.columns.index("next code")
    return {row[code]: int(row[patients]) for row in table.rows if int(row[patients])}


def _near_total(view) -> int:
    (table,) = _section(view, "minutes").tables
    patients = table.columns.index("patients")
    return sum(int(row[patients]) for row in table.rows)


def _engine_near(data: ProgramData) -> dict[str, int]:
    """Each patient's March as a close evaluates it: the engine's next CCM code when near it."""
    records = MonthRecords(
        patients=data.patients,
        practitioners=data.practitioners,
        conditions=data.conditions,
        consents=data.consents,
        enrollments=data.enrollments,
        care_plans=data.care_plans,
        time_entries=data.time_entries,
        visits=data.visits,
    )
    near: dict[str, int] = {}
    for _facts, result in evaluate_records(records, MARCH, RULES):
        for p in time_progress(result):
            if p.family is CCM and p.minutes_needed <= NEAR_MINUTES:
                near[p.code] = near.get(p.code, 0) + 1
    return near


logged_minutes = st.lists(
    st.tuples(st.integers(1, 31), st.integers(1, 45), st.sampled_from(ROLES)), max_size=4
)


@settings(max_examples=15, deadline=None)
@given(minutes=st.dictionaries(st.sampled_from(("p1", "p2", "p3")), logged_minutes, min_size=1))
def test_patients_near_a_code_are_those_the_engine_and_worklist_find_near(minutes):
    data = _program(minutes)
    report = program_report(data, period=MARCH, rules=RULES)
    view = practice_view(report)
    engine = _engine_near(data)
    assert _near_total(view) == sum(engine.values())
    assert _near_rows(view) == engine
    # The worklist's minutes items on the same day say the same.
    worklist: dict[str, int] = {}
    for wl in report.worklists:
        for item in wl.items:
            if item.kind == "minutes-to-threshold":
                needed, code = advice(item.detail)
                if needed <= NEAR_MINUTES:
                    worklist[code] = worklist.get(code, 0) + 1
    assert worklist == engine


def test_auxiliary_minutes_do_not_bring_a_patient_near_99490():
    """17 CHW minutes: 20 clinical minutes short of 99490 for the engine, so not near it."""
    data = _program(
        {"p1": [(3, 17, RoleClass.AUXILIARY)], "p2": [(3, 17, RoleClass.CLINICAL_STAFF)]}
    )
    view = practice_view(program_report(data, period=MARCH, rules=RULES))
    assert _near_total(view) == 1
    assert _near_rows(view) == {"99490": 1}


def test_the_plot_marks_the_rule_set_s_thresholds():
    data = _program({"p1": [(3, 25, RoleClass.CLINICAL_STAFF)]})
    view = practice_view(program_report(data, period=MARCH, rules=RULES))
    assert view.thresholds == (20, 40, 60)  # 99490, then 99439 twice
    pcm = program_report(data, period=MARCH, rules=RULES, family=ServiceFamily.PCM)
    assert practice_view(pcm).thresholds[:2] == (30, 60)  # 99426, then 99427


def test_a_family_without_time_codes_marks_no_threshold():
    data = _program({"p1": [(3, 25, RoleClass.CLINICAL_STAFF)]})
    apcm = program_report(data, period=MARCH, rules=RULES, family=ServiceFamily.APCM)
    view = practice_view(apcm)
    assert view.thresholds == ()


# -- denials: priced as the close prices its lines --------------------------------------------


def _denial(pid: str, code: str, month: ServicePeriod = MARCH, family: ServiceFamily = CCM):
    return Denial(
        patient_id=pid,
        code=code,
        family=family,
        reason=DenialReason.BELOW_THRESHOLD,
        message=f"{code} needs more minutes.",
        rule=f"{family.value.lower()}.{code.lower()}.threshold",
        period=month,
    )


def _denials_table(report):
    (table,) = _section(practice_view(report), "denials").tables
    return table


def _column(table, name):
    index = table.columns.index(name)
    return [row[index] for row in table.rows]


def test_a_denied_code_with_no_listed_fee_is_counted_as_unpriced_not_dropped():
    """99427 has no listed fee in 2026: it is shown as unpriced, next to the priced 99490."""
    assert RULES.rule("99427").amount is None
    data = attrs.evolve(
        _program({"p1": []}), denials=[_denial("p1", "99490"), _denial("p2", "99427", family=PCM)]
    )
    ccm = _denials_table(program_report(data, period=MARCH, rules=RULES))
    assert _column(ccm, "unpriced") == ["0"]
    assert _column(ccm, "at stake") == [money(RULES.rule("99490").amount)]
    pcm = _denials_table(program_report(data, period=MARCH, rules=RULES, family=PCM))
    assert _column(pcm, "codes not billed") == ["1"]
    assert _column(pcm, "unpriced") == ["1"]
    assert _column(pcm, "at stake") == ["no listed fee"]


def test_denials_are_priced_with_the_rule_set_the_close_used():
    """A practice's own rule set (as its close used) prices the denials, not the national table."""
    own = RULES.with_rule(attrs.evolve(RULES.rule("99490"), amount=Decimal("10.00")))
    data = attrs.evolve(_program({"p1": []}), denials=[_denial("p1", "99490")])
    table = _denials_table(program_report(data, period=MARCH, rules=own))
    assert _column(table, "at stake") == [money(Decimal("10.00"))]


@settings(max_examples=30, deadline=None)
@given(
    codes=st.lists(
        st.tuples(
            st.sampled_from([r.code for r in RULES.codes if r.family in (CCM, PCM)]),
            st.sampled_from(("p1", "p2", "p3")),
            st.sampled_from((ServicePeriod.month(2026, 2), MARCH)),
        ),
        max_size=8,
    )
)
def test_the_amount_at_stake_is_what_the_close_would_have_charged(codes):
    denials = [_denial(pid, code, month, RULES.rule(code).family) for code, pid, month in codes]
    data = attrs.evolve(_program({"p1": []}), denials=denials)
    period = ServicePeriod(start=pendulum.Date(2026, 2, 1), end=MARCH.end)
    for family in (CCM, PCM):
        table = _denials_table(program_report(data, period=period, rules=RULES, family=family))
        mine = [d for d in denials if d.family is family]
        # The close prices a line of the code with its rule set: one unit of it.
        amounts = [line_amount(RULES.rule(d.code), 1) for d in mine]
        priced = [a for a in amounts if a is not None]
        # One reason, so one row (none without denials).
        assert _column(table, "codes not billed") == ([str(len(mine))] if mine else [])
        assert _column(table, "unpriced") == ([str(len(mine) - len(priced))] if mine else [])
        stake = money(sum(priced, Decimal(0))) if priced else "no listed fee"
        assert _column(table, "at stake") == ([stake] if mine else [])


# -- the worklist page: the one builder's rows ------------------------------------------------


def test_the_worklist_page_lists_the_builder_s_rows_in_its_order():
    """An urgent finding comes before an older overdue task, as carecore worklist lists them."""
    report = program_report(_program({"p1": [(3, 25, RoleClass.CLINICAL_STAFF)]}), period=MARCH)
    day = report.as_of
    items = (
        WorkItem(kind="urgent-finding", patient_id="p2", due=day.subtract(days=2), owner="rn1",
                 detail="suicidal-ideation (r1)"),
        WorkItem(kind="task", patient_id="p1", due=day.subtract(days=6), owner="rn1",
                 detail="cp1/t1"),
        WorkItem(kind="ccm-check-in", patient_id="p3", due=day, owner="rn1", detail="2026-03"),
    )  # fmt: skip
    lists = (Worklist(owner="rn1", items=items, caseload=3),)
    report = attrs.evolve(report, worklists=lists)
    (table,) = report_module._worklist_tables(report, {})
    rows = [r for r in worklist_rows(lists, today=day) if r.closed_reason is None]
    assert _column(table, "patient") == [r.patient_id for r in rows] == ["p2", "p1", "p3"]
    assert _column(table, "priority") == [r.band for r in rows] == ["urgent", "overdue", "today"]
    assert _column(table, "what to do") == [r.action for r in rows]
    assert "patient id" not in table.columns  # without names the patient column is the id


def test_the_worklist_page_tells_patients_of_one_name_apart_by_id():
    report = program_report(_program({"p1": [(3, 25, RoleClass.CLINICAL_STAFF)]}), period=MARCH)
    day = report.as_of
    items = tuple(
        WorkItem(kind="task", patient_id=pid, due=day, owner="rn1", detail=f"cp-{pid}/t1")
        for pid in ("p1", "p2")
    )
    report = attrs.evolve(report, worklists=(Worklist(owner="rn1", items=items, caseload=2),))
    names = {"p1": "Klein, Mei", "p2": "Klein, Mei"}
    (table,) = report_module._worklist_tables(report, names)
    assert _column(table, "patient") == ["Klein, Mei", "Klein, Mei"]
    assert sorted(_column(table, "patient id")) == ["p1", "p2"]


# -- the registry, worked out once ------------------------------------------------------------


def test_the_report_works_out_the_registry_and_the_minutes_once(monkeypatch):
    calls = {"registry": 0, "minutes": 0}
    real_registry, real_minutes = summary.registry, work.minutes_progress

    def registry(*args, **kwargs):
        calls["registry"] += 1
        return real_registry(*args, **kwargs)

    def minutes(*args, **kwargs):
        calls["minutes"] += 1
        return real_minutes(*args, **kwargs)

    data = _program({"p1": [(3, 17, RoleClass.CLINICAL_STAFF)], "p2": []})
    alone = program_worklists(data, today=MARCH.end, families=(CCM,), rules=RULES)
    for module in (summary, work):
        monkeypatch.setattr(module, "registry", registry)
    monkeypatch.setattr(work, "minutes_progress", minutes)
    report = program_report(data, period=MARCH, rules=RULES)
    assert calls == {"registry": 1, "minutes": 1}
    # The same lists as the builder makes on its own.
    assert report.worklists == tuple(alone.values())
