r"""Month close over the CSV pair described in docs/how-to/close-a-billing-month.md.

:func:`read_patients` loads ``patients.csv``; :func:`iter_patient_months`
streams ``events.csv`` patient by patient and yields one
:class:`PatientMonth` (the facts, the result, and the rows refused) per
patient. A bad row is reported with its file, line and column and skipped;
the other rows of the file are still closed.

Events sorted (grouped) by ``patient_id`` are streamed with memory bounded
by one patient; an unsorted file is grouped in memory first.

>>> import pathlib, tempfile
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "patients.csv").write_text(
...     "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
...     "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n")
>>> _ = (folder / "events.csv").write_text(
...     "patient_id,date,type,minutes,role,family\n"
...     "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n")
>>> from carecore.billing.cms import cms_rule_set
>>> from carecore.model import ServicePeriod
>>> patients, problems = read_patients(folder / "patients.csv")
>>> months = list(iter_patient_months(patients, folder / "events.csv", ServicePeriod.month(2026, 1), cms_rule_set(2026)))
>>> months[0].result.billable
[('99490', 1)]
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import gc
import operator
import os
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import attrs
import pendulum
from attrs import field, frozen

from carecore import errors, limits
from carecore._files import private_folder, private_open
from carecore.billing._encode import CLAIM_COLUMNS, DENIAL_COLUMNS, AuditEvidence, CloseEncoder
from carecore.billing._engine import EvaluationResult, evaluate
from carecore.billing._output import staged_output, staging_active
from carecore.billing.facts import (
    BillingFacts,
    BillingPractitioner,
    ChronicCondition,
    Event,
    PatientFacts,
    Setting,
)
from carecore.billing.scenarios import _NO_PRACTITIONER, CREDENTIAL_ALIASES, _event, _Reader
from carecore.executors import Executor, open_pool
from carecore.model import validators as v
from carecore.model.activity import MAX_ENTRY_MINUTES
from carecore.model.codes import Credential, ServiceFamily
from carecore.model.period import ServicePeriod

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from decimal import Decimal

    from carecore.billing.rules import RuleSet
    from carecore.careplans import PlanVersion
    from carecore.model.careplan import CarePlan
    from carecore.service import CareProgram

__all__ = [
    "ENGINES",
    "EVENT_COLUMNS",
    "PATIENT_COLUMNS",
    "ROW_DEFAULTS",
    "CloseSummary",
    "CloseWriter",
    "CodeTotal",
    "PatientMonth",
    "PatientRow",
    "RowProblem",
    "audit_json",
    "audit_packet",
    "close_files",
    "close_store",
    "iter_patient_months",
    "read_patients",
    "run_close",
]

#: patients.csv columns; ``patient_id``, ``practitioner`` and ``conditions`` are required.
PATIENT_COLUMNS = (
    "patient_id",
    "practitioner",
    "credential",
    "setting",
    "conditions",
    "consent",
    "care_plan",
    "established",
    "last_visit",
    "qmb",
    "date_of_death",
    "primary_care_focal_point",
)
_PATIENT_REQUIRED = ("patient_id", "practitioner", "conditions")
#: What a blank (or absent) patients.csv cell stands for; the other optional cells stand for nothing.
ROW_DEFAULTS: dict[str, Any] = {
    "credential": Credential.MD,
    "setting": Setting.PHYSICIAN_OFFICE,
    "established": True,
    "qmb": False,
    "primary_care_focal_point": True,
}
#: Minutes a time entry may hold (as :class:`carecore.billing.facts.TimeFact` checks).
_ENTRY_MINUTES = range(1, MAX_ENTRY_MINUTES + 1)
#: events.csv columns (the last ones carry scenario fields: rtm_system, level, month,
#: bh_addon, episode_month, prefer_family, setting).
EVENT_COLUMNS = (
    "patient_id",
    "date",
    "type",
    "minutes",
    "role",
    "credential",
    "practitioner",
    "family",
    "activity",
    "interactive",
    "mode",
    "successful",
    "kind",
    "mdm",
    "em_code",
    "from_setting",
    "to_setting",
    "med_rec_on",
    "period_start",
    "period_end",
    "days_with_data",
    "device",
    "rtm_system",
    "action",
    "level",
    "month",
    "bh_addon",
    "episode_month",
    "prefer_family",
    "setting",
    "code",
)
_EVENT_REQUIRED = ("patient_id", "date", "type")
_INT_COLUMNS = frozenset({"minutes", "days_with_data", "episode_month"})
#: Distinct event rows a close keeps read (memory bound; others are read each time).
_EVENT_CACHE_LIMIT = 50_000
_BOOL_COLUMNS = frozenset({"interactive", "successful"})


@frozen(kw_only=True)
class RowProblem:
    """A refused CSV row: where, and why."""

    file: str
    line: int
    column: str | None
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" + (f" column {self.column}" if self.column else "")
        shown = f" (got {self.value!r})" if self.value is not None else ""
        return f"{where}: {self.message}{shown}"


@frozen(kw_only=True)
class PatientRow:
    """One parsed patients.csv row."""

    line: int
    patient: PatientFacts
    practitioner: BillingPractitioner
    setting: Setting


@frozen(kw_only=True)
class PatientMonth:
    """One patient's close: the result, the time log behind it and the event rows refused.

    ``time_log`` holds ``(date, minutes, role, family, credential, interactive,
    practitioner)`` for every time entry read; ``fast`` says whether the
    month took the fast path (see :mod:`carecore.billing._fast`); *evidence*
    holds the store's consent and care-plan records for the audit packet
    (None for a CSV close, whose packets say "not recorded").
    """

    row: PatientRow
    period: ServicePeriod
    result: EvaluationResult
    time_log: tuple[tuple[Any, ...], ...] = field(default=(), converter=v.to_tuple)
    care_plan_events: tuple[Any, ...] = field(default=(), converter=v.to_tuple)
    problems: tuple[RowProblem, ...] = field(default=(), converter=v.to_tuple)
    fast: bool = False
    evidence: AuditEvidence | None = None


def _open(path: Path) -> Any:
    try:
        return path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise errors.NotFound("no such file", field="file", value=str(path)) from None


def _header(
    reader: Any, path: Path, known: tuple[str, ...], required: tuple[str, ...]
) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise errors.InvalidInput(
            str(path), problems=[errors.Problem(path="line 1", message="the file is empty")]
        ) from None
    header = [h.strip() for h in header]
    problems = [
        errors.Problem(
            path=f"line 1 column {name}", message="unknown column (a typo would silently drop data)"
        )
        for name in header
        if name not in known
    ]
    problems += [
        errors.Problem(path=f"line 1 column {name}", message="required column missing")
        for name in required
        if name not in header
    ]
    if len(set(header)) != len(header):
        problems.append(errors.Problem(path="line 1", message="a column is named twice"))
    if problems:
        raise errors.InvalidInput(str(path), problems=problems)
    return header


def _date(text: str) -> pendulum.Date:
    day = dt.date.fromisoformat(text)
    if len(text) != 10:  # noqa: PLR2004 - plain YYYY-MM-DD only
        raise ValueError(text)
    return pendulum.Date(day.year, day.month, day.day)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "yes", "1"}:
        return True
    if lowered in {"false", "no", "0"}:
        return False
    raise ValueError(text)


def _family_dates(text: str) -> dict[ServiceFamily, pendulum.Date]:
    out: dict[ServiceFamily, pendulum.Date] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        name, sep, day = part.partition("=")
        if not sep:
            raise ValueError(part)
        out[ServiceFamily(name.strip().upper())] = _date(day.strip())
    return out


def _family_dates_tuple(text: str) -> tuple[tuple[ServiceFamily, pendulum.Date], ...]:
    return tuple(sorted(_family_dates(text).items(), key=lambda pair: pair[0].value))


def _pairs(
    value: tuple[tuple[ServiceFamily, pendulum.Date], ...] | None,
) -> tuple[tuple[ServiceFamily, pendulum.Date], ...]:
    return value or ()


def _conditions(text: str) -> list[ChronicCondition]:
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        code, sep, months = part.partition(":")
        duration = int(months) if sep else None
        if duration is not None and duration < 0:
            raise ValueError(part)
        out.append(
            ChronicCondition(
                icd10=code.strip().upper(),
                expected_duration_months=duration,
                significant_risk=True,
                behavioral=code.strip().upper().startswith("F"),
            )
        )
    return out


def _credential(text: str) -> Credential:
    try:
        return Credential(text.strip().upper())
    except ValueError:
        alias = CREDENTIAL_ALIASES.get(text.strip().upper())
        if alias is None:
            raise
        return alias


def _patient_parsers() -> dict[str, Any]:
    """Cell parsers of patients.csv, by column (cached: the same texts repeat)."""
    return {
        "credential": functools.lru_cache(maxsize=256)(_credential),
        "setting": functools.lru_cache(maxsize=8)(lambda t: Setting(t.strip().lower())),
        "conditions": functools.lru_cache(maxsize=65536)(lambda t: tuple(_conditions(t))),
        "consent": functools.lru_cache(maxsize=65536)(_family_dates_tuple),
        "care_plan": functools.lru_cache(maxsize=65536)(_family_dates_tuple),
        "established": _bool,
        "last_visit": functools.lru_cache(maxsize=65536)(_date),
        "qmb": _bool,
        "date_of_death": functools.lru_cache(maxsize=65536)(_date),
        "primary_care_focal_point": _bool,
    }


def read_patients(path: str | Path) -> tuple[dict[str, PatientRow], list[RowProblem]]:
    """Read patients.csv; bad rows are returned as problems, good rows by patient id.

    The conditions column lists the chronic conditions the practitioner
    attests place the patient at significant risk; codes in
    chapter F are treated as behavioral conditions.
    """
    file = Path(path)
    patients: dict[str, PatientRow] = {}
    problems: list[RowProblem] = []
    practitioners: dict[tuple[object, ...], BillingPractitioner] = {}
    parsers = _patient_parsers()
    with _open(file) as handle:
        # A cell past the limit csv_cell is refused by name (it was an untyped _csv.Error).
        reader = limits.csv_rows(handle, what=file.name)
        header = _header(reader, file, PATIENT_COLUMNS, _PATIENT_REQUIRED)
        for line, row in enumerate(reader, start=2):
            parsed = _patient_row(file, line, header, row, parsers, practitioners, patients)
            if isinstance(parsed, PatientRow):
                patients[parsed.patient.id] = parsed
            else:
                problems.extend(parsed)
    return patients, problems


def _patient_row(  # noqa: C901, PLR0917
    file: Path,
    line: int,
    header: list[str],
    row: list[str],
    parsers: dict[str, Any],
    practitioners: dict[tuple[object, ...], BillingPractitioner],
    patients: dict[str, PatientRow],
) -> PatientRow | list[RowProblem]:
    """One patients.csv row: the parsed row, or its problems (none for a blank row).

    *patients* (the good rows before this one) is read for duplicates only.
    """
    if not any(cell.strip() for cell in row):
        return []
    if len(row) != len(header):
        return [
            RowProblem(
                file=str(file),
                line=line,
                column=None,
                message=f"expected {len(header)} cells, found {len(row)}",
            )
        ]
    cells = dict(zip(header, row, strict=True))
    values: dict[str, Any] = {}
    problems: list[RowProblem] = []
    bad = False
    for name, text in cells.items():
        if not text.strip():
            continue
        parse = parsers.get(name)
        try:
            values[name] = parse(text) if parse else text.strip()
        except (ValueError, errors.CarecoreError):
            problems.append(
                RowProblem(
                    file=str(file), line=line, column=name, message="cannot be read", value=text
                )
            )
            bad = True
    for name in _PATIENT_REQUIRED:
        if name not in values and not bad:
            problems.append(
                RowProblem(file=str(file), line=line, column=name, message="required value missing")
            )
            bad = True
    pid = str(values.get("patient_id", ""))
    if not bad and pid in patients:
        problems.append(
            RowProblem(
                file=str(file),
                line=line,
                column="patient_id",
                message=f"duplicate patient (first on line {patients[pid].line})",
                value=pid,
            )
        )
        bad = True
    if bad:
        return problems
    credential = values.get("credential", ROW_DEFAULTS["credential"])
    focal = values.get("primary_care_focal_point", ROW_DEFAULTS["primary_care_focal_point"])
    practitioner_key = (values["practitioner"], credential, focal)
    practitioner = practitioners.get(practitioner_key)
    if practitioner is None:
        practitioner = practitioners[practitioner_key] = BillingPractitioner(
            id=values["practitioner"], credential=credential, primary_care_focal_point=focal
        )
    return PatientRow(
        line=line,
        patient=PatientFacts(
            id=pid,
            conditions=values["conditions"],
            consent_on=_pairs(values.get("consent")),
            care_plan_on=_pairs(values.get("care_plan")),
            established=values.get("established", ROW_DEFAULTS["established"]),
            last_visit=values.get("last_visit"),
            qmb=values.get("qmb", ROW_DEFAULTS["qmb"]),
            date_of_death=values.get("date_of_death"),
        ),
        practitioner=practitioner,
        setting=values.get("setting", ROW_DEFAULTS["setting"]),
    )


def _typed(cells: dict[str, str]) -> dict[str, Any]:
    """CSV text to the JSON-like values the scenario reader checks (bad text is kept as text)."""
    out: dict[str, Any] = {}
    for name, text in cells.items():
        value = text.strip()
        if not value:
            continue
        if name in _INT_COLUMNS:
            try:
                out[name] = int(value)
            except ValueError:
                out[name] = value
        elif name in _BOOL_COLUMNS:
            try:
                out[name] = _bool(value)
            except ValueError:
                out[name] = value
        else:
            out[name] = value
    return out


def _parse_event(
    file: Path, line: int, cells: dict[str, str], default_practitioner: str
) -> tuple[Event | None, list[RowProblem]]:
    reader = _Reader("")
    # patient_id is the close's own column (which patient), not a field of the event.
    fields = _typed({name: text for name, text in cells.items() if name != "patient_id"})
    if "med_rec_on" in cells and "med_rec_on" not in fields and fields.get("type") == "discharge":
        # A file with the column records medication reconciliation (as a scenario's discharge
        # that gives med_rec_on): a blank cell on a discharge is none done, and TCM checks it.
        fields["med_rec_on"] = None
    event = _event(reader, fields, "", default_practitioner)
    problems = [
        RowProblem(
            file=str(file),
            line=line,
            column=p.path.lstrip(".").split(".")[0] or None,
            message=p.message,
            value=None if p.value is errors._MISSING else str(p.value),  # noqa: SLF001
        )
        for p in reader.problems
    ]
    return event, problems


def _raw_rows(
    file: Path, byte_range: tuple[int, int, int] | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as dicts; with *byte_range*, only the lines that start inside it.

    Line numbers are exact for a whole file; for a byte range they count from
    the range's first line plus its ``first_line`` (see _split_plan).
    """
    with _open(file) as handle:
        reader = limits.csv_rows(handle, what=file.name)
        header = _header(reader, file, EVENT_COLUMNS, _EVENT_REQUIRED)
        width = len(header)
        index = header.index("patient_id")
        first_line = 2
        if byte_range is not None:
            start, end, first_line = byte_range
            reader = limits.csv_rows(_lines_between(file, start, end), what=file.name)
        for line, row in enumerate(reader, start=first_line):
            if len(row) != width:
                if not any(cell.strip() for cell in row):
                    continue
                # Kept with the patient it names, so it does not split that patient's rows.
                named = row[index] if len(row) > index else ""
                yield line, {"__width__": str(len(row)), "patient_id": named}
                continue
            yield line, dict(zip(header, row, strict=True))


