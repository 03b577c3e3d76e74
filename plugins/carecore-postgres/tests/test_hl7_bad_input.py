"""HL7 messages with a NUL byte or an oversize field get the same NAK and dead letter on
PostgreSQL as on SQLite, and the store itself refuses NUL text and over-long keys alike."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import AdministrativeSex, AdtEvent, DeadLetter, Identifier, Patient
from carecore.service import CareProgram

ingest = pytest.importorskip("carecore_hl7v2.ingest", reason="needs carecore-hl7v2")

PV1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
PV1[19], PV1[36], PV1[44], PV1[45] = "V1", "01", "202603011000-0600", "202603041500-0600"


def a03(control, pid=""):
    return (
        f"MSH|^~\\&|ADT|GEN|CC|PRAC|202603041530-0600||ADT^A03|{control}|P|2.5\r"
        f"PID|1||P1^^^GEN^MR{pid}\r" + "|".join(PV1)
    )


BAD = {
    "nul": (a03("N1", "||Ok\x00afor^Ada||19480302|F"), "AR"),
    "10k-control-id": (a03("X" * 10_000), "AE"),
    "oversize-name": (a03("B1", "||" + "O" * 70_000 + "^Ada||19480302|F"), "AE"),
}


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bad.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_gets_a_nak_and_one_dead_letter_on_every_store(url, case):
    message, code = BAD[case]
    clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
    with CareProgram.open(url, actor="hl7-test", clock=clock) as program:
        answers = [ingest.handle(program, message) for _ in range(2)]
        with program.transaction("check") as tx:
            letters = tx.all(DeadLetter)
            events = tx.all(AdtEvent)
    assert [a.code for a in answers] == [code, code]
    assert all(f"MSA|{code}|" in a.ack for a in answers)
    assert len(letters) == 1
    assert events == []
    assert "\x00" not in letters[0].raw


def test_the_store_refuses_nul_and_long_keys_the_same_way(url):
    at = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    with CareProgram.open(url, actor="t") as program:
        store = program.store
        letter = DeadLetter(id="d1", source="x", raw="a\x00b", reason="r", received_at=at)
        with (
            pytest.raises(errors.InvalidValue, match="NUL") as nul,
            store.transaction(actor="t", reason="r", at=at) as tx,
        ):
            tx.add(letter)
        with (
            pytest.raises(errors.InvalidValue, match="longer than a key") as long,
            store.transaction(actor="t", reason="r", at=at) as tx,
        ):
            tx.claim_inbound("hl7", "K" * 10_000)
    assert nul.value.field == "DeadLetter.raw"
    assert long.value.field == "key"


def test_patients_are_found_by_identifier_alike(url):
    at = dt.datetime(2026, 3, 4, tzinfo=dt.UTC)
    values = ["12_4%", "Zoë-7", 'q"uote\\d']
    with CareProgram.open(url, actor="t") as program:
        with program.store.transaction(actor="t", reason="r", at=at) as tx:
            for n, value in enumerate(values):
                tx.add(
                    Patient(
                        id=f"p{n}",
                        given_name="A",
                        family_name="B",
                        birth_date=pendulum.Date(1950, 1, 1),
                        sex=AdministrativeSex.UNKNOWN,
                        time_zone="UTC",
                        identifiers=[Identifier(system="GEN", value=value)],
                    )
                )
        with program.store.transaction(actor="t", reason="r", at=at) as tx:
            found = [tx.patients_with_identifier("GEN", v) for v in values]
            assert tx.patients_with_identifier("MERCY", values[0]) == []
            assert tx.patients_with_identifier("GEN", "1234") == []  # "_" and "%" are not wildcards
        outcome = ingest.handle(program, a03("Z1", "").replace("P1^^^GEN^MR", "Zoë-7^^^GEN^MR"))
    assert found == [["p0"], ["p1"], ["p2"]]
    assert (outcome.code, outcome.patient_id) == ("AA", "p1")


def test_a_reused_control_id_and_a_death_are_taken_alike_on_every_store(url):
    # Issue 17: a different message under a control id used before is stored as its own,
    # the same event with other PID fields updates the patient (here a death, which
    # closes the open episode) without a second event, and a resend stays a duplicate.
    from carecore.model import EpisodeCloseKind, TransitionEpisode

    first = a03("MSG00001", "||Doe^Jane||19500101|F")
    died = a03("MSG00001", "||Doe^Jane||19500101|F|" + "|" * 20 + "20260305|Y")
    other = first.replace("|V1|", "|V2|")
    clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
    with CareProgram.open(url, actor="hl7-test", clock=clock) as program:
        answers = [ingest.handle(program, m) for m in (first, died, other, first, died, other)]
        with program.transaction("check") as tx:
            events = sorted(e.id for e in tx.all(AdtEvent))
            (patient,) = tx.all(Patient)
            episodes = tx.find(TransitionEpisode, patient_id=patient.id)
            letters = tx.all(DeadLetter)
    assert [(a.code, a.stored, a.duplicate) for a in answers] == [
        ("AA", True, False),
        ("AA", False, True),
        ("AA", True, False),
        ("AA", False, True),
        ("AA", False, True),
        ("AA", False, True),
    ]
    assert len(events) == 2
    assert events[0] == "GEN/MSG00001"
    assert events[1].startswith("GEN/MSG00001#")
    assert "P1" not in patient.id
    assert patient.date_of_death == pendulum.Date(2026, 3, 5)
    assert len(episodes) == 2
    assert {(e.status.value, e.close_kind) for e in episodes} == {("closed", EpisodeCloseKind.DIED)}
    assert letters == []
