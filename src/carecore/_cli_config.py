"""The command line's settings: ``carecore.toml`` and ``CARECORE_*`` variables.

A practice types its store URL, time zone and actor once instead of on every
command. Each setting is taken from, in order: the command-line option, the
environment variable, the configuration file (``carecore --config FILE``, else
``carecore.toml`` in the working folder). The root ``carecore`` group turns the
settings into click's ``default_map``, so every command that needs a store
(``--db``, or the ``URL`` argument of ``carecore db``) and every ``--time-zone``
option takes them without any command knowing about the file.
``significant_risk_from`` goes to every ``--significant-risk-from`` option
(the billing close, the worklists, the registry and the report), and
``payer`` and ``rule_set`` to every ``--payer`` and ``--rule-set`` option,
so the close and what the care team sees are decided by the same rules.

Four settings allow cleartext for one kind of endpoint (``webhook_insecure``,
``sms_insecure``, ``fhir_insecure``, ``smtp_insecure``): the plugins that send
ask :func:`cleartext_allowed`, which reads the variable, then the file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carecore import errors

if TYPE_CHECKING:
    from collections.abc import Mapping

    from carecore.conditions import SignificantRisk

__all__ = [
    "CONFIG_FILE",
    "ENV_VARS",
    "INSECURE_KEYS",
    "Settings",
    "cleartext_allowed",
    "default_map",
    "load_settings",
    "read_config",
    "significant_risk",
]

#: The file looked for in the working folder when ``--config`` names none.
CONFIG_FILE = "carecore.toml"

#: Each setting's environment variable.
ENV_VARS: dict[str, str] = {
    "db": "CARECORE_DB",
    "time_zone": "CARECORE_TIME_ZONE",
    "actor": "CARECORE_ACTOR",
    "actor_roles": "CARECORE_ACTOR_ROLES",
    "significant_risk_from": "CARECORE_SIGNIFICANT_RISK_FROM",
    "payer": "CARECORE_PAYER",
    "rule_set": "CARECORE_RULE_SET",
    "webhook_insecure": "CARECORE_WEBHOOK_INSECURE",
    "sms_insecure": "CARECORE_SMS_INSECURE",
    "fhir_insecure": "CARECORE_FHIR_INSECURE",
    "smtp_insecure": "CARECORE_SMTP_INSECURE",
}

#: The settings that allow cleartext (``http://``, SMTP without TLS), each for one kind of endpoint.
INSECURE_KEYS = ("webhook_insecure", "sms_insecure", "fhir_insecure", "smtp_insecure")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """The configured defaults (``None``: not configured)."""

    db: str | None = None
    time_zone: str | None = None
    actor: str | None = None
    #: Roles of the named actor, comma-separated (see carecore.access.StaffActor).
    actor_roles: str | None = None
    #: Where significant risk comes from: ``table`` (the condition-group table or an
    #: attestation) or ``attested`` (an attestation only); None: the rule set's switch.
    significant_risk_from: str | None = None
    #: The payer whose rule set applies (``<payer>-<year>``); None: ``cms``.
    payer: str | None = None
    #: A rule set id that applies whatever the year (overrides *payer*); None: by payer and year.
    rule_set: str | None = None
    #: Allow ``http://`` webhook URLs (a receiver on loopback).
    webhook_insecure: bool | None = None
    #: Allow an ``http://`` SMS gateway.
    sms_insecure: bool | None = None
    #: Allow ``http://`` FHIR servers (``fhir pull`` also takes ``--insecure``).
    fhir_insecure: bool | None = None
    #: Allow an SMTP server that offers no STARTTLS.
    smtp_insecure: bool | None = None


def _flag(value: object, field: str) -> bool:
    """A yes/no setting: a TOML boolean, or ``1``/``0`` (``true``/``false``, ...) in a variable.

    >>> _flag(" Yes ", "CARECORE_SMS_INSECURE"), _flag(False, "carecore.toml:sms_insecure")
    (True, False)
    """
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise errors.InvalidValue("must be true or false (1 or 0)", field=field, value=value)


def _check(key: str, value: object, field: str) -> str | bool:
    """*value* checked for setting *key*; *field* names where it came from."""
    if key in INSECURE_KEYS:
        return _flag(value, field)
    if not isinstance(value, str):
        # The value itself is not shown: a store URL may carry a password.
        raise errors.InvalidValue(f"must be text, not {type(value).__name__}", field=field)
    text = value.strip()
    if key == "time_zone":
        from carecore.model.validators import check_time_zone  # noqa: PLC0415

        return check_time_zone(text, field)
    if key == "significant_risk_from":
        return significant_risk(text, field).value
    if key == "actor_roles":
        from carecore.access import parse_roles  # noqa: PLC0415

        return ", ".join(sorted(parse_roles(text, field=field)))
    if not text:
        what = {
            "db": "a store URL (e.g. sqlite:///practice.db)",
            "payer": "a payer (e.g. cms)",
            "rule_set": "a rule set id (e.g. cms-2026)",
        }.get(key, "who is acting")
        raise errors.InvalidValue(f"must name {what}", field=field)
    return text


def significant_risk(value: object, field: str) -> SignificantRisk:
    """The billing switch ``significant_risk_from`` from its text (``table`` or ``attested``).

    Anything else raises :class:`~carecore.errors.InvalidValue` naming *field*
    (the option, the variable or the file's key) and the value.

    >>> significant_risk(" Attested ", "--significant-risk-from").value
    'attested'
    """
    from carecore.conditions import SignificantRisk  # noqa: PLC0415

    text = value.strip().lower() if isinstance(value, str) else None
    for choice in SignificantRisk:
        if text == choice.value:
            return choice
    raise errors.InvalidValue(
        f"must be one of {', '.join(c.value for c in SignificantRisk)}", field=field, value=value
    )


def read_config(path: Path) -> Settings:
    """The settings in the TOML file *path*; a bad file raises :class:`~carecore.errors.InvalidValue`.

    Unparseable TOML, a key carecore does not know and a value of the wrong
    type are refused, naming the file and the key.
    """
    name = str(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise errors.InvalidValue(f"is not valid TOML: {exc}", field=name) from None
    except OSError as exc:
        raise errors.InvalidValue(f"cannot be read ({exc.strerror})", field=name) from None
    values: dict[str, str | bool] = {}
    for key, value in data.items():
        if key not in ENV_VARS:
            known = ", ".join(sorted(ENV_VARS))
            raise errors.InvalidValue(
                f"is not a carecore setting (known: {known})", field=f"{name}:{key}"
            )
        values[key] = _check(key, value, f"{name}:{key}")
    return Settings(**values)  # type: ignore[arg-type]


def load_settings(config: Path | None, environ: Mapping[str, str]) -> Settings:
    """The settings from *environ* (``CARECORE_*``) over those of the configuration file.

    *config* is the file given with ``--config``; without it, ``carecore.toml``
    in the working folder is read when there is one. A blank variable counts
    as unset.
    """
    if config is None and Path(CONFIG_FILE).is_file():
        config = Path(CONFIG_FILE)
    from_file = read_config(config) if config is not None else Settings()
    values: dict[str, str | bool | None] = {}
    for key, var in ENV_VARS.items():
        raw = environ.get(var, "")
        values[key] = _check(key, raw, var) if raw.strip() else getattr(from_file, key)
    return Settings(**values)  # type: ignore[arg-type]


def cleartext_allowed(key: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether setting *key* (one of :data:`INSECURE_KEYS`) allows cleartext.

    The variable (``CARECORE_WEBHOOK_INSECURE`` for ``webhook_insecure``, ...)
    comes first; without it, the settings of the running ``carecore`` command
    (its configuration file); outside a command, no. A value that is not yes
    or no raises :class:`~carecore.errors.InvalidValue` naming the variable.

    >>> cleartext_allowed("sms_insecure", {"CARECORE_SMS_INSECURE": "1"})
    True
    >>> cleartext_allowed("sms_insecure", {})
    False
    """
    import os  # noqa: PLC0415

    if key not in INSECURE_KEYS:
        raise errors.InvalidValue(
            f"must be one of {', '.join(INSECURE_KEYS)}", field="key", value=key
        )
    var = ENV_VARS[key]
    raw = (os.environ if environ is None else environ).get(var, "")
    if raw.strip():
        return _flag(raw, var)
    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    settings = obj.get("settings") if isinstance(obj, dict) else None
    return bool(isinstance(settings, Settings) and getattr(settings, key))


def default_map(command: click.Command, settings: Settings) -> dict[str, Any]:
    """The click ``default_map`` giving *settings* to *command* and every command under it.

    The store goes to each required ``--db`` option (an optional ``--db``, such
    as ``billing close``'s, keeps meaning "no store") and to a ``URL`` argument
    that is its command's only argument; the time zone goes to every
    ``--time-zone`` option; ``significant_risk_from`` to every
    ``--significant-risk-from`` option; ``payer`` and ``rule_set`` to every
    ``--payer`` and ``--rule-set`` option.
    """
    found: dict[str, Any] = {}
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    for param in command.params:
        if settings.db is not None and (
            (isinstance(param, click.Option) and param.name == "db_url" and param.required)
            or (param.name == "url" and arguments == [param])
        ):
            found[param.name] = settings.db
        elif settings.time_zone is not None and param.name == "time_zone":
            found[param.name] = settings.time_zone
        elif settings.significant_risk_from is not None and param.name == "significant_risk_from":
            found[param.name] = settings.significant_risk_from
        elif settings.payer is not None and param.name == "payer":
            found[param.name] = settings.payer
        elif settings.rule_set is not None and param.name == "rule_set_id":
            found[param.name] = settings.rule_set
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            below = default_map(sub, settings)
            if below:
                found[name] = below
    return found
