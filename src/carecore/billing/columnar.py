r"""A columnar month close (polars): the reference close's output files, byte for byte, faster.

Installed with ``carecore[fast]``. :func:`close_columnar` reads both CSV
files with polars and splits the patients in two:

* **columnar patients**: a clean patients.csv row and nothing but clean
  CCM/PCM/BHI time entries for the patient's own practitioner in a
  physician office (what :class:`carecore.billing.fast.FastClose` takes).
  Their months are reduced to the fast path's canonical form (shape of the
  patient, minutes per family and role group, practitioner credential) in
  columns; the **reference engine** evaluates each *distinct* form once
  (through :meth:`FastClose.template`), and the results are joined back to
  every patient, re-dated, and written with vectorised string building.
* **everyone else**: a patients.csv row or an event row the columnar checks
  do not accept, or any other kind of event. These patients are closed
  one by one by the same code as the reference close (which reports the
  bad rows with file, line and column), and their output is merged in place.

No rule lives here: cell values are checked by the reference parsers
(applied once per distinct cell text), and every result comes from the
reference engine. Files the columnar reader cannot take whole (quoted
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
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore.billing.close import (
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    _EVENT_REQUIRED,
    _PATIENT_REQUIRED,
    CloseSummary,
    CloseWriter,
    PatientRow,
    RowProblem,
    _close_idle,
    _close_rows,
    _header,
    _LightParser,
    _open,
    _patient_parsers,
    _patient_row,
)
from carecore.billing.facts import BillingPractitioner, Setting
from carecore.billing.engine import PERSONAL_ROLES, STAFF_ROLES
from carecore.billing.fast import _ROLE_GROUP, FastClose, _duration_class, personal_code
from carecore.billing.rules import DateOfService
from carecore.model.codes import Credential, RoleClass, ServiceFamily

if TYPE_CHECKING:
    from collections.abc import Callable

    import polars as pl

    from carecore.billing.engine import EvaluationResult
    from carecore.billing.rules import RuleSet
    from carecore.model.period import ServicePeriod

__all__ = ["close_columnar", "polars_available"]

#: The fast families in the order the fast path and the audit packets use (by value).
_FAMILIES = ("BHI", "CCM", "PCM")
#: Text the writer copies into CSV and JSON as it is (no quoting or escaping needed).
_PLAIN = re.compile(r"[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e](?:[\x20\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]*[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e])?")
#: Patients per output chunk (bounds the memory of the text being built).
_CHUNK = 50_000


def _trace(label: str) -> None:
    pass


def polars_available() -> bool:
    """Whether polars (the ``fast`` extra) can be imported.

    >>> isinstance(polars_available(), bool)
    True
    """
    try:
        import polars  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def _scan(file: Path) -> int | None:
    """Lines in *file* when the columnar reader can take it whole, else None.

    Plain files only: no quotes, no blank lines, and line ends either LF or CRLF.
    """
    newlines = 0
    last = b""
    with file.open("rb") as raw:
        while chunk := raw.read(1 << 24):
            if chunk.endswith(b"\r"):
                chunk += raw.read(1)
            if b'"' in chunk or b"\n\n" in chunk or b"\n\r\n" in chunk:
                return None
            if chunk.count(b"\r") != chunk.count(b"\r\n"):
                return None
            if last == b"\n" and chunk[:1] in {b"\n", b"\r"}:
                return None
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (0 if last in {b"\n", b""} else 1)


def _read(file: Path, known: tuple[str, ...], required: tuple[str, ...]) -> pl.DataFrame | None:
    """The file's cells as text columns plus ``__line__``, or None when it is not plain."""
    import polars as pl  # noqa: PLC0415

    with _open(file) as handle:
        header = _header(csv.reader(handle), file, known, required)
    lines = _scan(file)
    if lines is None:
        return None
    width = len(header)
    if lines <= 1:
        return pl.DataFrame(schema={"__line__": pl.Int64, **dict.fromkeys(header, pl.String)})
    try:
        text = pl.read_csv(
            file,
            has_header=False,
            skip_rows=1,
            separator="\x1f",
            quote_char=None,
            schema={"l": pl.String},
            encoding="utf8",
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError):
        return None
    if text.height != lines - 1:
        return None
    if text.height and text.select(
        (pl.col("l").str.count_matches(",", literal=True) != width - 1).any()
    ).item():
        return None
    if width == 1:
        frame = text.rename({"l": header[0]})
    else:
        frame = text.select(
            pl.col("l").str.split_exact(",", width - 1).struct.rename_fields(header)
        ).unnest("l")
    return frame.with_row_index("__line__", offset=2).with_columns(
        pl.col("__line__").cast(pl.Int64)
    )


def _mapped(frame: pl.DataFrame, column: str, parse: Callable[[str], Any], dtype: Any) -> pl.Expr:
    """*parse* applied once per distinct text of *column* (None where it refuses), as an expression."""
    import polars as pl  # noqa: PLC0415

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


