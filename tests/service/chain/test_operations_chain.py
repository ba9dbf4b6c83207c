"""The operator's view against a real chain (anvil): `ushk workers run` serving its own metrics
on USHK_WORKERS_METRICS_PORT and writing heartbeats, and /readyz asking the chain."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.ops import heartbeats as hb
from svc_support import REPO, LiveServer, free_port, make_env, server_env
from wait_support import stop_process, wait_exit, wait_for


def _samples(url: str) -> dict[tuple[str, tuple], float]:
    text = httpx.get(url, timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_workers_process_serves_its_metrics_and_beats_and_readyz_sees_them(env, deployed):
    port = free_port()
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_RECONCILER_ENABLED="true",
        USHK_RECONCILE_INTERVAL_SECONDS="0.2",
        USHK_HEARTBEAT_SECONDS="0.2",
        USHK_WORKERS_METRICS_PORT=str(port),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "workers", "run"],
        env=variables,
        cwd=str(REPO),
        stderr=subprocess.PIPE,
    )
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:

        def passed() -> dict | None:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            try:
                samples = _samples(metrics_url)
            except httpx.HTTPError:
                return None
            return (
                samples
                if samples.get(("ushk_reconciler_passes_total", (("outcome", "ok"),)), 0) >= 1
                else None
            )

        samples = wait_for("a reconciliation pass in the workers' metrics", passed, 60)
        assert samples[("ushk_reconciler_last_ok", ())] == 1
        assert samples[("ushk_reconciler_findings", ())] == 0
        assert ("ushk_reconciler_last_pass_timestamp_seconds", ()) in samples
        assert samples[("ushk_database_up", ())] == 1
        assert samples[("ushk_chain_head_block", ())] >= 1
        assert ("ushk_chain_confirmation_lag_blocks", (("follower", "reserves"),)) in samples
        assert ("ushk_deposits", (("status", "accepted"),)) in samples

        api = make_env(
            env.settings.database_url,
            rpc_url=deployed.rpc_url,
            token_address=deployed.token_address,
            ready_workers=["reconciler"],
        )
        with LiveServer(create_app(api.settings, api.db, policy=api.policy)) as server:
            wait_for(
                "the reconciler's heartbeat", lambda: httpx.get(f"{server.url}/readyz").status_code == 200, 30
            )
            body = httpx.get(f"{server.url}/readyz").json()
        api.db.dispose()
        assert body["checks"]["chain"]["status"] == "ok" and body["checks"]["chain"]["block"] >= 1
        assert body["checks"]["workers"]["workers"]["reconciler"]["status"] == "ok"
        process.send_signal(signal.SIGINT)
        assert wait_exit(process, 60, "the workers process") == 0
    finally:
        stop_process(process)
    with env.db.reading() as session:
        assert hb.heartbeats(session) == {}  # a clean stop removes its rows
