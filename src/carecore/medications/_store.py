"""What :class:`~carecore.service.CareProgram` does with medications inside one transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from carecore import errors, transitions
from carecore.medications import Finding, active_on, compare, reconcile
from carecore.model import (
    EpisodeStatus,
    MedicationReconciliation,
    MedicationSource,
    MedicationStatement,
    MedicationStatus,
    Patient,
    Practitioner,
    TransitionEpisode,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import pendulum

    from carecore.medications import Choice
    from carecore.model import Decision
    from carecore.protocols import Transaction

__all__ = ["current_list", "preview", "reconcile_in", "source_lists"]

#: How far back a discharge summary's list counts when no episode says when the discharge was.
_DISCHARGE_LOOKBACK_DAYS = 30


def source_lists(
    statements: Iterable[MedicationStatement],
    day: pendulum.Date,
    *,
    discharged_on: pendulum.Date | None = None,
) -> dict[MedicationSource, list[MedicationStatement]]:
    """The lists a reconciliation on *day* compares, from a patient's stored statements.

    - the practice's list (``ehr``): the active list as of *day* (after an
      earlier reconciliation, its reconciled list and what came after);
    - the discharge summary: its statements recorded since the discharge
      (*discharged_on*, else the last 30 days), the stopped ones included;
    - the patient's report and pharmacy statements active on *day*.

    Sources with no statement are left out.
    """
    items = list(statements)
    practice = [
        s
        for s in active_on(items, day)
        if s.source in {MedicationSource.EHR, MedicationSource.RECONCILIATION}
    ]
    since = discharged_on or day.subtract(days=_DISCHARGE_LOOKBACK_DAYS)
    discharge = [
        s
        for s in items
        if s.source is MedicationSource.DISCHARGE_SUMMARY
        and (s.recorded_on or s.start or day) >= since
        and (s.recorded_on or s.start or day) <= day
    ]
    reported = [
        s for s in items if s.source is MedicationSource.PATIENT_REPORTED and s.active_on(day)
    ]
    filled = [s for s in items if s.source is MedicationSource.PHARMACY_FILL and s.active_on(day)]
    out = {
        MedicationSource.EHR: practice,
        MedicationSource.DISCHARGE_SUMMARY: discharge,
        MedicationSource.PATIENT_REPORTED: reported,
        MedicationSource.PHARMACY_FILL: filled,
    }
    return {source: found for source, found in out.items() if found}


def _episode(
    tx: Transaction, patient_id: str, episode_id: str | None, day: pendulum.Date
) -> TransitionEpisode | None:
    episodes = tx.find(TransitionEpisode, patient_id=patient_id)
    if episode_id is not None:
        for episode in episodes:
            if episode.id == episode_id:
                return episode
        raise errors.NotFound(
            "no such episode for this patient", field="episode_id", value=episode_id
        )
    open_ = [
        e
        for e in episodes
        if e.status is EpisodeStatus.OPEN
        and e.qualifies
        and e.med_rec_on is None
        and e.discharge_date <= day
    ]
    return max(open_, key=lambda e: (e.discharged_at, e.id), default=None)


def _new_id(tx: Transaction, patient_id: str, on: pendulum.Date) -> str:
    """``medrec-<patient>-<day>``, numbered from the second one of a day."""
    taken = {r.id for r in tx.find(MedicationReconciliation, patient_id=patient_id)}
    base = f"medrec-{patient_id}-{on.isoformat()}"
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}-{n}"
    return found


def _reconciler(tx: Transaction, by: str) -> None:
    """Refuse *by* unless the store holds a practitioner with that id."""
    try:
        tx.get(Practitioner, by)
    except errors.NotFound:
        raise errors.NotFound(
            "no practitioner with this id in the store (the one who reconciles is a stored "
            "practitioner: import their FHIR Practitioner or add them first)",
            field="by",
            value=by,
        ) from None


def reconcile_in(
    tx: Transaction,
    *,
    patient_id: str,
    reconciliation_id: str | None,
    by: str,
    on: pendulum.Date,
    decisions: Mapping[str, Decision | Choice],
    default: Decision | None,
    episode_id: str | None,
    lists: Mapping[MedicationSource, Iterable[MedicationStatement]] | None,
) -> MedicationReconciliation:
    """Reconcile in *tx*: store the lists given, the record, the reconciled list; meet the episode.

    Without *episode_id* the patient's open transition episode (discharged by
    *on*, reconciliation still due) is the one met, when there is one.
    """
    tx.get(Patient, patient_id)  # NotFound for an unknown patient
    _reconciler(tx, by)
    stored = tx.find(MedicationStatement, patient_id=patient_id)
    known = {s.id for s in stored}
    if lists is not None:
        given = {source: list(found) for source, found in lists.items()}
        for found in given.values():
            for s in found:
                if s.id not in known:
                    tx.add(s)
                    known.add(s.id)
    episode = _episode(tx, patient_id, episode_id, on)
    if lists is None:
        given = source_lists(
            stored, on, discharged_on=None if episode is None else episode.discharge_date
        )
        _two_lists(given, patient_id)
    record, reconciled = reconcile(
        reconciliation_id=reconciliation_id or _new_id(tx, patient_id, on),
        patient_id=patient_id,
        lists=given,
        decisions=decisions,
        default=default,
        by=by,
        on=on,
        episode_id=None if episode is None else episode.id,
    )
    tx.add(record)
    # An earlier reconciled list still running stops where this one starts (its history stays).
    for s in stored:
        if s.source is MedicationSource.RECONCILIATION and s.stop is None and s.active_on(on):
            tx.replace(attrs.evolve(s, stop=on))
    for s in reconciled:
        tx.add(s)
    if episode is not None and episode.status is EpisodeStatus.OPEN and episode.med_rec_on is None:
        tx.replace(transitions.record_med_rec(episode, on=on))
    return record


def current_list(tx: Transaction, patient_id: str, day: pendulum.Date) -> list[MedicationStatement]:
    """The patient's medication list as of *day* (see :func:`carecore.medications.active_on`)."""
    tx.get(Patient, patient_id)
    return [
        s
        for s in active_on(tx.find(MedicationStatement, patient_id=patient_id), day)
        if s.status is not MedicationStatus.STOPPED
    ]


def preview(
    tx: Transaction, patient_id: str, day: pendulum.Date, episode_id: str | None = None
) -> list[Finding]:
    """What a reconciliation on *day* would compare, and the discrepancies, without writing."""
    tx.get(Patient, patient_id)
    episode = _episode(tx, patient_id, episode_id, day)
    lists = source_lists(
        tx.find(MedicationStatement, patient_id=patient_id),
        day,
        discharged_on=None if episode is None else episode.discharge_date,
    )
    _two_lists(lists, patient_id)
    return compare(lists)


def _two_lists(
    lists: Mapping[MedicationSource, Iterable[MedicationStatement]], patient: str
) -> None:
    """Refuse fewer than two source lists, saying where a second list comes from."""
    if len(lists) < 2:  # noqa: PLR2004 - a reconciliation compares two lists or more
        raise errors.InvalidValue(
            "a reconciliation compares two or more source lists; this patient has "
            + (", ".join(s.value for s in lists) or "none")
            + " (the discharge summary's list comes from FHIR MedicationRequests of category "
            "discharge, the patient's own from a MedicationStatement the patient reports)",
            field="lists",
            value=patient,
        )
