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
