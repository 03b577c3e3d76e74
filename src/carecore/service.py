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

import contextlib
from typing import TYPE_CHECKING, Any, Self

import attrs

from carecore import errors
from carecore.clock import Clock, SystemClock
from carecore.model import CarePlan, ClaimLine, Denial
from carecore.storage import kind_for, open_store

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import pluggy

    from carecore.model import ServicePeriod
    from carecore.protocols import Store, Transaction
    from carecore.storage import BulkResult

__all__ = ["CareProgram"]


class CareProgram:
    """A care program's store, clock and acting user.

    :param store: an open store (see :func:`carecore.storage.open_store`).
    :param clock: where "now" comes from (a :class:`~carecore.clock.FixedClock` in tests).
    :param actor: who is working, as it should appear in the audit log.
    """

    def __init__(self, store: Store, *, clock: Clock | None = None, actor: str = "system") -> None:
        self.store = store
        self.clock = clock or SystemClock()
        if not isinstance(actor, str) or not actor.strip():
            raise errors.InvalidValue("must name who is acting", field="actor", value=actor)
        self.actor = actor

    @classmethod
    def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        actor: str = "system",
        plugin_manager: pluggy.PluginManager | None = None,
    ) -> Self:
        """Open the store at *url*, create its schema if it is empty, and return a program.

        A store of another schema version raises
        :class:`~carecore.errors.SchemaVersionError` and is left as it was.

        >>> CareProgram.open("memory://").store.schema_version() > 0
        True
        """
        store = open_store(url, plugin_manager=plugin_manager)
        try:
            store.initialize()
        except BaseException:
            store.close()
            raise
        return cls(store, clock=clock, actor=actor)

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def as_actor(self, actor: str) -> CareProgram:
        """The same program and store, acting as someone else.

        >>> CareProgram.open("memory://").as_actor("md:ruiz").actor
        'md:ruiz'
        """
        return CareProgram(self.store, clock=self.clock, actor=actor)

    @contextlib.contextmanager
    def transaction(self, reason: str) -> Iterator[Transaction]:
        """A store transaction stamped with this program's actor, the clock's now and *reason*."""
        with self.store.transaction(actor=self.actor, reason=reason, at=self.clock.now()) as tx:
            yield tx

    def import_records(
        self, records: Iterable[Any], *, reason: str, progress: Callable[[int], None] | None = None
    ) -> BulkResult:
        """Bulk-load records of one kind; records whose key is stored are skipped.

        >>> from carecore.model import Practitioner, Credential
        >>> program = CareProgram.open("memory://")
        >>> staff = [Practitioner(id=f"rn{i}", name=f"Nurse {i}", credential=Credential.RN) for i in range(3)]
        >>> program.import_records(staff, reason="HR feed").added
        3
        >>> program.import_records(staff, reason="HR feed").skipped
        3
        """
        return self.store.bulk_add(
            records, actor=self.actor, reason=reason, at=self.clock.now(), progress=progress
        )

    def revise_care_plan(
        self,
        plan_id: str,
        change: Callable[[CarePlan], CarePlan],
        *,
        reason: str,
        attempts: int = 5,
    ) -> CarePlan:
        """Apply *change* to the current plan and store it as the next version.

        *change* gets the stored plan and returns the revised one (its version
        is set here). When someone else revised the plan in between, the
        change is applied again to their version, up to *attempts* times, so
        no update is lost; then :class:`~carecore.errors.ConflictError`.
        """
        for _ in range(attempts):
            try:
                with self.transaction(reason) as tx:
                    current = tx.get(CarePlan, plan_id)
                    revised = change(current)
                    if not isinstance(revised, CarePlan):
                        raise errors.InvalidValue(
                            "must return a CarePlan", field="change", value=revised
                        )
                    revised = attrs.evolve(revised, version=current.version + 1)
                    tx.replace(revised)
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
        transaction, so the audit log shows both closes.
        """
        lines, refused = list(claim_lines), list(denials)
        # The same denial given twice (one per rule pass) is stored once.
        items: list[ClaimLine | Denial] = list(dict.fromkeys([*lines, *refused]))
        for item in items:
            if item.patient_id != patient_id or item.period != period:
                raise errors.InvalidValue(
                    f"belongs to another patient or period than {patient_id} {period}",
                    field="claim_lines",
                    value=item,
                )
        with self.transaction(reason) as tx:
            stored: list[ClaimLine | Denial] = [
                *tx.find(ClaimLine, patient_id=patient_id),
                *tx.find(Denial, patient_id=patient_id),
            ]
            for old in stored:
                if old.period == period:
                    tx.delete(type(old), kind_for(type(old)).key_of(old))
            for item in items:
                tx.add(item)
