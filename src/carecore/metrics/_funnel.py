"""The enrollment funnel: identified, eligible, outreached, consented, enrolled, billed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from attrs import frozen

from carecore.metrics._measure import month_key
from carecore.metrics._program import _family, _period
from carecore.model import EnrollmentStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from carecore.model import ClaimLine, Consent, Enrollment, ServiceFamily, ServicePeriod
    from carecore.registry import Eligibility

__all__ = ["FUNNEL_STAGES", "FunnelStage", "enrollment_funnel"]

#: The funnel's stages, in order; each counts patients of the stage before it.
FUNNEL_STAGES = ("identified", "eligible", "outreached", "consented", "enrolled", "billed")

#: The enrollment statuses that mean the patient was offered the program.
_REACHED = frozenset(
    {
        EnrollmentStatus.OUTREACH,
        EnrollmentStatus.CONSENTED,
        EnrollmentStatus.ENROLLED,
        EnrollmentStatus.PAUSED,
    }
)

#: The enrollment statuses that mean the patient agreed (an enrollment needs consent).
_AGREED = frozenset(
    {EnrollmentStatus.CONSENTED, EnrollmentStatus.ENROLLED, EnrollmentStatus.PAUSED}
)


@frozen(kw_only=True)
class FunnelStage:
    """One stage of the funnel: its name (one of :data:`FUNNEL_STAGES`), its patients, its definition."""

    name: str
    patients: frozenset[str]
    definition: str

    @property
    def count(self) -> int:
        """How many patients reached this stage."""
        return len(self.patients)


def enrollment_funnel(
    eligibility: Iterable[Eligibility],
    enrollments: Iterable[Enrollment],
    consents: Iterable[Consent],
    claim_lines: Iterable[ClaimLine],
    *,
    family: ServiceFamily,
    month: ServicePeriod,
) -> tuple[FunnelStage, ...]:
    """The enrollment funnel of *family* for *month*, each stage a subset of the one before.

    One cohort is followed down: the patients the registry checked
    (*eligibility*, as the registry evaluated them), those of them it found
    eligible, those of these offered the program by the month's last day,
    those of these who had consented by then (a stored consent, or an
    enrollment that reached consent), those of these enrolled on that day,
    and those of these with a claim line of the family for the month. A
    patient offered the program who is not eligible now (who died, or whose
    coverage ended) is therefore not counted as outreached, so no stage can
    count more patients than the stage before it. The enrolled stage is the
    numerator of :func:`~carecore.metrics.enrollment_rate` (eligible and
    enrolled that day).

    >>> import pendulum
    >>> from carecore.model import ServiceFamily, ServicePeriod
    >>> [s.count for s in enrollment_funnel([], [], [], [], family=ServiceFamily.CCM,
    ...     month=ServicePeriod.month(2026, 3))]
    [0, 0, 0, 0, 0, 0]
    """
    fam, p = _family(family), _period(month)
    day, key = p.end, month_key(p.start)
    rows = [e for e in eligibility if e.family is fam]
    identified = frozenset(e.patient_id for e in rows)
    eligible = frozenset(e.patient_id for e in rows if e.eligible)
    offered = {
        en.patient_id
        for en in enrollments
        if en.family is fam and any(h.status in _REACHED and h.on <= day for h in en.history)
    }
    enrollments_on = {
        en.patient_id
        for en in enrollments
        if en.family is fam and en.status_on(day) is EnrollmentStatus.ENROLLED
    }
    consented = {c.patient_id for c in consents if c.family is fam and c.obtained_on <= day}
    consented |= {
        en.patient_id
        for en in enrollments
        if en.family is fam and any(h.status in _AGREED and h.on <= day for h in en.history)
    }
    billed = {
        line.patient_id
        for line in claim_lines
        if line.family is fam and month_key(line.period.start) == key
    }
    outreached = eligible & offered
    agreed = outreached & consented
    enrolled = agreed & enrollments_on
    name = fam.value
    checked = {e.as_of for e in rows}
    when = f" on {next(iter(checked))}" if len(checked) == 1 else ""
    return (
        FunnelStage(
            name="identified",
            patients=identified,
            definition=f"patients the registry checked for {name}{when}",
        ),
        FunnelStage(
            name="eligible",
            patients=eligible,
            definition=f"of those, patients the registry found eligible for {name}",
        ),
        FunnelStage(
            name="outreached",
            patients=outreached,
            definition=f"of those, patients offered {name} by {day}",
        ),
        FunnelStage(
            name="consented",
            patients=agreed,
            definition=f"of those, patients who had consented to {name} by {day}",
        ),
        FunnelStage(
            name="enrolled",
            patients=enrolled,
            definition=f"of those, patients enrolled in {name} on {day}",
        ),
        FunnelStage(
            name="billed",
            patients=enrolled & billed,
            definition=f"of those, patients with a {name} claim line for {key}",
        ),
    )
