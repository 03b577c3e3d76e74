r"""The text of a month close: one encoder for claims, denials, claims.json, audit packets, summary.

:class:`CloseEncoder` owns the text form of every row a close writes. The
reference close (:mod:`carecore.billing._close`), the store close and the
columnar close (:mod:`carecore.billing._columnar`) all go through it:

* the reference and store closes call :meth:`CloseEncoder.claim_csv`,
  :meth:`~CloseEncoder.claim_json`, :meth:`~CloseEncoder.denial_csv` and
  :meth:`~CloseEncoder.audit_json` on each patient-month;
* the columnar close asks for the same rows as a :class:`Template`: the
  encoder's text with named holes (the patient id, the practitioner, the
  date of service, ...). It renders each distinct claim line or denial once
  and fills the holes with polars expressions (:meth:`Template.expr`).

A template is the encoder's own output, cut where the values go; filling
it with :meth:`Template.fill` gives the encoder's text whenever the values
are filled in encoded (:func:`json_text` and its like). The columnar close
fills them with *plain* text only (no character CSV or JSON would escape),
which every encoding writes as it is.

>>> from carecore.billing.cms import cms_rule_set
>>> from carecore.model import ServicePeriod
>>> encoder = CloseEncoder(cms_rule_set(2026), ServicePeriod.month(2026, 3))
>>> encoder.consent_item_template("CCM").fill(obtained_on='"2025-11-03"')
'"CCM":{"obtained_on":"2025-11-03","method":"not recorded","obtained_by":"not recorded","cost_sharing_explained":"not recorded","revoked_on":"not recorded"}'
"""

from __future__ import annotations

import csv
import io
import json
import json.encoder
import re
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import field, frozen

from carecore.billing.primitives import code_rule_id
from carecore.careplans import PlanVersion
from carecore.model import validators as v
from carecore.model.careplan import CarePlan
from carecore.model.enrollment import Consent

if TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Iterable

    import polars as pl

    from carecore.billing._close import CloseSummary, PatientMonth
    from carecore.billing._engine import EvaluationResult
    from carecore.billing.rules import RuleSet
    from carecore.model.codes import ServiceFamily
    from carecore.model.money import ClaimLine, Denial
    from carecore.model.period import ServicePeriod

__all__ = [
    "AUDIT_SCHEMA",
    "CLAIM_COLUMNS",
    "DENIAL_COLUMNS",
    "NOT_RECORDED",
    "AuditEvidence",
    "CloseEncoder",
    "Template",
    "json_text",
]

#: The audit packet's schema name (each packet's ``schema`` field).
AUDIT_SCHEMA = "carecore.audit-packet/3"
#: What a packet says where the source of the close holds no such record (a CSV close).
NOT_RECORDED = "not recorded"
#: claims.csv columns, in order.
CLAIM_COLUMNS = (
    "patient_id",
    "practitioner",
    "code",
    "units",
    "date_of_service",
    "modifiers",
    "period_start",
    "period_end",
    "amount",
    "diagnoses",
    "family",
)
#: denials.csv columns, in order.
DENIAL_COLUMNS = ("patient_id", "practitioner", "code", "reason", "message", "rule", "sources")
#: ``evaluated_by`` of a packet, by whether the month took the fast path.
EVALUATED_BY = {True: "fast path (cached reference result)", False: "reference engine"}

_quote = json.encoder.encode_basestring_ascii  # C-accelerated JSON string quoting
# The per-line text below reads an enum member's ``_value_`` (an attribute) where
# ``.value`` (a Python-level property) would cost about as much as the rest of a field.
#: At most this many shared texts are kept by one encoder (then they are rendered afresh).
_SHARED_TEXTS = 100_000


def rule_title(rules: RuleSet | None, code: str) -> str:
    """The title of the rule of *rules* that bills *code* (its summary), or "not recorded".

    The ``rule_title`` of a claim line in audit packets and in ``billing evaluate`` JSON.
    """
    rule = None if rules is None else rules.by_code.get(code)
    return NOT_RECORDED if rule is None else rule.summary


