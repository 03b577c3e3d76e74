"""Who is working, for the audit log: one resolver for every command.

The actor is taken from the first of: the ``--actor`` option, the
``CARECORE_ACTOR`` variable, the configuration file's ``actor``
(``carecore.toml``), else the login name (``os-user:<name>``). A blank
option or variable counts as unset. Only the settings loader
(:mod:`carecore._cli_config`) reads the variable and the file; this module
decides between them and the option.
"""

from __future__ import annotations

import getpass
import os
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

if TYPE_CHECKING:
    from carecore._cli_config import Settings
    from carecore.access import Actor, StaffActor

__all__ = [
    "DEFAULT_ACTOR",
    "actor_option",
    "command_actor",
    "current_actor",
    "env_actor",
    "require_store_admin",
    "resolve_actor",
]

#: The actor recorded when neither ``--actor``, ``CARECORE_ACTOR`` nor the settings file
#: names one and the operating system names no user either.
DEFAULT_ACTOR = "carecore-cli"


def resolve_actor(option: str | None, settings: Settings | None = None) -> str:
    """Who is working: *option* (``--actor``), else the configured actor, else the login name.

    *settings* are those of :func:`carecore._cli_config.load_settings`, whose
    ``actor`` is ``CARECORE_ACTOR`` (when not blank), else the file's. Without
    *settings* they are loaded from the environment and ``carecore.toml``.
    The login name is recorded as ``os-user:<name>``: the account that ran
    the command, when the practice names no one.

    >>> from carecore._cli_config import Settings
    >>> resolve_actor("rn:ana", Settings(actor="md:ruiz")), resolve_actor("  ", Settings(actor="md:ruiz"))
    ('rn:ana', 'md:ruiz')
    """
    if option is not None and option.strip():
        return option.strip()
    if settings is None:
        from carecore._cli_config import load_settings  # noqa: PLC0415

        settings = load_settings(None, os.environ)
    if settings.actor:
        return settings.actor
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


#: A command's own options that name who is working (``--actor``, ``meds reconcile --by``).
_WHO = frozenset({"actor", "by"})


def command_actor(actor_id: str) -> Actor | StaffActor | None:
    """Who *actor_id* stands for in the running command (the ``carecore_resolve_actor`` answer).

    - The actor the user named (``carecore --actor``, ``CARECORE_ACTOR``, the
      settings file's ``actor``), and then whoever the command's own option
      names as working (``export --actor``, ``meds reconcile --by``), is a
      :class:`~carecore.access.StaffActor`: a practitioner of the store is that
      practitioner; ``CARECORE_ACTOR_ROLES`` (or the file's ``actor_roles``)
      adds roles. Someone named who is neither may do nothing with patients.
    - With no one named, the login account (``os-user:NAME``) is at the
      keyboard and acts as a trusted caller (the ``system`` role), under
      whatever id the command records: carecore cannot tell who is there, and
      that account can open the store without carecore.
    - Any other id (outside a command, or one a command sets itself) is not
      the command line's to answer (None).
    """
    from carecore.access import Actor, StaffActor, parse_roles  # noqa: PLC0415

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    root = ctx.find_root().obj
    if not isinstance(root, dict) or "actor" not in root:
        return None
    typed = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)
    given = {
        value.strip()
        for name, value in ctx.params.items()
        if name in _WHO and isinstance(value, str) and ctx.get_parameter_source(name) in typed
    }
    if actor_id not in given and actor_id != root["actor"]:
        return None
    if not root.get("actor_named", True):
        # The login account at the keyboard; a command's --actor or --by is what it records.
        return Actor.system(actor_id)
    settings = root.get("settings")
    roles = getattr(settings, "actor_roles", None) or ""
    return StaffActor(id=actor_id, roles=parse_roles(roles, field="actor_roles"))


def require_store_admin() -> None:
    """Refuse the ``carecore db`` commands to a named actor the policy does not let manage stores.

    The store commands (init, check, migrate, settings) work on the store,
    not through a program, so the policy is asked here about the ``admin``
    action; roles come from the settings only (a practitioner's clinical
    role manages no store). The refusal is an
    :class:`~carecore.errors.AccessDenied` (exit 3); there may be no store
    yet to record it in.
    """
    from carecore.access import AccessRequest, Action, Actor, check  # noqa: PLC0415
    from carecore.plugins import Hooks  # noqa: PLC0415

    ctx = click.get_current_context()
    root = ctx.find_root().obj
    actor_id = current_actor()
    who = command_actor(actor_id)
    actor = (
        who
        if isinstance(who, Actor)
        else Actor(id=who.id, roles=who.roles)
        if who is not None
        else Actor.system(actor_id)
    )
    check(
        Hooks(root["pm"]).access_policy(),
        AccessRequest(actor=actor, action=Action.ADMIN, kind="Store"),
    )


def env_actor() -> str:
    """:func:`current_actor`, for a command whose own ``--actor`` means something else.

    ``carecore audit --actor`` filters by actor; who runs the report comes from
    ``carecore --actor ID audit ...``, ``CARECORE_ACTOR`` or the settings file.
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
    """Add ``--actor ID`` to a click command (default: the command line's actor)."""
    return click.option(
        "--actor",
        default=None,
        callback=_check,
        metavar="ID",
        help=(
            "Who is working, as the audit log records it "
            "(default: carecore --actor, $CARECORE_ACTOR, the settings file's actor, "
            "else the login name)."
        ),
    )(func)
