"""The carecore converter: model values to and from JSON-ready primitives.

There is one converter, built by :func:`make_converter`; nothing is ever
registered on ``cattrs.global_converter``. The canonical JSON form uses the
Python attribute names (snake_case), ISO 8601 strings for dates and instants
(instants always carry their UTC offset), strings for money and the wire
values of enums. Reading is strict: a naive datetime, an unknown key, a float
where money is expected or a string where a number is expected is refused,
and every problem is reported at once, each with its JSON path, in one
:class:`carecore.errors.InvalidInput`.

>>> import pendulum
>>> from carecore.model import ServicePeriod
>>> to_primitive(ServicePeriod.month(2026, 1))
{'start': '2026-01-01', 'end': '2026-01-31'}
>>> from_primitive({"start": "2026-01-01", "end": "2026-01-31"}, ServicePeriod)
ServicePeriod(start=Date(2026, 1, 1), end=Date(2026, 1, 31))
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, TypeVar, get_args, get_origin

import cattrs
import pendulum
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.strategies import configure_tagged_union, include_subclasses

from carecore import errors, limits
from carecore.model import DomainEvent

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "configure_converter",
    "from_json",
    "from_primitive",
    "get_converter",
    "make_converter",
    "to_json",
    "to_primitive",
]

T = TypeVar("T")

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _Refused(ValueError):
    """A scalar was refused; the message says why in words a person can act on."""


# -- scalars ----------------------------------------------------------------


def _structure_instant(value: object, _: type) -> pendulum.DateTime:
    if not isinstance(value, str):
        raise _Refused("expected an ISO 8601 date-time string with an offset")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise _Refused("not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise _Refused("a time zone offset is required (e.g. 2026-01-05T10:00:00-06:00)")
    return pendulum.instance(parsed)


def _unstructure_instant(value: dt.datetime) -> str:
    return value.isoformat()


def _structure_date(value: object, _: type) -> pendulum.Date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise _Refused("expected a date as YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise _Refused("not a calendar date") from None
    return pendulum.Date(day.year, day.month, day.day)


def _unstructure_date(value: dt.date) -> str:
    return value.isoformat()


def _structure_time(value: object, _: type) -> dt.time:
    if not isinstance(value, str):
        raise _Refused("expected a time of day as HH:MM or HH:MM:SS")
    try:
        parsed = dt.time.fromisoformat(value)
    except ValueError:
        raise _Refused("not a time of day") from None
    if parsed.tzinfo is not None:
        raise _Refused("a time of day is local to the patient: no offset")
    return parsed


def _structure_decimal(value: object, _: type) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Refused("expected money as a string such as '64.02' (floats round)")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise _Refused("not a decimal number") from None
    if not amount.is_finite():
        raise _Refused("must be a finite number")
    return amount


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _Refused("expected a string")
    return value


def _structure_int(value: object, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused("expected a whole number")
    return value


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _Refused("expected true or false")
    return value


def _register_scalars(c: cattrs.Converter) -> None:
    c.register_structure_hook(str, _structure_str)
    c.register_structure_hook(int, _structure_int)
    c.register_structure_hook(bool, _structure_bool)
    c.register_structure_hook(Decimal, _structure_decimal)
    c.register_unstructure_hook(Decimal, str)
    # pendulum.DateTime subclasses pendulum.Date; predicates keep them apart.
    c.register_structure_hook_func(
        lambda t: t is pendulum.DateTime or t is dt.datetime, _structure_instant
    )
    c.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, dt.datetime),
        _unstructure_instant,
    )
    c.register_structure_hook_func(lambda t: t is dt.time, _structure_time)
    c.register_unstructure_hook(dt.time, dt.time.isoformat)
    c.register_structure_hook_func(lambda t: t is pendulum.Date or t is dt.date, _structure_date)
    c.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, dt.date) and not issubclass(t, dt.datetime),
        _unstructure_date,
    )


# -- containers -------------------------------------------------------------


def _register_containers(c: cattrs.Converter) -> None:
    """Sequences become tuples and sets frozensets; a string is never a sequence."""

    def collection_hook(t: Any) -> Callable[[object, Any], Any]:
        args = get_args(t)
        item = args[0] if args else Any
        build: Callable[[list[Any]], Any] = tuple if _origin(t) is tuple else frozenset
        accepted = (list, tuple) if build is tuple else (list, tuple, set, frozenset)
        item_hook = c.get_structure_hook(item)

        def structure(value: object, _: Any) -> Any:
            if not isinstance(value, accepted):
                raise _Refused("expected a list")
            out: list[Any] = []
            failures: list[Exception] = []
            for index, element in enumerate(value):
                try:
                    out.append(item_hook(element, item))
                except Exception as exc:  # noqa: BLE001 - collected and re-raised below
                    exc.__notes__ = [
                        *getattr(exc, "__notes__", []),
                        IterableValidationNote(f"Structuring item @ index {index}", index, item),
                    ]
                    failures.append(exc)
            if failures:
                raise IterableValidationError("While structuring a list", failures, t)
            return build(out)

        return structure

    def unstructure_frozenset(t: Any) -> Callable[[Any], Any]:
        (item,) = get_args(t) or (Any,)

        def unstructure(value: frozenset[Any]) -> list[Any]:
            return sorted((c.unstructure(v, item) for v in value), key=repr)

        return unstructure

    c.register_structure_hook_factory(_is_collection, collection_hook)
    c.register_unstructure_hook_factory(lambda t: _origin(t) is frozenset, unstructure_frozenset)


def _origin(t: Any) -> object:
    origin: object = get_origin(t)
    return origin


def _is_collection(t: Any) -> bool:
    """``frozenset[X]`` or ``tuple[X, ...]`` (fixed-length tuples keep cattrs' own handling)."""
    if _origin(t) is frozenset:
        return True
    args = get_args(t)
    return _origin(t) is tuple and len(args) == 2 and args[1] is Ellipsis  # noqa: PLR2004


# -- unions -----------------------------------------------------------------


def _register_unions(c: cattrs.Converter) -> None:
    include_subclasses(
        DomainEvent,
        c,
        union_strategy=functools.partial(configure_tagged_union, tag_name="type"),
    )


def configure_converter(c: cattrs.Converter) -> cattrs.Converter:
    """Teach an existing cattrs converter carecore's rules, and return it.

    Use this to compose carecore values into your own converter; hooks you
    registered before keep working unless carecore registers the same type.

    >>> import cattrs
    >>> from decimal import Decimal
    >>> configure_converter(cattrs.Converter()).unstructure(Decimal("1.50"))
    '1.50'
    """
    _register_scalars(c)
    _register_containers(c)
    _register_unions(c)
    return c


def make_converter() -> cattrs.Converter:
    """A new carecore converter (strict: unknown keys are refused).

    >>> make_converter().structure("2026-01-05", pendulum.Date)
    Date(2026, 1, 5)
    """
    return configure_converter(cattrs.Converter(forbid_extra_keys=True, detailed_validation=True))


@functools.cache
def get_converter() -> cattrs.Converter:
    """The shared carecore converter, built once on first use.

    >>> get_converter() is get_converter()
    True
    """
    return make_converter()


# -- the public functions ---------------------------------------------------


def to_primitive(obj: object, *, converter: cattrs.Converter | None = None) -> Any:
    """Turn a carecore value into dicts, lists, strings, numbers and booleans.

    >>> from carecore.model import ServiceFamily
    >>> to_primitive(ServiceFamily.CCM)
    'CCM'
    """
    conv = converter or get_converter()
    if isinstance(obj, DomainEvent):
        return conv.unstructure(obj, DomainEvent)
    return conv.unstructure(obj)


def from_primitive(data: object, cls: type[T], *, converter: cattrs.Converter | None = None) -> T:
    """Build a *cls* value from primitives, or raise :class:`~carecore.errors.InvalidInput`.

    The error lists every problem found, each with its JSON path:

    >>> from carecore.model import ServicePeriod
    >>> from_primitive({"start": "2026-01-01", "stop": "x"}, ServicePeriod)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidInput: invalid ServicePeriod: 2 problems
      $.end: required field missing
      $.stop: unknown field
    """
    conv = converter or get_converter()
    name = getattr(cls, "__name__", str(cls))
    try:
        if isinstance(cls, type) and issubclass(cls, DomainEvent) and cls is not DomainEvent:
            return _structure_event(conv, data, cls)
        return conv.structure(data, cls)
    except errors.InvalidInput:
        raise
    except errors.CarecoreError as exc:
        # Raised by a value's own validators on the outermost value.
        path = f"$.{exc.field}" if exc.field else "$"
        value = _lookup(data, path) if exc.field else data
        raise errors.InvalidInput(
            name, problems=[errors.Problem(path=path, message=exc.reason, value=value)]
        ) from exc
    except Exception as exc:
        problems = list(_problems(exc, "$", data))
        raise errors.InvalidInput(
            name, problems=problems or [errors.Problem(path="$", message=_message(exc))]
        ) from exc


def _structure_event(conv: cattrs.Converter, data: object, cls: type[T]) -> T:
    # Events always carry their "type" tag; read through the tagged union and
    # check the tag names the class that was asked for.
    event = conv.structure(data, DomainEvent)
    if not isinstance(event, cls):
        raise errors.InvalidInput(
            cls.__name__,
            problems=[
                errors.Problem(
                    path="$.type",
                    message=f"expected {cls.__name__!r}",
                    value=event.type,
                )
            ],
        )
    return event


def to_json(obj: object, *, indent: int | None = None) -> str:
    """Serialise a carecore value to a JSON string.

    >>> from carecore.model import ServicePeriod
    >>> to_json(ServicePeriod.month(2026, 1))
    '{"start": "2026-01-01", "end": "2026-01-31"}'
    """
    return json.dumps(to_primitive(obj), indent=indent, ensure_ascii=False)


def from_json(text: str | bytes, cls: type[T]) -> T:
    """Read a *cls* value from JSON text; malformed JSON is an InvalidInput too.

    The text must keep within :mod:`carecore.limits` (JSON depth, number
    digits, size); beyond them it is refused, naming the limit.

    >>> from carecore.model import ServicePeriod
    >>> from_json('{"start": "2026-01-01", "end": "2026-01-31"}', ServicePeriod).days
    31
    """
    # Within the input limits: a document nested too deep, a number too long or
    # a text too large is refused by name, not with RecursionError or ValueError.
    data = limits.load_json(text, what=getattr(cls, "__name__", str(cls)))
    return from_primitive(data, cls)


# -- error reporting --------------------------------------------------------

_MISSING: Any = errors._MISSING  # noqa: SLF001 - the "no value" marker Problem understands


def _message(exc: BaseException) -> str:
    if isinstance(exc, errors.CarecoreError):
        return exc.reason or str(exc)
    if isinstance(exc, _Refused):
        return str(exc)
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ValueError) and "is not a valid" in str(exc):
        return "not one of the allowed codes"
    if isinstance(exc, TypeError | ValueError | AttributeError):
        return "wrong type or shape"
    return type(exc).__name__


