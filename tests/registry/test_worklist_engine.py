"""The worklist's minutes advice is the billing engine's: one truth, tested on fixed and generated months."""

from __future__ import annotations

import pendulum
from attrs import evolve
from hypothesis import event, given
from hypothesis import strategies as st

from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords, close_records, evaluate_records
from carecore.model import Credential, RoleClass, ServiceFamily, ServicePeriod
from carecore.registry import registry_worklists
from tests.registry.month_records import (
    ROLE_CREDENTIALS,
    advice,
    ccm_records,
    practitioner,
    time_entry,
)

RULES = cms_rule_set(2026)
MARCH = ServicePeriod.month(2026, 3)
TODAY = pendulum.Date(2026, 3, 10)


def _minutes_items(lists):
    return [i for wl in lists.values() for i in wl.items if i.kind == "minutes-to-threshold"]


def test_chw_minutes_do_not_shorten_the_advice_and_following_it_bills_the_month():
    # 12 RN minutes count toward 99490; 5 CHW minutes do not (CHI/PIN only).
    records = ccm_records("p1")
    entries = [
        time_entry("t1", "p1", 12, pendulum.Date(2026, 3, 2)),
        time_entry("t2", "p1", 5, pendulum.Date(2026, 3, 4), role=RoleClass.AUXILIARY),
    ]
    lists = registry_worklists(
        today=TODAY,
        enrollments=records["enrollments"],
        care_plans=records["care_plans"],
        time_entries=entries,
        rules=RULES,
        patients=records["patients"],
        practitioners=[practitioner()],
        conditions=records["conditions"],
        consents=records["consents"],
        visits=records["visits"],
    )
    (item,) = _minutes_items(lists)
    needed, code = advice(item.detail)
    assert (needed, code) == (8, "99490")
    # The care manager does exactly what the worklist says, and the month closes billable.
    followed = [*entries, time_entry("t3", "p1", needed, TODAY)]
    month = MonthRecords(
        practitioners=[practitioner()],
        time_entries=followed,
        **records,
    )
    (result,) = close_records(month, MARCH, RULES)
    assert (code, 1) in result.billable


# -- generated months -----------------------------------------------------------


#: The time-based programs a patient may be enrolled in.
PROGRAMS = (ServiceFamily.CCM, ServiceFamily.PCM, ServiceFamily.BHI)
#: Every role, clinical staff the most often (so months reach the add-on codes too).
ROLES = (*ROLE_CREDENTIALS, RoleClass.CLINICAL_STAFF, RoleClass.CLINICAL_STAFF)


@st.composite
def entries_of(draw, pid, family):
    out = []
    for n in range(draw(st.integers(0, 12))):
        role = draw(st.sampled_from(ROLES))
        out.append(
            time_entry(
                f"{pid}-t{n}",
                pid,
                draw(st.integers(1, 40)),
                pendulum.Date(2026, 2, 27).add(days=draw(st.integers(0, 34))),
                role=role,
                credential=draw(st.sampled_from(ROLE_CREDENTIALS[role])),
                family=draw(st.sampled_from((family, family, family, *PROGRAMS))),
            )
        )
    return out


@st.composite
def months(draw):
    """1-3 patients of one practitioner, each in CCM, PCM or BHI: complete records or not,
    consent early or mid-month."""
    dr = practitioner(
        credential=draw(st.sampled_from([Credential.MD, Credential.NP, Credential.LCSW]))
    )
    today = pendulum.Date(2026, 3, draw(st.integers(1, 31)))
    records = {"patients": [], "entries": [], "complete": set(), "family": {}}
    merged: dict[str, list] = {}
    for i in range(draw(st.integers(1, 3))):
        pid = f"p{i}"
        family = draw(st.sampled_from(PROGRAMS))
        records["family"][pid] = family
        mine = ccm_records(pid, family=family)
        consent_day = draw(
            st.one_of(
                st.just(mine["consents"][0].obtained_on),
                st.integers(1, today.day).map(lambda d: pendulum.Date(2026, 3, d)),
            )
        )
        mine["consents"] = [evolve(mine["consents"][0], obtained_on=consent_day)]
        missing = draw(st.sampled_from([None, "care_plans", "conditions", "visits"]))
        if missing is None:
            records["complete"].add(pid)
        else:
            mine[missing] = []
        for name, items in mine.items():
            merged.setdefault(name, []).extend(items)
        records["entries"].extend(draw(entries_of(pid, family)))
    return dr, today, merged, records["entries"], records["complete"], records["family"]


def _close(dr, records, entries):
    month = MonthRecords(practitioners=[dr], time_entries=entries, **records)
    return {facts.patient.id: result for facts, result in evaluate_records(month, MARCH, RULES)}


def _units(result, code):
    return sum(units for c, units in result.billable if c == code)


