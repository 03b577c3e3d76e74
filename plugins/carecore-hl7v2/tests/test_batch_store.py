"""A group commit stores what one message at a time stores, on SQLite and PostgreSQL, with
its reads of the batch's patients made once and its new events, episodes and claims
written together."""

from __future__ import annotations

import attrs
import pendulum
import pytest
from carecore_hl7v2 import ingest
from carecore_hl7v2.ingest import handle_many
from test_intake import a03, ada

from carecore import _guard, errors
from carecore.access import AccessPolicy, Action
from carecore.clock import FixedClock
from carecore.model import (
    AdtEvent,
    ContactPreferences,
    DeadLetter,
    Identifier,
    Patient,
    PatientAddress,
    PatientLink,
    TransitionEpisode,
)
from carecore.service import CareProgram
from carecore.testing._store_contract import make_patient

JANE = "||Doe^Jane||19500101|F"
HOME = "||Okafor-Reyes^Ada||19480302|F|||12 Elm St^^Evanston^IL^60201||(847)555-0100"
#: Jane, died on 5 March (PID-29, PID-30).
JANE_DIED = JANE + "|" * 21 + "20260305|Y"

#: Messages that depend on each other inside one batch: a patient registered then named
#: again, a resend, a control id reused for another message, an admission then its
#: discharge, an address and phone, a death, two patients of one visit number, and
#: a message that cannot be read.
FEED = [
    a03("B1", "501^^^GEN^MR", pid_rest=JANE),
    a03("B2", "501^^^GEN^MR~9^^^GEN^PI", trigger="A08", pid_rest="||Doe-Roe^Jane||19500101|F"),
    a03("B1", "501^^^GEN^MR", pid_rest=JANE),  # a resend
    a03("B1", "501^^^GEN^MR", pid_rest="||Doe^Janet||19500101|F"),  # B1 reused: same event
    a03("B1", "502^^^GEN^MR", visit="V7"),  # B1 reused for another event
    a03("B3", "1234^^^GEN^MR", visit="V2", trigger="A01"),
    a03("B4", "1234^^^GEN^MR", visit="V2", pid_rest=HOME),
    a03("B5", "503^^^GEN^MR", visit="V3", pid_rest=JANE),
    a03("B6", "503^^^GEN^MR", visit="V3", trigger="A08", pid_rest=JANE_DIED),
    a03("B7", "9^^^GEN^PI", visit="V9"),  # the identifier B2 linked to B1's patient
    "not HL7",
    a03("B8", "504^^^GEN^MR", visit="V4"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request, tmp_path):
    """Two new, empty databases of the store the test is run on."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / name}.db" for name in ("one", "two")]
        return
    testing = pytest.importorskip("carecore_postgres.testing", reason="needs carecore-postgres")
    server = request.getfixturevalue("postgres_server")
    with testing.fresh_database(server) as one, testing.fresh_database(server) as two:
        yield [one, two]


def _program(url):
    clock = FixedClock(pendulum.datetime(2026, 3, 4, 12, tz="UTC"))
    return CareProgram.open(url, actor="t", clock=clock)


def _stored(program, outcomes):
    with program.transaction("check") as tx:
        return (
            [(o.code, o.duplicate, o.stored, o.patient_id, o.created_patient) for o in outcomes],
            sorted(tx.all(Patient), key=lambda x: x.id),
            sorted(tx.all(PatientLink), key=lambda x: (x.system, x.value)),
            sorted(tx.all(PatientAddress), key=lambda x: x.patient_id),
            sorted(tx.all(ContactPreferences), key=lambda x: x.patient_id),
            sorted(tx.all(AdtEvent), key=lambda x: x.id),
            sorted(tx.all(TransitionEpisode), key=lambda x: x.id),
            sorted(d.key for d in tx.all(DeadLetter)),
            sorted(
                (i.message for i in tx.outbox(status="pending", limit=1000)), key=lambda m: m.id
            ),
        )


def _inbound(program):
    with program.store.transaction(actor="t", reason="check", at=pendulum.now("UTC")) as tx:
        return sorted(tx._run("SELECT source, key FROM inbound").fetchall())


def test_a_group_commit_stores_what_one_message_at_a_time_stores(urls):
    stores = []
    for url, run in zip(
        urls,
        (
            lambda p: [handle_many(p, [m], time_zone="America/Chicago")[0] for m in FEED],
            lambda p: handle_many(p, FEED, time_zone="America/Chicago"),
        ),
        strict=True,
    ):
        with _program(url) as program:
            ada(program, Identifier(system="GEN", value="1234"))
            outcomes = run(program)
            stores.append((_stored(program, outcomes), _inbound(program)))
    assert stores[0] == stores[1]
    outcomes = stores[0][0][0]
    assert [o[0] for o in outcomes] == ["AA"] * 10 + ["AR", "AA"]
    assert [o[1] for o in outcomes] == [False, False, True, True] + [False] * 8
    # B7 named the patient B1 registered through the identifier B2 linked.
    assert outcomes[9][3] == outcomes[0][3]
    episodes = stores[0][0][6]
    assert any(e.close_kind is not None and e.close_kind.value == "died" for e in episodes)


def test_a_group_commit_reads_its_patients_once_and_writes_its_records_together(
    monkeypatch, tmp_path
):
    finds, adds, many, carrying = [], [], [], []
    guarded = _guard.GuardedTransaction
    one = guarded.patients_with_identifier
    monkeypatch.setattr(
        guarded,
        "patients_with_identifier",
        lambda self, system, value: carrying.append(value) or one(self, system, value),
    )
    find, add, add_many = guarded.find, guarded.add, guarded.add_many
    monkeypatch.setattr(
        guarded, "find", lambda self, k, **kw: finds.append(k.__name__) or find(self, k, **kw)
    )
    monkeypatch.setattr(
        guarded, "add", lambda self, r: adds.append(type(r).__name__) or add(self, r)
    )
    monkeypatch.setattr(
        guarded,
        "add_many",
        lambda self, rs: many.append(sorted({type(r).__name__ for r in rs})) or add_many(self, rs),
    )
    with _program(f"sqlite:///{tmp_path / 'few.db'}") as program:
        batch = [a03(f"F{n}", f"{600 + n}^^^GEN^MR", visit=f"V{n}") for n in range(8)]
        outcomes = handle_many(program, batch)
        assert [o.stored for o in outcomes] == [True] * 8
        with program.transaction("check") as tx:
            assert len(tx.all(TransitionEpisode)) == 8
    # Eight discharges of patients not registered yet: no read a message of the episodes,
    # the patient (its zone) or its contact preferences, nor of events under an old id,
    # nor of the patients carrying its identifier; the events and episodes are added in
    # one call.
    assert finds == []
    assert carrying == []
    assert adds == []
    assert many == [["AdtEvent", "TransitionEpisode"]]


def test_a_key_claimed_by_another_transaction_after_the_batch_looked_is_a_duplicate(urls):
    (url, _) = urls
    # What a second listener on the same PostgreSQL database can do between a batch's
    # look at its keys and its claim of them: the batch is stored again message by message.
    with _program(url) as program:
        assert handle_many(program, [a03("C1", "701^^^GEN^MR")])[0].stored
        real = ingest._Batch.read_ahead

        def blind(self, links, prepared):
            real(self, links, prepared)
            self.claimed = set()  # as if C1 had not been claimed when the batch looked

        ingest._Batch.read_ahead = blind
        try:
            outcomes = handle_many(
                program, [a03("C1", "701^^^GEN^MR"), a03("C2", "702^^^GEN^MR", visit="V2")]
            )
        finally:
            ingest._Batch.read_ahead = real
        assert [(o.code, o.duplicate, o.stored) for o in outcomes] == [
            ("AA", True, False),
            ("AA", False, True),
        ]
        with program.transaction("check") as tx:
            assert sorted(e.source_key for e in tx.all(AdtEvent)) == ["GEN/C1", "GEN/C2"]


def test_claims_of_many_keys_at_once(urls):
    (url, _) = urls
    with _program(url) as program:
        with program.transaction("claim") as tx:
            assert tx.inbound_claimed("hl7", ["k1", "k2"]) == set()
            tx.claim_inbound_many("hl7", ["k1", "k2"])
            assert tx.inbound_claimed("hl7", ["k1", "k3", "k2"]) == {"k1", "k2"}
            assert tx.inbound_claimed("fhir", ["k1"]) == set()
            assert tx.claim_inbound("hl7", "k1") is False
        with pytest.raises(errors.ConflictError), program.transaction("again") as tx:
            tx.claim_inbound_many("hl7", ["k3", "k2"])
        with program.transaction("check") as tx:
            # The failed claim took nothing: k3 is still free.
            assert tx.inbound_claimed("hl7", ["k3"]) == set()
            with pytest.raises(errors.InvalidValue):
                tx.inbound_claimed("hl7", " ")
            with pytest.raises(errors.InvalidValue):
                tx.inbound_claimed("hl7", [" "])


class _OnlyP1(AccessPolicy):
    def allows(self, request):
        return request.action is not Action.READ or request.patient_id in {None, "p1"}


def test_the_patients_carrying_many_identifiers_at_once(urls):
    (url, _) = urls
    with _program(url) as program:
        with program.transaction("register") as tx:
            a, b = Identifier(system="GEN", value="A"), Identifier(system="GEN", value="B")
            tx.add(attrs.evolve(make_patient("p1"), identifiers=(a,)))
            tx.add(attrs.evolve(make_patient("p2"), identifiers=(a, b)))
        with program.transaction("look") as tx:
            before = tx.audit_entries()[-1].seq
            found = tx.patients_with_identifiers([("GEN", "A"), ("GEN", "B"), ("X", "A")])
            reads = [(e.action, e.detail) for e in tx.audit_entries(after=before)]
            with pytest.raises(errors.InvalidValue):
                tx.patients_with_identifiers("GEN")
        assert found == {("GEN", "A"): ["p1", "p2"], ("GEN", "B"): ["p2"], ("X", "A"): []}
        assert reads == [("read", "ids of 2 patients by 3 identifiers")]
        # Through a policy that lets the actor read p1 only: p2 is left out, as
        # patients_with_identifier leaves it out, and all refused is a denial.
        limited = CareProgram(program.store, actor="nurse", policy=_OnlyP1())
        with limited.transaction("look") as tx:
            assert tx.patients_with_identifiers([("GEN", "A"), ("GEN", "B")]) == {
                ("GEN", "A"): ["p1"],
                ("GEN", "B"): [],
            }
        with pytest.raises(errors.AccessDenied), limited.transaction("look") as tx:
            tx.patients_with_identifiers([("GEN", "B")])


def test_an_event_is_built_once_under_the_id_its_patient_gets(program, monkeypatch):
    """A prepared event is filed under the id a patient registered from PID-3 gets; storing
    it builds it again under another id only when the identifiers name another patient."""
    ada(program, Identifier(system="GEN", value="1234"))
    rebuilt = []
    real = attrs.evolve

    def evolve(record, **changes):
        if isinstance(record, AdtEvent):
            rebuilt.append(sorted(changes))
        return real(record, **changes)

    monkeypatch.setattr(ingest.attrs, "evolve", evolve)
    new = ingest.prepare(a03("E1", "777^^^GEN^MR"), time_zone=None)
    assert new.event.patient_id == ingest._patient_id(Identifier(system="GEN", value="777"))
    known = ingest.prepare(a03("E2", "1234^^^GEN^MR"), time_zone=None)
    outcomes = ingest.store_prepared(program, [new, known], time_zone=None)
    assert [o.patient_id for o in outcomes] == [new.event.patient_id, "ada"]
    assert rebuilt == [["patient_id"]]  # Ada's event only
    with program.transaction("check") as tx:
        stored = {e.source_key: e.patient_id for e in tx.all(AdtEvent)}
    assert stored == {"GEN/E1": new.event.patient_id, "GEN/E2": "ada"}
