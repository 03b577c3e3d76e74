r"""A columnar month close (polars): the reference close's output files, byte for byte, faster.

Installed with ``carecore[fast]``. :func:`close_columnar` reads both CSV
files with polars and splits the patients in two:

* **columnar patients**: a clean patients.csv row and nothing but clean
  CCM/PCM/BHI/RPM time entries for the patient's own practitioner in a
  physician office, with at most one clean RPM readings row.
  Their months are reduced to the fast path's canonical form (shape of the
  patient, minutes per family and role group, practitioner credential) in
  columns, plus, for a month with RPM data, the readings row, RPM consent
  and the RPM minutes per class (:mod:`carecore.billing._device`); the
  **reference engine** evaluates each *distinct* form once (through
  :meth:`FastClose.template`, or :func:`~carecore.billing._device.evaluate_device`),
  and the results are joined back to every patient, re-dated, and written
  with vectorised string building.
* **everyone else**: a patients.csv row or an event row the columnar checks
  do not accept, or any other kind of event. These patients are closed
  one by one by the same code as the reference close (which reports the
  bad rows with file, line and column), and their output is merged in place.

No rule lives here: cell values are checked by the reference parsers
(applied once per distinct cell text), what the rules read of a cell or a
minute (consent and care plan in force, the first countable day, the
initiating-visit window, what a minute counts toward, a line's track and
need) comes from :mod:`carecore.billing.primitives`, which the engine
evaluates with, and every result comes from the reference engine. Files the columnar reader cannot take whole (quoted
cells, CR line ends, blank lines, rows with the wrong number of cells,
duplicate patient ids) make :func:`close_columnar` return None, and the
caller runs the reference close. ``tests/billing/test_columnar.py`` proves
with hypothesis that the output files equal the reference close's.

>>> import pathlib, tempfile
>>> from carecore.billing.cms import cms_rule_set
>>> from carecore.model import ServicePeriod
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "patients.csv").write_text(
...     "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
...     "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n")
>>> _ = (folder / "events.csv").write_text(
...     "patient_id,date,type,minutes,role,family\n"
...     "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n")
>>> summary, problems = close_columnar(folder / "patients.csv", folder / "events.csv",
...     ServicePeriod.month(2026, 1), cms_rule_set(2026), folder / "out")
>>> summary.claim_lines, problems
(1, [])
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import inspect
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from carecore import errors, limits
from carecore.billing._close import (
    _ENTRY_MINUTES,
    _EVENT_REQUIRED,
    _PATIENT_REQUIRED,
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    ROW_DEFAULTS,
    CloseSummary,
    CloseWriter,
    PatientMonth,
    PatientRow,
    RowProblem,
    _close_idle,
    _close_one,
    _close_rows,
    _header,
    _LightParser,
    _open,
    _patient_parsers,
    _patient_row,
    rare_collections,
)
from carecore.billing._device import Device, evaluate_device, monitoring_need, read_device_rows
from carecore.billing._encode import (
    EVALUATED_BY,
    CloseEncoder,
    Template,
    json_bool_expr,
    json_text,
    plain_json_expr,
    plain_json_or_null_expr,
)
from carecore.billing._engine import line_diagnoses
from carecore.billing._fast import FAST_FAMILIES, FAST_SETTING, FastClose, condition_shape
from carecore.billing.facts import BillingPractitioner, PatientFacts
from carecore.billing.primitives import (
    TIME_TRACKS,
    MinuteClass,
    care_plan_in_force,
    consent_in_force,
    countable_window,
    counts_toward,
    dates_at_threshold,
    initiating_visit_from,
    minute_class,
    monitoring_time_counts,
    time_track,
)
from carecore.executors import Pending, Pool, open_pool
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

    from carecore.billing._engine import EvaluationResult
    from carecore.billing.rules import RuleSet, Switches
    from carecore.model.money import ClaimLine, Denial
    from carecore.model.period import ServicePeriod

__all__ = ["close_columnar", "polars_available"]

#: The fast families in the order the fast path and the audit packets use (by value).
_FAMILIES = tuple(sorted(f.value for f in FAST_FAMILIES))
#: Remote monitoring: months with device readings and RPM time join the canonical months
#: (see carecore.billing._device).
_RPM = ServiceFamily.RPM.value
#: Families whose consent, care plan, diagnoses and billing the writer renders, by value.
_KEYED = tuple(sorted((*_FAMILIES, _RPM)))
#: The minute classes (primitives.MinuteClass) the canonical month sums minutes by.
_CLASSES = tuple(int(kind) for kind in MinuteClass)
#: Text the writer copies into CSV and JSON as it is (no quoting or escaping needed).
_PLAIN = re.compile(
    r"[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e](?:[\x20\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]*[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e])?"
)
#: Patients per output chunk (bounds the memory of the text being built).
_CHUNK = 25_000


def polars_available() -> bool:
    """Whether polars (the ``fast`` extra) can be imported.

    >>> isinstance(polars_available(), bool)
    True
    """
    try:
        import polars as pl  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _scan(file: Path) -> int | None:
    """Lines in *file* when the columnar reader can take it whole, else None.

    Plain files only: no quotes, no blank lines, and line ends either LF or CRLF.
    """
    newlines = 0
    crlf = 0
    last = b""
    with file.open("rb") as raw:
        while chunk := raw.read(1 << 24):
            if chunk.endswith(b"\r"):
                chunk += raw.read(1)
            if b'"' in chunk or b"\n\n" in chunk:
                return None
            # Most files hold no CR at all: one pass finds that, and the CR checks are skipped.
            crs = chunk.count(b"\r")
            if crs and (b"\n\r\n" in chunk or crs != chunk.count(b"\r\n")):
                return None
            if last == b"\n" and chunk[:1] in {b"\n", b"\r"}:
                return None
            newlines += chunk.count(b"\n")
            crlf += crs
            last = chunk[-1:]
    if crlf not in {0, newlines}:
        return None  # mixed line ends: the line offsets below assume one kind
    return newlines + (0 if last in {b"\n", b""} else 1)


def _read(
    file: Path,
    known: tuple[str, ...],
    required: tuple[str, ...],
    *,
    columns: tuple[str, ...] | None = None,
    categorical: frozenset[str] = frozenset(),
    offsets: list[pl.Series] | None = None,
    scanned: Callable[[], int | None] | None = None,
    header_read: tuple[list[str], list[str]] | None = None,
) -> tuple[pl.DataFrame, list[str]] | None:
    """The file's cells as text (``""`` when empty) plus ``__line__``, and the header.

    None when the file is not plain (see :func:`_scan`) or a row has the
    wrong number of cells. *columns* limits the columns read; the ones in
    *categorical* are read as categories (few distinct values, less memory).
    With *offsets*, the byte offset of each data line is appended to it.
    *scanned* gives :func:`_scan`'s answer when a worker has scanned the file.
    *header_read* is :func:`_read_header`'s answer when the caller has read
    the header (and raised its refusals) already.
    """
    import polars as pl  # noqa: PLC0415

    raw, header = _read_header(file, known, required) if header_read is None else header_read
    wanted = [name for name in header if columns is None or name in columns]
    # Each line's cell count and length, read while a worker scans the file (see _scan);
    # a file polars cannot read here is decided on once the scan's answer is in.
    per_line: pl.DataFrame | None = None
    try:
        texts = pl.scan_csv(
            file,
            has_header=False,
            skip_rows=1,
            separator="\x1f",
            quote_char=None,
            schema={"l": pl.String},
        )
        ragged = pl.col("l").str.count_matches(",", literal=True) != len(header) - 1
        if offsets is None:
            bad, rows = texts.select(ragged.any(), pl.len()).collect(engine="streaming").row(0)
        else:
            per_line = texts.select(
                ragged.alias("bad"), pl.col("l").str.len_bytes().cast(pl.Int64).alias("length")
            ).collect(engine="streaming")
            bad, rows = bool(per_line.get_column("bad").any()), per_line.height
        unread = False
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        unread = True
    lines = _scan(file) if scanned is None else scanned()
    if lines is None:
        return None
    if lines <= 1:
        if offsets is not None:
            offsets.append(pl.Series([], dtype=pl.Int64))
        return pl.DataFrame(
            schema={"__line__": pl.Int64, **dict.fromkeys(wanted, pl.String)}
        ), header
    if unread or bad or rows != lines - 1:
        return None
    try:
        if per_line is not None and offsets is not None:
            with file.open("rb") as handle:
                first = handle.readline()
            ending = 2 if first.endswith(b"\r\n") else 1
            offsets.append(
                per_line.select(
                    (pl.col("length") + ending).cum_sum().shift(1, fill_value=0) + len(first)
                ).get_column("length")
            )
            del per_line
        frame = pl.read_csv(
            file,
            has_header=True,
            quote_char=None,
            columns=[header.index(name) for name in wanted],
            schema_overrides={
                raw[header.index(name)]: (pl.Categorical if name in categorical else pl.String)
                for name in wanted
            },
            infer_schema_length=0,
        ).rename({raw[header.index(name)]: name for name in wanted})
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        return None
    if frame.height != lines - 1:  # pragma: no cover - counted the same way above
        return None
    return (
        frame.with_columns(pl.all().fill_null(""))
        .with_row_index("__line__", offset=2)
        .with_columns(pl.col("__line__").cast(pl.Int64)),
        header,
    )


def _read_header(
    file: Path, known: tuple[str, ...], required: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """The header line's cells as written, and the column names (refusals raised, see ``_header``)."""
    with _open(file) as handle:
        # The header line within carecore.limits, as the reference close reads it: a cell
        # past csv_cell, or bytes that are not UTF-8, are refused by file and line.
        header_row = next(limits.csv_rows(handle, what=file.name), None)
    raw = header_row if header_row is not None else []
    return raw, _header(iter([] if header_row is None else [header_row]), file, known, required)


def _mapped(
    frame: pl.DataFrame,
    column: str,
    parse: Callable[[str], Any],
    dtype: Any,
    values: list[Any] | None = None,
) -> pl.Expr:
    """*parse* applied once per distinct text of *column* (None where it refuses), as an expression.

    *values* are the distinct texts of the column when the caller knows them already.
    """
    import polars as pl  # noqa: PLC0415

    if values is None:
        values = frame.get_column(column).unique().to_list()
    parsed = []
    for value in values:
        try:
            parsed.append(parse(value))
        except (ValueError, KeyError, LookupError):
            parsed.append(None)
        except errors.CarecoreError:
            parsed.append(None)
    return pl.col(column).replace_strict(values, parsed, return_dtype=dtype, default=None)


def _stripped(frame: pl.DataFrame, column: str) -> pl.Expr:
    """*column* stripped as :meth:`str.strip` strips (in Python for the texts that need it)."""
    import polars as pl  # noqa: PLC0415

    plain = pl.col(column).str.contains(f"^{_PLAIN.pattern}$")
    others = frame.filter(~plain)
    if others.height == 0:
        return pl.col(column)
    return (
        pl.when(plain).then(pl.col(column)).otherwise(_mapped(others, column, str.strip, pl.String))
    )


_REFUSED = (ValueError, KeyError, LookupError, errors.CarecoreError)


