"""The deposit writer (service/deposits/writer.py): submissions committed together give each the
answer it would get alone, and a group that fails as a whole is redone one by one."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from service import audit
from service.api.deps import AppState
from service.client import signed_request
from service.deposits import service as deposits
from service.deposits.models import Deposit
from service.deposits.writer import SubmissionWriter
from svc_support import confirmation
from wait_support import join


def _writer(env) -> SubmissionWriter:
    state = AppState(settings=env.settings, db=env.db, policy=env.policy, clock=env.clock)
    return SubmissionWriter(state, max_batch=64)


def _body(bank, reference: str, **fields) -> bytes:
    return json.dumps(signed_request(confirmation(reference, **fields), bank.key_id, bank.seed)).encode()


def _submit_together(env, writer, submissions):
    """Submits (authorization, body) pairs while another transaction holds the database's write
    lock, so that the writer finds them all queued; the answers, in order."""
    holding, release = threading.Event(), threading.Event()

    def hold_write_lock() -> None:
        with env.db.transaction() as session:
            session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: the write lock is ours
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    assert holding.wait(30)

    async def run():
        tasks = [asyncio.ensure_future(writer.submit(auth, body)) for auth, body in submissions]
        # One turn of the loop runs each task up to its wait for the answer: `submit` queues its
        # job before its first await, so every job is queued then (asyncio runs the tasks created
        # before this sleep first), none answered while the lock is held.
        await asyncio.sleep(0)
        assert not any(task.done() for task in tasks)
        release.set()
        return await asyncio.gather(*tasks)

    try:
        return asyncio.run(run())
    finally:
        release.set()
        join(holder)
        writer.close()


def _status(answer) -> tuple[int, str]:
    if answer.error is not None:
        return answer.error.status_code, answer.error.code
    return (201 if answer.created else 200), answer.deposit.status


def test_a_group_answers_each_submission_as_if_alone(env):
    bank = env.add_bank()
    other = env.add_bank("boc")
    auth = f"Bearer {bank.api_key}"
    forged = json.loads(_body(bank, "F-1"))
    forged["confirmation"]["amount"] = "9999.00"
    submissions = [
        (auth, _body(bank, "A-1")),  # accepted
        (auth, json.dumps(forged).encode()),  # signature does not verify
        (f"Bearer {other.api_key}", _body(bank, "W-1")),  # another bank's confirmation
        (auth, _body(bank, "A-2", id_number="110105194912310022")),  # accepted
        (auth, _body(bank, "A-1")),  # identical replay of A-1, in the same group
        (auth, _body(bank, "A-1", amount="5.00")),  # same reference, other content
        (auth, _body(bank, "Q-1", amount="49500.00")),  # beyond A-1's resident's quota: recorded
        ("Bearer ushk_bk_unknown", _body(bank, "U-1")),  # unknown API key
        (auth, b'{"confirmation": {}, "key_id": "k", "signature": "s", "extra": 1}'),  # bad body
        (auth, _body(bank, "A-3", id_number="110105194912310023")),  # accepted after refusals
    ]
    writer = _writer(env)
    answers = _submit_together(env, writer, submissions)
    assert [_status(a) for a in answers] == [
        (201, "accepted"),
        (403, "invalid_signature"),
        (403, "invalid_signature"),
        (201, "accepted"),
        (200, "accepted"),
        (409, "reference_conflict"),
        (422, "quota_exceeded"),
        (401, "unauthenticated"),
        (422, "validation_error"),
        (201, "accepted"),
    ]
    assert writer.stats.largest_group >= len(submissions) - 1
    assert writer.stats.submissions == len(submissions)
    assert answers[4].deposit == answers[0].deposit  # the replay is the stored deposit
    with env.db.reading() as session:
        stored = {d.reference: d.status for d in session.scalars(select(Deposit))}
        assert stored == {"A-1": "accepted", "A-2": "accepted", "A-3": "accepted", "Q-1": "rejected"}
        assert audit.verify(session).ok


def test_a_group_that_fails_as_a_whole_is_redone_one_by_one(env, monkeypatch):
    bank = env.add_bank()
    auth = f"Bearer {bank.api_key}"
    real_submit = deposits.submit

    def submit(session, *, request, **kwargs):
        if request.confirmation.reference == "BAD":
            raise OperationalError("INSERT", {}, RuntimeError("disk I/O error"))
        return real_submit(session, request=request, **kwargs)

    monkeypatch.setattr(deposits, "submit", submit)
    submissions = [
        (auth, _body(bank, ref, id_number=f"11010519491231{n:04d}"))
        for n, ref in enumerate(["G-1", "G-2", "BAD", "G-3"])
    ]
    writer = _writer(env)
    answers = _submit_together(env, writer, submissions)
    assert [_status(a) for a in answers if a.error is None] == [(201, "accepted")] * 3
    assert isinstance(answers[2].error, OperationalError)
    with env.db.reading() as session:
        assert sorted(session.scalars(select(Deposit.reference))) == ["G-1", "G-2", "G-3"]
        assert audit.verify(session).ok
    # the group's transaction, then one transaction for each good submission
    assert writer.stats.transactions == 3


@pytest.mark.parametrize("size", [1, 4])  # at most 4 residents per beneficiary (splitting rule)
def test_the_writer_restarts_after_close(env, size):
    bank = env.add_bank()
    writer = _writer(env)
    auth = f"Bearer {bank.api_key}"
    for round_ in range(2):
        bodies = [
            (
                auth,
                _body(
                    bank,
                    f"R{round_}-{n}",
                    id_number=f"1101051949123{round_}{n:04d}",
                    beneficiary=f"0x{0xB0 + round_:040x}",
                ),
            )
            for n in range(size)
        ]
        answers = _submit_together(env, writer, bodies)
        assert [_status(a) for a in answers] == [(201, "accepted")] * size
