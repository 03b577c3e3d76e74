"""The report's plots, drawn with matplotlib's Agg canvas (no screen, no pyplot state)."""

from __future__ import annotations

import io
import warnings
from typing import TYPE_CHECKING, Any

from carecore import errors
from carecore.metrics import month_key

if TYPE_CHECKING:
    from collections.abc import Sequence

    from carecore.metrics import Measure, ProgramReport

__all__ = ["PLOTS", "render_plots"]

#: The plots of the report: file name and title.
PLOTS: tuple[tuple[str, str], ...] = (
    ("enrollment.png", "Enrolled patients by month"),
    ("minutes.png", "Minutes per enrolled patient-month"),
    ("utilization.png", "ED visits and admissions per 1,000 member-years"),
    ("a1c.png", "Change in A1c over 12 months"),
)


def _figure() -> tuple[Any, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from matplotlib.backends.backend_agg import (  # noqa: PLC0415 - optional, slow
                FigureCanvasAgg,
            )
            from matplotlib.figure import Figure  # noqa: PLC0415
    except ImportError as exc:
        raise errors.MissingDependency(
            extra="report", package="matplotlib", feature="the report's plots"
        ) from exc
    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Any) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _month(m: Measure) -> str:
    return month_key(m.period.start)


def _no_data(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)
    axes.set_xticks([])
    axes.set_yticks([])


def _series(title: str, ylabel: str, measures: Sequence[Measure], *, bars: bool) -> bytes:
    figure, axes = _figure()
    points = [(_month(m), float(m.value)) for m in measures if m.value is not None]
    if points:
        labels, values = zip(*points, strict=True)
        if bars:
            axes.bar(labels, values, color="#4477aa")
        else:
            axes.plot(labels, values, marker="o", color="#4477aa")
        axes.set_xlabel("month")
        axes.set_ylabel(ylabel)
        axes.set_ylim(bottom=0)
        axes.tick_params(axis="x", labelrotation=45)
    else:
        _no_data(axes, "no enrolled patient-months")
    axes.set_title(title)
    return _png(figure)


def _utilization(report: ProgramReport) -> bytes:
    figure, axes = _figure()
    wanted = ("ed_visits_per_1000", "admissions_per_1000")
    labels = {"ed_visits_per_1000": "ED visits", "admissions_per_1000": "admissions"}
    pairs = [c for c in report.comparisons if c.name in wanted]
    if pairs:
        names = [labels[c.name] for c in pairs]
        before = [float(c.before.value or 0) for c in pairs]
        after = [float(c.after.value or 0) for c in pairs]
        xs = range(len(pairs))
        first = pairs[0]
        axes.bar(
            [x - 0.2 for x in xs],
            before,
            width=0.4,
            label=f"before ({first.before.period})",
            color="#bbbbbb",
        )
        axes.bar(
            [x + 0.2 for x in xs],
            after,
            width=0.4,
            label=f"after ({first.after.period})",
            color="#4477aa",
        )
        axes.set_xticks(list(xs), names)
        axes.legend()
        axes.set_title(f"Per 1,000 member-years, before and after {pairs[0].intervention}")
    else:
        measures = [m for m in report.measures if m.name in wanted]
        axes.bar(
            [labels[m.name] for m in measures],
            [float(m.value or 0) for m in measures],
            color="#4477aa",
        )
        axes.set_title(f"Per 1,000 member-years, {report.period} (no intervention date)")
    axes.set_ylabel("per 1,000 member-years")
    axes.set_ylim(bottom=0)
    return _png(figure)


def _a1c(report: ProgramReport) -> bytes:
    figure, axes = _figure()
    changes = [float(a.change) for a in report.a1c]
    if changes:
        axes.hist(changes, bins=min(10, max(3, len(changes))), color="#4477aa")
        axes.axvline(0, color="black", linewidth=1)
        axes.set_xlabel("last − first A1c (percentage points; negative is better)")  # noqa: RUF001
        axes.set_ylabel("patients")
    else:
        _no_data(axes, "no patient with two A1c results 90 days apart")
    axes.set_title("Change in A1c over 12 months")
    return _png(figure)


def render_plots(report: ProgramReport) -> dict[str, bytes]:
    r"""The report's plots as PNG bytes, by file name (see :data:`PLOTS`).

    Needs matplotlib (``pip install 'carecore[report]'``); without it
    :class:`~carecore.errors.MissingDependency`.

    >>> from carecore.metrics import ProgramData, program_report
    >>> from carecore.model import ServicePeriod
    >>> pngs = render_plots(program_report(ProgramData(), period=ServicePeriod.month(2026, 3)))
    >>> sorted(pngs), pngs["a1c.png"][:4]
    (['a1c.png', 'enrollment.png', 'minutes.png', 'utilization.png'], b'\x89PNG')
    """
    return {
        "enrollment.png": _series(
            "Enrolled patients by month",
            "patients",
            report.enrollment_by_month,
            bars=False,
        ),
        "minutes.png": _series(
            "Minutes per enrolled patient-month",
            "minutes",
            report.minutes_by_month,
            bars=True,
        ),
        "utilization.png": _utilization(report),
        "a1c.png": _a1c(report),
    }
