"""Helpers of the reserve tests."""

from __future__ import annotations

from sqlalchemy import func, select

from service import ledger
from service.chain.token import Token
from service.models import LedgerLine, LedgerPosting
from service.reserves import service as reserves


def balances(env) -> ledger.Balances:
    with env.db.reading() as session:
        return ledger.balances(session)


def assert_postings_balance(env) -> None:
    """Every posting's lines sum to zero, and so does the whole ledger."""
    with env.db.reading() as session:
        assert ledger.unbalanced_postings(session) == []
        assert session.scalar(select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))) == 0
        assert session.scalar(select(func.count()).select_from(LedgerPosting)) > 0


def assert_invariant(env, token: Token) -> None:
    """supply <= attested <= recorded reserves (custody), whenever there is an attestation."""
    b = balances(env)
    supply = token.total_supply()
    attestation = token.reserve_attestation()
    if attestation.timestamp:
        assert supply <= attestation.amount <= b.reserves * 10_000, (supply, attestation, b)
    assert supply <= b.reserves * 10_000
    assert b.attestable <= b.reserves


def halted(env) -> bool:
    with env.db.reading() as session:
        return reserves.minting_halted(session)


def block_on_top(token: Token) -> None:
    """Mines a block (anvil's `evm_mine`, on automine and on a block-time chain alike): the
    reconciler reads the chain one block below the head, so the last transaction a test made
    needs a block on top before a pass sees it."""
    reply = token.w3.provider.make_request("evm_mine", [])
    assert "error" not in reply, reply


def reconcile(reconciler, **kwargs):
    """One pass of `reconciler` that sees every transaction made so far."""
    block_on_top(reconciler.token)
    return reconciler.reconcile_once(**kwargs)
