"""The claims a snapshot's liabilities tree is built from, read from the reserve ledger on SQLite
and PostgreSQL: redemptions less their settled payouts, and returned deposits; their Merkle-sum
root totals the ledger's pending payouts plus refunds due."""

from __future__ import annotations

import datetime as dt

import pytest

from service import ledger, merkle_sum
from service.banks import repository as banks
from service.redemptions.models import Payout
from service.snapshots.service import Claim, SnapshotRefused, claims

HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


def redeem(session, redemption_id: int, cents: int) -> None:
    ledger.record_redemption(
        session,
        redemption_id=redemption_id,
        units=cents * 10_000,
        holder=HOLDER,
        tx_hash="0x" + "ab" * 32,
        block_number=10 + redemption_id,
        actor="test",
    )


def settled_payout(payout_id: int, *, redemption_id: int, cents: int) -> Payout:
    return Payout(
        id=payout_id,
        redemption_id=redemption_id,
        tx_hash="0x" + "ab" * 32,
        block_number=10 + redemption_id,
        log_index=0,
        holder=HOLDER,
        amount_units=str(cents * 10_000),
        amount_cents=cents,
        dust_units=0,
        payout_ref="0x" + f"{payout_id:064x}",
        status="settled",
        due_at=dt.datetime(2026, 12, 4, tzinfo=dt.UTC),
    )


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_claims_are_the_unpaid_redemptions_and_they_total_the_ledger(database, request) -> None:
    env = request.getfixturevalue("env" if database == "sqlite" else "pg_env")
    bank = env.add_bank()
    with env.db.transaction() as session:
        for redemption_id, cents in ((1, 1_000), (2, 250), (3, 75)):
            redeem(session, redemption_id, cents)
        session.add(settled_payout(7, redemption_id=1, cents=1_000))
    with env.db.transaction() as session:
        found = banks.get_bank_by_name(session, bank.name)
        assert found is not None
        bank_id = found.id
        ledger.record_payout_settled(session, bank_id=bank_id, amount_cents=1_000, payout_id=7, actor="test")
    with env.db.reading() as session:
        owed = claims(session)
        b = ledger.balances(session)
    assert owed == [Claim("payout", "2", 250), Claim("payout", "3", 75)]
    top = merkle_sum.root([c.leaf() for c in owed])
    assert top.sum == b.pending_payouts + b.refunds_due == 325
    with env.db.transaction() as session:  # a settlement naming no payout row: refused
        ledger.record_payout_settled(session, bank_id=bank_id, amount_cents=75, payout_id=99, actor="test")
    with env.db.reading() as session, pytest.raises(SnapshotRefused, match="99"):
        claims(session)


def test_a_claim_paid_out_beyond_what_was_owed_is_refused(env) -> None:
    bank = env.add_bank()
    with env.db.transaction() as session:
        redeem(session, 5, 100)
        session.add(settled_payout(8, redemption_id=5, cents=100))
    with env.db.transaction() as session:
        found = banks.get_bank_by_name(session, bank.name)
        assert found is not None
        ledger.record_payout_settled(session, bank_id=found.id, amount_cents=150, payout_id=8, actor="test")
    with env.db.reading() as session, pytest.raises(SnapshotRefused, match="more than it owed on payout 5"):
        claims(session)
