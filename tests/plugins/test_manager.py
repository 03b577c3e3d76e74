from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import pendulum
import pytest
from click.testing import CliRunner

from carecore import errors
from carecore._builtin.console_channel import ConsoleChannel
from carecore.cli import make_app
from carecore.model import DeliveryReceipt, OutboundMessage
from carecore.plugins import (
    BUILTIN_PLUGINS,
    Hooks,
    get_plugin_manager,
    hookimpl,
    plugin_table,
)
from carecore.storage.sqlite import SqliteStore
from carecore.testing import registered

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from carecore.protocols import Channel


class FakeStore(SqliteStore):
    """A real (in-memory SQLite) store that remembers which plugin opened it."""

    def __init__(self, url: str, owner: str) -> None:
        super().__init__("memory://")
        self._url = url
        self.owner = owner


class Recorder:
    """A real channel that keeps what it sends in memory."""

    def __init__(self, channel_id: str) -> None:
        self.id = channel_id
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> DeliveryReceipt:
        self.sent.append(message)
        return DeliveryReceipt(
            message_id=message.id,
            channel=self.id,
            accepted=True,
            at=pendulum.now("UTC"),
        )


def channel_plugin(*channels: Channel) -> object:
    class Plugin:
        @hookimpl
        def carecore_channels(self) -> Sequence[Channel]:
            return list(channels)

    return Plugin()


def store_plugin(owner: str, scheme: str, **opts: bool) -> object:
    class Plugin:
        @hookimpl(**opts)
        def carecore_open_store(self, url: str) -> FakeStore | None:
            return FakeStore(url, owner) if url.startswith(scheme) else None

    return Plugin()


def test_builtins_are_registered_without_entry_points(carecore_pm):
    assert all(carecore_pm.has_plugin(name) for name in BUILTIN_PLUGINS)
    assert isinstance(Hooks(carecore_pm).channels()["console"], ConsoleChannel)


def test_blocking_a_builtin(monkeypatch):
    pm = get_plugin_manager(entry_points=False, blocked=["carecore._builtin.console_channel"])
    assert "console" not in Hooks(pm).channels()
    monkeypatch.setenv("CARECORE_DISABLE_PLUGINS", "carecore._builtin.console_channel, other")
    pm = get_plugin_manager(entry_points=False)
    assert not pm.has_plugin("carecore._builtin.console_channel")


def test_a_plugin_replaces_a_builtin_channel(carecore_pm):
    mine = Recorder("console")
    with registered(carecore_pm, channel_plugin(mine), name="acme"):
        channels = Hooks(carecore_pm).channels()
        assert channels["console"] is mine
        assert channels.provider("console") == "acme"
    assert isinstance(Hooks(carecore_pm).channels()["console"], ConsoleChannel)


def test_two_plugins_with_the_same_id_is_an_error(carecore_pm):
    with (
        registered(carecore_pm, channel_plugin(Recorder("sms")), name="first"),
        registered(carecore_pm, channel_plugin(Recorder("sms")), name="second"),
        pytest.raises(errors.DuplicateRegistration) as caught,
    ):
        Hooks(carecore_pm).channels()
    assert caught.value.plugins == ("first", "second")
    assert caught.value.value == "sms"


def test_registry_items_must_match_the_protocol(carecore_pm):
    class Broken:
        @hookimpl
        def carecore_channels(self) -> Sequence[object]:
            return ["not a channel"]

    with (
        registered(carecore_pm, Broken(), name="broken"),
        pytest.raises(errors.PluginError) as caught,
    ):
        Hooks(carecore_pm).channels()
    assert caught.value.value == "broken"


def test_unknown_id_is_not_found(carecore_pm):
    with pytest.raises(errors.NotFound, match="console"):
        Hooks(carecore_pm).channels()["pager"]


def test_firstresult_last_registered_wins_and_trylast_loses(carecore_pm):
    hooks = Hooks(carecore_pm)
    with registered(carecore_pm, store_plugin("early", "x://"), name="early"):
        with registered(carecore_pm, store_plugin("late", "x://"), name="late"):
            assert hooks.open_store("x://db").owner == "late"
        # A trylast implementation (as every built-in store is) yields to others
        # even when it is registered after them.
        with registered(
            carecore_pm, store_plugin("fallback", "x://", trylast=True), name="fallback"
        ):
            assert hooks.open_store("x://db").owner == "early"
        with pytest.raises(errors.NoStoreForURL):
            hooks.open_store("y://db")