def _lines_between(file: Path, start: int, end: int) -> Iterator[str]:
    with file.open("rb") as raw:
        raw.seek(start)
        while raw.tell() < end:
            data = raw.readline()
            if not data:
                return
            yield data.decode("utf-8")


def _is_grouped(file: Path) -> bool:
    """Whether each patient's rows are contiguous (one quick pass over the first column)."""
    try:
        return _contiguous(file)
    except UnicodeDecodeError:
        return False  # not UTF-8: the full read refuses it by file and line


def _contiguous(file: Path) -> bool:
    seen: set[str] = set()
    current = None
    with _open(file) as handle:
        header = next(csv.reader([handle.readline()]), [])
        first_is_pid = bool(header) and header[0].strip() == "patient_id"
        index = (
            [h.strip() for h in header].index("patient_id")
            if "patient_id" in [h.strip() for h in header]
            else 0
        )
        for text in handle:
            if first_is_pid and '"' not in text:
                pid = text.split(",", 1)[0].strip()
            else:
                try:
                    cells = next(csv.reader([text]), [])
                except csv.Error:
                    # A cell past the limit csv_cell: the full read refuses it by line.
                    return False
                pid = cells[index].strip() if len(cells) > index else ""
            if pid != current:
                if pid in seen:
                    return False
                if current is not None:
                    seen.add(current)
                current = pid
    return True


