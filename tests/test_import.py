"""``import carecore`` stays cheap: heavy modules load only when used."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout))


def test_import_carecore_loads_nothing_heavy():
    modules = loaded_after("import carecore")
    for heavy in (
        "simple_icd_10_cm",
        "holidays",
        "click",
        "cattrs",
        "pluggy",
        "hypothesis",
        "pendulum",
    ):
        assert heavy not in modules, heavy


def test_model_does_not_load_the_icd_tables_until_a_code_is_checked():
    modules = loaded_after("import carecore.model, carecore.convert, carecore.plugins")
    assert "simple_icd_10_cm" not in modules
    assert "click" not in modules
    # A billable code is checked against the shipped list, without the tables;
    # a category code (valid, not billable) needs them.
    modules = loaded_after("from carecore.model import Coding\nCoding.icd10cm('E11.9')")
    assert "simple_icd_10_cm" not in modules
    modules = loaded_after("from carecore.model import Coding\nCoding.icd10cm('E11')")
    assert "simple_icd_10_cm" in modules
