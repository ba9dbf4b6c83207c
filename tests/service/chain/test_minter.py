"""The minter against a real anvil: deposits accepted over HTTP are minted exactly once, with
the crash points of the outbox recovered, and on-chain refusals diagnosed."""

from __future__ import annotations

import json
from collections import deque

import pytest
from sqlalchemy import select

from chain_support import UNITS_PER_USD, assert_chain_matches, audit_kinds, deposit, deposits_of
from service.chain.token import ChainRevert
from service.deposits import outbox
from service.models import QuotaUsage
from wait_support import join, wait_for


def test_minter_mintsAcceptedDepositsOnceAndCommitsQuota(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    holders = deployed.holders
    for i in range(7):
        deposit(client, holders[i % len(holders)].address, f"{100 + i}.25", resident="R1234567")
    minter.drain()
    token = deployed.token()
    deposits = deposits_of(env)
    assert [d.status for d in deposits] == ["minted"] * 7
    assert all(d.tx_hash and d.block_number for d in deposits)
    assert_chain_matches(env, deployed, token)
    for holder in holders:
        expected = sum(d.amount_cents * 10_000 for d in deposits if d.beneficiary == holder.address)
        assert token.balance_of(holder.address) == expected
    with env.db.reading() as session:
        usage = session.scalars(select(QuotaUsage)).all()
    assert sum(u.committed_cents for u in usage) == sum(d.amount_cents for d in deposits)
    assert sum(u.held_cents for u in usage) == 0
    # the status reaches the bank
    assert client.get_deposit(deposits[0].reference)["status"] == "minted"
    kinds = audit_kinds(env)
    assert "reserves.attested" in kinds and kinds.count("deposit.minted") == 7


def test_minter_batchesByBatchSize(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    minter.batch_size = 4
    for _ in range(10):
        deposit(client, deployed.holders[0].address)
    minter.drain()
    txs = {d.tx_hash for d in deposits_of(env)}
    assert len(txs) == 3  # 4 + 4 + 2


def test_minter_rejectsFrozenBeneficiaryAndMintsTheRest(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    frozen, fine = deployed.holders[0], deployed.holders[1]
    deployed.contract.freeze(frozen, sender=deployed.compliance)
    bad = deposit(client, frozen.address, "500.00")
    good = deposit(client, fine.address, "700.00")
    minter.drain()
    by_ref = {d.reference: d for d in deposits_of(env)}
    assert by_ref[bad["reference"]].status == "rejected"
    assert by_ref[bad["reference"]].rejection_code == "beneficiary_frozen"
    assert by_ref[good["reference"]].status == "minted"
    with env.db.reading() as session:
        usage = session.scalars(select(QuotaUsage)).all()
    assert sum(u.held_cents for u in usage) == 0  # the rejected hold was released
    assert sum(u.committed_cents for u in usage) == 70_000
    assert_chain_matches(env, deployed, deployed.token())


def test_minter_keepsDepositsQueuedWhileMintingPaused(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deployed.contract.pauseMinting(sender=deployed.pauser)
    deposit(client, deployed.holders[0].address)
    assert minter.step() == 0
    assert [d.status for d in deposits_of(env)] == ["accepted"]
    assert minter.stats.blocked_by == "minting_blocked_paused"
    assert "mint.blocked" in audit_kinds(env)
    deployed.contract.unpauseMinting(sender=deployed.pauser)
    minter.drain()
    assert [d.status for d in deposits_of(env)] == ["minted"]
    assert "mint.resumed" in audit_kinds(env)


def test_minter_attestsBeforeMintingAndNeverAboveRecordedReserves(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    token = deployed.token()
    assert token.reserve_attestation().timestamp == 0  # deployed without an attestation
    deposit(client, deployed.holders[2].address, "2500.00")
    minter.drain()
    attestation = token.reserve_attestation()
    assert attestation.amount == 2500 * UNITS_PER_USD == token.total_supply()
    # nothing more is attested than the service has recorded
    deposit(client, deployed.holders[2].address, "1.00")
    minter.drain()
    assert token.reserve_attestation().amount == 2501 * UNITS_PER_USD


def test_recover_requeuesAClaimedBatchThatWasNeverSent(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[0].address)
    with env.db.transaction() as session:
        outbox.claim_batch(session, 10)
    assert [d.status for d in deposits_of(env)] == ["minting"]
    minter.recover()
    assert [d.status for d in deposits_of(env)] == ["accepted"]
    minter.drain()
    assert [d.status for d in deposits_of(env)] == ["minted"]
    assert_chain_matches(env, deployed, deployed.token())


def _claim_and_sign(env, minter, deployed):
    with env.db.transaction() as session:
        deposits = outbox.claim_batch(session, 10)
        items = [(d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
        batch_id = deposits[0].mint_batch_id
    minter.attestor.ensure_covers(sum(i[1] for i in items))
    signed = minter.token.build_mint_batch(
        minter.signer, items, minter.token.pending_nonce(minter.signer.address)
    )
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
    return signed


def test_recover_marksMintedWhenTheTransactionLandedBeforeTheCrash(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    for _ in range(3):
        deposit(client, deployed.holders[1].address)
    signed = _claim_and_sign(env, minter, deployed)
    minter.token.send_raw(signed)
    minter.token.wait_receipt(signed.tx_hash)
    # the process "died" here: the receipt was never recorded
    assert {d.status for d in deposits_of(env)} == {"minting"}
    minter.recover()
    deposits = deposits_of(env)
    assert {d.status for d in deposits} == {"minted"} and {d.tx_hash for d in deposits} == {signed.tx_hash}
    minter.drain()  # nothing left, nothing minted again
    assert_chain_matches(env, deployed, deployed.token())


def test_recover_requeuesWhenTheRecordedTransactionNeverReachedTheChain(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[1].address)
    signed = _claim_and_sign(env, minter, deployed)  # recorded, never broadcast
    assert minter.token.receipt(signed.tx_hash) is None
    minter.recover()
    assert [d.status for d in deposits_of(env)] == ["accepted"]
    minter.drain()
    deposits = deposits_of(env)
    # signed again at the same nonce: the same deposits may well give the same transaction
    assert deposits[0].status == "minted" and minter.token.receipt(deposits[0].tx_hash).status == 1
    assert_chain_matches(env, deployed, deployed.token())


def test_minter_reconcilesADepositMintedBehindItsBack(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[3].address, "10.00")
    row = deposits_of(env)[0]
    minter.attestor.ensure_covers(row.onchain_amount)
    # the same deposit minted on chain by the minter key outside the outbox (e.g. an operator)
    deployed.contract.mint(row.beneficiary, row.onchain_amount, row.deposit_id, sender=deployed.minter)
    minter.drain()
    row = deposits_of(env)[0]
    assert row.status == "minted"
    assert_chain_matches(env, deployed, deployed.token())


def test_buildMintBatch_decodesCustomErrors(deployed):
    token = deployed.token()
    with pytest.raises(ChainRevert) as info:
        token.simulate_mint(deployed.holders[0].address, deployed.holders[0].address, 1, b"\x01" * 32)
    assert info.value.name == "NotMinter"
    assert info.value.args_[0].lower() == deployed.holders[0].address.lower()


def test_minterRun_survivesAnUnreachableNodeAndMintsOnceItIsBack(bank, deployed, workers):
    import threading

    from service.chain.token import Token

    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[0].address)
    real_token = minter.token
    minter.token = Token("http://127.0.0.1:9", deployed.token_address, timeout=0.5)  # nothing listens
    stop = threading.Event()
    thread = threading.Thread(target=minter.run, args=(stop,), daemon=True)
    thread.start()
    wait_for("the minter's first error on the unreachable node", lambda: minter.stats.errors, 10)
    assert thread.is_alive()
    assert [d.status for d in deposits_of(env)] == ["accepted"]
    minter.token = real_token
    minter.attestor.token = real_token
    wait_for("the deposit minted", lambda: deposits_of(env)[0].status == "minted", 40, interval=0.1)
    stop.set()
    join(thread, timeout=30)
    assert deposits_of(env)[0].status == "minted"
    assert_chain_matches(env, deployed, deployed.token())


def test_lease_letsOneMinterAtATimeMint(env, deployed, workers):
    from service.chain.leader import Lease

    minter, _ = workers
    assert minter.lease.acquire()
    other = Lease(env.db.engine, "minter")
    assert not other.acquire()
    minter.lease.release()
    assert other.acquire()
    other.release()


@pytest.mark.postgres
def test_lease_onPostgresIsAnAdvisoryLockReleasedWithItsConnection(pg_env):
    from service.chain.leader import Lease

    first, second = Lease(pg_env.db.engine), Lease(pg_env.db.engine)
    assert first.acquire() and first.acquire()  # re-entrant for its holder
    assert not second.acquire()
    first._conn.invalidate()  # the holder's connection dies, as with a killed process
    first._conn = None
    # the server ends the dead connection's backend, and with it the lock, asynchronously
    wait_for("the dead holder's lock to be released", second.acquire, timeout=10)
    second.release()


# ---- pipelining: several batches in flight --------------------------------------------------


def _claim_sign_record(env, minter, nonce, *, limit):
    """Claims `limit` deposits, signs their mintBatch at `nonce`, records it (not broadcast)."""
    with env.db.transaction() as session:
        deposits = outbox.claim_batch(session, limit)
        items = [(d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
        batch_id = deposits[0].mint_batch_id
    signed = minter.token.build_mint_batch(minter.signer, items, nonce)
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
    return signed


def test_minter_onABacklogSendsTheNextBatchBeforeSettlingTheFirst(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    minter.batch_size = 3
    for i in range(9):
        deposit(client, deployed.holders[i % len(deployed.holders)].address)
    assert minter.step() == 3  # two full batches sent, the first settled
    assert [d.status for d in deposits_of(env)] == ["minted"] * 3 + ["minting"] * 3 + ["accepted"] * 3
    with env.db.reading() as session:
        [open_batch] = outbox.in_flight_batches(session)
        assert open_batch.status == "sent" and open_batch.tx_hash
    minter.drain()
    deposits = deposits_of(env)
    assert [d.status for d in deposits] == ["minted"] * 9
    assert len({d.tx_hash for d in deposits}) == 3
    assert_chain_matches(env, deployed, deployed.token())
    # consecutive nonces, in batch order
    with env.db.reading() as session:
        from service.deposits.models import MintBatch

        nonces = list(session.scalars(select(MintBatch.nonce).order_by(MintBatch.id)))
    assert nonces == list(range(nonces[0], nonces[0] + 3))


def test_minter_withoutABacklogHasOneBatchInFlight(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    minter.batch_size = 5
    for _ in range(2):
        deposit(client, deployed.holders[0].address)
    assert minter.step() == 2
    assert minter._in_flight == deque()
    assert [d.status for d in deposits_of(env)] == ["minted"] * 2


def test_minter_lingering_claimsATrickleTogetherButABacklogAtOnce(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    minter.batch_size = 3
    minter.linger_seconds = 3600  # far longer than the test: only the claims decide
    holder = deployed.holders[0].address
    deposit(client, holder)
    assert minter.step() == 1  # after a quiet spell a deposit goes at once
    for _ in range(2):
        deposit(client, holder)
    assert minter.step() == 0  # a trickle waits for the linger
    assert [d.status for d in deposits_of(env)] == ["minted"] + ["accepted"] * 2
    minter.linger_seconds = 0
    assert minter.step() == 2  # ... and then goes as one batch
    minter.linger_seconds = 3600
    for i in range(7):
        deposit(client, deployed.holders[i % len(deployed.holders)].address)
    minter._claimed_at = float("-inf")
    assert minter.step() == 3  # a full batch: a backlog is minted back to back
    assert minter.step() == 3
    assert minter.step() == 1  # the last, partial batch was claimed while on the backlog
    assert [d.status for d in deposits_of(env)] == ["minted"] * 10
    with env.db.reading() as session:
        from service.deposits.models import MintBatch

        sizes = [
            len(json.loads(s)) for s in session.scalars(select(MintBatch.deposit_seqs).order_by(MintBatch.id))
        ]
    assert sizes == [1, 2, 3, 3, 1]
    assert_chain_matches(env, deployed, deployed.token())


def test_recover_settlesSeveralBatchesSentBeforeTheCrash(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    for i in range(7):
        deposit(client, deployed.holders[i % len(deployed.holders)].address, f"{20 + i}.00")
    minter.attestor.ensure_covers(sum(d.onchain_amount for d in deposits_of(env)))
    nonce = minter.token.pending_nonce(minter.signer.address)
    first = _claim_sign_record(env, minter, nonce, limit=3)
    second = _claim_sign_record(env, minter, nonce + 1, limit=3)
    third = _claim_sign_record(env, minter, nonce + 2, limit=1)  # recorded, never broadcast
    minter.token.send_raw(first)
    minter.token.send_raw(second)
    # the process "died" here: two batches on their way, one only recorded
    assert {d.status for d in deposits_of(env)} == {"minting"}
    minter.recover()
    deposits = deposits_of(env)
    assert [d.status for d in deposits] == ["minted"] * 6 + ["accepted"]
    assert [d.tx_hash for d in deposits[:6]] == [first.tx_hash] * 3 + [second.tx_hash] * 3
    assert minter.token.receipt(third.tx_hash) is None
    minter.drain()  # the requeued one goes out at the next free nonce
    assert [d.status for d in deposits_of(env)] == ["minted"] * 7
    assert_chain_matches(env, deployed, deployed.token())


def test_minter_pausedBetweenPauseChecks_theSimulationRevertKeepsTheBatchQueued(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    minter.chain_recheck_seconds = 3600.0  # the pause flags are not read again: the simulation decides
    deposit(client, deployed.holders[0].address)
    minter.drain()
    deployed.contract.pauseMinting(sender=deployed.pauser)
    deposit(client, deployed.holders[1].address)
    assert minter.step() == 0
    assert [d.status for d in deposits_of(env)] == ["minted", "accepted"]
    assert minter.stats.blocked_by == "minting_blocked_paused"
    assert "deposit.requeued" in audit_kinds(env)  # claimed, refused by the simulation, requeued
    deployed.contract.unpauseMinting(sender=deployed.pauser)
    minter.drain()
    assert [d.status for d in deposits_of(env)] == ["minted", "minted"]
    assert_chain_matches(env, deployed, deployed.token())


def test_minter_attestationLoweredBehindTheAttestorsBack_attestsAgainAndMints(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    attestor.recheck_seconds = 3600.0  # the attestor trusts what it read: the simulation decides
    deposit(client, deployed.holders[0].address, "300.00")
    minter.drain()
    deposit(client, deployed.holders[1].address, "200.00")
    attestor.ensure_covers(200 * UNITS_PER_USD)  # attests 500.00
    attestor.ensure_covers(0)  # reads it back: 500.00 covers 300 minted + 200, remembered
    # someone with the attestor key attests less than the supply already minted
    deployed.contract.attestReserves(UNITS_PER_USD, b"\x01" * 32, b"\x02" * 32, sender=deployed.attestor)
    minter.drain()
    token = deployed.token()
    assert [d.status for d in deposits_of(env)] == ["minted", "minted"]
    assert token.reserve_attestation().amount == 500 * UNITS_PER_USD == token.total_supply()
    assert_chain_matches(env, deployed, token)
    with env.db.reading() as session:
        from service.models import AuditEntry

        last = session.scalars(
            select(AuditEntry).where(AuditEntry.kind == "reserves.attested").order_by(AuditEntry.seq.desc())
        ).first()
    assert json.loads(last.payload)["reason"] == "ReserveCeilingExceeded"  # the simulation's revert


def test_mintedInReceipt_readsTheNodesRawLogs(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    for i in range(3):
        deposit(client, deployed.holders[i].address, f"{1 + i}.00")
    minter.drain()
    token = deployed.token()
    tx_hash = deposits_of(env)[0].tx_hash
    receipt = token.receipt(tx_hash)
    assert receipt.status == 1 and receipt.tx_hash == tx_hash
    assert token.minted_in_receipt(receipt) == token.minted_events(deployed.from_block)


def test_encodeMintBatch_isTheAbiEncoding():
    import os

    from eth_utils import to_checksum_address

    from service.chain.token import encode_call, encode_mint_batch

    for n in (0, 1, 7):
        items = [
            ("0x" + os.urandom(20).hex(), int.from_bytes(os.urandom(12), "big"), os.urandom(32))
            for _ in range(n)
        ]
        expected = encode_call(
            "mintBatch",
            [to_checksum_address(i[0]) for i in items],
            [i[1] for i in items],
            [i[2] for i in items],
        )
        assert encode_mint_batch(items) == expected
    with pytest.raises(ValueError):
        encode_mint_batch([("0x1234", 1, b"\x00" * 32)])
    with pytest.raises(ValueError):
        encode_mint_batch([("0x" + "11" * 20, -1, b"\x00" * 32)])
    with pytest.raises(ValueError):
        encode_mint_batch([("0x" + "11" * 20, 1, b"\x00" * 31)])


# ---- attestations ahead of the mints ---------------------------------------------------------


def test_minter_mintsWhatTheAttestationCovers_andAttestsAtMostOncePerInterval(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    minter.linger_seconds = 0
    holders = deployed.holders
    for i in range(3):
        deposit(client, holders[i].address, "10.00")
    assert minter.step() == 3 and attestor.attestations == 1  # one attestation covers all three
    attestor.min_interval = 3600  # far longer than the test
    for i in range(2):
        deposit(client, holders[i].address, "20.00")
    # not covered, and the next attestation is not due: the deposits wait, nothing is blocked
    assert minter.step() == 0
    assert [d.status for d in deposits_of(env)] == ["minted"] * 3 + ["accepted"] * 2
    assert minter.stats.blocked_by is None and attestor.attestations == 1
    attestor.attest(reason="scheduled")  # e.g. the periodic attestor: it covers them
    deposit(client, holders[2].address, "30.00")  # ... but not this one, accepted after
    assert minter.step() == 2  # the covered prefix goes; the rest waits
    assert [d.status for d in deposits_of(env)] == ["minted"] * 5 + ["accepted"]
    attestor.min_interval = 0  # due now
    assert minter.step() == 1 and attestor.attestations == 3
    token = deployed.token()
    assert token.total_supply() == token.reserve_attestation().amount == 100 * UNITS_PER_USD
    assert_chain_matches(env, deployed, token)


def test_attestor_isDueWhenTheAttestationGetsOld_whateverTheInterval(bank, deployed, workers, chain):
    env, client = bank
    minter, attestor = workers
    minter.linger_seconds = 0
    deposit(client, deployed.holders[0].address, "10.00")
    assert minter.step() == 1
    attestor.min_interval = 3600
    assert not attestor.attest_due()
    # the token's maximum age shrinks below the attestation's age: renewing it is due at once
    deployed.contract.setMaxAttestationAge(2, sender=deployed.admin)
    attestor._max_age = None
    attestor.recheck_seconds = 0
    chain.mine(deltatime=10)
    deposit(client, deployed.holders[1].address, "10.00")
    assert attestor.headroom() == 0 and attestor.attest_due()
    assert minter.step() == 1 and attestor.attestations == 2


def test_aLargeBatch_isClaimedAndMarkedInChunks_andAClaimCutShortIsRequeued(
    bank, deployed, workers, monkeypatch
):
    from service.deposits.models import MintBatch
    from service.minting import minter as minter_module
    from service.models import LedgerPosting

    env, client = bank
    minter, _ = workers
    monkeypatch.setattr(minter_module, "CLAIM_CHUNK", 3)
    monkeypatch.setattr(minter_module, "SETTLE_CHUNK", 2)
    minter.batch_size, minter.max_in_flight, minter.linger_seconds = 7, 1, 0
    for i in range(7):
        deposit(client, deployed.holders[i % len(deployed.holders)].address, f"{10 + i}.00")
    assert minter.step() == 7
    with env.db.reading() as session:
        batches = session.scalars(select(MintBatch)).all()
        postings = session.scalars(select(LedgerPosting).where(LedgerPosting.kind == "deposit_minted")).all()
    assert len(batches) == 1 and batches[0].seqs == [d.id for d in deposits_of(env)]
    assert sorted(len(json.loads(p.memo)["deposit_seqs"]) for p in postings) == [1, 2, 2, 2]
    assert {p.tx_hash for p in postings} == {batches[0].tx_hash}

    # the process dies between two claim transactions: the part claimed was never sent
    for i in range(5):
        deposit(client, deployed.holders[i].address, "5.00")
    real = outbox.claim_covered

    def dies_on_the_second_chunk(session, limit, max_units, *, batch_id=None, **kwargs):
        if batch_id is not None:
            raise RuntimeError("killed")
        return real(session, limit, max_units, batch_id=batch_id, **kwargs)

    monkeypatch.setattr(outbox, "claim_covered", dies_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        minter.step()
    assert [d.status for d in deposits_of(env)][7:] == ["minting"] * 3 + ["accepted"] * 2
    monkeypatch.setattr(outbox, "claim_covered", real)
    minter.drain()
    assert [d.status for d in deposits_of(env)] == ["minted"] * 12
    assert_chain_matches(env, deployed, deployed.token())


def test_minter_sizesItsBatchesToTheOnChainRateLimit(bank, deployed, workers):
    """With a token bucket on the minter (issue 13), a batch takes what the bucket holds; a
    deposit it leaves waits (minting_blocked_rate_limit) until the bucket has room again."""
    env, client = bank
    minter, _ = workers
    minter.linger_seconds = 0
    c = deployed.contract
    c.setMinterRateLimit(deployed.minter, 25 * UNITS_PER_USD, 0, sender=deployed.admin)
    for i in range(3):
        deposit(client, deployed.holders[i].address, "10.00")
    got = minter.step()
    assert got == 2  # 20.00 of the bucket's 25.00
    assert [d.status for d in deposits_of(env)] == ["minted", "minted", "accepted"]
    assert minter.step() == 0 and minter.stats.blocked_by == "minting_blocked_rate_limit"
    assert deployed.token().mint_rate_available(deployed.minter.address) == 5 * UNITS_PER_USD
    # the admin refills the bucket: the waiting deposit is minted
    c.setMinterRateLimit(deployed.minter, 25 * UNITS_PER_USD, 0, sender=deployed.admin)
    assert minter.step() == 1
    assert [d.status for d in deposits_of(env)] == ["minted"] * 3
    assert "mint.blocked" in audit_kinds(env)
    # without a limit the minter reads none
    c.setMinterRateLimit(deployed.minter, 0, 0, sender=deployed.admin)
    assert deployed.token().mint_rate_available(deployed.minter.address) is None
