"""The ``carecore`` command line.

The top-level group is built by :func:`make_app`; every command, carecore's
own included, is added through the ``carecore_cli`` hook, so plugins extend
the command line the same way the core does.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carecore import errors
from carecore.__about__ import __version__
from carecore._cli_actor import current_actor, resolve_actor
from carecore._cli_config import default_map, load_settings
from carecore.plugins import Hooks, get_plugin_manager

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pluggy

__all__ = ["current_actor", "main", "make_app"]


#: Errors that mean the command's input was wrong (an option, an argument, a URL
#: naming nothing) or that it cannot run as installed (an optional dependency
#: missing: the message names the extra to install): the command line exits 2
#: for them, 1 for every other failure.
BAD_INPUT = (errors.InvalidValue, errors.InvalidInput, errors.NotFound, errors.MissingDependency)


class _BadInput(click.ClickException):
    exit_code = 2


class _Denied(click.ClickException):
    exit_code = 3


class _Group(click.Group):
    """A click group that prints carecore errors as one clear line, not a traceback.

    Bad input or a missing optional dependency (:data:`BAD_INPUT`) exits 2; an access denial
    (:class:`~carecore.errors.AccessDenied`) exits 3; other carecore errors exit 1.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except errors.AccessDenied as exc:
            raise _Denied(str(exc)) from exc
        except BAD_INPUT as exc:
            raise _BadInput(str(exc)) from exc
        except errors.CarecoreError as exc:
            raise click.ClickException(str(exc)) from exc


def make_app(pm: pluggy.PluginManager | None = None) -> click.Group:
    """Build the ``carecore`` command group with every plugin's commands.

    >>> app = make_app(get_plugin_manager(entry_points=False))
    >>> sorted(app.commands)
    ['attest', 'audit', 'billing', 'db', 'demo', 'export', 'gaps', 'import', 'meds', 'outbox', 'plugins', 'readings', 'registry', 'report', 'simulate', 'tcm', 'worklist']
    """

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="carecore")
    @click.option(
        "--config",
        "config",
        envvar="CARECORE_CONFIG",
        default=None,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help=(
            "Settings file (db, time_zone, actor, actor_roles, *_insecure; default: "
            "./carecore.toml when present). Options override $CARECORE_* variables, which "
            "override the file."
        ),
    )
    @click.option(
        "--actor",
        default=None,
        metavar="ID",
        help=(
            "Who is working, as the audit log records it "
            "(default: $CARECORE_ACTOR, else the settings file's actor, "
            "else os-user:<login name>)."
        ),
    )
    @click.pass_context
    def app(ctx: click.Context, config: Path | None, actor: str | None) -> None:
        """carecore: run care-management programs (enroll, plan, coordinate, bill, measure)."""
        settings = load_settings(config, os.environ)
        ctx.default_map = default_map(ctx.command, settings)
        ctx.ensure_object(dict)
        ctx.obj["pm"] = manager
        ctx.obj["settings"] = settings
        ctx.obj["actor"] = resolve_actor(actor, settings)
        # Whether someone was named (else the login account acts: see carecore._cli_actor).
        ctx.obj["actor_named"] = bool((actor and actor.strip()) or settings.actor)

    manager = pm if pm is not None else get_plugin_manager()
    Hooks(manager).extend_cli(app)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line (the ``carecore`` console script)."""
    if os.environ.get("CARECORE_TRACE_PLUGINS", "").strip().lower() not in {"", "0", "false", "no"}:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        app = make_app()
    except errors.CarecoreError as exc:
        click.echo(f"carecore: {exc}", err=True)
        sys.exit(2)
    app.main(args=list(argv) if argv is not None else None, prog_name="carecore")


if __name__ == "__main__":  # python -m carecore.cli (python -m carecore: carecore.__main__)
    main()
