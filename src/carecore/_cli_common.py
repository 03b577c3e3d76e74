"""What the ``carecore`` commands share: day, month and time-zone options, record output.

Every command reads a day as ``YYYY-MM-DD`` and a month as ``YYYY-MM`` the
same way and names the option when the value is wrong (exit status 2), and
every command that prints records takes ``--format table|json|csv``:

- ``table``: for people, the command's own layout (or aligned columns);
- ``json``: the records (or the command's fuller document) as JSON;
- ``csv``: a header row and one row per record, readable by any CSV reader
  (a list is joined with ``; ``, a mapping is written as JSON, nothing is an
  empty cell, true and false are written as ``true`` and ``false``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import TYPE_CHECKING, Any

import click
import pendulum

from carecore import errors
from carecore.model import ServicePeriod

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "FORMATS",
    "day_option",
    "echo_records",
    "format_option",
    "month_option",
    "parse_day",
    "parse_month",
    "time_zone_option",
]

#: The output formats of every command that prints records.
FORMATS = ("table", "json", "csv")

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


def parse_day(text: str | None, option: str) -> pendulum.Date | None:
    """A ``YYYY-MM-DD`` option value as its day (None stays None), or an error naming *option*.

    >>> parse_day("2026-03-04", "--on")
    Date(2026, 3, 4)
    >>> parse_day("2026-02-30", "--on")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: --on='2026-02-30': is not a real day (YYYY-MM-DD)
    """
    if text is None:
        return None
    if not _DAY.fullmatch(text):
        raise errors.InvalidValue("must be a day as YYYY-MM-DD", field=option, value=text)
    try:
        return pendulum.Date.fromisoformat(text)
    except ValueError:
        raise errors.InvalidValue(
            "is not a real day (YYYY-MM-DD)", field=option, value=text
        ) from None


def parse_month(text: str, option: str) -> ServicePeriod:
    """A ``YYYY-MM`` option value as its month, or an error naming *option*.

    >>> str(parse_month("2026-03", "--month"))
    '2026-03-01..2026-03-31'
    """
    found = _MONTH.fullmatch(text)
    if not found:
        raise errors.InvalidValue("must be YYYY-MM", field=option, value=text)
    try:
        return ServicePeriod.month(int(found[1]), int(found[2]))
    except errors.InvalidValue:
        raise errors.InvalidValue("is not a real month", field=option, value=text) from None


#: The historical name of :func:`parse_month`.
month_option = parse_month


def _option_name(param: click.Parameter) -> str:
    opts = getattr(param, "opts", None) or [f"--{(param.name or '').replace('_', '-')}"]
    return str(max(opts, key=len))


def _day_callback(
    _ctx: click.Context, param: click.Parameter, value: str | None
) -> pendulum.Date | None:
    return parse_day(value, _option_name(param))


def day_option(*decls: str, help: str) -> Callable[[Any], Any]:  # noqa: A002 - click's word
    """A click option taking a day as ``YYYY-MM-DD``; the command gets a ``pendulum.Date`` or None."""
    return click.option(
        *decls, default=None, metavar="YYYY-MM-DD", callback=_day_callback, help=help
    )


def time_zone_option(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Click callback: a ``--time-zone`` value must be an IANA time zone name."""
    from carecore.model.validators import check_time_zone  # noqa: PLC0415

    return None if value is None else check_time_zone(value, _option_name(param))


def format_option(*extra: str, help: str | None = None) -> Callable[[Any], Any]:  # noqa: A002
    """``--format table|json|csv`` (plus *extra* choices), default ``table``, as ``fmt``."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice([*FORMATS, *extra]),
        default="table",
        show_default=True,
        help=help
        or "How to print the records: a table for reading, JSON, or CSV with a header row.",
    )


def executor_options(what: str) -> Callable[[Any], Any]:
    """``--executor``, ``--scheduler``, ``--workers`` and ``--partitions``: where *what*."""

    def decorate(fn: Any) -> Any:
        for option in reversed(
            (
                click.option(
                    "--executor",
                    metavar="NAME",
                    default=None,
                    help=f"Where {what}: local, process, dask (or one a plugin adds); "
                    "default: in this process.",
                ),
                click.option(
                    "--scheduler",
                    metavar="ADDRESS",
                    default=None,
                    help="With --executor dask: the Dask scheduler (tcp://host:8786); default: "
                    "a local cluster of --workers processes on 127.0.0.1.",
                ),
                click.option(
                    "--workers",
                    type=click.IntRange(1, 64),
                    default=None,
                    help="Worker processes of --executor (default: one per core).",
                ),
                click.option(
                    "--partitions",
                    type=click.IntRange(1, 1_000_000),
                    default=None,
                    help="Split the patients into this many partitions by a stable hash of "
                    "their id (default: partitions of about 2,000); the answer is the same "
                    "for any count.",
                ),
            )
        ):
            fn = option(fn)
        return fn

    return decorate


def open_executor(
    stack: Any, pm: Any, executor: str | None, scheduler: str | None, workers: int | None
) -> Any:
    """The executor the options name, closed with *stack* (None: run in this process)."""
    if executor is None and scheduler is None:
        return None
    from carecore.executors import get_executor  # noqa: PLC0415

    return stack.enter_context(
        get_executor(executor or "dask", workers=workers, scheduler=scheduler, pm=pm)
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _aligned(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def echo_records(
    fmt: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    table: Callable[[], None] | None = None,
    data: object = None,
    empty: str | None = None,
) -> None:
    """Print *rows* (records as mappings) in the ``--format`` *fmt*.

    *columns* are the CSV header and the aligned table's columns (default:
    the first row's keys). *table* prints the command's own table instead of
    aligned columns; *data* is printed as the JSON instead of the rows; *empty*
    is the table's line when there are no rows.
    """
    records = list(rows)
    names = list(columns) if columns is not None else list(records[0]) if records else []
    if fmt == "json":
        click.echo(json.dumps(records if data is None else data, indent=2, ensure_ascii=False))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_cell(r.get(c)) for c in names] for r in records)
        click.echo(out.getvalue(), nl=False)
    elif table is not None:
        table()
    elif not records and empty is not None:
        click.echo(empty)
    else:
        _aligned(records, names)