def _groups(
    file: Path, byte_range: tuple[int, int, int] | None = None, *, grouped: bool | None = None
) -> Iterator[tuple[str, list[tuple[int, dict[str, str]]]]]:
    """Rows grouped by patient: streamed when the file is grouped, else grouped in memory."""
    if grouped is None:
        grouped = _is_grouped(file)
    if not grouped:
        everything: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for line, cells in _raw_rows(file, byte_range):
            everything.setdefault(cells.get("patient_id", "").strip(), []).append((line, cells))
        yield from everything.items()
        return
    current: str | None = None
    batch: list[tuple[int, dict[str, str]]] = []
    for line, cells in _raw_rows(file, byte_range):
        pid = cells.get("patient_id", "").strip()
        if pid != current and batch:
            yield current or "", batch
            batch = []
        current = pid
        batch.append((line, cells))
    if batch:
        yield current or "", batch


def iter_patient_months(
    patients: dict[str, PatientRow],
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    *,
    orphans_out: list[RowProblem] | None = None,
    byte_range: tuple[int, int, int] | None = None,
    grouped: bool | None = None,
    done: set[str] | None = None,
    include_idle: bool = True,
) -> Iterator[PatientMonth]:
    """Evaluate every patient of *patients* for *month*, streaming events.csv.

    Patients without events are evaluated too (they bill nothing, but the
    close says so). Event rows naming a patient not in patients.csv are
    appended to *orphans_out* when given.
    """
    from carecore.billing._fast import FastClose  # noqa: PLC0415

    file = Path(events_csv)
    fast = FastClose(rules, month)
    light = _LightParser()
    done = set() if done is None else done
    orphans: list[RowProblem] = []
    for pid, rows in _groups(file, byte_range, grouped=grouped):
        row = patients.get(pid)
        if row is None:
            orphans.extend(
                RowProblem(
                    file=str(file),
                    line=line,
                    column="patient_id",
                    message="not in patients.csv",
                    value=pid or None,
                )
                for line, _ in rows
            )
            continue
        if pid in done:
            continue
        done.add(pid)
        yield _close_rows(file, row, rows, fast, light, month, rules)
    if include_idle:
        for pid, row in patients.items():
            if pid not in done:
                yield _close_idle(row, fast, month, rules)
    if orphans_out is not None:
        orphans_out.extend(orphans)


def _close_rows(  # noqa: PLR0917
    file: Path,
    row: PatientRow,
    rows: list[tuple[int, dict[str, str]]],
    fast: Any,
    light: _LightParser,
    month: ServicePeriod,
    rules: RuleSet,
) -> PatientMonth:
    """One patient's event rows (in file order) closed: fast path when it qualifies, else the engine."""
    entries = light.time_only(rows, row)
    if entries is not None:
        result = fast.evaluate(row.patient, row.practitioner, entries)
        log = tuple((*e, row.practitioner.id) for e in entries)
        return PatientMonth(row=row, period=month, result=result, time_log=log, fast=True)
    events: list[Event] = []
    problems: list[RowProblem] = []
    for line, cells in rows:
        if "__width__" in cells:
            problems.append(
                RowProblem(
                    file=str(file),
                    line=line,
                    column=None,
                    message="wrong number of cells",
                    value=cells["__width__"],
                )
            )
            continue
        event, found = light.event(file, line, cells, row.practitioner.id)
        problems.extend(found)
        if event is not None and not found:
            events.append(event)
    return _close_one(row, events, problems, month, rules)