def _pdate(day: Any) -> dt.date | None:
    return None if day is None else dt.date(day.year, day.month, day.day)


class _Patients:
    """patients.csv, split into clean rows (columns) and rows the reference reader must read."""

    def __init__(self, file: Path, frame: pl.DataFrame, month: ServicePeriod) -> None:
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

        def plain(text: str) -> str | None:
            value = text.strip()
            return value if _PLAIN.fullmatch(value) else None

        for name in ("patient_id", "practitioner"):
            checks.append(_mapped(frame, name, plain, pl.String).is_not_null())
            columns.append(_mapped(frame, name, plain, pl.String).alias(f"_{name}"))
        # Every other cell: blank, or read by the reference parser.
        for name in header:
            if name in {"patient_id", "practitioner"}:
                continue
            parse = parsers[name]
            checks.append(blank(name) | _mapped(frame, name, lambda t, p=parse: p(t) is not None, pl.Boolean).fill_null(False))
        if "conditions" in header:
            checks.append(~blank("conditions"))
        else:  # pragma: no cover - a required column (the header check refuses the file)
            checks.append(pl.lit(False))
        if "setting" in header:
            checks.append(
                blank("setting")
                | _mapped(frame, "setting", lambda t: parsers["setting"](t) is Setting.PHYSICIAN_OFFICE, pl.Boolean)
            )
        credential = parsers["credential"]
        columns.append(
            pl.when(blank("credential") if "credential" in header else pl.lit(True))
            .then(pl.lit(Credential.MD.value))
            .otherwise(_mapped(frame, "credential", lambda t: credential(t).value, pl.String) if "credential" in header else pl.lit(None))
            .alias("_credential")
        )
        for name, default in (("established", True), ("qmb", False), ("primary_care_focal_point", True)):
            if name in header:
                columns.append(
                    pl.when(blank(name)).then(pl.lit(default)).otherwise(_mapped(frame, name, parsers[name], pl.Boolean)).alias(f"_{name}")
                )
            else:
                columns.append(pl.lit(default).alias(f"_{name}"))
        for name in ("last_visit", "date_of_death"):
            if name in header:
                columns.append(
                    pl.when(blank(name)).then(pl.lit(None, pl.Date)).otherwise(
                        _mapped(frame, name, lambda t, p=parsers[name]: _pdate(p(t)), pl.Date)
                    ).alias(f"_{name}")
                )
            else:
                columns.append(pl.lit(None, pl.Date).alias(f"_{name}"))
        for name in ("consent", "care_plan"):
            for family in _FAMILIES:
                wanted = ServiceFamily(family)

                def pick(text: str, parse: Any = parsers[name], wanted: ServiceFamily = wanted) -> Any:
                    return _pdate(dict(parse(text)).get(wanted)) if text.strip() else None

                columns.append(
                    (_mapped(frame, name, pick, pl.Date) if name in header else pl.lit(None, pl.Date)).alias(f"_{name}_{family}")
                )
            if name == "consent":
                for family in _FAMILIES:
                    wanted = ServiceFamily(family)

                    def year_before(text: str, parse: Any = parsers[name], wanted: ServiceFamily = wanted) -> Any:
                        day = dict(parse(text)).get(wanted) if text.strip() else None
                        return None if day is None else _pdate(day.subtract(years=1))

                    columns.append(
                        (_mapped(frame, name, year_before, pl.Date) if name in header else pl.lit(None, pl.Date)).alias(f"_visit_from_{family}")
                    )
        # Conditions: the fast path's class tuple and the audit packet's JSON, per distinct text.
        self.condition_classes: list[tuple[object, ...]] = []
        condition_ids: dict[tuple[object, ...], int] = {}
        condition_texts = frame.get_column("conditions").unique().to_list()
        ids: list[int | None] = []
        jsons: list[str | None] = []
        from carecore.billing.close import _Q  # noqa: PLC0415

        for text in condition_texts:
            try:
                conditions = parsers["conditions"](text) if text.strip() else None
            except (ValueError, errors.CarecoreError):
                conditions = None
            if not conditions:
                ids.append(None)
                jsons.append(None)
                continue
            classes = tuple(
                sorted(
                    ((c.significant_risk, c.behavioral, _duration_class(c.expected_duration_months)) for c in conditions),
                    key=repr,
                )
            )
            ids.append(condition_ids.setdefault(classes, len(condition_ids)))
            jsons.append(
                ",".join(
                    f'{{"icd10":{_Q(c.icd10)},"expected_duration_months":{"null" if c.expected_duration_months is None else c.expected_duration_months},'
                    f'"significant_risk":{"true" if c.significant_risk else "false"}}}'
                    for c in conditions
                )
            )
        self.condition_classes = list(condition_ids)
        columns.append(pl.col("conditions").replace_strict(condition_texts, ids, return_dtype=pl.Int64, default=None).alias("_conditions"))
        columns.append(pl.col("conditions").replace_strict(condition_texts, jsons, return_dtype=pl.String, default=None).alias("_conditions_json"))
        frame = frame.with_columns(pl.all_horizontal(checks).fill_null(False).alias("_clean"), *columns)
        stripped = frame.get_column("patient_id").str.strip_chars()
        named = stripped.filter(stripped.str.len_bytes() > 0)
        self.duplicates = named.n_unique() != named.len()
        end_day = _pdate(end)
        derived = [pl.col("_date_of_death").is_not_null() & (pl.col("_date_of_death") <= end_day)]
        names = ["_died"]
        for family in _FAMILIES:
            consent = pl.col(f"_consent_{family}")
            consented = consent.is_not_null() & (consent <= end_day)
            derived += [
                consented,
                consented
                & pl.col("_established")
                & pl.col("_last_visit").is_not_null()
                & (pl.col("_last_visit") >= pl.col(f"_visit_from_{family}")),
                pl.col(f"_care_plan_{family}").is_not_null() & (pl.col(f"_care_plan_{family}") <= end_day),
            ]
            names += [f"_consented_{family}", f"_visit_ok_{family}", f"_planned_{family}"]
        frame = frame.with_columns(
            *(pl.when(pl.col("_clean")).then(e.fill_null(False)).otherwise(None).alias(n) for e, n in zip(derived, names, strict=True))
        )
        self.frame = frame

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


