"""Limits on input size and shape: JSON depth, numbers, document size, CSV cells, MLLP connections.

Input beyond a limit is refused with :class:`~carecore.errors.InvalidInput`
(or :class:`~carecore.errors.InvalidValue`) whose reason names the limit, so
a hostile or broken file costs a clear refusal instead of the stack, the
memory, or an untyped crash. The defaults are generous for real care data;
change them for the whole process with :func:`configure`, or with the
``CARECORE_LIMITS`` environment variable (``json_depth=200,csv_cell=1000000``).

>>> current().json_depth
100
>>> load_json('{"tasks": [[1]]}', what="scenario file", limits=Limits(json_depth=2))
Traceback (most recent call last):
...
carecore.errors.InvalidInput: invalid scenario file: 1 problem
  $.tasks[0]: nested deeper than the limit json_depth=2
"""

from __future__ import annotations

import csv
import json
import os
from typing import TYPE_CHECKING, Any

import attrs
from attrs import Attribute, field, frozen

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["ENV_VAR", "MAX_KEY", "Limits", "configure", "csv_rows", "current", "load_json"]

#: The environment variable read once for limits other than the defaults.
ENV_VAR = "CARECORE_LIMITS"

#: The longest key part a store takes, in characters: a record's id, an inbound
#: message's key. Fixed, not configurable: PostgreSQL indexes refuse rows over
#: about 2,700 bytes, and 1,000 characters of up to 2 bytes each stay under it.
#: Every store refuses a longer key; code that makes keys from input (a dead
#: letter's key from an HL7 control id) keeps to it.
MAX_KEY = 1000


def _at_least_1(_inst: Any, attribute: Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field=attribute.name, value=value
        )


@frozen(kw_only=True)
class Limits:
    """The input limits; each is a whole number of at least 1.

    >>> Limits(json_depth=0)
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: json_depth=0: must be a whole number of at least 1
    """

    #: Nesting of arrays and objects in one JSON document (FHIR bundles, scenario
    #: files, ``from_json``). FHIR resources nest about 10 deep.
    json_depth: int = field(default=100, validator=_at_least_1)
    #: Digits in one JSON number (integer or decimal).
    json_number_digits: int = field(default=100, validator=_at_least_1)
    #: Bytes (or characters) in one JSON document, such as one FHIR bundle file.
    json_bytes: int = field(default=256 * 1024 * 1024, validator=_at_least_1)
    #: Characters in one CSV cell (patients.csv, events.csv, imported CSV).
    csv_cell: int = field(default=131_072, validator=_at_least_1)
    #: Connections an MLLP listener (``carecore hl7 listen``) holds at once; one
    #: more is accepted and closed at once.
    mllp_connections: int = field(default=256, validator=_at_least_1)
    #: Seconds an MLLP connection may stay silent after its last ACK (or after it
    #: opened, or while it does not read its ACKs), and seconds a frame may take to
    #: arrive whole from its first byte, before the listener closes it.
    mllp_idle_seconds: int = field(default=60, validator=_at_least_1)
    #: Bytes one MLLP frame may hold: the memory one connection may take. A
    #: connection sending a longer frame is closed.
    mllp_frame: int = field(default=1024 * 1024, validator=_at_least_1)


_DEFAULT = Limits()
_active: Limits | None = None


def _from_environment() -> Limits:
    text = os.environ.get(ENV_VAR, "").strip()
    if not text:
        return _DEFAULT
    names = {a.name for a in attrs.fields(Limits)}
    values: dict[str, int] = {}
    for part in text.split(","):
        name, _, number = part.partition("=")
        name = name.strip()
        if name not in names or not number.strip().isdigit():
            raise errors.InvalidValue(
                f"must be name=number pairs separated by commas; names: {', '.join(sorted(names))}",
                field=ENV_VAR,
                value=part.strip(),
            )
        values[name] = int(number)
    return Limits(**values)


def current() -> Limits:
    """The limits in force: those given to :func:`configure`, else the environment's, else defaults."""
    global _active  # noqa: PLW0603 - the process-wide setting
    if _active is None:
        _active = _from_environment()
    return _active


def configure(limits: Limits) -> Limits:
    """Put *limits* in force for this process; returns the ones they replace.

    >>> old = configure(Limits(csv_cell=10))
    >>> current().csv_cell
    10
    >>> _ = configure(old)
    """
    global _active  # noqa: PLW0603 - the process-wide setting
    if not isinstance(limits, Limits):
        raise errors.InvalidValue("must be a Limits", field="limits", value=limits)
    previous = current()
    _active = limits
    return previous


# -- JSON ------------------------------------------------------------------------


class _TooLong(Exception):
    def __init__(self, digits: int) -> None:
        self.digits = digits
        super().__init__(digits)


def _refuse(what: str, path: str, message: str) -> errors.InvalidInput:
    return errors.InvalidInput(what, problems=[errors.Problem(path=path, message=message)])