def _with_practitioner(event: Any, practitioner: str) -> Any:
    """``attrs.evolve(event, practitioner=practitioner)``, checking only the field that changes.

    The other fields keep values their validators passed, and no validator of
    an event reads another field's practitioner, so the copy is the one
    evolve would build, at about a third of the cost (most rows of a close leave
    the practitioner cell blank, so most events read from a cache are copied).
    The fields of a slotted class are set through their slots.
    """
    cls = type(event)
    found = _EVENT_FIELDS.get(cls)
    if found is None:
        fields = attrs.fields(cls)
        others = tuple(a.name for a in fields if a.name != "practitioner")
        slots = [getattr(cls, name, None) for name in (*others, "practitioner")]
        setters = (
            tuple(slot.__set__ for slot in slots if isinstance(slot, types.MemberDescriptorType))
            if len(others) > 1
            else ()
        )
        found = _EVENT_FIELDS[cls] = (
            others,
            operator.attrgetter(*others),
            setters,
            fields.practitioner,
        )
    names, values, setters, changed = found
    if changed.converter is not None:  # pragma: no cover - no event converts its practitioner
        return attrs.evolve(event, practitioner=practitioner)
    copied = object.__new__(cls)
    if len(setters) == len(names) + 1:
        for set_slot, value in zip(setters, values(event), strict=False):
            set_slot(copied, value)
        setters[-1](copied, practitioner)
    else:  # pragma: no cover - every event class is slotted
        for name in names:
            object.__setattr__(copied, name, getattr(event, name))
        object.__setattr__(copied, "practitioner", practitioner)
    if changed.validator is not None:
        changed.validator(copied, changed, practitioner)
    return copied


#: Per event class: the other fields' names, a getter of their values, the slots' setters
#: (the practitioner's last; fewer for a class without slots) and the practitioner field.
_EVENT_FIELDS: dict[type, tuple[tuple[str, ...], Any, tuple[Any, ...], Any]] = {}


class _LightParser:
    """Reads time-entry rows straight into tuples for the fast path.

    Returns None (the reference path then reads the rows and reports any
    problem) as soon as a row is not a clean time entry of a fast family
    attributed to the patient's own practitioner.
    """

    def __init__(self) -> None:
        from carecore.billing._fast import FAST_FAMILIES, FAST_SETTING  # noqa: PLC0415
        from carecore.model.codes import RoleClass  # noqa: PLC0415

        self.families = {f.value: f for f in FAST_FAMILIES}
        self.setting = FAST_SETTING
        self.roles = {r.value: r for r in RoleClass}
        self.credentials: dict[str, Credential] = {c.value: c for c in Credential}
        self.credentials.update(CREDENTIAL_ALIASES)
        self.dates: dict[str, pendulum.Date] = {}
        self.flags = {"": False, "true": True, "false": False, "True": True, "False": False}
        #: Events read from rows, by the row's cells other than patient_id (see :meth:`event`).
        self.events: dict[tuple[str, ...], Event] = {}
        #: The same, by the row's text without patient_id (see :meth:`event_by_text`).
        self.texts: dict[str, Event] = {}

    def event(
        self, file: Path, line: int, cells: dict[str, str], default_practitioner: str
    ) -> tuple[Event | None, list[RowProblem]]:
        """:func:`_parse_event`, read once per distinct row (facts name no patient).

        A row that reads cleanly gives the same event wherever it appears,
        except for the practitioner it falls back to when its own cell is
        blank: the cached event is then copied with this row's fallback.
        """
        key = tuple(text for name, text in cells.items() if name != "patient_id")
        event = self.events.get(key)
        if event is None:
            event, problems = _parse_event(file, line, cells, default_practitioner)
            if event is not None and not problems and len(self.events) < _EVENT_CACHE_LIMIT:
                self.events[key] = event
            return event, problems
        return self._fallback(
            event, cells.get("practitioner", ""), cells.get("type", ""), default_practitioner
        ), []

    def event_by_text(  # noqa: PLR0917
        self,
        file: Path,
        line: int,
        key: str,
        cells: Callable[[], dict[str, str]],
        practitioner_cell: str,
        type_cell: str,
        default_practitioner: str,
    ) -> tuple[Event | None, list[RowProblem]]:
        """:meth:`event`, cached by *key*: the row's text without its patient_id cell.

        For plain files (no quotes), where two rows whose cells other than
        patient_id are equal have equal *key*. *cells* builds the row's
        cells, called only when the row is read for the first time;
        *practitioner_cell* and *type_cell* are its practitioner and type
        cells ("" when the file has no such column).
        """
        event = self.texts.get(key)
        if event is None:
            event, problems = _parse_event(file, line, cells(), default_practitioner)
            if event is not None and not problems and len(self.texts) < _EVENT_CACHE_LIMIT:
                self.texts[key] = event
            return event, problems
        return self._fallback(event, practitioner_cell, type_cell, default_practitioner), []

    @staticmethod
    def _fallback(
        event: Event, practitioner_cell: str, type_cell: str, default_practitioner: str
    ) -> Event:
        """*event* (cached) for a row whose practitioner and type cells are these.

        A blank practitioner cell stands for *default_practitioner*.
        """
        if (
            getattr(event, "practitioner", default_practitioner) != default_practitioner
            and not practitioner_cell.strip()
            and type_cell.strip() not in _NO_PRACTITIONER
        ):
            # Every kind of event this applies to has a practitioner field.
            copied: Event = _with_practitioner(event, default_practitioner)
            return copied
        return event

    def _date(self, text: str) -> pendulum.Date | None:
        day = self.dates.get(text)
        if day is None:
            try:
                day = _date(text)
            except ValueError:
                return None
            self.dates[text] = day
        return day

    def time_only(
        self, rows: list[tuple[int, dict[str, str]]], patient: PatientRow
    ) -> list[Any] | None:
        if patient.setting is not self.setting:
            return None
        own = patient.practitioner.id
        out = []
        for _line, cells in rows:
            if cells.get("type") != "time_entry":
                return None
            family = self.families.get(cells.get("family", ""))
            role = self.roles.get(cells.get("role", ""))
            day = self._date(cells.get("date", ""))
            practitioner = cells.get("practitioner", "")
            credential_text = cells.get("credential", "")
            credential = self.credentials.get(credential_text.upper()) if credential_text else None
            interactive = self.flags.get(cells.get("interactive", ""))
            minutes_text = cells.get("minutes", "")
            if (
                family is None
                or role is None
                or day is None
                or (practitioner and practitioner != own)
                or (credential_text and credential is None)
                or interactive is None
                or not minutes_text.isdigit()
                or len(minutes_text) > 9  # noqa: PLR2004 - a 5,000-digit number raised ValueError
            ):
                return None
            minutes = int(minutes_text)
            if minutes not in _ENTRY_MINUTES:
                return None
            out.append((day, minutes, role, family, credential, interactive))
        return out


