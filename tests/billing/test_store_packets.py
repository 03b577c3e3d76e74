"""A store close's audit packets: consent evidence and the care plan as of the month, from the records."""

from __future__ import annotations

import json

import pendulum

from carecore.billing import close_store, cms_rule_set

from .test_month_facts import MARCH, at, ccm_patient, staff_minutes


def test_the_packet_shows_the_plan_as_it_stood_in_the_month(tmp_path):
    from carecore.service import CareProgram

    program = CareProgram.open("memory://", actor="test", clock=at(2026, 1, 5))
    ccm_patient(program, agreed=False)  # drafted Jan 5
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 22), 25))
    program.clock = at(2026, 3, 20)
    program.revise_care_plan("p1-cp", lambda p: p.activate(), reason="agreed with the patient")
    program.clock = at(2026, 5, 2)
    program.close_care_plan("p1-cp")  # after March: not part of March's packet
    summary = close_store(program, MARCH, cms_rule_set(2026), tmp_path / "out")
    assert summary.claim_lines == 1
    (packet,) = [
        json.loads(line)
        for line in (tmp_path / "out" / "audit" / "packets.jsonl").read_text().splitlines()
    ]
    plan = packet["care_plan"]["CCM"]
    assert plan["status"] == "active"
    assert [(v["version"], v["status"], v["written_on"]) for v in plan["history"]] == [
        (1, "draft", None),
        (2, "active", "2026-03-20"),
    ]
    assert packet["consent"]["CCM"] == {
        "obtained_on": "2026-01-05",
        "method": "verbal",
        "obtained_by": "dr1",
        "cost_sharing_explained": True,
        "revoked_on": None,
    }
    assert [(e["role"], e["credential"]) for e in packet["time_log"]] == [("clinical_staff", "RN")]


def test_packet_claim_lines_carry_the_rule_id_billing_evaluate_gives(tmp_path):
    # Failed before: a packet's claim line had the code's title in `rule` ("Each additional
    # 20 minutes of clinical staff CCM"), where `billing evaluate` JSON has a rule id.
    from carecore.billing.scenarios import result_to_json
    from carecore.service import CareProgram

    rules = cms_rule_set(2026)
    program = CareProgram.open("memory://", actor="test", clock=at(2026, 1, 5))
    ccm_patient(program)
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 4), 25))
        tx.add(staff_minutes(2, pendulum.Date(2026, 3, 18), 20))
    program.clock = at(2026, 4, 2)
    close_store(program, MARCH, rules, tmp_path / "out")
    (packet,) = [
        json.loads(line)
        for line in (tmp_path / "out" / "audit" / "packets.jsonl").read_text().splitlines()
    ]
    lines = packet["claim_lines"]
    assert [(line["code"], line["rule"]) for line in lines] == [
        ("99439", "ccm.99439"),
        ("99490", "ccm.99490"),
    ]
    assert [line["rule_title"] for line in lines] == [
        rules.rule("99439").summary,
        rules.rule("99490").summary,
    ]
    (result,) = program.evaluate_period(MARCH, rules=rules, reason="compare")
    evaluated = result_to_json("p1", result)["billable"]
    assert sorted((b["code"], b["rule"]) for b in evaluated) == sorted(
        (line["code"], line["rule"]) for line in lines
    )


def test_a_store_close_gives_a_code_with_no_listed_fee_no_amount(tmp_path):
    # summary.json of a store close: a code with no listed fee has amount null (never "0")
    # and unpriced_lines counts its lines, as the CSV closes do (issue 15, item 7).
    import attrs

    from carecore.service import CareProgram

    full = cms_rule_set(2026)
    rules = attrs.evolve(
        full,
        codes=tuple(attrs.evolve(c, amount=None) if c.code == "99490" else c for c in full.codes),
    )
    assert rules.rule("99490").amount is None
    program = CareProgram.open("memory://", actor="test", clock=at(2026, 1, 5))
    ccm_patient(program)
    with program.transaction("time") as tx:
        tx.add(staff_minutes(1, pendulum.Date(2026, 3, 4), 25))
    program.clock = at(2026, 4, 2)
    summary = close_store(program, MARCH, rules, tmp_path / "out")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {c["code"]: c["amount"] for c in written["codes"]} == {"99490": None}
    assert written["unpriced_lines"] == summary.unpriced_lines == 1
    assert written["expected_revenue"] == "0"