_SHOWN_PATH = 80  # longest JSON path shown in a refusal


def _depth_path(data: object, limit: int) -> str | None:
    """The JSON path of a value nested deeper than *limit*, or None (no recursion)."""
    stack: list[tuple[object, int, str]] = [(data, 1, "$")]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, dict):
            if depth > limit:
                return path
            stack.extend((v, depth + 1, f"{path}.{k}") for k, v in value.items())
        elif isinstance(value, list):
            if depth > limit:
                return path
            stack.extend((v, depth + 1, f"{path}[{i}]") for i, v in enumerate(value))
    return None


def load_json(text: str | bytes, *, what: str, limits: Limits | None = None) -> Any:
    """Parse JSON within the limits; every failure is an :class:`~carecore.errors.InvalidInput`.

    *what* names the input in the error (``"FHIR bundle b.json"``).

    >>> load_json('{"minutes": ' + "9" * 200 + "}", what="scenario")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidInput: invalid scenario: 1 problem
      $: a number of 200 digits is longer than the limit json_number_digits=100
    """
    limits = limits or current()
    if len(text) > limits.json_bytes:
        raise _refuse(
            what, "$", f"{len(text):,} bytes is more than the limit json_bytes={limits.json_bytes}"
        )

    data = _parse(text, what, limits)
    if isinstance(data, dict | list) and _could_nest(text, limits.json_depth):
        path = _depth_path(data, limits.json_depth)
        if path is not None:
            path = path if len(path) <= _SHOWN_PATH else path[: _SHOWN_PATH - 3] + "..."
            raise _refuse(
                what, path, f"nested deeper than the limit json_depth={limits.json_depth}"
            )
    return data


def _parse(text: str | bytes, what: str, limits: Limits) -> Any:
    def number(kind: type[Any]) -> Any:
        def parse(digits: str) -> Any:
            count = sum(c.isdigit() for c in digits)
            if count > limits.json_number_digits:
                raise _TooLong(count)
            return kind(digits)

        return parse

    try:
        return json.loads(text, parse_int=number(int), parse_float=number(float))
    except _TooLong as exc:
        message = (
            f"a number of {exc.digits} digits is longer than the limit"
            f" json_number_digits={limits.json_number_digits}"
        )
        raise _refuse(what, "$", message) from None
    except RecursionError:
        message = f"nested deeper than the limit json_depth={limits.json_depth}"
        raise _refuse(what, "$", message) from None
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        raise _refuse(what, "$", message) from None
    except UnicodeDecodeError as exc:
        raise _refuse(what, "$", _not_utf8(exc)) from None
    except (ValueError, TypeError) as exc:
        raise _refuse(what, "$", f"not valid JSON: {exc}") from None


def _not_utf8(exc: UnicodeDecodeError) -> str:
    """The refusal of text that is not UTF-8: the first bad byte, not the text around it."""
    bad = exc.object[exc.start : exc.start + 1].hex()
    return f"not valid UTF-8 text: {exc.reason} (0x{bad})"


def _could_nest(text: str | bytes, limit: int) -> bool:
    """Whether *text* has enough brackets to nest past *limit* (a fast count, in C)."""
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") > limit
    return text.count("[") + text.count("{") > limit


# -- CSV ---------------------------------------------------------------------------


def csv_rows(
    lines: Iterable[str], *, what: str, limits: Limits | None = None, **fmt: Any
) -> Iterator[list[str]]:
    """:func:`csv.reader` over *lines*, refusing a cell longer than the limit ``csv_cell``.

    The refusal is an :class:`~carecore.errors.InvalidInput` naming *what*, the
    line and the limit (the csv module's own refusal was an untyped ``_csv.Error``).
    Lines read from a file opened as UTF-8 that are not UTF-8 are refused the same
    way (the decoder's own refusal was an untyped ``UnicodeDecodeError``); a file
    is decoded a block at a time, so the line named is the first the bad byte can
    be on.

    >>> list(csv_rows(["a,b", "c,d"], what="x.csv"))
    [['a', 'b'], ['c', 'd']]
    >>> list(csv_rows(["a," + "b" * 20], what="x.csv", limits=Limits(csv_cell=10)))
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidInput: invalid x.csv: 1 problem
      line 1: a cell is longer than the limit csv_cell=10
    """
    limits = limits or current()
    reader = csv.reader(lines, **fmt)
    previous = csv.field_size_limit()
    csv.field_size_limit(limits.csv_cell)
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line = reader.line_num
                if "field larger than field limit" in str(exc):
                    message = f"a cell is longer than the limit csv_cell={limits.csv_cell}"
                else:
                    message = f"not valid CSV: {exc}"
                raise _refuse(what, f"line {line}", message) from None
            except UnicodeDecodeError as exc:
                where = f"line {reader.line_num + 1} or later"
                raise _refuse(what, where, _not_utf8(exc)) from None
            yield row
    finally:
        csv.field_size_limit(previous)
