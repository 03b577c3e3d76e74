"""Reusable attrs validators and converters that raise carecore errors.

Every function here reports the attribute's name and the offending value, so
an error raised while building a value says exactly what to fix.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
import pendulum

from carecore import errors

E = TypeVar("E", bound=enum.Enum)

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _name(attribute: attrs.Attribute[Any]) -> str:
    return attribute.name


def not_blank(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a non-empty string without surrounding whitespace (a personal one is described)."""
    shown = described(value) if attribute.metadata.get("personal") else value
    if not isinstance(value, str):
        raise errors.InvalidValue("must be a string", field=_name(attribute), value=shown)
    if not value.strip():
        raise errors.InvalidValue("must not be blank", field=_name(attribute), value=shown)
    if value != value.strip():
        raise errors.InvalidValue(
            "must not start or end with whitespace", field=_name(attribute), value=shown
        )


def optional(validator: Validator) -> Validator:
    """Run *validator* unless the value is None."""

    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value is not None:
            validator(inst, attribute, value)

    return check


def is_bool(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a real bool (not 0/1, not "yes")."""
    if not isinstance(value, bool):
        raise errors.InvalidValue("must be true or false", field=_name(attribute), value=value)


def int_between(low: int, high: int | None = None) -> Validator:
    """Require an int (never a bool or float) in ``[low, high]``."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.InvalidValue("must be a whole number", field=_name(attribute), value=value)
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"between {low} and {high}"
            raise errors.InvalidValue(f"must be {span}", field=_name(attribute), value=value)

    return check


def matches(pattern: str, what: str) -> Validator:
    """Require a string that fully matches *pattern*; *what* names the format."""
    regex = re.compile(pattern)

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, str) or not regex.fullmatch(value):
            raise errors.InvalidValue(f"must be {what}", field=_name(attribute), value=value)

    return check