def _countable(dr, pid, n, day, message, family):  # noqa: PLR0917
    """*n* minutes of whoever the advice names: the practitioner personally, else clinical staff."""
    if "personal" in message:
        role = RoleClass.PHYSICIAN if dr.credential is Credential.MD else RoleClass.QHP
        return time_entry(
            f"{pid}-more", pid, n, day, role=role, credential=dr.credential, family=family
        )
    return time_entry(f"{pid}-more", pid, n, day, family=family)


@given(months())
def test_the_worklist_advice_is_the_engines_and_following_it_reaches_the_code(month):
    dr, today, records, entries, complete, families = month
    so_far = [t for t in entries if t.service_date <= today]
    lists = registry_worklists(
        today=today,
        enrollments=records["enrollments"],
        care_plans=records["care_plans"],
        time_entries=entries,
        rules=RULES,
        patients=records["patients"],
        practitioners=[dr],
        conditions=records["conditions"],
        consents=records["consents"],
        visits=records["visits"],
    )
    items = {i.patient_id: i for i in _minutes_items(lists)}
    now = _close(dr, records, so_far)
    for pid, result in now.items():
        family = families[pid]
        hints = [
            h
            for h in result.hints
            if h.family is family and h.practitioner == dr.id and h.minutes_needed
        ]
        item = items.get(pid)
        if hints:
            # The engine names minutes: the worklist gives its nearest hint, word for word.
            assert item is not None, pid
            needed, code = advice(item.detail)
            event(f"engine hint {code}" + (" (a further unit)" if "unit" in item.detail else ""))
            event(f"family {family.value}")
            assert needed == min(h.minutes_needed for h in hints)
            assert (code, needed) in {(h.code, h.minutes_needed) for h in hints}
            said = item.detail.partition(": ")[2].partition("; the month would")[0]
            assert said == next(
                h.message for h in hints if (h.code, h.minutes_needed) == (code, needed)
            )
        if not hints:
            # The engine names no minutes now: the worklist gives advice exactly when the
            # engine names some once a first clinical-staff minute is logged (no one has
            # logged a countable minute yet); the advice itself is checked below.
            consent = next(k.obtained_on for k in records["consents"] if k.patient_id == pid)
            first = time_entry(f"{pid}-first", pid, 1, max(consent, MARCH.start), family=family)
            probed = _close(dr, records, [*so_far, first])[pid]
            then = [
                (h.code, h.minutes_needed)
                for h in probed.hints
                if h.family is family and h.practitioner == dr.id and h.minutes_needed
            ]
            assert (item is None) == (then == []), (pid, item, then)
            if item is not None:
                event("no engine hint yet: the worklist asked the engine about a first minute")
                assert advice(item.detail)[1] in {code for code, _ in then}, (item.detail, then)
        if item is None:
            continue
        needed, code = advice(item.detail)
        message, _, refused = item.detail.partition(": ")[2].partition(
            "; the month would still be refused: "
        )
        before = _units(result, code)
        more = _countable(dr, pid, needed, today, message, family)
        reached = _close(dr, records, [*so_far, more])
        if refused:
            # The worklist says the minutes alone will not bill the month, and why; never
            # for a physician's patient whose records are complete.
            event("advice with the close's refusal")
            assert pid not in complete or dr.credential is not Credential.MD, item.detail
            assert _units(reached[pid], code) == before, (item.detail, reached[pid].billable)
            continue
        # Following the advice exactly reaches the code; one minute fewer does not.
        event("advice followed")
        assert _units(reached[pid], code) == before + 1, (item.detail, reached[pid].billable)
        if needed > 1:
            less = _countable(dr, pid, needed - 1, today, message, family)
            short = _close(dr, records, [*so_far, less])
            assert _units(short[pid], code) == before, (item.detail, short[pid].billable)


def test_no_minutes_advice_for_a_month_the_close_refuses_for_its_coverage():
    from carecore.model import Coverage, CoveragePlan

    records = ccm_records("p1")
    entries = [time_entry("t1", "p1", 5, pendulum.Date(2026, 3, 2))]

    def items(plan):
        cover = Coverage(id="cov", patient_id="p1", payer="Payer", plan=plan)
        return _minutes_items(
            registry_worklists(
                today=TODAY,
                enrollments=records["enrollments"],
                care_plans=records["care_plans"],
                time_entries=entries,
                rules=RULES,
                patients=records["patients"],
                practitioners=[practitioner()],
                conditions=records["conditions"],
                consents=records["consents"],
                visits=records["visits"],
                coverages=[cover],
            )
        )

    assert [i.detail for i in items(CoveragePlan.MEDICARE_PART_B)] == [
        "CCM: 15 more clinical-staff minutes reach 99490"
    ]
    # Medicare Advantage: the close refuses the month under the CMS Part B rules,
    # and no number of minutes changes that.
    assert items(CoveragePlan.MEDICARE_ADVANTAGE) == []
