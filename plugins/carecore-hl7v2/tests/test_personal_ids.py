"""PID-3's personal ids: an SSN is kept as one whatever its authority, a passport or licence not at all."""

from __future__ import annotations

import json

import pendulum
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import PatientLink
from carecore.service import CareProgram

SSN = "555-66-7777"
BARE_SSN = "666-77-8888"
PASSPORT = "X1234567"
LICENCE = "S99912345"


def _a03(day: pendulum.Date) -> str:
    stamp = day.format("YYYYMMDD")
    return (
        f"MSH|^~\\&|ADT|GEN|CC|PRAC|{stamp}153000-0600||ADT^A03|S1|P|2.5\r"
        f"PID|1||NEWMRN4^^^GEN^MR~{SSN}^^^GEN^SS~{BARE_SSN}^^^^SS~{PASSPORT}^^^USA^PPN"
        f"~{LICENCE}^^^IL^DL||Doe^Jane||19500101|F\r"
        "PV1|1|I|W3^301^A^GEN|||||||||||||||V1|||||||||||||||||01||||||||"
        f"{stamp}100000-0600|{stamp}150000-0600"
    )


def test_tcm_list_never_shows_an_ssn_sent_in_pid_3_whatever_its_authority(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    feed = tmp_path / "a03.hl7"
    feed.write_text(_a03(pendulum.now("America/Chicago").date().subtract(days=2)), "utf-8")
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    done = runner.invoke(make_app(), ["hl7", "import", str(feed), "--db", url, "--no-progress"])
    assert done.exit_code == 0, done.output
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        links = {(link.system, link.value) for link in tx.all(PatientLink)}
    # the SSNs are kept under the SSN system, the passport and licence not at all
    assert ("http://hl7.org/fhir/sid/us-ssn", SSN) in links
    assert ("http://hl7.org/fhir/sid/us-ssn", BARE_SSN) in links
    assert not {value for _, value in links} & {PASSPORT, LICENCE}
    table = runner.invoke(make_app(), ["tcm", "list", "--all", "--db", url])
    listed = runner.invoke(make_app(), ["tcm", "list", "--all", "--db", url, "--format", "json"])
    assert table.exit_code == 0, table.output
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["identifiers"] == [{"system": "GEN", "value": "NEWMRN4"}]
    assert "NEWMRN4 (GEN)" in table.output
    for shown in (table.output, listed.output):
        for personal in (SSN, BARE_SSN, PASSPORT, LICENCE):
            assert personal not in shown
