"""CareProgram.reconcile_medications on a real SQLite store: a discharge to a reconciled list."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.clock import FixedClock
from carecore.model import (
    AdministrativeSex,
    AdtEvent,
    AdtEventKind,
    CareSetting,
    Credential,
    Decision,
    EpisodeStatus,
    MedicationReconciliation,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Patient,
    PatientClass,
    Practitioner,
    TransitionEpisode,
)
from carecore.service import CareProgram

TZ = "America/Chicago"
D = pendulum.Date


@pytest.fixture
def program(tmp_path, carecore_pm):
    program = CareProgram.open(
        f"sqlite:///{tmp_path / 'meds.db'}",
        actor="rn1",
        clock=FixedClock(pendulum.datetime(2026, 3, 9, 15, tz="UTC")),
        plugin_manager=carecore_pm,
    )
    when = pendulum.datetime(2026, 3, 4, 11, tz=TZ)
    with program.transaction("registration") as tx:
        tx.add(
            Patient(
                id="p1",
                given_name="Ada",
                family_name="Lopez",
                birth_date=D(1950, 3, 1),
                sex=AdministrativeSex.FEMALE,
                time_zone=TZ,
            )
        )
        for pid in ("dr1", "dr2"):
            tx.add(Practitioner(id=pid, name=f"Dr {pid}", credential=Credential.MD))
        for sid, source, rx, text, dose, status in [
            ("e1", MedicationSource.EHR, "314076", "Lisinopril 10 MG", "10 mg", "active"),
            ("e2", MedicationSource.EHR, "243670", "Aspirin 81 MG", "81 mg", "active"),
            (
                "d1",
                MedicationSource.DISCHARGE_SUMMARY,
                "314076",
                "Lisinopril 20 MG",
                "20 mg",
                "active",
            ),
            (
                "d2",
                MedicationSource.DISCHARGE_SUMMARY,
                "243670",
                "Aspirin 81 MG",
                "81 mg",
                "stopped",
            ),
        ]:
            tx.add(
                MedicationStatement(
                    id=sid,
                    patient_id="p1",
                    source=source,
                    rxnorm=rx,
                    text=text,
                    dose=dose,
                    status=MedicationStatus(status),
                    start=D(2025, 1, 1) if source is MedicationSource.EHR else D(2026, 3, 4),
                    recorded_on=None if source is MedicationSource.EHR else D(2026, 3, 4),
                )
            )
    program.receive(
        AdtEvent(
            id="a03",
            source_key="a03",
            patient_id="p1",
            kind=AdtEventKind.DISCHARGE,
            occurred_at=when,
            discharged_at=when,
            patient_class=PatientClass.INPATIENT,
            from_setting=CareSetting.INPATIENT_ACUTE,
            to_setting=CareSetting.HOME,
        ),
        source="test",
    )
    yield program
    program.close()


def _episode(program):
    with program.transaction("read") as tx:
        (episode,) = tx.find(TransitionEpisode, patient_id="p1")
    return episode


def test_a_discharge_then_a_reconciliation_meets_the_episode_deadline(program):
    assert "med-rec" in _episode(program).open_deadlines()
    record = program.reconcile_medications(
        "p1",
        by="dr1",
        decisions={"314076": Decision.CONTINUE, "243670": Decision.STOP},
    )
    assert record.on == D(2026, 3, 9)
    assert record.sources == {MedicationSource.EHR, MedicationSource.DISCHARGE_SUMMARY}
    episode = _episode(program)
    assert record.episode_id == episode.id
    assert episode.med_rec_on == D(2026, 3, 9)
    assert "med-rec" not in episode.open_deadlines()
    assert episode.status is EpisodeStatus.OPEN  # the visit is still to come
    with program.transaction("read") as tx:
        assert tx.find(MedicationReconciliation, patient_id="p1") == [record]
    # The list from that day: lisinopril at the discharge dose, aspirin gone.
    listed = program.medication_list("p1")
    assert [(s.text, s.dose) for s in listed] == [("Lisinopril 20 MG", "20 mg")]
    # History: before the reconciliation the practice list had both.
    before = program.medication_list("p1", on=D(2026, 3, 1))
    assert sorted(s.id for s in before) == ["e1", "e2"]


def test_an_undecided_reconciliation_changes_nothing(program):
    with pytest.raises(errors.InvalidValue):
        program.reconcile_medications("p1", by="dr1", decisions={"314076": Decision.CONTINUE})
    with program.transaction("read") as tx:
        assert tx.find(MedicationReconciliation, patient_id="p1") == []
    assert _episode(program).med_rec_on is None


def test_unknown_patient_is_refused(program):
    with pytest.raises(errors.NotFound):
        program.reconcile_medications("nobody", by="dr1", default=Decision.CONTINUE)


def test_an_unknown_practitioner_is_refused_by_name_and_nothing_is_saved(program):
    with pytest.raises(errors.NotFound) as caught:
        program.reconcile_medications("p1", by="dr-nobody", default=Decision.CONTINUE)
    assert (caught.value.field, caught.value.value) == ("by", "dr-nobody")
    with program.transaction("read") as tx:
        assert tx.find(MedicationReconciliation, patient_id="p1") == []
    assert _episode(program).med_rec_on is None


def test_a_second_reconciliation_supersedes_the_first_and_history_stays(program):
    first = program.reconcile_medications(
        "p1", by="dr1", decisions={"314076": Decision.CONTINUE, "243670": Decision.STOP}
    )
    second = program.reconcile_medications(
        "p1", by="dr2", decisions={"314076": Decision.STOP, "243670": Decision.CONTINUE}
    )
    assert (first.id, second.id) == ("medrec-p1-2026-03-09", "medrec-p1-2026-03-09-2")
    assert second.episode_id is None  # the episode's deadline was met by the first
    assert [s.text for s in program.medication_list("p1")] == ["Aspirin 81 MG"]
    with program.transaction("read") as tx:
        statements = tx.find(MedicationStatement, patient_id="p1")
    earlier = [s for s in statements if s.id.startswith(f"{first.id}.")]
    assert earlier
    assert all(s.stop == D(2026, 3, 9) for s in earlier)


def test_a_patient_with_one_list_is_told_where_a_second_comes_from(tmp_path, carecore_pm):
    """Only the practice's list: the refusal says how to bring the discharge or patient list."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    with CareProgram.open(url, actor="test", plugin_manager=carecore_pm) as program:
        with program.transaction("setup") as tx:
            tx.add(
                Patient(
                    id="p1",
                    given_name="Ada",
                    family_name="Lopez",
                    birth_date=D(1950, 1, 1),
                    sex=AdministrativeSex.FEMALE,
                    time_zone="UTC",
                )
            )
            tx.add(
                MedicationStatement(
                    id="e1", patient_id="p1", source=MedicationSource.EHR, text="Lisinopril 10 MG"
                )
            )
            tx.add(Practitioner(id="dr1", name="Dr One", credential=Credential.MD))
        with pytest.raises(errors.InvalidValue, match="MedicationRequests of category discharge"):
            program.reconcile_medications(
                "p1", by="dr1", on=D(2026, 3, 4), default=Decision.CONTINUE
            )
        with program.transaction("read") as tx:
            assert tx.all(MedicationReconciliation) == []
