"""The store close in partitions and workers gives the whole-store close's answer.

- ``close_store`` writes the same files and stores the same lines and
  denials for any partition size and worker count, and these are what
  evaluating the whole store read at once gives;
- billing facts order their events by content as before, sorting by day and
  kind first;
- the partitioned reads (``patient_ids``, ``find_many``, ``find_rows`` with
  and without history) and the batched write (``add_many``) of each built-in
  store give what the one-record calls give.
"""

from __future__ import annotations

import pendulum
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carecore import errors
from carecore.billing import close_store, cms_rule_set
from carecore.billing._month import evaluate_records
from carecore.billing.facts import TimeFact
from carecore.model import CarePlan, ClaimLine, Denial, Patient, RoleClass, ServiceFamily, TimeEntry
from carecore.service import CareProgram, _billing_items, _month_records

from .test_month_facts import MARCH, at, ccm_patient, staff_minutes

FILES = ("claims.csv", "claims.json", "denials.csv", "audit/packets.jsonl", "summary.json")


def _store(url: str) -> CareProgram:
    """Seven patients: billed, short of minutes, plans agreed later (revised), one with nothing."""
    program = CareProgram.open(url, actor="test", clock=at(2026, 1, 5))
    for n in range(1, 7):
        ccm_patient(program, f"p{n}", agreed=n % 3 != 0)
    with program.transaction("time") as tx:
        for n in range(1, 7):
            tx.add(staff_minutes(1, pendulum.Date(2026, 3, 4 + n), 5 * n, pid=f"p{n}"))
            tx.add(staff_minutes(2, pendulum.Date(2026, 3, 20), 20, pid=f"p{n}"))
    program.clock = at(2026, 3, 12)
    for n in (3, 6):  # drafted in January, agreed in March: dated from the audit log
        program.revise_care_plan(f"p{n}-cp", lambda p: p.activate(), reason="agreed")
    ccm_patient(program, "p7")  # no time at all
    return program


@pytest.fixture(params=["memory", "sqlite"])
def program(request, tmp_path):
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'store.db'}"
    prog = _store(url)
    yield prog
    prog.close()


def _stored(program: CareProgram) -> tuple[list[ClaimLine], list[Denial]]:
    with program.transaction("look") as tx:
        return tx.all(ClaimLine), tx.all(Denial)


def _files(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FILES}


def _whole_store_items(program: CareProgram) -> list[ClaimLine | Denial]:
    """The month's lines and denials from the whole store read at once (no partitions)."""
    with program.transaction("whole") as tx:
        records = _month_records(tx)
    return [
        item
        for _facts, r in evaluate_records(records, MARCH, cms_rule_set(2026))
        for item in _billing_items(r.patient_id, MARCH, r.claim_lines, r.denials)
    ]


def test_partitions_and_workers_change_nothing(program, tmp_path):
    expected = sorted(map(repr, _whole_store_items(program)))
    outputs = []
    for n, (workers, size) in enumerate([(1, 1000), (1, 1), (2, 2), (2, 3)]):
        out = tmp_path / f"out{n}"
        summary = close_store(
            program, MARCH, cms_rule_set(2026), out, workers=workers, partition_size=size
        )
        assert summary.patients_evaluated == 7
        lines, denials = _stored(program)
        assert sorted(map(repr, [*lines, *denials])) == expected
        outputs.append(_files(out))
        assert not (out / ".parts").exists()
    assert summary.claim_lines >= 1
    assert all(files == outputs[0] for files in outputs[1:])


def test_close_month_reads_in_partitions_as_a_whole_read(program, monkeypatch):
    import carecore.service

    expected = sorted(map(repr, _whole_store_items(program)))
    monkeypatch.setattr(carecore.service, "PARTITION_SIZE", 2)
    seen = []
    results = program.close_month(MARCH, progress=lambda done, total: seen.append((done, total)))
    assert [r.patient_id for r in results] == [f"p{n}" for n in range(1, 8)]
    lines, denials = _stored(program)
    assert sorted(map(repr, [*lines, *denials])) == expected
    assert seen[-1] == (7, 7)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(size=st.integers(min_value=1, max_value=8))
def test_any_partition_size_closes_the_same(tmp_path_factory, size):
    program = _store("memory://")
    expected = sorted(map(repr, _whole_store_items(program)))
    close_store(program, MARCH, cms_rule_set(2026), None, workers=1, partition_size=size)
    lines, denials = _stored(program)
    assert sorted(map(repr, [*lines, *denials])) == expected


