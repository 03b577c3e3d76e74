"""Every command's --help is plain text: no reStructuredText markup leaks into it."""

from __future__ import annotations

import click
from click.testing import CliRunner

from carecore.cli import make_app
from carecore.plugins import get_plugin_manager


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


def test_no_help_text_holds_a_double_backquote():
    app = make_app(get_plugin_manager())
    commands = _commands(app)
    assert len(commands) > 20
    leaks = {}
    for path in commands:
        result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, (path, result.output)
        if "``" in result.output:
            leaks[" ".join(path)] = [line for line in result.output.splitlines() if "``" in line]
    assert leaks == {}
