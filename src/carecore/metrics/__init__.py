"""Program metrics: pure functions from model values and a period to :class:`Measure` values.

Each measure carries its numerator, denominator, scale, unit, period and a
one-sentence definition; ``value`` is None when the denominator is zero.
The definitions, with their sources, are in the explanation page
*Registry, risk and program metrics*. :func:`program_report` computes every
measure and table of ``carecore report`` from a :class:`ProgramData`
snapshot, so the report's numbers are the API's; :func:`combine_reports`
adds up the reports of partitions of a store into the whole store's.

>>> import pendulum
>>> from carecore.model import Enrollment, ServiceFamily, ServicePeriod
>>> e = Enrollment.start(id="e1", patient_id="p1", program_id="ccm", family=ServiceFamily.CCM,
...     billing_practitioner_id="dr1", on=pendulum.Date(2026, 1, 5))
>>> m = minutes_per_patient_month([], [e], period=ServicePeriod.month(2026, 3), family=ServiceFamily.CCM)
>>> m.numerator, m.denominator, m.value
(Decimal('0'), Decimal('1'), Decimal('0.0000'))
"""

from __future__ import annotations

from carecore.metrics._funnel import FUNNEL_STAGES, FunnelStage, enrollment_funnel
from carecore.metrics._measure import (
    Comparison,
    Measure,
    before_after,
    by_month,
    enrolled_months,
    month_key,
    months_of,
)
from carecore.metrics._parts import ReportPart, Spool, combine_measures, combine_reports
from carecore.metrics._program import (
    A1C_LOINC,
    A1cChange,
    PatientCost,
    PmpmRow,
    a1c_change,
    a1c_changes,
    admissions_per_1000,
    billable_rate,
    churn,
    ed_visits_per_1000,
    enrolled_patients,
    enrollment_rate,
    expected_revenue,
    goal_attainment,
    minutes_per_patient_month,
    parse_costs,
    parse_expected_pmpm,
    pmpm_by_quarter,
    quarter_of,
    readmission_rate,
)
from carecore.metrics._summary import ProgramData, ProgramReport, program_report

__all__ = [
    "A1C_LOINC",
    "FUNNEL_STAGES",
    "A1cChange",
    "Comparison",
    "FunnelStage",
    "Measure",
    "PatientCost",
    "PmpmRow",
    "ProgramData",
    "ProgramReport",
    "ReportPart",
    "Spool",
    "a1c_change",
    "a1c_changes",
    "admissions_per_1000",
    "before_after",
    "billable_rate",
    "by_month",
    "churn",
    "combine_measures",
    "combine_reports",
    "ed_visits_per_1000",
    "enrolled_months",
    "enrolled_patients",
    "enrollment_funnel",
    "enrollment_rate",
    "expected_revenue",
    "goal_attainment",
    "minutes_per_patient_month",
    "month_key",
    "months_of",
    "parse_costs",
    "parse_expected_pmpm",
    "pmpm_by_quarter",
    "program_report",
    "quarter_of",
    "readmission_rate",
]
