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
import inspect
import re
import typing
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


def type_imports(tree: ast.Module) -> list[str]:
    """The carecore modules a module imports for its annotations (``if TYPE_CHECKING``)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found += runtime_imports(ast.Module(body=node.body, type_ignores=[]))
    return found


def test_protocols_name_nothing_above_them_even_for_types():
    # protocols.py once imported the store's values from storage/ for its annotations:
    # storage imports plugins, plugins imports protocols, and the annotations could not
    # be resolved (typing.get_type_hints failed on Store.bulk_add).
    order = layers()
    mine = layer_of("carecore.protocols", order)
    tree = ast.parse((SRC / "protocols.py").read_text(encoding="utf-8"))
    above = [
        target
        for target in runtime_imports(tree) + type_imports(tree)
        if (theirs := layer_of(target, order)) is not None and theirs < mine
    ]
    assert above == []


def test_the_protocols_annotations_resolve():
    from carecore import protocols

    for name in [*protocols.__all__, "AuditEntry", "BulkResult", "CheckReport", "OutboxItem"]:
        cls = getattr(protocols, name)
        typing.get_type_hints(cls)
        for member in vars(cls).values():
            function = member.fget if isinstance(member, property) else member
            if inspect.isfunction(function):
                typing.get_type_hints(function)
    hints = typing.get_type_hints(protocols.Store.bulk_add)
    assert hints["return"] is protocols.BulkResult


def test_the_hookspecs_annotations_resolve():
    from carecore import hookspecs, protocols

    # These name types from the layers above hookspecs (billing, executors, gaps,
    # click's app), which it may name for type checkers only.
    above = {
        "carecore_claim_writers",
        "carecore_cli",
        "carecore_executors",
        "carecore_gap_rules",
    }
    for name in hookspecs.__all__:
        function = getattr(hookspecs, name)
        if inspect.isfunction(function) and name not in above:
            typing.get_type_hints(function)
    hints = typing.get_type_hints(hookspecs.carecore_open_store)
    assert hints["return"] == protocols.Store | None
