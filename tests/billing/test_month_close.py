"""A month closed from stored records: CareProgram.close_month and billing._month.close_records."""

from __future__ import annotations

import pendulum
import pytest
from attrs import evolve

from carecore import errors
from carecore.billing import cms_rule_set
from carecore.billing._month import MonthRecords, close_records
from carecore.careplans import draft_plan
from carecore.model import (
    AssessmentDomain,
    AssessmentNote,
    ClaimLine,
    Coding,
    Condition,
    Consent,
    ConsentMethod,
    Credential,
    Denial,
    FaceToFaceVisit,
    MdmLevel,
    Practitioner,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
    VisitKind,
)
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

MARCH = ServicePeriod.month(2026, 3)
DR = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
RN = Practitioner(id="rn1", name="Jin Park", credential=Credential.RN)


def chronic(pid: str) -> list[Condition]:
    return [
        Condition(
            id=f"{pid}-c{i}",
            patient_id=pid,
            coding=Coding.icd10cm(code),
            chronic=True,
            significant_risk=True,
            onset=pendulum.Date(2019, 1, 1),
        )
        for i, code in enumerate(("E11.65", "I50.22"))
    ]


def consent(pid: str) -> Consent:
    return Consent(
        id=f"{pid}-k",
        patient_id=pid,
        family=ServiceFamily.CCM,
        method=ConsentMethod.VERBAL,
        obtained_on=pendulum.Date(2026, 1, 5),
        obtained_by="rn1",
        billing_practitioner_id="dr1",
        cost_sharing_explained=True,
    )


def minutes(pid: str, n: int, amount: int, day: int = 10) -> TimeEntry:
    return TimeEntry(
        id=f"{pid}-t{n}",
        patient_id=pid,
        performer_id="rn1",
        credential=Credential.RN,
        role_class=RoleClass.CLINICAL_STAFF,
        minutes=amount,
        family=ServiceFamily.CCM,
        activity="check-in call",
        service_date=pendulum.Date(2026, 3, day),
        billing_practitioner_id="dr1",
    )


def visit(pid: str) -> FaceToFaceVisit:
    return FaceToFaceVisit(
        id=f"{pid}-v",
        patient_id=pid,
        on=pendulum.Date(2026, 1, 5),
        kind=VisitKind.OFFICE_EM,
        mdm=MdmLevel.MODERATE,
        billing_practitioner_id="dr1",
        em_code="99214",
    )


def plan(pid: str):
    draft = draft_plan(
        f"{pid}-cp",
        pid,
        conditions=chronic(pid),
        on=pendulum.Date(2026, 1, 5),
        responsible_id="dr1",
    )
    return evolve(
        draft,
        expected_outcome="Stable",
        shared_with_patient_on=pendulum.Date(2026, 1, 5),
        assessments=[
            AssessmentNote(domain=d, summary="done")
            for d in (
                AssessmentDomain.FUNCTIONAL,
                AssessmentDomain.ENVIRONMENTAL,
                AssessmentDomain.CAREGIVER,
            )
        ],
    ).activate()


@pytest.fixture
def program():
    """Three patients: p1 complete with 45 staff minutes, p2 the same without consent, p3 with 12 minutes."""
    prog = CareProgram.open("memory://", actor="test")
    with prog.transaction("setup") as tx:
        tx.add(DR)
        tx.add(RN)
        for pid in ("p1", "p2", "p3"):
            tx.add(make_patient(pid))
            for c in chronic(pid):
                tx.add(c)
            tx.add(visit(pid))
            tx.add(plan(pid))
            if pid != "p2":
                tx.add(consent(pid))
        for n, amount in enumerate((20, 25)):
            tx.add(minutes("p1", n, amount))
            tx.add(minutes("p2", n, amount))
        tx.add(minutes("p3", 0, 12))
        tx.add(minutes("p1", 9, 1, day=28))
    return prog


def test_each_patient_is_billed_from_the_store(program):
    results = {r.patient_id: r for r in program.close_month(MARCH)}
    # p1: 20 + 25 + 1 = 46 staff minutes: 99490 (first 20) and one 99439 (next 20).
    assert results["p1"].billable == [("99439", 1), ("99490", 1)]
    # p2 has no consent: nothing billable, and the denial says so.
    assert results["p2"].billable == []
    assert any(d.reason.value == "no_consent" for d in results["p2"].denials)
    # p3: 12 minutes do not reach 99490.
    assert results["p3"].billable == []
    with program.transaction("read") as tx:
        lines = tx.all(ClaimLine)
        denials = tx.all(Denial)
    assert sorted((line.patient_id, line.code) for line in lines) == [
        ("p1", "99439"),
        ("p1", "99490"),
    ]
    assert {d.patient_id for d in denials} >= {"p2", "p3"}


