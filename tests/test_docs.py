"""The docs cover every hook and every command (and the hook docstrings keep their shape)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from carecore import hookspecs
from carecore.cli import make_app
from carecore.plugins import get_plugin_manager

DOCS = Path(__file__).resolve().parents[1] / "docs"
FIRSTRESULT = "Stops at the first non-None result."
COLLECTED = "All results are collected; order is last-registered first."


def hook_names() -> list[str]:
    pm = get_plugin_manager(entry_points=False)
    return sorted(name for name in dir(pm.hook) if name.startswith("carecore_"))


def test_every_spec_is_exported():
    assert hook_names() == sorted(n for n in hookspecs.__all__ if n.startswith("carecore_"))


@pytest.mark.parametrize("name", hook_names())
def test_hook_docstring_structure(name):
    pm = get_plugin_manager(entry_points=False)
    caller = getattr(pm.hook, name)
    doc = caller.spec.function.__doc__ or ""
    firstresult = caller.spec.opts.get("firstresult", False)
    assert (FIRSTRESULT if firstresult else COLLECTED) in doc
    assert (COLLECTED if firstresult else FIRSTRESULT) not in doc
    assert ":returns:" in doc
    assert "Example::" in doc
    assert ".. versionadded::" in doc
    for param in caller.spec.argnames:
        assert f":param {param}:" in doc, f"{name}: parameter {param} undocumented"


def test_hook_reference_is_generated_from_the_specs():
    text = (DOCS / "reference" / "hooks.md").read_text()
    assert re.search(r"\.\. automodule:: carecore\.hookspecs", text)


def commands(group: click.Group, prefix: str = "carecore") -> list[str]:
    out = [prefix]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            out += commands(command, f"{prefix} {name}")
        else:
            out.append(f"{prefix} {name}")
    return out


@pytest.mark.parametrize("command", commands(make_app(get_plugin_manager(entry_points=False))))
def test_every_cli_command_is_documented(command):
    text = (DOCS / "reference" / "cli.md").read_text()
    assert re.search(rf"^#+ `?{re.escape(command)}`?\s*$", text, re.MULTILINE), command


def test_every_error_is_documented():
    from carecore import errors

    text = (DOCS / "reference" / "errors.md").read_text()
    assert "automodule:: carecore.errors" in text
    for name in errors.__all__:
        assert (getattr(errors, name).__doc__ or "").strip(), name
