"""The core package never imports a plugin: it reaches plugins only through hooks."""

from __future__ import annotations

import ast
from pathlib import Path

import carecore

CORE = Path(carecore.__file__).parent


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def plugin_imports(folder: Path) -> dict[str, list[str]]:
    """Each module under *folder* that imports a ``carecore_*`` package, and what it imports."""
    found = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        names = sorted(n for n in _imported(tree) if n.split(".")[0].startswith("carecore_"))
        if names:
            found[str(path.relative_to(folder))] = names
    return found


def test_no_core_module_imports_a_plugin_package():
    assert plugin_imports(CORE) == {}


def test_the_scan_finds_a_plugin_import(tmp_path):
    (tmp_path / "a.py").write_text("import carecore_fhir.importer\n", encoding="utf-8")
    (tmp_path / "b.py").write_text(
        "def f():\n    from carecore_hl7v2 import listener\n", encoding="utf-8"
    )
    (tmp_path / "c.py").write_text("from carecore import errors\n", encoding="utf-8")
    assert plugin_imports(tmp_path) == {
        "a.py": ["carecore_fhir.importer"],
        "b.py": ["carecore_hl7v2"],
    }
