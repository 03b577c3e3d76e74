"""A store close builds its rows' days, codes and flags once per distinct stored value (issue 15)."""

from __future__ import annotations

import pendulum

from carecore.billing import _store_parts
from carecore.billing._store_parts import build_stored
from carecore.model import Credential, RoleClass, ServiceFamily, TimeEntry
from carecore.storage import StoredRows, _kinds, kind_for


def _entries(days: int) -> list[TimeEntry]:
    return [
        TimeEntry(
            id=f"te{n}",
            patient_id=f"p{n % 3}",
            performer_id="rn1",
            credential=Credential.RN if n % 2 else Credential.MD,
            role_class=RoleClass.CLINICAL_STAFF if n % 2 else RoleClass.PHYSICIAN,
            minutes=n % 40 + 1,
            family=ServiceFamily.CCM,
            activity="care management",
            service_date=pendulum.Date(2020, 1, 1).add(days=n % days),
            billing_practitioner_id="dr1",
            interactive=bool(n % 3),
        )
        for n in range(60)
    ]


def test_rows_built_with_shared_values_equal_the_kinds_build(monkeypatch):
    kind = kind_for(TimeEntry)
    for limit in (4096, 5):  # past the limit, values are loaded each time
        monkeypatch.setattr(_kinds._Memo, "LIMIT", limit)
        _store_parts._STORED_BUILDERS.pop(TimeEntry, None)
        entries = _entries(days=20)
        rows = [kind.to_row(e) for e in entries]
        built = build_stored(StoredRows(TimeEntry, rows=rows))
        assert built == entries == [kind.build(row) for row in rows]
        assert [type(e.service_date) for e in built] == [type(e.service_date) for e in entries]
        assert {type(e.credential) for e in built} == {Credential}
