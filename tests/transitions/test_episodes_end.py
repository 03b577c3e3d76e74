"""Episodes end: expiry after the 30-day period, with a reason; an admission on day 30 is a readmission."""

from __future__ import annotations

import json

import attrs
import pendulum
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    EpisodeStatus,
    Identifier,
    Patient,
    PatientClass,
    PatientLink,
    TransitionEpisode,
)
from carecore.service import CareProgram
from carecore.transitions import (
    apply_event,
    expire,
    expire_all,
    open_episode,
    record_contact,
    record_med_rec,
    record_visit,
)

TZ = "America/Chicago"
DISCHARGED = pendulum.Date(2026, 3, 2)


def adt(kind, day, *, visit):
    at = pendulum.datetime(day.year, day.month, day.day, 10, tz=TZ)
    return AdtEvent(
        id=f"{kind.value}-{visit}-{day}",
        source_key=f"{kind.value}-{visit}-{day}",
        patient_id="p1",
        kind=kind,
        occurred_at=at,
        admitted_at=at if kind is AdtEventKind.ADMIT else None,
        discharged_at=at if kind is AdtEventKind.DISCHARGE else None,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
        visit_number=visit,
    )


def episode():
    return open_episode(adt(AdtEventKind.DISCHARGE, DISCHARGED, visit="V1"), time_zone=TZ)


def test_an_admission_on_day_30_after_discharge_is_a_readmission():
    day_30 = DISCHARGED.add(days=30)
    (flagged,) = apply_event([episode()], adt(AdtEventKind.ADMIT, day_30, visit="V2"), time_zone=TZ)
    assert flagged.readmitted


def test_an_admission_on_day_31_is_not():
    day_31 = DISCHARGED.add(days=31)
    assert apply_event([episode()], adt(AdtEventKind.ADMIT, day_31, visit="V2"), time_zone=TZ) == []


def test_an_open_episode_expires_the_day_after_its_period_with_the_reason():
    ep = record_contact(episode(), on=DISCHARGED.add(days=1), successful=True)
    assert ep.period_end == DISCHARGED.add(days=29)
    assert expire(ep, on=ep.period_end) is ep
    ended = expire(ep, on=ep.period_end.add(days=1))
    assert ended.status is EpisodeStatus.CLOSED
    assert ended.version == ep.version + 1
    assert ended.close_reason == (
        "expired: the 30-day TCM period ended on 2026-03-31 with the visit and "
        "medication reconciliation not done"
    )
    assert ended.open_deadlines(on=ep.period_end.add(days=1)) == {}
    assert expire(ended, on=ep.period_end.add(days=90)) is ended
    assert expire_all([ep, ended], on=ep.period_end.add(days=1)) == [ended]


def test_a_completed_or_cancelled_episode_does_not_expire():
    done = record_med_rec(
        record_visit(episode(), on=DISCHARGED.add(days=5)), on=DISCHARGED.add(days=5)
    )
    assert done.status is EpisodeStatus.COMPLETED
    assert expire(done, on=DISCHARGED.add(days=400)) is done


# -- carecore tcm list and tcm expire ----------------------------------------------------


def _store(tmp_path):
    url = f"sqlite:///{tmp_path / 'tcm.db'}"
    today = pendulum.now(TZ).date()
    with CareProgram.open(url, actor="hl7-feed") as program:
        with program.transaction("registration") as tx:
            tx.add(
                Patient(
                    id="p1",
                    given_name="Ada",
                    family_name="Okafor",
                    birth_date=pendulum.Date(1948, 3, 2),
                    sex=AdministrativeSex.FEMALE,
                    time_zone=TZ,
                    identifiers=[
                        Identifier(system="urn:oid:2.16.840.1.113883.3.1", value="MRN-77")
                    ],
                )
            )
        old = attrs.evolve(
            adt(AdtEventKind.DISCHARGE, today.subtract(days=40), visit="V1"), facility="MERCY"
        )
        new = attrs.evolve(
            adt(AdtEventKind.DISCHARGE, today.subtract(days=3), visit="V2"), facility="MERCY"
        )
        stranger = attrs.evolve(
            adt(AdtEventKind.DISCHARGE, today.subtract(days=2), visit="V3"), patient_id="H-99"
        )
        with program.transaction("hospital link") as tx:
            tx.add(PatientLink(system="MERCY", value="H-1", patient_id="p1"))
        for event in (old, new, stranger):
            program.receive(event, source="hl7", time_zone=TZ)
    return url


