"""De-identified export: none of the demo patients' identifiers in the output; stable pseudonyms."""

from __future__ import annotations

import datetime as dt
import json
import re
import stat

import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.deidentify import RESTRICTED_ZIP3, Deidentifier
from carecore.model import ContactPreferences, Coverage, Patient, PatientAddress, PatientLink
from carecore.storage import open_store
from carecore.testing._store_contract import AT

KEY = "a research key for the privacy tests"


def _identifiers(url):
    """Every identifier of the store's patients: names, birth dates, addresses, contacts, numbers."""
    store = open_store(url)
    try:
        with store.transaction(actor="t", reason="r", at=AT) as tx:
            patients = tx.all(Patient)
            addresses = tx.all(PatientAddress)
            contacts = tx.all(ContactPreferences)
            coverages = tx.all(Coverage)
            links = tx.all(PatientLink)
    finally:
        store.close()
    words: set[str] = set()
    texts: set[str] = set()
    for p in patients:
        words |= {p.given_name, p.family_name, p.id}
        texts.add(p.birth_date.isoformat())
        texts |= {i.value for i in p.identifiers}
    for a in addresses:
        texts |= {a.address.line1, a.address.city}
        if a.address.line2:
            texts.add(a.address.line2)
        texts.add(re.sub(r"\D", "", a.address.postal_code)[:5])
    for c in contacts:
        texts |= {x for x in (c.phone, c.email) if x}
    texts |= {c.member_id for c in coverages if c.member_id}
    texts |= {link.value for link in links}
    return patients, {w for w in words if w}, {t for t in texts if t}


def _export(url, out, *args, key=KEY):
    return CliRunner().invoke(
        make_app(),
        ["export", "--deidentify", "safe-harbor", "--db", url, "--out", str(out), *args],
        env={
            "CARECORE_DEIDENTIFY_KEY": key,
            "CARECORE_ACTOR": "researcher-1",
            "CARECORE_ACTOR_ROLES": "researcher",  # may export de-identified, nothing else
        },
    )


