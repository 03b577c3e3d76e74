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
import errno
import io
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import pendulum

from carecore import errors
from carecore.model import ServicePeriod

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "FORMATS",
    "STORE_SOURCES",
    "AnyCaseChoice",
    "StoreOption",
    "check_out_folder",
    "day_option",
    "echo_records",
    "format_option",
    "month_option",
    "output_error",
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
                    help="The Dask scheduler (tcp://host:8786) to run on; alone it means "
                    "--executor dask, and another --executor refuses it. Without it, --executor "
                    "dask starts a local cluster of --workers processes on 127.0.0.1.",
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


#: Where a command's store comes from besides ``--db`` (the help and the missing-option message).
STORE_SOURCES = "--db, $CARECORE_DB or db in carecore.toml"


class StoreOption(click.Option):
    """A required ``--db`` whose help and missing message say where else the store can come from.

    ``--db`` is required, but ``$CARECORE_DB`` and ``db`` in ``carecore.toml``
    give it too (see :mod:`carecore._cli_config`): the help says
    ``[required: --db, $CARECORE_DB or db in carecore.toml]``, not ``[required]``, and
    a command run without any of them says how to give one (exit status 2).
    """

    def get_help_extra(self, ctx: click.Context) -> Any:
        extra = super().get_help_extra(ctx)
        if "required" in extra:
            extra["required"] = f"required: {STORE_SOURCES}"
        return extra

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        try:
            return super().process_value(ctx, value)
        except click.MissingParameter:
            name = _option_name(self)
            raise click.UsageError(
                f"Missing {name}: give {name} URL, set CARECORE_DB, or set db in carecore.toml.",
                ctx,
            ) from None


class AnyCaseChoice(click.Choice):  # type: ignore[type-arg]
    """A choice given in any letter case (``ccm``, ``CCM``), shown in help as written.

    Click's own ``case_sensitive=False`` shows the choices lowercased; this
    keeps one spelling in help and error messages and accepts every other.

    >>> AnyCaseChoice(["CCM", "PCM"]).convert("pcm", None, None)
    'PCM'
    """

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            folded = value.casefold()
            value = next((c for c in self.choices if str(c).casefold() == folded), value)
        return super().convert(value, param, ctx)


#: Reasons, in words, for the errors a path that cannot be written gives (bad input: exit 2).
_PATH_ERRORS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EEXIST: "already exists",
    errno.EISDIR: "is a folder, not a file",
    errno.EROFS: "is on a read-only file system",
    errno.ENAMETOOLONG: "the name is too long",
}


def _file_above(path: Path) -> Path | None:
    """The file (not a folder) that *path* is below, if one is."""
    for above in reversed(path.parents):
        if above.exists() and not above.is_dir():
            return above
    return None


def _words(exc: OSError, path: Path) -> str:
    """Why *exc* happened at *path*, in words."""
    if exc.errno == errno.ENOENT:
        if path.parent.is_dir():
            return "does not exist"
        return f"its folder {str(path.parent)!r} does not exist"
    if exc.errno == errno.ENOTDIR:
        above = _file_above(path)
        return (
            f"{str(above)!r} is a file, not a folder" if above else "a part of it is not a folder"
        )
    if exc.errno in _PATH_ERRORS:
        return _PATH_ERRORS[exc.errno]
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def _paths(value: object) -> list[Path]:
    if isinstance(value, str | os.PathLike) and str(value):
        return [Path(value).absolute()]
    if isinstance(value, list | tuple):
        return [p for v in value for p in _paths(v)]
    return []


def check_out_folder(out: str | os.PathLike[str], option: str = "--out") -> None:
    """Refuse (exit 2, naming *option*) an output folder whose own folder is missing or a file.

    Commands that write a folder (``report``, ``export``, ``billing close``,
    ``simulate``) make *out* itself, never the folders above it: a typo in
    a path is bad input, not a new tree. Checked before the command works,
    so nothing is computed or written for a path that cannot be used.

    >>> check_out_folder("/no-such-folder/report")
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: --out='/no-such-folder/report': its folder '/no-such-folder' does not exist
    """
    path = Path(out).absolute()
    if path.parent.is_dir():
        return
    under_a_file = any(p.exists() and not p.is_dir() for p in path.parents)
    code = errno.ENOTDIR if under_a_file else errno.ENOENT
    raise output_error(OSError(code, "", str(out)), {option: out})


def output_error(exc: OSError, values: Mapping[str, object]) -> errors.CarecoreError:
    """*exc*, raised by a file operation, as a carecore error naming the option of its path.

    *values* maps each option (``--out``) or argument of the command to its
    value. A path that is an option's value, or below it, or above it (a
    folder the command would create), or beside it (a temporary file renamed
    to it when written), names that option: a missing folder,
    a file where a folder should be or a denied permission is bad input
    (:class:`~carecore.errors.InvalidValue`, exit status 2). Any other
    failure (a full disk), or a path no option names, is a plain
    :class:`~carecore.errors.CarecoreError` (exit status 1).

    >>> print(output_error(IsADirectoryError(21, "Is a directory", "/srv/x"), {"--out": "/srv/x"}))
    --out='/srv/x': is a folder, not a file
    """
    if exc.filename is None:
        return errors.CarecoreError(_words(exc, Path()))
    path = Path(exc.filename).absolute()
    words = _words(exc, path)
    for option, value in values.items():
        if any(
            p == path or p in path.parents or path in p.parents or p.parent == path.parent
            for p in _paths(value)
        ):
            shown = str(value) if isinstance(value, os.PathLike) else value
            if exc.errno in (errno.ENOENT, errno.ENOTDIR, *_PATH_ERRORS):
                return errors.InvalidValue(words, field=option, value=shown)
            return errors.CarecoreError(words, field=option, value=shown)
    return errors.CarecoreError(words, field=str(exc.filename))


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
