"""Records in from ADT: patients matched by PID-3 with its assigning authority, demographics,
A08, an A03 without disposition, A13 scope, bad input, and a frame ending in FS alone."""

from __future__ import annotations

import socket
from pathlib import Path

import pendulum
import pytest
from carecore_hl7v2.ingest import handle
from test_listener import Listener

from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    ContactPreferences,
    DeadLetter,
    EpisodeStatus,
    Identifier,
    Patient,
    PatientAddress,
    TransitionEpisode,
)
from carecore.service import CareProgram
from carecore.transitions import tasks_for

DATA = Path(__file__).parent / "data"


def _pv1(fac, visit, disp):
    pv1 = ["PV1", "1", "I", f"W3^301^A^{fac}"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = visit, disp, "202603011000-0600", "202603041500-0600"
    return "|".join(pv1)


def a03(control, pid3, *, fac="GEN", visit="V1", disp="01", trigger="A03", pid_rest=""):
    return (
        f"MSH|^~\\&|ADT|{fac}|CC|PRAC|202603041530-0600||ADT^{trigger}|{control}|P|2.5\r"
        f"PID|1||{pid3}{pid_rest}\r" + _pv1(fac, visit, disp)
    )


def ada(program, *identifiers):
    patient = Patient(
        id="ada",
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="America/Chicago",
        identifiers=identifiers,
    )
    with program.transaction("register") as tx:
        tx.add(patient)
    return patient


def test_identifiers_match_only_with_their_assigning_authority(program):
    ada(program, Identifier(system="GEN", value="1234"))
    ours = handle(program, a03("M1", "1234^^^GEN^MR"))
    # The same MRN from another hospital is another person.
    theirs = handle(
        program, a03("M2", "1234^^^MERCY^MR", fac="MERCY", pid_rest="||Doe^Jane||19500101|F")
    )
    assert (ours.code, ours.patient_id, ours.created_patient) == ("AA", "ada", False)
    assert theirs.code == "AA"
    assert theirs.created_patient
    assert theirs.patient_id != "ada"
    with program.transaction("check") as tx:
        assert len(tx.find(AdtEvent, patient_id="ada")) == 1
        other = tx.get(Patient, theirs.patient_id)
    assert other.identifiers == (Identifier(system="MERCY", value="1234"),)
    assert (other.given_name, other.family_name, other.sex) == (
        "Jane",
        "Doe",
        AdministrativeSex.FEMALE,
    )
    # A later message naming the new patient by either identifier finds the same one.
    again = handle(program, a03("M3", "1234^^^MERCY^MR~77^^^GEN^PI", fac="MERCY", visit="V2"))
    assert again.patient_id == theirs.patient_id
    assert not again.created_patient
    with program.transaction("check") as tx:
        assert len(tx.all(Patient)) == 2


def test_a_real_admission_registers_the_patient_with_demographics(program):
    outcome = handle(program, (DATA / "ADT01-23.hl7").read_bytes(), time_zone="America/Chicago")
    assert outcome.code == "AA", outcome.reason
    assert outcome.created_patient
    with program.transaction("check") as tx:
        patient = tx.get(Patient, outcome.patient_id)
        prefs = tx.get(ContactPreferences, outcome.patient_id)
        address = tx.get(PatientAddress, outcome.patient_id)
    assert (patient.family_name, patient.given_name) == ("DUCK", "DONALD")
    assert patient.birth_date == pendulum.Date(1924, 10, 10)
    assert patient.sex is AdministrativeSex.MALE
    assert patient.identifiers == (Identifier(system="1", value="10006579"),)
    assert (address.address.line1, address.address.city) == ("111 DUCK ST", "FOWL")
    assert prefs.phone == "+18885551212"
    assert prefs.channels == ()  # nothing is sent to the patient because a hospital gave a number
    # The same message again is a duplicate: one patient, one event.
    assert handle(
        program, (DATA / "ADT01-23.hl7").read_bytes(), time_zone="America/Chicago"
    ).duplicate


def test_a08_updates_demographics_and_death(program):
    ada(program, Identifier(system="GEN", value="1234"))
    a08 = a03(
        "U1",
        "1234^^^GEN^MR",
        trigger="A08",
        pid_rest="||Okafor-Reyes^Ada||19480302|F|||12 Elm St^^Evanston^IL^60201||(847)555-0100"
        + "|" * 16
        + "20260303|Y",
    )
    outcome = handle(program, a08)
    assert outcome.code == "AA", outcome.reason
    with program.transaction("check") as tx:
        patient = tx.get(Patient, "ada")
        address = tx.get(PatientAddress, "ada")
    assert patient.family_name == "Okafor-Reyes"
    assert patient.date_of_death == pendulum.Date(2026, 3, 3)
    assert address.address.city == "Evanston"
    # PID-30 N takes a recorded death back.
    handle(program, a03("U2", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 27 + "N"))
    with program.transaction("check") as tx:
        assert tx.get(Patient, "ada").date_of_death is None


def test_a03_without_disposition_opens_the_episode_with_deadlines_to_confirm(program):
    ada(program, Identifier(system="GEN", value="1234"))
    outcome = handle(program, a03("D1", "1234^^^GEN^MR", disp=""))
    assert outcome.code == "AA"
    with program.transaction("check") as tx:
        (episode,) = tx.find(TransitionEpisode, patient_id="ada")
    assert episode.status is EpisodeStatus.OPEN
    assert episode.qualifies
    assert episode.disposition_unknown
    assert episode.contact_due is not None
    assert episode.visit_due is not None
    due = episode.open_deadlines()
    assert due["disposition"] == episode.contact_due
    assert f"{episode.id}:disposition" in {t.id for t in tasks_for(episode, owner="rn1")}
    lists = program.worklists(time_zone="America/Chicago", on=pendulum.Date(2026, 3, 5))
    kinds = {item.kind for wl in lists.values() for item in wl.items}
    assert "tcm-disposition" in kinds


def test_a13_cancels_only_the_same_facilitys_visit(program):
    ada(program, Identifier(system="GEN", value="1234"), Identifier(system="MERCY", value="55"))
    assert handle(program, a03("G1", "1234^^^GEN^MR", visit="V100")).code == "AA"
    assert handle(program, a03("R1", "55^^^MERCY^MR", fac="MERCY", visit="V100")).code == "AA"
    cancel = a03("G2", "1234^^^GEN^MR", visit="V100", trigger="A13")
    assert handle(program, cancel).code == "AA"
    with program.transaction("check") as tx:
        episodes = {
            e.discharge_event_id: e.status for e in tx.find(TransitionEpisode, patient_id="ada")
        }
    assert episodes == {"GEN/G1": EpisodeStatus.CANCELLED, "MERCY/R1": EpisodeStatus.OPEN}


@pytest.mark.parametrize(
    ("message", "code", "field"),
    [
        (a03("N1", "1234^^^GEN^MR", pid_rest="||Ok\x00afor^Ada||19480302|F"), "AR", "message"),
        (a03("X" * 10_000, "1234^^^GEN^MR"), "AE", "MSH-10"),
        (
            a03("B1", "1234^^^GEN^MR", pid_rest="||" + "O" * 70_000 + "^Ada||19480302|F"),
            "AE",
            "PID-5",
        ),
        # An offset of a day or more: python-hl7 read it, and the event's ValueError left
        # the intake with no NAK and no dead letter.
        (a03("T1", "1234^^^GEN^MR").replace("1530-0600", "1530+2400"), "AE", "MSH-7"),
    ],
    ids=["nul", "10k-control-id", "oversize-name", "offset-of-a-day"],
)
def test_nul_and_oversize_get_a_nak_and_a_dead_letter(program, message, code, field):
    outcome = handle(program, message)
    assert outcome.code == code
    assert outcome.reason.startswith(field)
    assert f"MSA|{code}|" in outcome.ack
    assert outcome.dead_letter
    with program.transaction("check") as tx:
        (letter,) = tx.all(DeadLetter)
        assert tx.all(AdtEvent) == []
    assert "\x00" not in letter.raw
    assert len(letter.key) <= 200
    # Sent again: the same answer, still one dead letter.
    assert handle(program, message).code == code
    with program.transaction("check") as tx:
        assert len(tx.all(DeadLetter)) == 1


def test_a_frame_ending_in_fs_alone_is_answered(program):
    with Listener(program) as listener, socket.create_connection(("127.0.0.1", listener.port)) as s:
        s.settimeout(5)
        s.sendall(b"\x0b" + a03("F1", "P1^^^GEN^MR").encode() + b"\x1c")
        reply = b""
        while not reply.endswith(b"\x1c\r"):
            reply += s.recv(65536)
        assert b"MSA|AA|F1" in reply
        # And the next frame, with its CR, still works on the same connection.
        s.sendall(b"\x0b" + a03("F2", "P1^^^GEN^MR", visit="V2").encode() + b"\x1c\r")
        reply = b""
        while not reply.endswith(b"\x1c\r"):
            reply += s.recv(65536)
        assert b"MSA|AA|F2" in reply


def test_review_mode_keeps_an_unknown_patients_message_for_match_review(program):
    message = a03("R1", "999^^^GEN^MR", pid_rest="||Doe^Jane||19500101|F")
    outcome = handle(program, message, unknown_patients="review")
    assert outcome.code == "AE"
    assert "match review" in outcome.reason
    with program.transaction("check") as tx:
        assert tx.all(Patient) == []
        assert tx.all(AdtEvent) == []
        (letter,) = tx.all(DeadLetter)
    assert letter.key.split("#")[0] == "R1"
    # Once the patient is registered with that identifier, the resent message is taken.
    ada(program, Identifier(system="GEN", value="999"))
    again = handle(program, message, unknown_patients="review")
    assert (again.code, again.patient_id) == ("AA", "ada")


def test_one_bad_message_in_a_group_commit_holds_back_no_other(program):
    from carecore_hl7v2.ingest import handle_many

    ada(program, Identifier(system="GEN", value="1234"))
    # A death before the stored birth date fails inside the shared transaction.
    bad = a03("G2", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 26 + "19000101|Y")
    batch = [a03("G1", "77^^^GEN^MR", visit="V1"), bad, a03("G3", "78^^^GEN^MR", visit="V3")]
    outcomes = handle_many(program, batch)
    assert [o.code for o in outcomes] == ["AA", "AE", "AA"]
    assert outcomes[1].reason.startswith("PID-29:")
    with program.transaction("check") as tx:
        assert sorted(e.source_key for e in tx.all(AdtEvent)) == ["GEN/G1", "GEN/G3"]
        assert [d.key.split("#")[0] for d in tx.all(DeadLetter)] == ["G2"]
        assert tx.get(Patient, "ada").date_of_death is None


def test_a_group_commit_stores_what_one_message_at_a_time_stores(tmp_path):
    from carecore_hl7v2.ingest import handle_many

    from carecore.clock import FixedClock

    feed = [
        (DATA / "ADT01-23.hl7").read_bytes(),
        (DATA / "ADT04-28.hl7").read_bytes(),
        (DATA / "ADT-A03-02.hl7").read_bytes(),
        a03("S1", "1234^^^GEN^MR", pid_rest="||Doe^Jane||19500101|F"),
        a03("S2", "1234^^^GEN^MR", trigger="A08", pid_rest="||Doe-Roe^Jane||19500101|F"),
        a03("S1", "1234^^^GEN^MR", pid_rest="||Doe^Jane||19500101|F"),  # a resend
        a03("S3", "1234^^^GEN^MR", visit="V1", trigger="A13"),
        "not HL7",
    ]
    stores = []
    for name, run in (
        ("one", lambda p: [handle_many(p, [m], time_zone="America/Chicago")[0] for m in feed]),
        ("group", lambda p: handle_many(p, feed, time_zone="America/Chicago")),
    ):
        clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
        with CareProgram.open(f"sqlite:///{tmp_path / name}.db", actor="t", clock=clock) as p:
            outcomes = run(p)
            with p.transaction("check") as tx:
                stores.append(
                    (
                        [(o.code, o.duplicate, o.patient_id) for o in outcomes],
                        sorted(tx.all(Patient), key=lambda x: x.id),
                        sorted(tx.all(AdtEvent), key=lambda x: x.id),
                        sorted(tx.all(TransitionEpisode), key=lambda x: x.id),
                        sorted(d.key for d in tx.all(DeadLetter)),
                    )
                )
    assert stores[0] == stores[1]
    assert [c for c, _, _ in stores[0][0]] == ["AA", "AA", "AA", "AA", "AA", "AA", "AA", "AR"]


def test_a_group_commit_reads_each_patient_link_once(program):
    from carecore_hl7v2.ingest import handle_many

    ada(program, Identifier(system="GEN", value="1234"))
    handle(program, a03("L0", "1234^^^GEN^MR"))  # links GEN 1234 to ada
    with program.transaction("check") as tx:
        before = tx.audit_entries()[-1].seq
    batch = [a03(f"L{n}", "1234^^^GEN^MR", visit=f"V{n}") for n in range(1, 5)]
    assert [o.patient_id for o in handle_many(program, batch)] == ["ada"] * 4
    with program.transaction("check") as tx:
        link_reads = [
            e
            for e in tx.audit_entries(after=before)
            if e.kind == "PatientLink" and e.action == "read"
        ]
    # Four messages, one identifier: the link is read once for the transaction (it was
    # read twice a message, to match the patient and again to link it).
    assert len(link_reads) == 1


def test_a_group_commit_asks_for_all_its_links_at_once(monkeypatch, program):
    # One get_many for every PID-3 identifier of the group, not a get (and a NotFound
    # built and caught) for each identifier no link names yet.
    from carecore_hl7v2.ingest import handle_many

    from carecore import _guard

    asked, got = [], []
    many, one = _guard.GuardedTransaction.get_many, _guard.GuardedTransaction.get
    monkeypatch.setattr(
        _guard.GuardedTransaction,
        "get_many",
        lambda self, kind, keys: (
            asked.append((kind.__name__, list(keys))) or many(self, kind, keys)
        ),
    )
    monkeypatch.setattr(
        _guard.GuardedTransaction,
        "get",
        lambda self, kind, key: got.append(kind.__name__) or one(self, kind, key),
    )
    ada(program, Identifier(system="GEN", value="1234"))
    handle(program, a03("K0", "1234^^^GEN^MR"))  # links GEN 1234 to ada
    asked.clear()
    batch = [a03(f"K{n}", f"{n}^^^GEN^MR~1234^^^GEN^PI", visit=f"V{n}") for n in range(1, 4)]
    outcomes = handle_many(program, batch)
    assert [o.patient_id for o in outcomes] == ["ada"] * 3
    assert asked == [("PatientLink", [("GEN", "1"), ("GEN", "1234"), ("GEN", "2"), ("GEN", "3")])]
    assert "PatientLink" not in got


def test_a_message_for_a_stored_patient_reads_the_patient_once(program):
    # The patient found by PID-3 gives the zone its event's dates are local to; it was
    # read again by id for that (a second query and audit row a message).
    ada(program, Identifier(system="GEN", value="1234"))
    with program.transaction("check") as tx:
        before = tx.audit_entries()[-1].seq
    # 04:30 UTC on 5 March: 4 March in Chicago, ada's zone (no practice zone is stored).
    outcome = handle(
        program, a03("Z1", "1234^^^GEN^MR").replace("202603041500-0600", "202603050430+0000")
    )
    assert outcome.patient_id == "ada"
    with program.transaction("check") as tx:
        reads = [
            e for e in tx.audit_entries(after=before) if e.kind == "Patient" and e.action == "read"
        ]
        (episode,) = tx.find(TransitionEpisode, patient_id="ada")
    # The identifier index (ada carries GEN 1234, not linked yet), then ada by id; no
    # find(Patient, patient_id="ada") for her zone.
    assert [(e.key, e.patient_id) for e in reads] == [(None, None), ("ada", "ada")]
    assert episode.discharge_date == pendulum.Date(2026, 3, 4)


def test_a_different_bad_message_under_a_used_control_id_is_kept_too(program):
    # Senders reuse control ids: a second, different refused message was not kept
    # (its dead letter was taken for a resend of the first). A true resend is kept once.
    first = a03("R1", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 26 + "19000101|Y")
    other = a03("R1", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 26 + "18990101|Y")
    ada(program, Identifier(system="GEN", value="1234"))
    for raw in (first, first, other, other):
        assert handle(program, raw).dead_letter
    with program.transaction("check") as tx:
        letters = tx.all(DeadLetter)
    assert sorted(d.raw for d in letters) == sorted([first, other])
    assert {d.key.split("#")[0] for d in letters} == {"R1"}
