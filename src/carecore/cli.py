"""The ``carecore`` command line.

The top-level group is built by :func:`make_app`; every command, carecore's
own included, is added through the ``carecore_cli`` hook, so plugins extend
the command line the same way the core does.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import click

from carecore import errors
from carecore.__about__ import __version__
from carecore._cli_actor import current_actor, resolve_actor
from carecore._cli_common import AnyCaseChoice, StoreOption, output_error
from carecore._cli_config import default_map, load_settings
from carecore.plugins import Hooks, get_plugin_manager

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pluggy

__all__ = ["current_actor", "main", "make_app"]


#: Errors that mean the command's input was wrong (an option, an argument, a URL
#: naming nothing or a file that is not a database) or that it cannot run as
#: installed (an optional dependency missing: the message names the extra to
#: install): the command line exits 2 for them, 1 for every other failure.
BAD_INPUT = (
    errors.InvalidValue,
    errors.InvalidInput,
    errors.NotFound,
    errors.MissingDependency,
    errors.StoreCorrupt,
)

#: The exit status when the reader of the output goes away (``carecore gaps | head -1``):
#: 128 + SIGPIPE, the status a shell reports for a command the closed pipe ended.
EXIT_BROKEN_PIPE = 141


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
        except BrokenPipeError:
            _quiet_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        except errors.AccessDenied as exc:
            raise _Denied(str(exc)) from exc
        except BAD_INPUT as exc:
            raise _BadInput(str(exc)) from exc
        except errors.CarecoreError as exc:
            raise click.ClickException(str(exc)) from exc


def _quiet_stdout() -> None:
    """Point standard output at the null device, as the Python documentation advises for SIGPIPE.

    The reader has gone: Python's final flush must not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test's captured output): nothing will flush to a pipe


def _same_store(given: object, named: str) -> bool:
    """Whether an error's URL *given* is the store URL *named* (a password may be masked)."""
    if not isinstance(given, str):
        return False
    try:
        a, b = urlsplit(given), urlsplit(named)
        parts = (a.scheme, a.hostname, a.port, a.path), (b.scheme, b.hostname, b.port, b.path)
    except ValueError:
        return given == named
    return parts[0] == parts[1]


def _values(ctx: click.Context) -> dict[str, object]:
    """The command's parameter values by the name a message uses (``--out``, ``FILE``)."""
    found: dict[str, object] = {}
    for param in ctx.command.params:
        if param.name in ctx.params:
            opts = getattr(param, "opts", None)
            name = max(opts, key=len) if isinstance(param, click.Option) and opts else None
            found[name or param.human_readable_name] = ctx.params[param.name]
    return found


def _guarded(invoke: Any) -> Any:
    """*invoke* of a command, with the errors of a file or store named by the option.

    A file operation that fails (an ``--out`` under a file, a folder that does
    not exist) becomes a carecore error naming the option and its value, never
    a traceback; a store error about the ``--db`` store names ``--db``.
    """

    @functools.wraps(invoke)
    def run(ctx: click.Context) -> Any:
        try:
            return invoke(ctx)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise output_error(exc, _values(ctx)) from exc
        except errors.CarecoreError as exc:
            db_url = ctx.params.get("db_url")
            if exc.field == "url" and isinstance(db_url, str) and _same_store(exc.value, db_url):
                exc.field = "--db"
            elif exc.field in _EXECUTOR_OPTIONS and exc.value == ctx.params.get(exc.field):
                # get_executor's arguments, as the user typed them.
                exc.field = f"--{exc.field}"
            raise

    return run


#: Options whose values reach carecore.executors.get_executor under the same names.
_EXECUTOR_OPTIONS = frozenset({"scheduler", "executor", "workers"})


def _tune(group: click.Group) -> None:
    """Give every command under *group*, plugins' too, the command line's common behaviour.

    Each command reports a failed file operation as an error naming its
    option; a required ``--db`` says where else the store can come from
    (:class:`~carecore._cli_common.StoreOption`); every choice is taken in
    any letter case (:class:`~carecore._cli_common.AnyCaseChoice`).
    """
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _tune(command)
        elif not getattr(command.invoke, "__wrapped__", None):
            command.invoke = _guarded(command.invoke)  # type: ignore[method-assign]
        for param in command.params:
            if isinstance(param.type, click.Choice) and not isinstance(param.type, AnyCaseChoice):
                param.type = AnyCaseChoice(param.type.choices)
            if (
                type(param) is click.Option
                and param.name == "db_url"
                and param.required
                and not param.multiple
            ):
                # The same option, with help and a missing message that name $CARECORE_DB and
                # carecore.toml: StoreOption adds no state, only those two methods.
                param.__class__ = StoreOption


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
        if actor is not None and not actor.strip():
            raise errors.InvalidValue(
                "must name who is acting (a non-blank id)", field="--actor", value=actor
            )
        ctx.obj["actor"] = resolve_actor(actor, settings)
        # Whether someone was named (else the login account acts: see carecore._cli_actor).
        ctx.obj["actor_named"] = bool((actor and actor.strip()) or settings.actor)

    manager = pm if pm is not None else get_plugin_manager()
    Hooks(manager).extend_cli(app)
    _tune(app)
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
    try:
        try:
            app.main(args=list(argv) if argv is not None else None, prog_name="carecore")
        finally:
            sys.stdout.flush()  # output still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        _quiet_stdout()
        sys.exit(EXIT_BROKEN_PIPE)


if __name__ == "__main__":  # python -m carecore.cli (python -m carecore: carecore.__main__)
    main()
