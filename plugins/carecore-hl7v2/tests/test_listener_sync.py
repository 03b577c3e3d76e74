"""The listener commits a batch without waiting for the disk, goes on, and ACKs the batch only
once the store has synced its write-ahead log; SQLite's unsynced commits and sync."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pendulum
import pytest
from test_listener import A03, P1, Listener, exchange

from carecore import errors
from carecore.model import AdtEvent, Credential, Practitioner
from carecore.storage.sqlite import SqliteStore

AT = pendulum.datetime(2026, 3, 4, 12, tz="UTC")


def _synchronous(store):
    return store._connection().execute("PRAGMA synchronous").fetchone()[0]


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(f"sqlite:///{tmp_path / 's.db'}")
    store.initialize()
    yield store
    store.close()


def _add(store, pid):
    with store.transaction(actor="t", reason="test", at=AT) as tx:
        tx.add(Practitioner(id=pid, name="Dr. Ruiz", credential=Credential.MD))
        return _synchronous(store)


def test_transactions_in_the_block_commit_without_the_sync_and_others_with_it(store):
    full, normal = 2, 1
    assert _add(store, "d1") == full
    with store.unsynced():
        assert _add(store, "d2") == normal
        # Another thread's transaction, while this one is in the block, waits for the disk.
        seen = []
        other = threading.Thread(target=lambda: seen.append(_add(store, "d3")))
        other.start()
        other.join()
        assert seen == [full]
        assert _synchronous(store) == full  # between transactions too
    assert _add(store, "d4") == full
    with store.transaction(actor="t", reason="check", at=AT) as tx:
        assert len(tx.all(Practitioner)) == 4


def test_a_transaction_that_fails_in_the_block_leaves_commits_durable(store):
    with store.unsynced():
        _add(store, "d1")
        with pytest.raises(errors.ConflictError):
            _add(store, "d1")
        assert _synchronous(store) == 2


def test_sync_syncs_the_write_ahead_log(store, monkeypatch):
    synced = []
    real = getattr(os, "fdatasync", os.fsync)

    def recording(fd):
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        real(fd)

    monkeypatch.setattr(os, "fdatasync", recording)
    with store.unsynced():
        _add(store, "d1")
    store.sync()
    assert synced == [f"{store.path}-wal"]


def test_a_sync_the_disk_refuses_is_a_store_unavailable(store, monkeypatch):
    def refusing(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", refusing)
    with pytest.raises(errors.StoreUnavailable) as caught:
        store.sync()
    assert caught.value.field == "url"


def test_a_store_in_memory_has_nothing_to_sync():
    store = SqliteStore("memory://")
    store.initialize()
    with store.unsynced():
        assert _add(store, "d1") == 2  # FULL, as ever: nothing to sync later
    store.sync()
    store.close()


def test_the_ack_waits_for_the_sync_and_the_batch_is_committed_before_it(program, monkeypatch):
    store = program.store
    started, release = threading.Event(), threading.Event()
    seen = []

    def sync():
        # The batch is committed (another connection sees it) before its sync.
        other = SqliteStore(store.url)
        with other.transaction(actor="t", reason="peek", at=AT) as tx:
            seen.append(len(tx.find(AdtEvent, patient_id=P1)))
        other.close()
        started.set()
        assert release.wait(10)
        SqliteStore.sync(store)

    monkeypatch.setattr(store, "sync", sync)
    with Listener(program) as listener:
        replies = []
        sender = threading.Thread(target=lambda: replies.extend(exchange(listener.port, A03)))
        sender.start()
        assert started.wait(10)
        sender.join(0.3)
        assert sender.is_alive()  # no ACK while the sync is under way
        assert replies == []
        release.set()
        sender.join(10)
    assert seen == [1]
    assert "MSA|AA|MSG42" in replies[0]


def test_a_failed_sync_sends_no_ack_and_a_resend_is_a_duplicate(program, monkeypatch):
    store = program.store
    calls = []

    def sync():
        calls.append(1)
        if len(calls) == 1:
            raise errors.StoreUnavailable("disk error", field="url", value=store.url)
        SqliteStore.sync(store)

    monkeypatch.setattr(store, "sync", sync)
    with Listener(program) as listener:
        with socket.create_connection(("127.0.0.1", listener.port)) as s:
            s.sendall(b"\x0b" + A03.encode() + b"\x1c\r")
            s.settimeout(10)
            assert s.recv(65536) == b""  # closed without an ACK
        (again,) = exchange(listener.port, A03)
    assert "MSA|AA|MSG42" in again
    assert [o.duplicate for o in listener.outcomes] == [True]
    with program.transaction("check") as tx:
        assert len(tx.find(AdtEvent, patient_id=P1)) == 1
