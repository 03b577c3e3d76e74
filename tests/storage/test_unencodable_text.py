"""Text the database cannot encode is refused with a typed error, and nothing is written."""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import DeadLetter
from carecore.storage import open_store


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_a_lone_surrogate_is_an_invalid_value_naming_no_text(url, tmp_path):
    store = open_store(url if url == "memory://" else f"sqlite:///{tmp_path / 's.db'}")
    store.initialize()
    letter = DeadLetter(
        id="d1",
        source="hl7",
        raw="PID|secret\udc81",
        reason="bad frame",
        received_at=pendulum.datetime(2026, 1, 1),
    )
    at = pendulum.datetime(2026, 1, 1)
    with (
        pytest.raises(errors.InvalidValue) as info,
        store.transaction(actor="t", reason="test", at=at) as tx,
    ):
        tx.add(letter)
    assert "secret" not in str(info.value)
    with store.transaction(actor="t", reason="test", at=pendulum.datetime(2026, 1, 1)) as tx:
        assert tx.all(DeadLetter) == []
    store.close()
