"""Drug classes for adherence, and ingredients read from a medication's text.

The three classes are those of CMS's Part D medication-adherence measures
(diabetes medications other than insulin, renin-angiotensin system
antagonists, statins), which use the PQA proportion-of-days-covered method
(CMS Part C and D performance data,
https://www.cms.gov/medicare/health-drug-plans/part-c-d-performance-data;
PQA adherence measures, https://www.pqaalliance.org/adherence-measures).
A drug is put in a class by its generic ingredient name in the text; the
measures' own value sets (by NDC) are the PQA's and are not shipped.
"""

from __future__ import annotations

import re

__all__ = ["ADHERENCE_CLASSES", "drug_class_of", "ingredients_of"]

#: Class name: generic ingredient names.
ADHERENCE_CLASSES: dict[str, frozenset[str]] = {
    "statins": frozenset(
        {
            "atorvastatin",
            "fluvastatin",
            "lovastatin",
            "pitavastatin",
            "pravastatin",
            "rosuvastatin",
            "simvastatin",
        }
    ),
    "ras antagonists": frozenset(
        {
            "benazepril",
            "captopril",
            "enalapril",
            "fosinopril",
            "lisinopril",
            "moexipril",
            "perindopril",
            "quinapril",
            "ramipril",
            "trandolapril",
            "azilsartan",
            "candesartan",
            "eprosartan",
            "irbesartan",
            "losartan",
            "olmesartan",
            "telmisartan",
            "valsartan",
            "aliskiren",
        }
    ),
    "diabetes (non-insulin)": frozenset(
        {
            "metformin",
            "glipizide",
            "glyburide",
            "glimepiride",
            "pioglitazone",
            "rosiglitazone",
            "sitagliptin",
            "saxagliptin",
            "linagliptin",
            "alogliptin",
            "canagliflozin",
            "dapagliflozin",
            "empagliflozin",
            "ertugliflozin",
            "nateglinide",
            "repaglinide",
            "exenatide",
            "liraglutide",
            "dulaglutide",
            "semaglutide",
            "lixisenatide",
        }
    ),
}

_WORDS = re.compile(r"[a-z]+")
_CLASS_OF = {name: cls for cls, names in ADHERENCE_CLASSES.items() for name in names}


def ingredients_of(text: str) -> tuple[str, ...]:
    """The known generic ingredients named in a medication's text, in order.

    >>> ingredients_of("losartan potassium 50 MG / hydrochlorothiazide 12.5 MG Oral Tablet")
    ('losartan',)
    """
    seen: list[str] = []
    for word in _WORDS.findall(text.lower()):
        if word in _CLASS_OF and word not in seen:
            seen.append(word)
    return tuple(seen)


def drug_class_of(text: str) -> str | None:
    """The adherence class of a medication from its text, or None.

    >>> drug_class_of("Simvastatin 20 MG Oral Tablet"), drug_class_of("Amlodipine 5 MG")
    ('statins', None)
    """
    for ingredient in ingredients_of(text):
        return _CLASS_OF[ingredient]
    return None
