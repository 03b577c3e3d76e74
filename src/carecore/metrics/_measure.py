"""The value every metric returns, and the calendar helpers the metrics share."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import pendulum
from attrs import frozen

from carecore import errors
from carecore.model import EnrollmentStatus, ServicePeriod

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from carecore.model import Enrollment, ServiceFamily

__all__ = [
    "Comparison",
    "Measure",
    "before_after",
    "by_month",
    "enrolled_months",
    "month_key",
    "months_of",
]

_PLACES = Decimal("0.0001")


@frozen(kw_only=True)
class Measure:
    """One program measure: ``numerator / denominator x scale`` over *period*, with its definition.

    ``denominator`` None means a total (``value`` is the numerator). ``value``
    is None when the denominator is zero. Values are rounded half-up to 4
    decimal places; numerator and denominator are kept exact.

    >>> m = Measure(name="billable_rate", numerator=Decimal(2), denominator=Decimal(3),
    ...     unit="ratio", period=ServicePeriod.month(2026, 3), definition="...")
    >>> m.value
    Decimal('0.6667')
    >>> Measure(name="x", numerator=Decimal(0), denominator=Decimal(0), unit="ratio",
    ...     period=ServicePeriod.month(2026, 3), definition="...").value is None
    True
    """

    name: str
    numerator: Decimal
    denominator: Decimal | None
    unit: str
    period: ServicePeriod
    definition: str
    scale: int = 1

    @property
    def value(self) -> Decimal | None:
        """The measure's value (None when there is nothing to divide by)."""
        if self.denominator is None:
            return self.numerator
        if self.denominator == 0:
            return None
        return (self.numerator * self.scale / self.denominator).quantize(
            _PLACES, rounding=ROUND_HALF_UP
        )


@frozen(kw_only=True)
class Comparison:
    """A measure over the months before an intervention date and as many months from it."""

    name: str
    intervention: pendulum.Date
    before: Measure
    after: Measure

    @property
    def change(self) -> Decimal | None:
        """``after - before`` (None when either is unknown)."""
        if self.before.value is None or self.after.value is None:
            return None
        return self.after.value - self.before.value


def month_key(day: pendulum.Date) -> str:
    """``YYYY-MM`` of *day*.

    >>> month_key(pendulum.Date(2026, 3, 9))
    '2026-03'
    """
    return f"{day.year:04d}-{day.month:02d}"


def months_of(period: ServicePeriod) -> tuple[ServicePeriod, ...]:
    """The calendar months *period* overlaps, each cut to the period.

    >>> [str(m) for m in months_of(ServicePeriod(start=pendulum.Date(2026, 1, 20),
    ...                                            end=pendulum.Date(2026, 2, 10)))]
    ['2026-01-20..2026-01-31', '2026-02-01..2026-02-10']
    """
    if not isinstance(period, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="period", value=period)
    out = []
    first = period.start.start_of("month")
    while first <= period.end:
        out.append(
            ServicePeriod(
                start=max(first, period.start), end=min(first.end_of("month"), period.end)
            )
        )
        first = first.add(months=1)
    return tuple(out)


def _enrolled_during(enrollment: Enrollment, start: pendulum.Date, end: pendulum.Date) -> bool:
    if enrollment.status_on(start) is EnrollmentStatus.ENROLLED:
        return True
    return any(
        c.status is EnrollmentStatus.ENROLLED and start < c.on <= end for c in enrollment.history
    )


def enrolled_months(
    enrollments: Iterable[Enrollment], *, period: ServicePeriod, family: ServiceFamily
) -> frozenset[tuple[str, str]]:
    """The enrolled patient-months of *family* in *period*: ``(patient_id, "YYYY-MM")`` pairs.

    A patient-month counts when an enrollment of the family was *enrolled* on
    at least one day of the month inside the period (one patient counts once
    a month, whatever their number of enrollments).

    >>> from carecore.model import Enrollment, ServiceFamily
    >>> e = Enrollment.start(id="e1", patient_id="p1", program_id="ccm", family=ServiceFamily.CCM,
    ...     billing_practitioner_id="dr1", on=pendulum.Date(2026, 2, 20))
    >>> sorted(enrolled_months([e], period=ServicePeriod(start=pendulum.Date(2026, 1, 1),
    ...     end=pendulum.Date(2026, 3, 31)), family=ServiceFamily.CCM))
    [('p1', '2026-02'), ('p1', '2026-03')]
    """
    months = months_of(period)
    return frozenset(
        (e.patient_id, month_key(m.start))
        for e in enrollments
        if e.family is family
        for m in months
        if _enrolled_during(e, m.start, m.end)
    )


def before_after(
    compute: Callable[[ServicePeriod], Measure],
    *,
    intervention: pendulum.Date,
    months: int,
) -> Comparison:
    """*compute* over the *months* months before *intervention* and the *months* months from it.

    The before period ends the day before the intervention; the after
    period starts on it. Neither is cut to the data: an after period that
    runs past the last recorded month shows fewer events, so choose
    *months* the data covers.

    >>> def count(period):
    ...     return Measure(name="days", numerator=Decimal(period.days), denominator=None,
    ...                    unit="days", period=period, definition="days in the period")
    >>> c = before_after(count, intervention=pendulum.Date(2026, 3, 1), months=1)
    >>> str(c.before.period), str(c.after.period), c.change
    ('2026-02-01..2026-02-28', '2026-03-01..2026-03-31', Decimal('3'))
    """
    if not isinstance(intervention, pendulum.Date) or isinstance(intervention, pendulum.DateTime):
        raise errors.InvalidValue("must be a date", field="intervention", value=intervention)
    if isinstance(months, bool) or not isinstance(months, int) or months < 1:
        raise errors.InvalidValue("must be 1 or more", field="months", value=months)
    before = ServicePeriod(
        start=intervention.subtract(months=months), end=intervention.subtract(days=1)
    )
    after = ServicePeriod(start=intervention, end=intervention.add(months=months).subtract(days=1))
    b, a = compute(before), compute(after)
    return Comparison(name=a.name, intervention=intervention, before=b, after=a)


def by_month(
    compute: Callable[[ServicePeriod], Measure], period: ServicePeriod
) -> tuple[Measure, ...]:
    """*compute* for each calendar month of *period* (a time series).

    >>> def count(p):
    ...     return Measure(name="days", numerator=Decimal(p.days), denominator=None,
    ...                    unit="days", period=p, definition="days")
    >>> [m.value for m in by_month(count, ServicePeriod(start=pendulum.Date(2026, 1, 1),
    ...                                                 end=pendulum.Date(2026, 2, 28)))]
    [Decimal('31'), Decimal('28')]
    """
    return tuple(compute(m) for m in months_of(period))
