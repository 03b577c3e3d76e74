"""``tcm list`` shows a discharge's local date in the practice's zone, on every store.

PostgreSQL keeps an instant as UTC: a discharge at 23:30 in Chicago on
3 December is 05:30 UTC on the 4th, and the list must still say the 3rd.
"""

from __future__ import annotations

import json

import attrs
import pendulum
import psycopg
import pytest
from click.testing import CliRunner

from carecore import transitions
from carecore.cli import make_app
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Patient,
    PatientClass,
    PracticeSetting,
    TransitionEpisode,
)
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram
from carecore.storage import open_store

APP = make_app(get_plugin_manager())


def _a03(discharged: str) -> str:
    pv1 = ["PV1", "1", "I", "W3^301^A^GEN"] + [""] * 42
    pv1[19], pv1[36], pv1[44], pv1[45] = "V1", "01", "202611301000", discharged
    return (
        "MSH|^~\\&|ADT|GEN|CC|PRAC|202612032340||ADT^A03|M1|P|2.5\r"
        "PID|1||1001^^^GEN^MR||Doe^Jane||19500101|F\r" + "|".join(pv1) + "\r"
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize(("discharged", "local_day"), [("202612032330", "2026-12-03")])
def test_the_discharge_date_is_the_practice_s_local_date(store, tmp_path, discharged, local_day):
    run = CliRunner().invoke
    made = run(APP, ["db", "init", store, "--time-zone", "America/Chicago"])
    assert made.exit_code == 0, made.output
    feed = tmp_path / "a03.hl7"
    feed.write_text(_a03(discharged))
    taken = run(APP, ["hl7", "import", "--db", store, str(feed)])
    assert taken.exit_code == 0, taken.output
    listed = run(
        APP, ["tcm", "list", "--db", store, "--all", "--as-of", "2026-12-04", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    (episode,) = json.loads(listed.output)
    assert episode["discharge_date"] == local_day
    # The deadlines count from the same local day: contact by the second business day.
    assert episode["contact_due"] == "2026-12-07"
    table = run(APP, ["tcm", "list", "--db", store, "--all", "--as-of", "2026-12-04"])
    assert local_day in table.output


def _event(eid: str, kind: AdtEventKind, at: pendulum.DateTime) -> AdtEvent:
    discharge = kind is AdtEventKind.DISCHARGE
    return AdtEvent(
        id=eid,
        source_key=eid,
        patient_id="p1",
        kind=kind,
        occurred_at=at,
        admitted_at=pendulum.datetime(2026, 2, 27, 9, tz=NEW_YORK) if discharge else at,
        discharged_at=at if discharge else None,
        patient_class=PatientClass.INPATIENT,
        from_setting=CareSetting.INPATIENT_ACUTE if discharge else None,
        to_setting=CareSetting.HOME if discharge else None,
        facility="General Hospital",
    )


NEW_YORK = "America/New_York"


def test_the_engine_counts_from_the_local_discharge_day(store):
    """23:30 in New York on 3 March is 04:30 UTC on the 4th: every rule reads the 3rd."""
    with CareProgram.open(store, actor="test") as program:
        program.import_records(
            [
                Patient(
                    id="p1",
                    given_name="Ada",
                    family_name="Okafor",
                    birth_date=pendulum.Date(1948, 3, 2),
                    sex=AdministrativeSex.FEMALE,
                    time_zone=NEW_YORK,
                )
            ],
            reason="setup",
        )
        discharged = pendulum.datetime(2026, 3, 3, 23, 30, tz=NEW_YORK)
        program.receive(_event("a03", AdtEventKind.DISCHARGE, discharged), source="test")
        with program.transaction("read") as tx:
            (episode,) = tx.all(TransitionEpisode)
        assert episode.discharge_date == pendulum.Date(2026, 3, 3)
        assert episode.contact_due == pendulum.Date(2026, 3, 5)  # the second business day
        # A call that evening, after the discharge, is the contact (not "before the discharge").
        called = transitions.record_contact(episode, on=pendulum.Date(2026, 3, 3), successful=True)
        assert called.contact_made_on == pendulum.Date(2026, 3, 3)
        # Back in hospital the next morning: day 1 of the readmission window.
        admitted = pendulum.datetime(2026, 3, 4, 9, tz=NEW_YORK)
        program.receive(_event("a01", AdtEventKind.ADMIT, admitted), source="test")
        with program.transaction("read") as tx:
            (episode,) = tx.all(TransitionEpisode)
        assert episode.readmitted


def test_migration_21_gives_stored_episodes_their_local_day(postgres_url):
    """A schema-20 store kept only the UTC instant: the day is worked out in the zone
    the episode opened in, the patient's, else the practice's."""
    with CareProgram.open(postgres_url, actor="test") as program:
        program.import_records(
            [
                Patient(
                    id="p1",
                    given_name="Ada",
                    family_name="Okafor",
                    birth_date=pendulum.Date(1948, 3, 2),
                    sex=AdministrativeSex.FEMALE,
                    time_zone=NEW_YORK,
                )
            ],
            reason="setup",
        )
        with program.transaction("zone") as tx:
            tx.add(PracticeSetting(name="time-zone", value="America/Los_Angeles"))
        program.receive(
            _event(
                "a03", AdtEventKind.DISCHARGE, pendulum.datetime(2026, 3, 3, 23, 30, tz=NEW_YORK)
            ),
            source="test",
        )
        # Someone the feed announced before registration, discharged 21:30 in Los Angeles.
        late = attrs.evolve(
            _event(
                "a03-2",
                AdtEventKind.DISCHARGE,
                pendulum.datetime(2026, 3, 3, 21, 30, tz="America/Los_Angeles"),
            ),
            patient_id="p2",
        )
        program.receive(late, source="test")
    with psycopg.connect(postgres_url) as conn:
        for table in ("transition_episodes", "transition_episodes_history"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN discharge_date")
        conn.execute("UPDATE carecore_schema SET version = 20")
    store = open_store(postgres_url)
    try:
        assert store.migrate() == [21]
    finally:
        store.close()
    with CareProgram.open(postgres_url, actor="test") as program, program.transaction("r") as tx:
        days = {e.patient_id: e.discharge_date for e in tx.all(TransitionEpisode)}
    assert days == {"p1": pendulum.Date(2026, 3, 3), "p2": pendulum.Date(2026, 3, 3)}
    with psycopg.connect(postgres_url) as conn:
        (missing,) = conn.execute(
            "SELECT count(*) FROM transition_episodes_history WHERE discharge_date IS NULL"
        ).fetchone()
    assert missing == 0