def _csv_row(cells: tuple[object, ...]) -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerow(cells)
    return buffer.getvalue()


class _Templates:
    """Per distinct canonical month: the reference result, as text pieces to join per patient."""

    def __init__(self, fast: FastClose, rules: RuleSet, month: ServicePeriod) -> None:
        from carecore.billing.close import _Q  # noqa: PLC0415

        self.fast = fast
        self.q = _Q
        self.rules = rules
        self.month = month
        self.lines: list[dict[str, Any]] = []
        self.denials: list[dict[str, Any]] = []
        self.keys: list[dict[str, Any]] = []

    def add(self, key: int, result: EvaluationResult) -> bool:
        """Record *result* for *key*; False when the writer cannot render it (the patients go by the reference)."""
        q = self.q
        families = sorted({line.family.value for line in result.claim_lines})
        if any(f not in _FAMILIES for f in families):
            return False
        lines = []
        for k, line in enumerate(result.claim_lines):
            modifiers = ";".join(line.modifiers)
            amount = "" if line.amount is None else str(line.amount)
            head = f"{line.code},{line.units}"
            tail = f"{modifiers},{line.period.start.isoformat()},{line.period.end.isoformat()},{amount}\r\n"
            probe = _csv_row(
                ("P", "R", line.code, line.units, "2000-01-01", modifiers, line.period.start.isoformat(), line.period.end.isoformat(), amount)
            )
            if probe != f"P,R,{head},2000-01-01,{tail}":
                return False
            mods_json = ",".join(q(m) for m in line.modifiers)
            amount_json = "null" if line.amount is None else q(str(line.amount))
            lines.append(
                {
                    "key": key,
                    "k": k,
                    "code": line.code,
                    "units": line.units,
                    "amount": amount,
                    "family": line.family.value,
                    "personal": personal_code(line.code),
                    "need": self.fast.need(line.code, line.units),
                    "csv_head": head,
                    "csv_tail": tail,
                    "json_head": f'"code": {q(line.code)}, "units": {line.units}, ',
                    "json_tail": f'"modifiers": [{mods_json}], "period_start": "{line.period.start.isoformat()}", '
                    f'"period_end": "{line.period.end.isoformat()}", "amount": {amount_json}}}',
                    "audit_head": f'{{"code":{q(line.code)},"units":{line.units},"family":{q(line.family.value)},"practitioner":"',
                    "audit_tail": f'","modifiers":[{mods_json}],"amount":{_json_or_null(q, line.amount)}}}',
                }
            )
        denials = []
        for k, denial in enumerate(result.denials):
            row = _csv_row(("P", "R", denial.code, denial.reason.value, denial.message, denial.rule, ";".join(denial.sources)))
            if not row.startswith("P,R,"):
                return False
            denials.append({"key": key, "k": k, "csv_tail": row[4:]})
        denials_json = ",".join(
            f'{{"code":{q(d.code)},"reason":{q(d.reason.value)},"message":{q(d.message)},"rule":{q(d.rule)},'
            f'"sources":[{",".join(q(t) for t in d.sources)}]}}'
            for d in result.denials
        )
        hints_json = ",".join(q(h.message) for h in result.hints)
        self.lines += lines
        self.denials += denials
        self.keys.append(
            {
                "key": key,
                "n_lines": len(lines),
                "n_denials": len(denials),
                **{f"bills_{f}": f in families for f in _FAMILIES},
                "audit_tail": f'],"explanation":{{"denials":[{denials_json}],"hints":[{hints_json}]}},'
                f'"rows_rejected":[],"evaluated_by":"fast path (cached reference result)"}}',
            }
        )
        return True


