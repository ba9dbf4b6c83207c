"""The operator's view (docs/operations.md): /metrics of the API process, /readyz with its
failures (database down, chain down, stale or missing heartbeats), the workers' heartbeats.
The workers process's own metrics and the chain's readiness against anvil are in
tests/service/chain/test_operations_chain.py."""

from __future__ import annotations

import datetime as dt
import threading

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.client import BankClient
from service.db import utcnow
from service.ops import heartbeats as hb
from service.ops.metrics import DatabaseCollector
from service.redemptions import service as redemptions
from service.reserves import service as reserves
from svc_support import BENEFICIARY, LiveServer, confirmation, free_port, make_env

API_METRICS = {
    "ushk_http_request_duration_seconds",
    "ushk_writer_queue_depth",
    "ushk_writer_submissions",
    "ushk_writer_transactions",
    "ushk_writer_group_size",
    "ushk_database_up",
    "ushk_deposits",
    "ushk_minter_backlog_deposits",
    "ushk_minter_lag_seconds",
    "ushk_minting_halts_active",
    "ushk_payouts_overdue",
    "ushk_chain_cursor_block",
    "ushk_worker_heartbeat_age_seconds",
}


def scrape(url: str) -> dict[str, list]:
    """name -> samples of every family /metrics answers."""
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list, name: str, **labels: str) -> float:
    (found,) = [
        s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    return found


def test_metrics_name_every_figure_and_label_requests_by_route_template(live):
    env, url = live
    handle = env.add_bank()
    id_number = "110105194912310021"
    with BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed) as client:
        assert client.submit(confirmation("MET-1", id_number=id_number)).status_code == 201
        assert client.submit(confirmation("MET-2", amount="60000.00", id_number=id_number)).status_code == 422
        assert client.http.get("/v1/deposits/MET-1").status_code == 200
        assert client.http.get("/v1/deposits/NO-SUCH-REF").status_code == 404
        assert client.quota(id_type="prc_id", id_number=id_number, category="mainland")["period"]
    assert httpx.get(f"{url}/no/such/path/12345").status_code == 404
    families = scrape(url)
    assert set(families) >= API_METRICS, sorted(API_METRICS - set(families))
    requests = families["ushk_http_request_duration_seconds"]
    routes = {s.labels["route"] for s in requests}
    assert {"/v1/deposits", "/v1/deposits/{reference}", "/v1/quota/lookup", "(unmatched)"} <= routes
    assert (
        value(requests, "ushk_http_request_duration_seconds_count", route="/v1/deposits", status="201") == 1
    )
    assert (
        value(requests, "ushk_http_request_duration_seconds_count", route="/v1/deposits", status="422") == 1
    )
    assert (
        value(
            requests,
            "ushk_http_request_duration_seconds_count",
            route="/v1/deposits/{reference}",
            status="404",
        )
        == 1
    )
    text = httpx.get(f"{url}/metrics").text
    for secret in ("MET-1", "NO-SUCH-REF", "12345", id_number, handle.api_key):
        assert secret not in text
    deposits = families["ushk_deposits"]
    assert value(deposits, "ushk_deposits", status="accepted") == 1
    assert value(deposits, "ushk_deposits", status="rejected") == 1
    assert value(deposits, "ushk_deposits", status="minted") == 0
    assert value(families["ushk_minter_backlog_deposits"], "ushk_minter_backlog_deposits") == 1
    assert value(families["ushk_minter_lag_seconds"], "ushk_minter_lag_seconds") >= 0
    assert value(families["ushk_writer_submissions"], "ushk_writer_submissions_total") == 2
    assert value(families["ushk_writer_group_size"], "ushk_writer_group_size_count") >= 1
    assert value(families["ushk_writer_queue_depth"], "ushk_writer_queue_depth") == 0
    assert value(families["ushk_database_up"], "ushk_database_up") == 1
    assert value(families["ushk_minting_halts_active"], "ushk_minting_halts_active") == 0