def _lookup(data: object, path: str) -> object:
    """Find the value at *path* (``$.a[1].b``) in *data*, or the sentinel."""
    current: object = data
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, index = part
        if key and isinstance(current, dict):
            current = current.get(key, _MISSING)
        elif index and isinstance(current, list | tuple) and int(index) < len(current):
            current = current[int(index)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def _problems(exc: BaseException, path: str, data: object) -> list[errors.Problem]:
    out: list[errors.Problem] = []
    if isinstance(exc, ForbiddenExtraKeysError):
        out.extend(
            errors.Problem(path=f"{path}.{key}", message="unknown field")
            for key in sorted(exc.extra_fields)
        )
    elif isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            step = note.name if hasattr(note, "name") else None
            sub = (
                f"{path}.{step}"
                if isinstance(step, str)
                else f"{path}[{getattr(note, 'index', '?')}]"
            )
            out.extend(_problems(inner, sub, data))
        for inner in without:
            out.extend(_problems(inner, path, data))
    elif isinstance(exc, errors.CarecoreError) and exc.field and not path.endswith(exc.field):
        # A nested value's own validator: its field sits below the current path.
        sub = f"{path}.{exc.field}"
        out.append(errors.Problem(path=sub, message=_message(exc), value=_lookup(data, sub)))
    else:
        value = _lookup(data, path)
        if isinstance(exc, KeyError):
            value = _MISSING
        out.append(errors.Problem(path=path, message=_message(exc), value=value))
    out.sort(key=lambda p: p.path)
    return out
