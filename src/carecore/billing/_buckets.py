r"""The CSV month close in buckets: memory bounded by a bucket, not by the file.

A close holds every patient of the files it reads, so its peak memory grows
with the file (about 1.2 GB per million patients). :func:`close_in_buckets`
first splits patients.csv and events.csv into *N* bucket files, every row of
a patient in the same bucket, then closes the buckets one after the other
with :func:`carecore.billing.close_files` (either engine) and appends
each bucket's output to the final files. The files written are byte for
byte those of a close of the whole pair, and the refused rows are the same,
with the lines of the original files.

Buckets are ranges of the close's own order. A close writes patients in a
fixed order: those with event rows by their first event row, then those
without by their patients.csv row. The first pass computes each patient's
place in that order and cuts it into *N* ranges of equal patient counts, so
each bucket's output follows the previous bucket's, and the merge is an
append (no sort, no per-patient index kept): the first bucket's files are
moved into place, the others' appended without their headers, copied by the
kernel (``os.copy_file_range``) where the system offers it. Within a
bucket, rows keep the order they have in the files.

The bucket files live in a private folder (mode 0700, files 0600: they hold
the same health information as the input) inside the output folder (the
system's temporary folder when nothing is written) and are removed when the
close ends, also when it fails. With polars (``carecore[fast]``) the split
reads the files' lines 16 MB at a time with polars; files polars cannot take
as plain lines (quoted cells, blank lines, CR line ends) and closes without
polars are split with the :mod:`csv` module. Either way the split holds a
table of the patient ids (their place in the close's order).

>>> import pathlib, tempfile
>>> from carecore.billing.cms import cms_rule_set
>>> from carecore.model import ServicePeriod
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "patients.csv").write_text(
...     "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
...     "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n"
...     "p2,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n")
>>> _ = (folder / "events.csv").write_text(
...     "patient_id,date,type,minutes,role,family\n"
...     "p2,2026-01-06,time_entry,25,clinical_staff,CCM\n"
...     "p1,2026-01-07,time_entry,5,clinical_staff,CCM\n")
>>> summary, refused = close_in_buckets(folder / "patients.csv", folder / "events.csv",
...     ServicePeriod.month(2026, 1), cms_rule_set(2026), folder / "out", buckets=2)
>>> summary.patients_evaluated, summary.claim_lines, refused
(2, 1, [])
"""

from __future__ import annotations

import array
import contextlib
import csv
import errno
import math
import os
import re
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import attrs

from carecore import errors, limits
from carecore._files import PRIVATE_FILE, private_folder, private_open

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import polars as pl

    from carecore.billing._close import CloseSummary, RowProblem
    from carecore.billing.rules import RuleSet
    from carecore.model.period import ServicePeriod

__all__ = ["BUCKET_BYTES", "MAX_BUCKETS", "bucket_count", "close_in_buckets"]

#: Bytes of events.csv per bucket when buckets are chosen automatically (``buckets="auto"``):
#: a file up to this size closes whole, a larger one in ``ceil(size / BUCKET_BYTES)`` buckets.
#: A whole close peaks at about 0.4 GB + 1.2 GB per million patients (about 340 MB of
#: events.csv in the benchmark's data), so 384 MB keeps a bucket under 2 GB while a
#: million-patient file still closes whole, which is faster (buckets re-find the
#: canonical months and pay the split).
BUCKET_BYTES = 384 * 1024 * 1024
#: The most buckets a close takes (each holds one open file per input while splitting).
MAX_BUCKETS = 1024
#: Added to the patients.csv line of a patient without event rows (they close after the others).
_IDLE = 1 << 40
_DUPLICATE = re.compile(r"^duplicate patient \(first on line ([0-9]+)\)$")
_ORPHAN = "not in patients.csv"


def bucket_count(events_csv: str | Path, buckets: int | str = "auto") -> int:
    """The number of buckets a close of *events_csv* takes (1: the files close whole).

    *buckets* is a whole number from 1 to :data:`MAX_BUCKETS`, or ``"auto"``:
    one bucket per :data:`BUCKET_BYTES` of events.csv (a missing file counts
    as empty; the close reports it).

    >>> bucket_count("no-such-events.csv"), bucket_count("no-such-events.csv", 4)
    (1, 4)
    """
    if buckets == "auto":
        file = Path(events_csv)
        size = file.stat().st_size if file.is_file() else 0
        return min(MAX_BUCKETS, max(1, math.ceil(size / BUCKET_BYTES)))
    if isinstance(buckets, bool) or not isinstance(buckets, int) or not 1 <= buckets <= MAX_BUCKETS:
        raise errors.InvalidValue(
            f"must be 'auto' or a whole number from 1 to {MAX_BUCKETS}",
            field="buckets",
            value=buckets,
        )
    return buckets


# -- the split ------------------------------------------------------------------------------


def _private_file(path: Path) -> BinaryIO:
    """A new file only the owner can read and write (0600), opened for binary writing."""
    handle: BinaryIO = private_open(path, "wb", exclusive=True)
    return handle


