"""The plugin manager, the hookimpl marker and a typed view of the hooks.

Plugins are found through the ``carecore`` entry-point group. carecore's own
defaults (the console channel, the built-in CLI commands, and later the
memory and SQLite stores and the CMS rule sets) are plugins too, registered
through the same hooks.

**Who wins.** Built-ins are registered first and installed plugins after
them. For ``firstresult`` hooks every built-in implementation is marked
``trylast``, so an installed plugin is asked first whatever the order of
registration. For registry hooks, an installed plugin's item replaces a
built-in item with the same ``id``; two installed plugins giving the same
``id`` raise :class:`~carecore.errors.DuplicateRegistration`.

>>> pm = get_plugin_manager(entry_points=False)
>>> sorted(Hooks(pm).channels())
['console']
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pluggy

from carecore import errors, hookspecs
from carecore.protocols import Channel, EhrSource, Instrument, RuleSet, Store

if TYPE_CHECKING:
    import click

    from carecore.access import AccessPolicy, Actor, StaffActor
    from carecore.hookspecs import ExportTarget
    from carecore.model import CarePlan, DomainEvent

__all__ = [
    "BUILTIN_PLUGINS",
    "Hooks",
    "Provided",
    "get_plugin_manager",
    "hookimpl",
    "plugin_table",
]

log = logging.getLogger(__name__)

#: The marker for hook implementations: ``@hookimpl def carecore_channels(): ...``.
hookimpl = pluggy.HookimplMarker("carecore")

#: carecore's own plugins, registered before any installed one.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "carecore._builtin.console_channel",
    "carecore._builtin.cms_rules",
    "carecore._builtin.commands",
    "carecore._builtin.instruments",
    "carecore._builtin.stores",
)

_BUILTIN_PREFIX = "carecore._builtin."
_HOOK_PREFIX = "carecore_"

T = TypeVar("T")


class _PluginManager(pluggy.PluginManager):
    """A pluggy manager that also treats unmarked ``carecore_*`` functions as hooks.

    pluggy ignores functions without the marker, so a plugin that forgot
    ``@hookimpl`` would silently do nothing. Treating every ``carecore_*``
    function as an implementation (as pytest does for ``pytest_*``) means a
    misspelled name is reported by :meth:`check_pending` instead.
    """

    def parse_hookimpl_opts(self, plugin: object, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith(_HOOK_PREFIX):
            member = getattr(plugin, name, None)
            if inspect.isroutine(member):
                return {}
        return opts


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def _plugin_label(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or repr(plugin)


def _check(pm: pluggy.PluginManager) -> None:
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise errors.PluginError(
            f"{exc} (known hooks: {', '.join(_hook_names())})",
            field="plugin",
            value=_plugin_label(pm, exc.plugin),
        ) from exc


def _hook_names() -> list[str]:
    return sorted(name for name in hookspecs.__all__ if name.startswith(_HOOK_PREFIX))


def _tracing() -> bool:
    return os.environ.get("CARECORE_TRACE_PLUGINS", "").strip().lower() not in {
        "",
        "0",
        "false",
        "no",
    }


def get_plugin_manager(
    *, entry_points: bool = True, blocked: Iterable[str] = ()
) -> pluggy.PluginManager:
    """Build a new plugin manager with the built-ins and (optionally) installed plugins.

    :param entry_points: load plugins installed under the ``carecore``
        entry-point group. Tests usually pass False.
    :param blocked: plugin names not to load (entry-point names, or a
        built-in's module name); ``CARECORE_DISABLE_PLUGINS=a,b`` adds more.

    Setting ``CARECORE_TRACE_PLUGINS=1`` logs every hook call at DEBUG level.

    >>> pm = get_plugin_manager(entry_points=False, blocked=["carecore._builtin.console_channel"])
    >>> pm.has_plugin("carecore._builtin.console_channel")
    False
    """
    pm = _PluginManager("carecore")
    pm.add_hookspecs(hookspecs)
    for name in (*blocked, *_env_list("CARECORE_DISABLE_PLUGINS")):
        pm.set_blocked(name)
    try:
        for module_name in BUILTIN_PLUGINS:
            if not pm.is_blocked(module_name):
                pm.register(importlib.import_module(module_name), name=module_name)
        if entry_points:
            pm.load_setuptools_entrypoints("carecore")
    except pluggy.PluginValidationError as exc:
        raise errors.PluginError(
            str(exc), field="plugin", value=_plugin_label(pm, exc.plugin)
        ) from exc
    _check(pm)
    if _tracing():
        pm.trace.root.setwriter(log.debug)
        pm.enable_tracing()
    return pm


class Provided(Mapping[str, T]):
    """Registry items by id, remembering which plugin gave each one.

    >>> pm = get_plugin_manager(entry_points=False)
    >>> Hooks(pm).channels().provider("console")
    'carecore._builtin.console_channel'
    """

    def __init__(self, items: dict[str, T], providers: dict[str, str]) -> None:
        self._items = items
        self._providers = providers

    def __getitem__(self, key: str) -> T:
        try:
            return self._items[key]
        except KeyError:
            raise errors.NotFound(
                f"not provided by any plugin (known: {', '.join(sorted(self._items)) or 'none'})",
                field="id",
                value=key,
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str, default: Any = None) -> Any:
        """The item *key*, or *default* when no plugin provides it."""
        return self._items.get(key, default)

    def __iter__(self) -> Any:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def provider(self, key: str) -> str:
        """The name of the plugin that gave the item *key*."""
        self[key]  # raises NotFound for an unknown key
        return self._providers[key]


def _collect(pm: pluggy.PluginManager, hook_name: str, kind: str, protocol: type) -> Provided[Any]:
    """Call a registry hook plugin by plugin and merge the items by id."""
    caller = getattr(pm.hook, hook_name)
    items: dict[str, Any] = {}
    providers: dict[str, str] = {}
    # get_hookimpls() lists implementations in registration order (tryfirst /
    # trylast applied), so built-ins come first and installed plugins after.
    for impl in caller.get_hookimpls():
        name = impl.plugin_name
        result = impl.function()
        if result is None:
            continue
        if isinstance(result, str | bytes) or not isinstance(result, Iterable):
            raise errors.PluginError(
                f"{hook_name} must return a sequence of {kind}s",
                field="plugin",
                value=name,
            )
        for item in result:
            if not isinstance(item, protocol):
                raise errors.PluginError(
                    f"{hook_name} returned {item!r}, which is not a {kind}",
                    field="plugin",
                    value=name,
                )
            item_id = cast("Any", item).id
            previous = providers.get(item_id)
            if (
                previous is not None
                and name.startswith(_BUILTIN_PREFIX)
                and not previous.startswith(_BUILTIN_PREFIX)
            ):
                continue  # an installed plugin's item already replaced this built-in one
            if previous is not None:
                if not previous.startswith(_BUILTIN_PREFIX) or name.startswith(_BUILTIN_PREFIX):
                    raise errors.DuplicateRegistration(
                        kind=kind, item_id=item_id, plugins=(previous, name)
                    )
                log.info("%s %r from %s replaces the built-in one", kind, item_id, name)
            items[item_id] = item
            providers[item_id] = name
    return Provided(items, providers)


class Hooks:
    """A typed view of ``pm.hook`` for the service layer and the CLI.

    Each method calls one hook and turns "nobody answered" into a typed
    carecore error.

    >>> hooks = Hooks(get_plugin_manager(entry_points=False))
    >>> hooks.open_store("nosuch://x")
    Traceback (most recent call last):
    ...
    carecore.errors.NoStoreForURL: url='nosuch://x': no installed plugin opens this kind of store
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def open_store(self, url: str) -> Store:
        """Open the store for *url* (``carecore_open_store``)."""
        if not isinstance(url, str) or not url:
            raise errors.InvalidValue("must be a store URL", field="url", value=url)
        store = self.pm.hook.carecore_open_store(url=url)
        if store is None:
            raise errors.NoStoreForURL(url=url)
        if not isinstance(store, Store):
            raise errors.PluginError(
                f"carecore_open_store returned {store!r}, which is not a Store",
                field="url",
                value=url,
            )
        return store

    def rule_sets(self) -> Provided[RuleSet]:
        """All billing rule sets by id (``carecore_rule_sets``)."""
        return cast(
            "Provided[RuleSet]",
            _collect(self.pm, "carecore_rule_sets", "rule set", RuleSet),
        )

    def instruments(self) -> Provided[Instrument]:
        """All assessment instruments by id (``carecore_instruments``)."""
        return cast(
            "Provided[Instrument]",
            _collect(self.pm, "carecore_instruments", "instrument", Instrument),
        )

    def channels(self) -> Provided[Channel]:
        """All notification channels by id (``carecore_channels``)."""
        return cast(
            "Provided[Channel]",
            _collect(self.pm, "carecore_channels", "channel", Channel),
        )

    def ehr_sources(self) -> Provided[EhrSource]:
        """All EHR sources by id (``carecore_ehr_sources``)."""
        return cast(
            "Provided[EhrSource]",
            _collect(self.pm, "carecore_ehr_sources", "EHR source", EhrSource),
        )

    def export_careplan(self, plan: CarePlan, target: ExportTarget | None = None) -> list[str]:
        """Export *plan* through every exporter (to *target*, with its auth); the receivers' ids.

        This records nothing: a program's
        :meth:`~carecore.service.CareProgram.write_back_care_plan` reads the plan
        through the access policy, records the disclosure, then calls this.
        """
        results = self.pm.hook.carecore_export_careplan(plan=plan, target=target)
        return [r for r in results if r is not None]

    def emit(self, event: DomainEvent) -> None:
        """Tell every observer about *event* (``carecore_on_event``)."""
        self.pm.hook.carecore_on_event(event=event)

    def extend_cli(self, app: click.Group) -> None:
        """Let every plugin add commands to *app* (``carecore_cli``)."""
        self.pm.hook.carecore_cli(app=app)

    def access_policy(self) -> AccessPolicy:
        """The policy a plugin gives (``carecore_access_policy``), else carecore's default.

        >>> Hooks(get_plugin_manager(entry_points=False)).access_policy()
        DefaultPolicy()
        """
        from carecore import access  # noqa: PLC0415

        policy = self.pm.hook.carecore_access_policy()
        if policy is None:
            return access.DefaultPolicy()
        if not isinstance(policy, access.AccessPolicy):
            raise errors.PluginError(
                "carecore_access_policy must return an object with allows(request)",
                field="policy",
                value=type(policy).__name__,
            )
        return policy

    def resolve_actor(self, actor_id: str) -> Actor | StaffActor | None:
        """Who *actor_id* stands for (``carecore_resolve_actor``); None when no plugin says.

        >>> Hooks(get_plugin_manager(entry_points=False)).resolve_actor("rn:ana") is None
        True
        """
        from carecore import access  # noqa: PLC0415

        found = self.pm.hook.carecore_resolve_actor(actor_id=actor_id)
        if found is not None and not isinstance(found, (access.Actor, access.StaffActor)):
            raise errors.PluginError(
                "carecore_resolve_actor must return an Actor, a StaffActor or None",
                field="actor",
                value=type(found).__name__,
            )
        return found


def plugin_table(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """One row per registered plugin: name, distribution, version, built-in or not, hooks.

    >>> rows = plugin_table(get_plugin_manager(entry_points=False))
    >>> [r["name"] for r in rows]
    ['carecore._builtin.cms_rules', 'carecore._builtin.commands', 'carecore._builtin.console_channel', 'carecore._builtin.instruments', 'carecore._builtin.stores']
    """
    dists: dict[object, Any] = dict(pm.list_plugin_distinfo())
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # a blocked name
            continue
        dist = dists.get(plugin)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append(
            {
                "name": name,
                "distribution": dist.project_name if dist else "carecore",
                "version": dist.version if dist else _core_version(),
                "builtin": name.startswith(_BUILTIN_PREFIX),
                "hooks": hooks,
            }
        )
    return sorted(rows, key=lambda r: (not r["builtin"], r["name"]))


def _core_version() -> str:
    from carecore.__about__ import __version__  # noqa: PLC0415

    return __version__
