"""A care gap on a worklist says what is due in words, not by the rule's id."""

from __future__ import annotations

import pendulum

from carecore.outreach import WorkItem, Worklist
from carecore.registry import worklist_rows


def test_a_gap_item_names_the_rule_by_its_title():
    day = pendulum.Date(2026, 3, 4)
    items = (
        WorkItem(kind="gap-overdue", patient_id="p1", due=day, owner="rn", detail="tdap-vaccine"),
        WorkItem(kind="gap-due", patient_id="p1", due=day, owner="rn", detail="payer-measure-7"),
    )
    rows = worklist_rows([Worklist(owner="rn", items=items, caseload=1)], today=day)
    actions = {r.detail: r.action for r in rows}
    assert actions["tdap-vaccine"] == (
        "Close the overdue care gap: Tdap once (if never given at or after 11)"
    )
    # A rule carecore does not ship (an organisation's) is named by its id.
    assert actions["payer-measure-7"] == "Close the care gap (payer-measure-7)"
