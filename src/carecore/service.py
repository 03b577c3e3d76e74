"""The service layer: :class:`CareProgram`, the one place that holds a store.

A program pairs a store with a clock and an actor (who is working), so every
transaction it opens is stamped with who, when and why without the caller
passing them each time. Domain engines stay pure; this layer reads what they
need from the store, runs them, and writes their results back in one
transaction each.

>>> import pendulum
>>> from carecore.clock import FixedClock
>>> from carecore.model import AdministrativeSex, Patient
>>> program = CareProgram.open("memory://", actor="rn:ana",
...     clock=FixedClock(pendulum.datetime(2026, 1, 5, 9, tz="UTC")))
>>> with program.transaction("enrollment call") as tx:
...     tx.add(Patient(id="p1", given_name="Ada", family_name="Lopez",
...         birth_date=pendulum.date(1950, 3, 1), sex=AdministrativeSex.FEMALE,
...         time_zone="America/Chicago"))
>>> with program.transaction("chart review") as tx:
...     tx.get(Patient, "p1").family_name
'Lopez'
>>> program.close()
"""

from __future__ import annotations

import collections.abc
import contextlib
import logging
import random
import time
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import attrs
from attrs import evolve

from carecore import careplans, errors, transitions
from carecore._guard import GuardedTransaction, write_action
from carecore.access import AccessPolicy, Action, Actor, StaffActor
from carecore.clock import Clock, SystemClock
from carecore.instruments import get_instrument, score
from carecore.model import (
    CORRECTED_BY_SOURCE,
    AdtEvent,
    AdtEventKind,
    ApcmAddon,
    Appointment,
    AppointmentDue,
    AppointmentStatus,
    AssessmentResult,
    CarePlan,
    CarePlanRevised,
    CarePlanStatus,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    ClaimLine,
    Condition,
    Consent,
    ContactPreferences,
    Coverage,
    DeadLetter,
    Denial,
    DeviceReadingDay,
    DeviceSetup,
    DischargeReceived,
    DomainEvent,
    Enrollment,
    EnrollmentChanged,
    ExternalClaim,
    FaceToFaceVisit,
    InteractiveContact,
    ItemAnswer,
    MdmAssessment,
    Observation,
    OutreachDue,
    Patient,
    Practitioner,
    ProgramElection,
    ServiceFamily,
    ServicePeriod,
    TaskOverdue,
    ThresholdReached,
    TimeEntry,
    TimeRecorded,
    TransitionEpisode,
    UrgentFinding,
)
from carecore.model import validators as v
from carecore.notify import DEFAULT_RULES, NotificationRule, check_rules, messages_for
from carecore.plugins import Hooks
from carecore.storage import KINDS, BulkResult, kind_for, open_store

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

    import pendulum
    import pluggy

    from carecore import billing
    from carecore.billing import BillingFacts, EvaluationResult
    from carecore.billing._month import MonthRecords
    from carecore.billing._progress import TimeProgress
    from carecore.billing.facts import Setting
    from carecore.gaps import Gap
    from carecore.hookspecs import ExportTarget
    from carecore.instruments import Answer
    from carecore.medications import Choice, ClassAdherence
    from carecore.metrics import ProgramData
    from carecore.model import (
        Decision,
        MedicationReconciliation,
        MedicationSource,
        MedicationStatement,
    )
    from carecore.outreach import Worklist
    from carecore.protocols import Store, Transaction
    from carecore.transitions import TransitionRules

__all__ = ["READING_ALERT_DAYS", "CareProgram", "ImportRefusal", "ImportSkip", "Received"]

#: An imported home reading dated more than this many days before the clock's today (in
#: the patient's time zone) is history: stored without the urgent-findings check.
READING_ALERT_DAYS = 7

log = logging.getLogger(__name__)

#: The transition rules an event is applied by when none are given (built once).
_DEFAULT_RULES = transitions.TransitionRules()


@attrs.frozen(kw_only=True)
class ImportRefusal:
    """Records an import (or an EHR source) could not take, and why; ids only, never PHI.

    >>> ImportRefusal(where="patient p1", reason="InvalidValue: ...").where
    'patient p1'
    """

    where: str
    reason: str


@attrs.frozen(kw_only=True)
class ImportSkip:
    """A record an EHR source read and deliberately does not keep, and why; ids only, never PHI.

    A FHIR Claim, for one: carecore does not use it. ``carecore import``
    counts these by record type and reason ("not used"); they are neither
    stored nor refused.

    >>> ImportSkip(where="Claim/cl1", reason="carecore does not import claims").where
    'Claim/cl1'
    """

    where: str
    reason: str


@attrs.frozen(kw_only=True)
class Received:
    """What :meth:`CareProgram.receive` did with an inbound event."""

    event_id: str
    duplicate: bool
    episodes: tuple[TransitionEpisode, ...] = ()


def _episode_fields(episode: TransitionEpisode) -> dict[str, str]:
    """The plain-text values of an episode a notification template may use."""
    return {
        "discharge_date": episode.discharge_date.isoformat(),
        "from_setting": episode.from_setting.value,
        "contact_due": str(episode.contact_due),
        "visit_due_7": str(episode.visit_due_7),
        "visit_due": str(episode.visit_due),
        "episode_id": episode.id,
    }


def _initialize(store: Store, url: str, *, create: bool) -> None:
    """Create *store*'s schema when it is empty, or refuse an empty one when not *create*."""
    if not create and store.schema_version() == 0:
        raise errors.NoSuchStore(url=url)
    store.initialize()


def _actor(
    actor: object, store: Store, now: pendulum.DateTime, pm: pluggy.PluginManager | None
) -> Actor:
    """*actor* as an :class:`~carecore.access.Actor`.

    A plain id string is what the ``carecore_resolve_actor`` hook says it
    stands for, else a trusted (system) caller; a
    :class:`~carecore.access.StaffActor` is looked up in *store*.
    """
    if isinstance(actor, str) and actor.strip() and pm is not None:
        actor = Hooks(pm).resolve_actor(actor) or actor
    if isinstance(actor, Actor):
        return actor
    if isinstance(actor, StaffActor):
        with store.transaction(actor=actor.id, reason="access: who is acting", at=now) as tx:
            return actor.resolve(tx)
    if not isinstance(actor, str) or not actor.strip():
        raise errors.InvalidValue("must name who is acting", field="actor", value=actor)
    return Actor.system(actor)


