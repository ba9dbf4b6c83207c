"""The chain follower on anvil (ape's, automine or --block-time 1): USHK's events and state,
a plain OpenZeppelin ERC-20's, a reorg behind the depth, and the guard pausing minting."""

from __future__ import annotations

import os
import time

import pytest
from mon_support import CriticalOn, Down, EveryKind, deploy_plain, mint_plain, rpc

from service.monitor.engine import Engine
from service.monitor.guard import GUARD_RULE, Guard
from service.monitor.sources import ChainFollower, Rpc
from service.monitor.store import Store

USD = 10**6


def follower_for(store: Store, url: str, token: str, depth: int = 2, from_block: int = 0) -> ChainFollower:
    return ChainFollower(
        Rpc(url), token, depth=depth, from_block=from_block, cursor=lambda: store.cursor("chain")
    )


def follow_until(engine: Engine, follower: ChainFollower, block: int, timeout: float = 30) -> None:
    """Poll until the follower has processed `block` (mining blocks past the depth)."""
    deadline = time.monotonic() + timeout
    while (engine.store.cursor("chain").get("block") or -1) < block:
        assert time.monotonic() < deadline, f"the follower did not reach block {block}"
        for obs, cursor in follower.poll():
            engine.process(obs, cursor)
        if (engine.store.cursor("chain").get("block") or -1) < block:
            rpc(follower.rpc.url, "evm_mine")


def recorded(store: Store) -> list:
    return [o for _, o in store.observations()]


@pytest.mark.blocktime
def test_follower_ushk_eventsInOrderWithState(deployed, store):
    url = deployed.rpc_url
    c = deployed.contract
    c.attestReserves(1_000 * USD, b"\x11" * 32, b"\x00" * 32, sender=deployed.attestor)
    deposit = os.urandom(32)
    receipt = c.mint(deployed.holders[0], 250 * USD, deposit, sender=deployed.minter)
    engine = Engine(store, [EveryKind()])
    follower = follower_for(store, url, deployed.token_address, from_block=deployed.from_block)
    follow_until(engine, follower, receipt.block_number)
    seen = recorded(store)
    minted = [o for o in seen if o.kind == "Minted"]
    assert len(minted) == 1
    m = minted[0]
    assert m.fields["to"] == deployed.holders[0].address
    assert m.fields["amount"] == 250 * USD
    assert m.fields["depositId"] == "0x" + deposit.hex()
    assert m.fields["minter"] == deployed.minter.address
    assert m.block == receipt.block_number and m.tx == receipt.txn_hash.lower()
    assert m.key.startswith(f"chain:{receipt.block_number}:")
    assert m.time == int(rpc(url, "eth_getBlockByNumber", [hex(m.block), False])["timestamp"], 16)
    transfers = [o for o in seen if o.kind == "Transfer" and o.block == receipt.block_number]
    assert transfers and transfers[0].fields["value"] == 250 * USD
    attested = [o for o in seen if o.kind == "ReservesAttested"]
    assert attested and attested[-1].fields["reportHash"] == "0x" + "11" * 32
    chain_events = [o for o in seen if o.source == "chain" and o.kind != "chain_state"]
    assert [(o.block, int(o.key.split(":")[2])) for o in chain_events] == sorted(
        (o.block, int(o.key.split(":")[2])) for o in chain_events
    )
    states = [o for o in seen if o.kind == "chain_state"]
    last = states[-1]
    assert last.fields["total_supply"] == c.totalSupply(block_id=last.block)
    assert last.fields["decimals"] == 6
    assert last.fields["attested_reserves"] == 1_000 * USD
    assert last.fields["minting_paused"] is False and last.fields["paused"] is False
    assert last.fields["max_attestation_age"] > 0
    assert last.fields["report_hash"] == "0x" + "11" * 32
    # the depth: nothing past head - depth was processed
    head = int(rpc(url, "eth_blockNumber"), 16)
    assert store.cursor("chain")["block"] <= head - 2
    assert [f.finding["rule"] for f in store.findings(limit=1000)].count("test.every") == len(
        [o for o in seen if o.kind == "Transfer"]
    )