def line_json(line: ClaimLine, rules: RuleSet | None) -> dict[str, Any]:
    """A claim line as ``billing evaluate`` JSON gives it, with the fields audit packets carry.

    ``diagnoses`` are the line's ICD-10-CM codes in pointer order (the
    primary first), as in claims.csv and audit packets; ``rule`` and
    ``rule_title`` name the rule that bills the code.
    """
    return {
        "code": line.code,
        "units": line.units,
        "practitioner": line.billing_practitioner_id,
        "date_of_service": line.date_of_service.isoformat(),
        "modifiers": list(line.modifiers),
        "amount": None if line.amount is None else str(line.amount),
        "diagnoses": list(line.diagnoses),
        "rule": code_rule_id(line.family, line.code),
        "rule_title": rule_title(rules, line.code),
    }


def json_text(value: object) -> str:
    r"""*value* as a JSON string (``null`` for None); non-ASCII characters are escaped.

    >>> json_text('a "b"'), json_text(None)
    ('"a \\"b\\""', 'null')
    """
    return "null" if value is None else _quote(str(value))


#: ISO text of the days a close has written (few distinct; pendulum's isoformat costs ~2 us).
_ISO_DAYS: dict[dt.date, str] = {}


def _iso_day(day: dt.date) -> str:
    """``day.isoformat()``, each distinct day formatted once."""
    text = _ISO_DAYS.get(day)
    if text is None:
        text = day.isoformat()
        if len(_ISO_DAYS) < _SHARED_TEXTS:
            _ISO_DAYS[day] = text
    return text


def _json_day(day: pendulum.Date | None) -> str:
    return "null" if day is None else f'"{_iso_day(day)}"'


def _json_bool(value: bool) -> str:  # noqa: FBT001
    return "true" if value else "false"


def _hole(name: str) -> str:
    return f"\x00{name}\x00"


@frozen
class Template:
    """Encoded text with named holes: ``literals[0] + value(names[0]) + literals[1] + ...``.

    >>> t = Template.of(lambda who: f"[{who}]", "who")
    >>> t.fill(who="x"), t.names
    ('[x]', ('who',))
    """

    literals: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, render: Any, *names: str) -> Template:
        """Cut ``render(*holes)`` at the holes: *render* is one of the encoder's layouts."""
        text = render(*(_hole(n) for n in names))
        literals: list[str] = []
        found: list[str] = []
        # Cut at the holes themselves, in the order the text holds them: a NUL in the
        # layout's own text (a message, say) is part of a literal.
        holes = re.compile("|".join(re.escape(_hole(n)) for n in names)) if names else None
        start = 0
        for match in holes.finditer(text) if holes is not None else ():
            literals.append(text[start : match.start()])
            found.append(match.group()[1:-1])
            start = match.end()
        literals.append(text[start:])
        return cls(tuple(literals), tuple(found))

    def fill(self, **values: str) -> str:
        """The text with every hole filled by its (already encoded) value."""
        parts = [self.literals[0]]
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            parts.append(values[name])
            parts.append(literal)
        return "".join(parts)

    def partial(self, **values: str) -> Template:
        """The template with the holes named in *values* filled (the others stay holes)."""
        literals = [self.literals[0]]
        names: list[str] = []
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            if name in values:
                literals[-1] += values[name] + literal
            else:
                names.append(name)
                literals.append(literal)
        return Template(tuple(literals), tuple(names))

    def expr(self, **values: pl.Expr) -> pl.Expr:
        """The template as a polars string expression, each hole filled by an expression."""
        import polars as pl  # noqa: PLC0415

        parts: list[pl.Expr] = []
        if self.literals[0]:
            parts.append(pl.lit(self.literals[0]))
        for name, literal in zip(self.names, self.literals[1:], strict=True):
            parts.append(values[name])
            if literal:
                parts.append(pl.lit(literal))
        return pl.concat_str(parts)

    def cut(self, name: str) -> tuple[Template, Template]:
        """The text before the hole *name* and the text after it, as two templates.

        >>> Template.of(lambda a, b: f"<{a}|{b}>", "a", "b").cut("a")
        (Template(literals=('<',), names=()), Template(literals=('|', '>'), names=('b',)))
        """
        at = self.names.index(name)
        return (
            Template(self.literals[: at + 1], self.names[:at]),
            Template(self.literals[at + 1 :], self.names[at + 1 :]),
        )

    def as_columns(self, prefix: str) -> dict[str, str]:
        """The literals as columns ``<prefix>0``, ``<prefix>1``, ... (see :meth:`columns_expr`)."""
        return {f"{prefix}{i}": text for i, text in enumerate(self.literals)}

    @staticmethod
    def columns_expr(prefix: str, names: tuple[str, ...], **values: pl.Expr) -> pl.Expr:
        """Templates held per row (:meth:`as_columns`) filled by expressions, in polars.

        Every row's template must have the holes *names*, in that order.
        """
        import polars as pl  # noqa: PLC0415

        parts: list[pl.Expr] = [pl.col(f"{prefix}0")]
        for i, name in enumerate(names, start=1):
            parts += [values[name], pl.col(f"{prefix}{i}")]
        return pl.concat_str(parts)


