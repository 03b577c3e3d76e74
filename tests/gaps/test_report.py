"""The program report's gap-closure and adherence sections, through `carecore report`."""

from __future__ import annotations

import csv

import pendulum
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import AdministrativeSex, ClinicalService, MedicationFill, Patient, ServiceKind
from carecore.service import CareProgram

D = pendulum.Date


def test_report_shows_gap_closure_and_pdc_by_class(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    program = CareProgram.open(
        url,
        actor="t",
        clock=FixedClock(pendulum.datetime(2026, 4, 1, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    with program.transaction("setup") as tx:
        for pid in ("p1", "p2"):
            tx.add(
                Patient(
                    id=pid,
                    given_name="A",
                    family_name="B",
                    birth_date=D(1950, 1, 1),
                    sex=AdministrativeSex.MALE,
                    time_zone="UTC",
                )
            )
        # p1 gets the zoster series in the period; p2 does not.
        tx.add(
            ClinicalService(
                id="z1",
                patient_id="p1",
                kind=ServiceKind.IMMUNIZATION,
                system="CVX",
                code="187",
                on=D(2026, 1, 10),
            )
        )
        tx.add(
            ClinicalService(
                id="z2",
                patient_id="p1",
                kind=ServiceKind.IMMUNIZATION,
                system="CVX",
                code="187",
                on=D(2026, 3, 10),
            )
        )
        for i, (pid, day, supply) in enumerate(
            [
                ("p1", D(2026, 1, 1), 90),
                ("p1", D(2026, 2, 1), 30),
                ("p2", D(2026, 1, 1), 30),
                ("p2", D(2026, 3, 1), 30),
            ]
        ):
            tx.add(
                MedicationFill(
                    id=f"f{i}",
                    patient_id=pid,
                    text="Atorvastatin 20 MG",
                    drug_class="statin",
                    filled_on=day,
                    days_supply=supply,
                )
            )
    program.close()
    out = tmp_path / "report"
    result = CliRunner().invoke(
        make_app(carecore_pm),
        [
            "report",
            "--db",
            url,
            "--out",
            str(out),
            "--from",
            "2026-01",
            "--to",
            "2026-03",
            "--as-of",
            "2026-03-31",
        ],
    )
    assert result.exit_code == 0, result.output
    closure = {
        r["rule_id"]: r for r in csv.DictReader((out / "gap_closure.csv").read_text().splitlines())
    }
    assert closure["zoster-vaccine"]["open_at_start"] == "2"
    assert closure["zoster-vaccine"]["closed_by_end"] == "1"
    assert closure["zoster-vaccine"]["closure_rate"] == "0.5000"
    (statin,) = list(csv.DictReader((out / "adherence_by_class.csv").read_text().splitlines()))
    # p1: Jan 1 (90) and Feb 1 (30, shifted to Apr 1, past the end): 90/90. p2: 60/90.
    assert (statin["patients"], statin["mean_pdc"], statin["under_80_percent"]) == (
        "2",
        "0.8334",  # the mean of 1.0000 and 0.6667
        "1",
    )
    assert "Gaps in care" in (out / "index.html").read_text()


def test_worklists_carry_open_gaps_and_low_adherence_on_request(tmp_path, carecore_pm):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'w.db'}",
        actor="t",
        clock=FixedClock(pendulum.datetime(2026, 4, 1, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    with program.transaction("setup") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="A",
                family_name="B",
                birth_date=D(1950, 1, 1),
                sex=AdministrativeSex.MALE,
                time_zone="UTC",
            )
        )
        for i, day in enumerate([D(2026, 1, 1), D(2026, 3, 1)]):
            tx.add(
                MedicationFill(
                    id=f"f{i}",
                    patient_id="p1",
                    text="Atorvastatin 20 MG",
                    drug_class="statin",
                    filled_on=day,
                    days_supply=30,
                )
            )
    plain = program.worklists(on=D(2026, 3, 31))
    assert not any(
        i.kind.startswith(("gap-", "adherence")) for w in plain.values() for i in w.items
    )
    lists = program.worklists(on=D(2026, 3, 31), gaps=True, adherence=True)
    items = [i for w in lists.values() for i in w.items]
    kinds = {(i.kind, i.detail) for i in items}
    assert ("gap-overdue", "zoster-vaccine") in kinds
    assert ("adherence", "statin PDC 66.7%") in kinds  # 60 of 90 days
    program.close()
