"""The program report: a practice manager's page with plots, and every table as CSV.

This is an edge (it writes files). It computes nothing itself: each number is
formatted from the :class:`~carecore.metrics.ProgramReport` that
:func:`carecore.metrics.program_report` returned, or asked of the same
:mod:`carecore.metrics` functions about single months (:func:`practice_view`),
so the report and the metrics API agree by construction. The pages are
jinja2 templates (``carecore/report/templates``); the page's sections are a
list (:attr:`PracticeView.sections`) that other parts of carecore extend. ``carecore report`` reads the store
(:meth:`carecore.service.CareProgram.program_data`), calls
:func:`~carecore.metrics.program_report` and :func:`write_report`.

>>> import pathlib, tempfile
>>> from carecore.metrics import ProgramData, program_report
>>> from carecore.model import ServicePeriod
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> files = write_report(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)), out)
>>> files.index.name, len(files.csv), len(files.png), sorted(p.name for p in files.pages)
('index.html', 20, 6, ['eligibility.html', 'measures.html', 'worklist.html'])
"""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from attrs import evolve, field, frozen

from carecore import errors
from carecore._files import private_open, write_private
from carecore.registry import worklist_rows
from carecore.report._labels import (
    count,
    label,
    measure_value,
    month_name,
    rule_heading,
    rule_text,
)
from carecore.report._plots import PLOTS, PRACTICE_PLOTS, render_plots, render_practice_plots
from carecore.report._spool import Mapped
from carecore.report._tables import (
    TABLE_MAKERS,
    Table,
    cell,
    report_tables,
    table_stream,
    worklist_table,
)
from carecore.report._view import PracticeView, Section, practice_view

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    import pendulum

    from carecore.metrics import ProgramReport
    from carecore.report._rows import SpooledRows

_TENTH = Decimal("0.1")

__all__ = [
    "PLOTS",
    "PRACTICE_PLOTS",
    "PracticeView",
    "ReportFiles",
    "Section",
    "Table",
    "cell",
    "practice_view",
    "render_html",
    "report_tables",
    "write_report",
]


