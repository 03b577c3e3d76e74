"""A month close runs the cyclic collector less often, and restores it after (issue 15)."""

from __future__ import annotations

import gc

import pytest

from carecore.billing import _close, _store_parts


class _Stop(Exception):
    pass


class _Program:
    """Just enough of a program for the store close to begin: it records the thresholds and stops."""

    def __init__(self, seen):
        self.seen = seen

    def transaction(self, _reason):
        self.seen.append(gc.get_threshold())
        raise _Stop


def test_the_store_close_runs_under_the_close_s_thresholds_and_restores_them():
    before = gc.get_threshold()
    seen = []
    with pytest.raises(_Stop):
        _store_parts.close_store_parts(_Program(seen), *(None,) * 9)
    assert seen == [_close.CLOSE_GC_THRESHOLDS]
    assert gc.get_threshold() == before != _close.CLOSE_GC_THRESHOLDS


def test_rare_collections_restores_the_thresholds_when_the_close_ends():
    before = gc.get_threshold()
    with _close.rare_collections():
        assert gc.get_threshold() == _close.CLOSE_GC_THRESHOLDS
    assert gc.get_threshold() == before


def test_rare_collections_restores_the_thresholds_when_the_close_fails():
    before = gc.get_threshold()
    with pytest.raises(_Stop), _close.rare_collections():
        raise _Stop
    assert gc.get_threshold() == before
