"""Every CSV and JSON input reads within carecore.limits and refuses bad UTF-8 by name (exit 2).

``carecore meds import-fills`` and ``carecore billing claims --close`` (its
``--patients`` CSV and ``--practice`` JSON) read their files without the
limits: a cell past ``csv_cell`` raised ``_csv.Error``, a practice file nested
too deep raised ``RecursionError``, and bytes that are not UTF-8 raised
``UnicodeDecodeError`` (also in ``billing close``), each a traceback and exit 1.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from carecore import errors, limits
from carecore.cli import make_app
from carecore.convert import to_primitive
from carecore.medications import read_fills_csv
from carecore.model import BillingIdentity, Credential, PostalAddress, Practitioner
from carecore.plugins import get_plugin_manager, hookimpl
from tests.billing.test_close import EVENTS, PATIENTS, write

HUGE = "x" * 140_000  # past the default csv_cell=131072
NOT_UTF8 = b"\xff\xfe"

FILLS = (
    "patient_id,filled_on,days_supply,drug_class,drug\n"
    "p1,2026-01-01,30,statin,Atorvastatin 20 MG\n"
    "p1,2026-02-15,30,statin,Atorvastatin 20 MG\n"
)

ROSTER = (
    "patient_id,family_name,given_name,birth_date,sex,mbi,address_line1,address_line2,"
    "city,state,postal_code\n"
    "p1,Lopez,Ada,1950-03-01,female,1EG4TE5MK73,1 Elm St,,Chicago,IL,60601\n"
)


class _Nothing:
    """A claim writer that writes nothing (the files are read before any writing)."""

    id = "nothing"

    def write(self, batch, out, *, created):
        pass


class _Plugin:
    @hookimpl
    def carecore_claim_writers(self):
        return [_Nothing()]


def _run(*args):
    pm = get_plugin_manager(entry_points=False)
    pm.register(_Plugin(), name="nothing")
    return CliRunner().invoke(make_app(pm), list(args))


def _refused(result, *words):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, result.output


# -- meds import-fills ---------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path / 'meds.db'}"
    assert _run("db", "init", url).exit_code == 0
    return url


def test_a_fills_cell_past_the_limit_exits_2_naming_file_line_and_limit(tmp_path, store):
    fills = tmp_path / "fills.csv"
    fills.write_text(FILLS.replace("Atorvastatin 20 MG\np1", f'"{HUGE}"\np1', 1))
    _refused(
        _run("meds", "import-fills", str(fills), "--db", store),
        "fills.csv",
        "line 2",
        "csv_cell=131072",
    )


def test_a_fills_file_not_utf8_exits_2_naming_the_file(tmp_path, store):
    fills = tmp_path / "fills.csv"
    fills.write_bytes(FILLS.encode() + b"p1,2026-03-01,30,statin," + NOT_UTF8 + b"\n")
    _refused(_run("meds", "import-fills", str(fills), "--db", store), "fills.csv", "UTF-8")


def test_read_fills_csv_keeps_to_the_limit_in_force():
    previous = limits.configure(limits.Limits(csv_cell=10))
    try:
        with pytest.raises(errors.InvalidInput) as info:
            read_fills_csv(FILLS)
    finally:
        limits.configure(previous)
    assert "csv_cell=10" in str(info.value)


# -- billing claims --close ----------------------------------------------------------

IDENTITY = BillingIdentity(
    id="practice",
    name="Lakeside Primary Care",
    npi="1245319599",
    tin="361234567",
    address=PostalAddress(line1="100 Main St", city="Chicago", state="IL", postal_code="606011234"),
    phone="3125550100",
    payer_id="06102",
    payer_name="MEDICARE PART B",
    contact_name="Billing Office",
)


@pytest.fixture
def close_folder(tmp_path):
    """A CSV close's output folder (its claims.json, no lines), a practice file and a roster."""
    folder = tmp_path / "close"
    folder.mkdir()
    (folder / "claims.json").write_text("[]")
    practice = tmp_path / "practice.json"
    doctor = Practitioner(id="dr1", name="Dr. Ana Ruiz", credential=Credential.MD, npi="1234567893")
    practice.write_text(
        json.dumps(
            {"billing_identity": to_primitive(IDENTITY), "practitioners": [to_primitive(doctor)]}
        )
    )
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    return folder, practice, roster


def _claims(folder, practice, roster, tmp_path):
    return _run(
        "billing", "claims", "--month", "2026-01", "--close", str(folder),
        "--practice", str(practice), "--patients", str(roster), "--format", "nothing",
        "--out", str(tmp_path / "claims.out"),
    )  # fmt: skip


def test_the_close_folder_reads(close_folder, tmp_path):
    """The files are good: they are read, and the close had no claim lines to write."""
    result = _claims(*close_folder, tmp_path)
    assert "no claim of 2026-01-01..2026-01-31 to write" in result.output, result.output


def test_a_practice_file_nested_too_deep_exits_2_naming_the_limit(close_folder, tmp_path):
    folder, practice, roster = close_folder
    practice.write_text('{"billing_identity": ' + "[" * 100_000 + "]" * 100_000 + "}")
    _refused(_claims(folder, practice, roster, tmp_path), "practice.json", "json_depth=100")


def test_a_practice_file_past_the_size_limit_exits_2_naming_the_limit(close_folder, tmp_path):
    folder, practice, roster = close_folder
    previous = limits.configure(limits.Limits(json_bytes=100))
    try:
        result = _claims(folder, practice, roster, tmp_path)
    finally:
        limits.configure(previous)
    _refused(result, "practice.json", "json_bytes=100")


def test_a_patients_cell_past_the_limit_exits_2_naming_file_line_and_limit(close_folder, tmp_path):
    folder, practice, roster = close_folder
    roster.write_text(ROSTER.replace("1 Elm St", HUGE))
    _refused(_claims(folder, practice, roster, tmp_path), "roster.csv", "line 2", "csv_cell=131072")


@pytest.mark.parametrize("which", ["practice", "roster"])
def test_a_claims_input_not_utf8_exits_2_naming_the_file(close_folder, tmp_path, which):
    folder, practice, roster = close_folder
    spoiled = practice if which == "practice" else roster
    spoiled.write_bytes(spoiled.read_bytes().replace(b"Chicago", b"Chic" + NOT_UTF8, 1))
    _refused(_claims(folder, practice, roster, tmp_path), spoiled.name, "UTF-8")


# -- billing close -------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["reference", "auto"])
@pytest.mark.parametrize("which", ["patients", "events"])
def test_a_close_input_not_utf8_exits_2_naming_the_file(tmp_path, engine, which):
    p, e = write(tmp_path, PATIENTS, EVENTS)
    spoiled = p if which == "patients" else e
    spoiled.write_bytes(spoiled.read_bytes().replace(b"CCM", b"CC" + NOT_UTF8, 1))
    result = _run(
        "billing", "close", "--patients", str(p), "--events", str(e), "--month", "2026-01",
        "--out", str(tmp_path / "out"), "--engine", engine, "--no-progress",
    )  # fmt: skip
    _refused(result, f"{which}.csv", "UTF-8")
