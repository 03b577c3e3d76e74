"""A death sent over HL7 closes the open TCM episode; a control id reused for another
message is not taken for a resend; patients registered from HL7 get ids without their MRN."""

from __future__ import annotations

import attrs
from carecore_hl7v2.ingest import _legacy_id, handle, handle_many, prepare
from test_intake import a03, ada

from carecore.model import (
    AdtEvent,
    EpisodeCloseKind,
    EpisodeStatus,
    Identifier,
    Patient,
    PatientLink,
    TransitionEpisode,
)

JANE = "||Doe^Jane||19500101|F"


def test_a_death_on_an_a08_closes_the_open_episode_with_its_reason(program):
    ada(program, Identifier(system="GEN", value="1234"))
    assert handle(program, a03("D1", "1234^^^GEN^MR")).code == "AA"
    a08 = a03("D2", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 26 + "20260305|Y")
    outcome = handle(program, a08)
    assert outcome.code == "AA", outcome.reason
    with program.transaction("check") as tx:
        assert tx.get(Patient, "ada").date_of_death is not None
        (episode,) = tx.find(TransitionEpisode, patient_id="ada")
    assert episode.status is EpisodeStatus.CLOSED
    assert episode.close_kind is EpisodeCloseKind.DIED
    assert episode.close_reason == "patient died on 2026-03-05"


def test_a_discharge_of_a_patient_already_reported_dead_closes_its_episode(program):
    ada(program, Identifier(system="GEN", value="1234"))
    a08 = a03("D1", "1234^^^GEN^MR", trigger="A08", pid_rest="|" * 26 + "20260305|Y")
    assert handle(program, a08).code == "AA"
    assert handle(program, a03("D2", "1234^^^GEN^MR", visit="V2")).code == "AA"
    with program.transaction("check") as tx:
        episodes = tx.find(TransitionEpisode, patient_id="ada")
    assert episodes
    assert {e.close_kind for e in episodes} == {EpisodeCloseKind.DIED}


def test_a_different_message_reusing_a_control_id_is_stored_as_its_own(program):
    first = a03("MSG00001", "1234^^^GEN^MR", pid_rest=JANE)
    other = a03("MSG00001", "5678^^^GEN^MR", visit="V9", pid_rest="||Roe^Ann||19600101|F")
    assert handle(program, first).stored
    reused = handle(program, other)
    assert (reused.code, reused.stored, reused.duplicate) == ("AA", True, False)
    # Resends of either are duplicates: nothing is stored twice.
    assert handle(program, first).duplicate
    assert handle(program, other).duplicate
    with program.transaction("check") as tx:
        events = tx.all(AdtEvent)
        patients = tx.all(Patient)
    assert len(events) == 2
    assert len(patients) == 2
    assert {e.patient_id for e in events} == {p.id for p in patients}


def test_a_reused_control_id_in_one_group_commit_is_two_messages(program):
    first = a03("MSG00001", "1234^^^GEN^MR", pid_rest=JANE)
    other = a03("MSG00001", "1234^^^GEN^MR", trigger="A08", pid_rest="||Doe-Roe^Jane||19500101|F")
    outcomes = handle_many(program, [first, other, first])
    assert [(o.stored, o.duplicate) for o in outcomes] == [
        (True, False),
        (True, False),
        (False, True),
    ]


def test_an_hl7_registered_patients_id_carries_no_identifier_text(program):
    outcome = handle(program, a03("R1", "MRN100^^^GENHOSP^MR", pid_rest=JANE))
    assert outcome.created_patient
    assert "MRN100" not in outcome.patient_id
    assert "GENHOSP" not in outcome.patient_id
    # A resend under another control id files under the same patient.
    again = handle(program, a03("R2", "MRN100^^^GENHOSP^MR", visit="V2", pid_rest=JANE))
    assert (again.patient_id, again.created_patient) == (outcome.patient_id, False)


def test_events_before_registration_file_under_the_id_the_patient_then_gets(program):
    early = handle(program, a03("E1", "MRN7^^^GENHOSP^MR"))  # no name or birth date yet
    assert early.stored
    later = handle(program, a03("E2", "MRN7^^^GENHOSP^MR", visit="V2", pid_rest=JANE))
    assert later.created_patient
    with program.transaction("check") as tx:
        events = tx.all(AdtEvent)
        (patient,) = tx.all(Patient)
    assert "MRN7" not in patient.id
    assert {e.patient_id for e in events} == {patient.id}


def test_a_patient_stored_under_an_id_of_the_old_form_keeps_it(program):
    old = _legacy_id(Identifier(system="GENHOSP", value="MRN8"))
    assert old.startswith("hl7-GENHOSP-MRN8-")
    # An event filed before registration under the old form of id.
    early = a03("O1", "MRN8^^^GENHOSP^MR")
    with program.transaction("old") as tx:
        event = prepare(early, time_zone=None).event
        tx.add(attrs.evolve(event, patient_id=old))
    later = handle(program, a03("O2", "MRN8^^^GENHOSP^MR", visit="V2", pid_rest=JANE))
    assert later.patient_id == old
    with program.transaction("check") as tx:
        assert tx.get(PatientLink, ("GENHOSP", "MRN8")).patient_id == old
