"""TCM counts from the episode's stored discharge day on every path (issue 17).

The practice in New York received the discharge before it knew p1's zone:
00:30 on 1 April in New York, which is 23:30 on 31 March in Chicago, where
p1 lives. The episode was opened on 1 April (its deadlines count from that
day) and is kept with it. The close, ``carecore tcm list`` and the
readmission measure read that day; they used to work the day out again in
p1's zone (31 March), so the close billed the TCM in March with a period
from 31 March, by which the high-MDM visit on 8 April is on day 8 (99495),
while ``tcm list`` chased the 7-day visit by 8 April.
"""

from __future__ import annotations

import csv
import json

import pendulum
from attrs import evolve
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.metrics import readmission_rate
from carecore.model import (
    AdtEvent,
    AdtEventKind,
    CareSetting,
    ContactMode,
    FaceToFaceVisit,
    InteractiveContact,
    MdmLevel,
    PatientClass,
    RoleClass,
    ServiceFamily,
    ServicePeriod,
    TransitionEpisode,
    VisitKind,
)
from carecore.plugins import get_plugin_manager
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient
from carecore.transitions import open_episode
from tests.billing.test_month_close import DR, RN

APP = make_app(get_plugin_manager(entry_points=False))
PRACTICE = "America/New_York"
DISCHARGED = pendulum.datetime(2026, 4, 1, 0, 30, tz=PRACTICE)
STORED_DAY = pendulum.Date(2026, 4, 1)


def _practice(url: str) -> None:
    event = AdtEvent(
        id="a1",
        source_key="k1",
        patient_id="p1",
        kind=AdtEventKind.DISCHARGE,
        occurred_at=DISCHARGED,
        patient_class=PatientClass.INPATIENT,
        admitted_at=DISCHARGED.subtract(days=3),
        discharged_at=DISCHARGED,
        from_setting=CareSetting.INPATIENT_ACUTE,
        to_setting=CareSetting.HOME,
    )
    # Reconciled at the visit, as TCM asks.
    episode = evolve(open_episode(event, time_zone=PRACTICE), med_rec_on=pendulum.Date(2026, 4, 8))
    patient = make_patient("p1")  # lives in America/Chicago, set after the discharge came in
    assert episode.discharge_date == STORED_DAY
    assert DISCHARGED.in_timezone(patient.time_zone).date() == pendulum.Date(2026, 3, 31)
    with CareProgram.open(url, actor="test") as prog, prog.transaction("setup") as tx:
        tx.add(DR)
        tx.add(RN)
        tx.add(patient)
        tx.add(episode)
        tx.add(
            InteractiveContact(
                id="c1",
                patient_id="p1",
                at=pendulum.datetime(2026, 4, 2, 10, tz="America/Chicago"),
                mode=ContactMode.PHONE,
                successful=True,
                role_class=RoleClass.CLINICAL_STAFF,
                performer_id="rn1",
                family=ServiceFamily.TCM,
                billing_practitioner_id="dr1",
            )
        )
        tx.add(
            FaceToFaceVisit(
                id="v1",
                patient_id="p1",
                on=pendulum.Date(2026, 4, 8),
                kind=VisitKind.TCM_F2F,
                mdm=MdmLevel.HIGH,
                billing_practitioner_id="dr1",
            )
        )


def _close(url: str, out, month: str) -> list[dict[str, str]]:
    args = ["billing", "close", "--month", month, "--db", url, "--out", str(out), "--no-progress"]
    result = CliRunner().invoke(APP, args, env={"CARECORE_CONFIG": None, "CARECORE_DB": None})
    assert result.exit_code == 0, result.output
    with (out / "claims.csv").open(newline="", encoding="utf-8") as handle:
        return [r for r in csv.DictReader(handle) if r["patient_id"] == "p1"]


def test_the_close_and_tcm_list_count_from_the_stored_day(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    _practice(url)

    assert _close(url, tmp_path / "march", "2026-03") == []
    (line,) = _close(url, tmp_path / "april", "2026-04")
    # Day 7 after the stored day, with high MDM: 99496, on the visit's day, over the
    # 30 days from 1 April.
    assert line["code"] == "99496"
    assert line["date_of_service"] == "2026-04-08"
    assert (line["period_start"], line["period_end"]) == ("2026-04-01", "2026-04-30")

    listed = CliRunner().invoke(
        APP, ["tcm", "list", "--db", url, "--as-of", "2026-04-02", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["discharge_date"] == line["period_start"]
    assert row["visit_due_7"] == "2026-04-08"


def test_the_readmission_measure_counts_the_stored_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'practice.db'}"
    _practice(url)
    with CareProgram.open(url, actor="test") as prog, prog.transaction("read") as tx:
        episodes = list(tx.all(TransitionEpisode))

    def index(month: int) -> int:
        measure = readmission_rate(episodes, period=ServicePeriod.month(2026, month))
        return int(measure.denominator)

    assert (index(3), index(4)) == (0, 1)
