"""Service periods: the calendar month or the 30-day window a code is billed for."""

from __future__ import annotations

import datetime as dt

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors
from carecore.model import _validators as v

__all__ = ["ServicePeriod"]

_FIRST_YEAR, _LAST_YEAR = 1900, 9999
_MONTHS = 12


@frozen(kw_only=True, field_transformer=v.name_errors, order=True)
class ServicePeriod:
    """An inclusive range of local dates in the practice's time zone.

    >>> ServicePeriod.month(2026, 2).end
    Date(2026, 2, 28)
    >>> ServicePeriod.days_from(pendulum.Date(2026, 1, 20), 30).end
    Date(2026, 2, 18)
    """

    start: pendulum.Date = field(converter=v.to_date)
    end: pendulum.Date = field(converter=v.to_date)

    @end.validator
    def _end_after_start(self, attribute: attrs.Attribute[object], value: pendulum.Date) -> None:
        if value < self.start:
            raise errors.InvalidValue("is before the start", field=attribute.name, value=value)

    @classmethod
    def month(cls, year: int, month: int) -> ServicePeriod:
        """The calendar month *year*-*month*.

        >>> str(ServicePeriod.month(2026, 11))
        '2026-11-01..2026-11-30'
        """
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= _MONTHS:
            raise errors.InvalidValue("must be 1 to 12", field="month", value=month)
        if (
            isinstance(year, bool)
            or not isinstance(year, int)
            or not _FIRST_YEAR <= year <= _LAST_YEAR
        ):
            raise errors.InvalidValue("must be 1900 to 9999", field="year", value=year)
        first = pendulum.Date(year, month, 1)
        return cls(start=first, end=first.end_of("month"))

    @classmethod
    def days_from(cls, start: pendulum.Date, days: int) -> ServicePeriod:
        """*days* days starting on *start* (TCM: the discharge date and the next 29 days)."""
        if isinstance(days, bool) or not isinstance(days, int) or days < 1:
            raise errors.InvalidValue("must be at least 1", field="days", value=days)
        return cls(start=start, end=v.to_date(start).add(days=days - 1))

    @property
    def days(self) -> int:
        """Number of days in the period, both ends included.

        >>> ServicePeriod.month(2024, 2).days
        29
        """
        return (self.end - self.start).in_days() + 1

    def __contains__(self, day: object) -> bool:
        """Whether a date falls in the period (``date in period``)."""
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            return False
        return self.start <= day <= self.end

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"
