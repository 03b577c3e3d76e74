"""The public API: every public module declares ``__all__`` and its names match a snapshot.

A public module is one under ``carecore`` with no dotted part starting with an
underscore (see docs/reference/compatibility.md). Its public names are its
``__all__``. The snapshot is tests/data/public_api.txt, one ``module:name``
per line; after a deliberate change, regenerate it with::

    python tests/test_public_api.py --update

and say in the changelog what changed: adding a name is a feature, removing or
renaming one is a breaking change.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

import carecore

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "data" / "public_api.txt"
UPDATE = "python tests/test_public_api.py --update"


def public_modules() -> list[ModuleType]:
    """``carecore`` and every module under it whose dotted name has no underscored part."""
    names = ["carecore"]
    names += [
        info.name
        for info in pkgutil.walk_packages(carecore.__path__, "carecore.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def live_names() -> list[str]:
    """``module:name`` for each name in each public module's ``__all__``, sorted."""
    return sorted(
        f"{module.__name__}:{name}"
        for module in public_modules()
        for name in getattr(module, "__all__", ())
    )


def snapshot_names() -> list[str]:
    lines = SNAPSHOT.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def write_snapshot() -> None:
    header = (
        "# The public names of carecore: module:name, one a line (tests/test_public_api.py).\n"
        f"# Regenerate with: {UPDATE}\n"
    )
    SNAPSHOT.write_text(header + "\n".join(live_names()) + "\n", encoding="utf-8")


def test_every_public_module_declares_all() -> None:
    missing = [m.__name__ for m in public_modules() if not hasattr(m, "__all__")]
    assert not missing, f"public modules without __all__: {missing}"


def test_public_names_match_the_snapshot() -> None:
    live, saved = set(live_names()), set(snapshot_names())
    removed, added = sorted(saved - live), sorted(live - saved)
    assert (removed, added) == ([], []), (
        f"The public API changed.\n  removed: {removed}\n  added: {added}\n"
        "Removing or renaming a public name is a breaking change: note it in the changelog "
        "(changelog.d/<issue>.removed.<slug>.md or .changed.) and, after 1.0, deprecate first. "
        f"If the change is deliberate, regenerate the snapshot: {UPDATE}"
    )


def test_all_names_exist_once_and_are_documented() -> None:
    problems = []
    for module in public_modules():
        names = list(getattr(module, "__all__", ()))
        if len(names) != len(set(names)):
            problems.append(f"{module.__name__}: __all__ lists a name twice")
        for name in names:
            if not hasattr(module, name):
                problems.append(f"{module.__name__}.{name}: in __all__ but not defined")
                continue
            obj = getattr(module, name)
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not inspect.getdoc(obj):
                problems.append(f"{module.__name__}.{name}: no docstring")
    assert not problems, "\n".join(problems)


def test_the_compatibility_page_lists_the_public_modules() -> None:
    text = (ROOT / "docs" / "reference" / "compatibility.md").read_text(encoding="utf-8")
    block = text.split("The public modules are:", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    assert block.split() == [m.__name__ for m in public_modules()]


def test_the_api_reference_documents_no_private_module() -> None:
    """Autodoc directives name public paths only, so no page documents an underscored module."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        if "_build" in page.parts:
            continue
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            directive, _, target = line.strip().partition(":: ")
            if not directive.startswith(".. auto") or not target.startswith("carecore"):
                continue
            if any(part.startswith("_") for part in target.split(".")):
                found.append(f"{page.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "Document the public name (e.g. carecore.billing.evaluate):\n" + "\n".join(
        found
    )


def private_model_imports(path: Path) -> list[str]:
    """The imports in *path* of an underscored module or name of ``carecore.model``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[:2] != ["carecore", "model"]:
                continue
            private = [p for p in parts[2:] if p.startswith("_")]
            private += [a.name for a in node.names if a.name.startswith("_")]
            if private:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.module} {private}")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}"
                for alias in node.names
                if alias.name.startswith("carecore.model._")
            ]
    return found


def test_no_package_outside_model_uses_its_private_names() -> None:
    model = ROOT / "src" / "carecore" / "model"
    paths = [*(ROOT / "src").rglob("*.py"), *ROOT.glob("plugins/*/src/**/*.py")]
    found = [hit for p in paths if model not in p.parents for hit in private_model_imports(p)]
    assert not found, (
        "Use the public carecore.model.validators (or another public name) instead:\n"
        + "\n".join(found)
    )


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(f"usage: {UPDATE}")
    write_snapshot()
    print(f"wrote {len(live_names())} names to {SNAPSHOT.relative_to(ROOT)}")  # noqa: T201
