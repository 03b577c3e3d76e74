"""The policy matrix: each role x action x own or other patient, as the explanation's table says.

The table is read from docs/explanation/access-control.md, so the page and the
code cannot drift apart; the same matrix is then done through a program on
the memory and SQLite stores (PostgreSQL: plugins/carecore-postgres/tests).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carecore.access import (
    BILLING_KINDS,
    DEFAULT_GRANTS,
    FEED_KINDS,
    AccessRequest,
    Action,
    Actor,
    DefaultPolicy,
    Role,
    Scope,
)
from carecore.testing._access_contract import access_practice, matrix

DOC = Path(__file__).resolve().parents[2] / "docs" / "explanation" / "access-control.md"
ROLES = {
    "care manager": Role.CARE_MANAGER,
    "nurse": Role.NURSE,
    "physician": Role.PHYSICIAN,
    "billing": Role.BILLING,
    "integration": Role.INTEGRATION,
    "researcher": Role.RESEARCHER,
    "admin": Role.ADMIN,
    "system": Role.SYSTEM,
}
#: How the table names the kinds a grant is limited to.
KIND_WORDS = {
    "billing kinds": BILLING_KINDS,
    "feed kinds": FEED_KINDS,
    "audit entries": frozenset({"AuditEntry"}),
}


def documented() -> dict[Role, dict[Action, tuple[Scope, frozenset[str] | None] | None]]:
    """The default policy's table as the page shows it."""
    text = DOC.read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    head = next(i for i, line in enumerate(rows) if line.startswith("| Role |"))
    actions = [Action(c.strip()) for c in rows[head].strip("|").split("|")[1:]]
    table = {}
    for line in rows[head + 2 :]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(actions) + 1:
            break
        for name in re.split(r",\s*", cells[0]):
            cell_of = {}
            for action, cell in zip(actions, cells[1:], strict=True):
                if cell == "-":
                    cell_of[action] = None
                    continue
                scope = Scope.TEAM if cell.startswith("team") else Scope.ANY
                kinds = next((k for word, k in KIND_WORDS.items() if word in cell), None)
                cell_of[action] = (scope, kinds)
            table[ROLES[name]] = cell_of
    return table


def test_the_page_shows_the_policys_grants():
    table = documented()
    assert set(table) == set(Role)
    for role, cells in table.items():
        granted = {action: (scope, kinds) for action, scope, kinds in DEFAULT_GRANTS[role]}
        assert {a: c for a, c in cells.items() if c is not None} == granted, role


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("own", [True, False], ids=["own", "other"])
def test_each_role_action_and_patient_is_answered_as_the_table_says(role, action, own):
    cell = documented()[role][action]
    kind = next(iter(sorted(cell[1]))) if cell and cell[1] else "Condition"
    actor = Actor(id="someone", roles={role}, teams={"team-p1"})
    request = AccessRequest(
        actor=actor,
        action=action,
        kind=kind,
        patient_id="p1" if own else "p2",
        care_teams=("team-p1",) if own else (),
    )
    expected = cell is not None and (cell[0] is Scope.ANY or own)
    assert DefaultPolicy().allows(request) is expected


@pytest.mark.parametrize("url", ["memory://", "sqlite"])
def test_the_matrix_through_a_program(url, tmp_path):
    url = url if url == "memory://" else f"sqlite:///{tmp_path / 'matrix.db'}"
    with access_practice(url) as program:
        assert matrix(program, DefaultPolicy()) == []
