"""``carecore hl7 import``: each refusal names its file and message; empty files and folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import AdtEvent
from carecore.service import CareProgram

DATA = Path(__file__).parent / "data"
BAD_DATE = (
    "MSH|^~\\&|ADT|GEN|CC|PRAC|20260304120000+0000||ADT^A04|BD1|P|2.5\r"
    "PID|1||P9^^^GEN^MR||Doe^Jane||19501345|F"
)
GOOD = (
    "MSH|^~\\&|ADT|GEN|CC|PRAC|20260304120000+0000||ADT^A04|OK{n}|P|2.5\r"
    "PID|1||P{n}^^^GEN^MR||Doe^Jane||19500101|F"
)


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    assert CliRunner().invoke(make_app(), ["db", "init", url]).exit_code == 0
    return url


def _import(url: str, *args: str):
    return CliRunner().invoke(make_app(), ["hl7", "import", *args, "--db", url, "--no-progress"])


@pytest.fixture
def files(tmp_path, monkeypatch):
    """The reviewer's files: text, a NUL byte, a real A01, and a bad PID-7 after a good message."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "feed").mkdir()
    Path("text.hl7").write_text("hello world\n", encoding="utf-8")
    Path("nul.hl7").write_bytes(b"MSH|^~\\&|A\x00B|GEN\r")
    shutil.copy(DATA / "ADT-A01-01.hl7", "feed/a01.hl7")
    Path("baddate.hl7").write_text(GOOD.format(n=1) + "\r" + BAD_DATE, encoding="utf-8")
    return ["text.hl7", "nul.hl7", str(Path("feed/a01.hl7")), "baddate.hl7"]


def test_each_refusal_names_its_file_and_message_without_its_text(url, files):
    table = _import(url, *files)
    assert table.exit_code == 1, table.output
    refused = [line for line in table.stderr.splitlines() if line.startswith("refused")]
    assert refused[0].startswith("refused (AR): text.hl7 message 1: MSH: ")
    assert refused[1].startswith("refused (AR): nul.hl7 message 1: message: ")
    assert refused[2].startswith("refused (AE): baddate.hl7 message 2 (MSH-10 BD1): PID-7: ")
    assert len(refused) == 3
    assert "hello world" not in table.output
    assert "5 messages: 2 stored, 0 duplicates, 3 refused" in table.stdout


def test_json_refusals_carry_the_file_the_index_and_the_control_id(url, files):
    listed = _import(url, *files, "--format", "json")
    assert listed.exit_code == 1, listed.output
    refusals = json.loads(listed.stdout)["refusals"]
    where = [(r["file"], r["message"], r["control_id"], r["code"]) for r in refusals]
    assert where == [
        ("text.hl7", 1, None, "AR"),
        ("nul.hl7", 1, None, "AR"),
        ("baddate.hl7", 2, "BD1", "AE"),
    ]
    assert refusals[2]["reason"].startswith("PID-7: ")
    assert "hello world" not in listed.output


def test_a_file_with_no_messages_is_warned_of_and_imports_nothing(url, tmp_path):
    empty = tmp_path / "empty.hl7"
    empty.write_text("\n\n", encoding="utf-8")
    done = _import(url, str(empty))
    assert done.exit_code == 0, done.output  # as carecore import takes an empty location
    assert f"warning: {empty} holds no HL7 v2 messages" in done.stderr
    assert "0 messages: 0 stored" in done.stdout


def test_a_folder_is_read_as_its_message_files_in_name_order(url, tmp_path):
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "b.hl7").write_text(GOOD.format(n=2), encoding="utf-8")
    (feed / "a.hl7").write_text(GOOD.format(n=1) + "\r" + BAD_DATE, encoding="utf-8")
    (feed / "notes.md").write_text("not a message", encoding="utf-8")
    done = _import(url, str(feed), "--format", "json")
    assert done.exit_code == 1, done.output
    out = json.loads(done.stdout)
    assert (out["messages"], out["stored"], out["refused"]) == (3, 2, 1)
    assert [(r["file"], r["message"]) for r in out["refusals"]] == [(str(feed / "a.hl7"), 2)]
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        assert sorted(e.source_key for e in tx.all(AdtEvent)) == ["GEN/OK1", "GEN/OK2"]
    again = _import(url, str(feed))  # the same folder again: nothing new
    assert "3 messages: 0 stored, 2 duplicates, 1 refused" in again.stdout


def test_a_folder_without_message_files_is_warned_of(url, tmp_path):
    (tmp_path / "none").mkdir()
    done = _import(url, str(tmp_path / "none"))
    assert done.exit_code == 0, done.output
    assert "holds no .hl7, .er7 or .txt files" in done.stderr
