"""CareProgram.receive through a real SQLite store, and `carecore tcm list`."""

from __future__ import annotations

import json

import pendulum
import pytest
from attrs import evolve
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    DeadLetter,
    EpisodeStatus,
    Patient,
    PatientClass,
    TransitionEpisode,
)
from carecore.service import CareProgram

TZ = "America/Chicago"


def adt(kind, when, *, key, visit="V1", frm=CareSetting.INPATIENT_ACUTE, to=CareSetting.HOME):
    return AdtEvent(
        id=key,
        source_key=key,
        patient_id="p1",
        kind=kind,
        occurred_at=when,
        discharged_at=when if kind is AdtEventKind.DISCHARGE else None,
        patient_class=PatientClass.INPATIENT,
        from_setting=frm,
        to_setting=to,
        visit_number=visit,
    )


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'tcm.db'}"


@pytest.fixture
def program(url, carecore_pm):
    program = CareProgram.open(
        url,
        actor="hl7-feed",
        clock=FixedClock(pendulum.datetime(2026, 3, 4, 22, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    with program.transaction("registration") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=pendulum.date(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone=TZ,
            )
        )
    yield program
    program.close()


def test_a_discharge_opens_one_episode_and_one_notice_even_when_repeated(program):
    a03 = adt(AdtEventKind.DISCHARGE, pendulum.datetime(2026, 3, 4, 15, tz=TZ), key="MSG0001")
    first = program.receive(a03, source="hl7")
    again = program.receive(a03, source="hl7")
    assert (first.duplicate, again.duplicate) == (False, True)
    (episode,) = first.episodes
    assert episode.contact_due == pendulum.Date(2026, 3, 6)
    with program.transaction("check") as tx:
        assert tx.all(TransitionEpisode) == [episode]
        assert [i.message.subject for i in tx.outbox()] == ["Discharge: contact p1 by 2026-03-06"]
        assert [e.id for e in tx.find(AdtEvent, patient_id="p1")] == ["MSG0001"]


def test_out_of_order_and_cancel_messages(program):
    a03 = adt(AdtEventKind.DISCHARGE, pendulum.datetime(2026, 3, 4, 15, tz=TZ), key="MSG0002")
    a01 = adt(AdtEventKind.ADMIT, pendulum.datetime(2026, 3, 1, 9, tz=TZ), key="MSG0001")  # late
    program.receive(a03, source="hl7")
    assert program.receive(a01, source="hl7").episodes == ()
    readmit = adt(
        AdtEventKind.ADMIT, pendulum.datetime(2026, 3, 18, 9, tz=TZ), key="MSG0003", visit="V2"
    )
    (flagged,) = program.receive(readmit, source="hl7").episodes
    assert flagged.readmitted
    a13 = adt(
        AdtEventKind.CANCEL_DISCHARGE, pendulum.datetime(2026, 3, 20, 9, tz=TZ), key="MSG0004"
    )
    (cancelled,) = program.receive(a13, source="hl7").episodes
    assert cancelled.status is EpisodeStatus.CANCELLED
    with program.transaction("check") as tx:
        history = tx.history(TransitionEpisode, cancelled.id)
    assert [h.version for h in history] == [1, 2, 3]
    assert program.store.check().ok


def test_dead_letters_are_kept_once(program):
    letter = DeadLetter(
        id="dl-1",
        source="hl7",
        raw="MSH|garbage",
        reason="PID segment missing",
        received_at=pendulum.datetime(2026, 3, 4, tz="UTC"),
        key="BAD0001",
    )
    assert program.record_dead_letter(letter) is True
    assert program.record_dead_letter(evolve(letter, id="dl-2")) is False  # the same message again
    with program.transaction("check") as tx:
        assert [d.reason for d in tx.all(DeadLetter)] == ["PID segment missing"]


def test_tcm_list_json_and_due_filter(program, url, carecore_pm):
    program.receive(
        adt(AdtEventKind.DISCHARGE, pendulum.datetime(2026, 3, 4, 15, tz=TZ), key="M1"),
        source="hl7",
    )
    program.receive(
        adt(
            AdtEventKind.DISCHARGE,
            pendulum.datetime(2026, 3, 10, 15, tz=TZ),
            key="M2",
            visit="V2",
            to=CareSetting.SKILLED_NURSING_FACILITY,
        ),
        source="hl7",
    )
    app = make_app(carecore_pm)
    # As of a day inside the period (today, the open episode has expired).
    on = ["--as-of", "2026-03-05"]
    result = CliRunner().invoke(app, ["tcm", "list", "--db", url, "--format", "json", "--all", *on])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["discharge_date"], r["qualifies"], r["status"]) for r in rows] == [
        ("2026-03-04", True, "open"),
        ("2026-03-10", False, "closed"),
    ]
    first = rows[0]
    assert {
        k: first[k]
        for k in (
            "patient_id",
            "from_setting",
            "to_setting",
            "contact_due",
            "visit_due_7",
            "visit_due_14",
            "period_end",
            "readmitted",
        )
    } == {
        "patient_id": "p1",
        "from_setting": "inpatient_acute",
        "to_setting": "home",
        "contact_due": "2026-03-06",
        "visit_due_7": "2026-03-11",
        "visit_due_14": "2026-03-18",
        "period_end": "2026-04-02",
        "readmitted": False,
    }
    due = CliRunner().invoke(
        app, ["tcm", "list", "--db", url, "--due-before", "2026-03-07", "--format", "json", *on]
    )
    assert [r["discharge_date"] for r in json.loads(due.output)] == ["2026-03-04"]
    none_due = CliRunner().invoke(
        app, ["tcm", "list", "--db", url, "--due-before", "2026-03-06", *on]
    )
    assert "no episodes" in none_due.output
    table = CliRunner().invoke(app, ["tcm", "list", "--db", url, *on])
    assert "p1" in table.output
    assert "2026-03-06" in table.output
    bad = CliRunner().invoke(app, ["tcm", "list", "--db", url, "--due-before", "2026-02-30"])
    assert bad.exit_code == 2
    assert "--due-before" in bad.output
