"""Clocks: where "now" comes from.

The domain never reads the time itself; the service layer asks a
:class:`Clock`. Tests and simulations pass a :class:`FixedClock`, so there is
no global time travel.

>>> clock = FixedClock(pendulum.datetime(2026, 1, 5, 9, tz="America/Chicago"))
>>> clock.today("America/Chicago")
Date(2026, 1, 5)
>>> clock.advance(hours=20).today("America/Chicago")
Date(2026, 1, 6)
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol, runtime_checkable

import pendulum

from carecore import errors

__all__ = ["Clock", "FixedClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current instant."""

    def now(self) -> pendulum.DateTime:
        """The current instant, time-zone aware."""
        ...


class _DatesMixin:
    def now(self) -> pendulum.DateTime:  # pragma: no cover - overridden
        raise NotImplementedError

    def today(self, time_zone: str) -> pendulum.Date:
        """Today's local date in *time_zone* (a practice's or a patient's)."""
        return self.now().in_timezone(time_zone).date()


class SystemClock(_DatesMixin):
    """The real clock, in UTC.

    >>> SystemClock().now().timezone_name
    'UTC'
    """

    def now(self) -> pendulum.DateTime:
        """The current instant in UTC."""
        return pendulum.now("UTC")


class FixedClock(_DatesMixin):
    """A clock that stands still until told to move.

    >>> FixedClock(pendulum.datetime(2026, 3, 8, 6, 30, tz="UTC")).now().hour
    6
    """

    def __init__(self, at: dt.datetime) -> None:
        if not isinstance(at, dt.datetime):
            raise errors.InvalidValue("must be a datetime", field="at", value=at)
        if at.tzinfo is None or at.utcoffset() is None:
            raise errors.NaiveDatetime(field="at", value=at)
        self._at = pendulum.instance(at)

    def now(self) -> pendulum.DateTime:
        """The instant this clock is set to."""
        return self._at

    def advance(self, **delta: int) -> FixedClock:
        """A new clock moved forward by ``pendulum`` duration keywords (``days=1``)."""
        return FixedClock(self._at.add(**delta))

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"
