"""Medicare care-management billing: rules as data, a pure engine, explained decisions.

>>> from carecore.billing import evaluate, cms_rule_set
>>> cms_rule_set(2026).rule("99490").summary
'Non-complex CCM, first 20 minutes of clinical staff time in a month'

See :func:`carecore.billing.engine.evaluate` for a worked example, and the
billing pages of the documentation for every family's rules.
"""

from __future__ import annotations

from carecore.billing.close import close_files, close_store
from carecore.billing.cms import CMS_YEARS, cms_rule_set
from carecore.billing.engine import EvaluationResult, Hint, evaluate
from carecore.billing.facts import BillingFacts
from carecore.billing.primitives import MAX_CLAIM_DIAGNOSES, claim_diagnoses, diagnosis_pointers
from carecore.billing.rules import CodeRule, RuleSet, Switches, TimeRule
from carecore.billing.sources import Source, all_sources, source

__all__ = [
    "CMS_YEARS",
    "MAX_CLAIM_DIAGNOSES",
    "BillingFacts",
    "CodeRule",
    "EvaluationResult",
    "Hint",
    "RuleSet",
    "Source",
    "Switches",
    "TimeRule",
    "all_sources",
    "claim_diagnoses",
    "close_files",
    "close_store",
    "cms_rule_set",
    "diagnosis_pointers",
    "evaluate",
    "source",
]