def _close_idle(row: PatientRow, fast: Any, month: ServicePeriod, rules: RuleSet) -> PatientMonth:
    """A patient with no event rows: a time-only month with no time."""
    if row.setting is fast.setting:
        result = fast.evaluate(row.patient, row.practitioner, [])
        return PatientMonth(row=row, period=month, result=result, fast=True)
    return _close_one(row, [], [], month, rules)


def _close_one(
    row: PatientRow,
    events: list[Event],
    problems: list[RowProblem],
    month: ServicePeriod,
    rules: RuleSet,
) -> PatientMonth:
    from carecore.billing.facts import CarePlanFact, TimeFact  # noqa: PLC0415

    facts = BillingFacts(
        period=month,
        setting=row.setting,
        practitioners=[row.practitioner],
        patient=row.patient,
        events=events,
    )
    log = tuple(
        (e.date, e.minutes, e.role, e.family, e.credential, e.interactive, e.practitioner)
        for e in facts.events
        if isinstance(e, TimeFact)
    )
    plans = tuple(e for e in facts.events if isinstance(e, CarePlanFact))
    return PatientMonth(
        row=row,
        period=month,
        result=evaluate(facts, rules),
        time_log=log,
        care_plan_events=plans,
        problems=problems,
    )


# -- outputs ----------------------------------------------------------------------------


@frozen(kw_only=True)
class CodeTotal:
    """Lines, units and approximate revenue of one code in a close.

    ``amount`` is a Decimal as text (approximate national amounts, see the
    billing docs), None when the code has no listed fee: never "0".
    """

    code: str
    lines: int
    units: int
    amount: str | None


@frozen(kw_only=True)
class CloseSummary:
    """What a month close produced."""

    month: str
    rule_set: str
    rule_set_year: int
    rule_set_version: str
    patients_evaluated: int
    patients_billed: int
    claim_lines: int
    denials: int
    rows_rejected: int
    #: The listed fees of the lines billed; lines of codes with no listed fee are left out.
    expected_revenue: str
    #: Claim lines whose code has no listed fee (not in ``expected_revenue``).
    unpriced_lines: int = 0
    codes: tuple[CodeTotal, ...] = field(default=(), converter=v.to_tuple)


def audit_packet(month: PatientMonth, rules: RuleSet) -> dict[str, Any]:
    """The audit packet of one billed patient-month, as a dict (see :meth:`CloseEncoder.audit_json`)."""
    return CloseEncoder(rules, month.period).audit_packet(month)


def audit_json(month: PatientMonth, rules: RuleSet) -> str:
    """The audit packet of one billed patient-month as one line of JSON (the encoder's text)."""
    return CloseEncoder(rules, month.period).audit_json(month)