def money(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require a finite, non-negative Decimal (floats are refused: they round)."""
    if not isinstance(value, Decimal):
        raise errors.InvalidValue(
            "must be a Decimal (not a float)", field=_name(attribute), value=value
        )
    if not value.is_finite() or value < 0:
        raise errors.InvalidValue(
            "must be a finite, non-negative amount", field=_name(attribute), value=value
        )


def check_time_zone(value: object, field: str = "time_zone") -> str:
    """*value* if it is an IANA time zone name, else :class:`~carecore.errors.InvalidValue` naming *field*.

    >>> check_time_zone("America/Chicago")
    'America/Chicago'
    """
    if not isinstance(value, str) or not value:
        raise errors.InvalidValue("must be an IANA time zone name", field=field, value=value)
    if value in _KNOWN_ZONES:
        return value
    try:
        zone = pendulum.timezone(value)
    except Exception as exc:  # pendulum raises its own InvalidTimezone
        raise errors.InvalidValue(
            "is not a known IANA time zone", field=field, value=value
        ) from exc
    if len(_KNOWN_ZONES) < 1024:  # noqa: PLR2004 - a bound: zones are a few hundred names
        _KNOWN_ZONES[value] = zone
    return value


#: Zones pendulum has found, by name, held. Looking a zone up by name reads its file
#: (about 100 to 200 us) unless a zone object of that name is alive: pendulum keeps
#: its zones only while something refers to them. Held here, every later lookup of a
#: checked name (``in_tz``, ``pendulum.datetime(..., tz=name)``) takes about 1 us.
_KNOWN_ZONES: dict[str, object] = {}


def time_zone(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """Require an IANA time zone name known to pendulum (e.g. ``America/Chicago``)."""
    check_time_zone(value, _name(attribute))


def tuple_of(item: Validator) -> Validator:
    """Check every item of a tuple field with *item*, naming its index on failure."""

    def check(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, tuple):
            raise errors.InvalidValue("must be a sequence", field=_name(attribute), value=value)
        for index, element in enumerate(value):
            try:
                item(inst, attribute, element)
            except errors.CarecoreError as exc:
                raise errors.InvalidValue(
                    exc.reason, field=f"{_name(attribute)}[{index}]", value=element
                ) from exc

    return check


def instance_of(cls: type[Any] | tuple[type[Any], ...], what: str) -> Validator:
    """Require an instance of *cls*; *what* is the human name of the type."""

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise errors.InvalidValue(f"must be {what}", field=_name(attribute), value=value)

    return check


# -- converters -------------------------------------------------------------
#
# attrs converters do not know the attribute name, so they raise a generic
# error which ``_named`` re-raises with the field filled in.  Each converter
# below is wrapped at field definition time through ``field_converter``.


class _ConvertError(Exception):
    def __init__(self, reason: str, value: object, *, naive: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.value = value
        self.naive = naive


def to_decimal(value: object) -> Decimal:
    """A finite Decimal from a Decimal, an int or a numeric string (floats and bools are refused)."""
    if isinstance(value, bool | float):
        raise _ConvertError("must be a whole number, a Decimal or a numeric string", value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise _ConvertError("is not a number", value) from None
    if not number.is_finite():
        raise _ConvertError("must be a finite number", value)
    return number


def to_tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    """Turn any non-string iterable into a tuple (a string is refused)."""
    if isinstance(value, tuple):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _ConvertError("must be a sequence", value)
    return tuple(value)


def to_frozenset(value: Iterable[Any]) -> frozenset[Any]:
    """Turn any non-string iterable into a frozenset."""
    if isinstance(value, frozenset):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _ConvertError("must be a set", value)
    try:
        return frozenset(value)
    except TypeError:
        raise _ConvertError("must be a set of codes", value) from None


def to_date(value: dt.date) -> pendulum.Date:
    """Accept a ``datetime.date`` (not a datetime) and return a ``pendulum.Date``."""
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise _ConvertError("must be a calendar date", value)
    if isinstance(value, pendulum.Date):
        return value
    return pendulum.Date(value.year, value.month, value.day)


def to_instant(value: dt.datetime) -> pendulum.DateTime:
    """Accept an aware ``datetime`` and return a ``pendulum.DateTime``; refuse naive ones."""
    if not isinstance(value, dt.datetime):
        raise _ConvertError("must be a datetime with a time zone", value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise _ConvertError("a time zone offset is required", value, naive=True)
    if isinstance(value, pendulum.DateTime):
        return value
    return pendulum.instance(value)


def to_optional_date(value: dt.date | None) -> pendulum.Date | None:
    """Like :func:`to_date` but let None through."""
    return None if value is None else to_date(value)


def to_optional_instant(value: dt.datetime | None) -> pendulum.DateTime | None:
    """Like :func:`to_instant` but let None through."""
    return None if value is None else to_instant(value)


def name_errors(_cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    """Attrs ``field_transformer``: make converter errors name their field.

    attrs converters do not know which attribute they convert, so the plain
    named functions above raise a private error; this transformer wraps each
    converter so that error becomes a carecore error with ``field`` set.
    """
    out: list[attrs.Attribute[Any]] = []
    for f in fields:
        inner: Any = f.converter
        if callable(inner) and not isinstance(inner, attrs.Converter):
            f = f.evolve(converter=attrs.Converter(_wrap(inner), takes_field=True))  # noqa: PLW2901
        out.append(f)
    return out


#: Field metadata marking personal data: its errors describe the value instead of showing it.
PERSONAL = {"personal": True}


def described(value: object) -> str:
    """What an error shows of a personal value (a name, a birth date): its kind and size, never itself.

    >>> described("1950-13-45"), described(None)
    ('a text of 10 characters (not shown: personal data)', 'None')
    """
    if value is None:
        return "None"
    if isinstance(value, str):
        return f"a text of {len(value)} characters (not shown: personal data)"
    return f"a {type(value).__name__} (not shown: personal data)"


def _wrap(inner: Callable[[Any], Any]) -> Callable[[Any, attrs.Attribute[Any]], Any]:
    def run(value: Any, field: attrs.Attribute[Any]) -> Any:
        try:
            return inner(value)
        except _ConvertError as exc:
            shown = described(exc.value) if field.metadata.get("personal") else exc.value
            if exc.naive:
                raise errors.NaiveDatetime(field=field.name, value=shown) from None
            raise errors.InvalidValue(exc.reason, field=field.name, value=shown) from None

    return run


def one_of(cls: type[E]) -> Validator:
    """Require a member of the enum *cls* (wire strings are converted by carecore.convert)."""
    allowed = ", ".join(str(m.value) for m in cls)

    def check(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if not isinstance(value, cls):
            raise errors.InvalidCode(
                f"must be a {cls.__name__} ({allowed})",
                field=_name(attribute),
                value=value,
            )

    return check


def check_date(value: object, field: str) -> pendulum.Date:
    """*value* as a :class:`pendulum.Date`, or :class:`~carecore.errors.InvalidValue` naming *field*.

    >>> check_date(pendulum.Date(2026, 3, 1), "as_of")
    Date(2026, 3, 1)
    >>> check_date("2026-03-01", "as_of")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: as_of='2026-03-01': must be a date
    """
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise errors.InvalidValue("must be a date", field=field, value=value)
    return pendulum.Date(value.year, value.month, value.day)


def check_instant(value: object, field: str) -> pendulum.DateTime:
    """*value* as a :class:`pendulum.DateTime`: a timezone-aware datetime, else a typed error naming *field*.

    Not a datetime: :class:`~carecore.errors.InvalidValue`; a naive one:
    :class:`~carecore.errors.NaiveDatetime` (an ``InvalidValue`` too).

    >>> import datetime
    >>> check_instant(datetime.datetime(2026, 3, 1, 9, tzinfo=datetime.timezone.utc), "at")
    DateTime(2026, 3, 1, 9, 0, 0, tzinfo=Timezone('UTC'))
    >>> check_instant(datetime.datetime(2026, 3, 1, 9), "at")
    Traceback (most recent call last):
    ...
    carecore.errors.NaiveDatetime: at=datetime.datetime(2026, 3, 1, 9, 0): a time zone offset is required
    >>> check_instant("2026-03-01T09:00Z", "at")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: at='2026-03-01T09:00Z': must be a datetime
    """
    if not isinstance(value, dt.datetime):
        raise errors.InvalidValue("must be a datetime", field=field, value=value)
    if value.tzinfo is None or value.utcoffset() is None:
        raise errors.NaiveDatetime(field=field, value=value)
    return value if isinstance(value, pendulum.DateTime) else pendulum.instance(value)


def npi_checksum_ok(npi: str) -> bool:
    """Whether a 10-digit NPI's last digit is its Luhn check digit (over "80840" + the first nine)."""
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled  # noqa: PLR2004
    return (10 - total % 10) % 10 == int(npi[9])


def check_callable(value: object, field: str) -> None:
    """Refuse *value* unless it is None or callable (progress and result callbacks).

    >>> check_callable(print, "progress")
    >>> check_callable(3, "progress")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: progress=3: must be a function (or None)
    """
    if value is not None and not callable(value):
        raise errors.InvalidValue("must be a function (or None)", field=field, value=value)
