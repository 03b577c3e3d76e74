"""Replications on an executor, the tidy table, and the summary with 95% intervals."""

from __future__ import annotations

import csv
import functools
import importlib
import math
from typing import TYPE_CHECKING, Any

import pendulum
from attrs import field, frozen

from carecore import errors
from carecore._files import private_open
from carecore.executors import Executor, LocalExecutor
from carecore.model import ServiceFamily
from carecore.model import validators as v
from carecore.simulation._model import Study
from carecore.simulation._run import Replication, policy_rules, run_replication
from carecore.transitions import TransitionRules

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

__all__ = ["COLUMNS", "Interval", "StudyResult", "run_study", "summarise"]

#: The columns of the tidy table: one row per replication, month and measure.
COLUMNS = ("replication", "month", "measure", "value")

_FLOWS = (
    "revenue",
    "staff_cost",
    "staff_time_cost",
    "net_revenue",
    "billable_months",
    "minutes_logged",
    "minutes_billed",
    "capacity_minutes",
    "ed_visits",
    "admissions",
    "ed_visits_enrolled",
    "admissions_enrolled",
    "deaths",
    "discharges",
    "readmissions",
    "member_months",
)


@frozen(kw_only=True)
class Interval:
    """The mean of a measure across replications and its 95% interval (2.5th to 97.5th percentile)."""

    mean: float
    low: float
    high: float


def _prepared(study: Study) -> Study:
    """A pool's state: the study (sent to each worker once), the worker made ready for it.

    Each worker builds the policy's rule set once and, when TCM is offered,
    the TCM clock's holiday calendar of every year a discharge of the study
    can fall in (the first use imports the holidays package: about half a
    CPU second), so that no replication pays for them.
    """
    rules = policy_rules(study.policy)
    if ServiceFamily.TCM in study.policy.families:
        clock = TransitionRules.from_rule_set(rules)
        first, last = study.month(0)[0], study.month(study.months - 1)[0]
        for year in range(first, last + 2):  # a late discharge's deadlines fall next year
            clock.clock(pendulum.Date(year, 1, 1))
    return study


def _replications(study: Study, task: tuple[int, tuple[int, ...]]) -> tuple[Replication, ...]:
    """One task: a chunk of replications, each on its own stream of *seed*."""
    seed, indices = task
    return tuple(run_replication(study, seed, index) for index in indices)


#: At most this many tasks per worker: more replications go in chunks (see :func:`run_study`).
_TASKS_PER_WORKER = 10


def _chunks(count: int, parts: int) -> list[tuple[int, ...]]:
    """0 .. *count* - 1 cut into *parts* contiguous runs as even as can be.

    >>> _chunks(5, 2)
    [(0, 1, 2), (3, 4)]
    """
    size, extra = divmod(count, parts)
    out, start = [], 0
    for part in range(parts):
        end = start + size + (1 if part < extra else 0)
        out.append(tuple(range(start, end)))
        start = end
    return [chunk for chunk in out if chunk]