class CloseWriter:
    """Writes a close to a folder as it streams: claims, denials, audit packets, summary.

    Files: ``claims.csv``, ``claims.json`` (a JSON array), ``denials.csv``,
    ``audit/packets.jsonl`` (one JSON audit packet per billed patient-month,
    one per line) and ``summary.json``. A *part* writer (one worker of a
    parallel close) writes claims as JSON lines and no headers or summary;
    :meth:`merge` appends a part to the final files in order.
    """

    def __init__(
        self, out: Path | None, month: ServicePeriod, rules: RuleSet, *, part: bool = False
    ) -> None:
        from collections import Counter  # noqa: PLC0415

        self.month = month
        self.rules = rules
        self.out = out
        self.part = part
        #: The text of every row written (shared with the columnar close).
        self.encoder = CloseEncoder(rules, month)
        self.lines_by_code: Counter[str] = Counter()
        self.units_by_code: Counter[str] = Counter()
        self.amount_by_code: dict[str, Decimal] = {}
        #: Lines per code with no listed fee.
        self.unpriced_by_code: Counter[str] = Counter()
        self.patients = 0
        self.billed = 0
        self.claim_count = 0
        self.denial_count = 0
        self.rejected = 0
        self._first_claim = True
        if out is not None:
            private_folder(out)
            private_folder(out / "audit")
            self._claims = private_open(out / "claims.csv", newline="", encoding="utf-8")
            self._claims_json = private_open(
                out / ("claims.jsonl" if part else "claims.json"), encoding="utf-8"
            )
            self._denials = private_open(out / "denials.csv", newline="", encoding="utf-8")
            self._audit = private_open(out / "audit" / "packets.jsonl", encoding="utf-8")
            if not part:
                self._claims.write(self.encoder.header(CLAIM_COLUMNS))
                self._denials.write(self.encoder.header(DENIAL_COLUMNS))
                self._claims_json.write(self.encoder.CLAIMS_JSON_OPEN)

    def _claim_separator(self) -> str:
        encoder = self.encoder
        return encoder.CLAIMS_JSON_FIRST if self._first_claim else encoder.CLAIMS_JSON_NEXT

    def add(self, month: PatientMonth) -> None:
        """Record one patient's close."""
        self.count(month)
        if self.out is None:
            return
        self.write(*self.render(month))

    def count(self, month: PatientMonth) -> None:
        """Add one patient's close to the counters (nothing is written)."""
        from decimal import Decimal  # noqa: PLC0415

        self.patients += 1
        self.rejected += len(month.problems)
        result = month.result
        if result.claim_lines:
            self.billed += 1
        for line in result.claim_lines:
            self.claim_count += 1
            self.lines_by_code[line.code] += 1
            self.units_by_code[line.code] += line.units
            if line.amount is None:
                self.unpriced_by_code[line.code] += 1
            else:
                self.amount_by_code[line.code] = (
                    self.amount_by_code.get(line.code, Decimal(0)) + line.amount
                )
        self.denial_count += len(result.denials)

    def render(self, month: PatientMonth) -> tuple[str, list[str], str, str]:
        """One patient's output text: claims.csv rows, claims.json items, denials.csv rows, audit line."""
        result = month.result
        encoder = self.encoder
        claims_csv = encoder.claims_csv(result.claim_lines) if result.claim_lines else ""
        practitioner = month.row.practitioner.id
        denials_csv = encoder.denials_csv(result.denials, practitioner) if result.denials else ""
        claims_json = [encoder.claim_json(line) for line in result.claim_lines]
        audit = encoder.audit_json(month) + "\n" if result.claim_lines else ""
        return claims_csv, claims_json, denials_csv, audit

    def write(self, claims_csv: str, claims_json: list[str], denials_csv: str, audit: str) -> None:
        """Append rendered text (see :meth:`render`) to the files, in close order."""
        self._claims.write(claims_csv)
        for item in claims_json:
            if self.part:
                self._claims_json.write(item + "\n")
            else:
                self._claims_json.write(self._claim_separator() + item)
            self._first_claim = False
        self._denials.write(denials_csv)
        self._audit.write(audit)

    def state(self) -> dict[str, Any]:
        """The counters, to merge into another writer (see :meth:`merge`)."""
        return {
            "lines": dict(self.lines_by_code),
            "units": dict(self.units_by_code),
            "amounts": {code: str(amount) for code, amount in self.amount_by_code.items()},
            "unpriced": dict(self.unpriced_by_code),
            "patients": self.patients,
            "billed": self.billed,
            "claims": self.claim_count,
            "denials": self.denial_count,
            "rejected": self.rejected,
        }

    def merge(self, state: dict[str, Any], folder: Path | None) -> None:
        """Add a part's counters, and append its files from *folder* to this writer's files."""
        from decimal import Decimal  # noqa: PLC0415

        self.lines_by_code.update(state["lines"])
        self.units_by_code.update(state["units"])
        for code, amount in state["amounts"].items():
            self.amount_by_code[code] = self.amount_by_code.get(code, Decimal(0)) + Decimal(amount)
        self.unpriced_by_code.update(state["unpriced"])
        self.patients += state["patients"]
        self.billed += state["billed"]
        self.claim_count += state["claims"]
        self.denial_count += state["denials"]
        self.rejected += state["rejected"]
        if self.out is None or folder is None:
            return
        import shutil  # noqa: PLC0415

        self._claims.flush()
        self._denials.flush()
        self._audit.flush()
        for name, target in (
            ("claims.csv", self._claims),
            ("denials.csv", self._denials),
            ("audit/packets.jsonl", self._audit),
        ):
            with (folder / name).open(encoding="utf-8", newline="") as source:
                shutil.copyfileobj(source, target, 1 << 20)
        with (folder / "claims.jsonl").open(encoding="utf-8") as source:
            for text in source:
                self._claims_json.write(self._claim_separator() + text.rstrip("\n"))
                self._first_claim = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self.abort()

    def abort(self) -> None:
        """Close the files after a failure, without ``summary.json`` (the close is incomplete).

        Used as a context manager, the writer aborts when the block raises.
        """
        if self.out is None:
            return
        for handle in (self._claims, self._claims_json, self._denials, self._audit):
            with contextlib.suppress(OSError):
                handle.close()

    def finish(self, extra_rejected: int = 0) -> CloseSummary:
        """Close the files and (unless a part) write ``summary.json``."""
        from decimal import Decimal  # noqa: PLC0415

        self.rejected += extra_rejected
        codes = tuple(
            CodeTotal(
                code=code,
                lines=self.lines_by_code[code],
                units=self.units_by_code[code],
                amount=(
                    None
                    if self.unpriced_by_code[code] == self.lines_by_code[code]
                    else str(self.amount_by_code.get(code, Decimal(0)))
                ),
            )
            for code in sorted(self.lines_by_code)
        )
        summary = CloseSummary(
            month=f"{self.month.start.year:04d}-{self.month.start.month:02d}",
            rule_set=self.rules.id,
            rule_set_year=self.rules.year,
            rule_set_version=self.rules.version,
            patients_evaluated=self.patients,
            patients_billed=self.billed,
            claim_lines=self.claim_count,
            denials=self.denial_count,
            rows_rejected=self.rejected,
            expected_revenue=str(sum(self.amount_by_code.values(), Decimal(0))),
            unpriced_lines=sum(self.unpriced_by_code.values()),
            codes=codes,
        )
        if self.out is not None:
            if not self.part:
                self._claims_json.write(self.encoder.CLAIMS_JSON_CLOSE)
            for handle in (self._claims, self._claims_json, self._denials, self._audit):
                handle.close()
            if not self.part:
                with private_open(self.out / "summary.json", encoding="utf-8") as handle:
                    handle.write(self.encoder.summary_json(summary))
        return summary


# -- running a close, in one process or several -------------------------------------------


