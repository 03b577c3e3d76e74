"""The ``--actor`` option: who is working, for the audit log (``CARECORE_ACTOR`` when not given)."""

from __future__ import annotations

import os
from typing import Any

import click

__all__ = ["DEFAULT_ACTOR", "actor_option", "env_actor"]

#: The actor recorded when neither ``--actor`` nor ``CARECORE_ACTOR`` names one.
DEFAULT_ACTOR = "carecore-cli"


def env_actor() -> str:
    """The actor named by ``CARECORE_ACTOR``, else :data:`DEFAULT_ACTOR`.

    For a command whose ``--actor`` means something else (``carecore audit --actor``).
    """
    value = os.environ.get("CARECORE_ACTOR", "").strip()
    return value or DEFAULT_ACTOR


def _check(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    if value is None:
        return DEFAULT_ACTOR
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
            f"(default: $CARECORE_ACTOR, else {DEFAULT_ACTOR})."
        ),
    )(func)
