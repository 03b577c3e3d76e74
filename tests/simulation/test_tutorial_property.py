"""The simulation tutorial's property test (step 5) runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial" / "first-simulation.md"


def _snippet() -> str:
    text = TUTORIAL.read_text(encoding="utf-8")
    step = text[text.index("## 5.") :]
    match = re.search(r"```python\n(.*?)```", step, re.DOTALL)
    assert match, "step 5 has no python block"
    return match.group(1)


def test_the_property_test_turns_off_hypothesis_deadline_and_says_why():
    # The first replication in a process builds the rule set, tables and memo (~220 ms of
    # CPU), past hypothesis's default 200 ms deadline: DeadlineExceeded, now and then.
    code = _snippet()
    assert re.search(r"^@settings\((?:.*, )?deadline=None\b", code, re.MULTILINE), code
    assert re.search(r"^from hypothesis import .*\bsettings\b", code, re.MULTILINE), code
    step = TUTORIAL.read_text(encoding="utf-8").split("## 5.")[1].split("## ")[0]
    assert "deadline" in step.split("```python")[0] + step.split("```")[-1]


def test_the_property_test_passes_as_printed(tmp_path):
    # Run outside this suite (no conftest, so no hypothesis profile) as a reader would.
    (tmp_path / "test_tutorial_step5.py").write_text(_snippet(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_tutorial_step5.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