def _once(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """*parse*, run once per text: later calls give the same value or raise the same refusal."""
    seen: dict[str, tuple[bool, Any]] = {}

    def read(text: str) -> Any:
        found = seen.get(text)
        if found is None:
            try:
                found = (True, parse(text))
            except _REFUSED as exc:
                found = (False, exc)
            seen[text] = found
        ok, value = found
        if not ok:
            raise value.with_traceback(None)
        return value

    return read


def _reads(parse: Callable[[str], Any]) -> Callable[[str], bool]:
    """Whether *parse* reads a text (it raises when it cannot)."""
    return lambda text: parse(text) is not None


def _dates(parse: Callable[[str], Any]) -> Callable[[str], dt.date | None]:
    """*parse* (a pendulum date parser) giving plain dates."""
    return lambda text: _pdate(parse(text))


def _pdate(day: Any) -> dt.date | None:
    return None if day is None else dt.date(day.year, day.month, day.day)


class _Patients:
    """patients.csv, split into clean rows (columns) and rows the reference reader must read."""

    def __init__(  # noqa: C901, PLR0912, PLR0915 - one flat pass over the columns
        self, file: Path, frame: pl.DataFrame, month: ServicePeriod, switches: Switches
    ) -> None:
        import polars as pl  # noqa: PLC0415

        self.file = file
        parsers = _patient_parsers()
        header = [c for c in frame.columns if c != "__line__"]
        self.header = header
        end = month.end
        checks: list[pl.Expr] = []
        columns: list[pl.Expr] = []

        def blank(name: str) -> pl.Expr:
            return pl.col(name).str.strip_chars().str.len_bytes() == 0

        def get(name: str) -> pl.Expr:
            return pl.col(name) if name in header else pl.lit("")

        # Each column's distinct texts, found once for the several readers of a column.
        distinct: dict[str, list[Any]] = {}

        def mapped(name: str, parse: Callable[[str], Any], dtype: Any) -> pl.Expr:
            if name not in distinct:
                distinct[name] = frame.get_column(name).unique().to_list()
            return _mapped(frame, name, parse, dtype, distinct[name])

        for name in ("patient_id", "practitioner"):
            # Plain text is its own stripped value (no space at either end).
            plain = pl.col(name).str.contains(f"^{_PLAIN.pattern}$")
            checks.append(plain)
            columns.append(pl.when(plain).then(pl.col(name)).otherwise(None).alias(f"_{name}"))
        # Every other cell: blank, or read by the reference parser.
        for name in header:
            if name in {"patient_id", "practitioner"}:
                continue
            checks.append(
                blank(name) | mapped(name, _reads(parsers[name]), pl.Boolean).fill_null(value=False)
            )
        if "conditions" in header:
            checks.append(~blank("conditions"))
        else:  # pragma: no cover - a required column (the header check refuses the file)
            checks.append(pl.lit(value=False))
        if "setting" in header:
            checks.append(
                blank("setting")
                | mapped(
                    "setting",
                    lambda t: parsers["setting"](t) is FAST_SETTING,
                    pl.Boolean,
                )
            )
        credential = parsers["credential"]
        columns.append(
            pl.when(blank("credential") if "credential" in header else pl.lit(value=True))
            .then(pl.lit(ROW_DEFAULTS["credential"].value))
            .otherwise(
                mapped("credential", lambda t: credential(t).value, pl.String)
                if "credential" in header
                else pl.lit(None)
            )
            .alias("_credential")
        )
        for name in ("established", "qmb", "primary_care_focal_point"):
            default = ROW_DEFAULTS[name]
            if name in header:
                columns.append(
                    pl.when(blank(name))
                    .then(pl.lit(default))
                    .otherwise(mapped(name, parsers[name], pl.Boolean))
                    .alias(f"_{name}")
                )
            else:
                columns.append(pl.lit(default).alias(f"_{name}"))
        for name in ("last_visit", "date_of_death"):
            if name in header:
                columns.append(
                    pl.when(blank(name))
                    .then(pl.lit(None, pl.Date))
                    .otherwise(mapped(name, _dates(parsers[name]), pl.Date))
                    .alias(f"_{name}")
                )
            else:
                columns.append(pl.lit(None, pl.Date).alias(f"_{name}"))
        for name in ("consent", "care_plan"):
            for family in _KEYED:
                wanted = ServiceFamily(family)

                def pick(
                    text: str, parse: Any = parsers[name], wanted: ServiceFamily = wanted
                ) -> Any:
                    return _pdate(dict(parse(text)).get(wanted)) if text.strip() else None

                columns.append(
                    (
                        mapped(name, pick, pl.Date) if name in header else pl.lit(None, pl.Date)
                    ).alias(f"_{name}_{family}")
                )
            # What the engine's primitives read of the cell, per family and distinct text
            # (the patient facts of a text are built once, for every family).
            facts = _once(_cell_facts(name, parsers[name]))
            for family in _KEYED:
                for alias, read, dtype in _cell_reads(name, facts, ServiceFamily(family), month):
                    columns.append(
                        (
                            mapped(name, read, dtype) if name in header else pl.lit(read(""), dtype)
                        ).alias(f"_{alias}_{family}")
                    )
        # Conditions: the fast path's class tuple and the audit packet's JSON, per distinct text.
        self.condition_classes: list[tuple[object, ...]] = []
        condition_ids: dict[tuple[object, ...], int] = {}
        condition_texts = frame.get_column("conditions").unique().to_list()
        ids: list[int | None] = []
        jsons: list[str | None] = []
        # A claim line's diagnoses depend on the patient's conditions and the line's family
        # (never on the canonical month): rendered per distinct conditions text and family.
        diagnoses: list[tuple[int, str, str, str]] = []
        # Conditions the fast path's canonical form cannot stand for (a code that does not
        # count, a disease listed with several codes): the reference code closes the row.
        canonical: list[bool] = []
        for text in condition_texts:
            try:
                conditions = parsers["conditions"](text) if text.strip() else None
            except (ValueError, errors.CarecoreError):
                conditions = None
            if not conditions:
                ids.append(None)
                jsons.append(None)
                canonical.append(True)
                continue
            classes = condition_shape(conditions, switches)
            canonical.append(classes is not None)
            if classes is None:
                ids.append(None)
                jsons.append(None)
                continue
            ids.append(condition_ids.setdefault(classes, len(condition_ids)))
            jsons.append(CloseEncoder.conditions_json(conditions))
            for family in _KEYED:
                codes = line_diagnoses(conditions, ServiceFamily(family), switches)
                diagnoses.append(
                    (
                        len(jsons) - 1,
                        family,
                        CloseEncoder.diagnoses_cell(codes),
                        CloseEncoder.diagnoses_json(codes),
                    )
                )
        self.condition_classes = list(condition_ids)
        columns.append(
            pl.col("conditions")
            .replace_strict(condition_texts, ids, return_dtype=pl.Int64, default=None)
            .alias("_conditions")
        )
        columns.append(
            pl.col("conditions")
            .replace_strict(
                condition_texts, list(range(len(condition_texts))), return_dtype=pl.Int64
            )
            .alias("_conditions_text")
        )
        #: Claim-line diagnoses (claims.csv cell, JSON items), by ``_conditions_text`` and family.
        self.diagnoses = pl.DataFrame(
            diagnoses,
            schema={
                "_conditions_text": pl.Int64,
                "family": pl.String,
                "_dx_csv": pl.String,
                "_dx_json": pl.String,
            },
            orient="row",
        )
        #: The audit packet's conditions (JSON), by ``_conditions_text``.
        self.conditions_json = pl.DataFrame(
            {"_conditions_text": list(range(len(condition_texts))), "_conditions_json": jsons},
            schema={"_conditions_text": pl.Int64, "_conditions_json": pl.String},
        )
        frame = frame.with_columns(
            pl.all_horizontal(
                *checks,
                pl.col("conditions").replace_strict(
                    condition_texts, canonical, return_dtype=pl.Boolean, default=False
                ),
            )
            .fill_null(value=False)
            .alias("_clean"),
            *columns,
        )
        stripped = frame.get_column("patient_id").str.strip_chars()
        named = stripped.filter(stripped.str.len_bytes() > 0)
        self.duplicates = named.n_unique() != named.len()
        end_day = _pdate(end)
        derived = [pl.col("_date_of_death").is_not_null() & (pl.col("_date_of_death") <= end_day)]
        names = ["_died"]
        for family in _FAMILIES:
            consented = pl.col(f"_consent_in_force_{family}")
            derived += [
                consented,
                # primitives.recent_visit in columns: an established patient last seen on
                # or after primitives.initiating_visit_from.
                consented
                & pl.col("_established")
                & pl.col("_last_visit").is_not_null()
                & (pl.col("_last_visit") >= pl.col(f"_visit_from_{family}")),
                pl.col(f"_care_plan_in_force_{family}"),
            ]
            names += [f"_consented_{family}", f"_visit_ok_{family}", f"_planned_{family}"]
        # Remote monitoring reads consent (and the patient's established flag) only.
        derived.append(pl.col(f"_consent_in_force_{_RPM}"))
        names.append(f"_consented_{_RPM}")
        frame = frame.with_columns(
            *(
                pl.when(pl.col("_clean")).then(e.fill_null(value=False)).otherwise(None).alias(n)
                for e, n in zip(derived, names, strict=True)
            )
        ).drop(
            *(
                f"_{alias}_{family}"
                for family in _FAMILIES
                for alias in ("consent_in_force", "visit_from", "care_plan_in_force")
            ),
            f"_consent_in_force_{_RPM}",
        )
        self.frame = frame

    def forget_cells(self) -> None:
        """Drop the cells (memory), once :meth:`reference_rows` has read what it needs."""
        self.frame = self.frame.select("__line__")

    def reference_rows(self, lines: list[int]) -> tuple[dict[int, PatientRow], list[RowProblem]]:
        """The rows at *lines* read by the reference reader (in line order)."""
        import polars as pl  # noqa: PLC0415

        parsers = _patient_parsers()
        practitioners: dict[tuple[object, ...], BillingPractitioner] = {}
        rows: dict[int, PatientRow] = {}
        problems: list[RowProblem] = []
        if not lines:
            return rows, problems
        picked = self.frame.filter(pl.col("__line__").is_in(lines)).sort("__line__")
        for record in picked.select("__line__", *self.header).iter_rows():
            line, cells = record[0], list(record[1:])
            parsed = _patient_row(self.file, line, self.header, cells, parsers, practitioners, {})
            if isinstance(parsed, PatientRow):
                rows[line] = parsed
            else:
                problems.extend(parsed)
        return rows, problems


#: Holes of the per-row templates (the encoder's order) and the columns holding their literals.
_CLAIM_CSV = ("patient_id", "practitioner", "date_of_service", "diagnoses")
_CLAIM_JSON = ("patient_id", "practitioner", "date_of_service", "diagnoses")
_AUDIT_LINE = ("practitioner", "date_of_service", "diagnoses")
_DENIAL_CSV = ("patient_id", "practitioner")
#: Literal columns per template: claims.csv, claims.json, the packet's claim lines, denials.csv.
_LINE_LITERALS = {
    **{f"c{i}": "" for i in range(len(_CLAIM_CSV) + 1)},
    **{f"j{i}": "" for i in range(len(_CLAIM_JSON) + 1)},
    **{f"a{i}": "" for i in range(len(_AUDIT_LINE) + 1)},
}
_DENIAL_LITERALS = {f"d{i}": "" for i in range(len(_DENIAL_CSV) + 1)}


class _Templates:
    """Per distinct canonical month: the reference result, as the encoder's templates.

    Many months share the same claim lines, denials and hints (only their mix
    differs), so each piece is rendered by the encoder once per distinct value:
    it depends only on the fields it renders, and those are the cache keys.
    """

    def __init__(
        self,
        fast: FastClose,
        encoder: CloseEncoder,
        texts: tuple[dict[Any, Any], dict[Any, Any]] | None = None,
    ) -> None:
        self.fast = fast
        self.encoder = encoder
        # Rows of (key, position, text id), and each distinct text once per batch: many
        # keys share a line or a denial, and a row per key holding the text would repeat it.
        self.lines: list[tuple[int, int, int]] = []
        self.line_table: list[dict[str, Any]] = []
        self.denials: list[tuple[int, int, int]] = []
        self.denial_table: list[dict[str, str]] = []
        self._line_ids: dict[tuple[object, ...], int] = {}
        self._denial_ids: dict[tuple[object, ...], int] = {}
        #: Per key: (key, lines, denials, bills per family..., denials JSON, hints JSON, evaluated_by).
        self.keys: list[tuple[Any, ...]] = []
        # The rendered texts depend only on the values rendered: a process shares them
        # between batches (*texts*).
        line_texts, denial_texts = texts if texts is not None else ({}, {})
        self._line_texts: dict[tuple[object, ...], dict[str, Any] | None] = line_texts
        self._denial_texts: dict[tuple[object, ...], tuple[dict[str, str], str] | None] = (
            denial_texts
        )

    def _line_text(self, line: ClaimLine) -> dict[str, Any] | None:
        """The encoder's templates of one claim line (None when a hole is not where expected)."""
        encoder = self.encoder
        pieces = (
            (encoder.claim_csv_template(line), _CLAIM_CSV, "c"),
            (encoder.claim_json_template(line), _CLAIM_JSON, "j"),
            (encoder.audit_line_template(line), _AUDIT_LINE, "a"),
        )
        if any(template.names != names for template, names, _ in pieces):
            return None
        # A time code's date of service is where the patient's running total reaches its
        # need; remote monitoring's device codes are dated by their readings (the same for
        # every patient of the canonical month, which holds the readings row).
        track = time_track(line.code)
        fixed = None
        need: int | None
        if track is not None:
            personal, need = track.personal, self.fast.need(line.code, line.units)
        elif line.family.value == _RPM:
            personal, need = False, monitoring_need(self.fast.rules, line.code, line.units)
            if need is None:
                fixed = line.date_of_service.isoformat()
        else:
            return None
        columns: dict[str, Any] = {}
        for template, _, prefix in pieces:
            columns.update(template.as_columns(prefix))
        return {
            "code": line.code,
            "units": line.units,
            "amount": "" if line.amount is None else str(line.amount),
            "family": line.family.value,
            "personal": personal,
            "need": need,
            "fixed": fixed,
            **columns,
        }

    def _denial_text(self, denial: Denial) -> tuple[dict[str, str], str] | None:
        """One denial's denials.csv template columns and packet JSON (None: cannot render)."""
        template = self.encoder.denial_csv_template(denial)
        if template.names != _DENIAL_CSV:
            return None
        return template.as_columns("d"), self.encoder.denial_json(denial)

    def add(self, key: int, result: EvaluationResult, *, fast: bool = True) -> bool:
        """Record *result* for *key*; False when the writer cannot render it (the patients go by the reference).

        *fast*: the packet names the fast path as the evaluator (a month with
        device data names the reference engine, as the reference close does).
        """
        families = sorted({line.family.value for line in result.claim_lines})
        if any(f not in _KEYED for f in families):
            return False
        lines = []
        for k, line in enumerate(result.claim_lines):
            # Every field the text reads, as text (equal values may print differently).
            line_key = (
                line.code,
                line.units,
                line.modifiers,
                line.period.start.isoformat(),
                line.period.end.isoformat(),
                None if line.amount is None else str(line.amount),
                line.family.value,
                # Kept as text for a device code (see _line_text).
                None if time_track(line.code) else line.date_of_service.isoformat(),
            )
            if line_key in self._line_texts:
                text = self._line_texts[line_key]
            else:
                text = self._line_texts[line_key] = self._line_text(line)
            if text is None:
                return False
            tid = self._line_ids.get(line_key)
            if tid is None:
                tid = self._line_ids[line_key] = len(self.line_table)
                self.line_table.append(text)
            lines.append((key, k, tid))
        denials = []
        denial_json = []
        for k, denial in enumerate(result.denials):
            denial_key = (
                denial.code,
                denial.reason.value,
                denial.message,
                denial.rule,
                denial.sources,
            )
            if denial_key in self._denial_texts:
                pieces = self._denial_texts[denial_key]
            else:
                pieces = self._denial_texts[denial_key] = self._denial_text(denial)
            if pieces is None:
                return False
            did = self._denial_ids.get(denial_key)
            if did is None:
                did = self._denial_ids[denial_key] = len(self.denial_table)
                self.denial_table.append(pieces[0])
            denials.append((key, k, did))
            denial_json.append(pieces[1])
        self.lines += lines
        self.denials += denials
        self.keys.append(
            (
                key,
                len(lines),
                len(denials),
                *(f in families for f in _KEYED),
                ",".join(denial_json),
                self.encoder.hints_json(result),
                json_text(EVALUATED_BY[fast]),
            )
        )
        return True


#: A chunk's text, in close order: claims.csv rows, claims.json items, denials.csv rows, packets.
_Texts = tuple["pl.Series", "pl.Series", "pl.Series", "pl.Series"]


def _write_texts(writer: CloseWriter, texts: _Texts) -> None:
    """Append *texts* (each in row order; an empty text writes nothing) to the writer's files."""
    import polars as pl  # noqa: PLC0415

    claims_csv, claims_json, denials_csv, audit = texts

    def put(handle: Any, column: pl.Series) -> None:
        handle.flush()
        column.to_frame().write_csv(
            handle.buffer, include_header=False, quote_style="never", line_terminator=""
        )
        handle.buffer.flush()

    items = claims_json.filter(claims_json != "")
    if items.len():
        first = writer._claim_separator()  # noqa: SLF001
        following = writer.encoder.CLAIMS_JSON_NEXT
        items = (
            pl.concat(
                [pl.Series([first]), pl.Series([following] * (items.len() - 1), dtype=pl.String)]
            )
            + items
        )
        writer._first_claim = False  # noqa: SLF001
    put(writer._claims, claims_csv)  # noqa: SLF001
    put(writer._claims_json, items)  # noqa: SLF001
    put(writer._denials, denials_csv)  # noqa: SLF001
    put(writer._audit, audit)  # noqa: SLF001


def _spans(offsets: pl.Series, lines: pl.Series) -> tuple[list[int], list[int]]:
    """Byte offset and byte length (-1: to the end of the file) of the data lines *lines*."""
    import polars as pl  # noqa: PLC0415

    if lines.len() == 0:
        return [], []
    ends = pl.concat([offsets.slice(1), pl.Series([None], dtype=pl.Int64)])
    index = lines - 2
    at = offsets.gather(index)
    length = (ends.gather(index) - at).fill_null(-1)
    return at.to_list(), length.to_list()


#: One batch of patients for the reference code: per patient (order, the row when the main
#: process has read it, its line, byte offset and length in patients.csv), and the patients'
#: event rows as parallel lists (order, line, byte offset, byte length), sorted by order and line.
_Batch = tuple[
    list[tuple[int, "PatientRow | None", int, int, int]],
    tuple[list[int], list[int], list[int], list[int]],
]


def _batches(  # noqa: PLR0917
    patients: pl.DataFrame,
    events: pl.DataFrame,
    rows: dict[int, PatientRow],
    patient_offsets: pl.Series,
    event_offsets: pl.Series,
    size: int,
) -> list[_Batch]:
    """The reference code's patients and their event rows, in batches of *size* patients.

    Both frames hold ``_order`` and ``__line__``. Rows already read (*rows*, by line) travel as they are; the workers read the others.
    """
    patients = patients.sort("_order")
    events = events.sort("_order", "__line__")
    orders = patients.get_column("_order").to_list()
    lines = patients.get_column("__line__").to_list()
    at, length = _spans(patient_offsets, patients.get_column("__line__"))
    event_orders = events.get_column("_order")
    event_lines = events.get_column("__line__").to_list()
    event_at, event_length = _spans(event_offsets, events.get_column("__line__"))
    event_order_list = event_orders.to_list()
    out: list[_Batch] = []
    for lo in range(0, len(orders), size):
        hi = min(lo + size, len(orders))
        first = int(event_orders.search_sorted(orders[lo], "left"))
        last = int(event_orders.search_sorted(orders[hi - 1], "right"))
        out.append(
            (
                [
                    (orders[i], rows.get(lines[i]), lines[i], at[i], length[i])
                    for i in range(lo, hi)
                ],
                (
                    event_order_list[first:last],
                    event_lines[first:last],
                    event_at[first:last],
                    event_length[first:last],
                ),
            )
        )
    return out


def _read_span(handle: Any, at: int, length: int) -> list[str]:
    """The cells of the CSV line at byte *at* (*length* bytes, -1: to the end of the file)."""
    return _read_spans(handle, [at], [length])[0]


def _read_spans(handle: Any, ats: list[int], lengths: list[int]) -> list[list[str]]:
    """The cells of the CSV lines at *ats* (see :func:`_read_span`), in order.

    Adjacent lines are read with one read; the files here have no quotes and
    no stray CRs (:func:`_scan`), so a line is a row.
    """
    return list(csv.reader(_read_texts(handle, ats, lengths)))


def _read_texts(handle: Any, ats: list[int], lengths: list[int]) -> list[str]:
    """The text of the lines at *ats* (see :func:`_read_spans`), without their line ends."""
    out: list[str] = []
    count = len(ats)
    i = 0
    while i < count:
        j = i
        while j + 1 < count and lengths[j] >= 0 and ats[j + 1] == ats[j] + lengths[j]:
            j += 1
        handle.seek(ats[i])
        block = handle.read(ats[j] + lengths[j] - ats[i]) if lengths[j] >= 0 else handle.read()
        texts = block.decode("utf-8").split("\n")[: j - i + 1]
        out.extend(text.rstrip("\r\n") for text in texts)
        i = j + 1
    return out


# -- the Python work (reference engine), in worker processes forked before polars starts ------


class _State:
    """What a process of the close holds: the rules, the files, the fast path's cache, open handles.

    Built in the main process and in each worker by the pool's initializer
    (see :meth:`carecore.executors.Executor.pool`).
    """

    def __init__(
        self, rules: RuleSet, month: ServicePeriod, patients_file: Path, events_file: Path
    ) -> None:
        self.rules = rules
        self.month = month
        self.patients_file = patients_file
        self.file = events_file
        self.fast = FastClose(rules, month)
        self.light = _LightParser()
        self.encoder = CloseEncoder(rules, month)
        self.parsers = _patient_parsers()
        self.practitioners: dict[tuple[object, ...], BillingPractitioner] = {}
        self.handles: dict[Path, Any] = {}
        #: Rendered claim-line and denial templates, shared by the process's batches.
        self.texts: tuple[dict[Any, Any], dict[Any, Any]] = ({}, {})

    def handle(self, file: Path) -> Any:
        """This process's open binary handle on *file*."""
        if file not in self.handles:
            self.handles[file] = file.open("rb")
        return self.handles[file]

    def close(self) -> None:
        """Close the open handles."""
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()


def _scan_task(_state: _State, file: Path) -> int | None:
    return _scan(file)


#: What a batch of canonical months made: line rows and texts, denial rows and texts, keys.
_Made = tuple[
    list[tuple[int, int, int]],
    list[dict[str, Any]],
    list[tuple[int, int, int]],
    list[dict[str, str]],
    list[tuple[Any, ...]],
]


def _template_batch(
    state: _State,
    batch: list[tuple[Any, ...]],
) -> tuple[_Made, list[int]]:
    """Reference results of canonical months, as text pieces (and the keys it cannot render)."""
    fast = state.fast
    templates = _Templates(fast, state.encoder, state.texts)
    bad = []
    for key, shape, credential, focal, minutes, device in batch:
        practitioner = BillingPractitioner(
            id="~", credential=Credential(credential), primary_care_focal_point=focal
        )
        result = (
            fast.template(shape, practitioner, minutes)
            if device is None
            else evaluate_device(fast, shape, practitioner, minutes, device)
        )
        if not templates.add(key, result, fast=device is None):
            bad.append(key)
    made = (
        templates.lines,
        templates.line_table,
        templates.denials,
        templates.denial_table,
        templates.keys,
    )
    return made, bad


def _patient_batch(
    state: _State,
    batch: _Batch,
    header: list[str],
    patient_header: list[str],
    render: bool,  # noqa: FBT001
) -> tuple[
    list[tuple[int, str, str, str, str]], dict[str, Any], list[tuple[int, list[RowProblem]]]
]:
    """Patients closed by the reference code: their text, counters and refused rows."""
    month, rules = state.month, state.rules
    writer = CloseWriter(None, month, rules)
    next_item = writer.encoder.CLAIMS_JSON_NEXT
    texts = []
    problems = []
    patients, (orders, lines, ats, lengths) = batch
    events = state.handle(state.file) if orders else None
    by_order: dict[int, list[tuple[int, str, list[str]]]] = {}
    read = _read_texts(events, ats, lengths) if orders else []
    for order, line, text, cells in zip(orders, lines, read, csv.reader(read), strict=True):
        by_order.setdefault(order, []).append((line, text, cells))
    # A row's event is cached by its text without the patient_id cell (the first, as usual).
    keyed = header.index("patient_id") == 0
    kind_at = header.index("type")
    # The patients.csv rows the main process has not read, read here in one pass.
    unread = [(at, length) for _, known, _, at, length in patients if known is None]
    patient_cells = iter(
        _read_spans(
            state.handle(state.patients_file), [a for a, _ in unread], [n for _, n in unread]
        )
        if unread
        else []
    )
    for order, known, line, _, _ in patients:
        row = known
        if row is None:
            cells = next(patient_cells)
            parsed = _patient_row(
                state.patients_file,
                line,
                patient_header,
                cells,
                state.parsers,
                state.practitioners,
                {},
            )
            if not isinstance(parsed, PatientRow):  # pragma: no cover - the file changed
                raise errors.InvalidValue(
                    "changed during the close", field="file", value=str(state.patients_file)
                )
            row = parsed
        rows = by_order.get(order)
        if not rows:
            done = _close_idle(row, state.fast, month, rules)
        elif keyed and any(cells[kind_at] != "time_entry" for _, _, cells in rows):
            # Not a time-only month (LightParser.time_only would say None): each row's event.
            done = _close_texts(state, row, header, rows)
        else:
            done = _close_rows(
                state.file,
                row,
                [(line, dict(zip(header, cells, strict=True))) for line, _, cells in rows],
                state.fast,
                state.light,
                month,
                rules,
            )
        writer.count(done)
        if done.problems:
            problems.append((order, list(done.problems)))
        if render:
            claims_csv, claims_json, denials_csv, audit = writer.render(done)
            texts.append((order, claims_csv, next_item.join(claims_json), denials_csv, audit))
    return texts, writer.state(), problems


def _close_texts(
    state: _State, row: PatientRow, header: list[str], rows: list[tuple[int, str, list[str]]]
) -> PatientMonth:
    """:func:`_close_rows` of a month that is not time-only, each row's event cached by its text.

    The rows are plain (no quotes, the header's width) and patient_id is
    their first cell, so the text after the first comma is the row's other cells.
    """
    light, file = state.light, state.file
    default = row.practitioner.id
    events = []
    problems: list[RowProblem] = []
    kind_at = header.index("type")
    practitioner_at = header.index("practitioner") if "practitioner" in header else None
    for line, text, cells in rows:
        event, found = light.event_by_text(
            file,
            line,
            text[len(cells[0]) + 1 :],
            lambda cells=cells: dict(zip(header, cells, strict=True)),  # type: ignore[misc]
            "" if practitioner_at is None else cells[practitioner_at],
            cells[kind_at],
            default,
        )
        problems.extend(found)
        if event is not None and not found:
            events.append(event)
    return _close_one(row, events, problems, state.month, state.rules)


#: Event columns the columnar checks read (the reference code re-reads every cell of its rows).
_EVENT_READ = (
    "patient_id",
    "date",
    "type",
    "minutes",
    "role",
    "credential",
    "practitioner",
    "family",
    "interactive",
)
_EVENT_CATEGORIES = frozenset(
    {"date", "type", "minutes", "role", "credential", "practitioner", "family", "interactive"}
)
_BATCH = 2000


def _counts_from(family_column: str) -> pl.Expr:
    """The first countable day of the entry's family (primitives.countable_window, per patient)."""
    import polars as pl  # noqa: PLC0415

    first = pl.lit(None, pl.Date)
    for family in _KEYED:
        first = (
            pl.when(pl.col(family_column) == family)
            .then(pl.col(f"_counts_from_{family}"))
            .otherwise(first)
        )
    return first


def _declined(month: ServicePeriod) -> pl.Expr:
    """Time entries the fast path's canonical form does not decide (as FastClose.takes).

    A minute in the month before the family's countable window opens (before
    consent) or of a patient who died by the month's end (the refusal names
    those dates).
    """
    import polars as pl  # noqa: PLC0415

    start, end = _pdate(month.start), _pdate(month.end)
    inside = (pl.col("_day") >= start) & (pl.col("_day") <= end)
    first = _counts_from("family")
    return inside & (
        (first.is_not_null() & (pl.col("_day") < first))
        | (pl.col("_date_of_death").is_not_null() & (pl.col("_date_of_death") <= end))
    )


def _minute_class(rules: RuleSet) -> pl.Expr:
    """primitives.minute_class of each entry (``_family``, ``_role``, ``_credential``), as Int8.

    An RPM minute is STAFF when it counts toward treatment management
    (primitives.monitoring_time_counts), else NONE.

    The class of every family, role and credential a clean entry can have is
    asked once; each entry's three categories index that table.
    """
    import polars as pl  # noqa: PLC0415

    switches = rules.switches
    families = list(_KEYED)
    roles = list(RoleClass)
    credentials: list[Credential | None] = [None, *Credential]

    def kind(family: str, role: RoleClass, credential: Credential | None) -> int:
        if family == _RPM:
            # Treatment management counts staff minutes toward its (not personal) track.
            counts = monitoring_time_counts(role)
            return int(MinuteClass.STAFF if counts else MinuteClass.NONE)
        return int(minute_class(switches, ServiceFamily(family), role, credential))

    table = pl.Series(
        [
            kind(family, role, credential)
            for family in families
            for role in roles
            for credential in credentials
        ],
        dtype=pl.Int8,
    )

    def index(column: str, values: list[str]) -> pl.Expr:
        return pl.col(column).replace_strict(
            values, list(range(len(values))), return_dtype=pl.Int32
        )

    role_index = index("_role", [r.value for r in roles])
    credential_index = index("_credential", ["" if c is None else c.value for c in credentials])
    key = (index("_family", families) * len(roles) + role_index) * len(
        credentials
    ) + credential_index
    return pl.lit(table).gather(key)


def _cell_facts(name: str, parse: Callable[[str], Any]) -> Callable[[str], PatientFacts]:
    """The patient facts a consent or care_plan cell gives (*parse* reads the cell)."""

    def facts(text: str) -> PatientFacts:
        days = dict(parse(text)) if text.strip() else {}
        if name == "consent":
            return PatientFacts(id="~", consent_on=days)
        return PatientFacts(id="~", care_plan_on=days)

    return facts


def _cell_reads(
    name: str,
    facts: Callable[[str], PatientFacts],
    family: ServiceFamily,
    month: ServicePeriod,
) -> list[tuple[str, Callable[[str], Any], Any]]:
    """What the engine's primitives read of a consent or care_plan cell, for *family*.

    (column alias, reader of the cell text, polars type); each reader asks
    the primitive about the patient facts the cell gives (*facts*, see
    :func:`_cell_facts`).
    """
    import polars as pl  # noqa: PLC0415

    if family.value not in _FAMILIES:
        # Remote monitoring: consent in force and the first countable day.
        if name != "consent":
            return []
        return [
            ("consent_in_force", lambda t: consent_in_force(facts(t), family, month), pl.Boolean),
            (
                "counts_from",
                lambda t: _pdate(countable_window(facts(t), family, month)[0]),
                pl.Date,
            ),
        ]
    if name != "consent":
        return [
            (
                "care_plan_in_force",
                lambda t: care_plan_in_force(facts(t), family, month),
                pl.Boolean,
            )
        ]
    return [
        ("consent_in_force", lambda t: consent_in_force(facts(t), family, month), pl.Boolean),
        ("counts_from", lambda t: _pdate(countable_window(facts(t), family, month)[0]), pl.Date),
        ("visit_from", lambda t: _pdate(initiating_visit_from(facts(t), family, month)), pl.Date),
    ]


def close_columnar(
    patients_csv: str | Path,
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    *,
    workers: int = 1,
    on_progress: Callable[[int], object] | None = None,
) -> tuple[CloseSummary, list[RowProblem]] | None:
    """Close *month* over the CSV pair with polars; None when the files need the reference reader.

    Returns the summary and every refused row (patients.csv rows first, then
    event rows in close order, then rows of unknown patients), as the
    reference close (:func:`carecore.billing.read_patients` and
    :func:`carecore.billing.run_close`) does; the files written under
    *out* are byte for byte the reference close's. With ``workers > 1`` the
    reference engine's share (distinct canonical months, and the patients it
    closes one by one) runs in that many forked worker processes.
    """
    with rare_collections():
        # Started before polars has threads (the workers are forked, with these GC settings).
        runner = open_pool(workers, _State, rules, month, Path(patients_csv), Path(events_csv))
        try:
            return _close(
                Path(patients_csv), Path(events_csv), month, rules, out, runner, on_progress
            )
        finally:
            runner.close()


def _close(  # noqa: C901, PLR0912, PLR0915, PLR0917
    patients_file: Path,
    events_file: Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    runner: Pool[_State],
    on_progress: Callable[[int], object] | None,
) -> tuple[CloseSummary, list[RowProblem]] | None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import polars as pl  # noqa: PLC0415

    # The plain-file checks read every byte: with workers, they scan while polars reads.
    scans = [runner.submit(_scan_task, patients_file), runner.submit(_scan_task, events_file)]
    # patients.csv is read and split in a thread while this one reads events.csv (polars
    # works without the interpreter lock, the cell parsers with it). The header's refusals
    # are raised here, first, as the reference close raises them (the thread takes what was read).
    patients_header = _read_header(patients_file, PATIENT_COLUMNS, _PATIENT_REQUIRED)

    def read_patients() -> tuple[_Patients, pl.Series] | None:
        found: list[pl.Series] = []
        read = _read(
            patients_file,
            PATIENT_COLUMNS,
            _PATIENT_REQUIRED,
            offsets=found,
            scanned=scans[0].result,
            header_read=patients_header,
        )
        if read is None:
            return None
        return _Patients(patients_file, read[0], month, rules.switches), found[0]

    with ThreadPoolExecutor(1, thread_name_prefix="carecore-close-patients") as pool:
        patients_job = pool.submit(read_patients)
        offsets: list[pl.Series] = []
        try:
            read = _read(
                events_file,
                EVENT_COLUMNS,
                _EVENT_REQUIRED,
                columns=_EVENT_READ,
                categorical=_EVENT_CATEGORIES,
                offsets=offsets,
                scanned=scans[1].result,
            )
        except errors.CarecoreError:
            # patients.csv's problems come first, as when it was read first: its own
            # refusal, or its hand-over to the reference code (which reports it first).
            if patients_job.result() is None:
                return None
            raise
        patients = patients_job.result()
    if read is None or patients is None:
        return None
    events, header = read
    table, patient_offsets = patients
    offsets.insert(0, patient_offsets)
    if table.duplicates:
        return None
    pf = table.frame
    # Rows the reference reader must read (and maybe refuse); the clean ones are good rows.
    reference_lines = pf.filter(~pl.col("_clean")).get_column("__line__").to_list()
    reference_rows, patient_problems = table.reference_rows(reference_lines)
    good = pl.concat(
        [
            pf.filter(pl.col("_clean")).select(
                pl.col("__line__"), pl.col("_patient_id").alias("_pid")
            ),
            pl.DataFrame(
                {
                    "__line__": list(reference_rows),
                    "_pid": [r.patient.id for r in reference_rows.values()],
                },
                schema={"__line__": pl.Int64, "_pid": pl.String},
            ),
        ]
    ).sort("__line__")
    # The clean rows' values; the cells themselves are not needed any more (memory).
    clean = pf.filter(pl.col("_clean")).select(
        pl.col("__line__"), pl.exclude("__line__", *table.header)
    )
    del pf
    table.forget_cells()
    # Events: the patient each row names (stripped, as the reference reader does), and whether
    # the row is a clean time entry the fast path takes.
    light = runner.state.light
    present = [c for c in events.columns if c != "__line__"]

    def col(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.String) if name in present else pl.lit("")

    events = events.with_columns(_stripped(events, "patient_id").alias("_pid"))
    # Device readings rows (RPM): each distinct row read once by the reference parser; a
    # patient's one clean readings row joins the canonical month (None: the reference code).
    device_facts: list[Any] = []
    # (__line__, _dev) of the readings rows read cleanly; the event rows carry only a flag
    # (a column of ids over every row would cost memory).
    device_map = pl.DataFrame(schema={"__line__": pl.Int64, "_dev": pl.Int64})
    if "type" in present and header and header[0] == "patient_id":
        device_rows = events.filter(pl.col("type") == "device_readings").select("__line__")
        if device_rows.height:
            lines_of = device_rows.get_column("__line__")
            ats, lengths = _spans(offsets[1], lines_of)
            with events_file.open("rb") as handle:
                texts = _read_texts(handle, ats, lengths)
            found, device_facts = read_device_rows(events_file, header, lines_of.to_list(), texts)
            device_map = pl.DataFrame(
                {"__line__": lines_of.cast(pl.Int64), "_dev": pl.Series(found, dtype=pl.Int64)}
            ).drop_nulls()
    events = events.with_columns(
        pl.col("__line__").is_in(device_map.get_column("__line__").implode()).alias("_dev")
    )
    if "family" in present and "role" in present and "minutes" in present:
        events = events.with_columns(
            _mapped(events, "date", lambda t: _pdate(light._date(t)), pl.Date).alias("_day"),  # noqa: SLF001
            _mapped(
                events,
                "minutes",
                lambda t: int(t) if t.isdigit() and int(t) in _ENTRY_MINUTES else None,
                pl.Int64,
            ).alias("_minutes"),
            (
                _mapped(
                    events,
                    "credential",
                    lambda t: light.credentials[t.upper()].value if t else "",
                    pl.Categorical,
                )
                if "credential" in present
                else pl.lit("", pl.Categorical)
            ).alias("_credential"),
            (
                _mapped(events, "interactive", lambda t: light.flags[t], pl.Boolean)
                if "interactive" in present
                else pl.lit(value=False)
            ).alias("_interactive"),
        )
        events = events.with_columns(
            (
                (
                    (pl.col("type") == "time_entry")
                    & pl.col("family").is_in(list(_KEYED))
                    & pl.col("role").is_in([r.value for r in RoleClass])
                    & pl.col("_day").is_not_null()
                    & pl.col("_minutes").is_not_null()
                    & pl.col("_credential").is_not_null()
                    & pl.col("_interactive").is_not_null()
                ).fill_null(value=False)
                | (
                    (pl.col("type") == "device_readings")
                    & pl.col("_dev")
                    & pl.col("_day").is_not_null()
                ).fill_null(value=False)
            ).alias("_ok")
        )
    else:
        events = events.with_columns(
            pl.lit(value=False).alias("_ok"),
            pl.lit(None, pl.Date).alias("_day"),
            pl.lit(None, pl.Int64).alias("_minutes"),
            pl.lit(None, pl.Categorical).alias("_credential"),
            pl.lit(None, pl.Boolean).alias("_interactive"),
        )
    events = events.select(
        "__line__",
        "_pid",
        "_ok",
        "_dev",
        "_day",
        "_minutes",
        pl.col("role") if "role" in present else pl.lit("", pl.Categorical).alias("role"),
        pl.col("family") if "family" in present else pl.lit("", pl.Categorical).alias("family"),
        "_credential",
        "_interactive",
        col("practitioner").alias("_practitioner_cell"),
    )
    # Patient order: first event row, then patients without events in patients.csv order.
    firsts = events.group_by("_pid").agg(pl.col("__line__").min().alias("_first"))
    good = good.join(firsts, on="_pid", how="left").with_columns(
        pl.col("_first").is_not_null().alias("_has_events")
    )
    good = good.sort(
        pl.col("_has_events").not_(), pl.col("_first"), pl.col("__line__")
    ).with_row_index("_order")
    good = good.with_columns(pl.col("_order").cast(pl.Int64))
    # Columnar patients: a clean row whose event rows are all clean and for their own practitioner,
    # and that the canonical form decides (see _declined).
    # Each row carries its clean patient's order (``_porder``): the joins below are on it,
    # not on the patient id's text.
    events = (
        events.join(
            clean.select(
                "__line__",
                pl.col("_patient_id").alias("_pid"),
                pl.col("_practitioner").alias("_own"),
                "_date_of_death",
                "_established",
                *(f"_counts_from_{f}" for f in _KEYED),
            )
            .join(good.select("__line__", pl.col("_order").alias("_porder")), on="__line__")
            .drop("__line__"),
            on="_pid",
            how="left",
        )
        .with_columns(
            (
                pl.col("_ok")
                & pl.col("_own").is_not_null()
                & (
                    (pl.col("_practitioner_cell") == "")
                    | (pl.col("_practitioner_cell") == pl.col("_own"))
                )
                & ~_declined(month)
                # The canonical patient is established (RPM requires it): for an RPM time
                # row, and for every readings row the reference parser reads as RPM
                # (``_dev``), whatever its family cell's spelling (``rpm``, `` RPM``).
                & ((~pl.col("_dev") & (pl.col("family") != _RPM)) | pl.col("_established"))
                # A readings row of a patient with a date of death: a device code's date of
                # service (its period's end, maybe after the month) is bounded by the day of
                # death, or its refusal names it (the reference code closes the month).
                & ~(pl.col("_dev") & pl.col("_date_of_death").is_not_null())
            )
            .fill_null(value=False)
            .alias("_ok")
        )
        .drop(
            "_own",
            "_practitioner_cell",
            "_date_of_death",
            "_established",
            *(f"_counts_from_{f}" for f in _KEYED),
        )
    )
    # One readings row a month at most: a patient with more goes to the reference code.
    readings = events.filter(pl.col("_ok") & pl.col("_dev"))
    several = readings.group_by("_pid").len().filter(pl.col("len") > 1).select("_pid")
    bad_pids = pl.concat([events.filter(~pl.col("_ok")).select("_pid"), several]).unique()
    good = good.join(
        clean.select("__line__", pl.lit(value=True).alias("_clean_row")), on="__line__", how="left"
    ).with_columns(
        (
            pl.col("_clean_row").fill_null(value=False)
            & ~pl.col("_pid").is_in(bad_pids.get_column("_pid").implode())
        ).alias("_columnar")
    )
    # Columnar patients' facts and entries.
    cp = good.filter(pl.col("_columnar")).select("__line__", "_order").join(clean, on="__line__")
    # The columnar patients' readings rows: the reading per patient, and the rows' lines.
    cp_orders = cp.get_column("_order").implode()
    device_lines = (
        events.filter(pl.col("_ok") & pl.col("_dev") & pl.col("_porder").is_in(cp_orders))
        .select(pl.col("_porder").alias("_order"), "__line__")
        .join(device_map, on="__line__")
    )
    cp = cp.join(device_lines.select("_order", "_dev"), on="_order", how="left")
    device_lines = device_lines.select("_order", "__line__")
    entries = events.filter(
        pl.col("_ok") & ~pl.col("_dev") & pl.col("_porder").is_in(cp_orders)
    ).select(
        pl.col("_porder").alias("_order"),
        "__line__",
        "_day",
        "_minutes",
        pl.col("role").alias("_role"),
        pl.col("family").alias("_family"),
        "_credential",
        "_interactive",
    )
    # From here the event rows are needed only for their line and patient (memory).
    events = events.select("__line__", "_pid", "_porder")
    del cp_orders
    start, end = _pdate(month.start), _pdate(month.end)
    first_day = _counts_from("_family")
    # What each minute counts toward (primitives.minute_class: role, credential and family).
    group_of = _minute_class(rules)
    entries = (
        entries.join(cp.select("_order", *(f"_counts_from_{f}" for f in _KEYED)), on="_order")
        .with_columns(
            (
                (pl.col("_day") >= start)
                & (pl.col("_day") <= end)
                & (first_day.is_null() | (pl.col("_day") >= first_day))
            ).alias("_inside"),
            group_of.alias("_group"),
        )
        .drop(*(f"_counts_from_{f}" for f in _KEYED))
        .sort("_order", "__line__")
    )
    # RPM minutes per class (counted toward treatment management or not), and whether a
    # counted one was interactive (primitives.interactive_month).
    rpm_classes = (int(MinuteClass.STAFF), int(MinuteClass.NONE))
    rpm_names = [f"_t_{_RPM}_{g}" for g in rpm_classes]
    total_names = [f"_t_{f}_{g}" for f in _FAMILIES for g in _CLASSES]
    totals = (
        entries.filter(pl.col("_inside"))
        .group_by("_order")
        .agg(
            *(
                pl.col("_minutes")
                .filter((pl.col("_family") == f) & (pl.col("_group") == g))
                .sum()
                .alias(f"_t_{f}_{g}")
                for f in _FAMILIES
                for g in _CLASSES
            ),
            *(
                pl.col("_minutes")
                .filter((pl.col("_family") == _RPM) & (pl.col("_group") == g))
                .sum()
                .alias(f"_t_{_RPM}_{g}")
                for g in rpm_classes
            ),
            pl.col("_interactive")
            .filter((pl.col("_family") == _RPM) & (pl.col("_group") == int(MinuteClass.STAFF)))
            .any()
            .alias("_rpm_interactive"),
        )
    )
    cp = cp.join(totals, on="_order", how="left").with_columns(
        pl.col(n).fill_null(0) for n in (*total_names, *rpm_names)
    )
    # A month with RPM data (a readings row, or an RPM time entry on any day: the reference
    # close's fast path takes no such month) keys its readings, RPM consent and RPM minutes;
    # others leave them empty (their canonical months are as before).
    rpm_orders = entries.filter(pl.col("_family") == _RPM).select("_order").unique()
    cp = cp.with_columns(
        pl.col("_order").is_in(rpm_orders.get_column("_order").implode()).alias("_rpm_time")
    )
    rpm = pl.col("_dev").is_not_null() | pl.col("_rpm_time")
    cp = cp.with_columns(
        pl.when(rpm).then(pl.col(f"_consented_{_RPM}")).otherwise(None).alias("_rpm_consented"),
        pl.when(rpm)
        .then(pl.col("_rpm_interactive").fill_null(value=False))
        .otherwise(None)
        .alias("_rpm_interactive"),
    )
    flag_names = [
        f"_{kind}_{f}" for f in _FAMILIES for kind in ("consented", "visit_ok", "planned")
    ]
    key_columns = [
        *flag_names,
        "_conditions",
        "_qmb",
        "_died",
        "_credential",
        "_primary_care_focal_point",
        *total_names,
        "_dev",
        "_rpm_consented",
        "_rpm_interactive",
        *rpm_names,
    ]
    # Distinct canonical months, numbered in the order the writer meets them (by their first
    # patient): the writer can then write a chunk once the batches holding its keys are back.
    keys = (
        cp.group_by(key_columns)
        .agg(pl.col("_order").min().alias("_first"), pl.col("_order").alias("_orders"))
        .sort("_first")
        .with_row_index("_key")
        .with_columns(pl.col("_key").cast(pl.Int64))
    )
    # Each patient's key, by order (a join on the key columns themselves costs far more).
    key_of = keys.select("_key", pl.col("_orders").alias("_order")).explode(
        "_order", **_non_empty_lists()
    )
    keys = keys.drop("_orders")
    # Patients the reference code closes: the rows the main process has not read are read
    # in the workers (by byte offset), with the patients' event rows.
    patient_offsets, event_offsets = offsets
    python_patients = good.filter(~pl.col("_columnar")).select("_order", "__line__", "_pid")
    python_batches = _batches(
        python_patients,
        events.filter(
            pl.col("_porder").is_null()
            | pl.col("_porder").is_in(python_patients.get_column("_order").implode())
        )
        .join(python_patients.select("_pid", "_order"), on="_pid")
        .select("_order", "__line__"),
        reference_rows,
        patient_offsets,
        event_offsets,
        _BATCH,
    )
    # Workers get every batch now (they must never wait for the writer), in the order the
    # writer needs them; inline, a batch runs when the writer needs it, so its text is not
    # held for long.
    results = _Results(
        runner,
        python_batches,
        (header, table.header),
        render=out is not None,
        in_flight=0 if runner.parallel else 1,
    )
    del python_batches, python_patients
    # The reference engine, once per distinct canonical month. With worker processes, each
    # batch goes to the workers (idle so far) as soon as it is built, after the reference
    # code's batches of earlier patients. Inline, a batch runs when its result is collected.
    template_jobs: list[Pending[Any]] = []
    batch_keys: list[tuple[Any, ...]] = []
    batch_first = 0

    def flush(batch: list[tuple[Any, ...]]) -> None:
        if runner.parallel:
            results.submit_before(batch_first)
        template_jobs.append(runner.submit(_template_batch, batch))

    # Per key, by position: the flags of each family, then the other fields, then the totals.
    flag_at = [
        tuple(key_columns.index(f"_{kind}_{f}") for kind in ("consented", "visit_ok", "planned"))
        for f in _FAMILIES
    ]
    conditions_at, qmb_at, died_at, credential_at, focal_at = (
        key_columns.index(n)
        for n in ("_conditions", "_qmb", "_died", "_credential", "_primary_care_focal_point")
    )
    total_at = [
        (key_columns.index(f"_t_{f}_{g}"), (ServiceFamily(f), g))
        for f in _FAMILIES
        for g in _CLASSES
    ]
    classes_of = table.condition_classes
    dev_at, rpm_consented_at, rpm_interactive_at = (
        key_columns.index(n) for n in ("_dev", "_rpm_consented", "_rpm_interactive")
    )
    rpm_at = [(key_columns.index(n), g) for n, g in zip(rpm_names, rpm_classes, strict=True)]
    for key, first_order, *record in keys.select("_key", "_first", *key_columns).iter_rows():
        shape = (
            tuple((record[a], record[b], record[c]) for a, b, c in flag_at),
            classes_of[record[conditions_at]],
            record[qmb_at],
            record[died_at],
        )
        minutes = {name: record[at] for at, name in total_at if record[at]}
        device: Device | None = None
        if record[rpm_consented_at] is not None:
            dev = record[dev_at]
            device = (
                None if dev is None else device_facts[dev],
                record[rpm_consented_at],
                record[rpm_interactive_at],
                tuple((g, record[at]) for at, g in rpm_at),
            )
        if not batch_keys:
            batch_first = first_order
        batch_keys.append((key, shape, record[credential_at], record[focal_at], minutes, device))
        if len(batch_keys) >= _BATCH:
            flush(batch_keys)
            batch_keys = []
    if batch_keys:
        flush(batch_keys)
    if runner.parallel:
        results.submit_before(None)
    cp = (
        cp.join(key_of, on="_order", how="left")
        .select(
            "_order",
            "__line__",
            "_key",
            "_patient_id",
            "_practitioner",
            "_credential",
            "_conditions_text",
            *(f"_{kind}_{f}" for kind in ("consent", "care_plan") for f in _KEYED),
        )
        .sort("_order")
    )
    del keys, key_of
    # Orphans: rows naming no good patient.
    orphan_rows = (
        events.filter(pl.col("_porder").is_null())
        .join(good.select("_pid"), on="_pid", how="anti")
        .join(firsts, on="_pid", how="left")
        .sort("_first", "__line__")
        .select("__line__", "_pid")
    )
    orphans = [
        RowProblem(
            file=str(events_file),
            line=line,
            column="patient_id",
            message="not in patients.csv",
            value=pid or None,
        )
        for line, pid in orphan_rows.iter_rows()
    ]
    del events, clean, bad_pids, orphan_rows, firsts
    total = good.height
    del good

    def move(bad: list[int]) -> None:
        # Months the writer cannot render (a family outside CCM/PCM/BHI billed): the
        # reference code closes these patients, here. Their key's batch is taken before
        # the writer reaches the first of them (a key's patients come after its first).
        moved = cp.filter(pl.col("_key").is_in(bad)).select("_order", "__line__", "_patient_id")
        (moved_batch,) = _batches(
            moved,
            pl.concat([entries.select("_order", "__line__"), device_lines]).filter(
                pl.col("_order").is_in(moved.get_column("_order").implode())
            ),
            {},
            patient_offsets,
            event_offsets,
            max(moved.height, 1),
        )
        results.add(
            _patient_batch(runner.state, moved_batch, header, table.header, out is not None)
        )

    evaluated = _Evaluated(template_jobs, move)
    template_jobs.clear()
    with CloseWriter(out, month, rules) as writer:
        if out is not None:
            _write_chunks(
                writer,
                cp,
                entries,
                results,
                evaluated,
                (table.conditions_json, table.diagnoses),
                total,
                month,
                rules,
                on_progress,
            )
        evaluated.upto(None)
        # Counters (summary.json) for the columnar patients, from the per-key counts.
        if evaluated.unrenderable:
            cp = cp.filter(~pl.col("_key").is_in(evaluated.unrenderable))
        line_frame, line_table, _, _, key_frame = evaluated.frames()
        per_patient_keys = cp.group_by("_key").len()
        per_key = line_frame.join(per_patient_keys, on="_key").join(
            line_table.select("tid", "code", "units", "amount"), on="tid"
        )
        line_counts = per_key.group_by("code").agg(
            pl.col("len").sum().alias("lines"),
            (pl.col("len") * pl.col("units")).sum().alias("units"),
        )
        for code, lines, units in line_counts.iter_rows():
            writer.lines_by_code[code] += lines
            writer.units_by_code[code] += units
        for code, amount, count in per_key.select("code", "amount", "len").iter_rows():
            if amount:
                writer.amount_by_code[code] = (
                    writer.amount_by_code.get(code, Decimal(0)) + Decimal(amount) * count
                )
            else:  # no listed fee
                writer.unpriced_by_code[code] += count
        counted = per_patient_keys.join(
            key_frame.select("_key", "n_lines", "n_denials"), on="_key", how="left"
        )
        writer.patients += cp.height
        writer.billed += int(counted.filter(pl.col("n_lines") > 0).get_column("len").sum() or 0)
        writer.claim_count += int((counted["len"] * counted["n_lines"]).sum() or 0)
        writer.denial_count += int((counted["len"] * counted["n_denials"]).sum() or 0)
        # The reference code's patients: counters, refused rows and text, as their batches finish.
        results.upto(None)
        for state in results.states:
            writer.merge(state, None)
        if on_progress is not None:
            on_progress(total)
        event_problems = results.problems()
        summary = writer.finish(extra_rejected=len(patient_problems) + len(orphans))
    return summary, [*patient_problems, *event_problems, *orphans]


_LINE_SCHEMA = {
    "code": "String",
    "units": "Int64",
    "amount": "String",
    "family": "String",
    "personal": "Boolean",
    "need": "Int64",
    "fixed": "String",
    **dict.fromkeys(_LINE_LITERALS, "String"),
}


class _Evaluated:
    """The distinct canonical months' results, taken from the workers in key order as the writer needs them.

    Batch *i* holds keys ``i * _BATCH`` to ``(i + 1) * _BATCH - 1``. *move*
    is called with the keys of each batch the writer cannot render. Each
    batch's rows and texts become frames once, when taken. The rows and the
    keys are chained to those taken before (polars appends the chunks); the
    text tables, a few thousand rows that every chunk of the writer joins,
    are put back into one chunk (joins against tens of small chunks cost
    more than the copy).
    """

    def __init__(self, jobs: list[Pending[Any]], move: Callable[[list[int]], None]) -> None:
        import polars as pl  # noqa: PLC0415

        self.jobs: list[Pending[Any] | None] = list(jobs)
        self.move = move
        self.taken = 0
        self.unrenderable: list[int] = []
        self._row_schema = {"_key": pl.Int64, "k": pl.Int64, "tid": pl.Int64}
        self._key_schema = {
            "_key": pl.Int64,
            "n_lines": pl.Int64,
            "n_denials": pl.Int64,
            **{f"bills_{f}": pl.Boolean for f in _KEYED},
            "denials_json": pl.String,
            "hints_json": pl.String,
            "evaluated_by": pl.String,
        }
        self._line_schema = {name: getattr(pl, kind) for name, kind in _LINE_SCHEMA.items()}
        self._denial_schema = dict.fromkeys(_DENIAL_LITERALS, pl.String)
        self._line_rows = pl.DataFrame(schema=self._row_schema)
        self._line_table = self._texts([], self._line_schema, 0)
        self._denial_rows = pl.DataFrame(schema=self._row_schema)
        self._denial_table = self._texts([], self._denial_schema, 0)
        self._keys = pl.DataFrame(schema=self._key_schema)

    @staticmethod
    def _texts(rows: list[dict[str, Any]], schema: dict[str, Any], first: int) -> pl.DataFrame:
        """A batch's line or denial texts by ``tid``, numbered from *first*."""
        import polars as pl  # noqa: PLC0415

        return (
            pl.DataFrame(rows, schema=schema)
            .with_row_index("tid", offset=first)
            .with_columns(pl.col("tid").cast(pl.Int64))
        )

    def upto(self, key: int | None) -> None:
        """Take the batches holding the keys up to *key* (all when None)."""
        import polars as pl  # noqa: PLC0415

        last = len(self.jobs) if key is None else min(len(self.jobs), key // _BATCH + 1)
        line_rows, line_table = [self._line_rows], [self._line_table]
        denial_rows, denial_table = [self._denial_rows], [self._denial_table]
        keys = [self._keys]
        lines_before, denials_before = self._line_table.height, self._denial_table.height
        bad: list[int] = []
        while self.taken < last:
            job = self.jobs[self.taken]
            self.jobs[self.taken] = None  # its result is held below, once
            self.taken += 1
            assert job is not None  # noqa: S101 - taken once
            (lines_part, line_part, denials_part, denial_part, keys_part), bad_part = job.result()
            line_rows.append(
                pl.DataFrame(lines_part, schema=self._row_schema, orient="row").with_columns(
                    pl.col("tid") + lines_before
                )
            )
            line_table.append(self._texts(line_part, self._line_schema, lines_before))
            lines_before += len(line_part)
            denial_rows.append(
                pl.DataFrame(denials_part, schema=self._row_schema, orient="row").with_columns(
                    pl.col("tid") + denials_before
                )
            )
            denial_table.append(self._texts(denial_part, self._denial_schema, denials_before))
            denials_before += len(denial_part)
            keys.append(pl.DataFrame(keys_part, schema=self._key_schema, orient="row"))
            bad += bad_part
        if len(keys) > 1:
            # The keys' texts are large: their frames, and the rows', are chained, not copied.
            self._line_rows = pl.concat(line_rows, rechunk=False)
            self._line_table = pl.concat(line_table, rechunk=True)
            self._denial_rows = pl.concat(denial_rows, rechunk=False)
            self._denial_table = pl.concat(denial_table, rechunk=True)
            self._keys = pl.concat(keys, rechunk=False)
        if bad:
            self.unrenderable += bad
            self.move(bad)

    def frames(
        self,
    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """Line rows, line texts (by ``tid``), denial rows, denial texts, and the keys taken so far."""
        return (
            self._line_rows,
            self._line_table,
            self._denial_rows,
            self._denial_table,
            self._keys,
        )


class _Results:
    """The reference code's batches (in close order), a few in flight, taken as the writer needs them."""

    def __init__(
        self,
        runner: Pool[_State],
        batches: list[_Batch],
        headers: tuple[list[str], list[str]],
        *,
        render: bool,
        in_flight: int = 8,
    ) -> None:
        from collections import deque  # noqa: PLC0415

        self.runner = runner
        self.headers = headers
        self.render = render
        self.in_flight = in_flight
        self.waiting = deque(batches)
        self.jobs: deque[tuple[int, Pending[Any]]] = deque()
        self.states: list[dict[str, Any]] = []
        self.found: list[tuple[int, list[RowProblem]]] = []
        self.pending: list[tuple[int, str, str, str, str]] = []
        self._top_up()

    def _top_up(self) -> None:
        while self.waiting and len(self.jobs) < max(self.in_flight, 1):
            self._submit()

    def _submit(self) -> None:
        batch = self.waiting.popleft()
        self.jobs.append(
            (batch[0][0][0], self.runner.submit(_patient_batch, batch, *self.headers, self.render))
        )

    def submit_before(self, order: int | None) -> None:
        """Submit now the waiting batches of the patients before *order* (every batch when None)."""
        while self.waiting and (order is None or self.waiting[0][0][0][0] < order):
            self._submit()

    def add(self, done: tuple[Any, ...]) -> None:
        """A batch closed out of order (patients moved back from the columnar side)."""
        texts, state, problems = done
        self.states.append(state)
        self.found += problems
        self.pending += texts

    def upto(self, last: int | None) -> pl.DataFrame:
        """Text of the patients before order *last* (all when None), in order, taken out."""
        import polars as pl  # noqa: PLC0415

        self._top_up()
        # Batches hold increasing orders: one starting at *last* or later has none before it.
        while self.jobs and (last is None or self.jobs[0][0] < last):
            self.add(self.jobs.popleft()[1].result())
            self._top_up()
        self.pending.sort(key=lambda item: item[0])
        cut = (
            len(self.pending)
            if last is None
            else next(
                (i for i, item in enumerate(self.pending) if item[0] >= last), len(self.pending)
            )
        )
        taken, self.pending = self.pending[:cut], self.pending[cut:]
        return pl.DataFrame(
            taken,
            schema={
                "_order": pl.Int64,
                "claims_csv": pl.String,
                "claims_json": pl.String,
                "denials_csv": pl.String,
                "audit": pl.String,
            },
            orient="row",
        )

    def problems(self) -> list[RowProblem]:
        """The refused rows of every batch, in close order."""
        return [p for _, found in sorted(self.found, key=lambda pair: pair[0]) for p in found]


#: Room for a track's running total inside the search key of :func:`_dates_of_service`.
_TOTAL_BITS = 40


def _iso(
    frame: pl.DataFrame, column: str, known: tuple[pl.Series, pl.Series] | None = None
) -> pl.Expr:
    """*column* of *frame* (a Date) as ``YYYY-MM-DD`` text: each distinct day is formatted once.

    polars formats dates slowly (a few hundred ns each); a chunk holds few
    distinct days, so a lookup is several times faster. *known*: every day the
    column can hold and its text, worked out once for the close.
    """
    import polars as pl  # noqa: PLC0415

    if known is None:
        days = frame.get_column(column).unique().drop_nulls()
        known = (days, days.dt.to_string("%Y-%m-%d"))
    return pl.col(column).replace_strict(*known, default=None, return_dtype=pl.String)


def _day_texts(days: pl.Series) -> tuple[pl.Series, pl.Series]:
    """The distinct days of *days* and their ``YYYY-MM-DD`` text (see :func:`_iso`)."""
    distinct = days.unique().drop_nulls()
    return distinct, distinct.dt.to_string("%Y-%m-%d")


def _dates_of_service(
    lines: pl.DataFrame,
    entries: pl.DataFrame,
    first: int,
    end: dt.date | None,
    known: tuple[pl.Series, pl.Series] | None = None,
) -> pl.Series:
    """``_dos`` of each line: the day its track's running total reaches the line's ``need``.

    As :func:`carecore.billing.primitives.date_of_service` does for the
    engine: the entries inside the month, in (day, file line) order, of the
    line's family and of the minute classes that count toward its track
    (:func:`~carecore.billing.primitives.counts_toward`); the period's end
    when the total never gets there. *lines* and *entries* hold orders from *first* on (one chunk);
    *known*: the month's days and their text (see :func:`_iso`).

    Each (patient, family, track) is a group; its running total strictly
    increases (minutes are at least 1), so ``group << 40 | total`` is sorted
    and one binary search per line finds the entry that reaches the need.
    """
    import polars as pl  # noqa: PLC0415

    family = {name: i for i, name in enumerate(_KEYED)}

    def group(order: pl.Expr, fam: pl.Expr, personal: pl.Expr) -> pl.Expr:
        return (
            (order - first) * len(_KEYED) + fam.replace_strict(family, return_dtype=pl.Int64)
        ) * 2 + personal.cast(pl.Int64)

    inside = entries.filter(pl.col("_inside"))
    classes = {
        track.personal: [int(kind) for kind in MinuteClass if counts_toward(track, kind)]
        for track in TIME_TRACKS
    }
    counted = pl.concat(
        [
            inside.filter(pl.col("_group").is_in(kinds)).select(
                group(pl.col("_order"), pl.col("_family"), pl.lit(is_personal)).alias("_g"),
                "_day",
                "__line__",
                "_minutes",
            )
            for is_personal, kinds in sorted(classes.items(), reverse=True)
        ]
    ).sort("_g", "_day", "__line__")
    running = counted.get_column("_minutes").cum_sum()
    starts = counted.get_column("_g").diff().fill_null(1) != 0
    before = (
        (running - counted.get_column("_minutes"))
        .zip_with(starts, pl.Series([None], dtype=pl.Int64))
        .forward_fill()
    )
    keys = counted.get_column("_g") * (1 << _TOTAL_BITS) + (running - before)
    wanted = lines.select(
        group(pl.col("_order"), pl.col("family"), pl.col("personal")).alias("_g"),
        pl.col("need").fill_null(1),  # a device code's date is kept as text (``fixed``)
    )
    targets = wanted.get_column("_g") * (1 << _TOTAL_BITS) + wanted.get_column("need")
    found = keys.search_sorted(targets, "left").cast(pl.Int64)
    days = counted.get_column("_day")
    if counted.height == 0:
        return pl.repeat(str(end), lines.height, eager=True).alias("_dos")
    at = found.clip(0, counted.height - 1)
    hit = (found < counted.height) & (
        keys.gather(at) < (wanted.get_column("_g") + 1) * (1 << _TOTAL_BITS)
    )
    reached = days.gather(at).zip_with(hit, pl.repeat(end, lines.height, eager=True, dtype=pl.Date))
    frame = reached.to_frame("_dos")
    return frame.select(_iso(frame, "_dos", known)).to_series()


class _Background:
    """Appends chunks of text to the writer's files in a thread, while the next chunk is built.

    The writes (system time, a good share of a large close) overlap with
    polars' work on the next chunk; at most two chunks wait. The first
    failure is raised by the next :meth:`put` or by :meth:`finish`.
    """

    def __init__(self, writer: CloseWriter) -> None:
        import queue  # noqa: PLC0415
        import threading  # noqa: PLC0415

        self.writer = writer
        self.queue: queue.Queue[_Texts | None] = queue.Queue(maxsize=2)
        self.failed: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="carecore-close-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (texts := self.queue.get()) is not None:
            if self.failed:
                continue
            try:
                _write_texts(self.writer, texts)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.failed.append(exc)

    def put(self, texts: _Texts) -> None:
        """Queue *texts* for writing (waits while two chunks are queued)."""
        if self.failed:
            self.finish()
        self.queue.put(texts)

    def stop(self) -> None:
        """Let the thread write what is queued and end (nothing is raised)."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()

    def finish(self) -> None:
        """Wait for every queued chunk to be written; raise the first failure."""
        self.stop()
        if self.failed:
            raise self.failed[0]


def _write_chunks(  # noqa: PLR0915, PLR0917
    writer: CloseWriter,
    cp: pl.DataFrame,
    entries: pl.DataFrame,
    results: _Results,
    evaluated: _Evaluated,
    frames: tuple[pl.DataFrame, pl.DataFrame],
    total: int,
    month: ServicePeriod,
    rules: RuleSet,
    on_progress: Callable[[int], object] | None,
) -> None:
    """Build and append the text of the columnar patients, merged with the reference code's, in order.

    Each chunk takes the canonical months' results it needs from *evaluated*,
    so the first chunks are written while the workers evaluate the others.
    """
    import polars as pl  # noqa: PLC0415

    conditions_json, diagnoses = frames
    end = _pdate(month.end)
    prac = pl.col("_practitioner")
    dos_at_end = not dates_at_threshold(rules.switches)
    encoder = writer.encoder
    consent_items = {f: encoder.consent_item_template(f) for f in _KEYED}
    plan_items = {f: encoder.care_plan_item_template(f) for f in _KEYED}

    def family_part(frame: pl.DataFrame, kind: str, f: str) -> pl.Expr:
        day = plain_json_or_null_expr(_iso(frame, f"_{kind}_{f}", known_days))
        value = (
            consent_items[f].expr(obtained_on=day)
            if kind == "consent"
            else plan_items[f].expr(established_on=day)
        )
        return pl.when(pl.col(f"bills_{f}")).then(value).otherwise(None)

    # Per patient, the holes hold plain text (checked when read): JSON strings are quoted only.
    pid_json = plain_json_expr(pl.col("_patient_id"))
    prac_json = plain_json_expr(prac)
    dos_json = plain_json_expr(pl.col("_dos"))
    packet = encoder.packet_template().partial(rows_rejected="")
    practitioner_item = Template.of(encoder.practitioner_item, "id", "credential")
    log_item = encoder.log_item_template()

    # Where each chunk's patients and entries start (both frames are in close order).
    cuts = pl.Series(range(0, max(total, 1) + _CHUNK, _CHUNK), dtype=pl.Int64)
    cp_cuts = cp.get_column("_order").search_sorted(cuts, "left").to_list()
    entry_cuts = entries.get_column("_order").search_sorted(cuts, "left").to_list()

    def window(frame: pl.DataFrame, at: list[int], first: int) -> pl.DataFrame:
        lo, hi = at[first // _CHUNK], at[first // _CHUNK + 1]
        return frame.slice(lo, hi - lo)

    # The month's days (the time log's days and the dates of service are inside it), and
    # every day a packet's consent and care-plan entries name: each formatted once.
    first_day = dt.date(month.start.year, month.start.month, month.start.day)
    month_days = pl.Series(
        [first_day + dt.timedelta(days=i) for i in range((month.end - month.start).days + 1)],
        dtype=pl.Date,
    )
    in_month = _day_texts(month_days)
    known_days = _day_texts(
        pl.concat(
            [
                month_days,
                *(cp.get_column(f"_{k}_{f}") for k in ("consent", "care_plan") for f in _KEYED),
            ]
        )
    )

    # The packet's frame, cut where the time log's and the claim lines' items go: each file
    # is written as fragments in close order (a patient's pieces, then the next patient's),
    # so no patient's text is put together on its own.
    head, rest = packet.cut("time_log")
    middle, tail = rest.cut("claim_lines")

    background = _Background(writer)
    try:
        for first in range(0, max(total, 1), _CHUNK):
            last = first + _CHUNK
            chunk = window(cp, cp_cuts, first)
            if chunk.height:
                evaluated.upto(chunk.get_column("_key").max())  # type: ignore[arg-type]
            line_frame, line_table, denial_frame, denial_table, key_frame = evaluated.frames()
            if evaluated.unrenderable:
                chunk = chunk.filter(~pl.col("_key").is_in(evaluated.unrenderable))
            chunk = chunk.join(
                key_frame.select("_key", "n_lines", "n_denials", *(f"bills_{f}" for f in _KEYED)),
                on="_key",
                how="left",
                maintain_order="left",
            ).with_columns(pl.col("_conditions_text").cast(pl.Int64))
            chunk_entries = window(entries, entry_cuts, first)
            lines = (
                chunk.select("_order", "_key", "_patient_id", "_practitioner", "_conditions_text")
                .join(line_frame, on="_key")
                .join(line_table, on="tid")
                .join(diagnoses, on=["_conditions_text", "family"], how="left")
            )
            if dos_at_end:
                lines = lines.with_columns(pl.lit(month.end.isoformat()).alias("_dos"))
            else:
                lines = lines.with_columns(
                    _dates_of_service(
                        lines,
                        chunk_entries.with_columns(pl.col("_family").cast(pl.String)),
                        first,
                        end,
                        in_month,
                    )
                )
            lines = (
                lines.with_columns(pl.coalesce("fixed", "_dos").alias("_dos"))
                .select(
                    "_order",
                    "k",
                    Template.columns_expr(
                        "c",
                        _CLAIM_CSV,
                        patient_id=pl.col("_patient_id"),
                        practitioner=prac,
                        date_of_service=pl.col("_dos"),
                        diagnoses=pl.col("_dx_csv"),
                    ).alias("claims_csv"),
                    Template.columns_expr(
                        "j",
                        _CLAIM_JSON,
                        patient_id=pid_json,
                        practitioner=prac_json,
                        date_of_service=dos_json,
                        diagnoses=pl.col("_dx_json"),
                    ).alias("claims_json"),
                    # The packet's claim lines, comma-separated per patient.
                    pl.concat_str(
                        pl.when(pl.col("k") > 0).then(pl.lit(",")).otherwise(pl.lit("")),
                        Template.columns_expr(
                            "a",
                            _AUDIT_LINE,
                            practitioner=prac_json,
                            date_of_service=dos_json,
                            diagnoses=pl.col("_dx_json"),
                        ),
                    ).alias("audit_line"),
                )
                .sort("_order", "k")
            )
            denials = (
                chunk.select("_order", "_key", "_patient_id", "_practitioner")
                .join(denial_frame, on="_key")
                .join(denial_table, on="tid")
                .select(
                    "_order",
                    "k",
                    Template.columns_expr(
                        "d", _DENIAL_CSV, patient_id=pl.col("_patient_id"), practitioner=prac
                    ).alias("text"),
                )
                .sort("_order", "k")
            )
            # Audit packets of the billed: the time log of the billed families inside the month.
            billed = (
                chunk.filter(pl.col("n_lines") > 0)
                .join(
                    key_frame.select("_key", "denials_json", "hints_json", "evaluated_by"),
                    on="_key",
                    how="left",
                )
                .join(conditions_json, on="_conditions_text", how="left")
            )
            log = _time_log(chunk_entries, billed, month, log_item, prac_json, known=in_month)
            billed = billed.sort("_order")
            frames_of = billed.select(
                "_order",
                head.expr(
                    patient_id=pid_json,
                    practitioners=practitioner_item.expr(
                        id=prac_json, credential=plain_json_expr(pl.col("_credential"))
                    ),
                    consent=pl.concat_str(
                        [family_part(billed, "consent", f) for f in _KEYED],
                        separator=",",
                        ignore_nulls=True,
                    ),
                    care_plan=pl.concat_str(
                        [family_part(billed, "care_plan", f) for f in _KEYED],
                        separator=",",
                        ignore_nulls=True,
                    ),
                    conditions=pl.col("_conditions_json"),
                ).alias("head"),
                middle.expr().alias("middle"),
                pl.concat_str(
                    tail.expr(
                        denials=pl.col("denials_json"),
                        hints=pl.col("hints_json"),
                        evaluated_by=pl.col("evaluated_by"),
                    ),
                    pl.lit("\n"),
                ).alias("tail"),
            )
            # The reference code's patients of the chunk, each file's text as one fragment.
            reference = results.upto(last)
            audit = _ordered(
                first,
                [
                    (0, reference.select("_order", pl.col("audit").alias("text"))),
                    (0, frames_of.select("_order", pl.col("head").alias("text"))),
                    (1, log),
                    (2, frames_of.select("_order", pl.col("middle").alias("text"))),
                    (3, lines.select("_order", pl.col("audit_line").alias("text"))),
                    (4, frames_of.select("_order", pl.col("tail").alias("text"))),
                ],
            )
            background.put((*_claims_and_denials(first, reference, lines, denials), audit))
            if on_progress is not None:
                on_progress(min(last, total))
        background.finish()
    finally:
        background.stop()


@functools.cache
def _non_empty_lists() -> dict[str, bool]:
    """``explode``'s options for lists that are never empty, on every supported polars.

    Polars 1.x before ``empty_as_null`` takes none; later 1.x warn (an error under
    the test suite) unless it is given; the lists exploded here are never empty,
    so its value changes nothing.
    """
    import polars as pl  # noqa: PLC0415

    takes = "empty_as_null" in inspect.signature(pl.DataFrame.explode).parameters
    return {"empty_as_null": False} if takes else {}


def _ordered(first: int, parts: list[tuple[int, pl.DataFrame]]) -> pl.Series:
    """The ``text`` of every part's rows, by (patient, part, row): each part in patient order.

    *parts* are (part number, frame of ``_order`` and ``text``) of the chunk
    of patients from order *first* on.
    """
    import polars as pl  # noqa: PLC0415

    # One integer key (patient, part, row) sorts fastest. Its room for a part's rows is
    # sized to the largest part (a fixed room of 2**24 rows put a larger part's rows in the
    # next patient's place); where such a key could pass 63 bits, a stable sort on
    # (patient, part) keeps each part's rows in their order instead.
    rows = max((frame.height for _, frame in parts), default=0).bit_length()
    count = 1 + max((part for part, _ in parts), default=0)
    last = max(
        (cast("int | None", frame.get_column("_order").max()) or first for _, frame in parts),
        default=first,
    )
    if (((last - first + 1) * count) << rows) < 1 << 62:
        keyed = [
            frame.select(
                (
                    (((pl.col("_order") - first) * count + part) * (1 << rows))
                    + pl.int_range(pl.len(), dtype=pl.Int64)
                ).alias("_s"),
                "text",
            )
            for part, frame in parts
        ]
        return pl.concat(keyed).sort("_s").get_column("text")
    keyed = [
        frame.select((pl.col("_order") - first).alias("_p"), pl.lit(part).alias("_k"), "text")
        for part, frame in parts
    ]
    return pl.concat(keyed).sort("_p", "_k", maintain_order=True).get_column("text")


def _claims_and_denials(
    first: int, reference: pl.DataFrame, lines: pl.DataFrame, denials: pl.DataFrame
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """claims.csv rows, claims.json items and denials.csv rows of a chunk, in close order.

    *lines* and *denials* are the columnar patients' rows in order; the
    reference code's patients (*reference*, a row each) go in their place.
    """
    import polars as pl  # noqa: PLC0415

    if not reference.height:
        return (
            lines.get_column("claims_csv"),
            lines.get_column("claims_json"),
            denials.get_column("text"),
        )
    claims_csv, claims_json, denials_csv = (
        _ordered(
            first,
            [
                (0, reference.select("_order", pl.col(column).alias("text"))),
                (1, frame.select("_order", pl.col(name).alias("text"))),
            ],
        )
        for column, frame, name in (
            ("claims_csv", lines, "claims_csv"),
            ("claims_json", lines, "claims_json"),
            ("denials_csv", denials, "text"),
        )
    )
    return claims_csv, claims_json, denials_csv


def _time_log(
    entries: pl.DataFrame,
    billed: pl.DataFrame,
    month: ServicePeriod,
    log_item: Template,
    prac_json: pl.Expr,
    *,
    known: tuple[pl.Series, pl.Series] | None = None,
) -> pl.DataFrame:
    """The packets' time-log items (``_order``, ``text``), in patient and log order.

    *known*: the month's days and their text (see :func:`_iso`).

    The entries of the billed families inside the month; each item after a
    patient's first starts with a comma.
    """
    import polars as pl  # noqa: PLC0415

    start, end = _pdate(month.start), _pdate(month.end)
    bills = pl.lit(value=False)
    for f in _KEYED:
        bills = pl.when(pl.col("_family") == f).then(pl.col(f"bills_{f}")).otherwise(bills)
    log = entries.join(
        billed.select("_order", "_practitioner", *(f"bills_{f}" for f in _KEYED)),
        on="_order",
    ).filter(bills & (pl.col("_day") >= start) & (pl.col("_day") <= end))
    # The time log's order (day, family, role, minutes, credential, interactive), with
    # each text column's values by their rank in text order.
    ranks = {name: _ranks(log, name) for name in ("_family", "_role", "_credential")}
    log = (
        log.sort(
            "_order",
            "_day",
            ranks["_family"],
            ranks["_role"],
            "_minutes",
            ranks["_credential"],
            "_interactive",
        )
        .with_columns(
            pl.col("_role").cast(pl.String),
            pl.col("_family").cast(pl.String),
            pl.col("_credential").cast(pl.String),
        )
        .select(
            "_order",
            pl.concat_str(
                pl.when(pl.col("_order") == pl.col("_order").shift(1))
                .then(pl.lit(","))
                .otherwise(pl.lit("")),
                log_item.expr(
                    date=plain_json_expr(_iso(log, "_day", known)),
                    minutes=pl.col("_minutes").cast(pl.String),
                    role=plain_json_expr(pl.col("_role")),
                    credential=plain_json_or_null_expr(
                        pl.when(pl.col("_credential") == "")
                        .then(None)
                        .otherwise(pl.col("_credential"))
                    ),
                    family=plain_json_expr(pl.col("_family")),
                    practitioner=prac_json,
                    interactive=json_bool_expr(pl.col("_interactive")),
                ),
            ).alias("text"),
        )
    )
    return log


def _ranks(frame: pl.DataFrame, column: str) -> pl.Expr:
    """*column* (text) as each value's rank in text order among *frame*'s values: sorts alike."""
    import polars as pl  # noqa: PLC0415

    values = sorted(frame.get_column(column).cast(pl.String).unique().drop_nulls().to_list())
    return (
        pl.col(column)
        .cast(pl.String)
        .replace_strict(values, list(range(len(values))), return_dtype=pl.Int64, default=None)
    )