@pytest.mark.blocktime
def test_follower_plainOpenZeppelinErc20(deployed, store):
    url = deployed.rpc_url
    sender = deployed.holders[4].address
    start = int(rpc(url, "eth_blockNumber"), 16)
    token = deploy_plain(url, sender)
    receipts = [mint_plain(url, token, sender, deployed.holders[n].address, (n + 1) * 1000) for n in range(3)]
    engine = Engine(store, [EveryKind()])
    follower = follower_for(store, url, token, from_block=start)
    follow_until(engine, follower, int(receipts[-1]["blockNumber"], 16))
    seen = recorded(store)
    transfers = [o for o in seen if o.kind == "Transfer"]
    assert [o.fields["value"] for o in transfers] == [1000, 2000, 3000]
    assert transfers[0].fields["from"] == "0x0000000000000000000000000000000000000000"
    assert transfers[1].fields["to"] == deployed.holders[1].address
    state = [o for o in seen if o.kind == "chain_state"][-1]
    assert state.fields["total_supply"] == 6000
    assert state.fields["decimals"] == 18
    for name in (
        "attested_reserves",
        "attested_at",
        "report_hash",
        "max_attestation_age",
        "paused",
        "minting_paused",
        "anchor_size",
        "anchor_root",
    ):
        assert state.fields[name] is None, name
    assert len(store.findings(limit=100)) == 3


PLAIN_RULES = """
version: 1
rules:
  - {id: big-mint, type: large_mint, severity: high, params: {per_transaction: "2500", per_bank_per_day: "1000000", source: transfers}}
  - {id: supply, type: unmatched_supply, severity: critical, params: {grace_blocks: 2}}
"""


@pytest.mark.blocktime
def test_theRealRules_onAPlainOpenZeppelinErc20(deployed, store):
    """The rules of a rules file (not test rules) against a plain ERC-20 on anvil, which has no
    Minted event and no service: a mint of 3,000 tokens (18 decimals, known to the rules before
    the first mint although the token is deployed within the first range read) is a large mint,
    2,000 is the near miss."""
    from service.monitor.rules import load_rules_text

    url = deployed.rpc_url
    sender = deployed.holders[4].address
    start = int(rpc(url, "eth_blockNumber"), 16)
    token = deploy_plain(url, sender)
    receipts = [
        mint_plain(url, token, sender, deployed.holders[n].address, (n + 1) * 1000 * 10**18) for n in range(3)
    ]
    engine = Engine(store, load_rules_text(PLAIN_RULES))
    follower = follower_for(store, url, token, depth=1, from_block=start)
    follow_until(engine, follower, int(receipts[-1]["blockNumber"], 16))
    found = [f.finding for f in store.findings(limit=100)]
    base = [o for o in recorded(store) if o.kind == "chain_state"][0]
    assert base.block == start - 1 and base.fields["decimals"] == 18  # known before the first mint
    assert [f["rule"] for f in found] == ["big-mint"], [(f["key"], f["summary"]) for f in found]
    assert found[0]["tx"] == receipts[2]["transactionHash"]
    assert found[0]["details"]["amount_units"] in (str(3000 * 10**18), 3000 * 10**18)


@pytest.mark.blocktime
def test_reorgBehindTheDepth_isObservedAndRewound(deployed, store):
    url = deployed.rpc_url
    sender = deployed.holders[4].address
    token = deploy_plain(url, sender)
    start = int(rpc(url, "eth_blockNumber"), 16)
    snapshot = rpc(url, "evm_snapshot")
    first = mint_plain(url, token, sender, deployed.holders[0].address, 111)
    engine = Engine(store, [EveryKind(), Down()])
    follower = follower_for(store, url, token, depth=1, from_block=start)
    follow_until(engine, follower, int(first["blockNumber"], 16) + 1)
    processed = store.cursor("chain")["block"]
    # the chain is rewritten below the processed block: another mint, more blocks
    assert rpc(url, "evm_revert", [snapshot]) is True
    rpc(url, "evm_mine")
    second = mint_plain(url, token, sender, deployed.holders[1].address, 222)
    for _ in range(processed + 3 - int(second["blockNumber"], 16)):
        rpc(url, "evm_mine")
    follow_until(engine, follower, processed + 1)
    seen = recorded(store)
    reorgs = [o for o in seen if o.kind == "reorg"]
    assert len(reorgs) == 1
    r = reorgs[0]
    assert r.fields["block"] == processed and r.fields["generation"] == 1
    assert r.fields["old_hash"] != r.fields["new_hash"]
    assert r.fields["rewound_to"] < int(second["blockNumber"], 16)
    values = [(o.fields["value"], o.key) for o in seen if o.kind == "Transfer"]
    assert values[0][0] == 111 and not values[0][1].endswith(":r1")
    assert values[1][0] == 222 and values[1][1].endswith(":r1")  # read again after the reorg, keyed apart
    rules = [f.finding["rule"] for f in store.findings(limit=100)]
    assert rules.count("test.down") == 1 and rules.count("test.every") == 2


