"""The ``--actor`` option: who is working, for the audit log (``CARECORE_ACTOR`` when not given)."""

from __future__ import annotations

import getpass
import os
from typing import Any

import click

__all__ = ["DEFAULT_ACTOR", "actor_option", "current_actor", "env_actor", "resolve_actor"]

#: The actor recorded when neither ``--actor`` nor ``CARECORE_ACTOR`` names one and the
#: operating system names no user either.
DEFAULT_ACTOR = "carecore-cli"


def resolve_actor(value: str | None) -> str:
    """Who is working: *value* (``--actor``), else ``CARECORE_ACTOR``, else the login name.

    The login name is recorded as ``os-user:<name>``: the account that ran the
    command, when the practice's application names no one.
    """
    if value is not None and value.strip():
        return value.strip()
    named = os.environ.get("CARECORE_ACTOR", "").strip()
    if named:
        return named
    try:
        return f"os-user:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (some containers)
        return DEFAULT_ACTOR


def current_actor() -> str:
    """The actor of the running ``carecore`` command (``carecore --actor ID ...``)."""
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    if isinstance(obj, dict) and isinstance(obj.get("actor"), str):
        return str(obj["actor"])
    return resolve_actor(None)


def env_actor() -> str:
    """:func:`current_actor`, for a command whose own ``--actor`` means something else.

    ``carecore audit --actor`` filters by actor; who runs the report comes from
    ``carecore --actor ID audit ...`` or ``CARECORE_ACTOR``.
    """
    return current_actor()


def _check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    if value is None:
        return current_actor()
    if not value.strip():
        msg = "must name who is acting (a non-blank id)"
        raise click.BadParameter(msg)
    return value.strip()


def actor_option(func: Any) -> Any:
    """Add ``--actor ID`` (environment: ``CARECORE_ACTOR``) to a click command."""
    return click.option(
        "--actor",
        envvar="CARECORE_ACTOR",
        default=None,
        callback=_check,
        metavar="ID",
        help=(
            "Who is working, as the audit log records it "
            "(default: carecore --actor, $CARECORE_ACTOR, else the login name)."
        ),
    )(func)
