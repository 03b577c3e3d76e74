"""Bad input through the public API raises carecore errors, never bare builtins."""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carecore import errors
from carecore.convert import from_json, from_primitive, to_primitive
from carecore.model import (
    VALUE_TYPES,
    AdministrativeSex,
    ClaimLine,
    InteractiveContact,
    Patient,
    ServicePeriod,
)
from carecore.testing.strategies import (
    STRATEGIES,
    claim_lines,
    interactive_contacts,
    patients,
)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from(["2026-01-05T10:00:00", "2026-02-30", "E11.9", "CCM", "", " x", "-1", "1e9"]),
)


def paths(data: Any, prefix: str = "$") -> list[tuple[str, tuple[Any, ...]]]:
    """Every (json path, key path) in a primitive document."""
    out: list[tuple[str, tuple[Any, ...]]] = []

    def walk(node: Any, path: str, keys: tuple[Any, ...]) -> None:
        out.append((path, keys))
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}", (*keys, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]", (*keys, i))

    walk(data, prefix, ())
    return out


def replace(data: Any, keys: tuple[Any, ...], value: Any) -> Any:
    if not keys:
        return value
    doc = copy.deepcopy(data)
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return doc


def delete(data: Any, keys: tuple[Any, ...]) -> Any:
    doc = copy.deepcopy(data)
    node = doc
    for k in keys[:-1]:
        node = node[k]
    del node[keys[-1]]
    return doc


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=lambda c: c.__name__)
def test_corrupted_documents_raise_invalid_input(cls):
    @given(STRATEGIES[cls], st.data())
    def check(value, data):
        doc = to_primitive(value)
        targets = paths(doc)
        _path, keys = data.draw(st.sampled_from(targets))
        action = data.draw(st.sampled_from(["replace", "delete", "extra"]))
        if action == "delete" and keys and isinstance(keys[-1], str):
            bad = delete(doc, keys)
        elif action == "extra":
            bad = {**doc, "not_a_field": 1} if isinstance(doc, dict) else [doc]
        else:
            bad = replace(doc, keys, data.draw(junk))
        try:
            result = from_primitive(bad, cls)
        except errors.InvalidInput as exc:
            assert exc.problems
            for problem in exc.problems:
                assert problem.path.startswith("$")
                assert problem.message
        else:
            # The change happened to be valid: the result must still be a valid value.
            assert isinstance(result, cls)

    check()


@pytest.mark.parametrize("cls", VALUE_TYPES, ids=lambda c: c.__name__)
def test_constructors_raise_only_carecore_errors(cls):
    fields = attrs.fields(cls)

    @given(st.fixed_dictionaries({f.name: junk for f in fields}))
    def check(kwargs):
        try:
            cls(**kwargs)
        except errors.CarecoreError as exc:
            assert exc.field
        except TypeError as exc:  # pragma: no cover - reported with the input below
            pytest.fail(f"bare TypeError from {cls.__name__}({kwargs!r}): {exc}")

    check()


@given(st.one_of(st.text(), st.binary()))
def test_from_json_of_arbitrary_text(text):
    try:
        from_json(text, Patient)
    except errors.InvalidInput as exc:
        assert exc.problems


@given(interactive_contacts())
def test_naive_datetime_is_refused_with_its_path(contact):
    doc = to_primitive(contact)
    doc["at"] = "2026-01-05T10:00:00"
    with pytest.raises(errors.InvalidInput) as caught:
        from_primitive(doc, InteractiveContact)
    (problem,) = caught.value.problems
    assert problem.path == "$.at"
    assert "time zone offset" in problem.message
    assert problem.value == "2026-01-05T10:00:00"


@given(claim_lines().filter(lambda line: line.amount is not None))
def test_float_money_is_refused(line):
    doc = to_primitive(line)
    doc["amount"] = float(doc["amount"])
    with pytest.raises(errors.InvalidInput) as caught:
        from_primitive(doc, ClaimLine)
    assert [p.path for p in caught.value.problems] == ["$.amount"]


def test_every_problem_is_listed_at_once():
    doc = {
        "id": "p1",
        "given_name": 7,
        "family_name": "Okafor",
        "birth_date": "1948-13-02",
        "sex": "woman",
        "time_zone": "America/Chicago",
        "identifiers": [{"system": "urn:mrn", "value": "1"}, {"system": "urn:mrn"}],
        "favourite_colour": "blue",
    }
    with pytest.raises(errors.InvalidInput) as caught:
        from_primitive(doc, Patient)
    found = {p.path: p for p in caught.value.problems}
    assert set(found) == {
        "$.given_name",
        "$.birth_date",
        "$.sex",
        "$.identifiers[1].value",
        "$.favourite_colour",
    }
    assert found["$.given_name"].value == 7
    assert found["$.favourite_colour"].message == "unknown field"
    assert found["$.identifiers[1].value"].message == "required field missing"
    text = str(caught.value)
    assert "$.birth_date" in text
    assert "'1948-13-02'" in text


@given(patients())
def test_validator_errors_inside_values_are_located(sample):
    doc = to_primitive(ServicePeriod.month(2026, 1))
    doc["end"] = "2025-12-31"
    with pytest.raises(errors.InvalidInput) as caught:
        from_primitive(doc, ServicePeriod)
    assert [p.path for p in caught.value.problems] == ["$.end"]

    patient = to_primitive(sample)
    patient["time_zone"] = "Nowhere/Land"
    with pytest.raises(errors.InvalidInput) as caught:
        from_primitive(patient, Patient)
    assert [p.path for p in caught.value.problems] == ["$.time_zone"]


@given(patients())
def test_enum_strings_and_strictness(sample):
    doc = to_primitive(sample)
    doc["sex"] = "FEMALE"  # names are not values
    with pytest.raises(errors.InvalidInput):
        from_primitive(doc, Patient)
    doc["sex"] = "female"
    assert from_primitive(doc, Patient).sex is AdministrativeSex.FEMALE


def test_malformed_json_is_invalid_input():
    with pytest.raises(errors.InvalidInput, match="not valid JSON"):
        from_json("{not json", Patient)
    assert json.dumps(to_primitive(ServicePeriod.month(2026, 1)))
