"""Medicare (CMS) care-management rule sets for calendar years 2024, 2025 and 2026.

The rules are data: one CSV per year in ``carecore/billing/data`` (with a
README naming the choices behind them), each code with its source tags.
Payment amounts come from the fee table of :mod:`carecore.billing.fees`:
*approximate* national non-facility amounts before geographic adjustment,
each with its source, and None where no amount was found (shown as "no
listed fee"). Code summaries are paraphrased.

>>> rules = cms_rule_set(2025)
>>> rules.rule("99490").minutes, rules.rule("99445").in_effect(pendulum.Date(2025, 6, 1))
(20, False)
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from importlib import resources
from typing import TYPE_CHECKING

import pendulum

from carecore import errors
from carecore.billing.fees import fee_table
from carecore.billing.rules import CodeRule, RuleSet, Switches, TimeRule
from carecore.model.codes import ServiceFamily

if TYPE_CHECKING:
    from carecore.model.period import ServicePeriod

__all__ = ["CMS_YEARS", "close_rule_set", "cms_rule_set"]

#: The calendar years with a CMS rule set.
CMS_YEARS = (2024, 2025, 2026)

_COLUMNS = (
    "code",
    "family",
    "summary",
    "minutes",
    "time_rule",
    "add_on_to",
    "max_units",
    "min_days",
    "max_days",
    "available_from",
    "available_to",
    "sources",
)


def _int(text: str) -> int | None:
    return int(text) if text else None


def _day(text: str) -> pendulum.Date | None:
    if not text:
        return None
    found = dt.date.fromisoformat(text)
    return pendulum.Date(found.year, found.month, found.day)


@functools.cache
def _codes(year: int) -> tuple[CodeRule, ...]:
    """The rule table of *year*, read from ``carecore/billing/data/cms-<year>.csv``."""
    text = (
        resources.files("carecore.billing")
        .joinpath("data", f"cms-{year}.csv")
        .read_text(encoding="utf-8")
    )
    reader = csv.DictReader(text.splitlines())
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise errors.InvalidInput(
            f"cms-{year}.csv",
            problems=[
                errors.Problem(path="line 1", message=f"expected columns {', '.join(_COLUMNS)}")
            ],
        )
    fees = fee_table(year)
    rules = []
    for line, row in enumerate(reader, start=2):
        try:
            rule = CodeRule(
                code=row["code"],
                family=ServiceFamily(row["family"]),
                summary=row["summary"],
                minutes=_int(row["minutes"]),
                time_rule=TimeRule(row["time_rule"]),
                add_on_to=row["add_on_to"] or None,
                max_units=_int(row["max_units"]),
                min_days=_int(row["min_days"]),
                max_days=_int(row["max_days"]),
                available_from=_day(row["available_from"]) or pendulum.Date(1990, 1, 1),
                available_to=_day(row["available_to"]),
                amount=fees[row["code"]].amount if row["code"] in fees else None,
                sources=tuple(filter(None, row["sources"].split(";"))),
            )
        except (ValueError, errors.CarecoreError) as exc:
            raise errors.InvalidInput(
                f"cms-{year}.csv", problems=[errors.Problem(path=f"line {line}", message=str(exc))]
            ) from exc
        rules.append(rule)
    return tuple(rules)


def cms_rule_set(year: int, *, switches: Switches | None = None) -> RuleSet:
    """The CMS rule set for calendar *year* (2024, 2025 or 2026).

    >>> cms_rule_set(2024).rule("G0511").in_effect(pendulum.Date(2024, 5, 1))
    True
    """
    if year not in CMS_YEARS:
        raise errors.NotFound(
            f"no CMS rule set (known years: {', '.join(map(str, CMS_YEARS))})",
            field="year",
            value=year,
        )
    return RuleSet(
        id=f"cms-{year}",
        payer="cms",
        year=year,
        version=f"{year}.1",
        title=f"Medicare Physician Fee Schedule care-management rules, CY {year}",
        codes=_codes(year),
        switches=switches or Switches(),
    )


def close_rule_set(period: ServicePeriod) -> RuleSet:
    """The rule set a month close of *period* uses when it is given none.

    The CMS rule set of the year *period* starts in: a store close
    (:meth:`carecore.service.CareProgram.close_month`) prices its lines with
    it, and the program report prices the codes a close did not bill with it.
    Raises :class:`~carecore.errors.NotFound` for a year carecore has no rule set for.

    >>> from carecore.model.period import ServicePeriod
    >>> close_rule_set(ServicePeriod.month(2025, 12)).id
    'cms-2025'
    """
    return cms_rule_set(period.start.year)
