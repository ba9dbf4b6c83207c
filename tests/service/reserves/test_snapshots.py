"""Signed snapshots on a real anvil (automine and block times): every figure held against the
chain at the pinned block and the ledger, the signature, each claim's proof in the liabilities'
Merkle-sum tree (a forged one refused), the public endpoints and the CLI, and the refusal to sign
figures that do not add up."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from chain_support import deposit, deposits_of
from reserve_support import balances, block_on_top, reconcile
from service import ledger, merkle_sum
from service.cli import cli
from service.runtime import Snapshotter
from service.snapshots.service import SnapshotRefused
from svc_support import make_settings, server_env
from test_reserves_chain import reconciler_for

pytestmark = pytest.mark.blocktime

LOG_KEY = "5a" * 32
UNIT = 10**6


def snapshotter(env, deployed, log_key: str = LOG_KEY) -> Snapshotter:
    settings = make_settings(
        env.settings.database_url,
        rpc_url=deployed.rpc_url,
        token_address=deployed.token_address,
        log_signing_key=log_key,
    )
    return Snapshotter(settings, env.db)


def mint_redeem_freeze(
    bank, deployed, minter, *, holder_usd: str, other_usd: str, redeem_units: int, ref: bytes
):
    """Mints to two holders, the second redeems `redeem_units` (owed off chain once the reconciler
    posts it), the first is frozen; a block on top, so a snapshot one block below the head sees it
    all. Returns (holder, other)."""
    env, client = bank
    holder, other = deployed.holders[0], deployed.holders[1]
    deposit(client, holder.address, holder_usd)
    deposit(client, other.address, other_usd)
    minter.drain()
    deployed.contract.redeem(redeem_units, ref, sender=other)
    deployed.contract.freeze(holder, sender=deployed.compliance)
    assert reconcile(reconciler_for(env, deployed)).ok  # posts the redemption to the ledger
    block_on_top(deployed.token())
    return holder, other


def test_snapshot_figures_signature_and_claim_proofs(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    holder, _ = mint_redeem_freeze(  # 10.00 owed off chain
        bank,
        deployed,
        minter,
        holder_usd="100.00",
        other_usd="30.00",
        redeem_units=10_005_000,
        ref=b"\x02" * 32,
    )

    taken = snapshotter(env, deployed).take()
    snap = taken["snapshot"]
    token = deployed.token()
    block = snap["chain"]["block"]
    assert block == taken["block"] and block <= token.block_number()
    supply = token.contract.functions.totalSupply().call(block_identifier=block)
    assert snap["supply"]["total_units"] == str(supply) == str(119_995_000)
    assert snap["supply"]["frozen_accounts"] == [holder.address]
    assert snap["supply"]["frozen_units"] == str(100 * UNIT)
    assert snap["supply"]["outstanding_redeemable_units"] == str(supply - 100 * UNIT)
    attestation = token.contract.functions.reserveAttestation().call(block_identifier=block)
    assert snap["attestation"]["amount_units"] == str(attestation[0])
    b = balances(env)
    assert snap["reserves"]["total"] == ledger_format(b.reserves)
    assert snap["liabilities"]["total_cents"] == str(b.pending_payouts + b.refunds_due) == "1000"
    assert snap["liabilities"]["claims"] == 1
    assert snap["version"] == 2  # each custodian's latest statement, stale, failed
    assert snap["reserves"]["custodians"] == [
        {
            "bank": "minter-test-bank",
            "statement_as_of": None,
            "statement_balance": None,
            "statement_stale": True,
            "failed": False,
        }
    ]

    with httpx.Client(base_url=client.base_url) as http:
        latest = http.get("/v1/transparency/snapshots/latest").json()
        signed = base64.b64decode(latest["signed_bytes"])
        assert json.loads(signed) == snap == latest["snapshot"]
        Ed25519PublicKey.from_public_bytes(base64.b64decode(latest["public_key"])).verify(
            base64.b64decode(latest["signature"]), signed
        )  # raises if it does not verify
        assert http.get(f"/v1/transparency/snapshots/{latest['id']}").json() == latest

        proof = http.get(
            f"/v1/transparency/snapshots/{latest['id']}/claims", params={"kind": "payout", "reference": "1"}
        ).json()
        root = merkle_sum.SumNode(
            bytes.fromhex(snap["liabilities"]["root"]), int(snap["liabilities"]["total_cents"])
        )
        leaf = merkle_sum.leaf(proof["data"].encode(), int(proof["amount_cents"]))
        path = [merkle_sum.SumNode(bytes.fromhex(n["hash"]), int(n["sum"])) for n in proof["path"]]
        assert json.loads(proof["data"]) == {"amount_cents": "1000", "kind": "payout", "reference": "1"}
        assert merkle_sum.verify(proof["index"], proof["size"], leaf, path, root)
        understated = merkle_sum.leaf(proof["data"].encode(), 999)
        assert not merkle_sum.verify(proof["index"], proof["size"], understated, path, root)

        refusals = [
            (f"/v1/transparency/snapshots/{latest['id']}/claims", {"kind": "payout", "reference": "2"}, 404, "no_claim"),
            (f"/v1/transparency/snapshots/{latest['id']}/claims", {"kind": "loan", "reference": "1"}, 422, "validation_error"),
            (f"/v1/transparency/snapshots/{latest['id']}/claims", {"kind": "payout", "reference": "-1"}, 422, "validation_error"),
            ("/v1/transparency/snapshots/999999", {}, 404, "no_snapshot"),
            ("/v1/transparency/snapshots/0", {}, 422, "validation_error"),
        ]  # fmt: skip
        for path_, params, status, code in refusals:
            answer = http.get(path_, params=params)
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (path_, params)


def ledger_format(cents: int) -> str:
    from service.money import format_cents

    return format_cents(cents)


def test_cli_takes_a_snapshot_and_figures_that_do_not_add_up_are_not_signed(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[0].address, "20.00")
    minter.drain()
    block_on_top(deployed.token())  # the snapshot reads one block below the head
    environment = {
        **server_env(env.settings),
        "USHK_RPC_URL": deployed.rpc_url,
        "USHK_TOKEN_ADDRESS": deployed.token_address,
        "USHK_LOG_SIGNING_KEY": LOG_KEY,
    }
    result = CliRunner().invoke(cli, ["transparency", "snapshot"], env=environment)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["snapshot"]["supply"]["total_units"] == str(20 * UNIT)
    # a settlement the ledger holds for a payout nobody created: the claims cannot be told
    bank_id = deposits_of(env)[0].bank_id
    with env.db.transaction() as session:
        ledger.record_payout_settled(session, bank_id=bank_id, amount_cents=100, payout_id=4242, actor="test")
    with pytest.raises(SnapshotRefused, match="4242"):
        snapshotter(env, deployed).take()
    result = CliRunner().invoke(cli, ["transparency", "snapshot"], env=environment)
    assert result.exit_code == 1 and "4242" in result.output
