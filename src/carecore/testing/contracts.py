"""Contract suites that plugin authors run against their own plugins.

Subclass a contract in a class whose name starts with ``Test`` and override
its fixtures; pytest then runs every contract test against your plugin::

    import pytest
    from carecore.testing.contracts import ChannelContract

    class TestPagerChannel(ChannelContract):
        @pytest.fixture
        def channel(self):
            return PagerChannel(api_key="test")

        @pytest.fixture
        def inbox(self, pager_server):
            return lambda: [(m.subject, m.body) for m in pager_server.received]

The base classes are not named ``Test*``, so pytest does not collect them on
their own. :class:`StoreContract` checks a store's promises (round trips,
conflicts, atomicity, audit, outbox, inbound idempotency, bulk loads);
:class:`DurableStoreContract` adds what needs other processes: concurrent
writers, racing inbound claims and SIGKILL in the middle of a write.
:class:`EhrSourceContract` checks an EHR source (paging, duplicates, bad
records, idempotent re-import; :mod:`carecore.testing.ehr_sources`).
:class:`AccessPolicyContract` checks a replacement access policy (the
``carecore_access_policy`` hook).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pendulum
import pytest

from carecore import hookspecs
from carecore.model import OutboundMessage
from carecore.plugins import Hooks, get_plugin_manager
from carecore.protocols import Channel
from carecore.testing._access_contract import AccessPolicyContract
from carecore.testing._store_contract import DurableStoreContract, StoreContract
from carecore.testing.ehr_sources import EhrSourceContract, EhrSourceSamples

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "AccessPolicyContract",
    "ChannelContract",
    "DurableStoreContract",
    "EhrSourceContract",
    "EhrSourceSamples",
    "PluginContract",
    "StoreContract",
]

Inbox = Callable[[], Sequence[tuple[str, str]]]


class PluginContract:
    """What every carecore plugin must do: register cleanly and answer its hooks well.

    Override :meth:`plugin` to return the plugin module or object.
    """

    @pytest.fixture
    def plugin(self) -> object:
        """The plugin under test (a module or an object with hook functions)."""
        raise NotImplementedError("override the 'plugin' fixture in your TestXxx(PluginContract)")

    @pytest.fixture
    def plugin_manager(self, plugin: object) -> pluggy.PluginManager:
        """A manager with the built-ins and the plugin under test."""
        pm = get_plugin_manager(entry_points=False)
        if not pm.is_registered(plugin):
            pm.register(plugin, name="plugin-under-test")
        return pm

    def test_every_carecore_function_is_a_known_hook(self, plugin: object) -> None:
        """A misspelled hook name would never be called."""
        known = {name for name in hookspecs.__all__ if name.startswith("carecore_")}
        named = {name for name in dir(plugin) if name.startswith("carecore_")}
        assert named <= known, f"unknown hooks: {sorted(named - known)}"
        assert named, "the plugin implements no carecore hook"

    def test_registers_without_pending_hooks(self, plugin_manager: pluggy.PluginManager) -> None:
        """Every implementation matches a specification (names and arguments)."""
        plugin_manager.check_pending()

    def test_hook_arguments_are_a_subset_of_the_spec(self, plugin: object) -> None:
        """Implementations may take fewer arguments than the spec, never others."""
        for name in dir(plugin):
            if not name.startswith("carecore_") or not hasattr(hookspecs, name):
                continue
            spec_args = set(inspect.signature(getattr(hookspecs, name)).parameters)
            impl_args = set(inspect.signature(getattr(plugin, name)).parameters) - {"self"}
            assert impl_args <= spec_args, (
                f"{name}: unexpected arguments {sorted(impl_args - spec_args)}"
            )

    def test_registry_items_are_well_formed(self, plugin_manager: pluggy.PluginManager) -> None:
        """Registry hooks return items of the right kind, each with a usable id."""
        hooks = Hooks(plugin_manager)
        for provided in (
            hooks.channels(),
            hooks.rule_sets(),
            hooks.instruments(),
            hooks.ehr_sources(),
        ):
            for item_id in provided:
                assert isinstance(item_id, str)
                assert item_id
                assert item_id == item_id.strip()

    def test_open_store_declines_foreign_urls(self, plugin: object) -> None:
        """A store plugin returns None for schemes that are not its own."""
        opener = getattr(plugin, "carecore_open_store", None)
        if opener is None:
            return
        assert opener(url="carecore-contract-no-such-scheme://nowhere") is None


class ChannelContract:
    """What every notification channel must do.

    Override :meth:`channel` and :meth:`inbox`; override :meth:`message` to
    address the message to a recipient your channel accepts.
    """

    @pytest.fixture
    def channel(self) -> Channel:
        """The channel under test."""
        raise NotImplementedError("override the 'channel' fixture in your TestXxx(ChannelContract)")

    @pytest.fixture
    def inbox(self) -> Inbox:
        """A callable returning the (subject, body) pairs that reached the far end."""
        raise NotImplementedError("override the 'inbox' fixture in your TestXxx(ChannelContract)")

    @pytest.fixture
    def message(self, channel: Channel) -> OutboundMessage:
        """A message addressed for this channel."""
        return OutboundMessage(
            id="contract-1",
            idempotency_key="contract-key-1",
            channel=channel.id,
            recipient="care-team",
            subject="Contract check",
            body="carecore channel contract: please ignore",
            created_at=pendulum.datetime(2026, 1, 5, 9, tz="UTC"),
        )

    def test_is_a_channel(self, channel: Channel) -> None:
        """The object satisfies the Channel protocol and has a clean id."""
        assert isinstance(channel, Channel)
        assert channel.id
        assert channel.id == channel.id.strip()

    def test_receipt_describes_the_message(
        self, channel: Channel, message: OutboundMessage
    ) -> None:
        """The receipt names the message and the channel, with an aware time."""
        receipt = channel.send(message)
        assert receipt.message_id == message.id
        assert receipt.channel == channel.id
        assert receipt.accepted
        assert receipt.at.tzinfo is not None

    def test_message_arrives(
        self, channel: Channel, message: OutboundMessage, inbox: Inbox
    ) -> None:
        """What was sent can be found at the far end."""
        channel.send(message)
        assert (message.subject, message.body) in list(inbox())
