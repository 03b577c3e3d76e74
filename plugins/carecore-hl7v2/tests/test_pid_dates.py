"""A PID-7 birth date after the message was sent, and a PID-29 death before the birth, are refused.

The birth date is compared with the date as written in MSH-7 (the
sender's own calendar date, whatever its offset or the practice's zone). Either is
refused as a malformed date is: AE, a dead letter, the field named and
never the date (personal data).
"""

from __future__ import annotations

import json

import pytest
from carecore_hl7v2.ingest import handle
from carecore_hl7v2.mapping import Refused, demographics, parse

from carecore.model import DeadLetter, Patient


def _msg(control: str, pid: str, sent: str = "20260304120000+0000") -> str:
    return f"MSH|^~\\&|ADT|GEN|CC|PRAC|{sent}||ADT^A08|{control}|P|2.5\r{pid}"


FUTURE = _msg("B1", "PID|1||P1^^^GEN^MR||Doe^Jane||29500312|F")
DIES_FIRST = _msg("B2", "PID|1||P2^^^GEN^MR||Roe^Ann||19600101|F" + "|" * 21 + "19591231|Y")


def _patients(program):
    with program.transaction("check") as tx:
        return tx.all(Patient)


def test_a_birth_date_after_the_message_was_sent_is_refused_naming_pid_7(program):
    outcome = handle(program, FUTURE)
    assert (outcome.code, outcome.stored, outcome.dead_letter) == ("AE", False, True)
    assert outcome.reason.startswith("PID-7:")
    assert "MSH-7" in outcome.reason
    assert "PID-7" in outcome.ack.split("\r")[1]
    for shown in (outcome.reason, outcome.ack):
        assert "2950" not in shown
        assert "0312" not in shown
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
    assert "2950" not in letter.reason
    assert _patients(program) == []


def test_the_birth_date_is_compared_with_msh_7_in_the_message_own_offset(program):
    # 23:00 at -1000 on 4 March is 5 March in UTC: a birth on 5 March is still after it.
    late = "20260304230000-1000"
    after = _msg("B3", "PID|1||P4^^^GEN^MR||Doe^Jo||20260305|F", sent=late)
    same_day = _msg("B4", "PID|1||P5^^^GEN^MR||Doe^Al||20260304|M", sent=late)
    assert handle(program, after).code == "AE"
    assert handle(program, same_day).code == "AA"  # a newborn, registered on the day


def test_the_birth_date_is_compared_with_msh_7_as_written_whatever_the_practice_zone(program):
    # The date written in MSH-7 is the sender's own calendar date: no zone moves it. 23:00
    # on 4 March is 5 March in Tokyo and still 4 March in Honolulu; the answer is the same.
    sent = "20260304230000"
    pid = "PID|1||P6^^^GEN^MR||Doe^Jo||20260305|F"
    with pytest.raises(Refused) as without_a_zone:
        demographics(parse(_msg("B5", pid, sent=sent)))  # the check takes no zone at all
    assert without_a_zone.value.field == "PID-7"
    for zone, control in (("Pacific/Honolulu", "B8"), ("Asia/Tokyo", "B9"), ("UTC", "B10")):
        outcome = handle(program, _msg(control, pid, sent=sent), time_zone=zone)
        assert outcome.code == "AE", zone
        assert outcome.reason.startswith("PID-7:"), zone
    on_the_day = _msg("B12", "PID|1||P8^^^GEN^MR||Doe^Al||20260304|M", sent=sent)
    assert handle(program, on_the_day, time_zone="Asia/Tokyo").code == "AA"


def test_a_birth_date_after_a_ts_msh_7_with_a_degree_of_precision_is_refused():
    # HL7 2.3-2.5 TS: DTM^degree of precision. The date is the first component.
    message = parse(_msg("B11", "PID|1||P9^^^GEN^MR||Doe^Jo||20260305|F", sent="20260304120000^S"))
    with pytest.raises(Refused) as refused:
        demographics(message)
    assert refused.value.field == "PID-7"


def test_a_death_before_the_birth_is_refused_naming_pid_29(program):
    outcome = handle(program, DIES_FIRST)
    assert outcome.code == "AE"
    assert outcome.reason.startswith("PID-29:")
    assert "19591231" not in outcome.reason
    assert "19600101" not in outcome.reason
    assert _patients(program) == []


def test_hl7_import_counts_the_future_birth_as_refused(hl7_import):
    table, listed = hl7_import(FUTURE)
    assert table.exit_code == 1, table.output
    assert "0 stored" in table.stdout
    assert "1 refused" in table.stdout
    assert "PID-7" in table.stderr
    assert [r["reason"].split(":")[0] for r in json.loads(listed.stdout)["refusals"]] == ["PID-7"]
    for shown in (table.output, table.stderr, listed.output, listed.stderr):
        assert "29500312" not in shown


def test_a_death_before_the_stored_birth_date_is_refused_naming_pid_29(program):
    assert handle(program, _msg("B6", "PID|1||P7^^^GEN^MR||Roe^Ann||19600101|F")).code == "AA"
    death_only = _msg("B7", "PID|1||P7^^^GEN^MR" + "|" * 26 + "19591231|Y")
    outcome = handle(program, death_only)
    assert outcome.code == "AE"
    assert outcome.reason.startswith("PID-29:")
    assert "date_of_death" not in outcome.reason
    (patient,) = _patients(program)
    assert patient.date_of_death is None
