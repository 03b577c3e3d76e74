"""``carecore readings record``: a home reading from the command line, checked like any other.

A red-zone reading exits 0, queues the care manager's message, tops the
worklist until ``carecore worklist --acknowledge`` takes it off (audited);
bad input exits 2 naming the option and stores nothing.
"""

from __future__ import annotations

import csv
import io
import json

import pendulum
import pytest
from click.testing import CliRunner

from carecore import audit
from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Observation,
    Patient,
)
from carecore.service import CareProgram
from carecore.testing.records import blood_pressure_plan

ENV = {"CARECORE_CONFIG": "", "CARECORE_DB": ""}


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'readings.db'}"
    with CareProgram.open(url, actor="setup") as program, program.transaction("setup") as tx:
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
        manager = CareTeamMember(practitioner_id="rn-park", role=CareTeamRole.CARE_MANAGER)
        tx.add(CareTeam(id="t1", patient_id="p1", members=[manager]))
        tx.add(blood_pressure_plan())
    return url


def run(carecore_pm, args, **env):
    return CliRunner().invoke(make_app(carecore_pm), args, env=ENV | env)


def cuff(url, value, *more):
    return [
        *("readings", "record", "p1", "--db", url, "--code", "8480-6"),
        *("--value", value, "--unit", "mm[Hg]", *more),
    ]


def stored(url):
    with CareProgram.open(url, create=False) as program, program.transaction("read") as tx:
        return (
            {o.id: o for o in tx.find(Observation, patient_id="p1")},
            [i.message for i in tx.outbox()],
        )


def test_a_red_zone_reading_alerts_and_tops_the_worklist_until_acknowledged(url, carecore_pm):
    at = ("--at", "2026-03-04T07:30", "--id", "o1", "--format", "json")
    done = run(carecore_pm, cuff(url, "186", *at))
    assert done.exit_code == 0, done.output
    shown = json.loads(done.stdout)
    assert (shown["id"], shown["findings"], shown["urgent"]) == ("o1", ["red-zone"], True)
    assert (shown["measure"], shown["value"], shown["on"]) == (
        "Systolic blood pressure",
        "186",
        "2026-03-04",
    )
    readings, messages = stored(url)
    assert readings["o1"].findings == ("red-zone",)
    ((message),) = messages
    assert (message.recipient, message.subject) == ("rn-park", "Urgent: red-zone for p1")
    listed = run(carecore_pm, ["worklist", "--db", url, "--on", "2026-03-04"])
    assert listed.exit_code == 0, listed.output
    first = listed.output.splitlines()[1]
    assert first.lstrip().startswith("URGENT since 2026-03-04")
    assert "Okafor, Ada" in first
    assert "a home reading is past the care plan's limit" in first
    assert "Systolic blood pressure 186 mm[Hg]" in first
    acked = run(
        carecore_pm,
        [
            *("--actor", "rn-park", "worklist", "--db", url, "--on", "2026-03-04"),
            *("--acknowledge", "o1", "--format", "json"),
        ],
        CARECORE_ACTOR_ROLES="system",
    )
    assert acked.exit_code == 0, acked.output
    assert "acknowledged o1 as rn-park" in acked.stderr
    lists = json.loads(acked.stdout)
    assert "urgent-reading" not in {i["kind"] for wl in lists.values() for i in wl["items"]}
    with CareProgram.open(url, create=False) as program, program.transaction("check") as tx:
        trail = audit.entries(tx, patient_id="p1", actor="rn-park")
    assert ("update", "Observation", "o1") in {(e.action, e.kind, e.key) for e in trail}


def test_a_reading_in_range_is_stored_and_nothing_is_queued(url, carecore_pm):
    done = run(carecore_pm, cuff(url, "132", "--at", "2026-03-04", "--id", "o2"))
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("recorded o2 for p1: Systolic blood pressure 132 mm[Hg]")
    assert "URGENT" not in done.stdout
    readings, messages = stored(url)
    assert readings["o2"].findings == ()
    assert messages == []


def test_the_reading_day_is_the_patient_s(url, carecore_pm):
    # 03:30 UTC on March 5 is still March 4 in Chicago.
    done = run(carecore_pm, cuff(url, "132", "--at", "2026-03-05T03:30Z", "--id", "o3"))
    assert done.exit_code == 0, done.output
    assert stored(url)[0]["o3"].on == pendulum.Date(2026, 3, 4)


def test_csv_is_one_row_with_a_header(url, carecore_pm):
    done = run(carecore_pm, cuff(url, "186", "--id", "o4", "--format", "csv"))
    assert done.exit_code == 0, done.output
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (row["id"], row["findings"], row["urgent"]) == ("o4", "red-zone", "true")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--value", "high"], "value='high'"),
        (["--at", "yesterday"], "--at='yesterday'"),
        (["--at", "2026-02-30"], "--at='2026-02-30'"),
        (["--code", "1234-5"], "--code='1234-5'"),
    ],
)
def test_bad_input_exits_2_naming_it_and_stores_nothing(url, carecore_pm, args, named):
    base = cuff(url, "186")
    for option, value in zip(args[::2], args[1::2], strict=True):
        if option in base:
            base[base.index(option) + 1] = value
        else:
            base += [option, value]
    done = run(carecore_pm, base)
    assert done.exit_code == 2, done.output
    assert named in done.output
    assert "Error" not in done.output.replace("Error: ", "", 1)  # no Python class name
    assert stored(url) == ({}, [])


def test_an_unknown_patient_and_a_stored_id_exit_2(url, carecore_pm):
    unknown = cuff(url, "186")
    unknown[unknown.index("p1")] = "p404"
    done = run(carecore_pm, unknown)
    assert done.exit_code == 2, done.output
    assert "p404" in done.output
    assert run(carecore_pm, cuff(url, "186", "--id", "o1")).exit_code == 0
    again = run(carecore_pm, cuff(url, "190", "--id", "o1"))
    assert again.exit_code == 2, again.output
    assert "--id='o1': a reading with this id is stored already" in again.output
    readings, messages = stored(url)
    assert readings["o1"].value == 186
    assert len(messages) == 1


def test_a_code_carecore_does_not_name_takes_a_measure(url, carecore_pm):
    args = [*cuff(url, "97"), "--measure", "Peak flow", "--id", "o5"]
    args[args.index("8480-6")] = "19935-6"
    done = run(carecore_pm, args)
    assert done.exit_code == 0, done.output
    assert stored(url)[0]["o5"].measure == "Peak flow"