def test_halts_overdue_payouts_cursors_and_heartbeats_are_counted(env):
    handle = env.add_bank()
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with (
        LiveServer(app) as server,
        BankClient(
            server.url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed
        ) as client,
    ):
        ref = client.register_payout_account(holder=BENEFICIARY, account_reference="ACC-1")["payout_ref"]
        event = redemptions.RedemptionEvent(
            redemption_id=1,
            holder=BENEFICIARY,
            amount_units=250 * 10**6,
            payout_ref=ref,
            tx_hash="0x" + "ab" * 32,
            block_number=100,
            log_index=0,
        )
        with env.db.transaction() as session:
            redemptions.record_redemption(session, env.settings, event, now=utcnow() - dt.timedelta(days=10))
            reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=5, actor="test")
            from service.chain.cursor import advance_cursor

            advance_cursor(session, "reconciler", 42, utcnow())
            hb.beat(session, ["minter"], "host:1", utcnow() - dt.timedelta(seconds=30))
        families = scrape(server.url)
    assert value(families["ushk_minting_halts_active"], "ushk_minting_halts_active") == 1
    assert value(families["ushk_payouts_overdue"], "ushk_payouts_overdue") == 1
    assert value(families["ushk_chain_cursor_block"], "ushk_chain_cursor_block", follower="reconciler") == 42
    age = value(
        families["ushk_worker_heartbeat_age_seconds"], "ushk_worker_heartbeat_age_seconds", worker="minter"
    )
    assert 29 <= age < 120
    # with a chain head, each follower's confirmation lag
    collector = DatabaseCollector(env.db, chain_head=lambda: 50)
    lags = {m.name: m.samples for m in collector.collect()}
    assert lags["ushk_chain_head_block"][0].value == 50
    assert lags["ushk_chain_confirmation_lag_blocks"][0].value == 8


def test_metrics_answer_with_the_database_down(tmp_path):
    collector = DatabaseCollector(make_env(f"sqlite:///{tmp_path}/missing/dir/x.db").db)
    families = {m.name: m.samples for m in collector.collect()}
    assert families["ushk_database_up"][0].value == 0
    assert "ushk_deposits" not in families


# ---- /readyz -----------------------------------------------------------------------------------


def ready(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/readyz", timeout=10)
    return response.status_code, response.json()


def test_ready_with_every_part_ok_and_no_chain_configured(live):
    _env, url = live
    status, body = ready(url)
    assert status == 200, body
    # the one worker on by default: the four-eyes requests' expiry (USHK_APPROVAL_EXPIRY_SECONDS)
    expiry = body["checks"]["workers"]["workers"].pop("four-eyes-expiry")
    assert expiry["status"] == "ok" and expiry["age_seconds"] >= 0
    assert body == {
        "status": "ready",
        "failing": [],
        "checks": {
            "database": {"status": "ok"},
            "chain": {"status": "skipped", "detail": "no token configured"},
            "workers": {"status": "ok", "workers": {}},
        },
    }
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}


