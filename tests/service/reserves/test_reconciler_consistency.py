"""The reconciler compares one database snapshot with the chain at one pinned block, so a
commit landing while it reads never makes a false finding; a real unbacked mint or shortfall
still halts at the first pass; and a resume runs a fresh reconciliation first, so a halt that
no longer measures anything is closed without a lasting offset. On SQLite and PostgreSQL, on
anvil.

The commits are injected deterministically: the reconciler's own read of the ledger calls back
into the test, which commits on another connection before the read goes on."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from chain_support import UNITS_PER_USD
from reserve_support import block_on_top, halted, reconcile
from service import ledger
from service.chain.token import load_account
from service.deposits import outbox
from service.minting.minter import Minter
from service.models import AuditEntry
from service.reserves import service as reserves
from service.reserves.attestor import Attestor
from service.reserves.reconciler import Reconciler
from service.reserves.resume import AcknowledgementMismatch, resume_minting
from svc_support import accept

USD = UNITS_PER_USD


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request):
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


@pytest.fixture
def parts(db_env, deployed):
    """(env, token, minter, attestor, reconciler) on the parametrised database."""
    token = deployed.token()
    attestor = Attestor(db_env.db, token, load_account(deployed.attestor.private_key))
    minter = Minter(
        db_env.db,
        token,
        load_account(deployed.minter.private_key),
        attestor=attestor,
        batch_size=50,
        poll_seconds=0.05,
        from_block=deployed.from_block,
        max_in_flight=1,
    )
    reconciler = Reconciler(
        db_env.db, token, pauser=load_account(deployed.pauser.private_key), from_block=deployed.from_block
    )
    yield db_env, token, minter, attestor, reconciler
    minter.lease.release()


def mine_unsettled(env, token, minter, attestor, limit: int):
    """Claims, signs, records and mines a batch without marking it minted: (seqs, receipt)."""
    with env.db.transaction() as session:
        deposits = outbox.claim_batch(session, limit)
        items = [(d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
        seqs, batch_id = [d.id for d in deposits], deposits[0].mint_batch_id
    attestor.ensure_covers(sum(i[1] for i in items))
    signed = token.build_mint_batch(minter.signer, items, token.pending_nonce(minter.signer.address))
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
    token.send_raw(signed)
    receipt = token.wait_receipt(signed.tx_hash)
    assert receipt.status == 1
    return seqs, receipt


def inject_once(monkeypatch, name: str, commit) -> list:
    """Makes `ledger.<name>`, which the reconciler calls inside its read snapshot, run `commit`
    (on other connections, committed) the first time, before it reads. Returns the list that
    records the injection."""
    original = getattr(ledger, name)
    done: list = []

    def wrapped(*args, **kwargs):
        if not done:
            done.append(commit())
        return original(*args, **kwargs)

    monkeypatch.setattr(ledger, name, wrapped)
    return done


def test_markMintedCommitsBetweenTheReads_isCountedOnce(parts, monkeypatch):
    """A batch mined before the pass and marked minted while the pass reads: in the snapshot it
    is in flight (its Minted event at a block <= N), not also posted."""
    env, token, minter, attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 4)
    seqs, receipt = mine_unsettled(env, token, minter, attestor, 3)

    def mark_minted():
        with env.db.transaction() as session:
            outbox.mark_minted(session, seqs, receipt.tx_hash, receipt.block_number)
        return "marked"

    done = inject_once(monkeypatch, "supply_units", mark_minted)
    result = reconcile(reconciler)
    assert done == ["marked"]  # the commit really landed inside the pass
    assert result.ok, result.findings
    assert (result.in_flight_units, result.ledger_supply_units) == (300 * USD, 0)
    assert result.supply_units == 300 * USD and not halted(env)
    again = reconcile(reconciler)
    assert again.ok and (again.in_flight_units, again.ledger_supply_units) == (0, 300 * USD)


def test_wholeMintCycleCommittedWhileThePassReads_isNotInItsBlock(parts, monkeypatch):
    """A batch claimed, attested, mined and marked minted after the pass pinned its block: the
    chain at that block does not have it, and neither does the snapshot."""
    env, token, minter, attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 5)
    minter.batch_size = 2
    assert minter.step() == 2

    def whole_cycle():
        before = token.block_number()
        minter.drain()
        assert token.block_number() > before
        return "minted"

    done = inject_once(monkeypatch, "unbalanced_postings", whole_cycle)
    result = reconcile(reconciler)
    assert done == ["minted"]
    assert result.ok, result.findings
    assert result.supply_units == result.ledger_supply_units == 200 * USD
    assert token.total_supply() == 500 * USD and not halted(env)
    assert reconcile(reconciler).ok


def test_unbackedMint_haltsAtTheFirstPass(parts, deployed):
    env, token, minter, attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 3)
    minter.batch_size = 2
    assert minter.step() == 2
    attestor.attest()  # covers the deposit still accepted: room on chain for the rogue mint
    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    deployed.contract.mint(deployed.holders[3], 7 * USD, os.urandom(32), sender=rogue)
    result = reconcile(reconciler)
    assert {f["code"] for f in result.findings} == {"unbacked_mint", "supply_mismatch"}
    assert result.difference_units == 7 * USD
    assert result.halt_created and halted(env) and token.minting_paused()


def test_custodyShortfall_haltsAtTheFirstPass(parts):
    env, token, minter, _attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 2)
    minter.drain()
    assert reconcile(reconciler).ok
    # 50.00 USD leave custody at the bank with no redemption behind them
    with env.db.transaction() as session:
        bank_id = ledger.balances(session).custody.popitem()[0]
        ledger.record_payout_settled(
            session, bank_id=bank_id, amount_cents=5_000, payout_id=999_999, actor="t"
        )
    result = reconcile(reconciler)
    assert {"reserves_below_supply", "attestation_above_reserves"} <= {f["code"] for f in result.findings}
    assert result.difference_units == 0  # the supply itself is explained
    assert result.halt_created and halted(env) and token.minting_paused()


def test_falseHalt_resume_closesItWithNothingAcknowledged_andNoSecondHalt(parts):
    env, token, minter, _attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 3)
    minter.drain()
    # a halt recorded for a difference that a consistent reconciliation does not measure
    with env.db.transaction() as session:
        reserves.halt(
            session,
            [{"code": "supply_mismatch", "message": "one batch counted twice"}],
            difference_units=-100 * USD,
            actor="reconciler",
        )
    block_on_top(token)
    with pytest.raises(AcknowledgementMismatch) as info:  # there is nothing to acknowledge
        resume_minting(
            env.db, cause="false halt", actor="t", reconciler=reconciler, acknowledge_units=-100 * USD
        )
    assert "No supply difference remains" in info.value.message and halted(env)
    row = resume_minting(
        env.db, cause="false halt: the batch was counted twice", actor="operator:alice", reconciler=reconciler
    )
    assert row.acknowledged_units == 0 and row.resume_block is not None and not halted(env)
    assert reconcile(reconciler).ok and not halted(env)
    with env.db.reading() as session:
        assert reserves.acknowledged_difference(session) == 0
        entry = session.scalars(select(AuditEntry).where(AuditEntry.kind == "minting.resumed")).one()
    assert '"difference_cleared":true' in entry.payload
    # later passes still find real differences: nothing was offset
    accept(env, bank, 1, prefix="Q")
    minter.drain()
    result = reconcile(reconciler)
    assert result.ok and result.acknowledged_units == 0


def test_aPassReadsTheChainOneBlockBelowTheHead(parts, deployed):
    """`pinned_block`: the head itself is never read (anvil can answer a call pinned to its
    newest block with the state of the block it is mining); a transaction is seen once a
    block is on top of it."""
    env, token, minter, attestor, reconciler = parts
    bank = env.add_bank()
    accept(env, bank, 1)
    attestor.attest()  # room on chain for the rogue mint
    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    receipt = deployed.contract.mint(deployed.holders[3], 2 * USD, os.urandom(32), sender=rogue)
    block_on_top(token)
    result = reconciler.reconcile_once()
    assert receipt.block_number <= result.block < token.block_number()
    assert not result.ok and halted(env)
