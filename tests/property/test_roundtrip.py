from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore.convert import from_json, from_primitive, to_json, to_primitive
from carecore.model import VALUE_TYPES, DomainEvent
from carecore.testing.strategies import STRATEGIES


def test_every_public_value_type_has_a_strategy():
    assert set(VALUE_TYPES) <= set(STRATEGIES)


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
def test_primitive_and_json_round_trip(cls):
    @given(STRATEGIES[cls])
    def check(value):
        data = to_primitive(value)
        # The primitive form is plain JSON: it survives a dump and load unchanged.
        assert json.loads(json.dumps(data)) == data
        assert from_primitive(data, cls) == value
        assert from_json(to_json(value), cls) == value

    check()


@pytest.mark.parametrize(
    "cls", [c for c in STRATEGIES if c is not DomainEvent], ids=lambda c: c.__name__
)
def test_from_type_uses_registered_strategies(cls):
    # Registered through the hypothesis entry point in pyproject.toml.
    @given(st.from_type(cls))
    def check(value):
        assert isinstance(value, cls)

    check()


@given(STRATEGIES[DomainEvent])
def test_events_carry_their_type_tag(event):
    data = to_primitive(event)
    assert data["type"] == type(event).__name__
    assert type(from_primitive(data, DomainEvent)) is type(event)
