"""What a user writes with the registry, risk and metrics API, checked by mypy --strict."""

from __future__ import annotations

from decimal import Decimal

import pendulum

from carecore.metrics import Measure, ProgramData, ProgramReport, program_report
from carecore.model import ServiceFamily, ServicePeriod
from carecore.registry import Eligibility, registry
from carecore.risk import Stratification, Tier, stratify_all

period = ServicePeriod.month(2026, 3)
data = ProgramData()
report: ProgramReport = program_report(data, period=period, family=ServiceFamily.CCM)
rate: Measure = report.measure("enrollment_rate")
value: Decimal | None = rate.value
eligible: tuple[Eligibility, ...] = registry(data.patients, as_of=pendulum.Date(2026, 3, 31))
tiers: tuple[Stratification, ...] = stratify_all(
    data.patients, data.adt_events, as_of=pendulum.Date(2026, 3, 31), time_zone="UTC"
)
high = [s.patient_id for s in tiers if s.tier is Tier.HIGH]
