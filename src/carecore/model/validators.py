"""The attrs validators and converters the model's values are built with.

Other packages (and plugins) use these to check their own values the same way
the model does: each raises a :mod:`carecore.errors` type naming the field and
the value. Validators take ``(instance, attribute, value)`` as attrs calls
them; converters take the value; :func:`check_date`,
:func:`check_instant`, :func:`check_time_zone` and :func:`check_callable` check a plain argument
outside attrs.

>>> import attrs
>>> from carecore.model import validators as v
>>> @attrs.frozen(kw_only=True, field_transformer=v.name_errors)
... class Visit:
...     place: str = attrs.field(validator=v.not_blank)
>>> Visit(place=" ")
Traceback (most recent call last):
...
carecore.errors.InvalidValue: place=' ': must not be blank
"""

from __future__ import annotations

from carecore.model._validators import (
    Validator,
    check_callable,
    check_date,
    check_instant,
    check_time_zone,
    instance_of,
    int_between,
    is_bool,
    matches,
    money,
    name_errors,
    not_blank,
    npi_checksum_ok,
    one_of,
    optional,
    time_zone,
    to_date,
    to_decimal,
    to_frozenset,
    to_instant,
    to_optional_date,
    to_optional_instant,
    to_tuple,
    tuple_of,
)

__all__ = [
    "Validator",
    "check_callable",
    "check_date",
    "check_instant",
    "check_time_zone",
    "instance_of",
    "int_between",
    "is_bool",
    "matches",
    "money",
    "name_errors",
    "not_blank",
    "npi_checksum_ok",
    "one_of",
    "optional",
    "time_zone",
    "to_date",
    "to_decimal",
    "to_frozenset",
    "to_instant",
    "to_optional_date",
    "to_optional_instant",
    "to_tuple",
    "tuple_of",
]
