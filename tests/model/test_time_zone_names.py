"""Time zone names: checked once, and the zone kept so that later lookups by name need no file read."""

from __future__ import annotations

import gc
import weakref

import pendulum
import pytest

from carecore import errors
from carecore.model import AdministrativeSex, Patient


def _patient(zone: str) -> Patient:
    return Patient(
        id="p1",
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone=zone,
    )


def test_a_checked_zone_is_kept_alive():
    # pendulum keeps a zone only while something refers to it (and reads its file again
    # once it is gone); the zone of a checked name is kept, so later lookups by name
    # (in_tz, pendulum.datetime(..., tz=name)) find it.
    _patient("Pacific/Chatham")
    zone = weakref.ref(pendulum.timezone("Pacific/Chatham"))
    gc.collect()
    assert zone() is not None
    assert pendulum.timezone("Pacific/Chatham") is zone()


def test_an_unknown_zone_is_refused_naming_the_field():
    with pytest.raises(errors.InvalidValue) as caught:
        _patient("Mars/Olympus_Mons")
    assert caught.value.field == "time_zone"
