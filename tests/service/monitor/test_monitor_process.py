"""`ushk monitor run` as a process: SIGKILLed mid-run and started again, it neither misses nor
repeats a finding, and delivers every one to its webhook; `ushk monitor verify`, `findings` and
`export` read its store. The loop reports a dead node as `source_down` after the configured
time and keeps running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from mon_support import HERE, REPO, Down, EveryKind, deploy_plain, mint_plain, rpc
from test_monitor_webhooks import SECRET, Receiver

from service.monitor.engine import Engine, Monitor
from service.monitor.poller import ServicePoller
from service.monitor.sources import ChainFollower, Rpc
from service.monitor.store import Store
from svc_support import free_port
from wait_support import stop_process, wait_for


def monitor_env(
    url: str, token: str, store_url: str, key_file: Path, port: int, start: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")]),
            "USHK_MONITOR_RPC_URL": url,
            "USHK_MONITOR_TOKEN_ADDRESS": token,
            "USHK_MONITOR_DATABASE_URL": store_url,
            "USHK_MONITOR_KEY_FILE": str(key_file),
            "USHK_MONITOR_RULES_FACTORY": "mon_support:transfer_rules",
            "USHK_MONITOR_DEPTH": "1",
            "USHK_MONITOR_FROM_BLOCK": str(start),
            "USHK_MONITOR_MAX_RANGE": "3",
            "USHK_MONITOR_POLL_SECONDS": "0.1",
            "USHK_MONITOR_LISTEN": f"127.0.0.1:{port}",
        }
    )
    return env


def ushk(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "service", "monitor", *args],
        env=env,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )


def count_findings(store_url: str) -> int:
    store = Store(store_url)
    try:
        return store.size()
    finally:
        store.dispose()


@pytest.mark.blocktime
def test_run_sigkilledMidRun_resumesWithoutMissingOrRepeating(deployed, store_url, key_file, tmp_path):
    url = deployed.rpc_url
    sender = deployed.holders[3].address
    token = deploy_plain(url, sender)
    start = int(rpc(url, "eth_blockNumber"), 16)
    port = free_port()
    env = monitor_env(url, token, store_url, key_file, port, start)
    receiver = Receiver(fail_first=3)  # the first deliveries fail: retried
    env["USHK_MONITOR_WEBHOOK_URL"] = receiver.url
    env["USHK_MONITOR_WEBHOOK_SECRET"] = SECRET
    env["USHK_MONITOR_WEBHOOK_RETRY_SECONDS"] = "0.2"
    total = 24
    minted: list[int] = []

    def mint_all() -> None:
        for n in range(total):
            mint_plain(url, token, sender, deployed.holders[n % 5].address, n + 1)
            minted.append(n + 1)
            time.sleep(0.05)

    minter = threading.Thread(target=mint_all)
    minter.start()
    processes: list[subprocess.Popen] = []
    try:
        for round_ in range(2):
            process = subprocess.Popen(
                [sys.executable, "-m", "service", "monitor", "run"],
                env=env,
                cwd=str(REPO),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(process)
            target = 5 if round_ == 0 else 12
            wait_for(
                f"the monitor to record {target} findings",
                lambda t=target: count_findings(store_url) >= t,
                60,
                interval=0.1,
            )
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        minter.join(60)
        assert len(minted) == total
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "monitor", "run"],
            env=env,
            cwd=str(REPO),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)
        expected = total + total // 2

        def settled() -> bool:
            rpc(url, "evm_mine")
            return count_findings(store_url) >= expected

        wait_for("the monitor to see every mint", settled, 90, interval=0.2)
        base = f"http://127.0.0.1:{port}"
        wait_for(
            "the monitor's API",
            lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200,
            30,
            interval=0.1,
        )
        status = httpx.get(f"{base}/v1/monitor/status").json()
        assert status["sources"]["chain"]["up"] is True
        assert status["chain"]["processed_block"] is not None
        time.sleep(1.0)  # a little longer: nothing more may come
        wait_for(
            "a signed head of every finding",
            lambda: httpx.get(f"{base}/v1/monitor/sth").json().get("tree_size") == expected,
            20,
            interval=0.1,
        )
        # every finding delivered at least once (a kill between the POST and its record may
        # deliver one twice, under the same webhook-id)
        wait_for(
            "every finding delivered",
            lambda: len({p["key"] for p in receiver.accepted}) == expected,
            60,
            interval=0.1,
        )
        assert len(set(receiver.ids)) == expected
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    finally:
        for p in processes:
            stop_process(p, timeout=10)
        minter.join(60)
        receiver.close()

    store = Store(store_url)
    found = store.findings(limit=10_000)
    store.dispose()
    assert [f.seq for f in found] == list(range(expected))
    keys = [f.finding["key"] for f in found]
    assert len(set(keys)) == len(keys)
    amounts = sorted(f.finding["details"]["amount"] for f in found if f.finding["rule"] == "test.every")
    assert amounts == list(range(1, total + 1))
    counts = [f.finding["details"]["count"] for f in found if f.finding["rule"] == "test.second"]
    assert counts == list(range(2, total + 1, 2))  # the rebuilt state counted every Transfer once

    checked = ushk("verify", "--database", store_url, "--key-file", str(key_file), env=env)
    assert checked.returncode == 0, checked.stderr
    assert f"{expected} findings" in checked.stdout
    listed = ushk("findings", "--database", store_url, "--json", "--limit", "1000", env=env)
    assert [f["seq"] for f in json.loads(listed.stdout)] == list(range(expected))
    out = tmp_path / "findings.csv"
    exported = ushk("export", "--database", store_url, "--format", "csv", "--output", str(out), env=env)
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == expected + 1


def test_run_malformedSettings_failAtStartNamingThem(tmp_path, key_file):
    env = dict(os.environ)
    env.update(
        {
            "USHK_MONITOR_RPC_URL": "http://127.0.0.1:1",
            "USHK_MONITOR_TOKEN_ADDRESS": "not-an-address",
            "USHK_MONITOR_DEPTH": "deep",
            "USHK_MONITOR_KEY_FILE": str(key_file),
        }
    )
    result = ushk("run", env=env)
    assert result.returncode == 2
    assert "token_address (USHK_MONITOR_TOKEN_ADDRESS)" in result.stderr
    assert "depth (USHK_MONITOR_DEPTH)" in result.stderr
    env["USHK_MONITOR_TOKEN_ADDRESS"] = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    env["USHK_MONITOR_DEPTH"] = "2"
    env["USHK_MONITOR_KEY_FILE"] = str(tmp_path / "none.key")
    result = ushk("run", env=env)
    assert result.returncode == 2 and "ushk monitor keygen" in result.stderr
    env["USHK_MONITOR_KEY_FILE"] = str(key_file)
    env["USHK_MONITOR_RULES_FACTORY"] = "no_such_module:rules"
    result = ushk("run", env=env)
    assert result.returncode == 2 and "rules_factory" in result.stderr


def test_keygen_writesAKeyAndRefusesToOverwrite(tmp_path):
    path = tmp_path / "k.pem"
    env = dict(os.environ)
    first = ushk("keygen", "--key-file", str(path), env=env)
    assert first.returncode == 0 and "key id:" in first.stdout
    again = ushk("keygen", "--key-file", str(path), env=env)
    assert again.returncode == 2 and "exists" in again.stderr


def test_sourceDown_afterTheNodeIsKilled_andTheLoopRunsOn(store, tmp_path):
    port = free_port()
    anvil = subprocess.Popen(
        ["anvil", "--port", str(port), "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("anvil", lambda: _up(url), 30, interval=0.1)
        token = deploy_plain(url, rpc(url, "eth_accounts")[0])
        engine = Engine(store, [EveryKind(), Down()])
        follower = ChainFollower(Rpc(url, timeout=2), token, depth=0, cursor=lambda: store.cursor("chain"))
        service = ServicePoller(
            f"http://127.0.0.1:{free_port()}",
            cursor=lambda: store.cursor("service"),
            clock=time.time,
            timeout=1,
        )
        monitor = Monitor(engine, [follower, service], poll_seconds=0.05, source_down_seconds=1.0)
        monitor.step()
        assert monitor.health["chain"].up and not monitor.health["service"].up
        assert store.cursor("chain")["block"] is not None
        stop_process(anvil, timeout=10)
        thread = threading.Thread(target=monitor.run, daemon=True)
        thread.start()

        def down_both() -> bool:
            kinds = {
                f.finding["details"].get("source")
                for f in store.findings(limit=100)
                if f.finding["rule"] == "test.down"
            }
            return kinds == {"chain", "service"}

        wait_for("source_down for the chain and the service", down_both, 30, interval=0.1)
        time.sleep(1.5)
        assert thread.is_alive()  # retried with backoff, never a crash
        monitor.stop.set()
        thread.join(10)
        downs = [o for _, o in store.observations() if o.kind == "source_down"]
        assert len(downs) == 2  # one per outage, not one per failed attempt
        chain_down = next(o for o in downs if o.fields["source"] == "chain")
        assert chain_down.fields["seconds"] >= 1 and chain_down.fields["error"]
        assert monitor.health["chain"].backoff.failures >= 2
        assert any(o.kind == "tick" for _, o in store.observations())
    finally:
        stop_process(anvil, timeout=10)


def _up(url: str) -> bool:
    try:
        rpc(url, "eth_blockNumber")
        return True
    except (httpx.HTTPError, RuntimeError):
        return False