def plain_json_expr(expr: pl.Expr) -> pl.Expr:
    """A polars column of plain text (nothing JSON escapes) as JSON strings."""
    import polars as pl  # noqa: PLC0415

    return pl.concat_str(pl.lit('"'), expr, pl.lit('"'))


def plain_json_or_null_expr(expr: pl.Expr) -> pl.Expr:
    """As :func:`plain_json_expr`, with ``null`` for a null value."""
    import polars as pl  # noqa: PLC0415

    return pl.when(expr.is_null()).then(pl.lit("null")).otherwise(plain_json_expr(expr))


def json_bool_expr(expr: pl.Expr) -> pl.Expr:
    """A polars boolean column as JSON ``true``/``false``."""
    import polars as pl  # noqa: PLC0415

    return pl.when(expr).then(pl.lit("true")).otherwise(pl.lit("false"))


@frozen(kw_only=True)
class AuditEvidence:
    """Records behind a stored patient-month's audit packet (a CSV close has none).

    *consents* are the patient's consent records; *care_plans*, per care
    plan, its stored versions written by the month's end, oldest first, each
    with the day it was written (None for the first stored version).
    """

    consents: tuple[Consent, ...] = field(default=(), converter=v.to_tuple)
    care_plans: tuple[tuple[tuple[CarePlan | PlanVersion, pendulum.Date | None], ...], ...] = field(
        default=(), converter=v.to_tuple
    )


