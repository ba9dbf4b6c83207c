"""The service's background workers, as threads: webhook delivery, the minter, the redemption
watcher, the reserve reconciler, the audit log's publisher and the snapshotter, each when its
setting enables it (USHK_WEBHOOKS_IN_PROCESS, USHK_MINTER_ENABLED,
USHK_REDEMPTION_WATCHER_ENABLED, USHK_RECONCILER_ENABLED, USHK_LOG_SIGNING_KEY and
USHK_LOG_PUBLISHER_ENABLED (with a token for the snapshotter)). No attestor: that is `ushk
attestor run`, a process of its own with the only ATTESTOR_ROLE key, and the workers refuse to
start with that key beside the minter's (docs/architecture.md, "Processes and keys").

`ushk serve` starts them inside the API process; `ushk workers run` runs them in a process of
their own, so that their chain client and log decoding do not share the API process's
interpreter lock with the deposit writer. `make run` does the latter (see docs/performance.md,
"The workers run in their own process"). Each worker is safe to run in several processes (the minter and watcher
hold leases; the reconciler is idempotent).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from service.config import Settings
from service.db import Database

CHECKPOINTER = "sqlite-checkpointer"


def _planned(settings: Settings, db: Database) -> list[tuple[str, Callable[..., Any], tuple]]:
    """(name, target, extra args after `stop`) of every enabled worker. Refuses the attestor's
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

        plan.append(("minter", build_minter(settings, db).run, ()))
    if settings.redemption_watcher_enabled:
        from service.runtime import build_watcher

        plan.append(("redemption-watcher", build_watcher(settings, db).run, ()))
    if settings.reconciler_enabled:
        from service.runtime import build_reconciler

        plan.append(("reconciler", build_reconciler(settings, db).run, ()))
    if settings.log_signing_key is not None and settings.log_publisher_enabled:
        from service.runtime import build_log_publisher

        publisher = build_log_publisher(settings, db)
        assert publisher is not None
        plan.append(("log-publisher", publisher.run, ()))
        if settings.resolved_token_address():
            from service.runtime import Snapshotter

            plan.append(("snapshotter", Snapshotter(settings, db).run, ()))
    return plan


def start(settings: Settings, db: Database, stop: threading.Event) -> list[threading.Thread]:
    """Starts the enabled workers as daemon threads; they end when `stop` is set. On SQLite the
    write-ahead log's checkpointer (`Database.run_wal_checkpoints`, thread `CHECKPOINTER`) runs
    too."""
    threads = [
        threading.Thread(target=target, args=(stop, *extra), name=name, daemon=True)
        for name, target, extra in _planned(settings, db)
    ]
    if db.dialect == "sqlite":
        threads.append(
            threading.Thread(target=db.run_wal_checkpoints, args=(stop,), name=CHECKPOINTER, daemon=True)
        )
    for thread in threads:
        thread.start()
    return threads


def join(threads: list[threading.Thread], timeout: float = 30.0) -> None:
    for thread in threads:
        thread.join(timeout=timeout)