@frozen(kw_only=True)
class StudyResult:
    """The replications of a study: the tidy table, per-replication totals and the summary."""

    study: Study
    seed: int
    replications: tuple[Replication, ...] = field(converter=v.to_tuple)

    @property
    def rows(self) -> tuple[tuple[int, str, str, float], ...]:
        """The tidy table as tuples of :data:`COLUMNS`, ordered by replication, month and measure."""
        return tuple(
            (rep.index, month, measure, value)
            for rep in self.replications
            for month, values in rep.months
            for measure, value in values
        )

    def to_polars(self) -> Any:
        """The tidy table as a polars DataFrame (``pip install ".[fast]"`` in the carecore clone)."""
        try:
            import polars as pl  # noqa: PLC0415 - optional
        except ImportError as exc:
            raise errors.MissingDependency(
                extra="fast", package="polars", feature="polars tables"
            ) from exc
        rows = self.rows
        return pl.DataFrame(
            {
                "replication": [r[0] for r in rows],
                "month": [r[1] for r in rows],
                "measure": [r[2] for r in rows],
                "value": [r[3] for r in rows],
            },
            schema={
                "replication": pl.Int64,
                "month": pl.String,
                "measure": pl.String,
                "value": pl.Float64,
            },
        )

    def to_arrow(self) -> Any:
        """The tidy table as an Arrow table (needs pyarrow, or polars to build it)."""
        try:
            pa: Any = importlib.import_module("pyarrow")
        except ImportError:
            return self.to_polars().to_arrow()
        rows = self.rows
        return pa.table({name: [r[i] for r in rows] for i, name in enumerate(COLUMNS)})

    def write_csv(self, path: Path) -> None:
        """Write the tidy table to *path* as CSV (created 0600)."""
        with private_open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for rep, month, measure, value in self.rows:
                writer.writerow((rep, month, measure, repr(value)))

    def totals(self) -> tuple[dict[str, float], ...]:
        """Per replication, the study's totals (see :func:`summarise` for what each one is)."""
        return tuple(_totals(self.study, rep) for rep in self.replications)

    @functools.cached_property
    def summary(self) -> dict[str, Interval]:
        """The mean and 95% interval of every total across replications."""
        return summarise(self.totals())

    def monthly(self, measure: str) -> tuple[tuple[float, ...], ...]:
        """*measure* by month (columns), one tuple per replication (0 where a month lacks it)."""
        return tuple(
            tuple(dict(values).get(measure, 0.0) for _month, values in rep.months)
            for rep in self.replications
        )


def _ratio(numerator: float, denominator: float, scale: float = 1.0) -> float:
    return numerator * scale / denominator if denominator else float("nan")


def _totals(study: Study, rep: Replication) -> dict[str, float]:
    """The study-level figures of one replication."""
    sums: dict[str, float] = {}
    for _month, values in rep.months:
        for name, value in values:
            if name in _FLOWS or name.startswith("revenue_"):
                sums[name] = sums.get(name, 0.0) + value
    extra = dict(rep.totals)
    enrolled_months = extra["enrolled_months"]
    patient_years = enrolled_months / 12
    revenue = sums.get("revenue", 0.0)
    cost = sums.get("staff_cost", 0.0)
    fte = study.policy.fte
    years = study.months / 12
    revenue_per_year = _ratio(revenue, patient_years)
    cost_per_fte_year = _ratio(cost, fte * years) if fte else float("nan")
    last = dict(rep.months[-1][1]) if rep.months else {}
    out = {name: round(value, 2) for name, value in sorted(sums.items())}
    out |= {
        "enrolled_patients_end": last.get("enrolled_patients", 0.0),
        "enrolled_patients_mean": _ratio(enrolled_months, study.months),
        "enrolled_patient_years": patient_years,
        "net_revenue_per_enrolled_patient_year": _ratio(
            sums.get("net_revenue", 0.0), patient_years
        ),
        "revenue_per_enrolled_patient_year": revenue_per_year,
        "revenue_less_time_cost_per_enrolled_patient_year": _ratio(
            revenue - sums.get("staff_time_cost", 0.0), patient_years
        ),
        "break_even_enrollment_per_fte": _ratio(cost_per_fte_year, revenue_per_year),
        "billable_rate": _ratio(sums.get("billable_months", 0.0), enrolled_months),
        "minutes_per_enrolled_month": _ratio(sums.get("minutes_logged", 0.0), enrolled_months),
        "ed_visits_per_1000_enrolled": _ratio(
            sums.get("ed_visits_enrolled", 0.0), patient_years, 1000
        ),
        "admissions_per_1000_enrolled": _ratio(
            sums.get("admissions_enrolled", 0.0), patient_years, 1000
        ),
        "ed_visits_per_1000": _ratio(
            sums.get("ed_visits", 0.0), sums.get("member_months", 0.0) / 12, 1000
        ),
        "admissions_per_1000": _ratio(
            sums.get("admissions", 0.0), sums.get("member_months", 0.0) / 12, 1000
        ),
        "readmission_rate": _ratio(extra["readmissions"], extra["discharges"]),
        "staff_utilisation": _ratio(
            sums.get("minutes_logged", 0.0), sums.get("capacity_minutes", 0.0)
        ),
        "eligible_patients": extra["eligible_patients"],
        "ever_enrolled": extra["ever_enrolled"],
        "ed_visits_before_enrollment": extra["ed_visits_before_enrollment"],
        "months_before_enrollment": extra["months_before_enrollment"],
        "ed_visits_while_enrolled": extra["ed_visits_while_enrolled"],
        "enrolled_months": enrolled_months,
    }
    return out