class CloseEncoder:
    """The text of every output row of one close (*rules*, *period*).

    Holds a CSV writer over a buffer, so one encoder serves one thread.
    """

    def __init__(self, rules: RuleSet, period: ServicePeriod) -> None:
        self.rules = rules
        self.period = period
        self._buffer = io.StringIO(newline="")
        self._csv = csv.writer(self._buffer)
        self._period_json = (
            f'{{"start":"{period.start.isoformat()}","end":"{period.end.isoformat()}"}}'
        )
        self._rule_set_json = (
            f'{{"id":{json_text(rules.id)},"year":{rules.year},'
            f'"version":{json_text(rules.version)},"payer":{json_text(rules.payer)}}}'
        )
        # Text that many patients' packets share, kept once per value (the values are
        # immutable, and each text is a pure function of the key).
        self._rules_of: dict[str, tuple[str, str]] = {}
        self._texts: dict[object, str] = {}

    # -- CSV ---------------------------------------------------------------------------

    def csv_row(self, cells: Iterable[object]) -> str:
        """One CSV row (ended by CR LF), quoted where needed."""
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self._csv.writerow(cells)
        return buffer.getvalue()

    def csv_rows(self, rows: Iterable[Iterable[object]]) -> str:
        """Several CSV rows (see :meth:`csv_row`), written in one pass.

        A row of several cells, each text or a number, none holding a comma,
        a quote or a line break, is what the CSV writer writes: its cells
        joined by commas, ended by CR LF. Other rows go through the writer.
        """
        out = []
        for row in rows:
            cells = [c if type(c) is str else str(c) if type(c) is int else None for c in row]
            text = ",".join(cells) if None not in cells else None  # type: ignore[arg-type]
            if (
                text is None
                or len(cells) < 2  # noqa: PLR2004 - a lone empty cell is written quoted
                or text.count(",") != len(cells) - 1
                or '"' in text
                or "\r" in text
                or "\n" in text
            ):
                text = self.csv_row(row)
            else:
                text += "\r\n"
            out.append(text)
        return "".join(out)

    def header(self, columns: tuple[str, ...]) -> str:
        """The header row of a CSV output (:data:`CLAIM_COLUMNS`, :data:`DENIAL_COLUMNS`)."""
        return self.csv_row(columns)

    @staticmethod
    def _claim_cells(
        line: ClaimLine, patient_id: str, practitioner: str, date_of_service: str, diagnoses: str
    ) -> tuple[object, ...]:
        return (
            patient_id,
            practitioner,
            line.code,
            line.units,
            date_of_service,
            ";".join(line.modifiers),
            _iso_day(line.period.start),
            _iso_day(line.period.end),
            "" if line.amount is None else str(line.amount),
            diagnoses,
            line.family._value_,
        )

    @staticmethod
    def diagnoses_cell(codes: tuple[str, ...]) -> str:
        """A line's diagnoses in claims.csv: the ICD-10-CM codes joined by ``;``, the primary first."""
        return ";".join(codes)

    @staticmethod
    def diagnoses_json(codes: tuple[str, ...]) -> str:
        """A line's diagnoses in JSON (the items of the array)."""
        return ",".join(_quote(c) for c in codes)

    def claim_csv(self, line: ClaimLine) -> str:
        """The claims.csv row of *line*."""
        return self.csv_row(
            self._claim_cells(
                line,
                line.patient_id,
                line.billing_practitioner_id,
                _iso_day(line.date_of_service),
                self.diagnoses_cell(line.diagnoses),
            )
        )

    def claims_csv(self, lines: Iterable[ClaimLine]) -> str:
        """The claims.csv rows of *lines*, in order."""
        cell = self.diagnoses_cell
        return self.csv_rows(
            self._claim_cells(
                line,
                line.patient_id,
                line.billing_practitioner_id,
                _iso_day(line.date_of_service),
                cell(line.diagnoses),
            )
            for line in lines
        )

    def claim_csv_template(self, line: ClaimLine) -> Template:
        """:meth:`claim_csv` with holes ``patient_id``, ``practitioner``, ``date_of_service``, ``diagnoses``."""
        return Template.of(
            lambda p, r, d, x: self.csv_row(self._claim_cells(line, p, r, d, x)),
            "patient_id",
            "practitioner",
            "date_of_service",
            "diagnoses",
        )

    @staticmethod
    def _denial_cells(denial: Denial, patient_id: str, practitioner: str) -> tuple[object, ...]:
        return (
            patient_id,
            practitioner,
            denial.code,
            denial.reason._value_,
            denial.message,
            denial.rule,
            ";".join(denial.sources),
        )

    def denial_csv(self, denial: Denial, practitioner: str) -> str:
        """The denials.csv row of *denial* (the practitioner closed for is not on a denial)."""
        return self.csv_row(self._denial_cells(denial, denial.patient_id, practitioner))

    def denials_csv(self, denials: Iterable[Denial], practitioner: str) -> str:
        """The denials.csv rows of *denials*, in order."""
        return self.csv_rows(self._denial_cells(d, d.patient_id, practitioner) for d in denials)

    def denial_csv_template(self, denial: Denial) -> Template:
        """:meth:`denial_csv` with holes ``patient_id`` and ``practitioner``."""
        return Template.of(
            lambda p, r: self.csv_row(self._denial_cells(denial, p, r)),
            "patient_id",
            "practitioner",
        )

    # -- summary.json ------------------------------------------------------------------

    @staticmethod
    def summary_json(summary: CloseSummary) -> str:
        """summary.json: the close's summary, indented, one field per line."""
        import attrs  # noqa: PLC0415

        return json.dumps(attrs.asdict(summary), indent=2) + "\n"

    # -- claims.json ---------------------------------------------------------------------

    #: claims.json is a JSON array of one item per line: ``[``, the items, ``]``.
    CLAIMS_JSON_OPEN = "["
    #: Written before each item: the first follows a line break, the others a comma too.
    CLAIMS_JSON_FIRST = "\n"
    CLAIMS_JSON_NEXT = ",\n"
    CLAIMS_JSON_CLOSE = "\n]\n"

    # -- claims.json items ---------------------------------------------------------------------

    @staticmethod
    def _claim_json(
        line: ClaimLine, patient_id: str, practitioner: str, day: str, diagnoses: str
    ) -> str:
        modifiers = ",".join(_quote(m) for m in line.modifiers)
        return (
            f'{{"patient_id": {patient_id}, "practitioner": {practitioner}, '
            f'"code": {_quote(line.code)}, "units": {line.units}, "date_of_service": {day}, '
            f'"modifiers": [{modifiers}], "period_start": "{_iso_day(line.period.start)}", '
            f'"period_end": "{_iso_day(line.period.end)}", "amount": {json_text(line.amount)}, '
            f'"diagnoses": [{diagnoses}], "family": "{line.family._value_}"}}'
        )

    def claim_json(self, line: ClaimLine) -> str:
        """The claims.json item of *line* (one line of text)."""
        return self._claim_json(
            line,
            _quote(line.patient_id),
            _quote(line.billing_practitioner_id),
            _json_day(line.date_of_service),
            self.diagnoses_json(line.diagnoses),
        )

    def claim_json_template(self, line: ClaimLine) -> Template:
        """:meth:`claim_json` with holes ``patient_id``, ``practitioner``, ``date_of_service``, ``diagnoses``."""
        return Template.of(
            lambda p, r, d, x: self._claim_json(line, p, r, d, x),
            "patient_id",
            "practitioner",
            "date_of_service",
            "diagnoses",
        )

    # -- audit packets -------------------------------------------------------------------

    def _packet(  # noqa: PLR0917 - one argument per part of the packet
        self,
        patient_id: str,
        practitioners: str,
        consent: str,
        care_plan: str,
        conditions: str,
        time_log: str,
        claim_lines: str,
        denials: str,
        hints: str,
        rows_rejected: str,
        evaluated_by: str,
    ) -> str:
        return (
            f'{{"schema":"{AUDIT_SCHEMA}","patient_id":{patient_id},"period":{self._period_json},'
            f'"rule_set":{self._rule_set_json},"practitioners":[{practitioners}],'
            f'"consent":{{{consent}}},"care_plan":{{{care_plan}}},"conditions":[{conditions}],'
            f'"time_log":[{time_log}],"claim_lines":[{claim_lines}],'
            f'"explanation":{{"denials":[{denials}],"hints":[{hints}]}},'
            f'"rows_rejected":[{rows_rejected}],"evaluated_by":{evaluated_by}}}'
        )

    _PACKET_PARTS = (
        "patient_id",
        "practitioners",
        "consent",
        "care_plan",
        "conditions",
        "time_log",
        "claim_lines",
        "denials",
        "hints",
        "rows_rejected",
        "evaluated_by",
    )

    def packet_template(self) -> Template:
        """The audit packet's frame: a hole per part (each filled with JSON text)."""
        return Template.of(self._packet, *self._PACKET_PARTS)

    @staticmethod
    def practitioner_item(practitioner_id: str, credential: str) -> str:
        """A packet's practitioner (JSON values in)."""
        return f'{{"id":{practitioner_id},"credential":{credential}}}'

    @staticmethod
    def _consent_item(family: str, obtained_on: str, evidence: tuple[str, str, str, str]) -> str:
        method, by, explained, revoked = evidence
        return (
            f'{_quote(family)}:{{"obtained_on":{obtained_on},"method":{method},'
            f'"obtained_by":{by},"cost_sharing_explained":{explained},"revoked_on":{revoked}}}'
        )

    _UNRECORDED = (json_text(NOT_RECORDED),) * 4

    def consent_item_template(self, family: str) -> Template:
        """A CSV close's consent entry for *family*, with the hole ``obtained_on``."""
        return Template.of(
            lambda day: self._consent_item(family, day, self._UNRECORDED), "obtained_on"
        )

    def consent_item(
        self, family: ServiceFamily, obtained_on: pendulum.Date | None, record: Consent | None
    ) -> str:
        """One billed family's consent evidence: the record's, else "not recorded"."""
        evidence = (
            self._UNRECORDED
            if record is None
            else (
                _quote(record.method.value),
                _quote(record.obtained_by),
                _json_bool(record.cost_sharing_explained),
                _json_day(record.revoked_on),
            )
        )
        return self._consent_item(family.value, _json_day(obtained_on), evidence)

    @staticmethod
    def _care_plan_item(
        family: str, established_on: str, status: str, history: str, activity: str
    ) -> str:
        return (
            f'{_quote(family)}:{{"established_on":{established_on},"status":{status},'
            f'"history":{history},"activity":[{activity}]}}'
        )

    def care_plan_item_template(self, family: str) -> Template:
        """A CSV close's care-plan entry for *family* with no activity, hole ``established_on``."""
        unrecorded = json_text(NOT_RECORDED)
        return Template.of(
            lambda day: self._care_plan_item(family, day, unrecorded, unrecorded, ""),
            "established_on",
        )

    def care_plan_item(
        self,
        family: ServiceFamily,
        established_on: pendulum.Date | None,
        activity: Iterable[Any],
        versions: tuple[tuple[CarePlan | PlanVersion, pendulum.Date | None], ...] | None,
    ) -> str:
        """One billed family's care plan: established date, status and history, activity."""
        activity_json = ",".join(
            f'{{"date":"{e.date.isoformat()}","action":{_quote(e.action.value)},'
            f'"practitioner":{_quote(e.practitioner)}}}'
            for e in activity
        )
        if versions is None:
            status = history = json_text(NOT_RECORDED)
        elif not versions:
            status, history = json_text("no plan stored"), "[]"
        else:
            status = _quote(versions[-1][0].status.value)
            history = (
                "["
                + ",".join(
                    f'{{"version":{p.version},"status":{_quote(p.status.value)},'
                    f'"written_on":{_json_day(day)},"created_on":{_json_day(p.created_on)},'
                    f'"shared_with_patient_on":{_json_day(p.shared_with_patient_on)},'
                    f'"last_reviewed_on":{_json_day(p.last_reviewed_on)}}}'
                    for p, day in versions
                )
                + "]"
            )
        return self._care_plan_item(
            family.value, _json_day(established_on), status, history, activity_json
        )

    @staticmethod
    def conditions_json(conditions: Iterable[Any]) -> str:
        """The packet's conditions (the items of the JSON array)."""
        return ",".join(
            f'{{"icd10":{_quote(c.icd10)},"expected_duration_months":'
            f"{'null' if c.expected_duration_months is None else c.expected_duration_months},"
            f'"significant_risk":{_json_bool(c.significant_risk)}}}'
            for c in conditions
        )

    @staticmethod
    def _log_item(  # noqa: PLR0917 - one argument per field
        day: str,
        minutes: str,
        role: str,
        credential: str,
        family: str,
        practitioner: str,
        interactive: str,
    ) -> str:
        return (
            f'{{"date":{day},"minutes":{minutes},"role":{role},"credential":{credential},'
            f'"family":{family},"practitioner":{practitioner},"interactive":{interactive}}}'
        )

    _LOG_PARTS = ("date", "minutes", "role", "credential", "family", "practitioner", "interactive")

    def log_item_template(self) -> Template:
        """A time-log entry with a hole per field (JSON values)."""
        return Template.of(self._log_item, *self._LOG_PARTS)

    def log_item(self, entry: tuple[Any, ...]) -> str:
        """A time-log entry ``(date, minutes, role, family, credential, interactive, practitioner)``."""
        day, minutes, role, family, credential, interactive, practitioner = entry
        return self._log_item(
            f'"{_iso_day(day)}"',
            str(minutes),
            _quote(role._value_),
            "null" if credential is None else _quote(credential._value_),
            _quote(family._value_),
            _quote(practitioner),
            _json_bool(interactive),
        )

    def _rule_of(self, code: str) -> tuple[str, str]:
        found = self._rules_of.get(code)
        if found is None:
            rule = self.rules.by_code.get(code)
            found = (
                (json_text(NOT_RECORDED), "")
                if rule is None
                else (
                    _quote(rule_title(self.rules, code)),
                    ",".join(_quote(s) for s in rule.sources),
                )
            )
            self._rules_of[code] = found
        return found

    def _shared(self, key: object, render: Callable[[], str]) -> str:
        """*render*'s text for *key*, rendered once per close (bounded, then rendered again)."""
        texts = self._texts
        found = texts.get(key)
        if found is None:
            found = render()
            if len(texts) >= _SHARED_TEXTS:
                texts.clear()
            texts[key] = found
        return found

    def _audit_line(self, line: ClaimLine, practitioner: str, day: str, diagnoses: str) -> str:
        summary, sources = self._rule_of(line.code)
        modifiers = ",".join(_quote(m) for m in line.modifiers)
        return (
            f'{{"code":{_quote(line.code)},"units":{line.units},"family":{_quote(line.family._value_)},'
            f'"practitioner":{practitioner},"date_of_service":{day},"modifiers":[{modifiers}],'
            f'"amount":{json_text(line.amount)},"diagnoses":[{diagnoses}],'
            f'"rule":{_quote(code_rule_id(line.family, line.code))},"rule_title":{summary},'
            f'"sources":[{sources}]}}'
        )

    def audit_line(self, line: ClaimLine) -> str:
        """A packet's claim line: its diagnoses, the rule that bills the code (id and title) and its sources."""
        return self._audit_line(
            line,
            _quote(line.billing_practitioner_id),
            _json_day(line.date_of_service),
            self.diagnoses_json(line.diagnoses),
        )

    def audit_line_template(self, line: ClaimLine) -> Template:
        """:meth:`audit_line` with holes ``practitioner``, ``date_of_service``, ``diagnoses``."""
        return Template.of(
            lambda r, d, x: self._audit_line(line, r, d, x),
            "practitioner",
            "date_of_service",
            "diagnoses",
        )

    @staticmethod
    def denial_json(denial: Denial) -> str:
        """A packet's refused code, with its rule and sources."""
        return (
            f'{{"code":{_quote(denial.code)},"reason":{_quote(denial.reason.value)},'
            f'"message":{_quote(denial.message)},"rule":{_quote(denial.rule)},'
            f'"sources":[{",".join(_quote(t) for t in denial.sources)}]}}'
        )

    @staticmethod
    def hints_json(result: EvaluationResult) -> str:
        """A packet's hints (the items of the JSON array)."""
        return ",".join(_quote(h.message) for h in result.hints)

    def audit_json(self, month: PatientMonth) -> str:
        """The audit packet of one billed patient-month, as one line of JSON.

        Consent evidence and care-plan status and history per billed family
        (from the store's records; "not recorded" where the close's source
        holds none), the conditions, the time log of the billed families with
        roles and credentials, the rule set and its version, every claim line
        with its rule and sources, every denial with its rule and sources,
        and the hints.
        """
        patient, result, period = month.row.patient, month.result, month.period
        families = sorted({line.family for line in result.claim_lines}, key=lambda f: f.value)
        practitioner = month.row.practitioner
        evidence = month.evidence
        consent = ",".join(
            self.consent_item(f, patient.consent(f), _consent_record(evidence, f, period))
            for f in families
        )
        plans = ",".join(
            self.care_plan_item(
                f,
                patient.care_plan(f),
                (e for e in month.care_plan_events if e.family is f),
                _plan_versions(evidence, f),
            )
            for f in families
        )
        start, end = period.start, period.end
        wanted = set(families)
        log = ",".join(
            map(
                self.log_item,
                sorted(
                    (e for e in month.time_log if e[3] in wanted and start <= e[0] <= end),
                    key=_log_order,
                ),
            )
        )
        denial_json = self.denial_json
        conditions = patient.conditions
        return self._packet(
            _quote(patient.id),
            self.practitioner_item(_quote(practitioner.id), _quote(practitioner.credential.value)),
            consent,
            plans,
            self._shared(("conditions", conditions), lambda: self.conditions_json(conditions)),
            log,
            ",".join(self.audit_line(line) for line in result.claim_lines),
            ",".join(
                self._shared(
                    ("denial", d.code, d.reason, d.message, d.rule, d.sources),
                    lambda d=d: denial_json(d),  # type: ignore[misc]
                )
                for d in result.denials
            ),
            self.hints_json(result),
            ",".join(_quote(str(p)) for p in month.problems),
            _quote(EVALUATED_BY[month.fast]),
        )

    def audit_packet(self, month: PatientMonth) -> dict[str, Any]:
        """:meth:`audit_json` read back as a dict."""
        packet: dict[str, Any] = json.loads(self.audit_json(month))
        return packet


def _consent_record(
    evidence: AuditEvidence | None, family: ServiceFamily, period: ServicePeriod
) -> Consent | None:
    """The consent record behind the month: the family's latest obtained by the month's end."""
    if evidence is None:
        return None
    found = [c for c in evidence.consents if c.family is family and c.obtained_on <= period.end]
    return max(found, key=lambda c: (c.obtained_on, c.id)) if found else None


def _plan_versions(
    evidence: AuditEvidence | None, family: ServiceFamily
) -> tuple[tuple[CarePlan | PlanVersion, pendulum.Date | None], ...] | None:
    """The dated versions of the patient's plan for *family* (None: not recorded; () none).

    With several plans for the family, the one whose latest version is active, else the last.
    """
    if evidence is None:
        return None
    found = [v for v in evidence.care_plans if v and family in v[-1][0].families]
    if not found:
        return ()
    active = [v for v in found if v[-1][0].status.value == "active"]
    return (active or found)[-1]


def _log_order(entry: tuple[Any, ...]) -> tuple[Any, ...]:
    day, minutes, role, family, credential, interactive, practitioner = entry
    return (
        day,
        family._value_,
        role._value_,
        minutes,
        credential._value_ if credential else "",
        interactive,
        practitioner,
    )