def _split_plan(file: Path, parts: int) -> list[tuple[int, int, int]] | None:
    """Byte ranges of whole patient groups, one per part, with their first line numbers.

    None when the file cannot be split safely (not grouped by patient, or it
    has quoted cells, which may hold line breaks).
    """
    size = file.stat().st_size
    with file.open("rb") as raw:
        header = raw.readline()
        body_start = raw.tell()
        cuts = [body_start]
        lines_before = [2]
        line_number = 2
        for k in range(1, parts):
            target = max(body_start, size * k // parts)
            if target <= cuts[-1]:
                continue
            # Count lines up to the target, then move to the next patient boundary.
            raw.seek(cuts[-1])
            while raw.tell() < target:
                if not raw.readline():
                    break
                line_number += 1
            previous = None
            while True:
                position = raw.tell()
                data = raw.readline()
                if not data:
                    break
                pid = data.split(b",", 1)[0].strip()
                if previous is not None and pid != previous:
                    cuts.append(position)
                    lines_before.append(line_number)
                    break
                previous = pid
                line_number += 1
            if not data:
                break
    if b'"' in header:
        return None
    bounds = [*cuts, size]
    return [
        (bounds[i], bounds[i + 1], lines_before[i])
        for i in range(len(cuts))
        if bounds[i] < bounds[i + 1]
    ]


class _PartState:
    """What each worker of a parallel reference close reads (its pool initializer's arguments)."""

    def __init__(
        self,
        *,
        patients: dict[str, PatientRow],
        events: Path,
        month: ServicePeriod,
        rules: RuleSet,
        counter: Any = None,
    ) -> None:
        self.patients = patients
        self.events = events
        self.month = month
        self.rules = rules
        self.counter = counter


def _close_part(
    state: _PartState, task: tuple[int, tuple[int, int, int], Path | None]
) -> dict[str, Any]:
    """Close one byte range of events.csv in a worker."""
    index, byte_range, out = task
    patients, events, month, rules = state.patients, state.events, state.month, state.rules
    counter = state.counter
    with CloseWriter(out, month, rules, part=True) as writer:
        done: set[str] = set()
        orphans: list[RowProblem] = []
        problems: list[RowProblem] = []
        seen = 0
        for item in iter_patient_months(
            patients,
            events,
            month,
            rules,
            orphans_out=orphans,
            byte_range=byte_range,
            grouped=True,
            done=done,
            include_idle=False,
        ):
            writer.add(item)
            problems.extend(item.problems)
            seen += 1
            if counter is not None and seen % 1000 == 0:
                with counter.get_lock():
                    counter.value += 1000
        if counter is not None:
            with counter.get_lock():
                counter.value += seen % 1000
        writer.finish()
    return {"index": index, "state": writer.state(), "done": done, "problems": problems + orphans}


def run_close(  # noqa: C901, PLR0912
    patients: dict[str, PatientRow],
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: Path | None,
    *,
    workers: int = 1,
    extra_rejected: int = 0,
    on_progress: Any = None,
) -> tuple[CloseSummary, list[RowProblem]]:
    """Close *month*: evaluate every patient and write the outputs; return the summary and refused rows.

    With ``workers > 1`` and a file grouped by patient, the events are split
    into byte ranges of whole patients, closed in parallel worker processes
    (``fork``), and the parts merged in order, so the outputs are the same as
    a one-process close. *on_progress* is called with the number of patients
    closed so far.
    """
    import multiprocessing  # noqa: PLC0415

    events = Path(events_csv)
    plan = None
    if workers > 1 and "fork" in multiprocessing.get_all_start_methods() and _is_grouped(events):
        plan = _split_plan(events, workers)
    problems: list[RowProblem] = []
    if not plan or len(plan) < 2:  # noqa: PLR2004
        with CloseWriter(out, month, rules) as writer:
            orphans: list[RowProblem] = []
            for count, item in enumerate(
                iter_patient_months(patients, events, month, rules, orphans_out=orphans), start=1
            ):
                writer.add(item)
                problems.extend(item.problems)
                if on_progress is not None and count % 1000 == 0:
                    on_progress(count)
            if on_progress is not None:
                on_progress(writer.patients)
            problems.extend(orphans)
            return writer.finish(extra_rejected=len(orphans) + extra_rejected), problems
    counter = multiprocessing.get_context("fork").Value("q", 0)
    parts_dir = out / ".parts" if out is not None else None
    tasks = [
        (i, byte_range, parts_dir / str(i) if parts_dir else None)
        for i, byte_range in enumerate(plan)
    ]
    with open_pool(
        len(tasks),
        _PartState,
        patients=patients,
        events=events,
        month=month,
        rules=rules,
        counter=counter,
    ) as runner:
        jobs = [runner.submit(_close_part, task) for task in tasks]
        results = []
        for job in jobs:
            while True:
                try:
                    results.append(job.result(0.5))
                    break
                except TimeoutError:
                    if on_progress is not None:
                        on_progress(counter.value)
        results.sort(key=lambda r: r["index"])
    with CloseWriter(out, month, rules) as writer:
        done: set[str] = set()
        for result in results:
            writer.merge(result["state"], parts_dir / str(result["index"]) if parts_dir else None)
            done |= result["done"]
            problems.extend(result["problems"])
        # Patients with no event rows at all close in this process.
        from carecore.billing._fast import FastClose  # noqa: PLC0415

        idle = FastClose(rules, month)
        for pid, row in patients.items():
            if pid not in done:
                writer.add(_close_idle(row, idle, month, rules))
        if parts_dir is not None:
            import shutil  # noqa: PLC0415

            shutil.rmtree(parts_dir, ignore_errors=True)
        if on_progress is not None:
            on_progress(writer.patients)
        orphan_count = sum(1 for p in problems if p.message == "not in patients.csv")
        return writer.finish(extra_rejected=orphan_count + extra_rejected), problems


# -- the public entry points -------------------------------------------------------------

#: The engines :func:`close_files` can run.
ENGINES = ("auto", "reference", "columnar")
#: Events files larger than this close with several workers by default.
_PARALLEL_BYTES = 32 * 1024 * 1024


def close_files(  # noqa: C901 - checks of each setting, then one engine
    patients_csv: str | Path,
    events_csv: str | Path,
    month: ServicePeriod,
    rules: RuleSet,
    out: str | Path | None,
    *,
    engine: str = "auto",
    workers: int | None = None,
    on_progress: Callable[[int, int | None], object] | None = None,
    on_notice: Callable[[str], object] | None = None,
    buckets: int | str = "auto",
) -> tuple[CloseSummary, list[RowProblem]]:
    r"""Close *month* over a patients.csv / events.csv pair; return the summary and every refused row.

    *engine* is ``"columnar"`` (the polars close, ``carecore[fast]``),
    ``"reference"`` (the pure-Python close) or ``"auto"``: columnar when
    polars is installed and the files qualify, else reference. Both write
    the same files under *out* (None: nothing is written). *workers* is the
    number of worker processes (default: up to 4 for an events file over
    32 MB, else 1). *on_progress* gets ``(patients closed, patients)``,
    the total None while unknown; *on_notice* gets a sentence when the
    columnar engine was asked for but the files need the reference reader.
    *buckets* (a whole number, or ``"auto"``: one per 384 MB of events.csv)
    over 1 closes the files bucket by bucket, so memory is bounded by a
    bucket (see :mod:`carecore.billing._buckets`); the files are the same.

    Refused rows are listed as the CLI prints them: patients.csv rows first,
    then event rows in close order, then rows naming unknown patients.

    The files are written into a new folder beside *out* and renamed into
    place only when the close succeeds, so a failed close leaves the previous
    output as it was (see :mod:`carecore.billing._output`).

    >>> import pathlib, tempfile
    >>> from carecore.billing.cms import cms_rule_set
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "patients.csv").write_text(
    ...     "patient_id,practitioner,conditions,consent,care_plan,last_visit\n"
    ...     "p1,dr1,E11.65;I10,CCM=2025-11-03,CCM=2025-11-03,2025-11-03\n")
    >>> _ = (folder / "events.csv").write_text(
    ...     "patient_id,date,type,minutes,role,family\n"
    ...     "p1,2026-01-06,time_entry,25,clinical_staff,CCM\n")
    >>> summary, refused = close_files(folder / "patients.csv", folder / "events.csv",
    ...     ServicePeriod.month(2026, 1), cms_rule_set(2026), folder / "out", engine="reference")
    >>> summary.claim_lines, refused
    (1, [])
    """
    if out is not None and not staging_active():
        # Written aside and renamed into place: a failed close keeps the previous output.
        with staged_output(out) as staging:
            return close_files(
                patients_csv,
                events_csv,
                month,
                rules,
                staging,
                engine=engine,
                workers=workers,
                on_progress=on_progress,
                on_notice=on_notice,
                buckets=buckets,
            )
    from carecore.billing._columnar import close_columnar, polars_available  # noqa: PLC0415
    from carecore.billing.rules import RuleSet  # noqa: PLC0415

    if engine not in ENGINES:
        raise errors.InvalidValue(
            f"must be one of {', '.join(ENGINES)}", field="engine", value=engine
        )
    if not isinstance(month, ServicePeriod):
        raise errors.InvalidValue("must be a ServicePeriod", field="month", value=month)
    if not isinstance(rules, RuleSet):
        raise errors.InvalidValue("must be a billing RuleSet", field="rules", value=rules)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="workers", value=workers
        )
    v.check_callable(on_progress, "on_progress")
    v.check_callable(on_notice, "on_notice")
    if engine == "columnar" and not polars_available():
        raise errors.InvalidValue(
            f"needs polars: {errors.MissingDependency.install_command('fast')}",
            field="engine",
            value=engine,
        )
    from carecore.billing._buckets import bucket_count, close_in_buckets  # noqa: PLC0415

    count = bucket_count(events_csv, buckets)
    if count > 1:
        return close_in_buckets(
            patients_csv,
            events_csv,
            month,
            rules,
            out,
            buckets=count,
            engine=engine,
            workers=workers,
            on_progress=on_progress,
            on_notice=on_notice,
        )
    patients_file, events_file = Path(patients_csv), Path(events_csv)
    target = None if out is None else Path(out)
    if workers is None:
        # Parallel only pays for itself on big files (each worker forks the patient table).
        size = events_file.stat().st_size if events_file.exists() else 0
        workers = min(os.cpu_count() or 1, 4) if size > _PARALLEL_BYTES else 1
    if engine != "reference" and polars_available():
        closed = close_columnar(
            patients_file,
            events_file,
            month,
            rules,
            target,
            workers=workers,
            on_progress=None if on_progress is None else (lambda done: on_progress(done, None)),
        )
        if closed is not None:
            return closed
        if engine == "columnar" and on_notice is not None:
            on_notice(
                "these files need the reference reader (quoted cells, blank lines, rows with "
                "the wrong number of cells or duplicate patients); closing with the reference engine"
            )
    patients, problems = read_patients(patients_file)
    total = len(patients)
    summary, refused = run_close(
        patients,
        events_file,
        month,
        rules,
        target,
        workers=workers,
        extra_rejected=len(problems),
        on_progress=None if on_progress is None else (lambda done: on_progress(done, total)),
    )
    return summary, [*problems, *refused]


