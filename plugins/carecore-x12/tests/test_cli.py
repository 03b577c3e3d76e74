"""``carecore billing claims --format x12`` over a store and over a CSV close's folder."""

from __future__ import annotations

import csv
import json
import stat
from decimal import Decimal

import pendulum
import pytest
from _records import CREATED, DOCTOR, IDENTITY, MONTH, NURSE_PRACTITIONER, family_lines, people
from _x12 import pyx12_errors, segments
from carecore_x12 import plugin as x12_plugin
from click.testing import CliRunner

from carecore.billing._encode import CloseEncoder
from carecore.cli import make_app
from carecore.convert import to_primitive
from carecore.model import (
    ClaimLine,
    Coverage,
    CoveragePlan,
    Identifier,
    PatientAddress,
    ServiceFamily,
    ServicePeriod,
)
from carecore.model.billing_identity import MBI_SYSTEM
from carecore.plugins import Hooks, get_plugin_manager
from carecore.storage import open_store


@pytest.fixture
def app():
    pm = get_plugin_manager(entry_points=False)
    pm.register(x12_plugin, name="x12")
    return make_app(pm)


def _store(tmp_path, *, identity=True):
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    store = open_store(url)
    store.initialize()
    patients, mbis, addresses = people()
    with store.transaction(actor="t", reason="records", at=CREATED) as tx:
        for n, (pid, patient) in enumerate(sorted(patients.items())):
            # Half carry the MBI as an identifier, half as their Part B coverage's member id.
            if n % 2:
                tx.add(patient.__class__(**{
                    **{f: getattr(patient, f) for f in ("id", "given_name", "family_name",
                                                        "birth_date", "sex", "time_zone")},
                    "identifiers": (Identifier(system=MBI_SYSTEM, value=mbis[pid]),),
                }))  # fmt: skip
            else:
                tx.add(patient)
                tx.add(
                    Coverage(
                        id=f"{pid}-cov",
                        patient_id=pid,
                        payer="Medicare",
                        plan=CoveragePlan.MEDICARE_PART_B,
                        member_id=mbis[pid][:4] + "-" + mbis[pid][4:7] + "-" + mbis[pid][7:],
                    )
                )
            tx.add(PatientAddress(patient_id=pid, address=addresses[pid]))
        tx.add(DOCTOR)
        tx.add(NURSE_PRACTITIONER)
        if identity:
            tx.add(IDENTITY)
        for line in family_lines():
            tx.add(line)
    store.close()
    return url


def test_claims_from_a_store_validate_and_total_the_months_lines(app, tmp_path):
    url = _store(tmp_path)
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app, ["billing", "claims", "--db", url, "--month", "2026-03", "--format", "x12",
              "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="ascii")
    assert pyx12_errors(text) == []
    expected = sum((line.amount for line in family_lines()), Decimal(0))
    assert sum(Decimal(s[2]) for s in segments(text) if s[0] == "CLM") == expected
    assert len([s for s in segments(text) if s[0] == "SV1"]) == len(family_lines())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert f"{len(family_lines())} claim lines" in result.output


def test_a_store_without_billing_identity_exits_2_and_writes_nothing(app, tmp_path):
    url = _store(tmp_path, identity=False)
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app, ["billing", "claims", "--db", url, "--month", "2026-03", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "billing_identity" in result.output
    assert not out.exists()


def _close_folder(tmp_path, *, drop_mbi=None):
    folder = tmp_path / "close"
    folder.mkdir()
    rules = Hooks(get_plugin_manager(entry_points=False)).rule_sets()["cms-2026"]
    encoder = CloseEncoder(rules, MONTH)
    items = [json.loads(encoder.claim_json(line)) for line in family_lines()]
    (folder / "claims.json").write_text(json.dumps(items))
    practice = tmp_path / "practice.json"
    practice.write_text(
        json.dumps(
            {
                "billing_identity": to_primitive(IDENTITY),
                "practitioners": [to_primitive(DOCTOR), to_primitive(NURSE_PRACTITIONER)],
            }
        )
    )
    patients, mbis, addresses = people()
    roster = tmp_path / "patients.csv"
    with roster.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["patient_id", "family_name", "given_name", "birth_date", "sex", "mbi",
             "address_line1", "address_line2", "city", "state", "postal_code"]
        )  # fmt: skip
        for pid, p in sorted(patients.items()):
            a = addresses[pid]
            writer.writerow(
                [pid, p.family_name, p.given_name, p.birth_date.isoformat(), p.sex.value,
                 "" if pid == drop_mbi else mbis[pid], a.line1, a.line2 or "", a.city, a.state,
                 a.postal_code]
            )  # fmt: skip
    return folder, practice, roster


def test_claims_from_a_csv_close_folder(app, tmp_path):
    folder, practice, roster = _close_folder(tmp_path, drop_mbi="p-rtm")
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app,
        ["billing", "claims", "--close", str(folder), "--practice", str(practice),
         "--patients", str(roster), "--month", "2026-03", "--out", str(out)],
    )  # fmt: skip
    # One claim refused (no MBI for p-rtm), named with its field; the rest written.
    assert result.exit_code == 1
    assert "patient p-rtm, practitioner dr-ruiz: patient.mbi" in result.output
    text = out.read_text(encoding="ascii")
    assert "REF*EA*p-rtm~" not in text
    assert "REF*EA*p-ccm~" in text
    assert pyx12_errors(text) == []


