"""A store close runs the cyclic collector less often, and restores it after (issue 15)."""

from __future__ import annotations

import gc

import pytest

from carecore.billing import _store_parts


@pytest.mark.parametrize("fails", [False, True])
def test_the_close_sets_and_restores_the_collector_thresholds(monkeypatch, fails):
    before = gc.get_threshold()
    seen = []

    def close(*args, **kwargs):
        seen.append(gc.get_threshold())
        if fails:
            raise RuntimeError("a worker died")
        return "summary"

    monkeypatch.setattr(_store_parts, "_close_store_parts", close)
    args = (None,) * 10
    if fails:
        with pytest.raises(RuntimeError):
            _store_parts.close_store_parts(*args)
    else:
        assert _store_parts.close_store_parts(*args) == "summary"
    assert seen == [_store_parts._CLOSE_GC_THRESHOLDS]
    assert gc.get_threshold() == before != _store_parts._CLOSE_GC_THRESHOLDS
