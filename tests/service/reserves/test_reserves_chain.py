"""The reserve ledger, attestor and reconciler against a real anvil: postings through deposit ->
mint -> redemption -> payout, wipes, the invariant after every step, a mint behind the
service's back (detected, alerted, halted, paused, resumed only with a cause), a low
attestation (mints refused on chain, nothing lost), and the public summary."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time

import httpx
import pytest
from click.testing import CliRunner

from attestor_support import pin_keys
from chain_support import UNITS_PER_USD, audit_kinds, deposit, deposits_of
from reserve_support import (
    assert_invariant,
    assert_postings_balance,
    balances,
    block_on_top,
    halted,
    reconcile,
)
from service import audit, ledger
from service.app import create_app
from service.chain.token import load_account
from service.cli import cli
from service.minting.minter import Minter
from service.reserves import service as reserves
from service.reserves.reconciler import Reconciler
from service.reserves.resume import (
    AcknowledgementMismatch,
    DiscrepancyRemains,
    PauserRequired,
    resume_minting,
)
from service.reserves.summary import summary as public_summary
from svc_support import LiveServer, make_settings, server_env
from wait_support import wait_for

USD = UNITS_PER_USD


def reconciler_for(env, deployed, *, pauser: bool = True) -> Reconciler:
    return Reconciler(
        env.db,
        deployed.token(),
        pauser=load_account(deployed.pauser.private_key) if pauser else None,
        from_block=deployed.from_block,
    )


def codes(result) -> set[str]:
    return {f["code"] for f in result.findings}


def test_ledger_creditsOnAcceptanceAndMovesToTokensOnMint_invariantAtEachStep(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    deposit(client, deployed.holders[0].address, "1000.00")
    deposit(client, deployed.holders[1].address, "250.50")

    # accepted: custody credited, owed as pending mints; nothing on chain yet
    b = balances(env)
    bank_id = deposits_of(env)[0].bank_id
    assert b.custody == {bank_id: 125_050}
    assert (b.pending_mint, b.tokens_outstanding, b.attestable) == (125_050, 0, 125_050)
    assert_postings_balance(env)
    assert_invariant(env, token)

    # attested before minting: exactly the ledger's attestable reserve
    attestor.ensure_covers(125_050 * 10_000)
    assert token.reserve_attestation().amount == 125_050 * 10_000
    assert_invariant(env, token)

    # minted: pending -> tokens outstanding, one posting for the batch, supply matches
    assert minter.step() == 2
    b = balances(env)
    assert (b.pending_mint, b.tokens_outstanding, b.reserves) == (0, 125_050, 125_050)
    assert token.total_supply() == 125_050 * 10_000
    assert_postings_balance(env)
    assert_invariant(env, token)
    with env.db.reading() as session:
        minted = ledger.postings(session, kind=ledger.DEPOSIT_MINTED)
        assert len(minted) == 1
        assert sorted(ledger.posting_lines(session, minted[0].id)) == [
            (ledger.PENDING_MINT, 125_050),
            (ledger.TOKENS_OUTSTANDING, -125_050),
        ]
        assert minted[0].supply_delta_units == token.total_supply()

    # a second deposit -> mint cycle, invariant checked after each step
    deposit(client, deployed.holders[2].address, "99.99")
    assert_invariant(env, token)
    minter.drain()
    assert_invariant(env, token)
    result = reconcile(reconciler_for(env, deployed))
    assert result.ok, result.findings
    assert result.supply_units == result.ledger_supply_units == 135_049 * 10_000
    assert not halted(env)


def test_reconciler_acceptsMintsInFlight(bank, deployed, workers):
    """A batch mined on chain but not yet marked minted is explained by the deposits in minting."""
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    deposit(client, deployed.holders[0].address, "10.00")
    from service.deposits import outbox

    with env.db.transaction() as session:
        deposits = outbox.claim_batch(session, 10)
        items = [(d.beneficiary, d.onchain_amount, d.deposit_id) for d in deposits]
        batch_id = deposits[0].mint_batch_id
    attestor.ensure_covers(sum(i[1] for i in items))
    signed = token.build_mint_batch(minter.signer, items, token.pending_nonce(minter.signer.address))
    with env.db.transaction() as session:
        outbox.record_batch_sent(session, batch_id, signed.tx_hash, signed.nonce)
    token.send_raw(signed)
    token.wait_receipt(signed.tx_hash)
    result = reconcile(reconciler_for(env, deployed))
    assert result.ok, result.findings
    assert result.in_flight_units == 10 * USD and result.ledger_supply_units == 0
    minter.recover()  # settles the batch from its receipt
    result = reconcile(reconciler_for(env, deployed))
    assert result.ok and result.in_flight_units == 0 and result.ledger_supply_units == 10 * USD


def test_redemptionWipeAndPayoutSettlement_areReflected(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    token = deployed.token()
    holder, other = deployed.holders[0], deployed.holders[1]
    deposit(client, holder.address, "100.00")
    deposit(client, other.address, "30.00")
    minter.drain()
    bank_id = deposits_of(env)[0].bank_id

    # a redemption of 10.005 USD: 10.00 payable, the half cent of dust stays in reserve
    deployed.contract.redeem(10_005_000, b"\x01" * 32, sender=other)
    deployed.contract.freeze(holder, sender=deployed.compliance)
    deployed.contract.wipeFrozen(holder, sender=deployed.compliance)
    reconciler = reconciler_for(env, deployed)
    result = reconcile(reconciler)
    assert result.ok, result.findings
    assert result.supply_units == 19_995_000 == result.ledger_supply_units
    b = balances(env)
    assert (b.tokens_outstanding, b.pending_payouts, b.wiped, b.reserves) == (2_000, 1_000, 10_000, 13_000)
    assert b.attestable == 2_000
    assert "reserves.wipe_recorded" in audit_kinds(env)
    assert_postings_balance(env)

    # the reconciler is idempotent: a second pass posts nothing twice
    assert reconcile(reconciler).ok
    assert balances(env) == b

    # the bank pays the holder: pending payouts -> out of custody
    with env.db.transaction() as session:
        assert (
            ledger.record_payout_settled(
                session, bank_id=bank_id, amount_cents=1_000, payout_id=7, actor="test"
            )
            is not None
        )
    with env.db.transaction() as session:
        assert (
            ledger.record_payout_settled(
                session, bank_id=bank_id, amount_cents=1_000, payout_id=7, actor="test"
            )
            is None
        )
    b = balances(env)
    assert (b.pending_payouts, b.reserves, b.attestable) == (0, 12_000, 2_000)
    assert "reserves.payout_debited" in audit_kinds(env)
    assert_postings_balance(env)
    # a fresh attestation claims only what backs tokens, and the invariant holds
    minter.attestor.attest()
    assert token.reserve_attestation().amount == 2_000 * 10_000
    assert_invariant(env, token)
    assert reconcile(reconciler).ok


def test_mintBehindTheServicesBack_isDetectedHaltedPausedAndResumedOnlyWithACause(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    deposit(client, deployed.holders[0].address, "100.00")
    attestor.attest()  # covers the accepted deposit: room for the rogue mint
    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    deployed.contract.mint(deployed.holders[3], 50 * USD, os.urandom(32), sender=rogue)

    reconciler = reconciler_for(env, deployed)
    result = reconcile(reconciler)
    assert {"unbacked_mint", "supply_mismatch"} <= codes(result)
    assert result.halted and result.halt_created and result.pause_tx_hash
    kinds = audit_kinds(env)
    assert {
        "alert.reserves_discrepancy",
        "alert.unbacked_mint",
        "minting.halted",
        "minting.paused_on_chain",
    } <= set(kinds)
    assert halted(env) and token.minting_paused()

    # the minter claims nothing while halted (even if the chain were unpaused behind its back)
    deployed.contract.unpauseMinting(sender=deployed.pauser)
    assert minter.step() == 0
    assert minter.stats.blocked_by == "minting_blocked_halted"
    assert [d.status for d in deposits_of(env)] == ["accepted"]
    deployed.contract.pauseMinting(sender=deployed.pauser)
    # a second pass keeps the one halt and does not alert again
    reconcile(reconciler)
    assert audit_kinds(env).count("alert.reserves_discrepancy") == 1

    # resuming needs a cause, the pauser key when the service paused on chain, and the exact
    # difference that a fresh reconciliation still measures
    with pytest.raises(reserves.CauseRequired):
        resume_minting(env.db, cause=" ", actor="test", reconciler=reconciler)
    with pytest.raises(PauserRequired):
        resume_minting(
            env.db,
            cause="rogue minter removed",
            actor="test",
            reconciler=reconciler_for(env, deployed, pauser=False),
        )
    with pytest.raises(AcknowledgementMismatch) as info:
        resume_minting(env.db, cause="rogue minter removed", actor="test", reconciler=reconciler)
    assert info.value.difference_units == 50 * USD and "50000000 units remains" in info.value.message
    with pytest.raises(AcknowledgementMismatch):
        resume_minting(
            env.db,
            cause="rogue minter removed",
            actor="test",
            reconciler=reconciler,
            acknowledge_units=49 * USD,
        )
    assert halted(env) and token.minting_paused()
    deployed.contract.removeMinter(rogue, sender=deployed.admin)
    block_on_top(token)
    row = resume_minting(
        env.db,
        cause="rogue minter removed; 50.00 USD unbacked under investigation",
        actor="operator:alice",
        reconciler=reconciler,
        acknowledge_units=50 * USD,
    )
    assert row.unpause_tx_hash and row.acknowledged_units == 50 * USD and row.resume_block
    assert not halted(env) and not token.minting_paused()
    assert "minting.resumed" in audit_kinds(env)
    with env.db.reading() as session:
        entries = [e for e in audit.repository.entries(session, limit=10_000) if e.kind == "minting.resumed"]
        summary = public_summary(session, None)
    payload = json.loads(entries[0].payload)
    assert payload["cause"].startswith("rogue minter removed")
    assert (
        payload["acknowledged_difference_units"] == str(50 * USD) and payload["difference_cleared"] is False
    )
    assert (
        payload["evidence"]["supply_units"] == str(50 * USD) and payload["evidence"]["explained_units"] == "0"
    )
    assert summary["acknowledged_difference_units"] == str(50 * USD)

    # the acknowledged difference no longer halts; the real shortfall still blocks mints on chain
    assert reconcile(reconciler).ok
    assert minter.step() == 0
    assert minter.stats.blocked_by == "minting_blocked_reserves"
    assert [d.status for d in deposits_of(env)] == ["accepted"]  # queued, nothing lost


def test_lowAttestation_blocksMintsOnChain_depositsStayQueued_andHalts(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    token = deployed.token()
    deposit(client, deployed.holders[0].address, "100.00")
    minter.drain()
    deposit(client, deployed.holders[1].address, "50.00")
    # the attestor posts a low amount (below the supply)
    token.transact(attestor.signer, "attestReserves", 10 * USD, b"\x00" * 32, b"\x00" * 32)
    no_attestor = Minter(env.db, token, minter.signer, attestor=None, from_block=deployed.from_block)
    try:
        assert no_attestor.step() == 0
        assert no_attestor.stats.blocked_by == "minting_blocked_reserves"
    finally:
        no_attestor.lease.release()
    assert [d.status for d in deposits_of(env)] == ["minted", "accepted"]
    assert token.total_supply() == 100 * USD

    reconciler = reconciler_for(env, deployed, pauser=False)
    result = reconcile(reconciler)
    assert codes(result) == {"supply_above_attestation"}
    assert halted(env) and not token.minting_paused()  # no pauser key: halted in the database only
    # resuming before the attestation is corrected would only halt again: refused
    with pytest.raises(DiscrepancyRemains) as info:
        resume_minting(env.db, cause="attestation corrected", actor="test", reconciler=reconciler)
    assert "supply_above_attestation" in info.value.message and halted(env)
    attestor.attest()
    block_on_top(token)  # the fresh reconciliation reads one block below the head
    row = resume_minting(env.db, cause="attestation corrected", actor="test", reconciler=reconciler)
    assert row.acknowledged_units == 0 and not row.unpause_tx_hash  # nothing paused on chain
    assert reconcile(reconciler).ok
    minter.drain()
    assert [d.status for d in deposits_of(env)] == ["minted", "minted"]
    assert_invariant(env, token)


def test_publicSummaryAndReports_needNoLogin(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[0].address, "1250.00")
    minter.drain()
    settings = make_settings(
        env.settings.database_url, rpc_url=deployed.rpc_url, token_address=deployed.token_address
    )
    app = create_app(settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        summary = httpx.get(f"{server.url}/v1/reserves").json()
        assert summary["total_reserves"] == "1250.00" == summary["supply"]
        assert summary["custody"] == [
            {
                "bank": "minter-test-bank",
                "amount": "1250.00",
                "statement_as_of": None,
                "statement_balance": None,
                "statement_stale": True,
                "failed": False,
            }
        ]
        assert summary["ratio"] == "1.0000" and summary["minting_halted"] is False
        attestation = summary["last_attestation"]
        assert attestation["amount"] == "1250.00"
        report = httpx.get(f"{server.url}{attestation['report_url']}")
        assert report.status_code == 200
        assert hashlib.sha256(report.content).hexdigest() == attestation["report_hash"]
        body = report.json()
        assert body["attested"] == "1250.00" and body["audit_head"]["hash"] == attestation["audit_head"]
        missing = httpx.get(f"{server.url}/v1/reserves/reports/{'00' * 32}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "report_not_found"


def test_cli_reconcileSummaryAndResume(bank, deployed, workers, tmp_path):
    env, client = bank
    minter, attestor = workers
    deposit(client, deployed.holders[0].address, "20.00")
    minter.drain()
    # `ushk reserves attest` attests by the attestor's rule: the bank's signed statement, its key pinned
    as_of = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    client.custody_statement(statement_id="S1", balance="1000.00", as_of=as_of, account="A")
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_PAUSER_PRIVATE_KEY=str(deployed.pauser.private_key),
        USHK_ATTESTOR_PRIVATE_KEY=str(deployed.attestor.private_key),
        USHK_ATTESTOR_BANK_KEYS_FILE=str(pin_keys(env, tmp_path / "bank-keys.json")),
        USHK_DEPLOYMENT_FILE="/nonexistent.json",
    )

    def run(*args):
        return CliRunner().invoke(cli, list(args), env=variables)

    block_on_top(deployed.token())
    result = run("reserves", "reconcile")
    assert result.exit_code == 0, result.output
    summary = json.loads(run("reserves", "summary", "--json").output)
    assert summary["total_reserves"] == "20.00" and summary["halt"] is None
    deposit(client, deployed.holders[1].address, "10.00")  # accepted, attested: room for a rogue mint
    assert run("reserves", "attest").exit_code == 0

    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    deployed.contract.mint(deployed.holders[3], 5 * USD, os.urandom(32), sender=rogue)
    block_on_top(deployed.token())
    result = run("reserves", "reconcile")
    assert result.exit_code == 1 and "unbacked_mint" in result.output
    assert deployed.token().minting_paused()
    assert run("minting", "resume").exit_code == 2  # --cause is required
    result = run("minting", "resume", "--cause", "rogue minter revoked")
    assert result.exit_code == 1 and "acknowledgement_mismatch" in result.output
    assert "5000000 units remains" in result.output and halted(env)
    result = run("minting", "resume", "--cause", "rogue minter revoked", "--acknowledge-units", "5000000")
    assert result.exit_code == 0, result.output
    assert (
        "unpaused on chain" in result.output
        and "acknowledged a supply difference of 5000000 units" in result.output
    )
    assert not deployed.token().minting_paused() and not halted(env)
    assert run("minting", "resume", "--cause", "again").exit_code == 1  # not halted
    result = run("reserves", "summary")
    assert "ACKNOWLEDGED    5000000 units" in result.output and "rogue minter revoked" in result.output
    summary = json.loads(run("reserves", "summary", "--json").output)
    assert summary["acknowledged_difference_units"] == "5000000"
    assert [a["units"] for a in summary["acknowledged_differences"]] == ["5000000"]
    assert run("reserves", "reconcile").exit_code == 0  # the acknowledged difference does not halt again
    # --json: the pass as one object on stdout alone, the figures (token units) as strings
    checked = CliRunner(mix_stderr=False).invoke(cli, ["reserves", "reconcile", "--json"], env=variables)
    assert checked.exit_code == 0 and checked.stderr == ""
    passed = json.loads(checked.stdout)
    assert passed["ok"] is True and passed["findings"] == [] and passed["acknowledged_units"] == "5000000"
    assert passed["supply_units"] == str(deployed.token().total_supply())


def test_serve_runsTheReconciler_andNeverAttests(bank, deployed, workers):
    """Attestations come from `ushk attestor run` (test_attestor_process.py), never from the
    service's own processes: its periodic setting does nothing here."""
    env, client = bank
    _, attestor = workers
    deposit(client, deployed.holders[0].address, "40.00")
    settings = make_settings(
        env.settings.database_url,
        rpc_url=deployed.rpc_url,
        token_address=deployed.token_address,
        deployment_file="/nonexistent.json",
        reconciler_enabled=True,
        reconcile_interval_seconds=0.2,
        attest_interval_seconds=0.3,
        attestor_private_key=str(deployed.attestor.private_key),
        pauser_private_key=str(deployed.pauser.private_key),
    )
    token = deployed.token()
    app = create_app(settings, env.db, policy=env.policy)
    with LiveServer(app):
        time.sleep(0.6)  # two periods of the old periodic attestor
        assert token.reserve_attestation().timestamp == 0
        attestor.attest()  # the attestor, elsewhere
        rogue = deployed.holders[4]
        deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
        deployed.contract.mint(deployed.holders[3], 1 * USD, os.urandom(32), sender=rogue)
        block_on_top(token)  # the reconciler reads one block below the head
        wait_for(
            "the reconciler thread to halt and pause minting",
            lambda: halted(env) and token.minting_paused(),
            20,
            interval=0.1,
        )
    assert "alert.unbacked_mint" in audit_kinds(env)