def close_store(
    program: CareProgram,
    month: ServicePeriod,
    rules: RuleSet,
    out: str | Path | None,
    *,
    reason: str = "carecore billing close",
    on_progress: Callable[[int, int], None] | None = None,
    setting: Setting | None = None,
    require_coverage: bool = False,
    workers: int | None = None,
    partition_size: int | None = None,
    executor: Executor | None = None,
    partitions: int | None = None,
) -> CloseSummary:
    """Close *month* over a store: store the claim lines and denials, write the CSV close's files.

    *setting* (default: the physician office) and *require_coverage* are
    those of :meth:`~carecore.service.CareProgram.close_month`, which this
    close equals: the same claim lines and denials are stored, by the same
    replacement rule, in one transaction.

    The patients are split into *partitions* by a stable hash of their id
    (:func:`carecore.executors.partition_of`; default: as many as make
    partitions of about *partition_size* patients, default
    :data:`carecore.service.PARTITION_SIZE`). Each is read in one
    transaction and one query per kind of record, and built and evaluated in
    *workers* forked processes (default: up to 4, one per core, when there
    are two partitions or more); memory follows the partition size, not the
    store. Over a store other processes can open (SQLite file, PostgreSQL),
    each worker reads its partition itself and stores the partition's lines
    and denials in one transaction of its own; re-running a partition
    replaces its lines, never adds them twice.
    With *executor* (:mod:`carecore.executors`: a process pool, Dask, a
    plugin's), the partitions run on its workers instead; the caller closes
    it.
    Every patient's outcome goes through the same writer and encoder as a
    CSV close, and the parts are merged in order, so the files do not depend
    on the workers or the partitions. The audit packets carry the store's
    consent records (method, who obtained it, cost sharing explained,
    revocation) and the stored versions of the care plans.
    """
    from carecore.billing._store_parts import close_store_parts  # noqa: PLC0415
    from carecore.service import PARTITION_SIZE, _check_close_options  # noqa: PLC0415

    if not isinstance(month, ServicePeriod) or month != ServicePeriod.month(
        month.start.year, month.start.month
    ):
        raise errors.InvalidValue(
            "must be one calendar month (ServicePeriod.month(year, month))",
            field="month",
            value=month,
        )
    v.check_callable(on_progress, "on_progress")
    chosen = setting if setting is not None else Setting.PHYSICIAN_OFFICE
    _check_close_options(chosen, require_coverage)
    if out is not None and not staging_active():
        # Written aside and renamed into place: a failed close keeps the previous output.
        with staged_output(out) as staging:
            return close_store(
                program,
                month,
                rules,
                staging,
                reason=reason,
                on_progress=on_progress,
                setting=setting,
                require_coverage=require_coverage,
                workers=workers,
                partition_size=partition_size,
                executor=executor,
                partitions=partitions,
            )
    if workers is None:
        workers = min(os.cpu_count() or 1, 4)
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="workers", value=workers
        )
    size = PARTITION_SIZE if partition_size is None else partition_size
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="partition_size", value=partition_size
        )
    if partitions is not None and (
        isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1
    ):
        raise errors.InvalidValue(
            "must be a whole number of at least 1", field="partitions", value=partitions
        )
    # Written aside and renamed into place: a failed close keeps the previous output.
    with staged_output(out) as staging:
        return close_store_parts(
            program,
            month,
            rules,
            staging,
            reason,
            on_progress,
            chosen,
            require_coverage,
            workers,
            size,
            executor,
            partitions,
        )


def _plan_versions_as_of(
    dated: dict[str, list[tuple[CarePlan | PlanVersion, pendulum.Date | None]]],
    month: ServicePeriod,
) -> list[tuple[tuple[CarePlan | PlanVersion, pendulum.Date | None], ...]]:
    """Each care plan's stored versions written by the month's end, oldest first, with the day written.

    *dated* is each plan's versions with the day each was written, as the
    store's month records read them: the audit log's create and update
    entries date the later versions; the first stored version has no such
    date (None) and is kept when the plan was created by the month's end.
    """
    out = []
    for versions in dated.values():
        if versions[-1][0].created_on > month.end:
            continue
        out.append(
            tuple((version, day) for version, day in versions if day is None or day <= month.end)
        )
    return out


#: The cyclic garbage collector's thresholds while a close runs (see :func:`rare_collections`).
CLOSE_GC_THRESHOLDS = (100_000, 50, 100)


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """Run the cyclic garbage collector less often while a close runs; restore it after.

    A close (columnar or from a store) allocates millions of short-lived
    objects that hold no cycles (events, records, facts, results, text), and
    by default every 700 allocations start a collection that walks the young
    objects, and every so often all of them. Measured at 200,000 patients
    (bench/gen_close.py), these thresholds cut the CSV close's CPU by 8 to 12%.
    Forked workers inherit them (set before the pool starts them). The setting
    is the process's: other threads run with it while the close does.
    """
    before = gc.get_threshold()
    gc.set_threshold(*CLOSE_GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