def _header_line(file: Path) -> tuple[str, list[str]]:
    """The header record of *file* as written (ending in one line break) and its cells stripped."""
    with file.open(newline="", encoding="utf-8") as handle:
        tap = _Tap(handle)
        row = next(csv.reader(tap), [])
        return _ended("".join(tap.taken)), [cell.strip() for cell in row]


def _ended(text: str) -> str:
    return text if text.endswith(("\n", "\r")) else text + "\n"


class _Tap:
    """Lines of a text file as :func:`csv.reader` takes them, keeping the text of the current record."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.taken: list[str] = []

    def __iter__(self) -> _Tap:
        return self

    def __next__(self) -> str:
        line: str = next(self.handle)
        self.taken.append(line)
        return line


@attrs.frozen
class _Split:
    """Where the bucket files are, and how they were split.

    The original line of each data row of bucket *b* of a file is kept in
    ``{kind}-{b}.lines`` (8-byte integers, in order): the csv-module split
    writes it as it goes; after a polars split it is written on demand
    (:func:`_polars_line_maps`), when a bucket refuses a row.
    """

    folder: Path
    count: int
    files: dict[str, Path]
    headers: dict[str, tuple[str, list[str]]]
    polars: bool

    def path(self, kind: str, bucket: int) -> Path:
        return self.folder / f"{kind}-{bucket}.csv"

    def lines_path(self, kind: str, bucket: int) -> Path:
        return self.folder / f"{kind}-{bucket}.lines"


#: Bytes of a file the polars split reads at a time (it never maps a whole file).
_BLOCK = 16 * 1024 * 1024


class _NotPlain(ValueError):
    """A file the polars split does not take as plain lines (the csv module splits it)."""


class _Plain:
    """The checks of ``_columnar._scan`` made on the blocks the split reads anyway.

    A file is plain when it has no quote, no blank line, and line ends all
    LF or all CRLF. The header line is checked here byte by byte; a data
    block's quotes and CRs are counted in its bytes, its blank lines are
    the lines polars reads as null, and a CR polars kept in a line's text
    (one not ending the line) or at the end of the file is a lone CR.
    """

    def __init__(self, file: Path, head: bytes) -> None:
        self.file = file
        self.newlines = head.count(b"\n")
        self.crs = head.count(b"\r")
        if b'"' in head or self.crs != (1 if head.endswith(b"\r\n") else 0):
            raise _NotPlain(file.name)

    def block(self, chunk: bytes, newlines: int, lines: pl.Series) -> None:
        """Check one block: its bytes, its count of LF, the lines polars read from it."""
        if b'"' in chunk or lines.null_count():
            raise _NotPlain(self.file.name)
        self.newlines += newlines
        if b"\r" in chunk:
            self.crs += chunk.count(b"\r")
            if chunk.endswith(b"\r") or lines.str.contains("\r", literal=True).any():
                raise _NotPlain(self.file.name)

    def end(self) -> None:
        """At the end of the file: every line end a CRLF, or none."""
        if self.crs not in {0, self.newlines}:
            raise _NotPlain(self.file.name)


def _chunks(file: Path) -> Iterator[tuple[bytes, int, int]]:
    """The data lines of *file* a block of whole lines at a time: (bytes, first line's number, lines).

    The header line is read first (see :func:`_head`); a block ends at a
    line end, but the file's last, which may end without one.
    """
    line, block = 2, _BLOCK
    with file.open("rb") as handle:
        handle.readline()
        rest = b""
        while True:
            data = handle.read(block)
            chunk = rest + data
            if not data:
                rest = b""
            else:
                cut = chunk.rfind(b"\n") + 1
                chunk, rest = chunk[:cut], chunk[cut:]
            if chunk:
                count = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
                yield chunk, line, count
                line += count
            if not data:
                return


def _head(file: Path) -> bytes:
    with file.open("rb") as handle:
        return handle.readline()


def _lines(file: Path, chunk: bytes, count: int) -> pl.DataFrame:
    """The lines of a block as polars reads them (``l``: a line's text without its CR LF or LF)."""
    import polars as pl  # noqa: PLC0415

    frame = pl.read_csv(
        chunk, has_header=False, separator="\x1f", quote_char=None, schema={"l": pl.String}
    )
    if frame.height != count:
        msg = f"{file}: {frame.height} lines read where {count} were expected"
        raise ValueError(msg)
    return frame


def _blocks(file: Path, *, plain: bool = False) -> Iterator[pl.DataFrame]:
    """The data lines of a plain file, a block at a time: each line as one text (``l``), its number (``line``).

    Reading blocks keeps the split's memory to a block and its tables,
    where polars' own reader maps the whole file. With *plain*, a file the
    columnar reader would not take whole (see :class:`_Plain`) raises
    :class:`_NotPlain`, the last check (line ends) after the last block.
    """
    import polars as pl  # noqa: PLC0415

    check = _Plain(file, _head(file)) if plain else None
    for chunk, line, count in _chunks(file):
        frame = _lines(file, chunk, count)
        if check is not None:
            check.block(chunk, count - (0 if chunk.endswith(b"\n") else 1), frame.get_column("l"))
        yield frame.with_row_index("line", offset=line).with_columns(pl.col("line").cast(pl.Int64))
    if check is not None:
        check.end()


def _cell(headers: dict[str, tuple[str, list[str]]], kind: str) -> pl.Expr:
    """The patient_id cell of a plain line (``raw``; empty when the line is too short)."""
    import polars as pl  # noqa: PLC0415

    index = headers[kind][1].index("patient_id")
    return (
        pl.col("l")
        .str.splitn(",", index + 2)
        .struct.field(f"field_{index}")
        .fill_null("")
        .alias("raw")
    )


def _split_polars(
    patients: Path,
    events: Path,
    headers: dict[str, tuple[str, list[str]]],
    count: int,
    folder: Path,
) -> _Split | None:
    """The split over plain files with polars, a block at a time; None when a file is not plain."""
    import polars as pl  # noqa: PLC0415

    from carecore.billing._columnar import _PLAIN  # noqa: PLC0415

    files = {"patients": patients, "events": events}
    empty = pl.DataFrame(schema={"line": pl.Int64, "raw": pl.String})
    try:
        # Each line's patient text, in line order (the routing below joins it once).
        cells = {
            kind: pl.concat(
                [block.select("line", _cell(headers, kind)) for block in _blocks(file, plain=True)]
                or [empty]
            )
            for kind, file in (("events", events), ("patients", patients))
        }
    except (pl.exceptions.PolarsError, UnicodeDecodeError, ValueError):
        return None
    firsts = cells["events"].group_by("raw").agg(pl.col("line").min().alias("first"))
    rows = cells["patients"]
    # The patient each text names: the text stripped as str.strip strips (Python for the rare
    # texts that are not plain).
    texts = pl.concat([firsts.get_column("raw"), rows.get_column("raw")]).unique()
    odd = texts.filter(~texts.str.contains(f"^{_PLAIN.pattern}$")).to_list()
    del texts
    stripped = (
        pl.col("raw").replace_strict(
            odd, [text.strip() for text in odd], default=pl.col("raw"), return_dtype=pl.String
        )
        if odd
        else pl.col("raw")
    )
    firsts = firsts.with_columns(stripped.alias("pid"))
    rows = rows.with_columns(stripped.alias("pid"))
    evented = firsts.group_by("pid").agg(pl.col("first").min().cast(pl.Int64).alias("key"))
    idle = _idle_keys(patients, headers["patients"][1], rows).join(
        evented.select("pid"), on="pid", how="anti"
    )
    keys = pl.concat([evented, idle]).sort("key")
    total = max(keys.height, 1)
    keys = keys.with_row_index("rank").select(
        "pid", (pl.col("rank").cast(pl.Int64) * count // total).cast(pl.UInt16).alias("b")
    )
    by_text = (
        pl.concat([firsts.select("raw", "pid"), rows.select("raw", "pid")])
        .unique("raw")
        .join(keys, on="pid", how="left")
        .select("raw", pl.col("b").fill_null(0))
    )
    del firsts, rows, evented, idle, keys
    split = _Split(folder=folder, count=count, files=files, headers=headers, polars=True)
    with _private_file(folder / "by-text.parquet") as handle:
        by_text.write_parquet(handle)
    # Each line's bucket, joined once per file (not once per block).
    routes = {
        kind: cells[kind]
        .select("raw")
        .join(by_text, on="raw", how="left", maintain_order="left")
        .get_column("b")
        .fill_null(0)
        for kind in files
    }
    del cells, by_text
    for kind in files:
        handles = [_private_file(split.path(kind, b)) for b in range(count)]
        try:
            for handle in handles:
                handle.write(headers[kind][0].rstrip("\r\n").encode("utf-8") + b"\n")
            for chunk, line, lines in _chunks(split.files[kind]):
                route = routes[kind].slice(line - 2, lines)
                low, high = route.min(), route.max()
                if low == high and b"\r" not in chunk:
                    # One bucket takes the block (as when rows come grouped by patient) and its
                    # lines end in LF: its bytes are the lines polars would write. (Taking the CR
                    # out of CRLF lines costs as much as polars' reading and writing.)
                    handles[int(cast("int", low))].write(
                        chunk if chunk.endswith(b"\n") else chunk + b"\n"
                    )
                    continue
                routed = _lines(split.files[kind], chunk, lines).with_columns(route.alias("b"))
                for (bucket,), part in routed.partition_by("b", as_dict=True).items():
                    part.select("l").write_csv(
                        handles[int(bucket)], include_header=False, quote_style="never"
                    )
        finally:
            for handle in handles:
                handle.close()
    return split


def _routed(split: _Split, kind: str, by_text: pl.DataFrame) -> Iterator[pl.DataFrame]:
    """The data lines of one of the split's files, a block at a time, with their bucket (``b``)."""
    import polars as pl  # noqa: PLC0415

    for block in _blocks(split.files[kind]):
        yield (
            block.with_columns(_cell(split.headers, kind))
            .join(by_text, on="raw", how="left", maintain_order="left")
            .select("l", pl.col("b").fill_null(0))
        )


def _polars_line_maps(_tell: Callable[[str, Any], None], split: _Split, kind: str) -> None:
    """Write the ``.lines`` files of every bucket of a file the polars split routed."""
    import polars as pl  # noqa: PLC0415

    by_text = pl.read_parquet(split.folder / "by-text.parquet")
    column = pl.concat([block.get_column("b") for block in _routed(split, kind, by_text)])
    for bucket in range(split.count):
        lines = array.array("q", ((column == bucket).arg_true().cast(pl.Int64) + 2).to_list())
        if sys.byteorder != "little":  # pragma: no cover
            lines.byteswap()
        with _private_file(split.lines_path(kind, bucket)) as handle:
            lines.tofile(handle)


def _idle_keys(patients: Path, header: list[str], rows: pl.DataFrame) -> pl.DataFrame:
    """Each patient id of patients.csv with the line of its row the close keeps, plus :data:`_IDLE`.

    A patient named on several rows is kept on the first row that reads
    cleanly (the others are refused as duplicates): those few rows are read
    here as the close reads them.
    """
    import polars as pl  # noqa: PLC0415

    counted = rows.group_by("pid").agg(pl.col("line").min(), pl.len().alias("n"))
    many = counted.filter(pl.col("n") > 1)
    kept: dict[str, int] = {}
    if many.height:
        wanted = rows.join(many.select("pid"), on="pid").get_column("line").to_list()
        kept = _kept_lines(patients, header, set(wanted))
    keys = counted.select(
        "pid",
        (
            pl.col("pid").replace_strict(
                list(kept), list(kept.values()), default=pl.col("line"), return_dtype=pl.Int64
            )
            + _IDLE
        ).alias("key"),
    )
    return keys.with_columns(pl.col("key").cast(pl.Int64))


def _kept_lines(patients: Path, header: list[str], lines: set[int]) -> dict[str, int]:
    """Of the rows at *lines* (all of a patient named more than once), the line the close keeps per patient."""
    from carecore.billing._close import PatientRow, _patient_parsers, _patient_row  # noqa: PLC0415

    parsers = _patient_parsers()
    practitioners: dict[tuple[object, ...], Any] = {}
    kept: dict[str, int] = {}
    with patients.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for line, row in enumerate(reader, start=2):
            if line not in lines:
                continue
            parsed = _patient_row(patients, line, header, row, parsers, practitioners, {})
            if isinstance(parsed, PatientRow) and parsed.patient.id not in kept:
                kept[parsed.patient.id] = line
    return kept


def _records(file: Path, width: int, index: int) -> Iterator[tuple[int, str, str | None]]:
    """(line, text as written, patient id or None for a blank row) of each data record of *file*."""
    with file.open(newline="", encoding="utf-8") as handle:
        tap = _Tap(handle)
        reader = limits.csv_rows(tap, what=file.name)
        next(reader, None)
        tap.taken.clear()
        for line, row in enumerate(reader, start=2):
            text = "".join(tap.taken)
            tap.taken.clear()
            if len(row) != width and not any(cell.strip() for cell in row):
                yield line, text, None
                continue
            yield line, text, row[index].strip() if len(row) > index else ""


def _split_csv(  # noqa: C901, PLR0912
    patients: Path,
    events: Path,
    headers: dict[str, tuple[str, list[str]]],
    count: int,
    folder: Path,
) -> _Split:
    """The split with the csv module: any file the close reads, with a table of patient ids."""
    files = {"patients": patients, "events": events}
    shapes = {kind: (len(headers[kind][1]), headers[kind][1].index("patient_id")) for kind in files}
    # First event line per patient (dict order is that order), then patients.csv lines.
    bucket_of: dict[str, int] = {}
    for _, _, pid in _records(events, *shapes["events"]):
        if pid is not None and pid not in bucket_of:
            bucket_of[pid] = 0
    idle: dict[str, int] = {}
    repeated: set[int] = set()
    first_line: dict[str, int] = {}
    for line, _, pid in _records(patients, *shapes["patients"]):
        if pid is None:
            continue
        if pid in first_line:
            repeated.update((first_line[pid], line))
        else:
            first_line[pid] = line
            if pid not in bucket_of:
                idle[pid] = line
    del first_line
    if repeated:
        for pid, line in _kept_lines(patients, headers["patients"][1], repeated).items():
            if pid in idle:
                idle[pid] = line
    total = max(len(bucket_of) + len(idle), 1)
    rank = 0
    for pid in bucket_of:
        bucket_of[pid] = rank * count // total
        rank += 1
    for pid, _ in sorted(idle.items(), key=lambda pair: pair[1]):
        bucket_of[pid] = rank * count // total
        rank += 1
    del idle
    maps = {kind: [array.array("q") for _ in range(count)] for kind in files}
    for kind, file in files.items():
        handles = [_private_file(folder / f"{kind}-{b}.csv") for b in range(count)]
        try:
            for handle in handles:
                handle.write(headers[kind][0].encode("utf-8"))
            for line, text, pid in _records(file, *shapes[kind]):
                if pid is None:
                    continue
                bucket = bucket_of.get(pid, 0)
                handles[bucket].write(_ended(text).encode("utf-8"))
                maps[kind][bucket].append(line)
        finally:
            for handle in handles:
                handle.close()
    del bucket_of
    # The line maps wait on disk until a bucket refuses a row.
    split = _Split(folder=folder, count=count, files=files, headers=headers, polars=False)
    for kind in files:
        for bucket, lines in enumerate(maps[kind]):
            if sys.byteorder != "little":  # pragma: no cover - the files are little-endian
                lines.byteswap()
            with _private_file(split.lines_path(kind, bucket)) as handle:
                lines.tofile(handle)
    return split


# -- closing and merging --------------------------------------------------------------------


#: A JSON string (as the encoder writes it: ASCII, escapes with a backslash).
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


def _renamed_copy(source: BinaryIO, target: BinaryIO, renamed: dict[str, str]) -> None:
    """Copy packet lines, replacing the JSON strings that are keys of *renamed* by their values."""
    table = {old.encode("ascii"): new.encode("ascii") for old, new in renamed.items()}
    marker = os.path.commonprefix(list(renamed))[1:].encode("ascii")  # noqa: RUF071 - text prefix
    for line in source:
        if marker in line:
            line = _JSON_STRING.sub(lambda found: table.get(found[0], found[0]), line)  # noqa: PLW2901
        target.write(line)


def _copy_range(source: BinaryIO, target: BinaryIO, start: int, end: int) -> None:
    """Append bytes *start* to *end* of *source* to *target* (both files on disk).

    The kernel copies them (``os.copy_file_range``, else ``os.sendfile``)
    where it can, without passing them through this process; else they are
    read and written a megabyte at a time.
    """
    target.flush()
    left = end - start
    source_fd, target_fd = source.fileno(), target.fileno()
    for copy in (_kernel_copy_file_range, _kernel_sendfile):
        try:
            while left > 0:
                done = copy(source_fd, target_fd, left, start)
                if done <= 0:
                    # Some file systems copy nothing this way (they return 0 before the
                    # end): the next way takes over from here.
                    break
                start += done
                left -= done
        except OSError:
            pass  # this way is not offered here (or not between these files): the next
        if left <= 0:
            return
    source.seek(start)
    while left > 0:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            break
        target.write(chunk)
        left -= len(chunk)
    if left > 0:
        # The bucket's file is shorter than its size said: never a silently short output.
        raise OSError(
            errno.EIO,
            f"{left} bytes of a bucket's output could not be read to append them",
            getattr(source, "name", None),
        )


def _kernel_copy_file_range(source: int, target: int, count: int, offset: int) -> int:
    copy = getattr(os, "copy_file_range", None)
    if copy is None:  # pragma: no cover - not Linux
        raise OSError("no copy_file_range")
    done: int = copy(source, target, count, offset)
    return done


def _kernel_sendfile(source: int, target: int, count: int, offset: int) -> int:
    send = getattr(os, "sendfile", None)
    if send is None:  # pragma: no cover - not Unix
        raise OSError("no sendfile")
    done: int = send(target, source, offset, count)
    return done


def _opened_at_end(path: Path) -> BinaryIO:
    """*path* (an existing file) opened for writing at its end, its mode 0600.

    Not ``O_APPEND``: the kernel copies refuse a target opened so.
    """
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
        os.lseek(descriptor, 0, os.SEEK_END)
        handle: BinaryIO = os.fdopen(descriptor, "wb")
    except BaseException:
        os.close(descriptor)
        raise
    return handle


class _Merge:
    """The final files, each bucket's output appended as it closes.

    The first bucket's files become the final files (moved, not copied:
    they start with the same header); each later bucket's are appended
    without their header, by the kernel where it can.
    """

    def __init__(self, out: Path | None, month: ServicePeriod, rules: RuleSet) -> None:
        from carecore.billing._encode import (  # noqa: PLC0415
            CLAIM_COLUMNS,
            DENIAL_COLUMNS,
            CloseEncoder,
        )

        self._open = private_open
        self.out = out
        self.encoder = CloseEncoder(rules, month)
        self.headers = {
            "claims.csv": self.encoder.header(CLAIM_COLUMNS).encode("utf-8"),
            "denials.csv": self.encoder.header(DENIAL_COLUMNS).encode("utf-8"),
            "audit/packets.jsonl": b"",
        }
        self.opening = self.encoder.CLAIMS_JSON_OPEN.encode("utf-8")
        self.closing = self.encoder.CLAIMS_JSON_CLOSE.encode("utf-8")
        self.handles: dict[str, BinaryIO] = {}
        self.any_claim = False
        if out is None:
            return
        private_folder(out)
        private_folder(out / "audit")

    def _start(self, out: Path, folder: Path | None, renamed: dict[str, str]) -> None:
        """Make the final files in *out*: *folder*'s (the first bucket's) moved there, else headers only."""
        for name, header in self.headers.items():
            source = None if folder is None else folder / name
            if source is not None and not (name == "audit/packets.jsonl" and renamed):
                with source.open("rb") as check:
                    if check.read(len(header)) != header:  # pragma: no cover - the encoder's
                        msg = f"a bucket's {name} does not start with the close's header"
                        raise RuntimeError(msg)
                source.replace(out / name)
                self.handles[name] = _opened_at_end(out / name)
            else:
                self.handles[name] = self._open(out / name, "wb")
                self.handles[name].write(header)
                if source is not None:
                    with source.open("rb") as handle:
                        handle.seek(len(header))
                        _renamed_copy(handle, self.handles[name], renamed)
        path = out / "claims.json"
        if folder is None:
            self.handles["claims.json"] = self._open(path, "wb")
            self.handles["claims.json"].write(self.opening)
            return
        source = folder / "claims.json"
        size = source.stat().st_size
        with source.open("rb") as check:
            framed = check.read(len(self.opening)) == self.opening
            check.seek(max(size - len(self.closing), 0))
            framed = framed and check.read() == self.closing
        if not framed:  # pragma: no cover - the encoder's framing
            msg = "a bucket's claims.json does not have the close's framing"
            raise RuntimeError(msg)
        source.replace(path)
        os.truncate(path, size - len(self.closing))
        self.handles["claims.json"] = _opened_at_end(path)
        self.any_claim = size > len(self.opening) + len(self.closing)

    def add(self, folder: Path, renamed: dict[str, str]) -> None:
        """Append one bucket's files (written by a close to *folder*).

        An audit packet lists the patient's refused rows as the close tells
        them (file and line): *renamed* maps each of the bucket's, as JSON
        text, to the original file's.
        """
        if self.out is None:
            return
        if not self.handles:
            self._start(self.out, folder, renamed)
            return
        for name, header in self.headers.items():
            with (folder / name).open("rb") as source:
                if source.read(len(header)) != header:  # pragma: no cover - the encoder's header
                    msg = f"a bucket's {name} does not start with the close's header"
                    raise RuntimeError(msg)
                if name == "audit/packets.jsonl" and renamed:
                    _renamed_copy(source, self.handles[name], renamed)
                else:
                    _copy_range(
                        source, self.handles[name], len(header), os.fstat(source.fileno()).st_size
                    )
        first = self.encoder.CLAIMS_JSON_FIRST.encode("utf-8")
        following = self.encoder.CLAIMS_JSON_NEXT.encode("utf-8")
        path = folder / "claims.json"
        size = path.stat().st_size
        if size - len(self.opening) - len(self.closing) <= 0:
            return
        target = self.handles["claims.json"]
        with path.open("rb") as source:
            source.seek(len(self.opening))
            lead = source.read(len(first))
            if lead != first:  # pragma: no cover - the encoder's framing
                msg = "a bucket's claims.json does not have the close's framing"
                raise RuntimeError(msg)
            target.write(following if self.any_claim else first)
            _copy_range(source, target, len(self.opening) + len(first), size - len(self.closing))
        self.any_claim = True

    def finish(self, summary: CloseSummary) -> None:
        """Close the files and write summary.json."""
        if self.out is None:
            return
        if not self.handles:  # pragma: no cover - a close has at least two buckets
            self._start(self.out, None, {})
        self.handles["claims.json"].write(self.closing)
        for handle in self.handles.values():
            handle.close()
        with self._open(self.out / "summary.json", encoding="utf-8") as handle:
            handle.write(self.encoder.summary_json(summary))

    def abort(self) -> None:
        for handle in self.handles.values():
            with contextlib.suppress(OSError):
                handle.close()


def _combined(summaries: list[CloseSummary]) -> CloseSummary:
    """The summary of the whole close: the buckets' counts and amounts added up."""
    from carecore.billing._close import CodeTotal  # noqa: PLC0415

    first = summaries[0]
    lines: dict[str, int] = {}
    units: dict[str, int] = {}
    amounts: dict[str, Decimal | None] = {}
    for summary in summaries:
        for code in summary.codes:
            lines[code.code] = lines.get(code.code, 0) + code.lines
            units[code.code] = units.get(code.code, 0) + code.units
            if code.amount is not None:
                earlier = amounts.get(code.code)
                amount = Decimal(code.amount)
                amounts[code.code] = amount if earlier is None else earlier + amount
            else:
                amounts.setdefault(code.code, None)
    revenue = Decimal(0)
    for summary in summaries:
        revenue += Decimal(summary.expected_revenue)
    codes = tuple(
        CodeTotal(
            code=code,
            lines=lines[code],
            units=units[code],
            amount=None if amounts[code] is None else str(amounts[code]),
        )
        for code in sorted(lines)
    )
    return attrs.evolve(
        first,
        patients_evaluated=sum(s.patients_evaluated for s in summaries),
        patients_billed=sum(s.patients_billed for s in summaries),
        claim_lines=sum(s.claim_lines for s in summaries),
        denials=sum(s.denials for s in summaries),
        rows_rejected=sum(s.rows_rejected for s in summaries),
        expected_revenue=str(revenue),
        unpriced_lines=sum(s.unpriced_lines for s in summaries),
        codes=codes,
    )


class _Problems:
    """Refused rows of every bucket, told in the original files' lines and the close's order.

    The close lists patients.csv rows first (in line order), then event
    rows in close order, then event rows of unknown patients (grouped by
    patient, in the order the patients first appear).
    """

    def __init__(self, split: _Split, patients: Path, events: Path) -> None:
        self.split = split
        self.names = {"patients": str(patients), "events": str(events)}
        self.mapped: set[str] = set() if split.polars else set(self.names)
        self.patients: list[RowProblem] = []
        self.events: list[RowProblem] = []
        self.orphans: list[RowProblem] = []

    def add(self, bucket: int, found: list[RowProblem]) -> dict[str, str]:
        """Take one bucket's refused rows; return their event rows' text, as JSON, renamed."""
        from carecore.billing._encode import _quote  # noqa: PLC0415

        renamed: dict[str, str] = {}
        maps: dict[str, list[int]] = {}
        kinds = {str(self.split.path(kind, bucket)): kind for kind in self.names}

        def original(kind: str, line: int) -> int:
            if kind not in maps:
                if kind not in self.mapped:
                    _in_child(_polars_line_maps, (self.split, kind))
                    self.mapped.add(kind)
                lines = array.array("q")
                lines.frombytes(self.split.lines_path(kind, bucket).read_bytes())
                if sys.byteorder != "little":  # pragma: no cover
                    lines.byteswap()
                maps[kind] = lines.tolist()
            return maps[kind][line - 2]

        for problem in found:
            kind = kinds.get(problem.file)
            if kind is None:  # pragma: no cover - every refused row names a bucket file
                msg = f"a refused row names an unknown file: {problem.file}"
                raise RuntimeError(msg)
            message = problem.message
            duplicate = _DUPLICATE.match(message)
            if duplicate is not None:
                message = f"duplicate patient (first on line {original(kind, int(duplicate[1]))})"
            moved = attrs.evolve(
                problem, file=self.names[kind], line=original(kind, problem.line), message=message
            )
            if kind == "patients":
                self.patients.append(moved)
            elif problem.message == _ORPHAN:
                self.orphans.append(moved)
            else:
                self.events.append(moved)
                renamed[_quote(str(problem))] = _quote(str(moved))
        return renamed

    def all(self) -> list[RowProblem]:
        first: dict[str | None, int] = {}
        for problem in self.orphans:
            first[problem.value] = min(first.get(problem.value, problem.line), problem.line)
        orphans = sorted(self.orphans, key=lambda p: (first[p.value], p.line))
        return [*sorted(self.patients, key=lambda p: p.line), *self.events, *orphans]


def _in_child(
    work: Callable[..., Any],
    args: tuple[Any, ...],
    on_message: Callable[[str, Any], object] | None = None,
) -> Any:
    """``work(tell, *args)`` in a forked process; its result, or its error raised here.

    The process ends with the work, and its memory with it: the split's
    tables and each bucket's close do not add up in this process.
    *tell(kind, value)* in the child calls *on_message(kind, value)* here.
    When this process cannot fork safely (see :func:`_can_fork`), the work
    runs here: the same files, without the memory given back.
    """
    import multiprocessing  # noqa: PLC0415

    def ignore(kind: str, value: Any) -> None:
        del kind, value

    tell = on_message if on_message is not None else ignore
    if not _can_fork():
        return work(tell, *args)
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(sender, work, args), daemon=False)
    child.start()
    sender.close()
    try:
        while True:
            try:
                kind, value = receiver.recv()
            except EOFError:
                child.join()
                msg = f"a bucket's process ended without a result (exit code {child.exitcode})"
                raise RuntimeError(msg) from None
            if kind == "result":
                return value
            if kind == "error":
                raise value
            tell(kind, value)
    finally:
        receiver.close()
        if child.is_alive():
            child.join(5)
            if child.is_alive():
                child.kill()
        child.join()


def _can_fork() -> bool:
    """Whether work that runs polars may go to a forked process.

    A forked child has only the thread that forked it. Once polars has
    computed anything in this process its thread pool (threads named
    ``polars-0``, ``polars-1``, ...) exists here and not in a child, where
    polars would wait for it forever; so forking needs ``fork`` and a
    process whose polars has not started its pool (the CLI's case).
    """
    import multiprocessing  # noqa: PLC0415

    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover - not Linux
        return False
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:  # pragma: no cover - no /proc
        return False
    for task in tasks:
        try:
            name = (task / "comm").read_text(encoding="utf-8").strip()
        except OSError:  # pragma: no cover - the thread ended
            continue
        if re.fullmatch(r"polars-[0-9]+", name):
            return False
    return True


def _child(sender: Any, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The forked side of :func:`_in_child`."""

    def tell(kind: str, value: Any) -> None:
        sender.send((kind, value))

    os.umask(0o077)  # what the child writes (a bucket's output) is 0600 from the start
    try:
        sender.send(("result", work(tell, *args)))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        try:
            sender.send(("error", exc))
        except Exception:  # noqa: BLE001 - an error that does not pickle is sent as text
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        sender.close()


def _split_work(
    _tell: Callable[[str, Any], None],
    patients: Path,
    events: Path,
    headers: dict[str, tuple[str, list[str]]],
    count: int,
    folder: Path,
) -> _Split:
    """The split (in a child): polars when it is installed and the files are plain, else csv."""
    from carecore.billing._columnar import polars_available  # noqa: PLC0415

    split = None
    if polars_available():
        split = _split_polars(patients, events, headers, count, folder)
    if split is None:
        split = _split_csv(patients, events, headers, count, folder)
    return split


def _bucket_work(  # noqa: PLR0917
    tell: Callable[[str, Any], None],
    patients: Path,
    events: Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    engine: str,
    workers: int | None,
    progress: bool,  # noqa: FBT001
) -> tuple[CloseSummary, list[RowProblem]]:
    """One bucket's close (in a child), telling its progress and notices."""
    from carecore.billing._close import close_files  # noqa: PLC0415

    return close_files(
        patients,
        events,
        month,
        rules,
        out,
        engine=engine,
        workers=workers,
        on_progress=(lambda done, _total: tell("progress", done)) if progress else None,
        on_notice=lambda text: tell("notice", text),
        buckets=1,
    )


def close_in_buckets(  # noqa: C901 - split, then close and merge each bucket
    patients_csv: str | Path,
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: str | Path | None,
    *,
    buckets: int,
    engine: str = "auto",
    workers: int | None = None,
    on_progress: Callable[[int, int | None], object] | None = None,
    on_notice: Callable[[str], object] | None = None,
) -> tuple[CloseSummary, list[RowProblem]]:
    """Close *month* over the CSV pair in *buckets* buckets; the files and refused rows of a whole close.

    The settings are :func:`carecore.billing.close_files`'s, which
    calls this for ``buckets`` over 1; each bucket closes with *engine* and
    *workers*, in a forked process of its own (the split too), so each
    one's memory is given back before the next starts. *on_progress* gets
    the patients closed so far (the total None); *on_notice* gets each
    distinct sentence a bucket's close gives.
    """
    from carecore.billing._close import (  # noqa: PLC0415
        _EVENT_REQUIRED,
        _PATIENT_REQUIRED,
        EVENT_COLUMNS,
        PATIENT_COLUMNS,
        _header,
        _open,
    )
    from carecore.billing._output import staged_output, staging_active  # noqa: PLC0415

    if out is not None and not staging_active():
        # Written aside and renamed into place, as close_files writes: a close that fails
        # (in a bucket, in the merge) keeps the previous output as it was.
        with staged_output(out) as staging:
            return close_in_buckets(
                patients_csv,
                events_csv,
                month,
                rules,
                staging,
                buckets=buckets,
                engine=engine,
                workers=workers,
                on_progress=on_progress,
                on_notice=on_notice,
            )
    count = bucket_count(events_csv, buckets)
    patients_file, events_file = Path(patients_csv), Path(events_csv)
    # The headers are checked as the close checks them (same errors, same order).
    for file, known, required in (
        (patients_file, PATIENT_COLUMNS, _PATIENT_REQUIRED),
        (events_file, EVENT_COLUMNS, _EVENT_REQUIRED),
    ):
        with _open(file) as handle:
            # A bad byte or an over-long cell in the first lines is refused by name, as
            # the close refuses it (limits.csv_rows).
            _header(limits.csv_rows(handle, what=file.name), file, known, required)
    headers = {"patients": _header_line(patients_file), "events": _header_line(events_file)}
    target = None if out is None else Path(out)
    if target is not None:
        private_folder(target)
    work = Path(tempfile.mkdtemp(prefix=".carecore-buckets-", dir=target))
    merge: _Merge | None = None
    try:
        os.chmod(work, 0o700)  # noqa: PTH101 - mkdtemp makes it so; said again for clarity
        split: _Split = _in_child(_split_work, (patients_file, events_file, headers, count, work))
        merge = _Merge(target, month, rules)
        problems = _Problems(split, patients_file, events_file)
        summaries = []
        told: set[str] = set()
        closed = 0

        def message(kind: str, value: Any) -> None:
            if kind == "progress" and on_progress is not None:
                on_progress(closed + value, None)
            elif kind == "notice" and on_notice is not None and value not in told:
                told.add(value)
                on_notice(value)

        for bucket in range(split.count):
            part = None if target is None else work / f"out-{bucket}"
            # A bucket with no patients.csv rows (only rows of unknown patients, or none) is the
            # reference engine's: the columnar close does not take a patients.csv of a header only.
            empty = split.path("patients", bucket).stat().st_size <= len(
                headers["patients"][0].encode("utf-8")
            )
            summary, found = _in_child(
                _bucket_work,
                (
                    split.path("patients", bucket),
                    split.path("events", bucket),
                    month,
                    rules,
                    part,
                    "reference" if empty else engine,
                    workers,
                    on_progress is not None,
                ),
                message,
            )
            for kind in ("patients", "events"):
                split.path(kind, bucket).unlink()
            renamed = problems.add(bucket, found)
            summaries.append(summary)
            closed += summary.patients_evaluated
            if part is not None:
                for file in part.rglob("*"):
                    if file.is_file():
                        file.chmod(0o600)
                merge.add(part, renamed)
                shutil.rmtree(part)
        total = _combined(summaries)
        merge.finish(total)
        merge = None
        return total, problems.all()
    finally:
        if merge is not None:
            merge.abort()
        shutil.rmtree(work, ignore_errors=True)
