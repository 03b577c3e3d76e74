"""A month close's output is all or nothing: a failed close leaves the previous output intact."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from tests.billing.test_close import EVENTS, PATIENTS, write


def close(tmp_path, patients, events, engine):
    return CliRunner().invoke(
        make_app(),
        [
            "billing", "close", "--patients", str(patients), "--events", str(events),
            "--month", "2026-01", "--out", str(tmp_path / "out"), "--engine", engine,
            "--no-progress",
        ],
    )  # fmt: skip


def snapshot(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("engine", ["reference", "auto"])
def test_a_failed_close_keeps_the_previous_output(tmp_path, engine):
    """Before, a close refused for a bad header left claims.csv with only its header."""
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    first = close(tmp_path, patients, events, engine)
    assert first.exit_code in {0, 1}, first.output  # 1: some rows refused
    before = snapshot(tmp_path / "out")
    assert "claims.csv" in before
    assert before["claims.csv"].count(b"\n") > 1
    (tmp_path / "events.csv").write_text(EVENTS.replace("minutes", "minutez"))
    second = close(tmp_path, patients, events, engine)
    assert second.exit_code == 2, second.output
    assert snapshot(tmp_path / "out") == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []


def test_a_good_close_replaces_the_output_and_keeps_other_files(tmp_path):
    patients, events = write(tmp_path, PATIENTS, EVENTS)
    assert close(tmp_path, patients, events, "reference").exit_code in {0, 1}
    out = tmp_path / "out"
    (out / "notes.txt").write_text("kept by the practice")
    (out / "claims.csv").write_text("stale")
    assert close(tmp_path, patients, events, "reference").exit_code in {0, 1}
    assert (out / "notes.txt").read_text() == "kept by the practice"
    assert (out / "claims.csv").read_text() != "stale"
    assert (out.stat().st_mode & 0o777) == 0o700
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")] == []