def _list(url, *extra):
    result = CliRunner().invoke(make_app(), ["tcm", "list", "--db", url, *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output) if "json" in extra else result.output


def test_tcm_list_shows_the_actionable_and_all_shows_the_expired_with_its_reason(tmp_path):
    url = _store(tmp_path)
    rows = _list(url, "--format", "json")
    assert {r["visit_number"] for r in rows} == {"V2", "V3"}
    mine = next(r for r in rows if r["patient_id"] == "p1")
    assert mine["patient_name"] == "Okafor, Ada"
    # What the hospital's messages were matched by, not every identifier on record.
    assert mine["identifiers"] == [{"system": "MERCY", "value": "H-1"}]
    assert mine["facility"] == "MERCY"
    stranger = next(r for r in rows if r["patient_id"] == "H-99")
    assert stranger["patient_name"] is None
    everything = _list(url, "--all", "--format", "json")
    (expired,) = [r for r in everything if r["visit_number"] == "V1"]
    assert expired["status"] == "closed"
    assert expired["close_reason"].startswith("expired: the 30-day TCM period ended on")
    table = _list(url)
    assert "Okafor, Ada" in table
    assert "H-1 (MERCY)" in table
    assert "H-99 (not registered)" in table
    assert "expired:" in _list(url, "--all")


def test_tcm_expire_stores_the_closed_episodes_once(tmp_path):
    url = _store(tmp_path)
    first = CliRunner().invoke(make_app(), ["tcm", "expire", "--db", url])
    assert (first.exit_code, first.output) == (0, "1 episode(s) expired\n")
    again = CliRunner().invoke(make_app(), ["tcm", "expire", "--db", url])
    assert again.output == "0 episode(s) expired\n"
    with CareProgram.open(url, actor="t") as program, program.transaction("read") as tx:
        closed = [e for e in tx.all(TransitionEpisode) if e.status is EpisodeStatus.CLOSED]
    assert [e.close_reason.split(":")[0] for e in closed] == ["expired"]


def test_an_expired_episode_takes_what_happened_inside_its_period_documented_late():
    ep = record_contact(episode(), on=DISCHARGED.add(days=1), successful=True)
    ended = expire(ep, on=ep.period_end.add(days=1))
    visited = record_visit(ended, on=DISCHARGED.add(days=10))
    assert visited.visit_on == DISCHARGED.add(days=10)
    assert visited.status is EpisodeStatus.CLOSED
    assert visited.close_reason.endswith("with the medication reconciliation not done")
    assert visited.version == ended.version + 1
    done = record_med_rec(visited, on=DISCHARGED.add(days=10))
    assert (done.status, done.close_reason) == (EpisodeStatus.COMPLETED, None)
    with pytest.raises(errors.InvalidTransition):
        record_visit(ended, on=ep.period_end.add(days=1))  # after the period: not TCM


def test_tcm_list_shows_the_identifiers_the_hospitals_sent_with_their_authority(tmp_path):
    """Not the SSN, passport or licence a FHIR import put on the patient record."""
    url = f"sqlite:///{tmp_path / 'tcm.db'}"
    today = pendulum.now(TZ).date()
    personal = [
        Identifier(system="http://hl7.org/fhir/sid/us-ssn", value="999-12-3456"),
        Identifier(
            system="http://standardhealthrecord.org/fhir/StructureDefinition/passportNumber",
            value="X12345678X",
        ),
        Identifier(system="urn:oid:2.16.840.1.113883.4.3.25", value="S99912345"),
        Identifier(system="urn:oid:2.16.840.1.113883.4.1", value="999-65-4321"),
    ]
    with CareProgram.open(url, actor="hl7-feed") as program:
        with program.transaction("registration") as tx:
            for pid, given in (("p1", "Ada"), ("p2", "Bea")):
                tx.add(
                    Patient(
                        id=pid,
                        given_name=given,
                        family_name="Okafor",
                        birth_date=pendulum.Date(1948, 3, 2),
                        sex=AdministrativeSex.FEMALE,
                        time_zone=TZ,
                        identifiers=[
                            Identifier(system="https://ehr.example/mrn", value=f"E-{pid}"),
                            *personal,
                        ],
                    )
                )
            # Each hospital's MRN100 is a different person; the SSN sent in PID-3 too.
            tx.add(PatientLink(system="GENHOSP", value="MRN100", patient_id="p1"))
            tx.add(PatientLink(system="USSSA", value="999-12-3456", patient_id="p1"))
            tx.add(PatientLink(system="OTHERHOSP", value="MRN100", patient_id="p2"))
        for pid, facility, visit in (("p1", "GENHOSP", "V1"), ("p2", "OTHERHOSP", "V2")):
            event = attrs.evolve(
                adt(AdtEventKind.DISCHARGE, today.subtract(days=3), visit=visit),
                facility=facility,
                patient_id=pid,
            )
            program.receive(event, source="hl7", time_zone=TZ)
    rows = {r["patient_id"]: r for r in _list(url, "--all", "--format", "json")}
    assert rows["p1"]["identifiers"] == [{"system": "GENHOSP", "value": "MRN100"}]
    assert rows["p2"]["identifiers"] == [{"system": "OTHERHOSP", "value": "MRN100"}]
    table = _list(url, "--all")
    assert "MRN100 (GENHOSP)" in table
    assert "MRN100 (OTHERHOSP)" in table
    for shown in (table, json.dumps(_list(url, "--all", "--format", "json"))):
        for identifier in personal:
            assert identifier.value not in shown
        assert "E-p1" not in shown  # the EHR's own id: not what the hospital sent


def test_without_a_hospital_identifier_the_record_s_are_shown_but_no_ssn(tmp_path):
    url = f"sqlite:///{tmp_path / 'tcm.db'}"
    today = pendulum.now(TZ).date()
    with CareProgram.open(url, actor="hl7-feed") as program:
        with program.transaction("registration") as tx:
            tx.add(
                Patient(
                    id="p1",
                    given_name="Ada",
                    family_name="Okafor",
                    birth_date=pendulum.Date(1948, 3, 2),
                    sex=AdministrativeSex.FEMALE,
                    time_zone=TZ,
                    identifiers=[
                        Identifier(system="http://hospital.smarthealthit.org", value="MRN-9"),
                        Identifier(system="http://hl7.org/fhir/sid/us-ssn", value="999-12-3456"),
                    ],
                )
            )
        event = attrs.evolve(
            adt(AdtEventKind.DISCHARGE, today.subtract(days=3), visit="V1"), patient_id="p1"
        )
        program.receive(event, source="fhir", time_zone=TZ)
    (row,) = _list(url, "--all", "--format", "json")
    assert row["identifiers"] == [{"system": "http://hospital.smarthealthit.org", "value": "MRN-9"}]
    assert "999-12-3456" not in _list(url, "--all")


def test_tcm_list_s_table_says_when_the_hospital_did_not_say_where_the_patient_went(tmp_path):
    url = f"sqlite:///{tmp_path / 'tcm.db'}"
    today = pendulum.now(TZ).date()
    gone = attrs.evolve(
        adt(AdtEventKind.DISCHARGE, today.subtract(days=2), visit="V4"), to_setting=None
    )
    known = adt(AdtEventKind.DISCHARGE, today.subtract(days=3), visit="V5")
    with CareProgram.open(url, actor="hl7-feed") as program:
        for event in (gone, known):
            program.receive(attrs.evolve(event, facility="MERCY"), source="hl7", time_zone=TZ)
    rows = _list(url, "--format", "json")
    assert {r["visit_number"]: r["disposition_unknown"] for r in rows} == {"V4": True, "V5": False}
    lines = _list(url).splitlines()
    flagged = [n for n, line in enumerate(lines) if "disposition unknown" in line]
    assert len(flagged) == 1  # V4's alone, on the line under its row
    assert str(today.subtract(days=2)) in lines[flagged[0] - 1]
