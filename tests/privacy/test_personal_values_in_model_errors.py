"""A patient's personal values (names, birth and death dates) never appear in the model's errors.

Refusals travel: into CLI output, HL7 ACKs, dead letters and logs. The model
describes a personal value (its kind and size) instead of showing it.
"""

from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import AdministrativeSex, Patient

_BASE = {
    "id": "p1",
    "given_name": "Ada",
    "family_name": "Okafor",
    "birth_date": pendulum.Date(1950, 6, 1),
    "sex": AdministrativeSex.FEMALE,
    "time_zone": "UTC",
}


@pytest.mark.parametrize(
    ("change", "field", "secret"),
    [
        ({"birth_date": "19501345"}, "birth_date", "19501345"),
        ({"date_of_death": "19401201"}, "date_of_death", "19401201"),
        ({"date_of_death": pendulum.Date(1940, 12, 1)}, "date_of_death", "1940"),
        ({"given_name": " Okafor-Ada"}, "given_name", "Okafor-Ada"),
        ({"family_name": "Okafor "}, "family_name", "Okafor"),
    ],
)
def test_a_refused_personal_value_is_described_not_shown(change, field, secret):
    with pytest.raises(errors.InvalidValue) as caught:
        Patient(**(_BASE | change))
    assert caught.value.field == field
    text = str(caught.value)
    assert secret not in text
    assert "not shown: personal data" in text
    assert secret not in repr(caught.value.value)
