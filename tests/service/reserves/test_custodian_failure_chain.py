"""The custodian failure drill on anvil: a bank marked failed lowers the attestation, halts
minting and refuses its deposits, while a redemption goes on and is paid out by the bank its
payout was reassigned to."""

from __future__ import annotations

from click.testing import CliRunner

from chain_support import UNITS_PER_USD, audit_kinds, deposit
from reserve_support import block_on_top
from service.cli import cli
from service.client import BankClient, USHKError
from service.quota.policy import CustodyPolicy
from service.redemptions.watcher import RedemptionWatcher
from service.reserves import service as reserves
from service.reserves.resume import resume_minting
from svc_support import server_env, today
from test_reserves_chain import reconciler_for

USD = UNITS_PER_USD


def ushk(env, *args) -> str:
    result = CliRunner().invoke(cli, list(args), env=server_env(env.settings))
    assert result.exit_code == 0, (args, result.output)
    return result.output


def test_a_failed_custodian_lowers_the_attestation_halts_minting_and_its_payout_is_reassigned(
    live, bank, deployed, workers
):
    env, url = live
    _, failing = bank  # "minter-test-bank"
    minter, attestor = workers
    attestor.custody_policy = CustodyPolicy(statements_required=False)  # the ledger's custody counts
    token = deployed.token()
    alice = deployed.holders[0]
    handle = env.add_bank("boc")
    with BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed) as boc:
        deposit(failing, alice.address, "600.00")
        deposit(boc, alice.address, "400.00")
        minter.drain()
        assert token.balance_of(alice.address) == 1000 * USD
        attestor.attest(reason="test")
        assert token.reserve_attestation().amount == 1000 * USD
        ref = failing.register_payout_account(holder=alice.address, account_reference="ALICE-1")["payout_ref"]

        ushk(env, "bank", "mark-failed", "minter-test-bank", "--cause", "custodian insolvency drill")
        attestor.attest(reason="test")  # the failed bank's 600.00 no longer counts
        assert token.reserve_attestation().amount == 400 * USD
        with env.db.reading() as session:
            assert reserves.minting_halted(session)
            report = reserves.last_attested_report(session)
            assert report is not None and report.amount_cents == 40_000

        # its new deposits are refused; the other bank's are accepted but not minted while halted
        try:
            deposit(failing, alice.address, "10.00")
            raise AssertionError("a failed custodian's deposit was accepted")
        except USHKError as exc:
            assert exc.status == 409 and exc.code == "custodian_failed"
        deposit(boc, alice.address, "50.00", resident="R7654321")
        assert minter.step() == 0  # halted: nothing claimed
        assert token.total_supply() == 1000 * USD

        # redemptions go on: alice redeems against her account at the failed bank
        deployed.contract.redeem(100 * USD, bytes.fromhex(ref[2:]), sender=alice)
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
        [payout] = failing.payouts("pending")
        assert boc.payouts("pending") == []
        out = ushk(env, "payouts", "reassign", "--from", "minter-test-bank", "--to", "boc")
        assert f"[{payout['id']}]" in out
        assert failing.payouts("pending") == []
        [moved] = boc.payouts("pending")
        assert moved["id"] == payout["id"] and moved["amount"] == "100.00"
        settled = boc.settle_payout(moved, bank_reference="BOC-TRF-1", value_date=today())
        assert settled["status"] == "settled"

        attestor.attest(reason="test")  # boc paid 100.00 out of its 450.00
        assert token.reserve_attestation().amount == 350 * USD

        reconciler = reconciler_for(env, deployed, pauser=False)
        try:  # the existing resume path refuses while the bank is still failed
            resume_minting(env.db, cause="too early", actor="test", reconciler=reconciler)
            raise AssertionError("resumed while a custodian is failed")
        except reserves.CustodianStillFailed as exc:
            assert "minter-test-bank" in exc.message
        ushk(env, "bank", "mark-recovered", "minter-test-bank", "--cause", "drill over")
        with env.db.reading() as session:
            assert reserves.minting_halted(session)  # resuming is the operators' separate step
        attestor.attest(reason="test")  # the recovered custody counts again
        assert token.reserve_attestation().amount == 950 * USD  # 600 + 450 - 100 paid out
        block_on_top(token)  # the fresh reconciliation reads one block below the head
        resumed = resume_minting(env.db, cause="custodian back", actor="test", reconciler=reconciler)
        assert resumed.acknowledged_units == 0
        minter.drain()  # boc's deposit accepted while halted is minted now
        assert token.total_supply() == 950 * USD
    kinds = audit_kinds(env)
    for kind in (
        "custodian.failed",
        "minting.halted",
        "payout.reassigned",
        "payout.settled",
        "custodian.recovered",
    ):
        assert kind in kinds, kind
