"""The program report: HTML with plots, and every table as CSV, from a :class:`~carecore.metrics.ProgramReport`.

This is an edge (it writes files). It computes nothing: each number is
formatted from the :class:`~carecore.metrics.ProgramReport` that
:func:`carecore.metrics.program_report` returned, through the same
:func:`report_tables` for the HTML and the CSV files, so the report and the
metrics API agree by construction. ``carecore report`` reads the store
(:meth:`carecore.service.CareProgram.program_data`), calls
:func:`~carecore.metrics.program_report` and :func:`write_report`.

>>> import pathlib, tempfile
>>> from carecore.metrics import ProgramData, program_report
>>> from carecore.model import ServicePeriod
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> files = write_report(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)), out)
>>> files.index.name, len(files.csv), len(files.png)
('index.html', 10, 4)
"""

from __future__ import annotations

import base64
import csv
import html
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from carecore import errors
from carecore.report._plots import PLOTS, render_plots
from carecore.report._tables import Table, cell, report_tables

if TYPE_CHECKING:
    from carecore.metrics import ProgramReport

__all__ = ["PLOTS", "ReportFiles", "Table", "cell", "render_html", "report_tables", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 72rem; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1rem 1rem 0; }
.note { color: #555; font-size: 0.9rem; }
"""


@frozen(kw_only=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    index: Path
    csv: tuple[Path, ...]
    png: tuple[Path, ...]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{html.escape(v)}</td>'
            if _is_number(v)
            else f"<td>{html.escape(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in table.rows
    )
    empty = "" if table.rows else '<p class="note">No rows.</p>'
    return (
        f'<h2 id="{table.name}">{html.escape(table.title)}</h2>'
        f'<p class="note">Also in <a href="{table.csv_name}">{table.csv_name}</a>.</p>'
        f'<table data-table="{table.name}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{empty}"
    )


def render_html(report: ProgramReport, tables: tuple[Table, ...], plots: dict[str, bytes]) -> str:
    """The report as one HTML page; the plots are embedded as base64 PNG images.

    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> r = program_report(ProgramData(), period=ServicePeriod.month(2026, 3))
    >>> render_html(r, report_tables(r), {}).startswith("<!DOCTYPE html>")
    True
    """
    title = f"{report.family.value} program report, {report.period}"
    figures = "".join(
        f'<figure><img alt="{html.escape(caption)}" data-file="{name}" '
        f'src="data:image/png;base64,{base64.b64encode(plots[name]).decode("ascii")}">'
        f"<figcaption>{html.escape(caption)} ({name})</figcaption></figure>"
        for name, caption in PLOTS
        if name in plots
    )
    pmpm_source = report.pmpm[0].source if report.pmpm else "no enrolled quarters"
    hcc = "not computed" if report.hcc_model is None else report.hcc_model.label
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">As of {report.as_of}; dates in {html.escape(report.time_zone)}. '
        f"Observed PMPM: {html.escape(pmpm_source)}. CMS-HCC scores: {html.escape(hcc)}. "
        "Definitions, numerators and denominators are in the measures table and in "
        "carecore's explanation page <em>Registry, risk and program metrics</em>.</p>"
        f"<h2>Plots</h2>{figures}" + "".join(_table_html(t) for t in tables) + "</body></html>\n"
    )


def write_report(
    report: ProgramReport, out: Path | str, *, extra: tuple[Table, ...] = ()
) -> ReportFiles:
    """Write ``index.html``, one CSV per table and the PNG plots into the folder *out*.

    *extra* tables (gap closure, adherence by class) follow the report's own.

    The folder is created when missing; files of the same names are replaced.

    >>> import pathlib, tempfile
    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> files = write_report(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)), folder)
    >>> sorted(p.name for p in files.png)
    ['a1c.png', 'enrollment.png', 'minutes.png', 'utilization.png']
    """
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise errors.InvalidValue("is a file, not a folder", field="out", value=str(folder))
    folder.mkdir(parents=True, exist_ok=True)
    if not all(isinstance(t, Table) for t in extra):
        raise errors.InvalidValue("must be report tables", field="extra", value=extra)
    tables = report_tables(report) + tuple(extra)
    plots = render_plots(report)
    csv_files = []
    for table in tables:
        path = folder / table.csv_name
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows(table.rows)
        csv_files.append(path)
    png_files = []
    for name, _caption in PLOTS:
        path = folder / name
        path.write_bytes(plots[name])
        png_files.append(path)
    index = folder / "index.html"
    index.write_text(render_html(report, tables, plots), encoding="utf-8")
    return ReportFiles(index=index, csv=tuple(csv_files), png=tuple(png_files))
