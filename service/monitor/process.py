"""`ushk monitor run`: the monitor as one process. The store (tables created on start), the
rules (their state rebuilt by replaying the recorded observations), the chain follower, the
service poller (when a service URL is set), the findings log's signed heads, the webhook
delivery and the guard (when configured), and the HTTP API (uvicorn, in a thread)."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from service.monitor.engine import Engine, Monitor, MonitorSettings, SettingsError, Source, load_rule_list
from service.monitor.log import FindingsLog, KeyError_, load_key
from service.monitor.model import Rule
from service.monitor.poller import ServicePoller
from service.monitor.sources import ChainFollower, Rpc
from service.monitor.store import Store


@dataclass
class Parts:
    settings: MonitorSettings
    store: Store
    log: FindingsLog
    engine: Engine
    monitor: Monitor
    follower: ChainFollower
    poller: ServicePoller | None
    delivery: Any = None
    guard: Any = None
    threads: list[threading.Thread] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sources": {}}
        for name, health in self.monitor.health.items():
            out["sources"][name] = {
                "up": health.up,
                "down_since": health.since,
                "error": health.error,
                "last_ok": health.last_ok,
            }
        chain = self.store.cursor("chain")
        head = self.follower.head
        out["chain"] = {
            "head": head,
            "depth": self.settings.depth,
            "processed_block": chain.get("block"),
            "lag_blocks": None if head is None or chain.get("block") is None else head - int(chain["block"]),
        }
        out["observations"] = self.engine.processed
        return out


def build(settings: MonitorSettings, rules: list[Rule] | None = None) -> Parts:
    """Everything `run` needs; SettingsError for rules or a key that cannot be loaded."""
    try:
        key = load_key(settings.key_file)
    except KeyError_ as exc:
        raise SettingsError(str(exc)) from None
    rules = load_rule_list(settings) if rules is None else rules
    store = Store(settings.database_url)
    log = FindingsLog(store, key)
    engine = Engine(store, rules, deliver=settings.webhook_url is not None)
    follower = ChainFollower(
        Rpc(settings.rpc_url),
        settings.token_address,
        depth=settings.depth,
        from_block=settings.from_block,
        max_range=settings.max_range,
        cursor=lambda: store.cursor("chain"),
    )
    sources: list[Source] = [follower]
    poller = None
    if settings.service_url is not None:
        poller = ServicePoller(settings.service_url, cursor=lambda: store.cursor("service"), clock=time.time)
        sources.append(poller)
    monitor = Monitor(
        engine,
        sources,
        poll_seconds=settings.poll_seconds,
        source_down_seconds=settings.source_down_seconds,
        sign_head=log.sign_head,
    )
    parts = Parts(settings, store, log, engine, monitor, follower, poller)
    if settings.webhook_url is not None and settings.webhook_secret is not None:
        from service.monitor.delivery import Delivery

        parts.delivery = Delivery(
            store,
            settings.webhook_url,
            settings.webhook_secret,
            sender_id=f"ushk-monitor-{(log.key_id or '')[:16]}",
            retry_seconds=settings.webhook_retry_seconds,
        )
        delivery = parts.delivery
        engine.listeners.append(lambda stored, found: delivery.wake.set())
    if settings.guard_key is not None:
        from service.monitor.guard import Guard

        parts.guard = Guard(
            store,
            settings.rpc_url,
            settings.token_address,
            settings.guard_key,
            deliver=settings.webhook_url is not None,
        )
        engine.listeners.append(parts.guard.on_findings)
    return parts


def run(settings: MonitorSettings, rules: list[Rule] | None = None) -> None:
    """Run until SIGTERM or SIGINT."""
    import uvicorn

    from service.monitor.api import create_app

    parts = build(settings, rules)
    replayed = parts.engine.replay()
    if parts.guard is not None:
        parts.guard.catch_up()
    print(f"monitor: replayed {replayed} recorded observations; {parts.store.size()} findings", flush=True)
    app = create_app(parts.store, parts.log, status=parts.status)
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    )
    api = threading.Thread(target=server.run, name="monitor-api", daemon=True)
    api.start()
    if parts.delivery is not None:
        threading.Thread(target=parts.delivery.run, name="monitor-webhooks", daemon=True).start()

    def stop(_signum: int, _frame: object) -> None:
        parts.monitor.stop.set()
        if parts.delivery is not None:
            parts.delivery.stop.set()
            parts.delivery.wake.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"monitor: listening on http://{settings.listen}", flush=True)
    try:
        parts.monitor.run()
    finally:
        server.should_exit = True
        api.join(timeout=10)
        parts.store.dispose()
