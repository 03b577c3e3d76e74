"""A refused message's reason names the field at fault, never its value (no PHI in errors).

The reason reaches the terminal (``carecore hl7 import``), the sender (the
NAK's MSA-3) and the store (the dead letter's reason); only the dead
letter's raw text keeps what was sent, for review.
"""

from __future__ import annotations

import json

import pytest
from carecore_hl7v2.ingest import handle
from carecore_hl7v2.mapping import Refused, check_limits, demographics, parse, to_event
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.model import DeadLetter
from carecore.service import CareProgram

BIRTH = "19501345"  # month 13: not a date
DEATH = "20261399"
NAME = "Quixwobble"
LONG_NAME = NAME * 7000  # 70,000 characters: past the 65,536 a field may hold
ADMITTED = "202603011000"
DISCHARGED = "202602271500"


def _msg(control: str, pid: str, pv1: str = "") -> str:
    text = f"MSH|^~\\&|ADT|GEN|CC|PRAC|20260304120000+0000||ADT^A08|{control}|P|2.5\r{pid}"
    return text + (f"\r{pv1}" if pv1 else "")


BAD_BIRTH = _msg("PHI1", f"PID|1||P1^^^GEN^MR||Doe^Jane||{BIRTH}|F")
LONG = _msg("PHI2", f"PID|1||P2^^^GEN^MR||{LONG_NAME}^Jane||19500101|F")
BAD_DEATH = _msg("PHI3", "PID|1||P3^^^GEN^MR||Roe^Ann||19500101|F" + "|" * 21 + f"{DEATH}|Y")
SECRETS = (BIRTH, DEATH, NAME, "Jane", "Ann", "1345", "1399")


def test_the_cli_names_the_fields_but_shows_no_birth_date_name_or_death_date(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    runner = CliRunner()
    assert runner.invoke(make_app(), ["db", "init", url]).exit_code == 0
    files = []
    for n, text in enumerate((BAD_BIRTH, LONG, BAD_DEATH)):
        files.append(tmp_path / f"m{n}.hl7")
        files[-1].write_text(text, encoding="utf-8")
    args = ["hl7", "import", *map(str, files), "--db", url, "--no-progress"]
    table = runner.invoke(make_app(), args)
    listed = runner.invoke(make_app(), [*args, "--format", "json"])
    assert table.exit_code == listed.exit_code == 1, table.output
    refusals = json.loads(listed.stdout)["refusals"]
    assert [r["reason"].split(":")[0] for r in refusals] == ["PID-7", "PID-5", "PID-29"]
    for field in ("PID-7", "PID-5", "PID-29"):
        assert field in table.stderr
    with CareProgram.open(url, actor="t") as program, program.transaction("check") as tx:
        reasons = [letter.reason for letter in tx.all(DeadLetter)]
    assert len(reasons) == 3
    for shown in (table.output, table.stderr, listed.output, listed.stderr, *reasons):
        for secret in SECRETS:
            assert secret not in shown


@pytest.mark.parametrize(("raw", "field"), [(BAD_BIRTH, "PID-7"), (BAD_DEATH, "PID-29")])
def test_the_nak_and_the_dead_letter_name_the_field_not_the_date(program, raw, field):
    outcome = handle(program, raw)
    assert outcome.code == "AE"
    msa = outcome.ack.split("\r")[1]
    assert msa.startswith("MSA|AE|PHI")
    assert field in msa
    assert "YYYYMMDD" in outcome.reason
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
    for secret in SECRETS:
        assert secret not in outcome.ack
        assert secret not in outcome.reason
        assert secret not in letter.reason
    assert BIRTH in letter.raw or DEATH in letter.raw  # the message itself is kept for review


def _map(raw: str, time_zone: str | None) -> None:
    check_limits(raw)
    message = parse(raw)
    to_event(message, time_zone=time_zone)
    demographics(message)


def _refusal(raw: str, *, time_zone: str | None = "UTC") -> Refused:
    with pytest.raises(Refused) as caught:
        _map(raw, time_zone)
    return caught.value


def _pv1(admitted: str, discharged: str) -> str:
    """A PV1 segment: inpatient, visit V1 (PV1-19), home (PV1-36), PV1-44 and PV1-45 as given."""
    fields = [""] * 46
    fields[0:4] = ["PV1", "1", "I", "W3^301^A^GEN"]
    fields[19], fields[36], fields[44], fields[45] = "V1", "01", admitted, discharged
    return "|".join(fields)


@pytest.mark.parametrize(
    ("raw", "time_zone", "field", "secret"),
    [
        (
            _msg("R1", "PID|1||P1^^^GEN^MR||Doe^Jane||19500101", _pv1("20260341", "")),
            "UTC",
            "PV1-44",
            "20260341",
        ),
        (_msg("R2", "PID|1||P1^^^GEN^MR", _pv1(ADMITTED, "")), None, "PV1-44", ADMITTED),
        (
            _msg("R4", "PID|1||P1^^^GEN^MR", _pv1(ADMITTED, DISCHARGED)),
            "UTC",
            "PV1-45",
            "2026-02-27",
        ),
        (_msg("R5", "PID|1||^^^GEN^MR~^^^Doe-Jane-19500101^PI"), "UTC", "PID-3", "Doe-Jane"),
        (_msg("R6", "PID|1||P1^^^GEN^MR||Doe^Jane||1950-01-01"), "UTC", "PID-7", "1950"),
        ("PID|1||P1^^^GEN^MR||Doe^Jane||19500101", "UTC", "MSH", "Doe"),
    ],
)
def test_each_refusal_names_its_field_without_the_value(raw, time_zone, field, secret):
    refused = _refusal(raw, time_zone=time_zone)
    assert refused.field == field
    assert secret not in str(refused)
    assert secret not in str(refused.value)


def test_no_message_text_is_kept_in_the_process_after_its_group_commit(tmp_path):
    # A stored message's text holds a name, a birth date and an address: once its batch
    # is committed and its outcome returned, the process may not keep it (a process-wide
    # cache of the texts kept the last 256 messages, up to a MiB each). Measured as the
    # memory still allocated after five messages of about 60 KB each.
    import gc
    import tracemalloc

    from carecore_hl7v2.ingest import handle_many

    def feed(prefix: str) -> list[str]:
        return [
            _msg(f"{prefix}{n}", f"PID|1||{prefix}{n}^^^GEN^MR||Doe^Jane||19500101|F")
            + f"\rZPD|{prefix}{n}{'x' * 60_000}"
            for n in range(5)
        ]

    url = f"sqlite:///{tmp_path / 'p.db'}"
    with CareProgram.open(url, actor="t", create=True) as program:
        assert all(o.stored for o in handle_many(program, feed("W"), time_zone="UTC"))  # warm
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            outcomes = handle_many(program, feed("K"), time_zone="UTC")
            assert [o.stored for o in outcomes] == [True] * 5
            del outcomes
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert kept < 100_000, kept