def test_close_store_refuses_bad_workers_and_partitions_by_name(program):
    for field, bad in (
        ("workers", 0),
        ("workers", "2"),
        ("partition_size", 0),
        ("partition_size", True),
    ):
        with pytest.raises(errors.InvalidValue) as info:
            close_store(program, MARCH, cms_rule_set(2026), None, **{field: bad})
        assert info.value.field == field


def test_partition_reads_equal_the_one_record_reads(program):
    with program.transaction("read") as tx:
        ids = tx.patient_ids()
        assert ids == sorted(p.id for p in tx.all(Patient))
        some = ["p6", "p2", "p3"]
        for kind in (Patient, TimeEntry, CarePlan):
            assert tx.find_many(kind, patient_ids=some) == [
                r for r in tx.all(kind) if (r.id if kind is Patient else r.patient_id) in some
            ]
            assert tx.find_rows(kind, patient_ids=some).build() == tx.find_many(
                kind, patient_ids=some
            )
        versions = tx.find_rows(CarePlan, patient_ids=some, history=True).build()
        assert versions == [
            v for pid in ("p2-cp", "p3-cp", "p6-cp") for v in tx.history(CarePlan, pid)
        ]
        assert [v.version for v in versions] == [2, 1, 2, 1, 2]  # p2 was stored agreed
        with pytest.raises(errors.InvalidValue):
            tx.find_many(TimeEntry, patient_ids="p1")
        with pytest.raises(errors.InvalidValue):
            tx.find_rows(TimeEntry, patient_ids=["p1"], history=True)


def test_add_many_stores_and_audits_as_add_does(program):
    new = [staff_minutes(9, pendulum.Date(2026, 3, 30), 3, pid=f"p{n}") for n in (1, 2)]
    with program.transaction("batch") as tx:
        before = max(e.seq for e in tx.audit_entries())
        tx.add_many(new)
    with program.transaction("look") as tx:
        assert [tx.get(TimeEntry, t.id) for t in new] == new
        created = [(e.action, e.kind, e.key, e.patient_id) for e in tx.audit_entries(after=before)]
    assert created[:2] == [("create", "TimeEntry", t.id, t.patient_id) for t in new]
    with pytest.raises(errors.ConflictError), program.transaction("again") as tx:
        tx.add_many(new)
    with program.transaction("look") as tx:
        assert [t.id for t in tx.find_many(TimeEntry, patient_ids=["p1"])].count("p1-t9") == 1


_FACTS = st.builds(
    lambda day, minutes, role, family, interactive: TimeFact(
        date=pendulum.Date(2026, 3, day),
        minutes=minutes,
        role=role,
        practitioner="dr1",
        family=family,
        interactive=interactive,
    ),
    st.integers(1, 3),
    st.integers(1, 40),
    st.sampled_from(list(RoleClass)),
    st.sampled_from([ServiceFamily.CCM, ServiceFamily.PCM]),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_FACTS, max_size=12), st.randoms())
def test_events_are_ordered_as_by_their_whole_content(events, rng):
    from carecore.billing.facts import _event_key, _sorted_events

    expected = tuple(sorted(events, key=_event_key))
    assert _sorted_events(events) == expected
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert _sorted_events(shuffled) == expected


def test_the_spool_gives_back_each_text_as_written(tmp_path):
    from carecore.billing._store_parts import _read_spool, write_spool

    texts = [
        ("p\n1", "a,b\r\nc,d\r\n", ['{"x":"é"}', "{}", ""], "", '{"k":"\\n\\u2028"}\n'),
        ("p2", "", [], "d,e\r\n", ""),
        ("p3 \u2028", "z\r", ["\n"], "\r\n\r\n", "\n"),
    ]
    spool = tmp_path / "parts" / "0.jsonl"
    write_spool(spool, texts)
    assert [tuple(t) for t in _read_spool(spool)] == texts
    assert spool.stat().st_mode & 0o777 == 0o600


def test_forked_workers_inherit_the_builders_made_before_the_fork():
    from carecore.billing import _store_parts
    from carecore.convert import get_converter

    _store_parts._STORED_BUILDERS.clear()
    get_converter.cache_clear()
    assert _store_parts._runs_on(None, 3, 2) == 2
    assert set(_store_parts._STORED_BUILDERS) >= {*_store_parts.READ_KINDS.values(), CarePlan}
    assert get_converter.cache_info().currsize == 1
