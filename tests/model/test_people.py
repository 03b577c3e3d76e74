from __future__ import annotations

import pendulum
import pytest

from carecore import errors
from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Credential,
    Patient,
    Practitioner,
    SupervisionLevel,
)


def patient(**changes: object) -> Patient:
    fields: dict[str, object] = {
        "id": "p1",
        "given_name": "Ada",
        "family_name": "Okafor",
        "birth_date": pendulum.Date(1948, 3, 2),
        "sex": AdministrativeSex.FEMALE,
        "time_zone": "America/Chicago",
    }
    fields.update(changes)
    return Patient(**fields)  # type: ignore[arg-type]


def test_patient_is_frozen_and_keyword_only():
    p = patient()
    with pytest.raises(AttributeError):
        p.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Patient("p1")  # type: ignore[call-arg,misc]


def test_stdlib_date_becomes_pendulum_date():
    import datetime as dt

    p = patient(birth_date=dt.date(1950, 1, 2))
    assert isinstance(p.birth_date, pendulum.Date)
    assert p.birth_date == pendulum.Date(1950, 1, 2)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("id", "", "must not be blank"),
        ("id", " p1", "whitespace"),
        ("time_zone", "Mars/Olympus", "not a known IANA time zone"),
        ("birth_date", pendulum.datetime(1950, 1, 1, tz="UTC"), "calendar date"),
        ("birth_date", "1950-01-01", "calendar date"),
        ("sex", "female", "AdministrativeSex"),
        ("date_of_death", pendulum.Date(1900, 1, 1), "before the birth date"),
        ("identifiers", "abc", "sequence"),
    ],
)
def test_bad_patient_fields_name_field_and_value(field, value, reason):
    with pytest.raises(errors.InvalidValue) as caught:
        patient(**{field: value})
    assert caught.value.field == field
    if field in {"birth_date", "date_of_death"}:
        # Personal data: described (kind and size), never shown.
        assert "not shown: personal data" in str(caught.value.value)
    else:
        assert caught.value.value == value
    assert reason in str(caught.value)


def test_age_counts_whole_years():
    p = patient(birth_date=pendulum.Date(1948, 3, 2))
    assert p.age_on(pendulum.Date(2026, 3, 1)) == 77
    assert p.age_on(pendulum.Date(2026, 3, 2)) == 78


def test_npi_check_digit():
    assert (
        Practitioner(id="d", name="D", credential=Credential.MD, npi="1234567893").npi
        == "1234567893"
    )
    with pytest.raises(errors.InvalidValue, match="check digit") as caught:
        Practitioner(id="d", name="D", credential=Credential.MD, npi="1234567890")
    assert caught.value.field == "npi"
    with pytest.raises(errors.InvalidValue, match="10 digits"):
        Practitioner(id="d", name="D", credential=Credential.MD, npi="12345")


def lead() -> CareTeamMember:
    return CareTeamMember(practitioner_id="dr1", role=CareTeamRole.BILLING_PRACTITIONER)


def nurse(**changes: object) -> CareTeamMember:
    fields: dict[str, object] = {
        "practitioner_id": "rn1",
        "role": CareTeamRole.CARE_MANAGER,
        "supervisor_id": "dr1",
        "supervision": SupervisionLevel.GENERAL,
    }
    fields.update(changes)
    return CareTeamMember(**fields)  # type: ignore[arg-type]


def test_care_team_knows_its_billing_practitioner_and_supervision():
    team = CareTeam(id="t", patient_id="p1", members=[lead(), nurse()])
    assert team.billing_practitioner_id == "dr1"
    assert [m.practitioner_id for m in team.supervised_by("dr1")] == ["rn1"]
    assert isinstance(team.members, tuple)


def test_supervisor_must_be_on_the_team():
    with pytest.raises(errors.InvalidValue, match="not a member") as caught:
        CareTeam(id="t", patient_id="p1", members=[lead(), nurse(supervisor_id="dr9")])
    assert caught.value.field == "members[1].supervisor_id"
    assert caught.value.value == "dr9"


def test_one_billing_practitioner_per_team():
    second = CareTeamMember(practitioner_id="dr2", role=CareTeamRole.BILLING_PRACTITIONER)
    with pytest.raises(errors.InvalidValue, match="only one billing practitioner"):
        CareTeam(id="t", patient_id="p1", members=[lead(), second])


def test_supervision_needs_a_supervisor_and_no_self_supervision():
    with pytest.raises(errors.InvalidValue, match="together"):
        nurse(supervisor_id=None)
    with pytest.raises(errors.InvalidValue, match="themselves"):
        nurse(supervisor_id="rn1")


def test_empty_team_and_duplicates_refused():
    with pytest.raises(errors.InvalidValue, match="at least one member"):
        CareTeam(id="t", patient_id="p1", members=[])
    with pytest.raises(errors.InvalidValue, match="twice"):
        CareTeam(id="t", patient_id="p1", members=[lead(), nurse(), nurse()])
