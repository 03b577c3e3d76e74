"""``carecore worklist``: the owner check, the shared builder, the order and the formats."""

from __future__ import annotations

import csv
import io
import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore import audit
from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.metrics import program_report
from carecore.model import (
    AdministrativeSex,
    Credential,
    Enrollment,
    Patient,
    Practitioner,
    ServiceFamily,
)
from carecore.service import CareProgram
from tests.metrics import world

NOW = pendulum.datetime(2026, 3, 4, 15, tz="UTC")


def worklist_store(tmp_path, carecore_pm, *, practitioner: bool = False) -> str:
    """A store with one patient enrolled in CCM under dr1 (and dr1's record with *practitioner*)."""
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
        if practitioner:
            tx.add(Practitioner(id="dr1", name="Dr. Lin Ruiz", credential=Credential.MD))
    return url


@pytest.fixture
def url(tmp_path, carecore_pm):
    return worklist_store(tmp_path, carecore_pm)


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
    # The world has the registry's work the CLI used to miss (the minutes to a code; its
    # eligible patients who are not enrolled left the program more than two weeks before,
    # so those offers are closed and no longer listed, open or closed).
    assert "minutes-to-threshold" in kinds, kinds
    assert "eligible-not-enrolled" not in kinds, kinds
    closed = {(w.owner, c.item.kind, c.item.patient_id) for w in report.worklists for c in w.closed}
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
    cli_closed = {
        (owner, c["kind"], c["patient_id"])
        for owner, wl in json.loads(result.output).items()
        for c in wl["closed"]
    }
    assert cli_closed == closed
    # the API is the same builder again
    with CareProgram.open(url, plugin_manager=carecore_pm) as program:
        api = program.worklists(time_zone=world.TZ, on=report.as_of, families=[ServiceFamily.CCM])
    assert {w.owner: (w.items, w.closed) for w in report.worklists} == {
        k: (v.items, v.closed) for k, v in api.items()
    }


def test_table_and_csv_name_the_patient_and_say_what_to_do(url, carecore_pm):
    app = make_app(carecore_pm)
    table = CliRunner().invoke(app, ["worklist", "--db", url, "--on", "2026-03-04"])
    assert table.exit_code == 0, table.output
    assert "Okafor, Ada" in table.output
    assert "Offer the patient enrollment (CCM)" in table.output
    later = CliRunner().invoke(
        app, ["worklist", "--db", url, "--on", "2026-03-04", "--format", "csv"]
    )
    assert later.exit_code == 0, later.output
    rows = list(csv.DictReader(io.StringIO(later.output)))
    assert [(r["owner"], r["kind"], r["patient_name"], r["priority"]) for r in rows] == [
        ("dr1", "enrollment-outreach", "Okafor, Ada", "today")
    ]


def test_the_worklists_reads_are_audited_under_the_commands_actor(url, carecore_pm):
    result = CliRunner().invoke(
        make_app(carecore_pm),
        ["--actor", "rn-park", "worklist", "--db", url, "--on", "2026-03-04"],
        env={"CARECORE_ACTOR_ROLES": "system"},  # a named actor is held to the access policy
    )
    assert result.exit_code == 0, result.output
    with (
        CareProgram.open(url, plugin_manager=carecore_pm) as program,
        program.transaction("check") as tx,
    ):
        assert audit.entries(tx, actor="rn-park", patient_id="p1")