def test_operatorApi_resume_reconcilesFirstAndNeedsTheExactAcknowledgement(bank, deployed, workers):
    from service.banks import service as banks

    env, client = bank
    minter, attestor = workers
    deposit(client, deployed.holders[0].address, "20.00")
    minter.drain()
    deposit(client, deployed.holders[1].address, "10.00")
    attestor.attest()  # room on chain for the rogue mint
    rogue = deployed.holders[4]
    deployed.contract.configureMinter(rogue, 1_000 * USD, 1_000 * USD, sender=deployed.admin)
    deployed.contract.mint(deployed.holders[3], 3 * USD, os.urandom(32), sender=rogue)
    assert not reconcile(reconciler_for(env, deployed)).ok and halted(env)
    with env.db.transaction() as session:
        _, token = banks.create_operator(session, "alice", actor="test")
    headers = {"Authorization": f"Bearer {token}"}
    settings = make_settings(
        env.settings.database_url,
        rpc_url=deployed.rpc_url,
        token_address=deployed.token_address,
        pauser_private_key=str(deployed.pauser.private_key),
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        url = f"{server.url}/v1/operator/minting/resume"
        response = httpx.post(url, headers=headers, json={"cause": "rogue minter revoked"})
        assert response.status_code == 409, response.text
        error = response.json()["error"]
        assert error["code"] == "acknowledgement_mismatch" and "3000000 units remains" in error["message"]
        response = httpx.post(
            url, headers=headers, json={"cause": "rogue minter revoked", "acknowledge_units": "3000000"}
        )
        assert response.status_code == 200, response.text
        halt = response.json()["halt"]
        assert halt["acknowledged_units"] == "3000000" and halt["resumed_by"] == "operator:alice"
        assert halt["resume_evidence"]["supply_units"] == str(23 * USD) and halt["unpause_tx_hash"]
        assert httpx.get(f"{server.url}/v1/reserves").json()["acknowledged_difference_units"] == "3000000"
    assert not halted(env) and not deployed.token().minting_paused()


def test_publicEvents_listTheTokensGovernanceEvents_whoeverMadeThem(bank, deployed, workers):
    """Freezes, pauses, role changes and minter settings made on chain with the operators' own
    keys (not through the service) reach the public events through the reconciler's follower."""
    env, _client = bank
    c, holder = deployed.contract, deployed.holders[2]
    before = deployed.token().w3.eth.block_number
    c.freeze(holder, sender=deployed.compliance)
    c.unfreeze(holder, sender=deployed.compliance)
    c.pauseMinting(sender=deployed.pauser)
    c.unpauseMinting(sender=deployed.pauser)
    minter_role = c.MINTER_ROLE()
    c.grantRole(minter_role, deployed.holders[3], sender=deployed.admin)
    c.revokeRole(minter_role, deployed.holders[3], sender=deployed.admin)
    c.configureMinter(deployed.holders[4], 7 * UNITS_PER_USD, UNITS_PER_USD, sender=deployed.admin)
    c.beginDefaultAdminTransfer(deployed.holders[1], sender=deployed.admin)  # the two-step transfer
    c.cancelDefaultAdminTransfer(sender=deployed.admin)
    reconciler = Reconciler(env.db, deployed.token(), from_block=deployed.from_block)
    reconcile(reconciler)
    reconcile(reconciler)  # a second pass records nothing twice
    settings = make_settings(
        env.settings.database_url, rpc_url=deployed.rpc_url, token_address=deployed.token_address
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        params = [("type", t) for t in ("freeze", "pause", "role", "token")]
        items = httpx.get(f"{server.url}/v1/public/events", params=params).json()["items"]
    since_setup = [i for i in items if i["block_number"] > before]
    kinds = [i["kind"] for i in since_setup]
    assert kinds == [
        "token.frozen",
        "token.unfrozen",
        "token.minting_paused",
        "token.minting_unpaused",
        "token.role_granted",
        "token.role_revoked",
        "token.minter_removed",  # revoking MINTER_ROLE removes the minter's allowance
        "token.role_granted",  # configureMinter grants MINTER_ROLE, then sets the allowance
        "token.minter_configured",
        "token.admin_transfer_scheduled",
        "token.admin_transfer_canceled",
    ]
    frozen, _, paused, _, granted, revoked, removed, _, configured, scheduled, canceled = since_setup
    assert scheduled["type"] == "role" and scheduled["details"]["new_admin"] == deployed.holders[1].address
    assert int(scheduled["details"]["accept_after"]) > 0 and canceled["type"] == "role"
    assert frozen["type"] == "freeze" and frozen["details"]["address"] == holder.address
    assert paused["type"] == "pause" and paused["details"]["address"] == deployed.pauser.address
    assert granted["type"] == "role" and granted["details"]["role_name"] == "MINTER_ROLE"
    assert granted["details"]["role"] == "0x" + bytes(minter_role).hex()
    assert (granted["details"]["address"], granted["details"]["sender"]) == (
        deployed.holders[3].address,
        deployed.admin.address,
    )
    assert revoked["kind"] == "token.role_revoked" and revoked["details"]["role_name"] == "MINTER_ROLE"
    assert removed["type"] == "token" and removed["details"]["minter"] == deployed.holders[3].address
    assert configured["type"] == "token" and configured["details"]["allowance_units"] == "7000000"
    receipt = deployed.token().receipt(frozen["tx_hash"])
    assert receipt is not None and receipt.block_number == frozen["block_number"]
    # the deployment's own role grants are listed too (the follower starts at the deploy block)
    grants = {
        i["details"]["role_name"]
        for i in items
        if i["kind"] == "token.role_granted" and i["block_number"] <= before
    }
    assert {"DEFAULT_ADMIN_ROLE", "MINTER_ROLE", "PAUSER_ROLE"} <= grants
