"""The service's background workers, as threads, each when its setting enables it: webhook
delivery (USHK_WEBHOOKS_IN_PROCESS), the minter (USHK_MINTER_ENABLED), the redemption watcher
(USHK_REDEMPTION_WATCHER_ENABLED), the reserve reconciler (USHK_RECONCILER_ENABLED), the audit
log's publisher and, with a token, the snapshotter (USHK_LOG_SIGNING_KEY and
USHK_LOG_PUBLISHER_ENABLED), the KYC allowlist worker (USHK_COMPLIANCE_PRIVATE_KEY, with a
token) and the four-eyes requests' expiry (USHK_APPROVAL_EXPIRY_SECONDS > 0). No attestor: that
is `ushk attestor run`, a process of its own with the only ATTESTOR_ROLE key, and the workers
refuse to start with that key beside the minter's (docs/architecture.md, "Processes and keys").

`ushk serve` starts them inside the API process; `ushk workers run` runs them in a process of
their own, so that their chain client and log decoding do not share the API process's
interpreter lock with the deposit writer. `make run` does the latter (see docs/performance.md,
"The workers run in their own process"). Each worker is safe to run in several processes (the minter and watcher
hold leases; the reconciler is idempotent).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry

from service.config import Settings
from service.db import Database
from service.ops import readiness
from service.ops.heartbeats import Heartbeats, Pulse
from service.ops.metrics import DatabaseCollector, WorkersCollector

CHECKPOINTER = "sqlite-checkpointer"
HEARTBEATS = "heartbeats"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _planned(
    settings: Settings, db: Database, built: dict[str, Any]
) -> list[tuple[str, Callable[..., Any], tuple]]:
    """(name, target, extra args after `stop`) of every enabled worker; the minter and the
    reconciler objects go into `built` too (for the workers' metrics). Refuses the attestor's
    key beside the minter's (`runtime.refuse_attestor_key`): attestations come from `ushk
    attestor run`, never from the workers."""
    from service.runtime import refuse_attestor_key

    refuse_attestor_key(settings)
    plan: list[tuple[str, Callable[..., Any], tuple]] = []
    if settings.webhooks_in_process:
        from service.webhooks.service import run_delivery_loop

        plan.append(("webhooks", lambda stop: run_delivery_loop(db, settings, stop), ()))
    if settings.minter_enabled:
        from service.runtime import build_minter

        built["minter"] = build_minter(settings, db)
        plan.append(("minter", built["minter"].run, ()))
    if settings.redemption_watcher_enabled:
        from service.runtime import build_watcher

        plan.append(("redemption-watcher", build_watcher(settings, db).run, ()))
    if settings.reconciler_enabled:
        from service.runtime import build_reconciler

        built["reconciler"] = build_reconciler(settings, db)
        plan.append(("reconciler", built["reconciler"].run, ()))
    if settings.log_signing_key is not None and settings.log_publisher_enabled:
        from service.runtime import build_log_publisher

        publisher = build_log_publisher(settings, db)
        assert publisher is not None
        plan.append(("log-publisher", publisher.run, ()))
        if settings.resolved_token_address():
            from service.runtime import Snapshotter

            plan.append(("snapshotter", Snapshotter(settings, db).run, ()))
    if settings.compliance_private_key is not None and settings.resolved_token_address():
        from service.allowlist.service import run as run_allowlist
        from service.chain.token import Token, load_account

        token = Token(settings.rpc_url, settings.resolved_token_address() or "")
        signer = load_account(settings.compliance_private_key.get_secret_value())
        poll = settings.allowlist_poll_seconds
        plan.append(("allowlist", lambda stop: run_allowlist(db, token, signer, stop, poll), ()))
    if settings.approval_expiry_seconds > 0:
        from service.approvals.service import run_expiry_loop

        interval = settings.approval_expiry_seconds
        plan.append(("four-eyes-expiry", lambda stop: run_expiry_loop(db, stop, _now, interval), ()))
    return plan


def start(
    settings: Settings, db: Database, stop: threading.Event, *, registry: CollectorRegistry | None = None
) -> list[threading.Thread]:
    """Starts the enabled workers as daemon threads; they end when `stop` is set. Each is handed
    a `Pulse` of `stop`, and a thread `HEARTBEATS` writes their heartbeats (service/ops/heartbeats.py)
    while they make progress. On SQLite the write-ahead log's checkpointer
    (`Database.run_wal_checkpoints`, thread `CHECKPOINTER`) runs too. With `registry`, the
    workers' own metrics (the minter's counters, the reconciler's last result) are collected
    into it."""
    built: dict[str, Any] = {}
    pulses: dict[str, tuple[threading.Thread, Pulse]] = {}
    threads = []
    for name, target, extra in _planned(settings, db, built):
        pulse = Pulse(stop)
        thread = threading.Thread(target=target, args=(pulse, *extra), name=name, daemon=True)
        pulses[name] = (thread, pulse)
        threads.append(thread)
    if pulses:
        beats = Heartbeats(
            db, pulses, interval=settings.heartbeat_seconds, stale=settings.heartbeat_stale_seconds
        )
        threads.append(threading.Thread(target=beats.run, args=(stop,), name=HEARTBEATS, daemon=True))
    if db.dialect == "sqlite":
        threads.append(
            threading.Thread(target=db.run_wal_checkpoints, args=(stop,), name=CHECKPOINTER, daemon=True)
        )
    if registry is not None and built:
        registry.register(WorkersCollector(minter=built.get("minter"), reconciler=built.get("reconciler")))
    for thread in threads:
        thread.start()
    return threads


def metrics_registry(settings: Settings, db: Database) -> CollectorRegistry:
    """The registry of a workers process: the database's figures, with the chain's head read
    from USHK_RPC_URL at scrape time (one `eth_blockNumber`, a short timeout)."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db, chain_head=lambda: _chain_head(settings)))
    return registry


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> Any:
    """Serves `registry` on USHK_WORKERS_METRICS_HOST:USHK_WORKERS_METRICS_PORT (a daemon thread
    of prometheus_client's); returns the server (`shutdown()` stops it), or None when no port
    is set."""
    if settings.workers_metrics_port is None:
        return None
    from prometheus_client import start_http_server

    server, _thread = start_http_server(
        settings.workers_metrics_port, addr=settings.workers_metrics_host, registry=registry
    )
    return server


def _chain_head(settings: Settings) -> int | None:
    part = readiness.check_chain(settings)
    block = part.get("block")
    return None if block is None else int(block)


def join(threads: list[threading.Thread], timeout: float = 30.0) -> None:
    for thread in threads:
        thread.join(timeout=timeout)
