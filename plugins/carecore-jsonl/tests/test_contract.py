from __future__ import annotations

import json

import pytest
from carecore_jsonl import JsonlChannel, plugin

from carecore.testing.contracts import ChannelContract, PluginContract


class TestJsonlChannel(ChannelContract):
    @pytest.fixture
    def channel(self, tmp_path, carecore_clock):
        return JsonlChannel(tmp_path / "outbox.jsonl", clock=carecore_clock)

    @pytest.fixture
    def inbox(self, channel):
        def read():
            if not channel.path.exists():
                return []
            rows = [json.loads(line) for line in channel.path.read_text().splitlines()]
            return [(row["subject"], row["body"]) for row in rows]

        return read


class TestJsonlPlugin(PluginContract):
    @pytest.fixture
    def plugin(self):
        return plugin
