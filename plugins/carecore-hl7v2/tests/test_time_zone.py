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


def test_a_refusal_for_no_zone_says_how_to_store_one_and_names_no_patient(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "local.hl7"
    feed.write_text(LOCAL_A03, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    done = runner.invoke(make_app(), ["hl7", "import", str(feed), "--db", url, "--no-progress"])
    assert done.exit_code == 1
    assert "carecore db set time-zone URL ZONE" in done.output
    assert "--time-zone" in done.output
    assert "1 refused (kept as dead letters)" in done.output
    assert "Doe" not in done.output
    assert "Jane" not in done.output
    imported = runner.invoke(make_app(), ["import", "--source", "hl7v2", str(feed), "--db", url])
    assert "carecore db set time-zone URL ZONE" in imported.output, imported.output
    assert "-o time_zone=" in imported.output


def test_dead_letters_are_mentioned_only_when_some_were_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "local.hl7"
    feed.write_text(LOCAL_A03, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url, "--time-zone", "UTC"]).exit_code == 0
    done = runner.invoke(make_app(), ["hl7", "import", str(feed), "--db", url, "--no-progress"])
    assert done.exit_code == 0, done.output
    assert "0 refused" in done.output
    assert "dead letter" not in done.output