def test_misspelled_hook_is_caught(carecore_pm):
    class Typo:
        @hookimpl
        def carecore_open_stor(self, url: str) -> None:
            return None

    carecore_pm.register(Typo(), name="typo")
    from carecore.plugins import _check

    with pytest.raises(errors.PluginError, match="carecore_open_stor") as caught:
        _check(carecore_pm)
    assert caught.value.value == "typo"


def test_unmarked_carecore_function_is_treated_as_a_hook(carecore_pm):
    class Forgot:
        def carecore_channels(self) -> Sequence[Channel]:
            return [Recorder("fax")]

    with registered(carecore_pm, Forgot(), name="forgot"):
        assert "fax" in Hooks(carecore_pm).channels()


def test_wrong_hook_arguments_are_refused(carecore_pm):
    import pluggy

    class WrongArgs:
        @hookimpl
        def carecore_open_store(self, url: str, password: str) -> None:
            return None

    with pytest.raises(pluggy.PluginValidationError):
        carecore_pm.register(WrongArgs(), name="wrong")


# -- a real installed plugin, found through its entry point -----------------


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Install a distribution (module + dist-info with an entry point) on sys.path."""
    module = "carecore_acme_test"
    (tmp_path / f"{module}.py").write_text(
        textwrap.dedent(
            '''
            import click
            from carecore.plugins import hookimpl
            from carecore._builtin.console_channel import ConsoleChannel


            class LoudConsole(ConsoleChannel):
                """Replaces the built-in console channel."""


            from carecore.storage.sqlite import SqliteStore


            class AcmeStore(SqliteStore):
                def __init__(self, url):
                    super().__init__("memory://")
                    self._url = url


            @hookimpl
            def carecore_channels():
                return [LoudConsole()]


            @hookimpl
            def carecore_open_store(url):
                return AcmeStore(url) if url.startswith("acme://") else None


            @hookimpl
            def carecore_cli(app):
                @click.command()
                def acme():
                    """Say hello from the acme plugin."""
                    click.echo("hello from acme")

                app.add_command(acme)
            '''
        )
    )
    dist = tmp_path / "carecore_acme_test-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: carecore-acme-test\nVersion: 1.2.3\n"
    )
    (dist / "entry_points.txt").write_text(f"[carecore]\nacme = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield module
    sys.modules.pop(module, None)


def test_installed_plugin_overrides_builtins(installed_plugin):
    pm = get_plugin_manager()
    assert pm.has_plugin("acme")
    hooks = Hooks(pm)
    channel = hooks.channels()["console"]
    assert type(channel).__name__ == "LoudConsole"
    assert hooks.channels().provider("console") == "acme"
    assert hooks.open_store("acme://warehouse").url == "acme://warehouse"

    rows = {row["name"]: row for row in plugin_table(pm)}
    assert rows["acme"]["distribution"] == "carecore-acme-test"
    assert rows["acme"]["version"] == "1.2.3"
    assert rows["acme"]["hooks"] == [
        "carecore_channels",
        "carecore_cli",
        "carecore_open_store",
    ]
    assert not rows["acme"]["builtin"]


def test_installed_plugin_can_be_blocked(installed_plugin):
    pm = get_plugin_manager(blocked=["acme"])
    assert not pm.has_plugin("acme")
    assert isinstance(Hooks(pm).channels()["console"], ConsoleChannel)
    assert type(Hooks(pm).channels()["console"]).__name__ == "ConsoleChannel"


def test_installed_plugin_adds_a_command_and_shows_in_plugins(installed_plugin):
    runner = CliRunner()
    app = make_app(get_plugin_manager())
    result = runner.invoke(app, ["acme"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from acme\n"
    listing = runner.invoke(app, ["plugins"])
    assert "acme  (carecore-acme-test 1.2.3)" in listing.output
    assert "console [acme]" in listing.output
