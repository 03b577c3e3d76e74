"""Group commit: the writer waits a moment for connections it has just answered.

A sender that waits for each ACK sends its next message right after the
ACK. Without that wait, the first message back went into a commit of its own
and the others into the next one: with four senders, batches of 1 and 3 in
turn, twice the commits needed.
"""

from __future__ import annotations

import asyncio

from carecore_hl7v2 import listener
from carecore_hl7v2.listener import _Committer
from test_intake import a03


def _batches(monkeypatch, program, gather, script):
    """The sizes of the batches the writer stores while *script* (an async function) runs."""
    sizes = []
    real = listener.store_prepared

    def store(program, items, **settings):
        sizes.append(len(items))
        return real(program, items, **settings)

    monkeypatch.setattr(listener, "store_prepared", store)

    async def main():
        committer = _Committer(program, "", 64, gather=gather)
        writer = asyncio.create_task(committer.run())
        try:
            await script(committer)
        finally:
            writer.cancel()
            await committer.close()

    asyncio.run(main())
    return sizes


class _Sender:
    """A connection as the committer sees it: it is given its message's outcome.

    The same sender as its name (what the tests mark answered or gone).
    """

    def __init__(self, name):
        self.name = name
        self.outcome = asyncio.get_running_loop().create_future()

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return other == self.name if isinstance(other, str) else other.name == self.name

    def answer(self, outcome):
        self.outcome.set_result(outcome)

    def fail(self, exc):
        self.outcome.set_exception(exc)


def _send(committer, sender, n, delay=0.0):
    async def later():
        await asyncio.sleep(delay)
        waiting = _Sender(sender)
        committer.take(a03(f"G{n}", f"P{n}^^^GEN^MR").encode(), waiting)
        outcome = await waiting.outcome
        assert outcome.code == "AA"
        committer.was_answered(sender)

    return asyncio.create_task(later())


def test_messages_from_just_answered_senders_share_one_commit(monkeypatch, program):
    async def script(committer):
        for sender in "ABCD":
            committer.was_answered(sender)
        # A sends at once; the others a little later, as their ACKs reach them.
        await asyncio.gather(*(_send(committer, s, n, 0.02 * n) for n, s in enumerate("ABCD")))

    # The wait ends when all four are in, long before the generous limit.
    assert _batches(monkeypatch, program, 30.0, script) == [4]


def test_without_the_wait_the_first_message_commits_alone(monkeypatch, program):
    async def script(committer):
        for sender in "AB":
            committer.was_answered(sender)
        await asyncio.gather(_send(committer, "A", 0), _send(committer, "B", 1, 0.2))

    assert _batches(monkeypatch, program, 0.0, script) == [1, 1]


def test_a_silent_connection_is_waited_for_briefly_and_a_closed_one_not_at_all(
    monkeypatch, program
):
    async def script(committer):
        committer.was_answered("quiet")  # answered, never sends again
        committer.was_answered("closed")
        committer.gone("closed")
        await _send(committer, "A", 0)
        # The second message comes after the first's wait has ended: a commit of its own.
        await _send(committer, "A", 1)

    assert _batches(monkeypatch, program, 0.05, script) == [1, 1]


def test_a_sender_answered_long_ago_is_not_waited_for(monkeypatch, program):
    async def script(committer):
        committer.was_answered("B")
        await asyncio.sleep(0.1)  # longer than the wait: B is no longer expected
        await _send(committer, "A", 0)

    assert _batches(monkeypatch, program, 0.05, script) == [1]
