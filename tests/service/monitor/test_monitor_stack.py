"""The monitor as `ushk monitor run` builds it (process.build), in this process: the chain
follower on the deployed USHK, the poller on the live service, webhook delivery to a real
receiver and the guard, together."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from mon_support import CriticalOn, EveryKind, rpc
from test_monitor_webhooks import SECRET, Receiver

from service.audit import heads
from service.audit.heads import LogKey
from service.monitor.engine import MonitorSettings
from service.monitor.guard import GUARD_RULE
from service.monitor.process import build
from wait_support import wait_for

USD = 10**6


@pytest.mark.blocktime
def test_build_runsEverySourceDeliversAndGuards(deployed, live, store_url, key_file):
    env, url = live
    env.add_bank("monitor-stack-bank")  # a few transparency entries
    with env.db.transaction() as session:
        heads.sign(session, LogKey.from_hex("11" * 32), now=dt.datetime.now(dt.UTC))
    receiver = Receiver(fail_first=0)
    try:
        c = deployed.contract
        c.attestReserves(1_000 * USD, b"\x33" * 32, b"\x00" * 32, sender=deployed.attestor)
        receipt = c.mint(deployed.holders[2], 7 * USD, os.urandom(32), sender=deployed.minter)
        settings = MonitorSettings.load(
            {},
            rpc_url=deployed.rpc_url,
            token_address=deployed.token_address,
            service_url=url,
            database_url=store_url,
            key_file=key_file,
            depth=0,
            from_block=receipt.block_number,
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            guard_key=deployed.pauser.private_key,
        )
        parts = build(settings, rules=[EveryKind(kind="Minted"), CriticalOn()])
        assert parts.engine.replay() == 0
        parts.monitor.step()
        rpc(deployed.rpc_url, "evm_mine")
        parts.monitor.step()
        kinds = {o.kind for _, o in parts.store.observations()}
        assert {"Minted", "chain_state", "log_entry", "tick"} <= kinds
        rules = [f.finding["rule"] for f in parts.store.findings(limit=100)]
        assert rules.count("test.every") == 1 and rules.count("test.critical") == 1
        assert rules.count(GUARD_RULE) == 1
        assert c.mintingPaused() is True
        assert parts.guard.catch_up() == 0  # every critical finding has its record
        head = parts.store.latest_head()
        assert head is not None and head.tree_size == len(rules)
        parts.delivery.send_due()
        wait_for("every finding delivered", lambda: len(receiver.accepted) == len(rules), 10, interval=0.05)
        assert [p["rule"] for p in receiver.accepted] == rules
        status = parts.status()
        assert status["sources"]["chain"]["up"] and status["sources"]["service"]["up"]
        assert status["chain"]["lag_blocks"] is not None
        assert parts.log.verify() == []
        parts.store.dispose()
    finally:
        receiver.close()


INTEGRITY_RULES = {
    "mint-without-deposit",
    "supply-unexplained",
    "mint-while-paused",
    "attestation-below-supply",
    "attestation-report",
    "log-head",
}


@pytest.mark.blocktime
def test_theDefaultRules_onUSHKAndTheService_quietOnBackedMints_findTheUnbackedOne(
    bank, deployed, workers, store_url, key_file
):
    """config/monitor-rules.yaml as `make run` uses it, on the deployed USHK and the live service:
    deposits confirmed by a bank and minted by the service raise no integrity finding; a mint
    made with the minter's key outside the service (after an attestation made with the
    attestor's) is found twice: the supply the log does not explain, and a Minted with no
    deposit record."""
    from chain_support import deposit
    from service.app import create_app
    from svc_support import LiveServer, make_settings

    env, client = bank
    minter, _ = workers
    deposit(client, deployed.holders[0].address, "300.00")
    deposit(client, deployed.holders[1].address, "45.50", resident="R7654321")
    minter.drain()
    service_settings = make_settings(
        env.settings.database_url, rpc_url=deployed.rpc_url, token_address=deployed.token_address
    )
    with LiveServer(create_app(service_settings, env.db, policy=env.policy)) as server:
        settings = MonitorSettings.load(
            {},
            rpc_url=deployed.rpc_url,
            token_address=deployed.token_address,
            service_url=server.url,
            database_url=store_url,
            key_file=key_file,
            depth=0,
            from_block=deployed.from_block,
        )
        parts = build(settings)  # the rules of settings.rules_file: config/monitor-rules.yaml

        def rounds(n: int) -> list[dict]:
            for _ in range(n):
                rpc(deployed.rpc_url, "evm_mine")
                parts.monitor.step()
            return [f.finding for f in parts.store.findings(limit=1000)]

        quiet = rounds(3)
        assert not {f["rule"] for f in quiet} & INTEGRITY_RULES, [(f["rule"], f["summary"]) for f in quiet]
        c = deployed.contract
        c.attestReserves(c.totalSupply() + 50 * USD, b"\x44" * 32, b"\x00" * 32, sender=deployed.attestor)
        rogue_id = os.urandom(32)
        receipt = c.mint(deployed.holders[3], 50 * USD, rogue_id, sender=deployed.minter)
        found = rounds(25)  # past mint-without-deposit's 20 blocks
        new = found[len(quiet) :]  # the log only grows
        by_rule = {f["rule"]: f for f in new}
        assert {"supply-unexplained", "mint-without-deposit"} <= set(by_rule), [
            (f["rule"], f["summary"]) for f in new
        ]
        assert by_rule["mint-without-deposit"]["details"]["deposit_id"] == "0x" + rogue_id.hex()
        assert by_rule["mint-without-deposit"]["details"]["mint_tx"] == receipt.txn_hash.lower()
        assert by_rule["supply-unexplained"]["severity"] == "critical"
        assert parts.log.verify() == []
        parts.store.dispose()
