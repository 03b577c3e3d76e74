"""How the report words and writes things: human labels for measures, percentages, money."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carecore.metrics import Measure
    from carecore.model import ServicePeriod

__all__ = [
    "count",
    "kind_text",
    "label",
    "measure_value",
    "money",
    "month_name",
    "percent",
    "rule_heading",
    "rule_text",
]

#: The report's words for the metrics' measure names.
LABELS: dict[str, str] = {
    "enrollment_rate": "Enrollment rate",
    "enrolled_patients": "Enrolled patients",
    "churn": "Disenrolled (churn)",
    "minutes_per_patient_month": "Minutes per patient-month",
    "billable_rate": "Billable rate",
    "expected_revenue": "Revenue (approximate)",
    "ed_visits_per_1000": "ED visits per 1,000",
    "admissions_per_1000": "Admissions per 1,000",
    "readmission_rate_30d": "30-day readmissions",
    "goal_attainment": "Care-plan goals met",
    "a1c_change": "Mean change in A1c",
    "caseload_per_care_manager": "Caseload per care manager",
    "revenue_pmpm": "Revenue per member-month",
}


#: Each eligibility rule of the registry, worded once for the eligibility page.
RULES: dict[str, str] = {
    "alive": "The patient is alive on the day.",
    "coverage.medicare_part_b": "Medicare Part B is active on the day (unknown when the store "
    "holds no coverage for the patient).",
    "ccm.two_chronic_conditions": "CCM: two or more chronic conditions expected to last at "
    "least 12 months or until death, placing the patient at significant risk, attested by "
    "the billing practitioner.",
    "pcm.one_high_risk_condition": "PCM: one high-risk chronic condition expected to last "
    "at least 3 months.",
    "bhi.behavioral_condition": "BHI: a behavioral health condition.",
    "apcm.level": "APCM: the number of chronic conditions sets the level.",
}

#: Short column headings for the eligibility rules.
RULE_HEADINGS: dict[str, str] = {
    "alive": "alive",
    "coverage.medicare_part_b": "Medicare Part B",
    "ccm.two_chronic_conditions": "2+ chronic conditions",
    "pcm.one_high_risk_condition": "high-risk condition",
    "bhi.behavioral_condition": "behavioral condition",
    "apcm.level": "APCM level",
}

#: The worklist's item kinds, in words.
KINDS: dict[str, str] = {
    "minutes-to-threshold": "Minutes to the next code",
}


def rule_text(rule: str) -> str:
    """The wording of an eligibility rule (its id, readable, when unknown).

    >>> rule_text("alive")
    'The patient is alive on the day.'
    """
    return RULES.get(rule, rule.replace("_", " ").replace(".", ": "))


def rule_heading(rule: str) -> str:
    """The short heading of an eligibility rule's column.

    >>> rule_heading("coverage.medicare_part_b")
    'Medicare Part B'
    """
    return RULE_HEADINGS.get(rule, rule.rsplit(".", 1)[-1].replace("_", " "))


def kind_text(kind: str) -> str:
    """A worklist item kind in words.

    >>> kind_text("minutes-to-threshold"), kind_text("care-plan-review")
    ('Minutes to the next code', 'Care plan review')
    """
    return KINDS.get(kind, kind.replace("-", " ").replace("_", " ").capitalize())


def label(name: str) -> str:
    """The human label of a measure name (the name itself, made readable, when unknown).

    >>> label("ed_visits_per_1000"), label("some_new_measure")
    ('ED visits per 1,000', 'Some new measure')
    """
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _q(value: Decimal, places: str) -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def percent(value: Decimal | None, places: int = 0) -> str:
    """A ratio as a percentage.

    >>> percent(Decimal("0.6143")), percent(Decimal("0.6143"), 1), percent(None)
    ('61%', '61.4%', 'n/a')
    """
    if value is None:
        return "n/a"
    return f"{_q(value * 100, '1' if places == 0 else '0.' + '0' * places)}%"


def money(value: Decimal | None) -> str:
    """An amount in US dollars, whole dollars with thousands separators.

    >>> money(Decimal("12345.6")), money(Decimal("-20")), money(None)
    ('$12,346', '-$20', 'n/a')
    """
    if value is None:
        return "n/a"
    whole = _q(value, "1")
    sign = "-" if whole < 0 else ""
    return f"{sign}${abs(whole):,}"


def count(value: Decimal | int | None) -> str:
    """A count with thousands separators (decimals kept when not whole).

    >>> count(Decimal("1234")), count(Decimal("2.50")), count(None)
    ('1,234', '2.5', 'n/a')
    """
    if value is None:
        return "n/a"
    number = Decimal(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,}"


def measure_value(m: Measure) -> str:
    """A measure's value as the report shows it: ratios as percentages, money in dollars.

    >>> from carecore.metrics import Measure
    >>> from carecore.model import ServicePeriod
    >>> measure_value(Measure(name="billable_rate", numerator=Decimal(43), denominator=Decimal(70),
    ...     unit="ratio", period=ServicePeriod.month(2026, 3), definition="..."))
    '61.4%'
    """
    value = m.value
    if value is None:
        return "n/a"
    if m.unit == "ratio":
        return percent(value, 1)
    if m.unit.startswith("USD"):
        return money(value) if m.unit == "USD" else f"${_q(value, '0.01'):,}"
    if m.scale != 1 or value != value.to_integral_value():
        return f"{_q(value, '0.1'):,}"
    return count(value)


def month_name(period: ServicePeriod) -> str:
    """A month as the report writes it ("March 2026"), a quarter as "Q1 2026", else "A to B".

    >>> import pendulum
    >>> from carecore.model import ServicePeriod
    >>> month_name(ServicePeriod.month(2026, 3))
    'March 2026'
    >>> month_name(ServicePeriod(start=pendulum.Date(2026, 4, 1), end=pendulum.Date(2026, 6, 30)))
    'Q2 2026'
    """
    start, end = period.start, period.end
    if start.day == 1 and end == start.end_of("month"):
        return f"{start.format('MMMM YYYY')}"
    quarter = start.day == 1 and start.month % 3 == 1
    if quarter and end == start.add(months=3).subtract(days=1):
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return f"{start} to {end}"
