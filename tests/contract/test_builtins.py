from __future__ import annotations

import io

import pytest

from carecore._builtin import commands, console_channel
from carecore._builtin.console_channel import ConsoleChannel
from carecore.testing.contracts import ChannelContract, PluginContract


class TestConsoleChannel(ChannelContract):
    @pytest.fixture
    def stream(self):
        return io.StringIO()

    @pytest.fixture
    def channel(self, stream, carecore_clock):
        return ConsoleChannel(stream=stream, clock=carecore_clock)

    @pytest.fixture
    def inbox(self, stream):
        def read():
            blocks = stream.getvalue().split("[console] to ")[1:]
            out = []
            for block in blocks:
                head, _, body = block.partition("\n")
                out.append((head.split(": ", 1)[1], body.rstrip("\n")))
            return out

        return read


class TestConsoleChannelPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return console_channel


class TestCommandsPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return commands
