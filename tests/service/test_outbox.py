"""The mint outbox used by the minter (service/chain/)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from service.deposits import outbox
from service.deposits.ids import deposit_id_for, deposit_id_hex
from service.deposits.models import MintBatch
from service.models import AuditEntry, BankDailyUsage, QuotaUsage
from svc_support import accept

TX = "0x" + "ab" * 32
TX2 = "0x" + "cd" * 32


def statuses(env):
    with env.db.reading() as session:
        return dict(session.execute(text("SELECT id, status FROM deposits ORDER BY id")).all())


def test_claim_send_mint(env):
    bank = env.add_bank(daily_limit_cents=10_000_000)
    seqs = accept(env, bank, 5)
    with env.db.transaction() as session:
        first = outbox.claim_batch(session, 3)
        assert [d.id for d in first] == seqs[:3]
        batch_id = first[0].mint_batch_id
        assert all(d.status == "minting" and d.mint_batch_id == batch_id for d in first)
        assert first[0].deposit_id == deposit_id_for(seqs[0])
        assert first[0].onchain_amount == 100 * 10**6  # $100.00 at 6 decimals
    with env.db.reading() as session:
        batch = session.get(MintBatch, batch_id)
        assert (batch.status, batch.tx_hash, batch.nonce) == ("claimed", None, None)
        assert batch.seqs == seqs[:3]
        assert [b.id for b in outbox.in_flight_batches(session)] == [batch_id]
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, TX, 7)
    with env.db.reading() as session:
        batch = outbox.in_flight_batches(session)[0]
        assert (batch.status, batch.tx_hash, batch.nonce) == ("sent", TX, 7)
    # Ids from chain events (bytes32), hex strings and seqs all work.
    with env.db.transaction() as session:
        outbox.mark_minted(session, [deposit_id_for(seqs[0]), deposit_id_hex(seqs[1]), seqs[2]], TX, 1234)
    assert [statuses(env)[s] for s in seqs] == ["minted"] * 3 + ["accepted"] * 2
    with env.db.reading() as session:
        assert outbox.in_flight_batches(session) == []
        assert session.get(MintBatch, batch_id).status == "closed"
        usage = session.scalars(select(QuotaUsage)).all()
        assert sum(u.committed_cents for u in usage) == 30_000
        assert sum(u.held_cents for u in usage) == 20_000
        kinds = [e.kind for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert kinds.count("deposit.minted") == 3 and kinds.count("quota.committed") == 3
        assert "mint.batch_claimed" in kinds and "mint.batch_sent" in kinds
    # Idempotent for the same tx; refused for another.
    with env.db.transaction() as session:
        outbox.mark_minted(session, [seqs[0]], TX, 1234)
    with pytest.raises(outbox.OutboxError), env.db.transaction() as session:
        outbox.mark_minted(session, [seqs[0]], TX2, 1235)


def test_requeue_and_reject(env):
    bank = env.add_bank(daily_limit_cents=10_000_000)
    seqs = accept(env, bank, 4)
    with env.db.transaction() as session:
        claimed = outbox.claim_batch(session, 4)
        batch_id = claimed[0].mint_batch_id
    with env.db.transaction() as session:
        outbox.requeue(session, seqs[:2])
        outbox.mark_rejected(session, seqs[2:3], "mint_reverted", "the token refused it")
    assert statuses(env) == {
        seqs[0]: "accepted",
        seqs[1]: "accepted",
        seqs[2]: "rejected",
        seqs[3]: "minting",
    }
    with env.db.reading() as session:
        assert [b.id for b in outbox.in_flight_batches(session)] == [batch_id]
        assert [d.id for d in outbox.batch_deposits(session, batch_id)] == seqs[2:]
        usage = session.scalars(select(QuotaUsage)).all()
        assert sum(u.held_cents for u in usage) == 30_000  # the rejected hold is released
        daily = session.scalars(select(BankDailyUsage)).one()
        assert daily.total_cents == 30_000
    # A requeued deposit is claimed again, in a new batch, oldest first.
    with env.db.transaction() as session:
        again = outbox.claim_batch(session, 10)
        assert [d.id for d in again] == seqs[:2]
        assert again[0].mint_batch_id != batch_id
    with env.db.transaction() as session:
        outbox.mark_rejected(session, seqs[2:3], "mint_reverted", "again")  # no-op
        with pytest.raises(outbox.OutboxError):
            outbox.mark_minted(session, seqs[2:3], TX, 1)
    with pytest.raises(outbox.OutboxError), env.db.transaction() as session:
        outbox.requeue(session, seqs[2:3])


def test_claim_nothing_and_bad_arguments(env):
    with env.db.transaction() as session:
        assert outbox.claim_batch(session, 10) == []
        assert session.scalars(select(MintBatch)).all() == []
        with pytest.raises(ValueError):
            outbox.claim_batch(session, 0)
        with pytest.raises(outbox.OutboxError):
            outbox.record_batch_sent(session, 999, TX, 1)
        with pytest.raises(ValueError):
            outbox.record_batch_sent(session, 1, "0x1234", 1)
        with pytest.raises(outbox.OutboxError):
            outbox.mark_minted(session, [424242], TX, 1)
        with pytest.raises(ValueError):
            outbox.mark_minted(session, [bytes(32)], TX, 1)


def test_mark_minted_from_accepted_for_reconciliation(env):
    """After a crash between broadcast and bookkeeping the chain may show a mint of a deposit
    that was requeued; the minter records it as minted."""
    bank = env.add_bank()
    (seq,) = accept(env, bank, 1)
    with env.db.transaction() as session:
        outbox.mark_minted(session, [seq], TX, 9)
    assert statuses(env)[seq] == "minted"


def test_webhooks_queued_for_every_status_change(env):
    bank = env.add_bank(webhook_url="http://127.0.0.1:9/hook")
    (seq,) = accept(env, bank, 1)
    with env.db.transaction() as session:
        outbox.claim_batch(session, 1)
    with env.db.transaction() as session:
        outbox.requeue(session, [seq])
    with env.db.transaction() as session:
        outbox.claim_batch(session, 1)
    with env.db.transaction() as session:
        outbox.mark_minted(session, [seq], TX, 5)
    with env.db.reading() as session:
        payloads = [
            json.loads(p) for p in session.scalars(text("SELECT payload FROM webhook_deliveries ORDER BY id"))
        ]
    assert [p["deposit"]["status"] for p in payloads] == [
        "accepted",
        "minting",
        "accepted",
        "minting",
        "minted",
    ]
    assert payloads[-1]["deposit"]["tx_hash"] == TX
