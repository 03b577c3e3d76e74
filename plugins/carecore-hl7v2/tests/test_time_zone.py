"""The practice's time zone, stored once: db init --time-zone, db set time-zone, and HL7 import without it."""

from __future__ import annotations

from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import AdtEvent
from carecore.service import CareProgram

LOCAL_A03 = (
    "MSH|^~\\&|ADT|GEN|CC|PRAC|20260304153000||ADT^A03|L1|P|2.5\r"
    "PID|1||P1^^^GEN^MR||Doe^Jane||19500101|F\r"
    "PV1|1|I|W3^301^A^GEN|||||||||||||||V1|||||||||||||||||01||||||||20260301100000|20260304150000"
)


def test_local_times_are_read_in_the_stored_practice_time_zone(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "local.hl7"
    feed.write_text(LOCAL_A03, encoding="utf-8")
    runner = CliRunner()
    assert (
        runner.invoke(make_app(), ["db", "init", url, "--time-zone", "America/Chicago"]).exit_code
        == 0
    )
    done = runner.invoke(make_app(), ["hl7", "import", str(feed), "--db", url, "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "1 message: 1 stored, 0 duplicates, 0 refused" in done.output  # (was "1 messages")
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        (event,) = tx.all(AdtEvent)
    assert event.occurred_at.isoformat() == "2026-03-04T15:30:00-06:00"  # MSH-7 in Chicago
    changed = runner.invoke(make_app(), ["db", "set", "time-zone", url, "America/New_York"])
    assert changed.exit_code == 0
    assert "America/New_York" in changed.output
    assert runner.invoke(make_app(), ["db", "set", "time-zone", url, "Mars/Base"]).exit_code == 2


def test_without_a_stored_zone_local_times_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "local.hl7"
    feed.write_text(LOCAL_A03, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    done = runner.invoke(make_app(), ["hl7", "import", str(feed), "--db", url, "--no-progress"])
    assert done.exit_code == 1
    assert "no UTC offset" in done.output