def _json_or_null(q: Callable[[str], str], value: object) -> str:
    return "null" if value is None else q(str(value))


def _write_texts(writer: CloseWriter, merged: pl.DataFrame) -> None:
    """Append the text columns of *merged* (in row order) to the writer's files."""
    import polars as pl  # noqa: PLC0415

    def put(handle: Any, column: pl.Series) -> None:
        handle.flush()
        column.to_frame().write_csv(
            handle.buffer, include_header=False, quote_style="never", line_terminator=""
        )
        handle.buffer.flush()

    items = merged.get_column("claims_json").filter(merged.get_column("claims_json") != "")
    if items.len():
        first = "\n" if writer._first_claim else ",\n"  # noqa: SLF001
        items = pl.concat([pl.Series([first]), pl.Series([",\n"] * (items.len() - 1), dtype=pl.String)]) + items
        writer._first_claim = False  # noqa: SLF001
    put(writer._claims, merged.get_column("claims_csv"))  # noqa: SLF001
    put(writer._claims_json, items)  # noqa: SLF001
    put(writer._denials, merged.get_column("denials_csv"))  # noqa: SLF001
    put(writer._audit, merged.get_column("audit"))  # noqa: SLF001


def _rows_by_order(
    full: pl.DataFrame, patients: pl.DataFrame, header: list[str]
) -> dict[int, list[tuple[int, dict[str, str]]]]:
    """The event rows (line, cells) of *patients* (``_pid``, ``_order``), in file order."""
    import polars as pl  # noqa: PLC0415

    picked = (
        full.join(patients.select("_pid", "_order"), on="_pid")
        .sort("_order", "__line__")
        .select("_order", "__line__", *header)
    )
    out: dict[int, list[tuple[int, dict[str, str]]]] = {}
    for record in picked.iter_rows():
        out.setdefault(record[0], []).append((record[1], dict(zip(header, record[2:], strict=True))))
    return out


