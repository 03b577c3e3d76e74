"""Medicare care-management billing: rules as data, a pure engine, explained decisions.

>>> from carecore.billing import evaluate, cms_rule_set
>>> cms_rule_set(2026).rule("99490").summary
'Non-complex CCM, first 20 minutes of clinical staff time in a month'

See :func:`carecore.billing.evaluate` for a worked example, and the
billing pages of the documentation for every family's rules.

The public modules of the package are :mod:`~carecore.billing.rules`,
:mod:`~carecore.billing.cms`, :mod:`~carecore.billing.fees`,
:mod:`~carecore.billing.primitives`, :mod:`~carecore.billing.facts`,
:mod:`~carecore.billing.scenarios`, :mod:`~carecore.billing.claims` and
:mod:`~carecore.billing.sources`. The engine, the month close and its fast
paths live in underscored modules; their public names are exported here.
"""

from __future__ import annotations

from carecore.billing._bridge import (
    DEVICE_PERIOD_DAYS,
    PROGRAM_MONTH_FAMILIES,
    ProgramGap,
    facts_and_gaps,
    facts_from_model,
)
from carecore.billing._buckets import BUCKET_BYTES, MAX_BUCKETS, bucket_count, close_in_buckets
from carecore.billing._close import (
    ENGINES,
    EVENT_COLUMNS,
    PATIENT_COLUMNS,
    ROW_DEFAULTS,
    CloseSummary,
    CloseWriter,
    CodeTotal,
    PatientMonth,
    PatientRow,
    RowProblem,
    audit_json,
    audit_packet,
    close_files,
    close_store,
    iter_patient_months,
    read_patients,
    run_close,
)
from carecore.billing._columnar import close_columnar, polars_available
from carecore.billing._encode import (
    AUDIT_SCHEMA,
    CLAIM_COLUMNS,
    DENIAL_COLUMNS,
    NOT_RECORDED,
    AuditEvidence,
    CloseEncoder,
    Template,
    json_text,
)
from carecore.billing._engine import (
    BASE_CODE,
    EvaluationResult,
    Hint,
    TcmClock,
    condition_groups,
    evaluate,
    is_billable_icd10cm,
    line_diagnoses,
    tcm_clock,
)
from carecore.billing._fast import FAST_FAMILIES, FAST_SETTING, FastClose
from carecore.billing._month import MonthRecords, close_records, evaluate_records
from carecore.billing._progress import (
    NEAR_MINUTES,
    TimeProgress,
    counted_minutes,
    month_progress,
    records_progress,
    time_progress,
)
from carecore.billing.cms import CMS_YEARS, cms_rule_set
from carecore.billing.facts import BillingFacts
from carecore.billing.primitives import MAX_CLAIM_DIAGNOSES, claim_diagnoses, diagnosis_pointers
from carecore.billing.rules import CodeRule, RuleSet, Switches, TimeRule
from carecore.billing.sources import Source, all_sources, source

__all__ = [
    "AUDIT_SCHEMA",
    "BASE_CODE",
    "BUCKET_BYTES",
    "CLAIM_COLUMNS",
    "CMS_YEARS",
    "DENIAL_COLUMNS",
    "DEVICE_PERIOD_DAYS",
    "ENGINES",
    "EVENT_COLUMNS",
    "FAST_FAMILIES",
    "FAST_SETTING",
    "MAX_BUCKETS",
    "MAX_CLAIM_DIAGNOSES",
    "NEAR_MINUTES",
    "NOT_RECORDED",
    "PATIENT_COLUMNS",
    "PROGRAM_MONTH_FAMILIES",
    "ROW_DEFAULTS",
    "AuditEvidence",
    "BillingFacts",
    "CloseEncoder",
    "CloseSummary",
    "CloseWriter",
    "CodeRule",
    "CodeTotal",
    "EvaluationResult",
    "FastClose",
    "Hint",
    "MonthRecords",
    "PatientMonth",
    "PatientRow",
    "ProgramGap",
    "RowProblem",
    "RuleSet",
    "Source",
    "Switches",
    "TcmClock",
    "Template",
    "TimeProgress",
    "TimeRule",
    "all_sources",
    "audit_json",
    "audit_packet",
    "bucket_count",
    "claim_diagnoses",
    "close_columnar",
    "close_files",
    "close_in_buckets",
    "close_records",
    "close_store",
    "cms_rule_set",
    "condition_groups",
    "counted_minutes",
    "diagnosis_pointers",
    "evaluate",
    "evaluate_records",
    "facts_and_gaps",
    "facts_from_model",
    "is_billable_icd10cm",
    "iter_patient_months",
    "json_text",
    "line_diagnoses",
    "month_progress",
    "polars_available",
    "read_patients",
    "records_progress",
    "run_close",
    "source",
    "tcm_clock",
    "time_progress",
]