@frozen(kw_only=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    index: Path
    csv: tuple[Path, ...]
    png: tuple[Path, ...]
    pages: tuple[Path, ...] = field(default=())


def _is_number(text: object) -> bool:
    value = str(text).replace(",", "").replace("$", "").rstrip("%")
    try:
        float(value)
    except ValueError:
        return False
    return True


def _environment() -> Any:
    try:
        import jinja2  # noqa: PLC0415 - optional
    except ImportError as exc:
        raise errors.MissingDependency(
            extra="report", package="jinja2", feature="the report's pages"
        ) from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("carecore.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["is_number"] = _is_number
    return env


def _measures_table(report: ProgramReport) -> Table:
    return Table(
        name="measures",
        title="Program measures",
        columns=("measure", "value", "numerator", "denominator", "period"),
        rows=tuple(
            (
                label(m.name),
                measure_value(m),
                count(m.numerator),
                "" if m.denominator is None else count(m.denominator.quantize(_TENTH)),
                str(m.period),
            )
            for m in report.measures
        ),
    )


def _names(
    report: ProgramReport, *, phi: bool, names: Mapping[str, str] | None = None
) -> Mapping[str, str]:
    if not phi:
        return {}
    if names is not None:
        return names
    if report.data is None:
        return {}
    return {p.id: f"{p.display_name} ({p.birth_date})" for p in report.data.patients}


def _file_safe(text: str) -> str:
    """*text* as part of a file name: letters, digits, ``-``, ``_`` and ``.`` only.

    >>> _file_safe("../dr smith/1")
    '-dr-smith-1'
    """
    return re.sub(r"[^A-Za-z0-9_.-]", "-", text).lstrip(".") or "-"


def _worklist_tables(report: ProgramReport, names: Mapping[str, str]) -> tuple[Table, ...]:
    """Each owner's open items as :func:`carecore.registry.worklist_rows` gives them, in its order."""
    day = report.as_of
    plans = () if report.data is None else report.data.care_plans
    rows = [
        r
        for r in worklist_rows(
            report.worklists, today=day, care_plans=plans, descriptions=report.texts
        )
        if r.closed_reason is None
    ]
    # With names, the patient's id beside each: two patients may share a name.
    # Without (a report written without PHI), the patient column is the id.
    ids = bool(names)
    tables = []
    for w in report.worklists:
        mine = [r for r in rows if r.owner == w.owner]
        tables.append(
            _worklist_table(
                w.owner,
                w.caseload,
                tuple(
                    _worklist_row(
                        r.band,
                        names.get(r.patient_id, r.patient_id),
                        r.patient_id,
                        r.due,
                        r.action,
                        day=day,
                        ids=ids,
                    )
                    for r in mine
                ),
                ids=ids,
            )
        )
    return tuple(tables)


def _worklist_table(
    owner: str, caseload: int, rows: Sequence[tuple[str, ...]], *, ids: bool
) -> Table:
    return Table(
        name=f"worklist-{_file_safe(owner)}",
        title=f"{owner}: {_count(len(rows), 'item')}, caseload {caseload}",
        columns=(
            "priority",
            "patient",
            *(("patient id",) if ids else ()),
            "due",
            "status",
            "what to do",
        ),
        rows=cast("tuple[tuple[str, ...], ...]", rows),
    )


def _worklist_row(
    band: str,
    name: str,
    patient_id: str,
    due: pendulum.Date,
    action: str,
    *,
    day: pendulum.Date,
    ids: bool,
) -> tuple[str, ...]:
    return (band, name, *((patient_id,) if ids else ()), str(due), _when(due, day), action)


def _spooled_worklist_rows(spooled: SpooledRows) -> Iterator[tuple[str, ...]]:
    """The worklist table's rows (every owner's open items, in order), read from disk."""
    for item in spooled.worklist:
        yield item[2]


def _spooled_worklist_tables(report: ProgramReport, spooled: SpooledRows) -> tuple[Table, ...]:
    """The worklist page's tables, their rows read from disk as each is written."""
    day, ids = report.as_of, spooled.phi and spooled.named

    def row(item: tuple[Any, ...]) -> tuple[str, ...]:
        _, _, cells, name, due = item
        return _worklist_row(cells[1], name, cells[5], due, cells[6], day=day, ids=ids)

    return tuple(
        _worklist_table(
            w.owner,
            w.caseload,
            Mapped(spooled.worklist.group(w.owner), row),
            ids=ids,
        )
        for w in report.worklists
    )


def _count(n: int, noun: str) -> str:
    """'1 item', '3 items'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _when(due: pendulum.Date, day: pendulum.Date) -> str:
    """How a due day reads on *day*: ``overdue 3 days``, ``due today``, ``due in 1 day``.

    >>> import pendulum
    >>> _when(pendulum.Date(2026, 3, 1), pendulum.Date(2026, 3, 2))
    'overdue 1 day'
    """
    if due < day:
        return f"overdue {_count((day - due).days, 'day')}"
    if due == day:
        return "due today"
    return f"due in {_count((due - day).days, 'day')}"


def _eligibility_table(
    report: ProgramReport, names: Mapping[str, str]
) -> tuple[Table, tuple[str, ...]]:
    rows_in = [e for e in report.eligibility if e.family is report.family]
    rules: list[str] = []
    for e in rows_in:
        for c in e.criteria:
            if c.rule not in rules:
                rules.append(c.rule)

    levels = any(e.level is not None for e in rows_in)
    rows = tuple(
        _eligibility_row(
            names.get(e.patient_id, e.patient_id),
            e.eligible,
            e.verified,
            cell(e.level),
            str(len(e.conditions)),
            tuple((c.rule, c.met) for c in e.criteria),
            rules=rules,
            levels=levels,
        )
        for e in sorted(
            rows_in, key=lambda e: (not e.eligible, names.get(e.patient_id, e.patient_id))
        )
    )
    return _eligibility_by_rule(report, rows, tuple(rules), levels=levels), tuple(rules)


_STATUS = {True: "met", False: "not met", None: "unknown"}


def _eligibility_row(  # noqa: PLR0917 - one row's cells
    name: str,
    eligible: bool,  # noqa: FBT001
    verified: bool,  # noqa: FBT001
    level: str,
    conditions: str,
    criteria: tuple[tuple[str, bool | None], ...],
    *,
    rules: Sequence[str],
    levels: bool,
) -> tuple[str, ...]:
    met = dict(criteria)
    return (
        name,
        "yes" if eligible else "no",
        "yes" if verified else "no",
        *((level,) if levels else ()),
        conditions,
        *(_STATUS[met[r]] if r in met else "" for r in rules),
    )


def _eligibility_by_rule(
    report: ProgramReport, rows: Sequence[tuple[str, ...]], rules: tuple[str, ...], *, levels: bool
) -> Table:
    return Table(
        name="eligibility-by-rule",
        title=f"{report.family.value} eligibility on {report.as_of}",
        columns=(
            "patient",
            "eligible",
            "verified",
            *(("level",) if levels else ()),
            "conditions",
            *(rule_heading(r) for r in rules),
        ),
        rows=cast("tuple[tuple[str, ...], ...]", rows),
    )


def _spooled_eligibility_table(
    report: ProgramReport, spooled: SpooledRows
) -> tuple[Table, tuple[str, ...]]:
    """The eligibility page's table, its rows read from disk (merged by sort key) as written."""
    rules, levels = spooled.rule_order(), spooled.levels

    def row(item: tuple[Any, ...]) -> tuple[str, ...]:
        return _eligibility_row(*item[1:], rules=rules, levels=levels)

    return _eligibility_by_rule(report, Mapped(spooled.page, row), rules, levels=levels), rules


def _subtitle(report: ProgramReport, view: PracticeView | None) -> str:
    pmpm_source = report.pmpm[0].source if report.pmpm else "no enrolled quarters"
    hcc = "not computed" if report.hcc_model is None else report.hcc_model.label
    head = (
        f"The cards describe {month_name(view.headline)}, compared with "
        f"{month_name(view.previous)}; the funnel {month_name(view.month)}; the sections "
        f"cover {report.period}. "
        if view is not None
        else ""
    )
    return (
        f"{head}As of {report.as_of}; dates in {report.time_zone}. "
        f"Observed PMPM: {pmpm_source}. CMS-HCC scores: {hcc}."
    )


def render_html(
    report: ProgramReport,
    tables: tuple[Table, ...],
    plots: dict[str, bytes],
    *,
    view: PracticeView | None = None,
    extra: tuple[Table, ...] = (),
) -> str:
    """The report's main page (``index.html``); plots are linked by file name.

    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> r = program_report(ProgramData(), period=ServicePeriod.month(2026, 3))
    >>> render_html(r, report_tables(r), {}).startswith("<!DOCTYPE html>")
    True
    """
    captions = dict(PLOTS + PRACTICE_PLOTS)
    shown = {"measures", "worklist", "eligibility"}
    funnel_top = max((s.count for s in view.funnel), default=0) if view is not None else 0
    title = view.title if view is not None else f"{report.family.value} program, {report.period}"
    return str(
        _environment()
        .get_template("index.html.j2")
        .render(
            title=title,
            subtitle=_subtitle(report, view),
            period=str(report.period),
            view=view,
            funnel_top=funnel_top,
            plots={name: captions[name] for name in plots if name in captions},
            trend_plots=("enrollment.png", "minutes.png"),
            measures=_measures_table(report),
            files=tuple(
                t for t in (*tables, *(e for e in extra if e not in tables)) if t.name not in shown
            ),
            pages=(
                ("Worklists", "worklist.html"),
                ("Eligibility", "eligibility.html"),
                ("Measure definitions", "measures.html"),
            ),
        )
    )


def _write_csv(path: Path, table: Table, rows: Iterable[tuple[str, ...]] | None = None) -> Table:
    """Write *table* (or its columns and *rows*) to *path* row by row (0600); the table without rows."""
    with private_open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(table.columns)
        writer.writerows(table.rows if rows is None else rows)
    return evolve(table, rows=())


def _pages(
    report: ProgramReport,
    *,
    phi: bool,
    names: Mapping[str, str] | None = None,
    spooled: SpooledRows | None = None,
) -> dict[str, tuple[str, Callable[[], dict[str, Any]]]]:
    """Each linked page's title and how to make its context (made when the page is written)."""
    if spooled is None:
        names = _names(report, phi=phi, names=names)
        named = bool(names)
    else:
        names, named = {}, phi and spooled.named
    who = "patient names" if named else "patient ids (written without names)"

    def eligibility_page() -> dict[str, Any]:
        eligibility, rules = (
            _eligibility_table(report, names)
            if spooled is None
            else _spooled_eligibility_table(report, spooled)
        )
        return {
            "intro": (
                (
                    f"Every patient the registry checked for {report.family.value}, "
                    f"eligible first, with {who}. Each rule is worded once below; the "
                    "table says whether each patient meets it."
                ),
            ),
            "legend": tuple((rule_heading(r), rule_text(r)) for r in rules),
            "tables": (eligibility,),
        }

    def definitions_page() -> dict[str, Any]:
        definitions = Table(
            name="measure-definitions",
            title="Definitions",
            columns=("measure", "name in the API and CSV", "unit", "definition"),
            rows=tuple((label(m.name), m.name, m.unit, m.definition) for m in report.measures),
        )
        return {"intro": (), "legend": (), "tables": (definitions,)}

    return {
        "worklist.html": (
            f"Worklists on {report.as_of}",
            lambda: {
                "intro": (
                    (
                        "Each care manager's open items in priority order, as carecore "
                        "worklist lists them (urgent findings, overdue, due today, minutes to "
                        "the next code in the month's last days, then the rest by due day); "
                        f"with {who}."
                    ),
                ),
                "legend": (),
                "tables": _worklist_tables(report, names)
                if spooled is None
                else _spooled_worklist_tables(report, spooled),
            },
        ),
        "eligibility.html": (f"Eligibility on {report.as_of}", eligibility_page),
        "measures.html": ("Measure definitions", definitions_page),
    }


def _write_tables(
    folder: Path,
    report: ProgramReport,
    extra: tuple[Table, ...],
    spooled: SpooledRows | None,
    written: list[Path],
) -> tuple[Table, ...]:
    """Make, write and drop each table in turn; the tables without rows (*written* gets the files)."""
    listed = []
    for make in (*TABLE_MAKERS, *(lambda _, t=t: t for t in extra)):
        table, rows = table_stream(make, report)
        if spooled is not None and make is worklist_table:  # its rows from disk
            rows = _spooled_worklist_rows(spooled)
        path = folder / table.csv_name
        listed.append(_write_csv(path, table, rows))
        written.append(path)
    return tuple(listed)


def _check(folder: Path, extra: tuple[Table, ...], sections: tuple[Section, ...]) -> None:
    if folder.exists() and not folder.is_dir():
        raise errors.InvalidValue("is a file, not a folder", field="out", value=str(folder))
    if not all(isinstance(t, Table) for t in extra):
        raise errors.InvalidValue("must be report tables", field="extra", value=extra)
    if not all(isinstance(s, Section) for s in sections):
        raise errors.InvalidValue("must be report sections", field="sections", value=sections)


def write_report(
    report: ProgramReport,
    out: Path | str,
    *,
    extra: tuple[Table, ...] = (),
    sections: tuple[Section, ...] = (),
    phi: bool = True,
    headline: str = "month",
    view: PracticeView | None = None,
    names: Mapping[str, str] | None = None,
    spooled: SpooledRows | None = None,
) -> ReportFiles:
    """Write ``index.html``, its linked pages, one CSV per table and the PNG plots into *out*.

    *extra* tables (gap closure, adherence by class) are written as CSV and
    listed with the other tables; *sections* (the page's words for them) come
    after the clinical sections (hospital use, goals and A1c). With *phi* False the pages show patient ids, not
    names. *headline* ``"quarter"`` makes the cards describe the quarter the
    period ends in (see :func:`practice_view`). A report made by :func:`carecore.metrics.program_report` carries
    its snapshot and gets the practice sections (cards, funnel, revenue,
    denials, minutes, TCM, staff). A report without its snapshot (combined
    from partitions of a store, :func:`carecore.report._build.program_parts`)
    gets them from *view*, its practice view made from the partitions, and
    names its patients from *names* (patient id to name and birth date),
    or reads the worklists' items and the eligibility page's rows from
    *spooled* (written to disk partition by partition, already named).

    The folder is created when missing (readable by its owner only, 0700);
    files of the same names are replaced, and every file is written 0600:
    the pages name patients.

    >>> import pathlib, tempfile
    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> files = write_report(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)), folder)
    >>> sorted(p.name for p in files.png)
    ['a1c.png', 'enrollment.png', 'minutes.png', 'minutes_distribution.png', 'revenue.png', 'utilization.png']
    """
    folder = Path(out)
    _check(folder, extra, sections)
    env = _environment()  # a missing extra is named before anything is written
    if view is None and report.data is not None:
        view = practice_view(report, headline=headline)
    if view is not None and sections:
        view = evolve(view, sections=(*view.sections, *sections))
    plots = render_plots(report)
    if view is not None:
        plots |= render_practice_plots(view)
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    # Each table is made, written and dropped in turn (the index lists them by name
    # and title only), so the writer never holds every table's rows at once.
    csv_files: list[Path] = []
    tables = _write_tables(folder, report, extra, spooled, csv_files)
    section_tables = () if view is None else tuple(t for s in view.sections for t in s.tables)
    for table in section_tables:
        path = folder / table.csv_name
        _write_csv(path, table)
        csv_files.append(path)
    png_files = []
    for name, data in plots.items():
        path = folder / name
        write_private(path, data)
        png_files.append(path)
    pages = []
    for name, (title, make_context) in _pages(
        report, phi=phi, names=names, spooled=spooled
    ).items():
        path = folder / name
        context = make_context()
        with private_open(path, "w", newline="", encoding="utf-8") as handle:
            handle.writelines(env.get_template("page.html.j2").generate(title=title, **context))
        pages.append(path)
        for table in context["tables"]:
            table_path = folder / table.csv_name
            _write_csv(table_path, table)
            csv_files.append(table_path)
        del context
    index = folder / "index.html"
    write_private(
        index,
        render_html(report, tables, plots, view=view, extra=tables[len(TABLE_MAKERS) :]).encode(
            "utf-8"
        ),
    )
    return ReportFiles(index=index, csv=tuple(csv_files), png=tuple(png_files), pages=tuple(pages))