def test_closing_again_replaces_the_earlier_close(program):
    program.close_month(MARCH)
    with program.transaction("more time") as tx:
        tx.add(minutes("p3", 1, 10, day=20))
    program.close_month(MARCH)
    with program.transaction("read") as tx:
        lines = sorted((line.patient_id, line.code) for line in tx.all(ClaimLine))
    assert lines == [("p1", "99439"), ("p1", "99490"), ("p3", "99490")]


def test_another_month_is_closed_on_its_own(program):
    program.close_month(MARCH)
    program.close_month(ServicePeriod.month(2026, 4))  # no minutes in April
    with program.transaction("read") as tx:
        lines = tx.all(ClaimLine)
    assert {line.period for line in lines} == {MARCH}


def test_progress_counts_every_patient(program):
    seen = []
    program.close_month(MARCH, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_bad_arguments_are_refused_by_name(program):
    with pytest.raises(errors.InvalidValue) as info:
        program.close_month("2026-03")  # type: ignore[arg-type]
    assert info.value.field == "period"
    with pytest.raises(errors.InvalidValue) as info:
        close_records(MonthRecords(patients=[], practitioners=[]), MARCH, "cms-2026")  # type: ignore[arg-type]
    assert info.value.field == "rules"
    with pytest.raises(errors.InvalidValue) as info:
        MonthRecords(patients=[make_patient("p1")], practitioners=["dr1"])  # type: ignore[list-item]
    assert info.value.field == "practitioners[0]"


def test_a_practitioner_who_bills_nothing_for_the_patient_is_not_evaluated():
    # Only dr1 is named by p1's records; dr2 (another MD) never appears in the result.
    dr2 = Practitioner(id="dr2", name="Dr. Other", credential=Credential.MD)
    records = MonthRecords(
        patients=[make_patient("p1")],
        practitioners=[DR, dr2],
        conditions=chronic("p1"),
        consents=[consent("p1")],
        visits=[visit("p1")],
        time_entries=[minutes("p1", 0, 22)],
        care_plans=[plan("p1")],
    )
    (result,) = close_records(records, MARCH, cms_rule_set(2026))
    assert [(line.code, line.billing_practitioner_id) for line in result.claim_lines] == [
        ("99490", "dr1")
    ]


def test_a_patient_no_record_names_a_practitioner_for_is_left_out():
    records = MonthRecords(
        patients=[make_patient("p1"), make_patient("p2")],
        practitioners=[DR],
        conditions=chronic("p1") + chronic("p2"),
        consents=[consent("p1")],
        visits=[visit("p1")],
        time_entries=[minutes("p1", 0, 22)],
        care_plans=[plan("p1"), plan("p2")],
    )
    assert [r.patient_id for r in close_records(records, MARCH, cms_rule_set(2026))] == ["p1"]


def test_two_practitioners_with_the_same_denial_close_without_a_clash():
    # Review finding: dr1 and dr2 each log too few minutes; both get "below threshold" for 99490.
    dr2 = Practitioner(id="dr2", name="Dr. Two", credential=Credential.MD)
    prog = CareProgram.open("memory://", actor="test")
    with prog.transaction("setup") as tx:
        for p in (DR, RN, dr2):
            tx.add(p)
        tx.add(make_patient("p1"))
        for c in chronic("p1"):
            tx.add(c)
        tx.add(consent("p1"))
        tx.add(visit("p1"))
        tx.add(plan("p1"))
        tx.add(minutes("p1", 0, 12))
        tx.add(evolve(minutes("p1", 1, 5), billing_practitioner_id="dr2"))
    (result,) = prog.close_month(MARCH)
    assert result.billable == []
    with prog.transaction("read") as tx:
        stored = tx.all(Denial)
    keys = [(d.code, d.reason, d.rule) for d in stored]
    assert len(keys) == len(set(keys))
    assert ("99490", "below_threshold") in {(d.code, d.reason.value) for d in stored}


@pytest.mark.parametrize(
    "changes",
    [
        {"billing_practitioner_id": "dr2"},  # a visit with another practitioner
        {"kind": VisitKind.EM_99211_STAFF, "em_code": "99211"},  # a nurse visit
        {"on": pendulum.Date(2024, 12, 1)},  # more than a year before the consent
    ],
)
def test_only_a_qualifying_visit_with_the_billing_practitioner_initiates_ccm(changes):
    dr2 = Practitioner(id="dr2", name="Dr. Two", credential=Credential.MD)
    records = MonthRecords(
        patients=[make_patient("p1")],
        practitioners=[DR, dr2],
        conditions=chronic("p1"),
        consents=[consent("p1")],
        visits=[evolve(visit("p1"), **changes)],
        time_entries=[minutes("p1", 0, 25)],
        care_plans=[plan("p1")],
    )
    results = {r.patient_id: r for r in close_records(records, MARCH, cms_rule_set(2026))}
    assert results["p1"].billable == []
    assert "no_initiating_visit" in {d.reason.value for d in results["p1"].denials}


def _episode(pid: str, day: int, month: int = 3, **changes):
    from carecore.model import CareSetting, TransitionEpisode

    discharged = pendulum.datetime(2026, month, day, 14, tz="America/Chicago")
    values = {
        "id": f"ep-{month}-{day}",
        "patient_id": pid,
        "discharge_event_id": f"adt-{month}-{day}",
        "discharged_at": discharged,
        "from_setting": CareSetting.INPATIENT_ACUTE,
        "to_setting": CareSetting.HOME,
    }
    values.update(changes)
    return TransitionEpisode(**values)


def _tcm_follow_up(pid: str, day: int, month: int = 3):
    from carecore.model import ContactMode, InteractiveContact

    contact = InteractiveContact(
        id=f"c-{month}-{day}",
        patient_id=pid,
        at=pendulum.datetime(2026, month, day + 1, 10, tz="America/Chicago"),
        mode=ContactMode.PHONE,
        successful=True,
        role_class=RoleClass.CLINICAL_STAFF,
        performer_id="rn1",
        family=ServiceFamily.TCM,
        billing_practitioner_id="dr1",
    )
    seen = FaceToFaceVisit(
        id=f"tcm-v-{month}-{day}",
        patient_id=pid,
        on=pendulum.Date(2026, month, day + 5),
        kind=VisitKind.TCM_F2F,
        mdm=MdmLevel.MODERATE,
        billing_practitioner_id="dr1",
    )
    return contact, seen


def test_a_discharge_that_cannot_qualify_does_not_hide_a_later_one():
    from carecore.model import CareSetting

    ed = _episode("p1", 3, from_setting=CareSetting.EMERGENCY_DEPARTMENT, qualifies=False)
    inpatient = _episode("p1", 13)
    contact, seen = _tcm_follow_up("p1", 13)
    records = MonthRecords(
        patients=[make_patient("p1")],
        practitioners=[DR],
        contacts=[contact],
        visits=[seen],
        episodes=[ed, inpatient],
    )
    (result,) = close_records(records, MARCH, cms_rule_set(2026))
    assert [(line.code, line.period.start) for line in result.claim_lines] == [
        ("99495", pendulum.Date(2026, 3, 13))
    ]


def test_no_second_tcm_for_a_discharge_within_the_30_days_of_one_billed_before():
    prog = CareProgram.open("memory://", actor="test")
    first, second = _episode("p1", 24), _episode("p1", 6, month=4)
    with prog.transaction("setup") as tx:
        tx.add(DR)
        tx.add(RN)
        tx.add(make_patient("p1"))
        for ep in (first, second):
            tx.add(ep)
        for item in (*_tcm_follow_up("p1", 24), *_tcm_follow_up("p1", 6, month=4)):
            tx.add(item)
    (march,) = prog.close_month(MARCH)
    (april,) = prog.close_month(ServicePeriod.month(2026, 4))
    assert [line.code for line in march.claim_lines] == ["99495"]
    assert april.claim_lines == ()
    assert [(d.code, d.reason.value) for d in april.denials if d.rule == "tcm.one_per_30_days"] == [
        ("99495", "already_billed_in_period")
    ]


def test_only_a_calendar_month_is_closed(program):
    with pytest.raises(errors.InvalidValue) as info:
        program.close_month(
            ServicePeriod(start=pendulum.Date(2026, 3, 1), end=pendulum.Date(2026, 4, 30))
        )
    assert info.value.field == "period"


def _stored_practice(url: str) -> None:
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
        tx.add(consent("p1"))  # p2 never consented
        for n, amount in enumerate((20, 25)):
            tx.add(minutes("p1", n, amount))
            tx.add(minutes("p2", n, amount))
    prog.close()


def test_billing_close_over_a_store_writes_the_files_and_stores_the_close(tmp_path):
    import csv
    import json

    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    url = f"sqlite:///{tmp_path / 'practice.db'}"
    _stored_practice(url)
    out = tmp_path / "close"
    app = make_app(get_plugin_manager(entry_points=False))
    args = [
        "billing",
        "close",
        "--month",
        "2026-03",
        "--db",
        url,
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(r["patient_id"], r["code"], r["units"]) for r in csv.DictReader(handle)]
    # p1: 45 staff minutes -> 99490 and one 99439; p2 has no consent.
    assert sorted(rows) == [("p1", "99439", "1"), ("p1", "99490", "1")]
    packets = [
        json.loads(line)
        for line in (out / "audit" / "packets.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    (p1,) = [p for p in packets if p["patient_id"] == "p1"]
    assert p1["rule_set"]["id"] == "cms-2026"
    assert sorted(e["minutes"] for e in p1["time_log"]) == [20, 25]
    # The store's consent record and care-plan versions, where a CSV close says "not recorded".
    assert p1["schema"] == "carecore.audit-packet/3"
    assert p1["consent"] == {
        "CCM": {
            "obtained_on": "2026-01-05",
            "method": "verbal",
            "obtained_by": "rn1",
            "cost_sharing_explained": True,
            "revoked_on": None,
        }
    }
    plan_entry = p1["care_plan"]["CCM"]
    assert plan_entry["status"] == "active"
    # Every stored version, oldest first (this plan was stored once, already agreed).
    assert [(v["version"], v["status"]) for v in plan_entry["history"]] == [(2, "active")]
    assert {e["credential"] for e in p1["time_log"]} <= {"RN", "MD", None}
    assert all(line["rule"] and line["sources"] for line in p1["claim_lines"])
    with CareProgram.open(url, actor="test") as prog, prog.transaction("read") as tx:
        stored = sorted((line.patient_id, line.code) for line in tx.all(ClaimLine))
        denied = {d.patient_id for d in tx.all(Denial)}
    assert stored == [("p1", "99439"), ("p1", "99490")]
    assert "p2" in denied
    again = CliRunner().invoke(app, args)  # a re-close replaces the stored one
    assert again.exit_code == 0, again.output
    with CareProgram.open(url, actor="test") as prog, prog.transaction("read") as tx:
        assert len(tx.all(ClaimLine)) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--db", "memory://", "--patients", "p.csv", "--events", "e.csv"], "not both"),
        ([], "--db URL"),
    ],
)
def test_billing_close_needs_one_source(extra, message):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    app = make_app(get_plugin_manager(entry_points=False))
    result = CliRunner().invoke(app, ["billing", "close", "--month", "2026-03", *extra])
    assert result.exit_code != 0
    assert message in result.output


def test_billing_close_over_a_store_takes_the_setting_and_the_coverage_switch(tmp_path):
    import csv

    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    url = f"sqlite:///{tmp_path / 'practice.db'}"
    _stored_practice(url)
    app = make_app(get_plugin_manager(entry_points=False))

    def close(*extra):
        out = tmp_path / "-".join(["close", *extra]).replace("--", "")
        args = ["billing", "close", "--month", "2026-03", "--db", url, "--out", str(out)]
        result = CliRunner().invoke(app, [*args, "--no-progress", *extra])
        assert result.exit_code == 0, result.output
        with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
            claims = sorted(r["code"] for r in csv.DictReader(handle))
        with (out / "denials.csv").open(newline="", encoding="utf-8") as handle:
            reasons = {(r["patient_id"], r["reason"]) for r in csv.DictReader(handle)}
        return claims, reasons

    office_claims, office_reasons = close()
    assert office_claims == ["99439", "99490"]
    assert ("p1", "not_in_effect") not in office_reasons
    # An RHC is told that G0511 is no longer payable (2026): the setting reached the engine.
    rhc_claims, rhc_reasons = close("--setting", "rhc")
    assert rhc_claims == ["99439", "99490"]
    assert ("p1", "not_in_effect") in rhc_reasons
    # No coverage record: assumed Part B by default, refused when coverage is required.
    claims, reasons = close("--require-coverage")
    assert claims == []
    assert ("p1", "not_covered") in reasons


def test_store_only_options_are_refused_for_a_csv_close(tmp_path):
    from click.testing import CliRunner

    from carecore.cli import make_app
    from carecore.plugins import get_plugin_manager

    app = make_app(get_plugin_manager(entry_points=False))
    args = ["billing", "close", "--month", "2026-03", "--patients", "p.csv", "--events", "e.csv"]
    result = CliRunner().invoke(app, [*args, "--setting", "rhc"])
    assert result.exit_code == 2
    assert "--db" in result.output


def test_close_month_refuses_a_bad_setting_by_name():
    program = CareProgram.open("memory://")
    with pytest.raises(errors.InvalidValue) as info:
        program.close_month(ServicePeriod.month(2026, 3), setting="clinic")
    assert info.value.field == "setting"
    with pytest.raises(errors.InvalidValue) as info:
        program.close_month(ServicePeriod.month(2026, 3), require_coverage="yes")
    assert info.value.field == "require_coverage"