class CareProgram:
    """A care program's store, clock, acting user and access policy.

    :param store: an open store (see :func:`carecore.storage.open_store`).
    :param clock: where "now" comes from (a :class:`~carecore.clock.FixedClock` in tests).
    :param actor: who is working: an :class:`~carecore.access.Actor` (held to
        the policy), a :class:`~carecore.access.StaffActor` (an id whose roles
        are looked up in the store, as the command line's), or a plain id
        string: what the ``carecore_resolve_actor`` hook says it stands for,
        else trusted code (an actor with the ``system`` role, which the
        default policy allows everything). The audit log records its id.
    :param policy: what decides each store operation (default: the
        ``carecore_access_policy`` hook's answer, else
        :class:`~carecore.access.DefaultPolicy`); see
        :doc:`/explanation/access-control`.
    """

    #: How :meth:`revise_care_plan` retries when another writer revised the plan
    #: first (set it on a program to change the attempts or the waits).
    revision_retry: careplans.RevisionRetry = careplans.RevisionRetry()

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        actor: Actor | StaffActor | str = "system",
        plugin_manager: pluggy.PluginManager | None = None,
        rules: Iterable[NotificationRule] = DEFAULT_RULES,
        policy: AccessPolicy | None = None,
    ) -> None:
        self.store = store
        self.plugin_manager = plugin_manager
        self.rules = check_rules(rules)
        self._emitted: list[list[DomainEvent]] = []
        #: Denials of transactions still open (recorded when the outermost one ends).
        self._denied: list[tuple[errors.AccessDenied, str]] = []
        self.clock = clock or SystemClock()
        #: Who is working, held to :attr:`policy`.
        self.identity = _actor(actor, store, self.clock.now(), plugin_manager)
        #: The acting user's id, as the audit log records it.
        self.actor = self.identity.id
        if policy is None:
            from carecore import access  # noqa: PLC0415

            policy = (
                access.DefaultPolicy()
                if plugin_manager is None
                else Hooks(plugin_manager).access_policy()
            )
        elif not isinstance(policy, AccessPolicy):
            raise errors.InvalidValue(
                "must be an access policy (an object with allows(request))",
                field="policy",
                value=policy,
            )
        self.policy: AccessPolicy = policy

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        actor: Actor | StaffActor | str = "system",
        plugin_manager: pluggy.PluginManager | None = None,
        rules: Iterable[NotificationRule] = DEFAULT_RULES,
        create: bool = True,
        policy: AccessPolicy | None = None,
    ) -> Self:
        """Open the store at *url*, create its schema if it is empty, and return a program.

        A store of another schema version raises
        :class:`~carecore.errors.SchemaVersionError` and is left as it was.
        With ``create=False`` (what a report or a month close wants), a URL
        that holds no carecore store (a SQLite file that does not exist, a
        database with no carecore schema) raises
        :class:`~carecore.errors.NoSuchStore` and nothing is created.

        >>> CareProgram.open("memory://").store.schema_version() > 0
        True
        >>> CareProgram.open("sqlite:///no-such-practice.db", create=False)
        Traceback (most recent call last):
        ...
        carecore.errors.NoSuchStore: url='sqlite:///no-such-practice.db': holds no carecore store (create one with: carecore db init URL)
        """
        if not isinstance(create, bool):
            raise errors.InvalidValue("must be True or False", field="create", value=create)
        if not create and url.startswith("sqlite:///"):
            from carecore.storage.sqlite import sqlite_path  # noqa: PLC0415

            path = sqlite_path(url)
            if path != ":memory:" and not Path(path).exists():
                raise errors.NoSuchStore(url=url)
        store = open_store(url, plugin_manager=plugin_manager)
        try:
            _initialize(store, url, create=create)
        except BaseException:
            store.close()
            raise
        try:
            return cls(
                store,
                clock=clock,
                actor=actor,
                plugin_manager=plugin_manager,
                rules=rules,
                policy=policy,
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def as_actor(self, actor: Actor | StaffActor | str) -> CareProgram:
        """The same program, store and policy, acting as someone else.

        >>> CareProgram.open("memory://").as_actor("md:ruiz").actor
        'md:ruiz'
        """
        return CareProgram(
            self.store,
            clock=self.clock,
            actor=actor,
            plugin_manager=self.plugin_manager,
            rules=self.rules,
            policy=self.policy,
        )

    @contextlib.contextmanager
    def transaction(self, reason: str, *, action: Action = Action.READ) -> Iterator[Transaction]:
        """A store transaction stamped with this program's actor, the clock's now and *reason*.

        Every operation in it is checked against the program's policy (see
        :doc:`/explanation/access-control`): reads as *action* (``read``, or
        ``export`` / ``deidentified-export`` for a transaction opened to send
        records out), writes as ``write`` (``bill`` for claim lines and
        denials). A refusal raises :class:`~carecore.errors.AccessDenied`; the
        transaction then rolls back (even if the block caught the error) and
        the denial is recorded in the audit log in a transaction of its own.

        Events emitted in the block (:meth:`emit`) reach the ``carecore_on_event``
        observers once it has committed.
        """
        if action not in {Action.READ, Action.EXPORT, Action.DEIDENTIFIED_EXPORT}:
            raise errors.InvalidValue(
                "must be read, export or deidentified-export", field="action", value=action
            )
        emitted: list[DomainEvent] = []
        self._emitted.append(emitted)
        guarded: GuardedTransaction | None = None
        try:
            with self.store.transaction(actor=self.actor, reason=reason, at=self.clock.now()) as tx:
                guarded = GuardedTransaction(
                    tx, actor=self.identity, policy=self.policy, read=action
                )
                yield guarded
                if guarded.denied:
                    # A denial the block caught still undoes the transaction.
                    raise guarded.denied[0]
        finally:
            self._emitted.pop()
            if guarded is not None:
                self._denied += [(d, reason) for d in guarded.denied]
            if not self._emitted and self._denied:
                denied, self._denied = self._denied, []
                try:
                    self._record_denials(denied)
                except errors.CarecoreError as exc:
                    # The refusal stands even when the store cannot record it (read-only, gone).
                    log.warning(
                        "%d access denials could not be recorded: %s",
                        len(denied),
                        type(exc).__name__,
                    )
        for event in emitted:
            self._observe(event)

    def _record_denials(self, denied: list[tuple[errors.AccessDenied, str]]) -> None:
        """Record each denial in the audit log, in a transaction of its own (ids only)."""
        for reason in dict.fromkeys(r for _d, r in denied):
            with self.store.transaction(
                actor=self.actor, reason=f"access denied: {reason}", at=self.clock.now()
            ) as tx:
                record = getattr(tx, "record_denial", None)
                for err, why in denied:
                    if why != reason:
                        continue
                    if record is None:
                        log.warning(
                            "access denied (this store cannot record it): %s may not %s %s of %s",
                            err.actor,
                            err.action,
                            err.kind,
                            err.patient_id,
                        )
                        continue
                    record(action=err.action, kind=err.kind, patient_id=err.patient_id)

    def emit(
        self, tx: Transaction, event: DomainEvent, *, values: Mapping[str, str] | None = None
    ) -> int:
        """Queue the messages the notification rules make of *event* in *tx*; observers hear of it after commit.

        Returns how many new messages were queued (a repeat of an event queues none).
        """
        found = tx.find(ContactPreferences, patient_id=event.patient_id) if event.patient_id else []
        prefs = found[0] if found else None
        queued = sum(
            tx.enqueue(m)
            for m in messages_for(
                event,
                self.rules,
                now=self.clock.now(),
                values=values,
                sms_health_details=prefs is not None and prefs.health_details_in_sms,
                preferred=prefs.preferred_channel if prefs else None,
                language=prefs.language if prefs else None,
            )
        )
        if self._emitted:
            self._emitted[-1].append(event)
        return queued

    def _observe(self, event: DomainEvent) -> None:
        if self.plugin_manager is None:
            return
        # Each observer on its own: one failing never keeps the others from hearing,
        # and none undoes the committed clinical write.
        for impl in self.plugin_manager.hook.carecore_on_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception(
                    "carecore_on_event observer %s failed on %s", impl.plugin_name, event.key
                )

    def import_records(
        self,
        records: Iterable[Any],
        *,
        reason: str,
        progress: Callable[[int], None] | None = None,
        refused: list[ImportRefusal] | None = None,
        check_readings: bool = True,
    ) -> BulkResult:
        """Load records; records whose key is stored are skipped.

        Without *refused*, records of one kind are bulk-loaded in one
        transaction. Records of several kinds (what an EHR source yields),
        and any records when *refused* is given, are stored in dependency
        order (records of no patient, such as practitioners, first; then, for
        each patient, the patient before what refers to it) in **one
        transaction per patient**: a patient whose records cannot be stored
        leaves nothing of theirs behind. With *refused* (a list), such a
        patient is appended to it as an :class:`ImportRefusal` and the other
        patients are still stored, whatever kinds are left (a source that
        refused a Patient may yield only its conditions); without it, the
        error is raised (the patients before it are stored). The result's
        ``kind`` is ``mixed``.

        New home readings (:class:`~carecore.model.Observation`) are stored
        as :meth:`record_readings` stores them, in the import's transaction
        (the patient's, after the care plans of the same import): their
        findings are decided against the patient's care plans, and each
        raises an ``UrgentFinding``. A reading dated more than
        :data:`READING_ALERT_DAYS` days before the clock's today (in the
        patient's time zone) is history, stored without findings, so a
        backfill of last year's readings alerts no one; with
        ``check_readings=False`` every reading is stored so.

        >>> from carecore.model import Practitioner, Credential
        >>> program = CareProgram.open("memory://")
        >>> staff = [Practitioner(id=f"rn{i}", name=f"Nurse {i}", credential=Credential.RN) for i in range(3)]
        >>> program.import_records(staff, reason="HR feed").added
        3
        >>> program.import_records(staff, reason="HR feed").skipped
        3
        """
        if not isinstance(check_readings, bool):
            raise errors.InvalidValue(
                "must be True or False", field="check_readings", value=check_readings
            )
        items = list(records)
        alert_days = READING_ALERT_DAYS if check_readings else _UNCHECKED
        kinds = {type(r) for r in items}
        if refused is not None:
            # Refusals are by patient: one transaction each, whatever the kinds.
            return self._import_mixed(
                items, reason=reason, progress=progress, refused=refused, alert_days=alert_days
            )
        if kinds == {Observation}:
            # The readings' check runs in their transaction; one kind stays one transaction.
            with self.transaction(reason) as tx:
                new, old = _add_missing(tx, None, items, self._readings_adder(alert_days))
            if progress is not None:
                progress(len(items))
            return BulkResult(kind=kind_for(Observation).name, added=new, skipped=old)
        if len(kinds) <= 1:
            with self.transaction(reason) as tx:
                guard = typing.cast("GuardedTransaction", tx)
                for record in items:
                    kind = kind_for(type(record))
                    guard.require(write_action(kind.cls), kind.name, kind.patient_of(record))
            return self.store.bulk_add(
                items, actor=self.actor, reason=reason, at=self.clock.now(), progress=progress
            )
        return self._import_mixed(
            items, reason=reason, progress=progress, refused=None, alert_days=alert_days
        )

    def _readings_adder(self, alert_days: int | None) -> Callable[[Transaction, list[Any]], None]:
        """How an import stores its new readings: :meth:`record_readings`' path, in its transaction."""

        def add(tx: Transaction, readings: list[Any]) -> None:
            self._add_readings(tx, readings, alert_days=alert_days)

        return add

    def _import_mixed(
        self,
        items: list[Any],
        *,
        reason: str,
        progress: Callable[[int], None] | None,
        refused: list[ImportRefusal] | None,
        alert_days: int | None,
    ) -> BulkResult:
        # The order a store creates its kinds in: patients before what refers to them.
        order = {kind.cls: n for n, kind in enumerate(KINDS)}
        groups: dict[str | None, list[Any]] = {}
        for record in items:
            kind = kind_for(type(record))  # an unknown kind is refused before anything is stored
            owner = getattr(record, kind.patient_column) if kind.patient_column else None
            groups.setdefault(owner, []).append(record)
        added = skipped = done = 0
        for owner in sorted(groups, key=lambda o: (o is not None, o or "")):
            batch = sorted(groups[owner], key=lambda r: order[type(r)])
            try:
                with self.transaction(reason) as tx:
                    new, old = _add_missing(tx, owner, batch, self._readings_adder(alert_days))
            except errors.CarecoreError as exc:
                if refused is None:
                    raise
                where = "records of no patient" if owner is None else f"patient {owner}"
                refused.append(ImportRefusal(where=where, reason=f"{type(exc).__name__}: {exc}"))
                continue
            finally:
                done += len(batch)
                if progress is not None:
                    progress(done)
            added, skipped = added + new, skipped + old
        return BulkResult(kind="mixed", added=added, skipped=skipped)

    def attest_conditions(
        self,
        condition_ids: Iterable[str],
        *,
        by: str,
        significant_risk: bool = True,
    ) -> list[Condition]:
        """The billing practitioner *by* attests the conditions (or withdraws the attestation).

        Each condition is stored with ``significant_risk`` set (and, when
        attested, ``chronic``): this is the clinician's attestation that
        overrides the condition-group table's proposal (the registry's
        *needs attestation*). One transaction; the audit trail names *by*. An
        unknown condition or practitioner is refused by name and nothing is
        stored.

        >>> import pendulum
        >>> from carecore.model import AdministrativeSex, Coding, Credential
        >>> program = CareProgram.open("memory://")
        >>> program.import_records([Patient(id="p1", given_name="Ada", family_name="Okafor",
        ...     birth_date=pendulum.Date(1948, 3, 2), sex=AdministrativeSex.FEMALE, time_zone="UTC"),
        ...     Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9")),
        ...     Practitioner(id="dr1", name="Dr One", credential=Credential.MD)], reason="load").added
        3
        >>> [c.significant_risk for c in program.attest_conditions(["c1"], by="dr1")]
        [True]
        """
        if not isinstance(significant_risk, bool):
            raise errors.InvalidValue(
                "must be True or False", field="significant_risk", value=significant_risk
            )
        ids = list(dict.fromkeys(condition_ids))
        if not ids:
            raise errors.InvalidValue(
                "name at least one condition", field="condition_ids", value=ids
            )
        what = "attestation" if significant_risk else "attestation withdrawn"
        with self.transaction(f"significant-risk {what} by {by}") as tx:
            tx.get(Practitioner, by)  # NotFound names the practitioner
            changed = []
            for cid in ids:
                condition = tx.get(Condition, cid)
                updated = evolve(
                    condition,
                    significant_risk=significant_risk,
                    chronic=condition.chronic or significant_risk,
                )
                if updated != condition:
                    tx.replace(updated)
                changed.append(updated)
            return changed

    # -- assessments and care plans ------------------------------------------------------

    def _today(self, patient_id: str, tx: Transaction) -> pendulum.Date:
        """Today in the patient's time zone."""
        return self._today_in(tx.get(Patient, patient_id).time_zone)

    def _today_in(self, zone: str) -> pendulum.Date:
        day: pendulum.Date = self.clock.now().in_timezone(zone).date()
        return day

    @staticmethod
    def _zone(tx: Transaction, patient_id: str, default: str) -> str:
        """The stored patient's time zone, or *default* for one not registered (yet)."""
        found = tx.find(Patient, patient_id=patient_id)
        return found[0].time_zone if found else default

    def assess(
        self,
        patient_id: str,
        instrument_id: str,
        answers: Mapping[str, Answer],
        *,
        result_id: str,
        on: pendulum.Date | None = None,
        performer_id: str | None = None,
        reason: str = "assessment",
    ) -> AssessmentResult:
        """Score an instrument for a patient and store the result (with the answers given).

        The patient's administrative sex is passed to the scoring (AUDIT-C's
        cut-offs depend on it). Instruments come from the plugins of the
        program's plugin manager (the built-ins by default).
        """
        registry = self._instruments()
        with self.transaction(reason) as tx:
            patient = tx.get(Patient, patient_id)
            instrument = get_instrument(instrument_id, registry)
            result = score(instrument, answers, sex=patient.sex)
            stored = AssessmentResult(
                id=result_id,
                patient_id=patient_id,
                instrument_id=instrument_id,
                on=on or self._today_in(patient.time_zone),
                answers=tuple(
                    ItemAnswer(item=item, values=_answer_values(value))
                    for item, value in sorted(answers.items())
                    if value is not None
                ),
                total=result.total,
                band=result.band,
                positive=result.positive,
                flags=result.flags,
                needs=result.needs,
                performer_id=performer_id,
            )
            tx.add(stored)
            self._urgent_findings(tx, stored)
            if result.total is not None and instrument.total_loinc is not None:
                # The total is also an observation, so a goal such as "PHQ-9 under 5" can follow it.
                tx.add(
                    Observation(
                        id=f"{result_id}-total",  # a FHIR id when result_id is one
                        patient_id=patient_id,
                        measure=f"{instrument.title} total score",
                        loinc=instrument.total_loinc,
                        value=result.total,
                        unit="{score}",
                        on=stored.on,
                    )
                )
        return stored

    def _urgent_findings(self, tx: Transaction, result: AssessmentResult) -> None:
        """Emit an ``UrgentFinding`` for each reason to act now in *result*, in its transaction.

        The reasons are the instrument's flags (PHQ-9 item 9 above 0 gives
        ``suicidal-ideation``) and a positive interpersonal-safety domain of
        a social-needs screen. The event goes to the patient's care manager
        (the worklist's owner rule); the notification rules queue the
        messages in the same transaction, so a failed write queues none.
        """
        from carecore.registry import urgent_findings  # noqa: PLC0415

        self._emit_urgent(
            tx, result.patient_id, result.id, result.instrument_id, urgent_findings(result)
        )

    def _emit_urgent(
        self,
        tx: Transaction,
        patient_id: str,
        source_id: str,
        instrument_id: str,
        findings: Iterable[str],
    ) -> None:
        """Emit one ``UrgentFinding`` per finding of the record *source_id*, in *tx*.

        The one path for every reason to act now (an assessment's, a home
        reading's): the event goes to the patient's care manager (the
        worklist's owner rule), and the notification rules queue the messages
        in the same transaction, so a failed write queues none.
        """
        from carecore.outreach import _owner_rule  # noqa: PLC0415

        found = tuple(findings)
        if not found:
            return
        owner = _owner_rule(
            tx.find(Enrollment, patient_id=patient_id),
            tx.find(CareTeam, patient_id=patient_id),
        )(patient_id)
        for finding in found:
            self.emit(
                tx,
                UrgentFinding(
                    patient_id=patient_id,
                    occurred_at=self.clock.now(),
                    finding=finding,
                    source_id=source_id,
                    instrument_id=instrument_id,
                    owner=owner,
                ),
            )

    def record_reading(
        self, reading: Observation, *, reason: str = "home reading"
    ) -> tuple[str, ...]:
        """Store a home reading (a cuff's, a scale's, a glucometer's) and raise its urgent findings.

        The findings are :func:`carecore.careplans.reading_findings` over the
        patient's stored care plans: a reading in a symptom action plan's red
        zone (``red-zone``) or past an alert threshold set on the plan
        (``alert-threshold``). They are stored with the reading (its
        ``findings``), and each emits an ``UrgentFinding`` (instrument
        ``home-reading``) in the reading's transaction, as an assessment's
        findings do. Until :meth:`acknowledge_finding`, the reading tops its
        owner's worklist. Returns the findings (empty for a reading in range).
        """
        (stored,) = self.record_readings([reading], reason=reason)
        return stored.findings

    def record_readings(
        self, readings: Iterable[Observation], *, reason: str = "home readings"
    ) -> tuple[Observation, ...]:
        """Store readings in one transaction, each checked as :meth:`record_reading` checks it.

        The path for readings that arrive together (a FHIR import): each is
        compared with its patient's stored care plans, stored with its
        findings, and each finding emits an ``UrgentFinding`` in the same
        transaction. A reading that cannot be stored (its patient unknown, its
        id stored already) stores none of them. Returns the stored readings.
        """
        with self.transaction(reason) as tx:
            return tuple(self._add_readings(tx, list(readings), alert_days=None))

    def _add_readings(
        self, tx: Transaction, readings: list[Observation], *, alert_days: int | None
    ) -> list[Observation]:
        """Store new *readings* in *tx* with their findings, and raise each finding.

        The one path that stores a new home reading (a recorded one, an
        imported one). With *alert_days*, a reading dated more than that
        many days before the clock's today (in its patient's time zone) is
        stored without findings (history); ``None`` checks every reading,
        ``_UNCHECKED`` none.
        """
        checked = _ReadingCheck(tx)
        stored: list[Observation] = []
        for reading in readings:
            if reading.acknowledged_by is not None:
                raise errors.InvalidValue(
                    "a reading is recorded unacknowledged; acknowledge it with acknowledge_finding",
                    field="acknowledged_by",
                    value=reading.acknowledged_by,
                )
            patient = checked.patient(reading.patient_id)
            history = alert_days == _UNCHECKED or (
                alert_days is not None
                and (self._today_in(patient.time_zone) - reading.on).in_days() > alert_days
            )
            findings = () if history else checked.findings(reading)
            stored.append(attrs.evolve(reading, findings=findings))
        tx.add_many(stored)
        for found in stored:
            self._emit_urgent(tx, found.patient_id, found.id, "home-reading", found.findings)
        return stored

    def correct_readings(
        self, readings: Iterable[Observation], *, reason: str = "readings corrected by the source"
    ) -> tuple[Observation, ...]:
        """Store readings their source corrected (same id, new value), each checked again.

        Each reading must be stored already (else
        :class:`~carecore.errors.NotFound`, and none is stored). Its findings
        are decided again, as :meth:`record_readings` decides them, over the
        patient's care plans as stored now:

        - a finding the corrected value reaches and the stored reading had
          not raised is raised like a new reading's (an ``UrgentFinding``, the
          care manager's message, in this transaction), and the reading tops
          the worklist again, unacknowledged, with all its findings;
        - when the correction takes back every finding before anyone
          acknowledged one, the reading keeps the findings it raised and is
          acknowledged by :data:`~carecore.model.CORRECTED_BY_SOURCE`: its
          worklist items close themselves, "corrected by the source";
        - otherwise the reading is stored with the findings its value
          reaches, and an acknowledgement stands.

        What carecore added (findings, acknowledgement) is decided here, not
        taken from the readings given. One transaction; returns the stored
        readings.
        """
        with self.transaction(reason) as tx:
            checked = _ReadingCheck(tx)
            stored: list[Observation] = []
            for reading in readings:
                try:
                    old = tx.get(Observation, reading.id)
                except errors.NotFound:
                    raise errors.NotFound(
                        "no stored reading has this id to correct", field="id", value=reading.id
                    ) from None
                checked.patient(reading.patient_id)
                found = checked.findings(reading)
                was_open = () if old.acknowledged_by == CORRECTED_BY_SOURCE else old.findings
                added = tuple(f for f in found if f not in was_open)
                corrected = attrs.evolve(
                    reading,
                    findings=found,
                    acknowledged_by=old.acknowledged_by,
                    acknowledged_at=old.acknowledged_at,
                )
                if added:
                    corrected = attrs.evolve(corrected, acknowledged_by=None, acknowledged_at=None)
                elif set(found) == set(was_open):
                    corrected = attrs.evolve(corrected, findings=old.findings)
                elif not found and old.acknowledged_by is None:
                    corrected = attrs.evolve(
                        corrected,
                        findings=old.findings,
                        acknowledged_by=CORRECTED_BY_SOURCE,
                        acknowledged_at=self.clock.now(),
                    )
                if corrected != old:
                    tx.replace(corrected)
                self._emit_urgent(tx, corrected.patient_id, corrected.id, "home-reading", added)
                stored.append(corrected)
        return tuple(stored)

    def acknowledge_finding(
        self, result_id: str, *, reason: str = "urgent finding acknowledged"
    ) -> AssessmentResult | Observation:
        """Record that the acting user has seen a record's urgent findings; it leaves the worklist.

        *result_id* names an assessment result or a home reading (an
        :class:`~carecore.model.Observation` stored by :meth:`record_reading`);
        an assessment result is looked for first. The record is stored again
        with ``acknowledged_by`` (the program's actor) and ``acknowledged_at``
        (the clock's now); the store's audit log records the update under
        *reason*. A record without an urgent finding, or one already
        acknowledged, is refused, and an id that is neither is
        :class:`~carecore.errors.NotFound`.
        """
        from carecore.registry import urgent_findings  # noqa: PLC0415

        with self.transaction(reason) as tx:
            record: AssessmentResult | Observation
            try:
                record = tx.get(AssessmentResult, result_id)
            except errors.NotFound:
                try:
                    record = tx.get(Observation, result_id)
                except errors.NotFound:
                    raise errors.NotFound(
                        "no assessment result or reading has this id",
                        field="result_id",
                        value=result_id,
                    ) from None
            found = (
                urgent_findings(record) if isinstance(record, AssessmentResult) else record.findings
            )
            if not found:
                raise errors.InvalidValue(
                    "has no urgent finding to acknowledge", field="result_id", value=result_id
                )
            if record.acknowledged_by is not None:
                raise errors.InvalidValue(
                    f"was acknowledged already by {record.acknowledged_by}",
                    field="result_id",
                    value=result_id,
                )
            done = attrs.evolve(
                record, acknowledged_by=self.actor, acknowledged_at=self.clock.now()
            )
            tx.replace(done)
        return done

    def _instruments(self) -> Mapping[str, Any] | None:
        if self.plugin_manager is None:
            return None
        return dict(Hooks(self.plugin_manager).instruments().items())

    def create_care_plan(
        self,
        plan_id: str,
        patient_id: str,
        *,
        responsible_id: str | None = None,
        families: Iterable[ServiceFamily] = (ServiceFamily.CCM,),
        on: pendulum.Date | None = None,
        reason: str = "care plan created",
    ) -> CarePlan:
        """Draft a plan from the patient's stored conditions and assessment results, and store it (version 1).

        Its tasks go to the patient's stored care team as
        :func:`carecore.careplans.draft_plan` assigns them (the member in
        each task's role, else the care manager), else to *responsible_id*.
        """
        with self.transaction(reason) as tx:
            when = on or self._today(patient_id, tx)
            conditions = [c for c in tx.find(Condition, patient_id=patient_id) if c.active_on(when)]
            assessments = tx.find(AssessmentResult, patient_id=patient_id)
            teams = sorted(tx.find(CareTeam, patient_id=patient_id), key=lambda t: t.id)
            plan = careplans.draft_plan(
                plan_id,
                patient_id,
                conditions=conditions,
                assessments=assessments,
                on=when,
                responsible_id=responsible_id,
                care_team=teams[0] if teams else None,
                families=families,
            )
            tx.add(plan)
        return plan

    def review_care_plan(
        self, plan_id: str, *, by: str | None = None, reason: str = "care plan review"
    ) -> CarePlan:
        """Record a review of the plan today (a new version; the next review is scheduled)."""
        with self.transaction(reason) as tx:
            today = self._today(tx.get(CarePlan, plan_id).patient_id, tx)
        return self.revise_care_plan(
            plan_id,
            lambda plan: careplans.review(plan, on=today, by=by or self.actor),
            reason=reason,
        )

    def close_care_plan(
        self, plan_id: str, *, completed: bool = True, reason: str = "care plan closed"
    ) -> CarePlan:
        """Close the plan as completed (or revoked), closing its open goals with it."""
        return self.revise_care_plan(
            plan_id, lambda p: careplans.close(p, completed=completed), reason=reason
        )

    def update_goal_progress(self, plan_id: str, *, reason: str = "goal progress") -> CarePlan:
        """Set each open measurable goal's achievement from the patient's stored observations."""
        with self.transaction(reason) as tx:
            patient_id = tx.get(CarePlan, plan_id).patient_id
            observations = tx.find(Observation, patient_id=patient_id)
            today = self._today(patient_id, tx)
        return self.revise_care_plan(
            plan_id,
            lambda plan: careplans.update_goals(plan, observations, on=today),
            reason=reason,
        )

    def share_care_plan(
        self,
        plan_id: str,
        *,
        contacts: Mapping[str, str] | None = None,
        reason: str = "care plan shared with patient",
    ) -> str:
        """Record that the patient got a copy today and return the patient-facing HTML of that version."""
        with self.transaction(reason) as tx:
            plan = tx.get(CarePlan, plan_id)
            patient = tx.get(Patient, plan.patient_id)
        shared = self.revise_care_plan(
            plan_id,
            lambda p: evolve(p, shared_with_patient_on=self._today_in(patient.time_zone)),
            reason=reason,
        )
        return careplans.render_html(shared, patient=patient, contacts=contacts)

    def write_back_care_plan(
        self, plan_id: str, target: ExportTarget, *, reason: str = "care plan write-back"
    ) -> list[str]:
        """Send the stored plan to an outside system (an EHR) through the installed exporters.

        The plan is read in a transaction opened for an ``export``, so the
        policy decides whether this actor may send the patient's records out
        (a refusal raises :class:`~carecore.errors.AccessDenied`, is audited,
        and nothing is sent). Its audit row names the patient, and its reason
        says where the plan went: *target*'s URL without a login, secrets
        masked. The row is committed before the plan is sent, so a send that
        fails part-way is still accounted for. The ``carecore_export_careplan``
        hooks of the program's plugin manager (the installed plugins when it
        has none) then write it with *target*'s token.

        :returns: the ids the receivers gave the plan.
        :raises ~carecore.errors.NotFound: when no exporter writes to *target*.
        """
        from carecore._redact import destination  # noqa: PLC0415
        from carecore.hookspecs import ExportTarget  # noqa: PLC0415
        from carecore.plugins import get_plugin_manager  # noqa: PLC0415

        if not isinstance(target, ExportTarget):
            raise errors.InvalidValue("must be an ExportTarget", field="target", value=target)
        where = destination(target.url)
        with self.transaction(f"{reason} to {where}", action=Action.EXPORT) as tx:
            plan = tx.get(CarePlan, plan_id)
        hooks = Hooks(self.plugin_manager or get_plugin_manager())
        ids = hooks.export_careplan(plan, target)
        if not ids:
            raise errors.NotFound(
                "no installed exporter writes care plans to this target",
                field="target",
                value=where,
            )
        return ids

    def check_overdue_tasks(self, *, reason: str = "overdue tasks") -> int:
        """Emit ``TaskOverdue`` for every open task of an active plan past its due date (today, per patient).

        Returns the number of new messages the rules queued: a task that was
        reported before queues nothing again.
        """
        queued = 0
        with self.transaction(reason) as tx:
            zones = {p.id: p.time_zone for p in tx.all(Patient)}  # one read, not one per plan
            for plan in tx.all(CarePlan):
                if plan.status is not CarePlanStatus.ACTIVE:
                    continue
                today = self._today_in(zones[plan.patient_id])
                for task in plan.tasks:
                    if task.open and task.due is not None and task.due < today:
                        event = TaskOverdue(
                            patient_id=plan.patient_id,
                            occurred_at=self.clock.now(),
                            plan_id=plan.id,
                            task_id=task.id,
                            owner=task.owner,
                            due=task.due,
                        )
                        queued += self.emit(tx, event)
        return queued

    def record_time(
        self,
        entry: TimeEntry,
        *,
        rules: billing.RuleSet | None = None,
        reason: str = "time logged",
    ) -> TimeEntry:
        """Store a time entry; emit ``ThresholdReached`` when, by the billing engine, it reaches a code.

        The patient's month so far is evaluated from the stored records as a
        month close evaluates it, before and after the entry
        (:func:`carecore.billing.month_progress`): when the entry
        reaches the next code the engine named for its family and billing
        practitioner, the event names the code reached and the minutes the
        engine counts toward it. Whose minutes count, from which day, and
        where the thresholds lie are the engine's, under *rules* (default:
        the CMS rule set of the entry's year; no event in a year without one).
        """
        from carecore.billing._progress import counted_minutes  # noqa: PLC0415

        with self.transaction(reason) as tx:
            chosen = _rules_for(rules, entry.service_date.year)
            before = None if chosen is None else _time_progress(tx, entry, chosen)
            tx.add(entry)
            self.emit(
                tx,
                TimeRecorded(
                    patient_id=entry.patient_id, occurred_at=self.clock.now(), entry=entry
                ),
            )
            if chosen is None or before is None or before[2] is None:
                return entry
            after = _time_progress(tx, entry, chosen)
            code = None if after is None else _reached(before, after, entry)
            if code is not None:
                facts = before[0]
                counted = counted_minutes(
                    facts,
                    chosen,
                    practitioner=entry.billing_practitioner_id,
                    family=entry.family,
                )
                self.emit(
                    tx,
                    ThresholdReached(
                        patient_id=entry.patient_id,
                        occurred_at=self.clock.now(),
                        family=entry.family,
                        code=code,
                        minutes=(counted or 0) + entry.minutes,
                        month=f"{entry.service_date.year:04d}-{entry.service_date.month:02d}",
                    ),
                )
        return entry

    def worklists(
        self,
        *,
        time_zone: str = "UTC",
        on: pendulum.Date | None = None,
        reason: str = "worklists",
        gaps: bool = False,
        adherence: bool = False,
        families: Iterable[ServiceFamily] | None = None,
        rules: billing.RuleSet | None = None,
    ) -> dict[str, Worklist]:
        """Each care manager's worklist for *on* (default: today in *time_zone*, the practice's), with caseloads.

        The one builder the report and the CLI use
        (:func:`carecore.registry.program_worklists`, over
        :meth:`program_data`): outreach and TCM work, eligible patients not
        enrolled in *families*, attestations and the
        billing engine's minutes to the next code, in priority order.
        *families* default to the programs the store has enrollments in. With
        *gaps*, open care gaps are items; with *adherence*, a drug class
        whose PDC this calendar year (to *on*) is under 80%. *rules* are the
        billing rule set the eligibility and the minutes to the next code
        are decided under (default: the CMS rule set of *on*'s year): give
        the one the month close uses (its switches, such as
        ``significant_risk_from``), and the worklists show what it bills.
        """
        from carecore.gaps import _store  # noqa: PLC0415 - kept off the import path
        from carecore.registry import PROGRAMS, program_worklists  # noqa: PLC0415

        today = on or self.clock.now().in_timezone(time_zone).date()
        gap_rules = _store.rule_set(self.plugin_manager) if gaps else []
        data = self.program_data(reason=reason)
        with self.transaction(reason) as tx:
            open_gaps = _store.gaps_in(tx, on=today, rules=gap_rules) if gaps else ()
            pdc = (
                _store.adherence_in(tx, start=today.start_of("year"), end=today)
                if adherence
                else ()
            )
        return program_worklists(
            data,
            today=today,
            time_zone=time_zone,
            families=(
                [f for f in PROGRAMS if any(e.family is f for e in data.enrollments)]
                if families is None
                else families
            ),
            gaps=open_gaps,
            adherence=pdc,
            rules=rules,
        )

    def run_campaigns(
        self,
        *,
        kinds: Iterable[str] | None = None,
        time_zone: str = "UTC",
        reminder_hours: float = 48,
        reason: str = "outreach campaigns",
    ) -> int:
        """Emit the events outreach rules turn into messages; return the messages queued.

        An ``OutreachDue`` event for each worklist item (of *kinds*) due by the
        end of this month, and, for the kind ``appointment-reminder``, an
        ``AppointmentDue`` event for each booked appointment starting within
        *reminder_hours* from now. The notification rules decide who is
        messaged and how; an item or appointment reported before queues
        nothing again.

        >>> import pendulum
        >>> from carecore.clock import FixedClock
        >>> from carecore.model import Appointment
        >>> from carecore.notify import NotificationRule, PATIENT_ADDRESS
        >>> remind = NotificationRule(id="reminder", event="AppointmentDue", channel="sms",
        ...     recipient=PATIENT_ADDRESS, audience="patient",
        ...     subject="Reminder: visit on {appointment_date} at {appointment_time}")
        >>> program = CareProgram.open("memory://", rules=[remind],
        ...     clock=FixedClock(pendulum.datetime(2026, 3, 1, 9, tz="UTC")))
        >>> from carecore.model import Patient, AdministrativeSex
        >>> with program.transaction("schedule") as tx:
        ...     tx.add(Patient(id="p1", given_name="Ada", family_name="Okafor", time_zone="UTC",
        ...         birth_date=pendulum.Date(1948, 3, 2), sex=AdministrativeSex.FEMALE))
        ...     tx.add(Appointment(id="ap1", patient_id="p1",
        ...         starts_at=pendulum.datetime(2026, 3, 2, 15, tz="UTC")))
        >>> program.run_campaigns(kinds=["appointment-reminder"]), program.run_campaigns()
        (1, 0)
        """
        if (
            isinstance(reminder_hours, bool)
            or not isinstance(reminder_hours, int | float)
            or not (0 <= reminder_hours <= 24 * 31)
        ):
            raise errors.InvalidValue(
                "must be a number of hours from 0 to 744",
                field="reminder_hours",
                value=reminder_hours,
            )
        wanted = None if kinds is None else _names(kinds, "kinds")
        lists = self.worklists(time_zone=time_zone)
        now = self.clock.now()
        today = now.in_timezone(time_zone).date()
        queued = 0
        with self.transaction(reason) as tx:
            for worklist in lists.values():
                for item in worklist.items:
                    if item.due > today.end_of("month") or (
                        wanted is not None and item.kind not in wanted
                    ):
                        continue
                    event = OutreachDue(
                        patient_id=item.patient_id,
                        occurred_at=now,
                        kind=item.kind,
                        owner=item.owner,
                        due=item.due,
                        detail=item.detail,
                    )
                    queued += self.emit(tx, event)
            if wanted is None or "appointment-reminder" in wanted:
                queued += self._remind(tx, now, now.add(seconds=reminder_hours * 3600))
        return queued

    def _remind(self, tx: Transaction, now: pendulum.DateTime, until: pendulum.DateTime) -> int:
        queued = 0
        zones: dict[str, str] = {}
        for appointment in tx.all(Appointment):
            if appointment.status is not AppointmentStatus.BOOKED or not (
                now < appointment.starts_at <= until
            ):
                continue
            pid = appointment.patient_id
            if pid not in zones:
                zones[pid] = self._zone(tx, pid, "UTC")
            event = AppointmentDue(
                patient_id=pid,
                occurred_at=now,
                appointment_id=appointment.id,
                starts_at=appointment.starts_at,
                time_zone=zones[pid],
                location=appointment.location,
                practitioner_id=appointment.practitioner_id,
            )
            queued += self.emit(tx, event)
        return queued

    def change_enrollment(
        self, enrollment_id: str, change: Callable[[Enrollment], Enrollment], *, reason: str
    ) -> Enrollment:
        """Apply a status change (``lambda e: e.enroll(day)``) to a stored enrollment and store it."""
        with self.transaction(reason) as tx:
            current = tx.get(Enrollment, enrollment_id)
            changed = change(current)
            if not isinstance(changed, Enrollment) or changed.id != current.id:
                raise errors.InvalidValue(
                    "must return the same Enrollment, changed", field="change", value=changed
                )
            tx.replace(changed)
            if changed.status is not current.status:
                self.emit(
                    tx,
                    EnrollmentChanged(
                        patient_id=changed.patient_id,
                        occurred_at=self.clock.now(),
                        enrollment_id=changed.id,
                        family=changed.family,
                        status=changed.status,
                    ),
                )
        return changed

    # -- transitions ----------------------------------------------------------------------

    def practice_time_zone(self) -> str | None:
        """The practice's time zone as stored (``carecore db set time-zone``), or None."""
        from carecore.model import PracticeSetting  # noqa: PLC0415

        with self.transaction("practice time zone") as tx:
            try:
                return tx.get(PracticeSetting, "time-zone").value
            except errors.NotFound:
                return None

    def receive(
        self,
        event: AdtEvent,
        *,
        source: str,
        time_zone: str | None = None,
        rules: TransitionRules | None = None,
    ) -> Received:
        """Take in an ADT event once: store it, open or update episodes, queue a notice.

        Idempotent by the sender's key (``event.source_key``, HL7 MSH-10): a
        duplicate is reported as such and changes nothing. Everything a new
        event causes commits in one transaction: the inbound claim, the event,
        the episodes and, for a newly opened qualifying episode, the outbox
        messages the program's notification rules make of the
        ``DischargeReceived`` event. Dates are local to *time_zone*
        (default: the patient's, when stored; else the offset the sender gave).
        """
        with self.transaction(f"inbound {source} {event.kind.value}") as tx:
            return self.receive_in(tx, event, source=source, time_zone=time_zone, rules=rules)

    def receive_in(
        self,
        tx: Transaction,
        event: AdtEvent,
        *,
        source: str,
        time_zone: str | None = None,
        rules: TransitionRules | None = None,
        claimed: bool = False,
    ) -> Received:
        """:meth:`receive` inside the open transaction *tx* (of :meth:`transaction`).

        An intake that stores several messages in one transaction (an HL7
        listener's group commit) or changes more with the event (the
        patient's demographics) calls this. *claimed* says the caller has
        claimed ``event.source_key`` in *tx* already.
        """
        if not claimed and not tx.claim_inbound(source, event.source_key):
            return Received(event_id=event.id, duplicate=True)
        tx.add(event)
        zone = time_zone or self._zone_of(tx, event)
        kinds = transitions.EPISODE_KINDS
        stored = (
            tx.find(TransitionEpisode, patient_id=event.patient_id) if event.kind in kinds else []
        )
        cancels = {AdtEventKind.CANCEL_ADMIT, AdtEventKind.CANCEL_DISCHARGE}
        history = tx.find(AdtEvent, patient_id=event.patient_id) if event.kind in cancels else []
        changed = transitions.apply_event(
            stored,
            event,
            time_zone=zone,
            history=history,
            rules=rules or _DEFAULT_RULES,
        )
        for episode in changed:
            if episode.version == 1:
                tx.add(episode)
                if episode.qualifies:
                    self.emit(
                        tx,
                        DischargeReceived(
                            patient_id=event.patient_id,
                            occurred_at=event.occurred_at,
                            adt_event=event,
                        ),
                        values=_episode_fields(episode),
                    )
            else:
                tx.replace(episode)
        return Received(event_id=event.id, duplicate=False, episodes=tuple(changed))

    @staticmethod
    def _zone_of(tx: Transaction, event: AdtEvent) -> str:
        # A patient the feed announces before registration: the zone the sender gave, if named.
        name = event.occurred_at.timezone_name
        sent = name if name and not name.startswith(("+", "-")) else "UTC"
        return CareProgram._zone(tx, event.patient_id, sent)

    def record_dead_letter(
        self, letter: DeadLetter, *, reason: str = "inbound message refused"
    ) -> bool:
        """Keep a message that could not be used; False when its key was kept before."""
        with self.transaction(reason) as tx:
            if letter.key is not None and not tx.claim_inbound(f"{letter.source}:dead", letter.key):
                return False
            tx.add(letter)
            return True

    def revise_care_plan(
        self,
        plan_id: str,
        change: Callable[[CarePlan], CarePlan],
        *,
        reason: str,
        attempts: int | None = None,
        retry: careplans.RevisionRetry | None = None,
    ) -> CarePlan:
        """Apply *change* to the current plan and store it as the next version.

        *change* gets the stored plan and returns the revised one (its version
        is set here). When someone else revised the plan in between, the
        change is applied again to their version, so no update is lost: after
        each collision the writer waits a random, growing time (*retry*, by
        default :attr:`revision_retry`), up to *attempts* tries in all (by
        default the retry's); then :class:`~carecore.errors.ConflictError`.
        """
        retry = retry if retry is not None else self.revision_retry
        if not isinstance(retry, careplans.RevisionRetry):
            raise errors.InvalidValue("must be a RevisionRetry", field="retry", value=retry)
        if attempts is not None:
            retry = attrs.evolve(retry, attempts=attempts)
        attempts = retry.attempts
        rng = random.Random()  # noqa: S311 - jitter, not security
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                time.sleep(retry.delay(attempt - 1, rng))
            try:
                with self.transaction(reason) as tx:
                    current = tx.get(CarePlan, plan_id)
                    revised = change(current)
                    if not isinstance(revised, CarePlan):
                        raise errors.InvalidValue(
                            "must return a CarePlan", field="change", value=revised
                        )
                    revised = attrs.evolve(revised, version=current.version + 1)
                    careplans.check_revision(current, revised)
                    tx.replace(revised)
                    self.emit(
                        tx,
                        CarePlanRevised(
                            patient_id=revised.patient_id,
                            occurred_at=self.clock.now(),
                            plan_id=revised.id,
                            version=revised.version,
                        ),
                    )
            except errors.ConflictError:
                continue
            else:
                return revised
        raise errors.ConflictError(
            f"still revised by others after {attempts} attempts", field="plan_id", value=plan_id
        )

    def record_billing(
        self,
        patient_id: str,
        period: ServicePeriod,
        claim_lines: Iterable[ClaimLine],
        denials: Iterable[Denial],
        *,
        reason: str = "month close",
    ) -> None:
        """Store one patient's billing outcome for *period*, replacing an earlier close of it.

        The old lines and denials are deleted and the new ones added in one
        transaction, so the audit log shows both closes. A line or denial
        belongs to the month its own service period starts in (TCM's 30
        days start at the discharge).
        """
        with self.transaction(reason) as tx:
            self._store_billing(tx, patient_id, period, claim_lines, denials)

    @staticmethod
    def _store_billing(
        tx: Transaction,
        patient_id: str,
        period: ServicePeriod,
        claim_lines: Iterable[ClaimLine],
        denials: Iterable[Denial],
    ) -> None:
        items = _billing_items(patient_id, period, claim_lines, denials)
        stored: list[ClaimLine | Denial] = [
            *tx.find(ClaimLine, patient_id=patient_id),
            *tx.find(Denial, patient_id=patient_id),
        ]
        _replace_billing(tx, period, stored, items)

    def close_month(
        self,
        period: ServicePeriod,
        *,
        rules: billing.RuleSet | None = None,
        reason: str = "month close",
        progress: Callable[[int, int], None] | None = None,
        each: Callable[[BillingFacts, EvaluationResult], None] | None = None,
        setting: Setting | None = None,
        require_coverage: bool = False,
    ) -> list[EvaluationResult]:
        """Bill *period* for every stored patient and store the outcome, replacing an earlier close.

        The records are read in one transaction and evaluated with *rules*
        (default: the CMS rule set of the period's year) by
        :func:`carecore.billing.close_records`; every patient's claim
        lines and denials are then written in one transaction, so a failed
        close leaves the previous one in place. *progress* gets
        ``(patients done, patients)``; *each* gets every patient's billing
        facts and result as they are evaluated (for audit packets).

        The close reads the month's state, not today's: consent and
        enrollment day by day, each care plan from the day its history shows
        it first active and complete to the day it was closed, the coverage
        in force, device days, visits and the date of death. *setting* is
        where the practice bills from (default: physician office); with
        *require_coverage* a patient without a coverage record is refused
        instead of assumed to have Medicare Part B. Closing a month again
        gives the same answer unless records about that month changed.

        >>> program = CareProgram.open("memory://")
        >>> program.close_month(ServicePeriod.month(2026, 3))
        []
        """
        if not isinstance(period, ServicePeriod) or period != ServicePeriod.month(
            period.start.year, period.start.month
        ):
            raise errors.InvalidValue(
                "must be one calendar month (ServicePeriod.month(year, month))",
                field="period",
                value=period,
            )
        results = self.evaluate_period(
            period,
            rules=rules,
            reason=reason,
            progress=progress,
            each=each,
            setting=setting,
            require_coverage=require_coverage,
        )
        self._store_close(period, results, reason)
        return results

    def _close_month_records(
        self,
        records: MonthRecords,
        period: ServicePeriod,
        *,
        rules: billing.RuleSet,
        reason: str,
        progress: Callable[[int, int], None] | None,
        each: Callable[[BillingFacts, EvaluationResult], None] | None,
        setting: Setting | None = None,
        require_coverage: bool = False,
    ) -> list[EvaluationResult]:
        """:meth:`close_month` over records already read (a close that also reads audit evidence)."""
        from carecore.billing.facts import Setting  # noqa: PLC0415

        results = _evaluate_month_records(
            records,
            period,
            rules,
            progress,
            each,
            setting if setting is not None else Setting.PHYSICIAN_OFFICE,
            require_coverage=require_coverage,
        )
        self._store_close(period, results, reason)
        return results

    def _store_close(
        self, period: ServicePeriod, results: list[EvaluationResult], reason: str
    ) -> None:
        """Store the month's lines and denials, replacing an earlier close (one transaction)."""
        items = [
            item
            for result in results
            for item in _billing_items(
                result.patient_id, period, result.claim_lines, result.denials
            )
        ]
        self._store_items(period, items, reason)

    def _store_items(
        self, period: ServicePeriod, items: list[ClaimLine | Denial], reason: str
    ) -> None:
        """Store the month's lines and denials (of :func:`_billing_items`), replacing an earlier close."""
        with self.transaction(f"{reason}: {period}") as tx:
            # The whole month is replaced, read once: a patient evaluated before and
            # not now (no one left to bill) keeps no lines from the earlier close.
            _replace_billing(tx, period, [*tx.all(ClaimLine), *tx.all(Denial)], items)

    def evaluate_period(
        self,
        period: ServicePeriod,
        *,
        rules: billing.RuleSet | None = None,
        reason: str = "billing preview",
        progress: Callable[[int, int], None] | None = None,
        each: Callable[[BillingFacts, EvaluationResult], None] | None = None,
        setting: Setting | None = None,
        require_coverage: bool = False,
    ) -> list[EvaluationResult]:
        """Evaluate any *period* (a month, TCM's 30 days, one day) from the store, storing nothing.

        Reads and evaluates exactly as :meth:`close_month` does; use it to
        preview a month before closing it, or for periods that are not
        calendar months.

        >>> CareProgram.open("memory://").evaluate_period(ServicePeriod.month(2026, 3))
        []
        """
        from carecore.billing.cms import close_rule_set  # noqa: PLC0415
        from carecore.billing.facts import Setting  # noqa: PLC0415
        from carecore.billing.rules import RuleSet  # noqa: PLC0415

        if not isinstance(period, ServicePeriod):
            raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
        v.check_callable(progress, "progress")
        v.check_callable(each, "each")
        if rules is not None and not isinstance(rules, RuleSet):
            raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
        chosen = rules if rules is not None else close_rule_set(period)
        setting = setting if setting is not None else Setting.PHYSICIAN_OFFICE
        _check_close_options(setting, require_coverage)
        # Patients are read in partitions (one transaction and one query per kind
        # each), so memory follows the partition, not the store.
        with self.transaction(f"{reason}: read {period}") as tx:
            ids = tx.patient_ids()
        results: list[EvaluationResult] = []
        for start, part in _partitions(ids):
            with self.transaction(f"{reason}: read {period}") as tx:
                records = _month_records(tx, patient_ids=part)
            results += _evaluate_month_records(
                records,
                period,
                chosen,
                _offset_progress(progress, start, len(ids)),
                each,
                setting,
                require_coverage=require_coverage,
            )
        return results

    # -- medications (issue 18) ------------------------------------------------------------

    def reconcile_medications(
        self,
        patient_id: str,
        *,
        by: str,
        decisions: Mapping[str, Decision | Choice] | None = None,
        default: Decision | None = None,
        on: pendulum.Date | None = None,
        episode_id: str | None = None,
        lists: Mapping[MedicationSource, Iterable[MedicationStatement]] | None = None,
        reconciliation_id: str | None = None,
        reason: str = "medication reconciliation",
    ) -> MedicationReconciliation:
        """Reconcile a patient's medication lists; store the record and the reconciled list.

        *lists* maps each :class:`~carecore.model.MedicationSource` to its
        statements (stored with the record when new); without it the stored
        statements give the lists (see :func:`carecore.medications._store.source_lists`).
        Every medication needs a decision from *decisions* (by key, RxNorm
        code or statement id) or *default*. The open transition episode of
        the patient (or *episode_id*) has its medication-reconciliation
        deadline met in the same transaction. *by*, who reconciles, is a
        stored practitioner; an unknown id is refused
        (:class:`~carecore.errors.NotFound` naming ``by``) and nothing is
        saved. Returns the
        :class:`~carecore.model.MedicationReconciliation`.
        """
        from carecore.medications import _store  # noqa: PLC0415 - kept off the import path

        with self.transaction(reason) as tx:
            day = on if on is not None else self._today(patient_id, tx)
            day = v.check_date(day, "on")
            return _store.reconcile_in(
                tx,
                patient_id=patient_id,
                reconciliation_id=reconciliation_id,
                by=by,
                on=day,
                decisions=decisions or {},
                default=default,
                episode_id=episode_id,
                lists=lists,
            )

    def medication_list(
        self, patient_id: str, *, on: pendulum.Date | None = None, reason: str = "medication list"
    ) -> list[MedicationStatement]:
        """The patient's active medications as of *on* (default: today in their time zone)."""
        from carecore.medications import _store  # noqa: PLC0415

        with self.transaction(reason) as tx:
            day = v.check_date(on if on is not None else self._today(patient_id, tx), "on")
            return _store.current_list(tx, patient_id, day)

    def care_gaps(
        self,
        *,
        patient_id: str | None = None,
        on: pendulum.Date | None = None,
        reason: str = "care gaps",
    ) -> list[Gap]:
        """Each patient's care gaps on *on* (default: today, UTC), or one patient's.

        The rules are the built-in ones with those of ``carecore_gap_rules``
        plugins (see :mod:`carecore.gaps`).
        """
        from carecore.gaps import _store  # noqa: PLC0415 - kept off the import path

        day = v.check_date(on if on is not None else self.clock.now().date(), "on")
        rules = _store.rule_set(self.plugin_manager)
        with self.transaction(reason) as tx:
            return _store.gaps_in(tx, on=day, rules=rules, patient_id=patient_id)

    def medication_adherence(
        self,
        *,
        start: pendulum.Date,
        end: pendulum.Date,
        patient_id: str | None = None,
        reason: str = "medication adherence",
    ) -> list[ClassAdherence]:
        """PDC per patient and drug class over *start* to *end* from the stored fills."""
        from carecore.gaps import _store  # noqa: PLC0415

        with self.transaction(reason) as tx:
            return _store.adherence_in(tx, start=start, end=end, patient_id=patient_id)

    def program_data(
        self,
        *,
        reason: str = "program measurement",
        patient_ids: Sequence[str] | None = None,
        kinds: Collection[str] | None = None,
    ) -> ProgramData:
        """Every record the registry, risk and metrics read, in one transaction.

        The snapshot feeds :func:`carecore.metrics.program_report` and
        ``carecore report``. Coverage records are included (an empty tuple
        when none are stored: eligibility then says coverage is unknown).
        With *patient_ids*, only those patients' records (one query per
        kind; the practitioners are all read): one partition of the store.
        With *kinds*, only those fields of :class:`~carecore.metrics.ProgramData`
        are read (the others are left empty).

        >>> CareProgram.open("memory://").program_data().patients
        ()
        """
        from carecore import model  # noqa: PLC0415 - the metrics layer loads only when asked
        from carecore.metrics import ProgramData  # noqa: PLC0415

        fields = {
            "patients": model.Patient,
            "conditions": model.Condition,
            "coverages": model.Coverage,
            "consents": model.Consent,
            "enrollments": model.Enrollment,
            "care_teams": model.CareTeam,
            "care_plans": model.CarePlan,
            "time_entries": model.TimeEntry,
            "contacts": model.InteractiveContact,
            "visits": model.FaceToFaceVisit,
            "adt_events": model.AdtEvent,
            "episodes": model.TransitionEpisode,
            "claim_lines": model.ClaimLine,
            "denials": model.Denial,
            "observations": model.Observation,
            "assessments": model.AssessmentResult,
        }
        wanted = set(fields) if kinds is None else set(kinds)
        with self.transaction(reason) as tx:
            read: dict[str, Any] = {"practitioners": tuple(tx.all(model.Practitioner))}
            for name, cls in fields.items():
                if name not in wanted:
                    continue
                found: list[Any] = (
                    tx.all(cls)
                    if patient_ids is None
                    else tx.find_many(cls, patient_ids=patient_ids)
                )
                read[name] = tuple(found)
            return ProgramData(**read)


def _add_missing(
    tx: Transaction,
    owner: str | None,
    batch: list[Any],
    add_readings: Callable[[Transaction, list[Any]], None],
) -> tuple[int, int]:
    """Add each record of *batch* whose key is not stored (nor earlier in the batch).

    New home readings are handed to *add_readings* (the program's reading
    path) where they come in *batch*'s order, so what precedes them (the
    patient's care plans) is in *tx* already.
    """
    stored: dict[type, set[tuple[Any, ...]]] = {}
    readings: list[Any] = []
    added = skipped = 0
    for record in batch:
        kind = kind_for(type(record))
        if readings and kind.cls is not Observation:
            add_readings(tx, readings)
            readings = []
        if kind.cls not in stored:
            if kind.cls is Observation and owner is None:
                ids = sorted({r.patient_id for r in batch if isinstance(r, Observation)})
                found = tx.find_many(kind.cls, patient_ids=ids)
            elif owner is None or kind.patient_column is None:
                found = tx.all(kind.cls)
            else:
                found = tx.find(kind.cls, patient_id=owner)
            stored[kind.cls] = {kind.key_of(r) for r in found}
        key = kind.key_of(record)
        if key in stored[kind.cls]:
            skipped += 1
            continue
        if kind.cls is Observation:
            readings.append(record)
        else:
            tx.add(record)
        stored[kind.cls].add(key)
        added += 1
    if readings:
        add_readings(tx, readings)
    return added, skipped


#: ``alert_days`` for an import that checks no reading (``check_readings=False``).
_UNCHECKED = -1


class _ReadingCheck:
    """The patients and care plans readings are checked against, read once per patient in *tx*."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx
        self._patients: dict[str, Patient] = {}
        self._plans: dict[str, list[CarePlan]] = {}

    def patient(self, patient_id: str) -> Patient:
        """The reading's patient (:class:`~carecore.errors.NotFound` for one not stored)."""
        if patient_id not in self._patients:
            self._patients[patient_id] = self._tx.get(Patient, patient_id)
        return self._patients[patient_id]

    def findings(self, reading: Observation) -> tuple[str, ...]:
        """:func:`carecore.careplans.reading_findings` over the patient's stored plans."""
        from carecore.careplans import reading_findings  # noqa: PLC0415

        pid = reading.patient_id
        if pid not in self._plans:
            self._plans[pid] = self._tx.find(CarePlan, patient_id=pid)
        return reading_findings(reading, self._plans[pid])


def _billing_items(
    patient_id: str,
    period: ServicePeriod,
    claim_lines: Iterable[ClaimLine],
    denials: Iterable[Denial],
) -> list[ClaimLine | Denial]:
    """One patient's lines and denials for *period*, checked, one record per stored key.

    The same denial given twice (one per rule pass, or one per practitioner
    evaluated, whose messages differ only in the minutes each logged) is kept
    once, the first given. A line belongs to the month its service period
    starts in: the month itself, or a period of its own that starts there
    (TCM's 30 days from the discharge, a device's 30 days, a visit's day).
    """
    chosen: dict[tuple[type, tuple[object, ...]], ClaimLine | Denial] = {}
    everything: list[ClaimLine | Denial] = [*claim_lines, *denials]
    keys: dict[type, Callable[[Any], tuple[object, ...]]] = {}
    for item in everything:
        cls = type(item)
        key_of = keys.get(cls)
        if key_of is None:
            key_of = keys[cls] = kind_for(cls).key_of
        chosen.setdefault((cls, key_of(item)), item)
    items = list(chosen.values())
    for item in items:
        if item.patient_id != patient_id or item.period.start not in period:
            raise errors.InvalidValue(
                f"belongs to another patient or period than {patient_id} {period}",
                field="claim_lines",
                value=item,
            )
    return items


def _replace_billing(
    tx: Transaction,
    period: ServicePeriod,
    stored: Iterable[ClaimLine | Denial],
    items: Iterable[ClaimLine | Denial],
) -> None:
    """Replace the *stored* lines and denials of *period* with *items* (one transaction).

    A stored record equal to the item of its key stays as it is; the others
    are deleted and the new items added, so closing a month again writes
    only what changed.
    """
    from carecore.billing.primitives import closed_with  # noqa: PLC0415

    current: dict[tuple[type, tuple[object, ...]], ClaimLine | Denial] = {}
    for old in stored:
        if closed_with(old.period, period):
            current[type(old), kind_for(type(old)).key_of(old)] = old
    if not current:  # the month's first close: nothing to keep or delete, every item is new
        tx.add_many(list(items))
        return
    new = [(item, (type(item), kind_for(type(item)).key_of(item))) for item in items]
    same = {key for item, key in new if current.get(key) == item}
    for key, old in current.items():
        if key not in same:
            tx.delete(type(old), key[1])
    tx.add_many([item for item, key in new if key not in same])


def _names(value: object, field: str) -> set[str]:
    """A collection of names (a single string is refused: it would be read letter by letter)."""
    if isinstance(value, str) or not isinstance(value, collections.abc.Iterable):
        raise errors.InvalidValue("must be a list of names", field=field, value=value)
    names = list(value)
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise errors.InvalidValue("must be a name", field=f"{field}[{index}]", value=name)
    return set(names)


def _answer_values(value: object) -> tuple[str, ...]:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(sorted(str(v) for v in value))
    return (str(value),)


def _check_close_options(setting: object, require_coverage: object) -> None:
    """Refuse a close's *setting* or *require_coverage* by name."""
    from carecore.billing.facts import Setting  # noqa: PLC0415

    if not isinstance(setting, Setting):
        raise errors.InvalidValue(
            f"must be one of {', '.join(s.value for s in Setting)}", field="setting", value=setting
        )
    if not isinstance(require_coverage, bool):
        raise errors.InvalidValue(
            "must be True or False", field="require_coverage", value=require_coverage
        )


def _evaluate_month_records(  # noqa: PLR0917 - evaluate_period's settings
    records: MonthRecords,
    period: ServicePeriod,
    rules: billing.RuleSet,
    progress: Callable[[int, int], None] | None,
    each: Callable[[BillingFacts, EvaluationResult], None] | None,
    setting: Setting,
    *,
    require_coverage: bool,
) -> list[EvaluationResult]:
    """Every patient's result from *records* (see :meth:`CareProgram.evaluate_period`)."""
    _check_close_options(setting, require_coverage)
    from carecore.billing._month import evaluate_records  # noqa: PLC0415

    total = len(records.patients)
    results = []
    for facts, result in evaluate_records(
        records,
        period,
        rules,
        progress=None if progress is None else (lambda done: progress(done, total)),
        setting=setting,
        require_coverage=require_coverage,
    ):
        results.append(result)
        if each is not None:
            each(facts, result)
    return results


def _offset_progress(
    progress: Callable[[int, int], None] | None, before: int, total: int
) -> Callable[[int, int], None] | None:
    """*progress* for one partition: its patients done after *before*, out of *total*."""
    if progress is None:
        return None
    return lambda done, _part: progress(before + done, total)


#: Patients per partition of a store close's read (one query per kind each).
PARTITION_SIZE = 2_000


def _partitions(ids: list[str], size: int = PARTITION_SIZE) -> list[tuple[int, list[str]]]:
    """*ids* (sorted) cut into consecutive partitions of at most *size*, each with its first index."""
    return [(i, ids[i : i + size]) for i in range(0, len(ids), size)]


def _month_records(
    tx: Transaction,
    patient_id: str | None = None,
    *,
    dated_plans: dict[str, list[tuple[CarePlan, pendulum.Date | None]]] | None = None,
    patient_ids: list[str] | None = None,
) -> MonthRecords:
    """Every record a close reads (of one patient, with *patient_id*), care plans as spans from their history.

    With *patient_ids*, those patients' records (one query per kind). With
    *dated_plans*, each plan's versions with the day each was written are
    put there by plan id (see :func:`_plan_spans`).
    """
    from carecore.billing._month import MonthRecords  # noqa: PLC0415

    def read(cls: type[Any]) -> list[Any]:
        if patient_ids is not None:
            return tx.find_many(cls, patient_ids=patient_ids)
        return tx.all(cls) if patient_id is None else tx.find(cls, patient_id=patient_id)

    if patient_ids is not None:
        patients = read(Patient)
    elif patient_id is None:
        patients = tx.all(Patient)
    else:
        try:
            patients = [tx.get(Patient, patient_id)]
        except errors.NotFound:
            patients = []
    plans = read(CarePlan)
    return MonthRecords(
        patients=patients,
        practitioners=tx.all(Practitioner),
        conditions=read(Condition),
        consents=read(Consent),
        enrollments=read(Enrollment),
        coverages=read(Coverage),
        care_teams=read(CareTeam),
        care_plans=_plan_spans(
            tx,
            plans,
            {p.id: p.time_zone for p in patients},
            patient_id=patient_id,
            dated_out=dated_plans,
            patient_ids=patient_ids,
        ),
        time_entries=read(TimeEntry),
        contacts=read(InteractiveContact),
        visits=read(FaceToFaceVisit),
        device_readings=read(DeviceReadingDay),
        episodes=read(TransitionEpisode),
        claim_lines=read(ClaimLine),
        mdm_assessments=read(MdmAssessment),
        device_setups=read(DeviceSetup),
        apcm_addons=read(ApcmAddon),
        external_claims=read(ExternalClaim),
        elections=read(ProgramElection),
    )


def _rules_for(rules: billing.RuleSet | None, year: int) -> billing.RuleSet | None:
    """*rules*, else the CMS rule set of *year* (None in a year carecore has none for)."""
    if rules is not None:
        return rules
    from carecore.billing import CMS_YEARS, cms_rule_set  # noqa: PLC0415

    return cms_rule_set(year) if year in CMS_YEARS else None


def _time_progress(
    tx: Transaction, entry: TimeEntry, rules: billing.RuleSet
) -> tuple[BillingFacts, EvaluationResult, TimeProgress | None] | None:
    """The entry's patient's month so far (to the entry's day) and the engine's next code for its time."""
    from carecore.billing._progress import records_progress  # noqa: PLC0415

    day = entry.service_date
    records = _month_records(tx, entry.patient_id)
    # The entry's billing practitioner is evaluated even when no earlier record
    # names them (a month's first entry): a care team naming them does only that.
    named = CareTeam(
        id="carecore-record-time",
        patient_id=entry.patient_id,
        members=[
            CareTeamMember(
                practitioner_id=entry.billing_practitioner_id,
                role=CareTeamRole.BILLING_PRACTITIONER,
            )
        ],
    )
    so_far = attrs.evolve(
        records,
        time_entries=[t for t in records.time_entries if t.service_date <= day],
        care_teams=[*records.care_teams, named],
    )
    wanted = (entry.billing_practitioner_id, entry.family)
    for facts, result, progress in records_progress(
        so_far,
        ServicePeriod.month(day.year, day.month),
        rules,
        expected={entry.patient_id: [wanted]},
        check=False,
    ):
        found = [p for p in progress if (p.practitioner, p.family) == wanted]
        return facts, result, found[0] if found else None
    return None


def _reached(
    before: tuple[BillingFacts, EvaluationResult, TimeProgress | None],
    after: tuple[BillingFacts, EvaluationResult, TimeProgress | None],
    entry: TimeEntry,
) -> str | None:
    """The code the entry reached, by the engine's answers before and after it (None: none)."""
    aim, then = before[2], after[2]
    if aim is None:
        return None

    def units(result: EvaluationResult) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in result.claim_lines:
            if (line.billing_practitioner_id, line.family) == (
                entry.billing_practitioner_id,
                entry.family,
            ):
                out[line.code] = out.get(line.code, 0) + line.units
        return out

    old, new = units(before[1]), units(after[1])
    gained = sorted(code for code, n in new.items() if n > old.get(code, 0))
    if aim.code in gained:
        return aim.code
    if gained:
        return gained[0]
    if then is None or then.code != aim.code:
        return aim.code  # reached, and the month is refused for another reason
    return None


def _plan_spans(
    tx: Transaction,
    plans: list[CarePlan],
    zones: Mapping[str, str],
    *,
    patient_id: str | None = None,
    dated_out: dict[str, list[tuple[CarePlan, pendulum.Date | None]]] | None = None,
    patient_ids: list[str] | None = None,
) -> list[careplans.PlanSpan]:
    """When each plan was in force, from its stored versions and the days they were written.

    The history tables keep versions, not times; the audit log's create and
    update entries of a plan, in order, date its later versions. The first
    stored version is dated by the plan's own dates (created, shared with
    the patient), so a plan imported as already agreed keeps its date; a
    plan stored once needs no history read. With *dated_out*, each plan's
    versions with the day each was written (None: dated by its own dates)
    are put there by plan id, for the audit packets of a close.
    """
    stored = {p.id: tx.history(CarePlan, p.id) if p.version > 1 else [p] for p in plans}
    wanted = {p.id: p.patient_id for p in plans if len(stored[p.id]) > 1}
    written = _plan_writes(tx, wanted, patient_id=patient_id, partition=patient_ids is not None)
    return _dated_spans(plans, stored, written, zones, dated_out)


def _plan_writes(
    tx: Transaction, wanted: Mapping[str, str], *, patient_id: str | None, partition: bool
) -> dict[str, list[pendulum.DateTime]]:
    """When each plan of *wanted* (plan id: patient id) was created and updated, from the audit log.

    The log is read only when some plan has later versions to date: one
    patient's entries when *patient_id* is given; in a *partition*, those of
    each patient with a revised plan (not the whole log for every partition).
    """
    written: dict[str, list[pendulum.DateTime]] = {}
    if not wanted:
        return written
    patients: tuple[str | None, ...] = (
        tuple(sorted(set(wanted.values()))) if partition else (patient_id,)
    )
    for someone in patients:
        for entry in tx.audit_entries(patient_id=someone):
            key = entry.key
            if entry.kind == "CarePlan" and key in wanted and entry.action in _WRITES:
                written.setdefault(str(key), []).append(entry.at)
    return written


#: A stored care-plan version as a close reads it: built, or its dates and completeness only.
_Version = TypeVar("_Version", bound="CarePlan | careplans.PlanVersion")


def _dated_spans(
    plans: Sequence[_Version],
    stored: Mapping[str, Sequence[_Version]],
    written: Mapping[str, list[pendulum.DateTime]],
    zones: Mapping[str, str],
    dated_out: dict[str, list[tuple[_Version, pendulum.Date | None]]] | None,
) -> list[careplans.PlanSpan]:
    """Each plan's span from its stored versions (*stored*, oldest first) and their writes' times.

    A version may be a :class:`~carecore.careplans.PlanVersion` (a partitioned
    close reads a plan with one stored version so, without its content).
    """
    spans = []
    for plan in plans:
        versions = stored[plan.id]
        zone = zones.get(plan.patient_id, "UTC")
        # Every later version was written by a replace (one update entry each), so the
        # entries date the versions from the newest back. The first stored version is
        # dated by its own dates: a plan imported as already agreed was agreed then.
        later = len(versions) - 1
        times = [t.in_timezone(zone).date() for t in written.get(plan.id, [])]
        times = times[len(times) - later :] if later else []
        days: list[pendulum.Date | None] = [None] * (len(versions) - len(times))
        dated = list(zip(versions, [*days, *times], strict=True))
        if dated_out is not None:
            dated_out[plan.id] = dated
        spans.append(careplans.established_span(dated))
    return spans


_WRITES = frozenset({"create", "update"})