def close_columnar(  # noqa: C901, PLR0912, PLR0914, PLR0915
    patients_csv: str | Path,
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    *,
    on_progress: Callable[[int], object] | None = None,
) -> tuple[CloseSummary, list[RowProblem]] | None:
    """Close *month* over the CSV pair with polars; None when the files need the reference reader.

    Returns the summary and every refused row (patients.csv rows first, then
    event rows in close order, then rows of unknown patients), as the
    reference close (:func:`carecore.billing.close.read_patients` and
    :func:`carecore.billing.close.run_close`) does; the files written under
    *out* are byte for byte the reference close's.
    """
    import polars as pl  # noqa: PLC0415

    patients_file, events_file = Path(patients_csv), Path(events_csv)
    patient_frame = _read(patients_file, PATIENT_COLUMNS, _PATIENT_REQUIRED)
    if patient_frame is None:
        return None
    events = _read(events_file, EVENT_COLUMNS, _EVENT_REQUIRED)
    if events is None:
        return None
    _trace('read')
    table = _Patients(patients_file, patient_frame, month)
    if table.duplicates:
        return None
    pf = table.frame
    # Rows the reference reader must read (and maybe refuse); the clean ones are good rows.
    reference_lines = pf.filter(~pl.col("_clean")).get_column("__line__").to_list()
    reference_rows, patient_problems = table.reference_rows(reference_lines)
    good = pl.concat(
        [
            pf.filter(pl.col("_clean")).select(pl.col("__line__"), pl.col("_patient_id").alias("_pid")),
            pl.DataFrame(
                {"__line__": list(reference_rows), "_pid": [r.patient.id for r in reference_rows.values()]},
                schema={"__line__": pl.Int64, "_pid": pl.String},
            ),
        ]
    ).sort("__line__")
    _trace('patients')
    # Events: the patient each row names (stripped, as the reference reader does), and whether
    # the row is a clean time entry the fast path takes.
    light = _LightParser()
    header = [c for c in events.columns if c != "__line__"]

    def col(name: str) -> pl.Expr:
        return pl.col(name) if name in header else pl.lit("")

    events = events.with_columns(_mapped(events, "patient_id", str.strip, pl.String).alias("_pid"))
    if "family" in header and "role" in header and "minutes" in header:
        events = events.with_columns(
            _mapped(events, "date", lambda t: _pdate(light._date(t)), pl.Date).alias("_day"),  # noqa: SLF001
            _mapped(events, "minutes", lambda t: int(t) if t.isdigit() and 1 <= int(t) <= 24 * 60 else None, pl.Int64).alias("_minutes"),
            (
                pl.when(col("credential") == "")
                .then(pl.lit(""))
                .otherwise(
                    _mapped(events, "credential", lambda t: light.credentials[t.upper()].value, pl.String)
                    if "credential" in header
                    else pl.lit(None)
                )
            ).alias("_credential"),
            (
                _mapped(events, "interactive", lambda t: light.flags[t], pl.Boolean)
                if "interactive" in header
                else pl.lit(False)
            ).alias("_interactive"),
        )
        events = events.with_columns(
            (
                (pl.col("type") == "time_entry")
                & pl.col("family").is_in(list(_FAMILIES))
                & pl.col("role").is_in([r.value for r in RoleClass])
                & pl.col("_day").is_not_null()
                & pl.col("_minutes").is_not_null()
                & pl.col("_credential").is_not_null()
                & pl.col("_interactive").is_not_null()
            )
            .fill_null(False)
            .alias("_ok")
        )
    else:
        events = events.with_columns(
            pl.lit(False).alias("_ok"),
            pl.lit(None, pl.Date).alias("_day"),
            pl.lit(None, pl.Int64).alias("_minutes"),
            pl.lit(None, pl.String).alias("_credential"),
            pl.lit(None, pl.Boolean).alias("_interactive"),
        )
    # Every cell stays only for the patients the reference code closes; the rest goes on slim.
    full = events
    events = events.select(
        "__line__",
        "_pid",
        "_ok",
        "_day",
        "_minutes",
        col("role").alias("role"),
        col("family").alias("family"),
        "_credential",
        "_interactive",
        col("practitioner").alias("_practitioner_cell"),
    )
    _trace('events mapped')
    # Patient order: first event row, then patients without events in patients.csv order.
    firsts = events.group_by("_pid").agg(pl.col("__line__").min().alias("_first"))
    good = good.join(firsts, on="_pid", how="left").with_columns(
        pl.col("_first").is_not_null().alias("_has_events")
    )
    good = good.sort(pl.col("_has_events").not_(), pl.col("_first"), pl.col("__line__")).with_row_index("_order")
    good = good.with_columns(pl.col("_order").cast(pl.Int64))
    # Columnar patients: a clean row whose event rows are all clean and for their own practitioner.
    clean = pf.filter(pl.col("_clean")).select(pl.col("__line__"), pl.exclude("__line__", *table.header))
    events = events.join(
        clean.select(pl.col("_patient_id").alias("_pid"), pl.col("_practitioner").alias("_own")), on="_pid", how="left"
    ).with_columns(
        (pl.col("_ok") & pl.col("_own").is_not_null() & ((pl.col("_practitioner_cell") == "") | (pl.col("_practitioner_cell") == pl.col("_own"))))
        .fill_null(False)
        .alias("_ok")
    )
    bad_pids = events.filter(~pl.col("_ok")).select("_pid").unique()
    good = good.join(clean.select("__line__", pl.lit(True).alias("_clean_row")), on="__line__", how="left").with_columns(
        (pl.col("_clean_row").fill_null(False) & ~pl.col("_pid").is_in(bad_pids.get_column("_pid").implode())).alias("_columnar")
    )
    rows_by_order = _rows_by_order(full, good.filter(~pl.col("_columnar")), header)
    del full
    # Orphans: rows naming no good patient.
    good_pids = good.select("_pid")
    orphan_rows = (
        events.join(good_pids, on="_pid", how="anti")
        .join(firsts, on="_pid", how="left")
        .sort("_first", "__line__")
        .select("__line__", "_pid")
    )
    orphans = [
        RowProblem(file=str(events_file), line=line, column="patient_id", message="not in patients.csv", value=pid or None)
        for line, pid in orphan_rows.iter_rows()
    ]
    _trace('split')
    # Columnar patients' facts and entries.
    cp = good.filter(pl.col("_columnar")).select("__line__", "_order").join(clean, on="__line__")
    entries = (
        events.filter(pl.col("_ok"))
        .join(cp.select("_patient_id", "_order"), left_on="_pid", right_on="_patient_id")
        .select(
            "_order",
            "__line__",
            "_day",
            "_minutes",
            pl.col("role").alias("_role"),
            pl.col("family").alias("_family"),
            "_credential",
            "_interactive",
        )
    )
    start, end = _pdate(month.start), _pdate(month.end)
    consent_of = pl.lit(None, pl.Date)
    for family in _FAMILIES:
        consent_of = pl.when(pl.col("_family") == family).then(pl.col(f"_consent_{family}")).otherwise(consent_of)
    group_of = pl.col("_role").replace_strict({r.value: g for r, g in _ROLE_GROUP.items()}, return_dtype=pl.Int64)
    entries = entries.join(cp.select("_order", *(f"_consent_{f}" for f in _FAMILIES)), on="_order").with_columns(
        (
            (pl.col("_day") >= start)
            & (pl.col("_day") <= end)
            & (consent_of.is_null() | (pl.col("_day") >= consent_of))
        ).alias("_inside"),
        group_of.alias("_group"),
    ).drop(*(f"_consent_{f}" for f in _FAMILIES))
    total_names = [f"_t_{f}_{g}" for f in _FAMILIES for g in range(3)]
    totals = (
        entries.filter(pl.col("_inside"))
        .group_by("_order")
        .agg(
            *(
                pl.col("_minutes").filter((pl.col("_family") == f) & (pl.col("_group") == g)).sum().alias(f"_t_{f}_{g}")
                for f in _FAMILIES
                for g in range(3)
            )
        )
    )
    cp = cp.join(totals, on="_order", how="left").with_columns(pl.col(n).fill_null(0) for n in total_names)
    flag_names = [f"_{kind}_{f}" for f in _FAMILIES for kind in ("consented", "visit_ok", "planned")]
    key_columns = [*flag_names, "_conditions", "_qmb", "_died", "_credential", "_primary_care_focal_point", *total_names]
    keys = cp.select(key_columns).unique(maintain_order=True).with_row_index("_key").with_columns(pl.col("_key").cast(pl.Int64))
    _trace('keys')
    # The reference engine, once per distinct canonical month.
    fast = FastClose(rules, month)
    templates = _Templates(fast, rules, month)
    unrenderable: list[int] = []
    practitioners: dict[tuple[str, bool], BillingPractitioner] = {}
    for record in keys.iter_rows(named=True):
        flags = tuple(
            (record[f"_consented_{f}"], record[f"_visit_ok_{f}"], record[f"_planned_{f}"]) for f in _FAMILIES
        )
        shape = (flags, table.condition_classes[record["_conditions"]], record["_qmb"], record["_died"])
        who = (record["_credential"], record["_primary_care_focal_point"])
        practitioner = practitioners.get(who)
        if practitioner is None:
            practitioner = practitioners[who] = BillingPractitioner(
                id="~", credential=Credential(who[0]), primary_care_focal_point=who[1]
            )
        minutes = {
            (ServiceFamily(f), g): record[f"_t_{f}_{g}"] for f in _FAMILIES for g in range(3) if record[f"_t_{f}_{g}"]
        }
        if not templates.add(record["_key"], fast.template(shape, practitioner, minutes)):
            unrenderable.append(record["_key"])
    _trace('templates')
    cp = cp.join(keys, on=key_columns, how="left", nulls_equal=True)
    if unrenderable:
        moved = cp.filter(pl.col("_key").is_in(unrenderable)).get_column("_order")
        good = good.with_columns(pl.when(pl.col("_order").is_in(moved.implode())).then(False).otherwise(pl.col("_columnar")).alias("_columnar"))
        cp = cp.filter(~pl.col("_key").is_in(unrenderable))
        entries = entries.filter(pl.col("_order").is_in(cp.get_column("_order").implode()))
    key_frame = pl.DataFrame(
        templates.keys,
        schema={"key": pl.Int64, "n_lines": pl.Int64, "n_denials": pl.Int64, **{f"bills_{f}": pl.Boolean for f in _FAMILIES}, "audit_tail": pl.String},
    ).rename({"key": "_key"})
    line_frame = pl.DataFrame(
        templates.lines,
        schema={
            "key": pl.Int64, "k": pl.Int64, "code": pl.String, "units": pl.Int64, "amount": pl.String, "family": pl.String,
            "personal": pl.Boolean, "need": pl.Int64, "csv_head": pl.String, "csv_tail": pl.String,
            "json_head": pl.String, "json_tail": pl.String, "audit_head": pl.String, "audit_tail": pl.String,
        },
    ).rename({"key": "_key"})
    denial_frame = pl.DataFrame(templates.denials, schema={"key": pl.Int64, "k": pl.Int64, "csv_tail": pl.String}).rename(
        {"key": "_key"}
    )
    cp = cp.join(key_frame, on="_key", how="left")
    # Counters (summary.json) for the columnar patients, from the per-key counts.
    writer = CloseWriter(out, month, rules)
    per_key = cp.group_by("_key").len()
    line_counts = line_frame.join(per_key, on="_key").group_by("code").agg(
        pl.col("len").sum().alias("lines"), (pl.col("len") * pl.col("units")).sum().alias("units")
    )
    for code, lines, units in line_counts.iter_rows():
        writer.lines_by_code[code] += lines
        writer.units_by_code[code] += units
    for code, amount, count in line_frame.join(per_key, on="_key").select("code", "amount", "len").iter_rows():
        writer.amount_by_code[code] = writer.amount_by_code.get(code, Decimal(0)) + Decimal(amount or 0) * count
    writer.patients += cp.height
    writer.billed += cp.filter(pl.col("n_lines") > 0).height
    writer.claim_count += int(cp.get_column("n_lines").sum() or 0)
    writer.denial_count += int(cp.get_column("n_denials").sum() or 0)
    _trace('counters')
    # Patients the reference code closes: their PatientRow and event rows.
    python_patients = good.filter(~pl.col("_columnar"))
    python_lines = python_patients.get_column("__line__").to_list()
    extra_rows, _ = table.reference_rows([line for line in python_lines if line not in reference_rows])
    rows_by_line = {**reference_rows, **extra_rows}
    if unrenderable:
        again = _read(events_file, EVENT_COLUMNS, _EVENT_REQUIRED)
        if again is None:  # pragma: no cover - the file changed under the close
            return None
        again = again.with_columns(_mapped(again, "patient_id", str.strip, pl.String).alias("_pid"))
        rows_by_order = _rows_by_order(again, python_patients, header)
    python_order = dict(zip(python_patients.get_column("_order").to_list(), python_lines, strict=True))
    event_problems: list[RowProblem] = []
    _trace('python rows')
    # Write in close order, a chunk of patients at a time.
    total = good.height
    prac = pl.col("_practitioner")
    dos_at_end = rules.switches.date_of_service is DateOfService.PERIOD_END
    for first in range(0, max(total, 1), _CHUNK):
        last = first + _CHUNK
        in_chunk = pl.col("_order").is_between(first, last - 1)
        parts: list[pl.DataFrame] = []
        # Reference-closed patients.
        texts: dict[str, list[Any]] = {"_order": [], "claims_csv": [], "claims_json": [], "denials_csv": [], "audit": []}
        for order in range(first, min(last, total)):
            line = python_order.get(order)
            if line is None:
                continue
            row = rows_by_line[line]
            rows = rows_by_order.get(order)
            done = (
                _close_rows(events_file, row, rows, fast, light, month, rules)
                if rows
                else _close_idle(row, fast, month, rules)
            )
            event_problems.extend(done.problems)
            writer.count(done)
            if out is None:
                continue
            claims_csv, claims_json, denials_csv, audit = writer.render(done)
            texts["_order"].append(order)
            texts["claims_csv"].append(claims_csv)
            texts["claims_json"].append(",\n".join(claims_json))
            texts["denials_csv"].append(denials_csv)
            texts["audit"].append(audit)
        if out is None:
            if on_progress is not None:
                on_progress(min(last, total))
            continue
        parts.append(pl.DataFrame(texts, schema={"_order": pl.Int64, **dict.fromkeys(list(texts)[1:], pl.String)}))
        _trace('python closed')
        # Columnar patients.
        chunk = cp.filter(in_chunk)
        chunk_entries = entries.filter(in_chunk)
        lines = chunk.select("_order", "_key", "_patient_id", "_practitioner").join(line_frame, on="_key")
        if dos_at_end:
            lines = lines.with_columns(pl.lit(month.end.isoformat()).alias("_dos"))
        else:
            ordered = (
                chunk_entries.filter(pl.col("_inside"))
                .sort("_order", "_day", "__line__")
                .with_columns(
                    (pl.col("_minutes") * pl.col("_role").is_in([r.value for r in PERSONAL_ROLES]))
                    .cum_sum()
                    .over("_order", "_family")
                    .alias("_personal_total"),
                    (pl.col("_minutes") * pl.col("_role").is_in([r.value for r in STAFF_ROLES]))
                    .cum_sum()
                    .over("_order", "_family")
                    .alias("_staff_total"),
                )
                .select("_order", pl.col("_family").alias("family"), "_day", "_personal_total", "_staff_total")
            )
            reached = (
                lines.select("_order", "k", "family", "personal", "need")
                .join(ordered, on=["_order", "family"])
                .filter(pl.when(pl.col("personal")).then(pl.col("_personal_total")).otherwise(pl.col("_staff_total")) >= pl.col("need"))
                .group_by("_order", "k")
                .agg(pl.col("_day").min().alias("_reached"))
            )
            lines = lines.join(reached, on=["_order", "k"], how="left").with_columns(
                pl.col("_reached").fill_null(end).dt.to_string("%Y-%m-%d").alias("_dos")
            )
        lines = lines.sort("_order", "k").with_columns(
            pl.concat_str(
                pl.col("_patient_id"), pl.lit(","), prac, pl.lit(","), "csv_head", pl.lit(","), "_dos", pl.lit(","), "csv_tail"
            ).alias("claims_csv"),
            pl.concat_str(
                pl.lit('{"patient_id": "'), pl.col("_patient_id"), pl.lit('", "practitioner": "'), prac, pl.lit('", '),
                "json_head", pl.lit('"date_of_service": "'), "_dos", pl.lit('", '), "json_tail",
            ).alias("claims_json"),
            pl.concat_str("audit_head", prac, pl.lit('","date_of_service":"'), "_dos", "audit_tail").alias("audit_line"),
        )
        per_patient = lines.group_by("_order", maintain_order=True).agg(
            pl.col("claims_csv").str.join(""), pl.col("claims_json").str.join(",\n"), pl.col("audit_line").str.join(",")
        )
        denials = (
            chunk.select("_order", "_key", "_patient_id", "_practitioner")
            .join(denial_frame, on="_key")
            .sort("_order", "k")
            .group_by("_order", maintain_order=True)
            .agg(pl.concat_str(pl.col("_patient_id"), pl.lit(","), prac, pl.lit(","), "csv_tail").str.join("").alias("denials_csv"))
        )
        _trace('lines')
        # Audit packets of the billed: the time log of the billed families inside the month.
        billed = chunk.filter(pl.col("n_lines") > 0)
        bills = pl.lit(False)
        for f in _FAMILIES:
            bills = pl.when(pl.col("_family") == f).then(pl.col(f"bills_{f}")).otherwise(bills)
        log = (
            chunk_entries.join(billed.select("_order", "_practitioner", *(f"bills_{f}" for f in _FAMILIES)), on="_order")
            .filter(bills & (pl.col("_day") >= start) & (pl.col("_day") <= end))
            .sort("_order", "_day", "_family", "_role", "_minutes", "_credential", "_interactive")
            .group_by("_order", maintain_order=True)
            .agg(
                pl.concat_str(
                    pl.lit('{"date":"'), pl.col("_day").dt.to_string("%Y-%m-%d"), pl.lit('","minutes":'),
                    pl.col("_minutes").cast(pl.String), pl.lit(',"role":"'), "_role", pl.lit('","credential":'),
                    pl.when(pl.col("_credential") == "").then(pl.lit("null")).otherwise(pl.concat_str(pl.lit('"'), "_credential", pl.lit('"'))),
                    pl.lit(',"family":"'), "_family", pl.lit('","practitioner":"'), prac, pl.lit('","interactive":'),
                    pl.when("_interactive").then(pl.lit("true")).otherwise(pl.lit("false")), pl.lit("}"),
                ).str.join(",").alias("_log")
            )
        )

        def family_part(kind: str, f: str) -> pl.Expr:
            day = pl.col(f"_{kind}_{f}").dt.to_string("%Y-%m-%d")
            value = pl.when(day.is_null()).then(pl.lit("null")).otherwise(pl.concat_str(pl.lit('"'), day, pl.lit('"')))
            if kind == "care_plan":
                value = pl.concat_str(pl.lit('{"established_on":'), value, pl.lit(',"activity":[]}'))
            return pl.when(pl.col(f"bills_{f}")).then(pl.concat_str(pl.lit(f'"{f}":'), value)).otherwise(None)

        q = templates.q
        prefix = (
            f'"period":{{"start":"{month.start.isoformat()}","end":"{month.end.isoformat()}"}},'
            f'"rule_set":{{"id":{q(rules.id)},"year":{rules.year},"version":{q(rules.version)},"payer":{q(rules.payer)}}},'
            '"practitioners":[{"id":"'
        )
        audits = (
            billed.join(log, on="_order", how="left")
            .join(per_patient.select("_order", "audit_line"), on="_order")
            .select(
                "_order",
                pl.concat_str(
                    pl.lit('{"schema":"carecore.audit-packet/1","patient_id":"'), "_patient_id", pl.lit('",'), pl.lit(prefix),
                    prac, pl.lit('","credential":"'), "_credential", pl.lit('"}],"consent":{'),
                    pl.concat_str([family_part("consent", f) for f in _FAMILIES], separator=",", ignore_nulls=True),
                    pl.lit('},"care_plan":{'),
                    pl.concat_str([family_part("care_plan", f) for f in _FAMILIES], separator=",", ignore_nulls=True),
                    pl.lit('},"conditions":['), "_conditions_json", pl.lit('],"time_log":['), pl.col("_log").fill_null(""),
                    pl.lit('],"claim_lines":['), "audit_line", "audit_tail", pl.lit("\n"),
                ).alias("audit"),
            )
        )
        _trace('audits')
        columnar = (
            chunk.select("_order")
            .join(per_patient.select("_order", "claims_csv", "claims_json"), on="_order", how="left")
            .join(denials, on="_order", how="left")
            .join(audits, on="_order", how="left")
            .with_columns(pl.col(c).fill_null("") for c in ("claims_csv", "claims_json", "denials_csv", "audit"))
            .select("_order", "claims_csv", "claims_json", "denials_csv", "audit")
        )
        parts.append(columnar)
        merged = pl.concat(parts).sort("_order")
        _write_texts(writer, merged)
        _trace('written')
        del parts, merged, lines, per_patient, denials, log, audits, columnar
        if on_progress is not None:
            on_progress(min(last, total))
    summary = writer.finish(extra_rejected=len(patient_problems) + len(orphans))
    return summary, [*patient_problems, *event_problems, *orphans]