def test_reorgToAShorterChain_isObservedAtOnce(deployed, store):
    url = deployed.rpc_url
    sender = deployed.holders[4].address
    token = deploy_plain(url, sender)
    start = int(rpc(url, "eth_blockNumber"), 16)
    snapshot = rpc(url, "evm_snapshot")
    minted = mint_plain(url, token, sender, deployed.holders[0].address, 5)
    engine = Engine(store, [Down()])
    follower = follower_for(store, url, token, depth=0, from_block=start)
    follow_until(engine, follower, int(minted["blockNumber"], 16))
    processed = store.cursor("chain")["block"]
    assert rpc(url, "evm_revert", [snapshot]) is True
    assert int(rpc(url, "eth_blockNumber"), 16) < processed
    for o, cursor in follower.poll():
        engine.process(o, cursor)
    (reorg,) = [o for _, o in store.observations() if o.kind == "reorg"]
    assert reorg.fields["new_hash"] is None and reorg.fields["block"] == processed
    assert store.cursor("chain")["generation"] == 1
    assert (store.cursor("chain")["block"] or start) <= int(rpc(url, "eth_blockNumber"), 16)


@pytest.mark.blocktime
def test_guard_criticalFindingPausesMinting(deployed, store):
    c = deployed.contract
    c.attestReserves(1_000 * USD, b"\x22" * 32, b"\x00" * 32, sender=deployed.attestor)
    receipt = c.mint(deployed.holders[1], 5 * USD, os.urandom(32), sender=deployed.minter)
    engine = Engine(store, [CriticalOn()])
    guard = Guard(store, deployed.rpc_url, deployed.token_address, deployed.pauser.private_key)
    engine.listeners.append(guard.on_findings)
    follower = follower_for(
        store, deployed.rpc_url, deployed.token_address, depth=0, from_block=receipt.block_number
    )
    follow_until(engine, follower, receipt.block_number)
    # (ape's isolation reverts the pause after the test)
    assert c.mintingPaused() is True
    records = [f.finding for f in store.findings(limit=100) if f.finding["rule"] == GUARD_RULE]
    assert len(records) == 1
    record = records[0]
    assert record["details"]["outcome"] == "paused"
    assert record["tx"] and record["tx"] in record["summary"]
    assert record["details"]["trigger"].startswith("test.critical|chain:")
    tx = rpc(deployed.rpc_url, "eth_getTransactionReceipt", [record["tx"]])
    assert int(tx["status"], 16) == 1
    # a second critical finding: minting is already paused, and the record says so
    from service.monitor.model import Finding, Severity

    again = guard.act(Finding("test.critical", "t", Severity.critical, "k2", 1, "again", {}, "chain:1:1"))
    assert again is not None and again.finding["details"]["outcome"] == "already_paused"


@pytest.mark.blocktime
def test_guard_withoutThePauserRole_recordsTheFailure(deployed, store):
    guard = Guard(store, deployed.rpc_url, deployed.token_address, deployed.holders[2].private_key)
    from service.monitor.model import Finding, Severity

    stored = guard.act(Finding("test.critical", "t", Severity.critical, "k", 1, "x", {}, "chain:1:0"))
    assert stored is not None
    assert stored.finding["details"]["outcome"] == "failed"
    assert stored.finding["severity"] == "critical"
    assert deployed.contract.mintingPaused() is False