def _text(out):
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def safe_harbor(demo_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "safe-harbor"
    result = _export(demo_store, out, "--as-of", "2026-06-30")
    assert result.exit_code == 0, result.output
    return out


def test_no_identifier_of_the_demo_patients_is_in_the_export(demo_store, safe_harbor):
    patients, words, texts = _identifiers(demo_store)
    assert len(patients) >= 10
    files = _text(safe_harbor)
    assert "patients.jsonl" in files
    assert "patient_links.jsonl" not in files
    everything = "\n".join(files.values())
    found = [t for t in texts if t in everything]
    found += [w for w in words if re.search(rf"\b{re.escape(w)}\b", everything)]
    assert found == []
    assert KEY not in everything
    # No date more precise than a year in any record (the manifest names the day ages are on).
    records = "\n".join(text for name, text in files.items() if name.endswith(".jsonl"))
    assert re.search(r"\d{4}-\d{2}-\d{2}", records) is None
    assert re.search(r'"zip": "\d{5}"', everything) is None


def test_every_patient_is_there_under_a_pseudonym_with_age_grouped(demo_store, safe_harbor):
    patients, _, _ = _identifiers(demo_store)
    rows = [json.loads(line) for line in (safe_harbor / "patients.jsonl").read_text().splitlines()]
    assert len(rows) == len(patients)
    rules = Deidentifier(key=KEY, as_of=dt.date(2026, 6, 30))
    by_id = {r["id"]: r for r in rows}
    for p in patients:
        row = by_id[rules.pseudonym(p.id)]
        age = rules.age(p.birth_date)
        assert row["age"] == age
        if age == "90+":
            assert "birth_year" not in row
        else:
            assert row["birth_year"] == p.birth_date.year
    # The same pseudonym joins the other files.
    plans = (safe_harbor / "care_plans.jsonl").read_text()
    assert any(pid in plans for pid in by_id)


def test_files_are_0600_and_the_folder_0700(safe_harbor):
    assert stat.S_IMODE(safe_harbor.stat().st_mode) == 0o700
    for path in safe_harbor.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_pseudonyms_are_stable_for_a_key_and_change_with_it(demo_store, safe_harbor, tmp_path):
    assert _export(demo_store, tmp_path / "again", "--as-of", "2026-06-30").exit_code == 0
    assert _text(tmp_path / "again") == _text(safe_harbor)
    other = _export(demo_store, tmp_path / "other", "--as-of", "2026-06-30", key=KEY + "!")
    assert other.exit_code == 0
    first = (safe_harbor / "patients.jsonl").read_text()
    second = (tmp_path / "other" / "patients.jsonl").read_text()
    ids = {json.loads(line)["id"] for line in second.splitlines()}
    assert not any(i in first for i in ids)


def test_a_limited_data_set_keeps_dates_and_five_digit_zips_but_no_names(demo_store, tmp_path):
    out = tmp_path / "lds"
    result = _export(demo_store, out, "--limited-data-set", "--as-of", "2026-06-30")
    assert result.exit_code == 0, result.output
    patients, words, _ = _identifiers(demo_store)
    everything = "\n".join(_text(out).values())
    assert re.search(r'"zip": "\d{5}"', everything)
    assert all(p.birth_date.isoformat() in everything for p in patients)
    assert [w for w in words if re.search(rf"\b{re.escape(w)}\b", everything)] == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == "limited-data-set"


def test_the_export_is_audited_per_patient_under_the_actor(demo_store, safe_harbor):
    result = CliRunner().invoke(
        make_app(), ["audit", "--actor", "researcher-1", "--db", demo_store, "--format", "json"]
    )
    rows = json.loads(result.output)
    patients, _, _ = _identifiers(demo_store)
    bulk = [r for r in rows if r["action"] == "bulk-read"]
    assert {r["patient_id"] for r in bulk} == {p.id for p in patients}
    # Where the records went is in the reason (this module's export, among others).
    assert f"research export (safe-harbor) to {safe_harbor.resolve()}" in {
        r["reason"] for r in bulk
    }


@pytest.mark.parametrize(
    ("zip_code", "safe", "limited"),
    [
        ("60614", "606", "60614"),
        ("60614-1234", "606", "60614"),
        *[(z + "01", "000", z + "01") for z in sorted(RESTRICTED_ZIP3)],
        ("123", None, None),
        (None, None, None),
    ],
)
def test_zip_codes_follow_the_population_rule(zip_code, safe, limited):
    as_of = dt.date(2026, 6, 30)
    assert Deidentifier(key=KEY, as_of=as_of).zip_code(zip_code) == safe
    assert (
        Deidentifier(key=KEY, method="limited-data-set", as_of=as_of).zip_code(zip_code) == limited
    )


def test_ages_over_89_are_grouped():
    rules = Deidentifier(key=KEY, as_of=dt.date(2026, 6, 30))
    assert rules.age(dt.date(1936, 7, 1)) == 89
    assert rules.age(dt.date(1936, 6, 30)) == "90+"


def test_a_short_key_is_refused_without_echoing_it():
    with pytest.raises(errors.InvalidValue) as info:
        Deidentifier(key="short-secret", as_of=dt.date(2026, 1, 1))
    assert "short-secret" not in str(info.value)


def test_no_key_exits_2(demo_store, tmp_path):
    result = _export(demo_store, tmp_path / "x", key="")
    assert result.exit_code == 2
    assert "CARECORE_DEIDENTIFY_KEY" in result.output
    assert not (tmp_path / "x").exists()


def test_the_summary_line_counts_one_record_in_the_singular(tmp_path):
    # Review of issue 22 (messages): the export printed "1 records".
    from carecore.service import CareProgram
    from carecore.testing._store_contract import make_patient

    url = f"sqlite:///{tmp_path / 'one.db'}"
    with CareProgram.open(url, actor="t") as program, program.transaction("t") as tx:
        tx.add(make_patient("p1"))
    result = _export(url, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert ": 1 record in " in result.output
    assert " files (safe-harbor)" in result.output
