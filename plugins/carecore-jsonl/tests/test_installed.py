from __future__ import annotations

from carecore_jsonl import JsonlChannel

from carecore.plugins import Hooks, get_plugin_manager, plugin_table


def test_entry_point_is_wired():
    pm = get_plugin_manager()
    assert pm.has_plugin("jsonl")
    channels = Hooks(pm).channels()
    assert isinstance(channels["jsonl"], JsonlChannel)
    assert channels.provider("jsonl") == "jsonl"
    row = next(r for r in plugin_table(pm) if r["name"] == "jsonl")
    assert row["distribution"] == "carecore-jsonl"
    assert row["hooks"] == ["carecore_channels"]


def test_path_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CARECORE_JSONL_PATH", str(tmp_path / "feed.jsonl"))
    channel = Hooks(get_plugin_manager()).channels()["jsonl"]
    assert channel.path == tmp_path / "feed.jsonl"