def test_close_needs_the_practice_and_patients_files(app, tmp_path):
    folder, _practice, _roster = _close_folder(tmp_path)
    result = CliRunner().invoke(
        app,
        ["billing", "claims", "--close", str(folder), "--month", "2026-03",
         "--out", str(tmp_path / "x.837")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--practice" in result.output


def test_a_bad_patients_row_is_reported_and_its_claim_refused(app, tmp_path):
    folder, practice, roster = _close_folder(tmp_path)
    rows = roster.read_text().splitlines()
    bad = next(i for i, row in enumerate(rows) if row.startswith("p-pcm,"))
    parts = rows[bad].split(",")
    parts[3] = "1948-02-30"
    rows[bad] = ",".join(parts)
    roster.write_text("\n".join(rows) + "\n")
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app,
        ["billing", "claims", "--close", str(folder), "--practice", str(practice),
         "--patients", str(roster), "--month", "2026-03", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"refused row: patients.csv:{bad + 1}:" in result.output
    assert "patient p-pcm, practitioner dr-ruiz: patient:" in result.output
    assert "1948-02-30" not in result.output
    assert pyx12_errors(out.read_text(encoding="ascii")) == []


def test_a_practice_file_failing_its_checks_exits_2_naming_the_field(app, tmp_path):
    folder, practice, roster = _close_folder(tmp_path)
    data = json.loads(practice.read_text())
    data["billing_identity"]["npi"] = "1245319598"
    practice.write_text(json.dumps(data))
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app,
        ["billing", "claims", "--close", str(folder), "--practice", str(practice),
         "--patients", str(roster), "--month", "2026-03", "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "npi" in result.output
    assert "check digit" in result.output
    assert not out.exists()


def test_a_practice_file_replaces_the_stored_identity(app, tmp_path):
    url = _store(tmp_path)
    practice = tmp_path / "practice.json"
    other = to_primitive(IDENTITY) | {"name": "Lakeside Clinic West", "payer_id": "06202"}
    practice.write_text(json.dumps({"billing_identity": other}))
    out = tmp_path / "claims.837"
    result = CliRunner().invoke(
        app,
        ["billing", "claims", "--db", url, "--practice", str(practice), "--month", "2026-03",
         "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="ascii")
    assert "NM1*85*2*Lakeside Clinic West*****XX*1245319599~" in text
    assert "NM1*PR*2*MEDICARE PART B*****PI*06202~" in text


def test_a_tcm_line_running_into_the_next_month_is_sent_with_the_month_it_starts(app, tmp_path):
    url = _store(tmp_path)
    # TCM's 30 days from a discharge on 20 March run to 18 April: a March line.
    tcm = ClaimLine(
        patient_id="p-ccm", code="99495", units=1, family=ServiceFamily.TCM,
        billing_practitioner_id=DOCTOR.id, date_of_service=pendulum.Date(2026, 3, 27),
        period=ServicePeriod.days_from(pendulum.Date(2026, 3, 20), 30),
        amount=Decimal("220.11"), diagnoses=("I50.22",),
    )  # fmt: skip
    store = open_store(url)
    with store.transaction(actor="t", reason="close", at=CREATED) as tx:
        tx.add(tcm)
    store.close()
    march = tmp_path / "march.837"
    result = CliRunner().invoke(
        app, ["billing", "claims", "--db", url, "--month", "2026-03", "--format", "x12",
              "--out", str(march)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = march.read_text(encoding="ascii")
    assert pyx12_errors(text) == []
    charges = sorted(Decimal(s[2]) for s in segments(text) if s[0] == "SV1")
    assert charges == sorted(line.amount for line in [*family_lines(), tcm])
    assert sum(Decimal(s[2]) for s in segments(text) if s[0] == "CLM") == sum(charges)
    april = tmp_path / "april.837"
    result = CliRunner().invoke(
        app, ["billing", "claims", "--db", url, "--month", "2026-04", "--format", "x12",
              "--out", str(april)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "no claim of" in result.output
    assert not april.exists()
