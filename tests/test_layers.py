"""The import layers of docs/explanation/architecture.md hold: a layer imports only from below.

The layers are read from the page's listing (top down), so the page and the
code cannot drift apart. Checked: the imports a module runs when it is
imported (module level, outside ``if TYPE_CHECKING``). Imports inside a
function are deliberate late imports and are not checked; packages not in the
listing are not checked either.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "carecore"

#: Imports against the layers, each with its reason. Keep this short.
ALLOWED = {
    # The store close's partitions read the store directly (storage is above billing).
    ("carecore.billing._store_parts", "carecore.storage"),
}


def layers() -> list[list[str]]:
    """The listing's names per line, top down (``cli.py, _cli_*.py`` -> ``["cli", "_cli_*"]``)."""
    text = (ROOT / "docs" / "explanation" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("## The layers", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    out = []
    for line in block.strip().splitlines():
        names = []
        for token in re.split(r"[,\s]+", line.strip()):
            if not re.fullmatch(r"[\w*]+(\.py|/)", token):
                break
            names.append(token.removesuffix(".py").removesuffix("/"))
        if names:
            out.append(names)
    return out


def layer_of(module: str, order: list[list[str]]) -> int | None:
    parts = module.split(".")
    if parts[0] != "carecore" or len(parts) < 2:
        return None
    for index, names in enumerate(order):
        if any(fnmatch.fnmatch(parts[1], name) for name in names):
            return index
    return None


def runtime_imports(tree: ast.Module) -> list[str]:
    """The carecore modules a module imports at import time."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "carecore":
                found += [f"carecore.{alias.name}" for alias in node.names]
            else:
                found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_the_listing_is_read():
    order = layers()
    assert order[0] == ["cli", "_cli_*"]
    assert order[-1] == ["errors"]
    assert ["storage"] in order


def test_each_layer_imports_only_from_below():
    order = layers()
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mine = layer_of(module, order)
        if mine is None:
            continue
        for target in runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            theirs = layer_of(target, order)
            if theirs is not None and theirs < mine and (module, target) not in ALLOWED:
                wrong.append(f"{module} imports {target}")
    assert wrong == [], "imports against the layers of architecture.md:\n" + "\n".join(wrong)
