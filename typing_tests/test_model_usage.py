"""Code a user would write, checked by mypy --strict (never run)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from carecore.convert import from_json, to_json
from carecore.model import (
    Credential,
    Practitioner,
    ServiceFamily,
    ServicePeriod,
    TimeEntry,
)
from carecore.plugins import Hooks, get_plugin_manager

if TYPE_CHECKING:
    import pendulum

period: ServicePeriod = ServicePeriod.month(2026, 1)
days: int = period.days
doctor = Practitioner(id="dr1", name="Dr. Ruiz", credential=Credential.MD)
entry: TimeEntry = from_json(to_json(doctor), TimeEntry)  # typed as TimeEntry
family: ServiceFamily = entry.family
today: pendulum.Date = entry.service_date
channels = Hooks(get_plugin_manager(entry_points=False)).channels()
names: list[str] = sorted(channels)
