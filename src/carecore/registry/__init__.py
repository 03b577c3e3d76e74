"""The registry: who qualifies for which program and why, who needs work, who follows whom.

Chronic status and significant risk come from the condition record's
attestation or from the shipped condition-group table
(:func:`condition_groups`, :func:`classify`): a patient whose chronic
conditions qualify only once the billing practitioner attests the
significant risk of some of them *needs attestation*
(:attr:`Eligibility.status`).

Pure functions over :mod:`carecore.model` values and a day; nothing here
reads a store or a clock (:meth:`carecore.service.CareProgram.program_data`
reads the records once). Every answer carries its reasons:
:class:`Eligibility` lists each :class:`Criterion` with the records it used.

>>> import pendulum
>>> from carecore.model import AdministrativeSex, Coding, Condition, Patient, ServiceFamily
>>> ada = Patient(id="p1", given_name="Ada", family_name="Okafor", birth_date=pendulum.Date(1948, 3, 2),
...     sex=AdministrativeSex.FEMALE, time_zone="America/Chicago")
>>> dm = Condition(id="c1", patient_id="p1", coding=Coding.icd10cm("E11.9"), chronic=True,
...     significant_risk=True)
>>> result = eligibility(ada, ServiceFamily.CCM, as_of=pendulum.Date(2026, 3, 1), conditions=[dm])
>>> result.eligible
False
>>> print(result.explanation)  # doctest: +NORMALIZE_WHITESPACE
p1 not eligible for CCM on 2026-03-01
  [met] alive: alive on 2026-03-01
  [not met] ccm.two_chronic_conditions: 1 chronic condition(s) expected to last 12 months
  or until death with significant risk by the condition-group table or attestation (Type 2 diabetes mellitus (E11.9)); CCM needs 2 (source S1)
  [unknown] coverage.medicare_part_b: coverage unknown: not given; Medicare Part B not verified
"""

from __future__ import annotations

from carecore.conditions import ConditionGroup, classify, condition_groups
from carecore.registry._eligibility import (
    PROGRAMS,
    Criterion,
    Eligibility,
    coverage_criterion,
    eligibility,
    registry,
)
from carecore.registry._work import (
    BANDS,
    Caseload,
    MinutesProgress,
    Turns,
    TurnsShare,
    WorklistRow,
    caseloads,
    minutes_progress,
    priority,
    program_progress,
    program_worklists,
    registry_worklists,
    turns_share,
    urgent_findings,
    worklist_rows,
    worklist_turns,
)

__all__ = [
    "BANDS",
    "PROGRAMS",
    "Caseload",
    "ConditionGroup",
    "Criterion",
    "Eligibility",
    "MinutesProgress",
    "Turns",
    "TurnsShare",
    "WorklistRow",
    "caseloads",
    "classify",
    "condition_groups",
    "coverage_criterion",
    "eligibility",
    "minutes_progress",
    "priority",
    "program_progress",
    "program_worklists",
    "registry",
    "registry_worklists",
    "turns_share",
    "urgent_findings",
    "worklist_rows",
    "worklist_turns",
]
