"""Study configurations: TOML or JSON files, and the examples shipped with carecore."""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

from carecore import errors
from carecore.simulation._model import (
    BhiPolicy,
    ConditionPrevalence,
    ContactModel,
    OutcomeModel,
    PopulationSpec,
    ProgramPolicy,
    RpmPolicy,
    StaffRole,
    Study,
    TcmPolicy,
)

__all__ = ["example_names", "load_study", "study_from_mapping"]

#: Nested values: (class, field) -> the class of the table (or of each item of the list).
_NESTED: dict[tuple[type, str], type] = {
    (Study, "population"): PopulationSpec,
    (Study, "policy"): ProgramPolicy,
    (Study, "outcomes"): OutcomeModel,
    (PopulationSpec, "conditions"): ConditionPrevalence,
    (ProgramPolicy, "staff"): StaffRole,
    (ProgramPolicy, "contacts"): ContactModel,
    (ProgramPolicy, "tcm"): TcmPolicy,
    (ProgramPolicy, "bhi"): BhiPolicy,
    (ProgramPolicy, "rpm"): RpmPolicy,
    (BhiPolicy, "contacts"): ContactModel,
    (RpmPolicy, "contacts"): ContactModel,
}
_LISTS = {(PopulationSpec, "conditions"), (ProgramPolicy, "staff")}


def _require(cls: type, data: dict[str, Any], path: str) -> None:
    for a in attrs.fields(cls):
        if a.default is attrs.NOTHING and a.name not in data:
            raise errors.InvalidValue("is required", field=f"{path}.{a.name}" if path else a.name)


def _written(cls: type, known: set[str]) -> list[str]:
    """The keys a config may write for *cls*, sorted: a study's month as ``start`` (YYYY-MM).

    ``start_year`` and ``start_month`` are how the model holds it; the shipped
    configs and the docs write ``start``.
    """
    if cls is Study:
        known = (known - {"start_year", "start_month"}) | {"start"}
    return sorted(known)


def _build(cls: type, data: object, path: str) -> Any:
    if not isinstance(data, dict):
        raise errors.InvalidValue("must be a table", field=path or "config", value=data)
    known = {a.name for a in attrs.fields(cls)}
    _require(cls, data, path)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in known:
            raise errors.InvalidValue(
                f"not a setting of {cls.__name__} (known: {', '.join(_written(cls, known))})",
                field=where,
                value=value,
            )
        nested = _NESTED.get((cls, key))
        if nested is not None and (cls, key) in _LISTS:
            if not isinstance(value, list):
                raise errors.InvalidValue("must be a list of tables", field=where, value=value)
            kwargs[key] = tuple(
                _build(nested, item, f"{where}[{i}]") for i, item in enumerate(value)
            )
        elif nested is not None:
            kwargs[key] = _build(nested, value, where)
        elif isinstance(value, float) and cls is StaffRole and key.endswith(("hour", "month")):
            kwargs[key] = Decimal(str(value))
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except errors.CarecoreError as exc:
        field = exc.field or ""
        full = (
            f"{path}.{field}" if path and field and not field.startswith(path) else (field or path)
        )
        # The value as the config wrote it (-5), not as the model holds it (Decimal('-5')).
        value = data.get(field, exc.value)
        raise type(exc)(exc.reason, field=full, value=value) from exc
    except (ValueError, TypeError) as exc:
        raise errors.InvalidValue(str(exc), field=path or "config", value=data) from exc


def study_from_mapping(data: object) -> Study:
    """A :class:`Study` from a mapping as a TOML or JSON config gives it.

    A bad or unknown key raises :class:`~carecore.errors.InvalidValue` naming
    it by its path (``policy.enrollment_probability``).

    >>> study_from_mapping({"months": 3, "policy": {"enrollment_probability": 0.4}}).months
    3
    >>> study_from_mapping({"policy": {"enrolment_probability": 0.4}})
    Traceback (most recent call last):
    ...
    carecore.errors.InvalidValue: policy.enrolment_probability=0.4: not a setting of ProgramPolicy ...
    """
    if isinstance(data, dict) and "start" in data:
        written = set(data)
        data = dict(data)
        text = data.pop("start")
        try:
            year, month = (int(x) for x in str(text).split("-"))
        except ValueError as exc:
            raise errors.InvalidValue(
                "must be a month as YYYY-MM", field="start", value=text
            ) from exc
        data["start_year"], data["start_month"] = year, month
        try:
            built: Study = _build(Study, data, "")
        except errors.InvalidValue as exc:
            # The model checks the year and month as start_year/start_month,
            # keys this config never had: name the one the user wrote.
            if exc.field in {"start_year", "start_month"} - written:
                raise errors.InvalidValue(
                    f"must be a month as YYYY-MM (the {exc.field[6:]} {exc.reason})",
                    field="start",
                    value=text,
                ) from exc
            raise
        return built
    study: Study = _build(Study, data, "")
    return study


def example_names() -> tuple[str, ...]:
    """The names of the example studies shipped with carecore.

    >>> example_names()
    ('ccm-2015', 'demo-practice', 'primary-care-2026')
    """
    folder = resources.files("carecore.simulation").joinpath("examples")
    return tuple(
        sorted(
            item.name.rsplit(".", 1)[0] for item in folder.iterdir() if item.name.endswith(".toml")
        )
    )


def load_study(source: str | Path) -> Study:
    """The study in *source*: the name of a shipped example, or a TOML or JSON file.

    >>> load_study("primary-care-2026").population.size
    2000
    """
    text: str
    name = str(source)
    if isinstance(source, str) and name in example_names():
        text = (
            resources.files("carecore.simulation")
            .joinpath("examples", f"{name}.toml")
            .read_text(encoding="utf-8")
        )
        kind = "toml"
    else:
        path = Path(source)
        if path.is_dir():
            raise errors.InvalidValue(
                "is a folder, not a study file: give a TOML or JSON file in it, or an example "
                f"({', '.join(example_names())})",
                field="config",
                value=name,
            )
        if not path.is_file():
            raise errors.NotFound(
                f"no such file, and not an example ({', '.join(example_names())})",
                field="config",
                value=name,
            )
        text = path.read_text(encoding="utf-8")
        kind = "json" if path.suffix.lower() == ".json" else "toml"
    try:
        data = json.loads(text) if kind == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise errors.InvalidValue(
            f"not valid {kind.upper()}: {exc}", field="config", value=name
        ) from exc
    return study_from_mapping(data)
