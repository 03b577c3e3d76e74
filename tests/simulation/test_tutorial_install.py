"""The simulation tutorial's install commands are the ones that work, written as the CLI writes them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from carecore import errors

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial" / "first-simulation.md"


def _extras() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return set(project["optional-dependencies"])


def _installs(text: str) -> list[str]:
    return re.findall(r"`pip install ([^`]+)`", text)


def test_each_extra_the_tutorial_installs_exists_and_is_written_as_the_cli_writes_it():
    text = TUTORIAL.read_text(encoding="utf-8")
    installs = _installs(text)
    clone = [i for i in installs if i.startswith('".[')]
    assert clone, installs
    for install in installs:
        # From the clone (".[x]", as the README and the CLI's messages say), or from an
        # index ("carecore[x]"); single quotes were a third spelling.
        match = re.fullmatch(r'"(?:\.|carecore)\[([a-z]+)\]"', install)
        assert match, install
        assert match.group(1) in _extras(), install
    for install in clone:
        extra = install[3:-2]
        assert errors.MissingDependency.install_command(extra).startswith(f"pip install {install}")
    # Every extra it names in the clone's form, dask included.
    assert {i[3:-2] for i in clone} >= {"simulation", "dask", "testing"}


def test_the_property_test_step_says_it_needs_the_testing_extra():
    text = TUTORIAL.read_text(encoding="utf-8")
    step = text[text.index("## 5.") :]
    before_code = step[: step.index("```python")]
    assert 'pip install ".[testing]"' in before_code
    assert "hypothesis" in _extras_packages("testing")


def _extras_packages(extra: str) -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return " ".join(project["optional-dependencies"][extra])
