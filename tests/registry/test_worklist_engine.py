"""The worklist's minutes advice is the billing engine's: one truth, tested on fixed and generated months."""

from __future__ import annotations

import pendulum

from carecore.billing import cms_rule_set
from carecore.billing.month import MonthRecords, close_records
from carecore.model import RoleClass, ServicePeriod
from carecore.registry import registry_worklists
from tests.registry.month_records import advice, ccm_records, practitioner, time_entry

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
