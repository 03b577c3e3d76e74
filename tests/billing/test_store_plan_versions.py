"""A store close reads a plan with one stored version without building its content (issue 15).

The store keeps each version's CMS completeness (schema 20), so a partition
reads such a plan as a :class:`~carecore.careplans.PlanVersion`; a plan with
later versions (whose revisions are read from the content), and a version
whose completeness the store does not know, are built whole. Either way the
close writes the same files.
"""

from __future__ import annotations

import sqlite3

from carecore.billing import close_store, cms_rule_set
from carecore.billing._store_parts import _plan_history, read_partition
from carecore.careplans import PlanVersion
from carecore.model import CarePlan

from .test_month_facts import MARCH
from .test_store_partitions import FILES, _store


def test_single_versions_are_read_without_their_content(tmp_path):
    program = _store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with program.transaction("read") as tx:
            part = read_partition(tx, tx.patient_ids())
    finally:
        program.close()
    plans, history = _plan_history(part.rows["care_plans"], part.plan_versions)
    kinds = {p.id: type(p) for p in plans}
    # p3 and p6 were drafted, then agreed: two versions, built whole.
    assert kinds == {f"p{n}-cp": CarePlan if n in {3, 6} else PlanVersion for n in range(1, 8)}
    assert [len(history[f"p{n}-cp"]) for n in range(1, 8)] == [1, 1, 2, 1, 1, 2, 1]


def test_the_light_read_and_the_whole_build_close_alike(tmp_path):
    path = tmp_path / "store.db"
    _store(f"sqlite:///{path}").close()
    light = tmp_path / "light.db"
    light.write_bytes(path.read_bytes())
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE care_plans SET cms_complete = NULL")
        conn.execute("UPDATE care_plans_history SET cms_complete = NULL")
    conn.close()
    outs = []
    for db, name in ((light, "light"), (path, "built")):
        from carecore.service import CareProgram

        program = CareProgram.open(f"sqlite:///{db}", actor="test")
        try:
            with program.transaction("read") as tx:
                part = read_partition(tx, tx.patient_ids())
            plans, _ = _plan_history(part.rows["care_plans"], part.plan_versions)
            assert (name == "light") == any(isinstance(p, PlanVersion) for p in plans)
            close_store(program, MARCH, cms_rule_set(2026), tmp_path / name, partition_size=3)
        finally:
            program.close()
        outs.append({f: (tmp_path / name / f).read_bytes() for f in FILES})
    assert outs[0] == outs[1]
    assert b"99490" in outs[0]["claims.csv"]
