"""carecore and FHIR R4: import EHR bundles, export care plans EHRs can read, talk to FHIR servers.

Resources are read as plain JSON and mapped to carecore values; nothing from
``fhir.resources`` crosses into carecore. ``fhir.resources.R4B`` validates
what is read and everything written.

>>> from carecore_fhir import Resolver, to_carecore
>>> doc = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
...        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006",
...                             "display": "Diabetes"}]}}
>>> condition = to_carecore(doc, Resolver({}, lenient=True)).values[0]
>>> condition.coding.code, condition.chronic
('44054006', True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carecore_fhir.importer import ImportReport, Outcome, import_bundle, read_bundle
    from carecore_fhir.mapping import (
        Mapped,
        Options,
        Resolver,
        Skip,
        condition_groups,
        to_carecore,
    )
    from carecore_fhir.validate import validate_resource

# Loaded on first use: registering the plugin (and `carecore --help`) must not
# pay for the mapping, the importer and pydantic's models.
_WHERE = {
    "ImportReport": "importer",
    "Outcome": "importer",
    "import_bundle": "importer",
    "read_bundle": "importer",
    "Mapped": "mapping",
    "Options": "mapping",
    "Resolver": "mapping",
    "Skip": "mapping",
    "condition_groups": "mapping",
    "to_carecore": "mapping",
    "validate_resource": "validate",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"carecore_fhir.{_WHERE[name]}"), name)
    msg = f"module 'carecore_fhir' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "ImportReport",
    "Mapped",
    "Options",
    "Outcome",
    "Resolver",
    "Skip",
    "condition_groups",
    "import_bundle",
    "read_bundle",
    "to_carecore",
    "validate_resource",
]
