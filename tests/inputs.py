"""Where the tests' input files are.

The public inputs (billing scenarios, fee rows, published questionnaires) are copied
into ``tests/data``; ``tests/data/SOURCES.md`` names each file's origin and licence.

Maintainer-only checks: a few tests compare carecore with the research specification
the billing rules were written from. That text is not published, so users do not have
it; those tests read it only from the folder named by the ``CARECORE_SPEC_DIR``
environment variable (``$CARECORE_SPEC_DIR/billing/SPEC.md``) and skip, saying so,
when the variable is unset. CI sets it where the specification is available.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SCENARIOS = DATA / "billing" / "scenarios.json"

#: The variable naming the folder that holds the private research specification.
SPEC_DIR = "CARECORE_SPEC_DIR"


def spec_file(relative: str) -> Path:
    """*relative* under ``$CARECORE_SPEC_DIR``; skips the test when the variable is unset.

    A set variable whose folder lacks the file fails the test: the check was asked for.
    """
    folder = os.environ.get(SPEC_DIR, "")
    if not folder:
        pytest.skip(
            f"maintainer-only check: set {SPEC_DIR} to the folder holding the research "
            f"specification ({relative}), which is not published"
        )
    path = Path(folder) / relative
    if not path.is_file():
        pytest.fail(f"{SPEC_DIR} is set to {folder!r}, which has no {relative}")
    return path
