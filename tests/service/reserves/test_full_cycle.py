"""The whole life of a dollar on a real anvil: deposit → mint → transfer to another holder →
redeem → payout → settle, with supply <= attested <= recorded reserves checked after every step,
and the reconciler finding nothing wrong at the end."""

from __future__ import annotations

from chain_support import UNITS_PER_USD, deposit
from reserve_support import assert_invariant, assert_postings_balance, balances, reconcile
from service.redemptions.watcher import RedemptionWatcher
from svc_support import today
from test_reserves_chain import reconciler_for

USD = UNITS_PER_USD


def test_fullCycle_depositMintTransferRedeemPayoutSettle_invariantAfterEveryStep(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    alice, bob = deployed.holders[0], deployed.holders[1]
    reconciler = reconciler_for(env, deployed)

    def step_done() -> None:
        result = reconcile(reconciler)
        assert result.ok, result.findings
        assert_invariant(env, token)
        assert_postings_balance(env)

    deposit(client, alice.address, "500.00")
    step_done()
    minter.drain()
    assert token.balance_of(alice.address) == 500 * USD
    step_done()

    deployed.contract.transfer(bob, 120 * USD, sender=alice)
    assert token.balance_of(bob.address) == 120 * USD
    step_done()

    ref = client.register_payout_account(holder=bob.address, account_reference="BOB-SAVINGS-1")["payout_ref"]
    deployed.contract.redeem(100 * USD, bytes.fromhex(ref[2:]), sender=bob)
    assert token.total_supply() == 400 * USD
    step_done()

    watcher = RedemptionWatcher(
        env.db,
        token,
        env.settings,
        from_block=deployed.from_block,
        poll_seconds=0.05,
        confirmations=0,
        attestor=attestor,
    )
    watcher.catch_up()
    [payout] = client.payouts("pending")
    assert payout["amount"] == "100.00" and payout["holder"] == bob.address
    # the attestation came down with the redemption, before any dollar leaves custody
    assert token.reserve_attestation().amount == 400 * USD
    step_done()

    settled = client.settle_payout(payout, bank_reference="HK-TRF-77", value_date=today())
    assert settled["status"] == "settled"
    step_done()
    b = balances(env)
    assert b.reserves == 40_000 and b.pending_payouts == 0  # cents: 500 in, 100 paid out
    assert token.reserve_attestation().amount == 400 * USD == token.total_supply()