def _percentile(values: list[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default) of sorted *values*."""
    if len(values) == 1:
        return values[0]
    position = (len(values) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(values) - 1)
    return values[lower] + (values[upper] - values[lower]) * (position - lower)


def summarise(totals: Sequence[dict[str, float]]) -> dict[str, Interval]:
    """Mean and 95% interval of each figure across the replications' *totals*.

    A figure a replication lacks (a code it never billed) counts as 0;
    undefined ratios (NaN: nothing to divide by) are left out of that
    figure's interval, which is NaN when every replication lacks it. An
    interval needs two values at least: from one, its ends are NaN (null in
    JSON) and only the mean is given.

    >>> s = summarise([{"revenue": 10.0}, {"revenue": 20.0}, {"revenue": 30.0}])
    >>> s["revenue"]
    Interval(mean=20.0, low=10.5, high=29.5)
    >>> summarise([{"revenue": 10.0}])["revenue"]
    Interval(mean=10.0, low=nan, high=nan)
    """
    names = sorted({name for t in totals for name in t})
    out = {}
    for name in names:
        values = sorted(
            value for value in (t.get(name, 0.0) for t in totals) if not math.isnan(value)
        )
        if not values:
            out[name] = Interval(mean=math.nan, low=math.nan, high=math.nan)
            continue
        alone = len(values) < 2  # noqa: PLR2004 - an interval needs two values
        out[name] = Interval(
            mean=math.fsum(values) / len(values),
            low=math.nan if alone else _percentile(values, 0.025),
            high=math.nan if alone else _percentile(values, 0.975),
        )
    return out


def run_study(
    study: Study,
    *,
    replications: int = 20,
    seed: int = 0,
    executor: Executor | None = None,
    on_done: Callable[[int], None] | None = None,
) -> StudyResult:
    """Run *replications* replications of *study* from *seed* on *executor* (default: in process).

    Replication *k* draws from ``SeedSequence(seed).spawn(replications)[k]``:
    independent streams, and the same result whichever executor runs it and
    however many workers it has. The study is sent to each worker once, as
    the state of a pool (see :meth:`carecore.executors.Executor.pool`) that
    also builds the rule set and the TCM holiday calendar there; a task is a
    seed and the indices of its replications: one replication, or with more
    than ten replications per worker a chunk of several. *on_done* is called
    with each replication's index as its task completes.

    >>> from carecore.simulation import PopulationSpec, Study
    >>> result = run_study(Study(months=2, population=PopulationSpec(size=50)), replications=2, seed=1)
    >>> len(result.replications), result.rows[0][:3]
    (2, (0, '2026-01', 'enrolled_patients'))
    """
    if not isinstance(study, Study):
        raise errors.InvalidValue("must be a Study", field="study", value=study)
    for name, value, low in (("replications", replications, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise errors.InvalidValue(
                f"must be a whole number of at least {low}", field=name, value=value
            )
    runner = executor if executor is not None else LocalExecutor()
    # One replication a task (in process: a progress step each). With several workers, up
    # to _TASKS_PER_WORKER tasks a worker, then chunks of several replications: the study
    # reaches each worker once as the pool's state and a worker keeps its rule set and memo
    # from task to task, so a task carries only a seed and indices; several tasks a worker
    # let a free worker take the next one while another is slowed (a busy core), instead of
    # everyone waiting for the slowest worker's fixed share.
    parts = (
        replications
        if runner.workers == 1
        else min(replications, runner.workers * _TASKS_PER_WORKER)
    )
    chunks = _chunks(replications, parts)

    def done(index: int) -> None:
        if on_done is not None:
            for replication in chunks[index]:
                on_done(replication)

    with runner.pool(_prepared, study) as pool:
        results = pool.map(_replications, [(seed, chunk) for chunk in chunks], on_done=done)
    reps = tuple(rep for chunk in results for rep in chunk)
    return StudyResult(study=study, seed=seed, replications=reps)
