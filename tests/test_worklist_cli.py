"""``carecore worklist``: the owner check, the shared builder, the order and the formats."""

from __future__ import annotations

import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.metrics import program_report
from carecore.model import (
    AdministrativeSex,
    Enrollment,
    Patient,
    ServiceFamily,
)
from carecore.service import CareProgram
from tests.metrics import world

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


def _store_world(url):
    """The metrics test world (enrollments, time, TCM episodes, plans, ...) in a store."""
    d = world.data()
    with CareProgram.open(url) as program:
        with program.transaction("test world") as tx:
            for group in (
                d.patients,
                d.practitioners,
                d.conditions,
                d.consents,
                d.coverages or (),
                d.enrollments,
                d.care_teams,
                tuple({p.id: p for p in d.care_plans}.values()),
                d.time_entries,
                d.contacts,
                d.visits,
                d.episodes,
            ):
                for record in group:
                    tx.add(record)
        return program.program_data()


def _keys(items):
    return [(i["owner"], i["kind"], i["patient_id"], i["due"], i["detail"]) for i in items]


def test_the_cli_lists_the_reports_items_in_the_same_order(tmp_path, carecore_pm):
    url = f"sqlite:///{tmp_path / 'world.db'}"
    data = _store_world(url)
    report = program_report(data, period=world.Q1, time_zone=world.TZ)
    from_report = [
        {
            "owner": w.owner,
            "kind": i.kind,
            "patient_id": i.patient_id,
            "due": i.due.isoformat(),
            "detail": i.detail,
        }
        for w in sorted(report.worklists, key=lambda w: w.owner)
        for i in w.items
    ]
    kinds = {i["kind"] for i in from_report}
    # The world has the registry's work the CLI used to miss, and TCM work.
    assert {"eligible-not-enrolled", "minutes-to-threshold"} <= kinds, kinds
    result = CliRunner().invoke(
        make_app(carecore_pm),
        [
            "worklist",
            "--db",
            url,
            "--family",
            "ccm",
            "--on",
            report.as_of.isoformat(),
            "--time-zone",
            world.TZ,
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    cli = [
        {"owner": owner, **item}
        for owner, wl in json.loads(result.output).items()
        for item in wl["items"]
    ]
    assert _keys(cli) == _keys(from_report)
    # the API is the same builder again
    with CareProgram.open(url, plugin_manager=carecore_pm) as program:
        api = program.worklists(time_zone=world.TZ, on=report.as_of, families=[ServiceFamily.CCM])
    assert {w.owner: w.items for w in report.worklists} == {k: v.items for k, v in api.items()}
