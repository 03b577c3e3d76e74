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

from carecore_fhir.importer import ImportReport, Outcome, import_bundle, read_bundle
from carecore_fhir.mapping import Mapped, Options, Resolver, Skip, condition_groups, to_carecore
from carecore_fhir.validate import validate_resource

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
