"""Simulate a care-management program: what-if studies through the real engines, with intervals."""

from __future__ import annotations

from carecore.simulation._config import example_names, load_study, study_from_mapping
from carecore.simulation._model import (
    DEFAULT_CONDITIONS,
    SUPPORTED_FAMILIES,
    ConditionPrevalence,
    ContactModel,
    OutcomeModel,
    OutreachOrder,
    PopulationSpec,
    Priority,
    ProgramPolicy,
    StaffRole,
    Study,
    TcmPolicy,
)
from carecore.simulation._panel import (
    PanelPatient,
    PatientPanel,
    panel_from_ehr,
    panel_from_records,
)
from carecore.simulation._run import (
    Replication,
    billing_facts,
    policy_rules,
    run_replication,
    simulated_bill,
)
from carecore.simulation._study import COLUMNS, Interval, StudyResult, run_study, summarise

__all__ = [
    "COLUMNS",
    "DEFAULT_CONDITIONS",
    "SUPPORTED_FAMILIES",
    "ConditionPrevalence",
    "ContactModel",
    "Interval",
    "OutcomeModel",
    "OutreachOrder",
    "PanelPatient",
    "PatientPanel",
    "PopulationSpec",
    "Priority",
    "ProgramPolicy",
    "Replication",
    "StaffRole",
    "Study",
    "StudyResult",
    "TcmPolicy",
    "billing_facts",
    "example_names",
    "load_study",
    "panel_from_ehr",
    "panel_from_records",
    "policy_rules",
    "run_replication",
    "run_study",
    "simulated_bill",
    "study_from_mapping",
    "summarise",
]
