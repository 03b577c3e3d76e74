"""``carecore worklist`` on a new practice's store: the programs offered and the owners' names."""

from __future__ import annotations

import re
from pathlib import Path

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from tests.test_worklist_cli import worklist_store

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")
SYNTHEA = Path(__file__).parents[1] / "src" / "carecore" / "_demo_data" / "synthea"


def test_the_owners_header_names_the_practitioner_beside_the_id(tmp_path, carecore_pm):
    url = worklist_store(tmp_path, carecore_pm, practitioner=True)
    result = CliRunner().invoke(
        make_app(carecore_pm), ["worklist", "--db", url, "--on", "2026-03-04"]
    )
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.startswith("Dr. Lin Ruiz (dr1): caseload"), header
    # The machine formats keep the owner's id.
    csv_out = CliRunner().invoke(
        make_app(carecore_pm), ["worklist", "--db", url, "--on", "2026-03-04", "--format", "csv"]
    )
    assert "Dr. Lin Ruiz" not in csv_out.stdout
    assert "\ndr1," in csv_out.stdout


def test_an_owner_with_no_practitioner_record_is_shown_by_id(tmp_path, carecore_pm):
    url = worklist_store(tmp_path, carecore_pm, practitioner=False)
    result = CliRunner().invoke(
        make_app(carecore_pm), ["worklist", "--db", url, "--on", "2026-03-04"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("dr1: caseload"), result.stdout


def test_a_store_with_enrollments_gives_no_hint(tmp_path, carecore_pm):
    url = worklist_store(tmp_path, carecore_pm, practitioner=True)
    result = CliRunner().invoke(
        make_app(carecore_pm), ["worklist", "--db", url, "--on", "2026-03-04"]
    )
    assert result.exit_code == 0, result.output
    assert "--family" not in result.output


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """A new practice's store: db init, then two Synthea bundles imported, no enrollments."""
    pytest.importorskip("carecore_fhir", reason="the import needs the carecore-fhir plugin")
    url = f"sqlite:///{tmp_path_factory.mktemp('new') / 'g.db'}"
    app = make_app()  # the installed plugins: fhir import
    done = CliRunner().invoke(app, ["db", "init", url, "--time-zone", "America/Chicago"])
    assert done.exit_code == 0, done.output
    bundles = [str(next(SYNTHEA.glob(f"{name}_*"))) for name in ("Tommy", "Maida")]
    done = CliRunner().invoke(app, ["fhir", "import", "--db", url, "--no-progress", *bundles])
    assert done.exit_code == 0, done.output
    return url


def test_a_store_without_enrollments_says_how_to_list_the_eligible(imported):
    result = CliRunner().invoke(make_app(), ["worklist", "--db", imported, "--on", "2026-12-07"])
    assert result.exit_code == 0, result.output
    # The default offers the programs the store has enrollments in: none yet.
    assert "Offer enrollment" not in result.stdout
    # The table's last line says why and what to give.
    last = result.stdout.splitlines()[-1]
    assert "no enrollments" in last
    assert "--family CCM" in last
    # The machine formats stay data only.
    as_json = CliRunner().invoke(
        make_app(), ["worklist", "--db", imported, "--on", "2026-12-07", "--format", "json"]
    )
    assert as_json.exit_code == 0, as_json.output
    assert "--family" not in as_json.output


def test_family_ccm_lists_attestation_and_offers_under_named_owners(imported):
    result = CliRunner().invoke(
        make_app(),
        ["worklist", "--db", imported, "--on", "2026-12-07", "--family", "CCM"],
    )
    assert result.exit_code == 0, result.output
    assert "--family" not in result.output
    assert "Attest the patient's chronic conditions" in result.stdout
    assert "Offer enrollment: the patient is eligible (CCM" in result.stdout
    headers = [line for line in result.stdout.splitlines() if not line.startswith(" ")]
    # Maida Gerhold's attestation goes to a physician of the imported records: named, the
    # id beside the name (two may share a name; --owner takes the id).
    (physician,) = [h for h in headers if not h.startswith("unassigned:")]
    assert re.match(r"Dr\. [A-Z][a-z]+ [A-Z][a-z]+ \([0-9a-f-]{36}\): caseload ", physician), (
        headers
    )
