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
    from carecore.report._view import PracticeView

__all__ = ["PLOTS", "PRACTICE_PLOTS", "render_plots", "render_practice_plots"]

#: The plots of the report: file name and title.
PLOTS: tuple[tuple[str, str], ...] = (
    ("enrollment.png", "Enrolled patients by month"),
    ("minutes.png", "Minutes per enrolled patient-month"),
    ("utilization.png", "ED visits and admissions per 1,000 member-years"),
    ("a1c.png", "Change in A1c over 12 months"),
)

#: The plots of the practice sections (drawn when the report carries its snapshot).
PRACTICE_PLOTS: tuple[tuple[str, str], ...] = (
    ("revenue.png", "Revenue by month and code"),
    ("minutes_distribution.png", "Minutes per patient in the month"),
    ("staff.png", "Minutes per staff member"),
)

_COLOURS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#bbbbbb")


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
    figure = Figure(figsize=(7.2, 3.4), dpi=120)
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
        bars_before = axes.bar(
            [x - 0.2 for x in xs],
            before,
            width=0.4,
            label=f"before ({first.before.period})",
            color="#bbbbbb",
        )
        bars_after = axes.bar(
            [x + 0.2 for x in xs],
            after,
            width=0.4,
            label=f"after ({first.after.period})",
            color="#4477aa",
        )
        axes.bar_label(bars_before, [f"{c.before.numerator:.0f} events" for c in pairs])
        axes.bar_label(bars_after, [f"{c.after.numerator:.0f} events" for c in pairs])
        axes.set_xticks(list(xs), names)
        # A fixed place: matplotlib's "best" search warns when it takes over a second,
        # which a loaded machine turns into a failure where warnings are errors.
        axes.legend(loc="upper left")
        axes.set_title(f"Per 1,000 member-years, before and after {pairs[0].intervention}")
    else:
        measures = [m for m in report.measures if m.name in wanted]
        bars = axes.bar(
            [labels[m.name] for m in measures],
            [float(m.value or 0) for m in measures],
            color="#4477aa",
        )
        axes.bar_label(bars, [f"{m.numerator:.0f} events" for m in measures])
        axes.set_title(f"Per 1,000 member-years, {report.period} (no intervention date)")
    axes.set_ylabel("per 1,000 member-years")
    axes.set_ylim(bottom=0, top=max(1.0, axes.get_ylim()[1] * 1.2))
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


def _revenue(view: PracticeView) -> bytes:
    figure, axes = _figure()
    months = list(view.revenue_by_month)
    codes = sorted({c for amounts in view.revenue_by_month.values() for c in amounts})
    if months and codes:
        bottom = [0.0] * len(months)
        for i, code in enumerate(codes):
            values = [float(view.revenue_by_month[m].get(code, 0)) for m in months]
            axes.bar(months, values, bottom=bottom, label=code, color=_COLOURS[i % len(_COLOURS)])
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_ylabel("US dollars")
        axes.legend(title="code", fontsize="small", ncols=min(4, len(codes)), loc="upper left")
        axes.tick_params(axis="x", labelrotation=45)
        axes.set_ylim(bottom=0, top=max(bottom) * 1.3 or 1)
    else:
        _no_data(axes, "no claim lines in the period")
    axes.set_title("Revenue by month and code (approximate)")
    return _png(figure)


def _distribution(view: PracticeView) -> bytes:
    figure, axes = _figure()
    minutes = view.minutes
    if minutes:
        top = max(70, max(minutes) + 5)
        axes.hist(minutes, bins=range(0, top + 5, 5), color="#4477aa", edgecolor="white")
        for t in view.thresholds:
            axes.axvline(t, color="#ee6677", linewidth=1.5, linestyle="--")
            axes.text(
                t,
                1,
                f" {t} min",
                color="#ee6677",
                transform=axes.get_xaxis_transform(),
                va="top",
                ha="left",
            )
        axes.set_xlabel("clinical minutes in the month (5-minute bins)")
        axes.set_ylabel("patients")
    else:
        _no_data(axes, "no enrolled patients in the month")
    axes.set_title(f"Minutes per patient, {view.month.start.format('MMMM YYYY')}")
    return _png(figure)


def _staff(view: PracticeView) -> bytes:
    figure, axes = _figure()
    staff = view.staff_minutes[:12]
    if staff:
        names = [n for n, _, _ in staff][::-1]
        bars = axes.barh(names, [m for _, m, _ in staff][::-1], color="#4477aa")
        shown = [f"{p} patient{'' if p == 1 else 's'}" for _, _, p in staff]
        axes.bar_label(bars, shown[::-1], padding=3)
        axes.set_xlabel("minutes in the period")
        axes.set_xlim(right=max(m for _, m, _ in staff) * 1.25)
    else:
        _no_data(axes, "no minutes logged")
    axes.set_title("Minutes per staff member")
    return _png(figure)


def render_practice_plots(view: PracticeView) -> dict[str, bytes]:
    """The practice sections' plots as PNG bytes, by file name (see :data:`PRACTICE_PLOTS`)."""
    plots = {
        "revenue.png": _revenue(view),
        "minutes_distribution.png": _distribution(view),
    }
    if view.staff_minutes:
        plots["staff.png"] = _staff(view)
    return plots


def render_plots(report: ProgramReport) -> dict[str, bytes]:
    r"""The report's plots as PNG bytes, by file name (see :data:`PLOTS`).

    Needs matplotlib (``pip install ".[report]"`` in the carecore clone); without it
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
