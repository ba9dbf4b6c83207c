"""The minter's batch paths stay exact when batched: quota holds committed by one executemany
(all or nothing), the bank read once per transaction for webhooks, mintBatch calldata encoded
once straight from the ABI (found by bench/throughput.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from service.deposits import outbox
from service.deposits.ids import deposit_id_for
from service.models import QuotaUsage
from service.quota import repository as quota_repository
from service.webhooks.models import WebhookDelivery
from svc_support import accept

TX = "0x" + "ab" * 32


def usage_sums(env) -> tuple[int, int]:
    with env.db.reading() as session:
        return tuple(
            session.execute(
                select(func.sum(QuotaUsage.held_cents), func.sum(QuotaUsage.committed_cents))
            ).one()
        )


def holds_of(env) -> list[tuple[str, str, str, int]]:
    with env.db.reading() as session:
        return [
            (u.resident_hash, u.category, u.period, u.held_cents)
            for u in session.scalars(select(QuotaUsage).order_by(QuotaUsage.resident_hash))
        ]


def test_mark_minted_commits_every_hold_of_a_batch(env):
    bank = env.add_bank()
    seqs = accept(env, bank, 7)  # three residents: some appear two or three times in the batch
    with env.db.transaction() as session:
        outbox.claim_batch(session, 7)
    with env.db.transaction() as session:
        outbox.mark_minted(session, seqs, TX, 1)
    assert usage_sums(env) == (0, 70_000)


def _refuses_missing_or_short_holds(env):
    bank = env.add_bank()
    accept(env, bank, 3)
    before = usage_sums(env)
    holds = holds_of(env)
    missing = [*holds, ("00" * 32, "mainland", holds[0][2], 1)]
    short = [*holds[:-1], (*holds[-1][:3], holds[-1][3] + 1)]
    for bad in (missing, short):
        with (
            pytest.raises(RuntimeError, match="quota hold to commit not found"),
            env.db.transaction() as session,
        ):
            quota_repository.commit_holds(session, bad)
        assert usage_sums(env) == before  # rolled back: nothing committed
    with env.db.transaction() as session:
        quota_repository.commit_holds(session, holds)
    assert usage_sums(env) == (0, before[0])


def test_commit_holds_is_all_or_nothing(env):
    _refuses_missing_or_short_holds(env)


@pytest.mark.postgres
def test_commit_holds_is_all_or_nothing_on_postgres(pg_env):
    _refuses_missing_or_short_holds(pg_env)


def test_webhook_enqueue_reads_the_bank_once_per_transaction(env):
    bank = env.add_bank(webhook_url="http://127.0.0.1:9/hook")
    seqs = accept(env, bank, 12)
    bank_reads = []

    def count(conn, cursor, statement, *args):
        if "FROM banks" in statement:
            bank_reads.append(statement)

    event.listen(env.db.engine, "before_cursor_execute", count)
    try:
        with env.db.transaction() as session:
            outbox.claim_batch(session, 12)
        with env.db.transaction() as session:
            outbox.mark_minted(session, seqs, TX, 2)
    finally:
        event.remove(env.db.engine, "before_cursor_execute", count)
    assert len(bank_reads) == 2  # one per transaction, not one per deposit
    with env.db.reading() as session:
        queued = session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert queued == 12 * 3  # accepted, minting, minted for each deposit


def test_mint_batch_calldata_matches_web3():
    from service.chain.token import Token, encode_call

    token = Token("http://127.0.0.1:9", "0x" + "11" * 20)
    recipients = ["0x5B38Da6a701c568545dCfcB03FcB875f56beddC4", "0xAb8483F64d9C6d1EcF9b849Ae677dD3315835cb2"]
    args = (recipients, [100 * 10**6, 1], [deposit_id_for(1), deposit_id_for(2)])
    expected = token.contract.functions.mintBatch(*args)._encode_transaction_data()
    assert "0x" + encode_call("mintBatch", *args).hex() == expected