def test_not_ready_when_the_database_is_down(tmp_path):
    env = make_env(f"sqlite:///{tmp_path}/missing/dir/ushk.db")
    app = create_app(env.settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        status, body = ready(server.url)
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive, not ready
    assert status == 503
    assert body["status"] == "not_ready" and "database" in body["failing"]
    assert body["checks"]["database"]["status"] == "failing"
    assert "does not answer" in body["checks"]["database"]["detail"]


def test_not_ready_when_the_chain_does_not_answer(sqlite_url):
    dead = f"http://127.0.0.1:{free_port()}"
    env = make_env(sqlite_url, rpc_url=dead, token_address="0x" + "11" * 20, ready_chain_timeout_seconds=1)
    app = create_app(env.settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        status, body = ready(server.url)
    assert status == 503 and body["failing"] == ["chain"], body
    assert body["checks"]["chain"]["status"] == "failing"
    assert dead not in str(body)  # the RPC URL may carry a provider's key: never shown


def test_not_ready_with_a_stale_or_missing_heartbeat(sqlite_url):
    env = make_env(sqlite_url, heartbeat_stale_seconds=60)
    app = create_app(env.settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        with env.db.transaction() as session:
            hb.beat(session, ["reconciler"], "host:1", utcnow())
            hb.beat(session, ["minter"], "host:1", utcnow() - dt.timedelta(seconds=120))
        status, body = ready(server.url)
        assert status == 503 and body["failing"] == ["workers"], body
        workers = body["checks"]["workers"]
        assert workers["workers"]["minter"]["status"] == "failing"
        assert workers["workers"]["reconciler"]["status"] == "ok"
        assert workers["detail"] == "no fresh heartbeat: minter"
        with env.db.transaction() as session:
            hb.beat(session, ["minter"], "host:1", utcnow())
        assert ready(server.url)[0] == 200
    env.settings.ready_workers = ["minter", "attestor"]
    app = create_app(env.settings, env.db, policy=env.policy)
    with LiveServer(app) as server:
        status, body = ready(server.url)
    assert status == 503 and body["checks"]["workers"]["workers"]["attestor"] == {
        "status": "failing",
        "age_seconds": None,
    }


def test_readyz_is_documented_with_its_503(live):
    _env, url = live
    spec = httpx.get(f"{url}/openapi.json").json()
    responses = spec["paths"]["/readyz"]["get"]["responses"]
    assert {"200", "503"} <= set(responses)
    assert "failing" in responses["503"]["description"]
    assert "/metrics" not in spec["paths"]


# ---- heartbeats --------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_pulse_is_progressing_while_waiting_or_recently_back_in_its_loop():
    clock, stop = FakeClock(), threading.Event()
    pulse = hb.Pulse(stop, monotonic=clock)
    assert pulse.progressing(60)
    clock.now += 61
    assert not pulse.progressing(60)  # stuck in a step for longer than the stale period
    assert pulse.is_set() is False and pulse.progressing(60)
    stop.set()
    assert pulse.wait(600) is True and pulse.waiting_until is None


def test_the_heartbeat_thread_beats_for_live_workers_and_forgets_them_on_stop(env):
    stop = threading.Event()
    pulse = hb.Pulse(stop)
    worker = threading.Thread(target=lambda: pulse.wait(30))
    dead = threading.Thread(target=lambda: None)
    worker.start()
    dead.start()
    dead.join()
    beats = hb.Heartbeats(
        env.db, {"minter": (worker, pulse), "dead": (dead, hb.Pulse(stop))}, interval=0.05, stale=60
    )
    assert beats.beat_once() == ["minter"]
    with env.db.reading() as session:
        assert set(hb.heartbeats(session)) == {"minter"}
    runner = threading.Thread(target=beats.run, args=(stop,))
    runner.start()
    stop.set()
    runner.join(10)
    worker.join(10)
    with env.db.reading() as session:
        assert hb.heartbeats(session) == {}


@pytest.mark.parametrize("public_only", [False, True])
def test_public_and_full_processes_both_serve_readyz_and_metrics(env, public_only):
    app = create_app(env.settings, env.db, policy=env.policy, public_only=public_only)
    with LiveServer(app) as server:
        assert ready(server.url)[0] == 200
        assert "ushk_database_up" in scrape(server.url)


def test_final_statuses_are_recounted_at_most_every_minute(env):
    from sqlalchemy import update

    from service.deposits.models import Deposit
    from svc_support import accept

    handle = env.add_bank()
    accept(env, handle, 3, prefix="FIN")
    clock = FakeClock()
    collector = DatabaseCollector(env.db, monotonic=clock)

    def counts() -> dict[str, float]:
        (family,) = [m for m in collector.collect() if m.name == "ushk_deposits"]
        return {s.labels["status"]: s.value for s in family.samples}

    assert counts() == {
        "received": 0,
        "awaiting_approval": 0,
        "accepted": 3,
        "minting": 0,
        "minted": 0,
        "rejected": 0,
    }
    with env.db.transaction() as session:
        session.execute(update(Deposit).where(Deposit.reference == "FIN-0").values(status="rejected"))
    assert counts()["accepted"] == 2 and counts()["rejected"] == 0  # in flight: every scrape
    clock.now += 60
    assert counts()["rejected"] == 1  # final: once a minute


@pytest.mark.postgres
def test_heartbeats_metrics_and_readiness_on_postgres(pg_env):
    with pg_env.db.transaction() as session:
        hb.beat(session, ["minter", "reconciler"], "host:1", utcnow())
        hb.beat(session, ["minter"], "host:2", utcnow())
    with pg_env.db.reading() as session:
        assert hb.heartbeats(session)["minter"][0] == "host:2"
    app = create_app(pg_env.settings, pg_env.db, policy=pg_env.policy)
    with LiveServer(app) as server:
        assert ready(server.url)[0] == 200
        families = scrape(server.url)
    assert value(families["ushk_database_up"], "ushk_database_up") == 1
    assert {s.labels["worker"] for s in families["ushk_worker_heartbeat_age_seconds"]} == {
        "minter",
        "reconciler",
        "four-eyes-expiry",  # the app's own, on by default
    }
    with pg_env.db.transaction() as session:
        hb.forget(session, ["minter", "reconciler"], "host:2")
    with pg_env.db.reading() as session:
        assert set(hb.heartbeats(session)) == {"reconciler"}  # another process's row stays


def test_made_up_methods_share_one_label():
    from prometheus_client import CollectorRegistry

    from service.ops.metrics import RequestMetrics

    metrics = RequestMetrics(CollectorRegistry())
    for n in range(50):
        metrics.observe(f"M{n}", "(unmatched)", 405, 0.001)
    assert len(metrics._children) == 1


def test_the_documented_alert_rules_name_metrics_that_exist(env):
    import re
    from pathlib import Path
    from types import SimpleNamespace

    import yaml
    from prometheus_client import CollectorRegistry, generate_latest

    from service.deposits.writer import WriterStats
    from service.minting.batches import MinterStats
    from service.ops.metrics import RequestMetrics, WorkersCollector, WriterCollector

    registry = CollectorRegistry()
    RequestMetrics(registry).observe("POST", "/v1/deposits", 201, 0.01)
    registry.register(DatabaseCollector(env.db, chain_head=lambda: 10))
    registry.register(WriterCollector(SimpleNamespace(stats=WriterStats(), queue_depth=lambda: 0)))
    last = SimpleNamespace(ok=True, findings=[], difference_units=0, block=9)
    reconciler = SimpleNamespace(
        passes={"ok": 1, "findings": 0, "error": 0}, last=last, last_failed=False, last_pass_at=1.0
    )
    stats = MinterStats(blocked_by="minting_blocked_paused")  # the family has a sample only while blocked
    registry.register(WorkersCollector(minter=SimpleNamespace(stats=stats), reconciler=reconciler))
    with env.db.transaction() as session:
        from service.chain.cursor import advance_cursor

        advance_cursor(session, "reserves", 5, utcnow())
        hb.beat(session, ["minter"], "host:1", utcnow())
    exposed = {
        s.name for f in text_string_to_metric_families(generate_latest(registry).decode()) for s in f.samples
    }
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    blocks = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", doc, re.S)]
    rules = [rule for block in blocks for group in block.get("groups", []) for rule in group["rules"]]
    assert {"USHKMintingHalted", "USHKMintBacklogGrowing", "USHKReconcilerFailing"} <= {
        r["alert"] for r in rules
    }
    for rule in rules:
        for name in re.findall(r"ushk_[a-z_]+", rule["expr"]):
            assert name in exposed, (rule["alert"], name)
    assert any("scrape_configs" in block for block in blocks)
