"""``carecore worklist``: the owner check, the shared builder, the order and the formats."""

from __future__ import annotations

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    Enrollment,
    Patient,
    ServiceFamily,
)
from carecore.service import CareProgram

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")


@pytest.fixture
def url(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'work.db'}"
    with (
        CareProgram.open(
            url, clock=FixedClock(NOW), actor="rn", plugin_manager=carecore_pm
        ) as program,
        program.transaction("setup") as tx,
    ):
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Okafor",
                birth_date=pendulum.Date(1948, 3, 2),
                sex=AdministrativeSex.FEMALE,
                time_zone="America/Chicago",
            )
        )
        tx.add(
            Enrollment.identify(
                id="e1",
                patient_id="p1",
                program_id="ccm",
                family=ServiceFamily.CCM,
                billing_practitioner_id="dr1",
                on=pendulum.Date(2026, 2, 1),
            )
        )
    return url


def test_an_unknown_owner_is_bad_input_naming_it(url, carecore_pm):
    app = make_app(carecore_pm)
    known = CliRunner().invoke(
        app, ["worklist", "--db", url, "--owner", "dr1", "--on", "2026-03-04"]
    )
    assert known.exit_code == 0, known.output
    result = CliRunner().invoke(
        app, ["worklist", "--db", url, "--owner", "nobody", "--on", "2026-03-04"]
    )
    assert result.exit_code == 2, result.output
    assert "owner='nobody'" in result.output
    assert "nothing to do" not in result.output
