"""A small practice for the access tests: two patients, each with a care team."""

from __future__ import annotations

import pendulum
import pytest

from carecore.model import (
    AdministrativeSex,
    CareTeam,
    CareTeamMember,
    CareTeamRole,
    Credential,
    Patient,
    Practitioner,
)
from carecore.service import CareProgram


def patient(pid: str) -> Patient:
    return Patient(
        id=pid,
        given_name="Ada",
        family_name="Okafor",
        birth_date=pendulum.Date(1948, 3, 2),
        sex=AdministrativeSex.FEMALE,
        time_zone="UTC",
    )


def team(pid: str, *members: str) -> CareTeam:
    return CareTeam(
        id=f"team-{pid}",
        patient_id=pid,
        members=[
            CareTeamMember(practitioner_id=m, role=CareTeamRole.CARE_MANAGER) for m in members
        ],
    )


def practice(url: str) -> CareProgram:
    """p1 is cared for by rn-1 (by id) and team-p1; p2 by rn-2."""
    program = CareProgram.open(url, actor="loader")
    program.import_records(
        [
            Practitioner(id="rn-1", name="Nurse One", credential=Credential.RN),
            Practitioner(id="rn-2", name="Nurse Two", credential=Credential.RN),
        ],
        reason="staff",
    )
    program.import_records([patient("p1"), patient("p2")], reason="patients")
    program.import_records([team("p1", "rn-1"), team("p2", "rn-2")], reason="teams")
    return program


@pytest.fixture(params=["memory", "sqlite"])
def store_url(request, tmp_path):
    """memory:// and SQLite (PostgreSQL: plugins/carecore-postgres/tests/test_access.py)."""
    if request.param == "memory":
        return "memory://"
    return f"sqlite:///{tmp_path / 'access.db'}"


@pytest.fixture
def program(store_url):
    with practice(store_url) as opened:
        yield opened
