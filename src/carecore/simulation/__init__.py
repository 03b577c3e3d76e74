"""Simulate a care-management program: what-if studies through the real engines, with intervals.

A :class:`Study` (a population, a :class:`ProgramPolicy`, an
:class:`OutcomeModel`) runs month by month through the billing engine, the
registry's eligibility rules and the TCM clock; :func:`run_study` runs its
replications on independent random streams from one seed, on any executor
(:mod:`carecore.executors`), and gives a :class:`StudyResult`: a tidy table
and the mean and 95% interval of each figure. The model, its assumptions and
its defaults: the explanation page *Simulating a care-management program*.

>>> from carecore.simulation import PopulationSpec, ProgramPolicy, Study, run_study
>>> study = Study(months=3, population=PopulationSpec(size=100),
...               policy=ProgramPolicy(enrollment_probability=0.6))
>>> result = run_study(study, replications=2, seed=42)
>>> sorted(result.summary)[:3]
['admissions', 'admissions_enrolled', 'admissions_per_1000']
>>> result.summary["staff_cost"].mean
25999.5
"""

from __future__ import annotations

from carecore.simulation._config import example_names, load_study, study_from_mapping
from carecore.simulation._model import (
    DEFAULT_CONDITIONS,
    DEFAULT_RPM_CONDITIONS,
    SUPPORTED_FAMILIES,
    BhiPolicy,
    ConditionPrevalence,
    ContactModel,
    OutcomeModel,
    OutreachOrder,
    PopulationSpec,
    Priority,
    ProgramPolicy,
    RpmPolicy,
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
    CareMonth,
    Outreach,
    Recording,
    Replication,
    Stay,
    billing_facts,
    policy_rules,
    run_replication,
    simulated_bill,
)
from carecore.simulation._study import COLUMNS, Interval, StudyResult, run_study, summarise

__all__ = [
    "COLUMNS",
    "DEFAULT_CONDITIONS",
    "DEFAULT_RPM_CONDITIONS",
    "SUPPORTED_FAMILIES",
    "BhiPolicy",
    "CareMonth",
    "ConditionPrevalence",
    "ContactModel",
    "Interval",
    "OutcomeModel",
    "Outreach",
    "OutreachOrder",
    "PanelPatient",
    "PatientPanel",
    "PopulationSpec",
    "Priority",
    "ProgramPolicy",
    "Recording",
    "Replication",
    "RpmPolicy",
    "StaffRole",
    "Stay",
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
